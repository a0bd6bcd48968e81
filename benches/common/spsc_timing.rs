// The batch size, the wait, the contender trait, the transfer loops over it and the timed run
// of `benches/spsc.rs`, shared with the side-by-side comparison of two revisions
// (`scripts/bench-ab/main.rs`), which includes this file: the includer provides `Barrier`,
// `Duration`, `Instant`, `black_box` and `thread` in scope.

/// Items per batch in the `batch64` groups.
const BATCH: usize = 64;

/// Waits a little while the other side catches up: spins first, then yields the core (the
/// machine may have fewer free cores than threads). `spins` counts the failed attempts in a
/// row; the spin doubles each time up to 64 (the schedule of `crossbeam_utils::Backoff::snooze`)
/// so that a waiting side does not hammer the cache line the other side is writing.
#[inline]
fn wait(spins: &mut u32) {
    if *spins < 7 {
        for _ in 0..1_u32 << *spins {
            std::hint::spin_loop();
        }
        *spins += 1;
    } else {
        thread::yield_now();
    }
}

/// An SPSC queue of `u64` in the transfers: how it is made and what one attempt of each
/// operation does. The loops below drive every contender, waiting with [`wait`] after an
/// attempt that moved nothing; a contender decides only what an attempt is.
trait SpscContender {
    /// The producing end.
    type P: Send;
    /// The consuming end.
    type C: Send;

    /// A queue of `capacity` slots, as its two ends.
    fn make(capacity: usize) -> (Self::P, Self::C);

    /// Pushes `item` if there is room; whether it did.
    fn try_push(p: &mut Self::P, item: u64) -> bool;

    /// Pops an item if there is one.
    fn try_pop(c: &mut Self::C) -> Option<u64>;

    /// Pushes the first items of `next .. end` (at most [`BATCH`] of them) that there is room
    /// for; returns how many. By default one [`try_push`](Self::try_push) after another,
    /// stopping at the first that fails.
    #[inline]
    fn push_batch(p: &mut Self::P, next: u64, end: u64) -> u64 {
        push_each(next, end, |item| Self::try_push(p, item))
    }

    /// Pops up to [`BATCH`] items, adding each (through `black_box`) to `sum`; returns how
    /// many. By default one [`try_pop`](Self::try_pop) after another, stopping at the first
    /// that finds the queue empty.
    #[inline]
    fn pop_batch(c: &mut Self::C, sum: &mut u64) -> u64 {
        pop_each(sum, || Self::try_pop(c))
    }
}

/// Pushes `next .. end` with `push` until it refuses one; returns how many it took.
#[inline]
fn push_each(next: u64, end: u64, mut push: impl FnMut(u64) -> bool) -> u64 {
    let mut item = next;
    while item < end && push(item) {
        item += 1;
    }
    item - next
}

/// Pops with `pop` until it finds nothing or has popped [`BATCH`] items, adding each (through
/// `black_box`) to `sum`; returns how many.
#[inline]
fn pop_each(sum: &mut u64, mut pop: impl FnMut() -> Option<u64>) -> u64 {
    let mut got = 0;
    while got < BATCH as u64 {
        match pop() {
            Some(item) => {
                *sum += black_box(item);
                got += 1;
            }
            None => break,
        }
    }
    got
}

/// Pushes `0 .. n`, one item at a time.
fn produce_single<T: SpscContender>(mut p: T::P, n: u64) {
    for i in 0..n {
        let mut spins = 0;
        while !T::try_push(&mut p, i) {
            wait(&mut spins);
        }
    }
}

/// Pops `n` items, one at a time; returns their sum.
fn consume_single<T: SpscContender>(mut c: T::C, n: u64) -> u64 {
    let mut sum = 0;
    for _ in 0..n {
        let mut spins = 0;
        loop {
            if let Some(item) = T::try_pop(&mut c) {
                sum += black_box(item);
                break;
            }
            wait(&mut spins);
        }
    }
    sum
}

/// Pushes `0 .. n` in batches of up to [`BATCH`] items.
fn produce_batch<T: SpscContender>(mut p: T::P, n: u64) {
    let (mut next, mut spins) = (0, 0);
    while next < n {
        match T::push_batch(&mut p, next, n.min(next + BATCH as u64)) {
            0 => wait(&mut spins),
            pushed => {
                spins = 0;
                next += pushed;
            }
        }
    }
}

/// Pops `n` items in batches of up to [`BATCH`]; returns their sum.
fn consume_batch<T: SpscContender>(mut c: T::C, n: u64) -> u64 {
    let (mut sum, mut got, mut spins) = (0, 0, 0);
    while got < n {
        match T::pop_batch(&mut c, &mut sum) {
            0 => wait(&mut spins),
            popped => {
                spins = 0;
                got += popped;
            }
        }
    }
    sum
}

/// One run of contender `T` at `capacity`, moving `iters` items one at a time or in batches
/// of up to [`BATCH`]: produced on this thread and consumed on another, timed from a common
/// start until the consumer has them all.
fn timed<T: SpscContender>(capacity: usize, batch: bool, iters: u64) -> Duration {
    let produce: fn(T::P, u64) = if batch {
        produce_batch::<T>
    } else {
        produce_single::<T>
    };
    let consume: fn(T::C, u64) -> u64 = if batch {
        consume_batch::<T>
    } else {
        consume_single::<T>
    };
    let (producer, consumer) = T::make(capacity);
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let barrier = &barrier;
        let handle = s.spawn(move || {
            barrier.wait();
            consume(consumer, iters)
        });
        barrier.wait();
        let start = Instant::now();
        produce(producer, iters);
        let sum = handle.join().unwrap();
        let elapsed = start.elapsed();
        assert_eq!(sum, iters * iters.saturating_sub(1) / 2, "items lost");
        elapsed
    })
}
