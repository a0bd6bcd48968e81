//! Two-thread throughput of `ringmarket::spsc` against `rtrb`, `crossbeam-queue`'s
//! `ArrayQueue` used as an SPSC queue, and `Mutex<VecDeque>`, side by side in one run.
//!
//! Each criterion iteration moves one `u64` from a producer thread to a consumer thread. The
//! timer starts when both threads have passed a `Barrier` and stops when the consumer has
//! received every item. Groups: capacity 2 (hand-off latency dominates) and 1024 (throughput),
//! items one at a time (`single`) and in batches of up to 64 (`batch64`): chunk APIs for the
//! two rings (64 slots, or all the free ones when fewer, the same way for both), 64 single
//! operations for `ArrayQueue`, 64 operations under one lock for the mutex. Every contender
//! implements one trait (`SpscContender`, in `common/spsc_timing.rs`) and the same loops drive
//! them all, so both sides of every contender wait the same way when full or empty.
//!
//! ```text
//! cargo bench --bench spsc -- --warm-up-time 1 --measurement-time 3
//! cargo bench --bench spsc -- alternating 31   # every contender once per round, 31 rounds
//! cargo bench --bench spsc -- scaling 1 docs/scaling/spsc.csv 5
//! ```
//!
//! The `alternating` mode runs every contender once per round on each group's workload (in an
//! order that rotates) and reports the median of the per-round ratios to `ringmarket`. The
//! `scaling` mode writes, for capacity 1024, single and batch64, the median items moved per
//! second of each contender (with its ratio to the mutex's) as CSV rows; the ring has one
//! producer and one consumer, so it reports 1+1 whatever thread counts it is given
//! (`scripts/scaling.sh` runs it).

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod common;

