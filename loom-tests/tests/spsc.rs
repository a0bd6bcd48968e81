//! Loom models of `ringmarket::spsc`: every interleaving (up to `LOOM_MAX_PREEMPTIONS`) of a
//! producer and a consumer thread on rings of capacity 1 and 2, single items and batches,
//! and teardown with one end gone. Slot accesses are tracked, so a missing happens-before
//! edge between a write and a read of the same slot fails the model as a data race.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc as StdArc;

use loom::thread;
use loom_tests::explore;
use ringmarket::spsc::{self, Consumer, Producer};

/// Pushes `item`, yielding to the other thread while the ring is full.
fn push(producer: &mut Producer<u32>, mut item: u32) {
    while let Err(full) = producer.push(item) {
        item = full.into_inner();
        thread::yield_now();
    }
}

/// Pops one item, yielding to the other thread while the ring is empty.
fn pop(consumer: &mut Consumer<u32>) -> u32 {
    loop {
        if let Ok(item) = consumer.pop() {
            return item;
        }
        thread::yield_now();
    }
}

/// Three items through a ring of `capacity`: the positions wrap (at capacity 1 after two
/// items, at capacity 2 after four positions) and the ring is full and empty on the way.
fn push_pop_model(capacity: usize) -> usize {
    explore(move || {
        let (mut p, mut c) = spsc::ring::<u32>(capacity).unwrap();
        let producer = thread::spawn(move || {
            for i in 0..3 {
                push(&mut p, i);
            }
        });
        for i in 0..3 {
            assert_eq!(pop(&mut c), i);
        }
        assert!(c.pop().is_err());
        producer.join().unwrap();
    })
}

#[test]
fn push_pop_wraps_at_capacity_1() {
    assert!(push_pop_model(1) > 1);
}

#[test]
fn push_pop_wraps_at_capacity_2() {
    assert!(push_pop_model(2) > 1);
}

#[test]
fn peek_sees_the_published_item() {
    let n = explore(|| {
        let (mut p, mut c) = spsc::ring::<u32>(1).unwrap();
        let producer = thread::spawn(move || {
            push(&mut p, 7);
            push(&mut p, 8);
        });
        let first = loop {
            if let Ok(&item) = c.peek() {
                break item;
            }
            thread::yield_now();
        };
        assert_eq!(first, 7);
        assert_eq!(pop(&mut c), 7);
        assert_eq!(pop(&mut c), 8);
        producer.join().unwrap();
    });
    assert!(n > 1);
}

#[test]
fn batches_go_through_whole_and_in_order() {
    let n = explore(|| {
        let (mut p, mut c) = spsc::ring::<u32>(2).unwrap();
        let producer = thread::spawn(move || {
            // A chunk of two, then a chunk of one that wraps around the buffer.
            let mut next = 0;
            for size in [2, 1] {
                loop {
                    match p.write_chunk(size) {
                        Ok(chunk) => {
                            assert_eq!(chunk.fill_from_iter(next..), size);
                            next += size as u32;
                            break;
                        }
                        Err(_) => thread::yield_now(),
                    }
                }
            }
        });
        let mut expected = 0;
        let mut by_slices = false;
        while expected < 3 {
            let chunk = c.read_chunk(2);
            if chunk.is_empty() {
                thread::yield_now();
                continue;
            }
            by_slices = !by_slices;
            if by_slices {
                let (a, b) = chunk.as_slices();
                for &item in a.iter().chain(b) {
                    assert_eq!(item, expected);
                    expected += 1;
                }
                chunk.commit_all();
            } else {
                for item in chunk {
                    assert_eq!(item, expected);
                    expected += 1;
                }
            }
        }
        producer.join().unwrap();
    });
    assert!(n > 1);
}

/// Counts its drops, so the models can check that each item is dropped once.
struct Counted(StdArc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn teardown_with_the_producer_gone_first() {
    let n = explore(|| {
        let drops = StdArc::new(AtomicUsize::new(0));
        let (mut p, mut c) = spsc::ring::<Counted>(2).unwrap();
        let made = drops.clone();
        let producer = thread::spawn(move || {
            p.push(Counted(made.clone())).ok().unwrap();
            p.push(Counted(made)).ok().unwrap();
        });
        // Pops until the producer is gone and nothing is left; then takes no more.
        let mut popped = 0;
        loop {
            let gone = c.is_abandoned();
            match c.pop() {
                Ok(item) => {
                    drop(item);
                    popped += 1;
                }
                Err(_) if gone => break,
                Err(_) => thread::yield_now(),
            }
        }
        assert_eq!(popped, 2, "abandoned and empty means drained");
        producer.join().unwrap();
        drop(c);
        assert_eq!(drops.load(Ordering::Relaxed), 2);
    });
    assert!(n > 1);
}

#[test]
fn teardown_with_the_consumer_gone_first() {
    let n = explore(|| {
        let drops = StdArc::new(AtomicUsize::new(0));
        let (mut p, mut c) = spsc::ring::<Counted>(1).unwrap();
        let made = drops.clone();
        let producer = thread::spawn(move || {
            // Keeps the ring fed until the consumer is gone; rejected items are dropped here.
            let (mut pushed, mut made_count) = (0, 0);
            while !p.is_abandoned() && pushed < 2 {
                made_count += 1;
                if p.push(Counted(made.clone())).is_ok() {
                    pushed += 1;
                } else {
                    thread::yield_now();
                }
            }
            made_count
        });
        // Takes one item (maybe none yet) and leaves, possibly with one still in the ring.
        let _ = c.pop();
        drop(c);
        let made_count = producer.join().unwrap();
        assert_eq!(drops.load(Ordering::Relaxed), made_count);
        // Every `Counted` made has been dropped exactly once: popped, rejected, or left in
        // the ring and dropped with it.
        assert_eq!(StdArc::strong_count(&drops), 1);
    });
    assert!(n > 1);
}
