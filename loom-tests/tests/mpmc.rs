//! Loom models of `ringmarket::mpmc`: the ring at capacities 1 and 2, a race for the last
//! slot, the close racing with a pop, and waiters racing the operation that should wake them.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use loom_tests::explore;
use ringmarket::mpmc::{channel, Closed, PopError, Ring};
use ringmarket::Empty;

/// One producer pushes 1 and 2 (keeping what fits), one consumer pops twice, concurrently;
/// afterwards everything accepted comes out exactly once, in push order.
fn push_pop(capacity: usize) {
    let runs = explore(move || {
        let ring = Arc::new(Ring::new(capacity).unwrap());
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || {
                [1, 2]
                    .into_iter()
                    .filter(|&v| ring.push(v).is_ok())
                    .collect::<Vec<u32>>()
            })
        };
        let consumer = {
            let ring = ring.clone();
            thread::spawn(move || (0..2).filter_map(|_| ring.pop().ok()).collect::<Vec<u32>>())
        };
        let pushed = producer.join().unwrap();
        let mut popped = consumer.join().unwrap();
        while let Ok(v) = ring.pop() {
            popped.push(v);
        }
        assert_eq!(popped, pushed);
        // 1 always fits; 2 fits at capacity 2, or at capacity 1 if 1 was already taken.
        assert_eq!(pushed[0], 1);
        if capacity >= 2 {
            assert_eq!(pushed, [1, 2]);
        }
        assert_eq!(ring.pop(), Err(Empty));
    });
    assert!(runs > 1, "explored {runs} executions");
}

#[test]
fn push_races_pop_at_capacity_1() {
    push_pop(1);
}

#[test]
fn push_races_pop_at_capacity_2() {
    push_pop(2);
}

#[test]
fn two_producers_race_for_the_last_slot() {
    let runs = explore(|| {
        let ring = Arc::new(Ring::new(2).unwrap());
        ring.push(0_u32).unwrap();
        let racers: Vec<_> = [1_u32, 2]
            .into_iter()
            .map(|v| {
                let ring = ring.clone();
                thread::spawn(move || ring.push(v).is_ok())
            })
            .collect();
        let won: Vec<bool> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(won.iter().filter(|&&w| w).count(), 1, "exactly one wins");
        let winner = if won[0] { 1 } else { 2 };
        assert_eq!(ring.pop(), Ok(0));
        assert_eq!(ring.pop(), Ok(winner));
        assert_eq!(ring.pop(), Err(Empty));
    });
    assert!(runs > 1, "explored {runs} executions");
}

#[test]
fn two_consumers_race_for_the_last_value() {
    let runs = explore(|| {
        let ring = Arc::new(Ring::new(1).unwrap());
        ring.push(7_u32).unwrap();
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                thread::spawn(move || ring.pop().ok())
            })
            .collect();
        let got: Vec<Option<u32>> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        got.iter().flatten().for_each(|&v| assert_eq!(v, 7));
        assert_eq!(got.iter().flatten().count(), 1, "exactly one takes it");
    });
    assert!(runs > 1, "explored {runs} executions");
}

#[test]
fn close_races_a_pop() {
    // The producer pushes one value and leaves (closing); the consumer polls. It must see the
    // value before `Closed`, and must never see `Closed` while the value is still there.
    let runs = explore(|| {
        let (tx, rx) = channel(1).unwrap();
        let producer = thread::spawn(move || {
            tx.push(1_u32).unwrap();
            drop(tx);
        });
        let mut got = Vec::new();
        loop {
            match rx.pop() {
                Ok(v) => got.push(v),
                Err(PopError::Empty) => thread::yield_now(),
                Err(PopError::Closed) => break,
            }
        }
        assert_eq!(got, [1]);
        producer.join().unwrap();
    });
    assert!(runs > 1, "explored {runs} executions");
}

#[test]
fn a_parked_consumer_is_woken_by_the_close() {
    let runs = explore(|| {
        let (tx, rx) = channel::<u32>(1).unwrap();
        let consumer = thread::spawn(move || rx.pop_wait());
        drop(tx);
        assert_eq!(consumer.join().unwrap(), Err(Closed));
    });
    assert!(runs > 1, "explored {runs} executions");
}

#[test]
fn a_waiting_consumer_races_a_push() {
    // The producer handle stays alive, so only the push itself can wake the consumer: a lost
    // wake-up shows up as a deadlock.
    let runs = explore(|| {
        let (tx, rx) = channel(1).unwrap();
        let consumer = thread::spawn(move || rx.pop_wait());
        let tx2 = tx.clone();
        let producer = thread::spawn(move || tx2.push(5_u32).unwrap());
        producer.join().unwrap();
        assert_eq!(consumer.join().unwrap(), Ok(5));
        drop(tx);
    });
    assert!(runs > 1, "explored {runs} executions");
}

#[test]
fn a_waiting_producer_races_a_pop() {
    let runs = explore(|| {
        let (tx, rx) = channel(1).unwrap();
        tx.push(1_u32).unwrap();
        let producer = thread::spawn(move || tx.push_wait(2));
        let rx2 = rx.clone();
        let consumer = thread::spawn(move || rx2.pop());
        assert_eq!(consumer.join().unwrap(), Ok(1));
        producer.join().unwrap().unwrap();
        assert_eq!(rx.pop(), Ok(2));
    });
    assert!(runs > 1, "explored {runs} executions");
}

#[test]
fn two_waiting_producers_one_waiting_consumer_and_the_close() {
    // The readings pipeline in miniature: both sides block, the buffer holds one value, and
    // the consumer's only way out is the close after both producers are done.
    let runs = explore(|| {
        let (tx, rx) = channel(1).unwrap();
        let producers: Vec<_> = [1_u32, 2]
            .into_iter()
            .map(|v| {
                let tx = tx.clone();
                thread::spawn(move || tx.push_wait(v).unwrap())
            })
            .collect();
        drop(tx);
        let mut got = Vec::new();
        while let Ok(v) = rx.pop_wait() {
            got.push(v);
        }
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        producers.into_iter().for_each(|p| p.join().unwrap());
    });
    assert!(runs > 1, "explored {runs} executions");
}
