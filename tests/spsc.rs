//! Integration tests of `ringmarket::spsc`: sequences through threads, batches, drops.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use ringmarket::spsc::{self, Consumer, Producer, TooFewSlots};
use ringmarket::{Empty, Full, ZeroCapacity};

/// Items per threaded stress run: enough to wrap small rings many times, cut under Miri.
const STRESS_ITEMS: u64 = if cfg!(miri) { 300 } else { 200_000 };

fn backoff(spins: &mut u32) {
    *spins += 1;
    if *spins < 64 {
        std::hint::spin_loop();
    } else {
        thread::yield_now();
    }
}

/// Pushes `0 .. n` one at a time, retrying when full.
fn push_all(mut producer: Producer<u64>, n: u64) {
    for i in 0..n {
        let mut item = i;
        let mut spins = 0;
        while let Err(Full(back)) = producer.push(item) {
            item = back;
            backoff(&mut spins);
        }
    }
}

/// Pops `n` items one at a time and checks they are `0 .. n` in order.
fn pop_all(mut consumer: Consumer<u64>, n: u64) {
    let mut spins = 0;
    let mut expected = 0;
    while expected < n {
        match consumer.pop() {
            Ok(item) => {
                assert_eq!(item, expected, "lost, duplicated or reordered");
                expected += 1;
            }
            Err(Empty) => backoff(&mut spins),
        }
    }
    assert_eq!(consumer.pop(), Err(Empty), "an item beyond the sequence");
}

#[test]
fn zero_capacity_is_an_error() {
    assert_eq!(spsc::ring::<u32>(0).err(), Some(ZeroCapacity));
    assert_eq!(spsc::ring::<()>(0).err(), Some(ZeroCapacity));
}

#[test]
fn single_thread_fill_and_drain_at_small_and_large_capacities() {
    let large = if cfg!(miri) { 100 } else { 10_000 };
    for capacity in [1, 2, 3, 5, large] {
        let (mut p, mut c) = spsc::ring::<usize>(capacity).unwrap();
        assert_eq!(p.capacity(), capacity);
        assert_eq!(c.capacity(), capacity);
        for round in 0..3 {
            assert!(p.is_empty() && c.is_empty());
            for i in 0..capacity {
                assert_eq!(p.len(), i);
                p.push(round * capacity + i).unwrap();
            }
            assert!(p.is_full() && c.is_full());
            assert_eq!(p.slots(), 0);
            assert_eq!(c.slots(), capacity);
            assert_eq!(p.push(usize::MAX), Err(Full(usize::MAX)));
            assert_eq!(c.peek(), Ok(&(round * capacity)));
            for i in 0..capacity {
                assert_eq!(c.pop(), Ok(round * capacity + i));
            }
            assert_eq!(c.pop(), Err(Empty));
            assert_eq!(c.peek(), Err(Empty));
        }
    }
}

/// What each end's observers say, through shared references only.
#[derive(Debug, PartialEq)]
struct Looks {
    len: usize,
    slots: usize,
    empty: bool,
    full: bool,
}

fn producer_looks(p: &Producer<u8>) -> Looks {
    Looks {
        len: p.len(),
        slots: p.slots(),
        empty: p.is_empty(),
        full: p.is_full(),
    }
}

fn consumer_looks(c: &Consumer<u8>) -> Looks {
    Looks {
        len: c.len(),
        slots: c.slots(),
        empty: c.is_empty(),
        full: c.is_full(),
    }
}

/// The observers take `&self` and read the other end's index afresh: each end is asked right
/// after the *other* end moved, with no call of its own in between, so an answer from its
/// cached copy of the other index would be stale.
#[test]
fn observers_take_shared_references_and_read_the_other_end_afresh() {
    let (mut p, mut c) = spsc::ring::<u8>(3).unwrap();
    let (full, empty) = (
        Looks {
            len: 3,
            slots: 0,
            empty: false,
            full: true,
        },
        Looks {
            len: 0,
            slots: 3,
            empty: true,
            full: false,
        },
    );
    // The consumer has never looked at the producer's index.
    p.write_chunk(3).unwrap().fill_from_slice(&[1, 2, 3]);
    assert_eq!(consumer_looks(&c), Looks { slots: 3, ..full });
    assert_eq!(producer_looks(&p), full);
    // The producer's cached limit says full; the consumer has taken everything since.
    c.read_chunk(3).commit_all();
    assert_eq!(producer_looks(&p), empty);
    assert_eq!(consumer_looks(&c), Looks { slots: 0, ..empty });
    // Observing changed nothing: the ring still fills and drains in order.
    for i in 4..7 {
        p.push(i).unwrap();
    }
    assert_eq!(p.push(0), Err(Full(0)));
    assert_eq!(c.read_chunk(3).into_iter().collect::<Vec<_>>(), [4, 5, 6]);
}

