//! Leak amplification in `ringmarket::spsc`: `mem::forget` of every chunk and iterator, then
//! the ring keeps being used and is torn down. Forgetting may leak items or leave a release
//! unpublished; it must never hand out or drop an item twice.
//!
//! The items are heap `String`s with a drop counter: a double read shows as a repeated item or
//! a count too high and, under Miri (`scripts/miri.sh spsc_forget`), as a use after free.

// `ReadChunk` and `WriteChunk` have no `Drop` today; the tests forget them all the same, so
// that one added later has to be safe to forget too.
#![allow(clippy::forget_non_drop)]

use std::cell::Cell;
use std::mem;

use ringmarket::spsc::{self, Consumer, Producer};
use ringmarket::Empty;

/// An item that counts its drops; its name is on the heap, except for the items a test leaks
/// on purpose (Miri reports leaked heap memory).
#[derive(Debug)]
struct Item<'a> {
    n: usize,
    name: String,
    drops: &'a Cell<usize>,
}

impl<'a> Item<'a> {
    fn new(n: usize, heap: bool, drops: &'a Cell<usize>) -> Self {
        Self {
            n,
            name: if heap {
                format!("item {n}")
            } else {
                String::new()
            },
            drops,
        }
    }
}

impl Drop for Item<'_> {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

/// Makes items numbered from 0 and keeps count of them.
struct Maker<'a> {
    made: usize,
    drops: &'a Cell<usize>,
}

impl<'a> Maker<'a> {
    fn new(drops: &'a Cell<usize>) -> Self {
        Self { made: 0, drops }
    }

    fn push(&mut self, producer: &mut Producer<Item<'a>>) {
        self.push_item(producer, true);
    }

    /// Pushes an item that the test will leak: its name owns no heap memory.
    fn push_to_leak(&mut self, producer: &mut Producer<Item<'a>>) {
        self.push_item(producer, false);
    }

    fn push_item(&mut self, producer: &mut Producer<Item<'a>>, heap: bool) {
        producer
            .push(Item::new(self.made, heap, self.drops))
            .unwrap_or_else(|_| panic!("the ring is full"));
        self.made += 1;
    }
}

/// Pops one item and checks that it is the `n`th made.
fn pop_expecting(consumer: &mut Consumer<Item<'_>>, n: usize) {
    let item = consumer.pop().expect("an item");
    assert_eq!(item.n, n, "an item out of order or repeated");
}

/// A ring of `capacity` whose positions have been moved on by `offset` push/pop pairs, so
/// that a chunk of the whole capacity starts at slot `offset % capacity` and may wrap; with
/// `offset` up to `2 * capacity` the chunk starts in either half of the positions, including
/// the run whose last slot wraps the position to 0.
fn ring_at<'a>(
    capacity: usize,
    offset: usize,
    maker: &mut Maker<'a>,
) -> (Producer<Item<'a>>, Consumer<Item<'a>>) {
    let (mut p, mut c) = spsc::ring(capacity).unwrap();
    for n in 0..offset {
        maker.push(&mut p);
        pop_expecting(&mut c, n);
    }
    (p, c)
}

/// Pushes a chunk of `capacity` items, of which the test takes the first `taken` and leaks
/// the others.
fn push_chunk<'a>(
    maker: &mut Maker<'a>,
    producer: &mut Producer<Item<'a>>,
    capacity: usize,
    taken: usize,
) {
    for i in 0..capacity {
        if i < taken {
            maker.push(producer);
        } else {
            maker.push_to_leak(producer);
        }
    }
}

