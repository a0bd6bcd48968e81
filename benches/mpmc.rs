//! Bounded MPMC queues side by side: `ringmarket::mpmc::Ring` (try-operations in a backoff
//! loop), `ringmarket::mpmc::channel` (blocking `push_wait`/`pop_wait`),
//! `crossbeam_queue::ArrayQueue` (try-operations in the same backoff loop),
//! `crossbeam_channel::bounded` and `flume::bounded` (blocking `send`/`recv`) and
//! `Mutex<VecDeque>` with two `Condvar`s (blocking), at 1+1, 2+2 and 4+4 threads
//! (`RINGMARKET_BENCH_THREADS=1,2` to choose) and capacity 128; the three channels and the
//! mutex also at capacity 1, where every value is a hand-off.
//!
//! Each iteration moves one `u64` from a producer to a consumer; threads are spawned before the
//! clock starts and released together by a `Barrier`.
//!
//! ```sh
//! cargo bench --bench mpmc -- --warm-up-time 1 --measurement-time 3
//! cargo bench --bench mpmc -- alternating 1001  # median ratio of 1001 alternating rounds
//! cargo bench --bench mpmc -- scaling 1,2,4 docs/scaling/mpmc.csv 5
//! ```
//!
//! Criterion times each contender in its own stretch of time; on a shared machine the load
//! changes between stretches and the ratio of two medians swings. The `alternating` mode
//! times `Ring` and `ArrayQueue` back to back, round after round, and reports the median and
//! interquartile range of the per-round ratios; then the three channels in rotating order.
//! The `scaling` mode runs all six contenders at capacity 128 for each count of thread pairs
//! and writes the median values moved per second of each (with its ratio to the mutex's) as
//! CSV rows (`scripts/scaling.sh` runs it).

mod common;

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::Backoff;
use ringmarket::mpmc::{channel, Ring};
use ringmarket::Full;

const CAPACITY: usize = 128;

/// The operations every competitor offers, blocking until done.
trait Queue: Sync {
    fn put(&self, v: u64);
    /// `None` once the producers are done and the queue is drained.
    fn take(&self, remaining: &AtomicU64) -> Option<u64>;
}

/// A non-blocking queue: the two lock-free contenders. Both get their blocking [`Queue`]
/// operations from the one retry loop below, so they are driven identically.
trait TryQueue: Sync {
    fn try_push(&self, v: u64) -> Result<(), u64>;
    fn try_pop(&self) -> Option<u64>;
}

impl TryQueue for Ring<u64> {
    #[inline]
    fn try_push(&self, v: u64) -> Result<(), u64> {
        self.push(v).map_err(Full::into_inner)
    }
    #[inline]
    fn try_pop(&self) -> Option<u64> {
        self.pop().ok()
    }
}

impl TryQueue for ArrayQueue<u64> {
    #[inline]
    fn try_push(&self, v: u64) -> Result<(), u64> {
        self.push(v)
    }
    #[inline]
    fn try_pop(&self) -> Option<u64> {
        self.pop()
    }
}

/// The retry loop: try, then `Backoff::snooze`, until done.
impl<Q: TryQueue> Queue for Q {
    fn put(&self, mut v: u64) {
        let backoff = Backoff::new();
        while let Err(back) = self.try_push(v) {
            v = back;
            backoff.snooze();
        }
    }
    fn take(&self, remaining: &AtomicU64) -> Option<u64> {
        let backoff = Backoff::new();
        loop {
            if let Some(v) = self.try_pop() {
                return Some(v);
            }
            if remaining.load(Ordering::Relaxed) == 0 {
                return None;
            }
            backoff.snooze();
        }
    }
}

struct Locked {
    capacity: usize,
    queue: Mutex<VecDeque<u64>>,
    not_empty: Condvar,
    not_full: Condvar,
}

impl Locked {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            queue: Mutex::new(VecDeque::with_capacity(capacity)),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        }
    }
}

impl Queue for Locked {
    fn put(&self, v: u64) {
        let mut q = self.queue.lock().unwrap();
        while q.len() == self.capacity {
            q = self.not_full.wait(q).unwrap();
        }
        q.push_back(v);
        drop(q);
        self.not_empty.notify_one();
    }
    fn take(&self, remaining: &AtomicU64) -> Option<u64> {
        let mut q = self.queue.lock().unwrap();
        loop {
            if let Some(v) = q.pop_front() {
                drop(q);
                self.not_full.notify_one();
                return Some(v);
            }
            if remaining.load(Ordering::Relaxed) == 0 {
                return None;
            }
            // Consumers without work wait with a short time-out: the last value's consumer
            // does not wake the others (this harness's end condition, not the queue's).
            q = self
                .not_empty
                .wait_timeout(q, Duration::from_millis(1))
                .unwrap()
                .0;
        }
    }
}

