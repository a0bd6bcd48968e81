//! Several producers and consumers share one bounded channel; consumers iterate it as a
//! crossbeam-channel `Receiver` is iterated, and the iteration ends once the last producer is
//! gone and every value has been taken.
//!
//! Run with `cargo run --example mpmc_channel`.

use std::thread;

use ringmarket::mpmc;

fn main() {
    const PRODUCERS: u64 = 4;
    const CONSUMERS: usize = 3;
    const PER_PRODUCER: u64 = 5_000;

    let (tx, rx) = mpmc::channel::<u64>(32).expect("32 is not zero");
    let per_consumer: Vec<(usize, u64)> = thread::scope(|s| {
        for p in 0..PRODUCERS {
            let tx = tx.clone();
            s.spawn(move || {
                for i in 0..PER_PRODUCER {
                    // Waits while the channel is full; fails only if every consumer is gone.
                    tx.push_wait(p * PER_PRODUCER + i)
                        .expect("consumers remain");
                }
            });
        }
        // The clones keep the channel open until their threads finish.
        drop(tx);
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|c| {
                let rx = rx.clone();
                s.spawn(move || {
                    if c == 0 {
                        // `for v in &rx` is `rx.iter()`: blocks, ends when closed and drained.
                        let mut count_and_sum = (0, 0);
                        for v in &rx {
                            count_and_sum = (count_and_sum.0 + 1, count_and_sum.1 + v);
                        }
                        count_and_sum
                    } else {
                        // An owned handle iterates too, and is dropped with its iterator.
                        rx.into_iter().fold((0, 0), |(n, sum), v| (n + 1, sum + v))
                    }
                })
            })
            .collect();
        consumers
            .into_iter()
            .map(|c| c.join().expect("a consumer does not panic"))
            .collect()
    });

    for (c, (count, _)) in per_consumer.iter().enumerate() {
        println!("mpmc_channel: consumer {c} received {count} values");
    }
    let total: usize = per_consumer.iter().map(|&(n, _)| n).sum();
    let sum: u64 = per_consumer.iter().map(|&(_, s)| s).sum();
    let n = PRODUCERS * PER_PRODUCER;
    println!("mpmc_channel: {total} values in all, none lost, none twice");
    assert_eq!(total as u64, n);
    assert_eq!(sum, n * (n - 1) / 2);
    // Closed and drained: `try_iter` finds nothing, and says so without waiting.
    assert_eq!(rx.try_iter().next(), None);
    assert!(rx.is_closed());
}
