//! Two-thread throughput of `ringmarket::spsc` against `rtrb`, `crossbeam-queue`'s
//! `ArrayQueue` used as an SPSC queue, and `Mutex<VecDeque>`, side by side in one run.
//!
//! Each criterion iteration moves one `u64` from a producer thread to a consumer thread. The
//! timer starts when both threads have passed a `Barrier` and stops when the consumer has
//! received every item. Groups: capacity 2 (hand-off latency dominates) and 1024 (throughput),
//! items one at a time (`single`) and in batches of up to 64 (`batch64`): chunk APIs for the
//! two rings (64 slots, or all the free ones when fewer, the same way for both), 64 single operations for `ArrayQueue`, 64 operations under one lock for the
//! mutex. Both sides of every contender wait the same way when full or empty.
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

include!("common/spsc_timing.rs");

mod ours {
    use super::*;
    use ringmarket::spsc::ring;

    pub fn make(capacity: usize) -> (Producer<u64>, Consumer<u64>) {
        ring(capacity).expect("a bench capacity is at least 1")
    }

    include!("common/spsc_ours.rs");
}

mod rtrb_ {
    use super::*;
    use rtrb::{chunks::ChunkError, Consumer, Producer, RingBuffer};

    pub fn make(capacity: usize) -> (Producer<u64>, Consumer<u64>) {
        RingBuffer::new(capacity)
    }

    pub fn produce_single(mut p: Producer<u64>, n: u64) {
        for i in 0..n {
            let mut spins = 0;
            while p.push(i).is_err() {
                wait(&mut spins);
            }
        }
    }

    pub fn consume_single(mut c: Consumer<u64>, n: u64) -> u64 {
        let mut sum = 0;
        for _ in 0..n {
            let mut spins = 0;
            loop {
                if let Ok(item) = c.pop() {
                    sum += black_box(item);
                    break;
                }
                wait(&mut spins);
            }
        }
        sum
    }

    /// The same strategy as ours: 64 slots, or all the free ones when there are fewer.
    pub fn produce_batch(mut p: Producer<u64>, n: u64) {
        let mut next = 0;
        let mut spins = 0;
        while next < n {
            let want = BATCH.min((n - next) as usize);
            let chunk = match p.write_chunk_uninit(want) {
                Ok(chunk) => chunk,
                Err(ChunkError::TooFewSlots(0)) => {
                    wait(&mut spins);
                    continue;
                }
                Err(ChunkError::TooFewSlots(free)) => p.write_chunk_uninit(free).unwrap(),
            };
            spins = 0;
            next += chunk.fill_from_iter(next..n) as u64;
        }
    }

    /// 64 items, or all the available ones when there are fewer.
    pub fn consume_batch(mut c: Consumer<u64>, n: u64) -> u64 {
        let (mut sum, mut got, mut spins) = (0, 0, 0);
        while got < n {
            let chunk = match c.read_chunk(BATCH) {
                Ok(chunk) => chunk,
                Err(ChunkError::TooFewSlots(0)) => {
                    wait(&mut spins);
                    continue;
                }
                Err(ChunkError::TooFewSlots(available)) => c.read_chunk(available).unwrap(),
            };
            spins = 0;
            got += chunk.len() as u64;
            for item in chunk {
                sum += black_box(item);
            }
        }
        sum
    }
}

mod array_queue {
    use super::*;

    type Q = Arc<ArrayQueue<u64>>;

    pub fn make(capacity: usize) -> (Q, Q) {
        let q = Arc::new(ArrayQueue::new(capacity));
        (q.clone(), q)
    }

    pub fn produce_single(q: Q, n: u64) {
        for i in 0..n {
            let mut spins = 0;
            while q.push(i).is_err() {
                wait(&mut spins);
            }
        }
    }

    pub fn consume_single(q: Q, n: u64) -> u64 {
        let mut sum = 0;
        for _ in 0..n {
            let mut spins = 0;
            loop {
                if let Some(item) = q.pop() {
                    sum += black_box(item);
                    break;
                }
                wait(&mut spins);
            }
        }
        sum
    }