#[test]
fn interleaved_push_pop_wraps_every_position() {
    // Offsets the producer and consumer by every amount so that each position in
    // `0 .. 2 * capacity` is used as head and tail.
    for capacity in [1, 2, 3, 4, 7] {
        let (mut p, mut c) = spsc::ring::<u32>(capacity).unwrap();
        let mut next_in = 0;
        let mut next_out = 0;
        for lag in 0..capacity {
            for _ in 0..lag {
                p.push(next_in).unwrap();
                next_in += 1;
            }
            for _ in 0..3 * capacity + 1 {
                p.push(next_in).unwrap();
                next_in += 1;
                assert_eq!(c.pop(), Ok(next_out));
                next_out += 1;
            }
            while let Ok(item) = c.pop() {
                assert_eq!(item, next_out);
                next_out += 1;
            }
            assert_eq!(next_in, next_out);
        }
    }
}

#[test]
fn threaded_sequence_arrives_whole_and_in_order() {
    for capacity in [1, 2, 3, 1024] {
        let (p, c) = spsc::ring(capacity).unwrap();
        let producer = thread::spawn(move || push_all(p, STRESS_ITEMS));
        pop_all(c, STRESS_ITEMS);
        producer.join().unwrap();
    }
}

#[test]
fn threaded_batches_arrive_whole_and_in_order() {
    for (capacity, batch) in [(1, 1), (2, 2), (3, 2), (7, 5), (1024, 64)] {
        let (mut p, mut c) = spsc::ring::<u64>(capacity).unwrap();
        let producer = thread::spawn(move || {
            let mut next = 0;
            let mut spins = 0;
            while next < STRESS_ITEMS {
                let want = batch.min((STRESS_ITEMS - next) as usize);
                match p.write_chunk(want) {
                    Ok(chunk) => {
                        let written = chunk.fill_from_iter(next..STRESS_ITEMS);
                        assert_eq!(written, want);
                        next += written as u64;
                    }
                    Err(TooFewSlots(free)) => {
                        assert!(free < want);
                        backoff(&mut spins);
                    }
                }
            }
        });
        let mut expected = 0;
        let mut spins = 0;
        let mut use_iter = false;
        while expected < STRESS_ITEMS {
            let chunk = c.read_chunk(batch);
            if chunk.is_empty() {
                backoff(&mut spins);
                continue;
            }
            use_iter = !use_iter;
            if use_iter {
                for item in chunk {
                    assert_eq!(item, expected);
                    expected += 1;
                }
            } else {
                let (a, b) = chunk.as_slices();
                for &item in a.iter().chain(b) {
                    assert_eq!(item, expected);
                    expected += 1;
                }
                chunk.commit_all();
            }
        }
        producer.join().unwrap();
        assert!(c.is_empty());
        assert!(c.is_abandoned());
    }
}

/// A value that counts its drops in a shared counter and may panic when dropped.
#[derive(Debug)]
struct Counted {
    drops: Arc<AtomicUsize>,
    panics: bool,
}

impl Counted {
    fn new(drops: &Arc<AtomicUsize>) -> Self {
        Self {
            drops: drops.clone(),
            panics: false,
        }
    }