/// One thread, `iters` times one push and one pop: the cost of the operations themselves.
fn one_thread<Q: TryQueue>(queue: &Q, iters: u64) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        if queue.try_push(black_box(i)).is_err() {
            unreachable!("an empty queue refused a value");
        }
        black_box(queue.try_pop());
    }
    start.elapsed()
}

/// Runs `pairs` producers and `pairs` consumers moving `iters` values through `queue`.
fn run<Q: Queue>(queue: &Q, pairs: usize, iters: u64) -> Duration {
    let barrier = Barrier::new(2 * pairs + 1);
    let remaining = AtomicU64::new(iters);
    let per = iters / pairs as u64;
    let extra = iters % pairs as u64;
    thread::scope(|s| {
        for p in 0..pairs as u64 {
            let (barrier, n) = (&barrier, per + u64::from(p < extra));
            s.spawn(move || {
                barrier.wait();
                for i in 0..n {
                    queue.put(black_box(i));
                }
            });
        }
        for _ in 0..pairs {
            let (barrier, remaining) = (&barrier, &remaining);
            s.spawn(move || {
                barrier.wait();
                while let Some(v) = queue.take(remaining) {
                    black_box(v);
                    remaining.fetch_sub(1, Ordering::Relaxed);
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // Leaving the scope joins every thread.
        start
    })
    .elapsed()
}

/// A channel with blocking operations whose receivers end once every sender is gone and the
/// channel drained: ours, crossbeam-channel's and flume's, each used as its documentation
/// shows.
trait Channel {
    type Tx: Clone + Send;
    type Rx: Clone + Send;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx);
    fn send(tx: &Self::Tx, v: u64);
    /// `None` once every sender is gone and the channel drained.
    fn recv(rx: &Self::Rx) -> Option<u64>;
}

struct Ours;

impl Channel for Ours {
    type Tx = ringmarket::mpmc::Producer<u64>;
    type Rx = ringmarket::mpmc::Consumer<u64>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        channel(capacity).unwrap()
    }
    fn send(tx: &Self::Tx, v: u64) {
        tx.push_wait(v).unwrap();
    }
    fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.pop_wait().ok()
    }
}

struct CrossbeamChannel;

impl Channel for CrossbeamChannel {
    type Tx = crossbeam_channel::Sender<u64>;
    type Rx = crossbeam_channel::Receiver<u64>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(capacity)
    }
    fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).unwrap();
    }
    fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

struct Flume;

impl Channel for Flume {
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(capacity)
    }
    fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).unwrap();
    }
    fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

/// A channel with its blocking operations; dropping the last sender ends the consumers.
fn run_channel<C: Channel>(pairs: usize, capacity: usize, iters: u64) -> Duration {
    let (tx, rx) = C::bounded(capacity);
    let barrier = Barrier::new(2 * pairs + 1);
    let per = iters / pairs as u64;
    let extra = iters % pairs as u64;
    thread::scope(|s| {
        for p in 0..pairs as u64 {
            let (barrier, n, tx) = (&barrier, per + u64::from(p < extra), tx.clone());
            s.spawn(move || {
                barrier.wait();
                for i in 0..n {
                    C::send(&tx, black_box(i));
                }
            });
        }
        drop(tx);
        for _ in 0..pairs {
            let (barrier, rx) = (&barrier, rx.clone());
            s.spawn(move || {
                barrier.wait();
                while let Some(v) = C::recv(&rx) {
                    black_box(v);
                }
            });
        }
        barrier.wait();
        Instant::now()
    })
    .elapsed()
}

/// The thread pairs of the threaded cases (see `common::bench_threads`).
const THREADS: [usize; 3] = [1, 2, 4];

/// The threaded contenders, by the `which` of [`mpmc_run`].
const MPMC: [&str; 6] = [
    "ringmarket Ring",
    "ringmarket channel (waits)",
    "crossbeam ArrayQueue",
    "crossbeam-channel bounded",
    "flume bounded",
    "Mutex<VecDeque>+Condvar",
];

/// The index of the mutex baseline in [`MPMC`].
const MUTEX: usize = 5;

/// The contenders that also run at capacity 1: those that block instead of spinning.
const HAND_OFF: [usize; 4] = [1, 3, 4, MUTEX];