    /// Up to 64 single pushes per round, stopping early when full.
    pub fn produce_batch(q: Q, n: u64) {
        let mut next = 0;
        let mut spins = 0;
        while next < n {
            let end = n.min(next + BATCH as u64);
            let before = next;
            while next < end && q.push(next).is_ok() {
                next += 1;
            }
            if next == before {
                wait(&mut spins);
            } else {
                spins = 0;
            }
        }
    }

    /// Up to 64 single pops per round, stopping early when empty.
    pub fn consume_batch(q: Q, n: u64) -> u64 {
        let (mut sum, mut got, mut spins) = (0, 0, 0);
        while got < n {
            let before = got;
            while got - before < BATCH as u64 {
                match q.pop() {
                    Some(item) => {
                        sum += black_box(item);
                        got += 1;
                    }
                    None => break,
                }
            }
            if got == before {
                wait(&mut spins);
            } else {
                spins = 0;
            }
        }
        sum
    }
}

mod mutex {
    use super::*;

    type Q = Arc<(Mutex<VecDeque<u64>>, usize)>;

    pub fn make(capacity: usize) -> (Q, Q) {
        let q = Arc::new((Mutex::new(VecDeque::with_capacity(capacity)), capacity));
        (q.clone(), q)
    }

    /// Pushes `next .. end` while there is room, under one lock; returns the new `next`.
    fn push_some(q: &Q, mut next: u64, end: u64) -> u64 {
        let mut deque = q.0.lock().unwrap();
        while next < end && deque.len() < q.1 {
            deque.push_back(next);
            next += 1;
        }
        next
    }

    /// Pops up to `max` items under one lock; returns how many and their sum.
    fn pop_some(q: &Q, max: usize) -> (u64, u64) {
        let mut deque = q.0.lock().unwrap();
        let (mut got, mut sum) = (0, 0);
        while got < max as u64 {
            match deque.pop_front() {
                Some(item) => {
                    sum += black_box(item);
                    got += 1;
                }
                None => break,
            }
        }
        (got, sum)
    }

    fn produce(q: Q, n: u64, batch: usize) {
        let mut next = 0;
        let mut spins = 0;
        while next < n {
            let after = push_some(&q, next, n.min(next + batch as u64));
            if after == next {
                wait(&mut spins);
            } else {
                spins = 0;
            }
            next = after;
        }
    }

    fn consume(q: Q, n: u64, batch: usize) -> u64 {
        let (mut sum, mut got, mut spins) = (0, 0, 0);
        while got < n {
            let (k, s) = pop_some(&q, batch);
            if k == 0 {
                wait(&mut spins);
            } else {
                spins = 0;
            }
            got += k;
            sum += s;
        }
        sum
    }

    pub fn produce_single(q: Q, n: u64) {
        produce(q, n, 1);
    }

    pub fn consume_single(q: Q, n: u64) -> u64 {
        consume(q, n, 1)
    }

    pub fn produce_batch(q: Q, n: u64) {
        produce(q, n, BATCH);
    }

    pub fn consume_batch(q: Q, n: u64) -> u64 {
        consume(q, n, BATCH)
    }
}

/// The contenders, by the `which` of [`spsc_run`].
const SPSC: [&str; 4] = ["ringmarket", "rtrb", "ArrayQueue", "Mutex<VecDeque>"];

/// The index of the mutex baseline in [`SPSC`].
const MUTEX: usize = 3;

/// One timed run of contender `SPSC[which]` at `capacity`, moving `iters` items one at a
/// time or in batches of up to 64.
fn spsc_run(which: usize, capacity: usize, batch: bool, iters: u64) -> Duration {
    macro_rules! with {
        ($m:ident) => {
            if batch {
                timed(
                    iters,
                    $m::make(capacity),
                    $m::produce_batch,
                    $m::consume_batch,
                )
            } else {
                timed(
                    iters,
                    $m::make(capacity),
                    $m::produce_single,
                    $m::consume_single,
                )
            }
        };
    }
    match which {
        0 => with!(ours),
        1 => with!(rtrb_),
        2 => with!(array_queue),
        _ => with!(mutex),
    }
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