#[test]
fn forgetting_the_chunk_iterator_after_taking_items_never_yields_them_again() {
    for capacity in [1, 2, 3] {
        for offset in 0..2 * capacity {
            for taken in 0..=capacity {
                let drops = Cell::new(0);
                let mut maker = Maker::new(&drops);
                let (mut p, mut c) = ring_at(capacity, offset, &mut maker);
                let first = maker.made;
                push_chunk(&mut maker, &mut p, capacity, taken);
                let mut iter = c.read_chunk(capacity).into_iter();
                for n in first..first + taken {
                    let item = iter.next().expect("an item in the chunk");
                    assert_eq!(item.n, n);
                }
                mem::forget(iter);
                // The items taken are gone for good, and the rest of the chunk is leaked:
                // none of them comes again.
                assert_eq!(c.pop().err(), Some(Empty));
                // The slots of the whole chunk are free again once the consumer goes on.
                for _ in 0..capacity {
                    maker.push(&mut p);
                }
                for n in first + capacity..first + 2 * capacity {
                    pop_expecting(&mut c, n);
                }
                maker.push(&mut p);
                drop(p);
                drop(c);
                // Every item dropped once, but the leaked ones never.
                assert_eq!(
                    drops.get(),
                    maker.made - (capacity - taken),
                    "capacity {capacity}, taken {taken}"
                );
            }
        }
    }
}

#[test]
fn forgetting_the_chunk_iterator_then_dropping_the_ring_drops_each_item_once() {
    for capacity in [1, 2, 3] {
        for offset in 0..2 * capacity {
            for taken in 0..=capacity {
                for consumer_last in [false, true] {
                    let drops = Cell::new(0);
                    let mut maker = Maker::new(&drops);
                    let (mut p, mut c) = ring_at(capacity, offset, &mut maker);
                    push_chunk(&mut maker, &mut p, capacity, taken);
                    let mut iter = c.read_chunk(capacity).into_iter();
                    for _ in 0..taken {
                        drop(iter.next().expect("an item in the chunk"));
                    }
                    mem::forget(iter);
                    if consumer_last {
                        drop(p);
                        drop(c);
                    } else {
                        drop(c);
                        drop(p);
                    }
                    assert_eq!(
                        drops.get(),
                        maker.made - (capacity - taken),
                        "capacity {capacity}, taken {taken}"
                    );
                }
            }
        }
    }
}

#[test]
fn forgetting_a_read_chunk_leaves_its_items_in_the_ring() {
    let drops = Cell::new(0);
    let mut maker = Maker::new(&drops);
    let (mut p, mut c) = ring_at(3, 2, &mut maker);
    for _ in 0..3 {
        maker.push(&mut p);
    }
    let mut chunk = c.read_chunk(2);
    assert_eq!(chunk.as_slices().0[0].name, "item 2");
    chunk.as_mut_slices().0[0].name.push_str(" (seen)");
    mem::forget(chunk);
    assert_eq!(c.pop().expect("an item").name, "item 2 (seen)");
    pop_expecting(&mut c, 3);
    maker.push(&mut p);
    let chunk = c.read_chunk(1);
    mem::forget(chunk);
    c.read_chunk(1).commit_all();
    pop_expecting(&mut c, 5);
    maker.push(&mut p);
    drop(c);
    drop(p);
    assert_eq!(drops.get(), maker.made);
}

#[test]
fn forgetting_a_write_chunk_publishes_nothing() {
    let drops = Cell::new(0);
    let mut maker = Maker::new(&drops);
    let (mut p, mut c) = ring_at(2, 1, &mut maker);
    let mut chunk = p.write_chunk(2).expect("two free slots");
    // Written but never committed: forgotten with the chunk (an empty `String` owns no heap
    // memory, so nothing leaks).
    chunk.as_mut_slices().0[0].write(Item::new(usize::MAX, false, &drops));
    mem::forget(chunk);
    assert_eq!(c.pop().err(), Some(Empty));
    maker.push(&mut p);
    maker.push(&mut p);
    let chunk = p.write_chunk(0).expect("an empty chunk");
    mem::forget(chunk);
    pop_expecting(&mut c, 1);
    let chunk = p.write_chunk(1).expect("one free slot");
    mem::forget(chunk);
    maker.push(&mut p);
    pop_expecting(&mut c, 2);
    drop(p);
    drop(c);
    assert_eq!(drops.get(), maker.made, "the uncommitted item was dropped");
}
