//! Hands values from one thread to another through a single-producer single-consumer ring:
//! one at a time with `push`/`pop`, then in batches with write and read chunks.
//!
//! Run with `cargo run --example spsc_handoff`.

use std::thread;

use ringmarket::spsc;

fn main() {
    const N: u64 = 10_000;
    let (mut producer, mut consumer) = spsc::ring::<u64>(64).expect("64 is not zero");

    let sender = thread::spawn(move || {
        // One at a time: a full ring hands the value back.
        for i in 0..N / 2 {
            let mut item = i;
            while let Err(full) = producer.push(item) {
                item = full.into_inner();
                thread::yield_now();
            }
        }
        // In batches: one index publication per chunk, however many items it holds.
        let mut next = N / 2;
        while next < N {
            let room = producer.slots().min(16).min((N - next) as usize);
            if room == 0 {
                thread::yield_now();
                continue;
            }
            let chunk = producer.write_chunk(room).expect("the slots were free");
            next += chunk.fill_from_iter(next..N) as u64;
        }
    });

    let (mut received, mut sum, mut batches) = (0_u64, 0_u64, 0_u64);
    while received < N {
        let chunk = consumer.read_chunk(32);
        if chunk.is_empty() {
            if consumer.is_abandoned() && consumer.is_empty() {
                break;
            }
            thread::yield_now();
            continue;
        }
        batches += 1;
        for item in chunk {
            assert_eq!(item, received, "the ring keeps the order");
            sum += item;
            received += 1;
        }
    }
    sender.join().expect("the sender does not panic");

    println!("spsc_handoff: {received} values handed over in {batches} read batches");
    println!("spsc_handoff: their sum is {sum}");
    assert_eq!(received, N);
    assert_eq!(sum, N * (N - 1) / 2);
    assert!(consumer.is_empty() && consumer.is_abandoned());
}