    fn panicking(drops: &Arc<AtomicUsize>) -> Self {
        Self {
            drops: drops.clone(),
            panics: true,
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.panics && !thread::panicking() {
            panic!("Counted::drop panics on purpose");
        }
    }
}

#[test]
fn items_left_in_the_ring_are_dropped_exactly_once() {
    for capacity in [1, 2, 3, 8] {
        for consumer_first in [false, true] {
            let drops = Arc::new(AtomicUsize::new(0));
            let (mut p, mut c) = spsc::ring(capacity).unwrap();
            // Wrap the positions first so the leftovers straddle the end of the buffer.
            for _ in 0..capacity + 1 {
                p.push(Counted::new(&drops)).unwrap();
                drop(c.pop().unwrap());
            }
            assert_eq!(drops.load(Ordering::SeqCst), capacity + 1);
            for _ in 0..capacity {
                p.push(Counted::new(&drops)).unwrap();
            }
            let rejected = p.push(Counted::new(&drops)).unwrap_err();
            drop(rejected);
            assert_eq!(drops.load(Ordering::SeqCst), capacity + 2);
            if consumer_first {
                drop(c);
                assert!(p.is_abandoned());
                drop(p);
            } else {
                drop(p);
                assert!(c.is_abandoned());
                drop(c);
            }
            assert_eq!(drops.load(Ordering::SeqCst), 2 * capacity + 2);
        }
    }
}

#[test]
fn a_panicking_drop_in_teardown_drops_the_rest_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut p, mut c) = spsc::ring(4).unwrap();
    // Positions 3.. : leftovers at slots 3, 0, 1 (wrapped), the panicking one in the middle.
    for _ in 0..3 {
        p.push(Counted::new(&drops)).unwrap();
        drop(c.pop().unwrap());
    }
    p.push(Counted::new(&drops)).unwrap();
    p.push(Counted::panicking(&drops)).unwrap();
    p.push(Counted::new(&drops)).unwrap();
    drop(p);
    let result = panic::catch_unwind(AssertUnwindSafe(move || drop(c)));
    assert!(result.is_err(), "the panic must reach the caller");
    assert_eq!(drops.load(Ordering::SeqCst), 3 + 3);
}

#[test]
fn a_panicking_drop_in_commit_drops_the_rest_and_releases_the_slots() {
    for panicking_at in 0..4 {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut p, mut c) = spsc::ring(4).unwrap();
        // Start at slot 2 so the committed items span both runs.
        for _ in 0..2 {
            p.push(Counted::new(&drops)).unwrap();
            drop(c.pop().unwrap());
        }
        for i in 0..4 {
            let item = if i == panicking_at {
                Counted::panicking(&drops)
            } else {
                Counted::new(&drops)
            };
            p.push(item).unwrap();
        }
        let result = panic::catch_unwind(AssertUnwindSafe(|| c.read_chunk(3).commit(3)));
        assert_eq!(result.is_err(), panicking_at < 3);
        assert_eq!(drops.load(Ordering::SeqCst), 2 + 3);
        assert_eq!(c.len(), 1, "the three committed slots are released");
        assert_eq!(p.slots(), 3);
        drop(p);
        let result = panic::catch_unwind(AssertUnwindSafe(move || drop(c)));
        assert_eq!(result.is_err(), panicking_at == 3);
        assert_eq!(drops.load(Ordering::SeqCst), 2 + 4);
    }
}

#[test]
fn a_panicking_iterator_publishes_what_it_wrote() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut p, mut c) = spsc::ring(4).unwrap();
    let items = (0..4).map(|i| {
        if i == 2 {
            panic!("the iterator panics on purpose");
        }
        Counted::new(&drops)
    });
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        p.write_chunk(4).unwrap().fill_from_iter(items)
    }));
    assert!(result.is_err());
    assert_eq!(c.len(), 2, "the two written items are published");
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(c.pop().unwrap());
    drop((p, c));
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn a_panicking_clone_publishes_what_it_cloned() {
    #[derive(Debug, PartialEq)]
    struct Brittle(u8);
    impl Clone for Brittle {
        fn clone(&self) -> Self {
            assert_ne!(self.0, 3, "cloning 3 panics on purpose");
            Brittle(self.0)
        }
    }
    let (mut p, mut c) = spsc::ring(5).unwrap();
    let src = [Brittle(1), Brittle(2), Brittle(3), Brittle(4)];
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        p.write_chunk(4).unwrap().fill_from_slice(&src)
    }));
    assert!(result.is_err());
    assert_eq!(c.pop(), Ok(Brittle(1)));
    assert_eq!(c.pop(), Ok(Brittle(2)));
    assert_eq!(c.pop(), Err(Empty));
}