/// `pairs` producers and as many consumers moving `iters` values in all through contender
/// `MPMC[which]` of capacity `capacity`.
fn mpmc_run(which: usize, pairs: usize, capacity: usize, iters: u64) -> Duration {
    match which {
        0 => run(&Ring::<u64>::new(capacity).unwrap(), pairs, iters),
        1 => run_channel::<Ours>(pairs, capacity, iters),
        2 => run(&ArrayQueue::<u64>::new(capacity), pairs, iters),
        3 => run_channel::<CrossbeamChannel>(pairs, capacity, iters),
        4 => run_channel::<Flume>(pairs, capacity, iters),
        _ => run(&Locked::new(capacity), pairs, iters),
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("mpmc");
    group.throughput(Throughput::Elements(1));
    // One thread, one push and one pop per iteration: the cost of the operations themselves,
    // without scheduling noise.
    let ring = Ring::<u64>::new(CAPACITY).unwrap();
    group.bench_function(
        BenchmarkId::new("ringmarket Ring", "push+pop 1 thread"),
        |b| b.iter_custom(|iters| one_thread(&ring, iters)),
    );
    let array = ArrayQueue::<u64>::new(CAPACITY);
    group.bench_function(
        BenchmarkId::new("crossbeam ArrayQueue", "push+pop 1 thread"),
        |b| b.iter_custom(|iters| one_thread(&array, iters)),
    );
    for pairs in common::bench_threads(&THREADS) {
        for (which, contender) in MPMC.into_iter().enumerate() {
            let shape = format!("{pairs}+{pairs}");
            group.bench_function(BenchmarkId::new(contender, &shape), |b| {
                b.iter_custom(|iters| mpmc_run(which, pairs, CAPACITY, iters))
            });
        }
        for which in HAND_OFF {
            let shape = format!("{pairs}+{pairs} capacity 1");
            group.bench_function(BenchmarkId::new(MPMC[which], &shape), |b| {
                b.iter_custom(|iters| mpmc_run(which, pairs, 1, iters))
            });
        }
    }
    group.finish();
}

/// The alternating comparison: `rounds` rounds of each case, in each round `Ring` and
/// `ArrayQueue` once each on the same workload (which goes first alternates), and the median
/// and interquartile range of the per-round ratios. Two runs a few milliseconds apart see much
/// the same machine, so the ratio of a pair is far steadier than either time.
fn alternating(rounds: usize) {
    /// Values moved per run: enough for a few milliseconds, short enough that load changes
    /// little between the two runs of a round.
    const ONE_THREAD: u64 = 1_000_000;
    const THREADED: u64 = 200_000;
    let mut cases = vec![("push+pop 1 thread".to_string(), None, ONE_THREAD)];
    for pairs in common::bench_threads(&THREADS) {
        cases.push((format!("{pairs}+{pairs}"), Some(pairs), THREADED));
    }
    let time = |ring: bool, pairs: Option<usize>, n: u64| -> Duration {
        match (ring, pairs) {
            (true, None) => one_thread(&Ring::<u64>::new(CAPACITY).unwrap(), n),
            (false, None) => one_thread(&ArrayQueue::<u64>::new(CAPACITY), n),
            (true, Some(p)) => run(&Ring::<u64>::new(CAPACITY).unwrap(), p, n),
            (false, Some(p)) => run(&ArrayQueue::<u64>::new(CAPACITY), p, n),
        }
    };
    println!("load average at start: {}", common::load_average());
    println!(
        "{rounds} alternating rounds per case, capacity {CAPACITY}; ns per value moved \
         (medians), ratio = ArrayQueue time / Ring time per round (> 1: Ring faster)"
    );
    println!(
        "{:<18} {:>8} {:>8} {:>7} {:>15} {:>15} {:>9}",
        "case", "Ring", "AQueue", "ratio", "IQR of ratio", "95% CI median", "Ring won"
    );
    for (name, pairs, n) in cases {
        // Warm-up, not counted.
        for ring in [true, false] {
            time(ring, pairs, n);
        }
        let (mut ring_ns, mut array_ns, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let ring_first = round % 2 == 0;
            let first = time(ring_first, pairs, n);
            let second = time(!ring_first, pairs, n);
            let (r, a) = if ring_first {
                (first, second)
            } else {
                (second, first)
            };
            ring_ns.push(r.as_nanos() as f64 / n as f64);
            array_ns.push(a.as_nanos() as f64 / n as f64);
            ratios.push(a.as_secs_f64() / r.as_secs_f64());
        }
        let won = ratios.iter().filter(|&&x| x >= 1.0).count();
        let [q1, med, q3] = quartiles(&mut ratios);
        let [lo, hi] = median_interval(&ratios);
        println!(
            "{:<18} {:>8.1} {:>8.1} {:>7.3} {:>7.3}-{:<7.3} {:>7.3}-{:<7.3} {:>5}/{}",
            name,
            quartiles(&mut ring_ns)[1],
            quartiles(&mut array_ns)[1],
            med,
            q1,
            q3,
            lo,
            hi,
            won,
            rounds
        );
    }
    alternating_channels(rounds);
    println!("load average at end: {}", common::load_average());
}

/// The channels' part of the alternating comparison: ours, crossbeam-channel's and flume's,
/// each once per round in an order that rotates, at capacity 128 and 1.
fn alternating_channels(rounds: usize) {
    /// Values moved per run; a hand-off (capacity 1) costs a wake-up per value or so.
    const THREADED: u64 = 200_000;
    const HAND_OFFS: u64 = 20_000;
    const CHANNELS: [usize; 3] = [1, 3, 4];
    println!(
        "channels, {rounds} rounds in rotating order; ns per value moved (medians), ratio = \
         peer time / ringmarket channel time per round (> 1: ringmarket faster)"
    );
    println!(
        "{:<18} {:>8} {:>8} {:>8} {:>11} {:>11} {:>13}",
        "case", "ours", "xbeam", "flume", "xbeam/ours", "flume/ours", "won vs x f"
    );
    for capacity in [CAPACITY, 1] {
        let n = if capacity == 1 { HAND_OFFS } else { THREADED };
        for pairs in common::bench_threads(&THREADS) {
            let mut ns = [Vec::new(), Vec::new(), Vec::new()];
            for which in CHANNELS {
                mpmc_run(which, pairs, capacity, n / 10);
            }
            for round in 0..rounds {
                for k in 0..3 {
                    let at = (round + k) % 3;
                    let time = mpmc_run(CHANNELS[at], pairs, capacity, n);
                    ns[at].push(time.as_nanos() as f64 / n as f64);
                }
            }
            let per_round = |peer: usize| -> Vec<f64> {
                ns[peer].iter().zip(&ns[0]).map(|(p, o)| p / o).collect()
            };
            let (mut x, mut f) = (per_round(1), per_round(2));
            let won = |r: &[f64]| r.iter().filter(|&&v| v >= 1.0).count();
            let wins = format!("{} {} of {rounds}", won(&x), won(&f));
            println!(
                "{:<18} {:>8.1} {:>8.1} {:>8.1} {:>11.3} {:>11.3} {:>13}",
                format!("{pairs}+{pairs} capacity {capacity}"),
                quartiles(&mut ns[0])[1],
                quartiles(&mut ns[1])[1],
                quartiles(&mut ns[2])[1],
                quartiles(&mut x)[1],
                quartiles(&mut f)[1],
                wins
            );
        }
    }
}

/// First quartile, median and third quartile (nearest rank) of `xs`, which it sorts.
fn quartiles(xs: &mut [f64]) -> [f64; 3] {
    xs.sort_by(f64::total_cmp);
    let at = |q: f64| xs[((xs.len() - 1) as f64 * q).round() as usize];
    [at(0.25), at(0.5), at(0.75)]
}

/// A distribution-free 95% confidence interval for the median of the sorted `xs`: the order
/// statistics at ranks `n/2 -+ 0.98 sqrt(n)` (normal approximation of the binomial).
fn median_interval(xs: &[f64]) -> [f64; 2] {
    let n = xs.len() as f64;
    let half = 0.98 * n.sqrt();
    let lo = ((n / 2.0 - half).floor().max(1.0) as usize) - 1;
    let hi = ((n / 2.0 + half).ceil() as usize).min(xs.len() - 1);
    [xs[lo], xs[hi]]
}

criterion_group!(benches, bench);

/// `cargo bench --bench mpmc -- alternating [ROUNDS]` runs the alternating comparison
/// (31 rounds by default; a noisy machine needs a few hundred), `... -- scaling THREADS_LIST
/// OUT.csv [ROUNDS]` the scaling runs; any other arguments go to criterion.
fn main() {
    let scaling = common::Scaling {
        structure: "mpmc",
        cases: scaling_cases,
    };
    common::main(31, alternating, Some(scaling), benches);
}

/// The scaling mode's cases: every contender at capacity 128, for each count of thread pairs.
fn scaling_cases(threads: &[usize]) -> Vec<common::Case> {
    // Values moved in one run (`SCALING_QUICK` cuts it for a check of the tooling).
    let items: u64 = if std::env::var_os("SCALING_QUICK").is_some() {
        5_000
    } else {
        100_000
    };
    let case = |t: usize| common::Case {
        name: format!("capacity{CAPACITY}"),
        threads: t,
        contenders: &MPMC,
        mutex: MUTEX,
        run: Box::new(move |which| (items, mpmc_run(which, t, CAPACITY, items))),
    };
    threads.iter().map(|&t| case(t)).collect()
}