use criterion::{criterion_group, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use rtrb::{chunks::ChunkError, RingBuffer};

include!("common/spsc_timing.rs");

mod ours {
    use super::*;

    fn new_ring(capacity: usize) -> (Producer<u64>, Consumer<u64>) {
        ringmarket::spsc::ring(capacity).expect("a bench capacity is at least 1")
    }

    include!("common/spsc_ours.rs");
}

use ours::Ours;

/// `rtrb`'s ring, its chunks taken the same way as ours: 64 slots, or all the free (or
/// available) ones when there are fewer.
impl SpscContender for RingBuffer<u64> {
    type P = rtrb::Producer<u64>;
    type C = rtrb::Consumer<u64>;

    fn make(capacity: usize) -> (Self::P, Self::C) {
        RingBuffer::new(capacity)
    }

    #[inline]
    fn try_push(p: &mut Self::P, item: u64) -> bool {
        p.push(item).is_ok()
    }

    #[inline]
    fn try_pop(c: &mut Self::C) -> Option<u64> {
        c.pop().ok()
    }

    #[inline]
    fn push_batch(p: &mut Self::P, next: u64, end: u64) -> u64 {
        let chunk = match p.write_chunk_uninit((end - next) as usize) {
            Ok(chunk) => chunk,
            Err(ChunkError::TooFewSlots(0)) => return 0,
            Err(ChunkError::TooFewSlots(free)) => p.write_chunk_uninit(free).unwrap(),
        };
        chunk.fill_from_iter(next..end) as u64
    }

    #[inline]
    fn pop_batch(c: &mut Self::C, sum: &mut u64) -> u64 {
        let chunk = match c.read_chunk(BATCH) {
            Ok(chunk) => chunk,
            Err(ChunkError::TooFewSlots(0)) => return 0,
            Err(ChunkError::TooFewSlots(available)) => c.read_chunk(available).unwrap(),
        };
        let got = chunk.len() as u64;
        for item in chunk {
            *sum += black_box(item);
        }
        got
    }
}

/// `ArrayQueue` has no batch operations: its batches are up to 64 single ones (the trait's
/// default), stopping early when full or empty.
impl SpscContender for ArrayQueue<u64> {
    type P = Arc<ArrayQueue<u64>>;
    type C = Arc<ArrayQueue<u64>>;

    fn make(capacity: usize) -> (Self::P, Self::C) {
        let q = Arc::new(ArrayQueue::new(capacity));
        (q.clone(), q)
    }

    #[inline]
    fn try_push(q: &mut Self::P, item: u64) -> bool {
        q.push(item).is_ok()
    }

    #[inline]
    fn try_pop(q: &mut Self::C) -> Option<u64> {
        q.pop()
    }
}

/// A `VecDeque` of bounded length under a `Mutex`; a batch is up to 64 operations under one
/// lock.
struct Locked {
    deque: Mutex<VecDeque<u64>>,
    /// The length the deque may not exceed.
    capacity: usize,
}

impl SpscContender for Locked {
    type P = Arc<Locked>;
    type C = Arc<Locked>;

    fn make(capacity: usize) -> (Self::P, Self::C) {
        let q = Arc::new(Locked {
            deque: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
        });
        (q.clone(), q)
    }

    #[inline]
    fn try_push(q: &mut Self::P, item: u64) -> bool {
        Self::push_batch(q, item, item + 1) == 1
    }

    #[inline]
    fn try_pop(q: &mut Self::C) -> Option<u64> {
        q.deque.lock().unwrap().pop_front()
    }

    #[inline]
    fn push_batch(q: &mut Self::P, next: u64, end: u64) -> u64 {
        let mut deque = q.deque.lock().unwrap();
        push_each(next, end, |item| {
            deque.len() < q.capacity && {
                deque.push_back(item);
                true
            }
        })
    }

    #[inline]
    fn pop_batch(q: &mut Self::C, sum: &mut u64) -> u64 {
        let mut deque = q.deque.lock().unwrap();
        pop_each(sum, || deque.pop_front())
    }
}

/// The contenders, by the `which` of [`spsc_run`].
const SPSC: [&str; 4] = ["ringmarket", "rtrb", "ArrayQueue", "Mutex<VecDeque>"];

/// The index of the mutex baseline in [`SPSC`].
const MUTEX: usize = 3;

/// One timed run of contender `SPSC[which]` at `capacity`, moving `iters` items one at a
/// time or in batches of up to 64.
fn spsc_run(which: usize, capacity: usize, batch: bool, iters: u64) -> Duration {
    let run = match which {
        0 => timed::<Ours>,
        1 => timed::<RingBuffer<u64>>,
        2 => timed::<ArrayQueue<u64>>,
        _ => timed::<Locked>,
    };
    run(capacity, batch, iters)
}

/// The groups: capacity 2 and 1024, single and batch64.
const CASES: [(usize, bool); 4] = [(2, false), (2, true), (1024, false), (1024, true)];

fn case_name(capacity: usize, batch: bool) -> String {
    format!("cap{capacity}/{}", if batch { "batch64" } else { "single" })
}

fn bench(c: &mut Criterion) {
    for (capacity, batch) in CASES {
        let mut group = c.benchmark_group(format!("spsc/{}", case_name(capacity, batch)));
        group.throughput(Throughput::Elements(1));
        for (which, contender) in SPSC.into_iter().enumerate() {
            group.bench_function(contender, |b| {
                b.iter_custom(|iters| spsc_run(which, capacity, batch, iters))
            });
        }
        group.finish();
    }
}

/// The alternating comparison: `rounds` rounds per group, every contender once per round in
/// an order that rotates; prints the median ns per item of each and the medians of the
/// per-round ratios contender time / `ringmarket` time (> 1: `ringmarket` faster).
fn alternating(rounds: usize) {
    /// Items per run: a few milliseconds at capacity 1024; capacity 2 hands items over one
    /// or two at a time, some hundred times slower, and moves fewer.
    const ITEMS: u64 = 500_000;
    const HAND_OFFS: u64 = 20_000;
    println!("load average at start: {}", common::load_average());
    println!(
        "{rounds} alternating rounds; ns per item (medians) and medians of per-round ratios \
         (contender time / ringmarket time, > 1: ringmarket faster) with rounds ringmarket won"
    );
    println!(
        "{:<16} {:>10} {:>6} {:>10} {:>15} {:>12} {:>12} {:>15}",
        "case",
        "ringmarket",
        "rtrb",
        "ArrayQueue",
        "Mutex<VecDeque>",
        "rtrb ÷",
        "AQueue ÷",
        "Mutex ÷"
    );
    for (capacity, batch) in CASES {
        let items = if capacity == 2 { HAND_OFFS } else { ITEMS };
        let mut ns = common::rotate(rounds, SPSC.len(), |which| {
            spsc_run(which, capacity, batch, items).as_nanos() as f64 / items as f64
        });
        let mut line = format!("{:<16}", case_name(capacity, batch));
        let mut over = String::new();
        for peer in 1..SPSC.len() {
            let mut r: Vec<f64> = ns[peer].iter().zip(&ns[0]).map(|(p, o)| p / o).collect();
            let won = r.iter().filter(|&&x| x > 1.0).count();
            over += &format!(" {:>6.2} {:>2}/{rounds}", common::median(&mut r), won);
        }
        for (xs, width) in ns.iter_mut().zip([10, 6, 10, 15]) {
            line += &format!(" {:>width$.1}", common::median(xs));
        }
        println!("{line}{over}");
    }
    println!("load average at end: {}", common::load_average());
}

/// The scaling mode's cases: capacity 1024, single and batch64, at 1+1 only (the threads
/// asked for do not apply to a single-producer ring).
fn scaling_cases(_threads: &[usize]) -> Vec<common::Case> {
    // Items in one run (`SCALING_QUICK` cuts it for a check of the tooling).
    let items: u64 = if std::env::var_os("SCALING_QUICK").is_some() {
        20_000
    } else {
        1_000_000
    };
    [false, true]
        .into_iter()
        .map(|batch| common::Case {
            name: case_name(1024, batch),
            threads: 1,
            contenders: &SPSC,
            mutex: MUTEX,
            run: Box::new(move |which| (items, spsc_run(which, 1024, batch, items))),
        })
        .collect()
}

criterion_group!(benches, bench);

/// `cargo bench --bench spsc -- alternating [ROUNDS]` runs the alternating comparison and
/// `... -- scaling THREADS_LIST OUT.csv [ROUNDS]` the scaling runs instead of the criterion
/// benchmarks.
fn main() {
    let scaling = common::Scaling {
        structure: "spsc",
        cases: scaling_cases,
    };
    common::main(15, alternating, Some(scaling), benches);
}