#[test]
fn zero_sized_items_are_counted_like_any_other() {
    let (mut p, mut c) = spsc::ring::<()>(3).unwrap();
    for _ in 0..3 {
        p.push(()).unwrap();
    }
    assert_eq!(p.push(()), Err(Full(())));
    assert_eq!(c.len(), 3);
    assert_eq!(c.read_chunk(2).into_iter().count(), 2);
    assert_eq!(
        p.write_chunk(2)
            .unwrap()
            .fill_from_iter(std::iter::repeat(())),
        2
    );
    assert_eq!(c.len(), 3);
    let chunk = c.read_chunk(3);
    let (a, b) = chunk.as_slices();
    assert_eq!((a.len(), b.len()), (1, 2));

    // A zero-sized type with a `Drop` is dropped exactly once too.
    static ZST_DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Unit;
    impl Drop for Unit {
        fn drop(&mut self) {
            ZST_DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (mut p, mut c) = spsc::ring::<Unit>(2).unwrap();
    p.push(Unit).unwrap();
    p.push(Unit).unwrap();
    drop(c.pop().unwrap());
    p.push(Unit).unwrap();
    assert_eq!(ZST_DROPS.load(Ordering::SeqCst), 1);
    drop((p, c));
    assert_eq!(ZST_DROPS.load(Ordering::SeqCst), 3);
}

#[test]
fn threaded_drop_counting_with_a_consumer_that_stops_early() {
    let drops = Arc::new(AtomicUsize::new(0));
    let total = if cfg!(miri) { 50 } else { 20_000 };
    let (mut p, mut c) = spsc::ring(7).unwrap();
    let counter = drops.clone();
    let producer = thread::spawn(move || {
        let mut pushed = 0;
        let mut spins = 0;
        while pushed < total && !p.is_abandoned() {
            match p.push(Counted::new(&counter)) {
                Ok(()) => pushed += 1,
                Err(full) => {
                    drop(full);
                    backoff(&mut spins);
                }
            }
        }
        pushed
    });
    let mut popped = 0;
    let mut spins = 0;
    while popped < total / 2 {
        match c.pop() {
            Ok(item) => {
                drop(item);
                popped += 1;
            }
            Err(Empty) => backoff(&mut spins),
        }
    }
    drop(c);
    let pushed = producer.join().unwrap();
    // Every item made was dropped once: those popped, those in the ring, those rejected.
    let made = drops.load(Ordering::SeqCst);
    assert!(made >= pushed, "{made} drops for {pushed} pushes");
    let all_pushed_dropped = Arc::strong_count(&drops) == 1;
    assert!(all_pushed_dropped, "an item was leaked");
}

#[test]
fn handles_are_send_and_chunk_limits_hold() {
    fn assert_send<S: Send>(_: &S) {}
    let (mut p, mut c) = spsc::ring::<String>(3).unwrap();
    assert_send(&p);
    assert_send(&c);
    assert_eq!(p.write_chunk(4).err(), Some(TooFewSlots(3)));
    assert!(p.write_chunk(3).is_ok());
    p.push("a".into()).unwrap();
    assert_eq!(p.write_chunk(3).err(), Some(TooFewSlots(2)));
    assert_eq!(c.read_chunk(0).len(), 0);
    assert_eq!(c.read_chunk(5).len(), 1);
    let result = panic::catch_unwind(AssertUnwindSafe(|| c.read_chunk(1).commit(2)));
    assert!(result.is_err(), "committing more than borrowed panics");
    assert_eq!(c.pop().as_deref(), Ok("a"));
    assert!(format!("{p:?} {c:?}").contains("capacity: 3"));
}

#[test]
fn uncommitted_chunks_change_nothing() {
    let (mut p, mut c) = spsc::ring::<u8>(2).unwrap();
    let _unused = p.write_chunk(2).unwrap();
    assert!(c.is_empty());
    p.push(1).unwrap();
    let _unused = c.read_chunk(1);
    assert_eq!(c.read_chunk(1).into_iter().next(), Some(1));
    assert!(c.is_empty());
    p.push(2).unwrap();
    let mut chunk = p.write_chunk(1).unwrap();
    chunk.as_mut_slices().0[0].write(3);
    // SAFETY: the one reserved slot was written just above.
    unsafe { chunk.commit(1) };
    assert_eq!(c.read_chunk(2).into_iter().collect::<Vec<_>>(), [2, 3]);
}

#[test]
fn a_ring_of_zero_sized_items_at_max_capacity_is_made_at_once() {
    // Making the ring must not touch every slot: at `MAX_CAPACITY` (about 2^62) that would
    // never end. The watchdog's minute is a bound on a hang, not a timing: the work is a
    // handful of instructions.
    let (done, made) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let (mut p, mut c) = spsc::ring::<()>(spsc::MAX_CAPACITY).unwrap();
        assert_eq!(p.capacity(), spsc::MAX_CAPACITY);
        for _ in 0..3 {
            p.push(()).unwrap();
        }
        assert_eq!(c.len(), 3);
        p.write_chunk(2).unwrap().fill_from_iter([(), ()]);
        assert_eq!(c.read_chunk(10).into_iter().count(), 5);
        assert_eq!(c.pop(), Err(Empty));
        assert!(!p.is_full());
        done.send(()).unwrap();
    });
    made.recv_timeout(std::time::Duration::from_secs(60))
        .expect("spsc::ring::<()>(MAX_CAPACITY) did not return (or panicked)");
}
