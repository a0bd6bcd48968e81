//! Bounded MPMC queues side by side: `ringmarket::mpmc::Ring` (try-operations in a backoff
//! loop), `ringmarket::mpmc::channel` (blocking `push_wait`/`pop_wait`),
//! `crossbeam_queue::ArrayQueue` (try-operations in the same backoff loop) and
//! `Mutex<VecDeque>` with two `Condvar`s (blocking), at 1+1, 2+2 and 4+4 threads.
//!
//! Each iteration moves one `u64` from a producer to a consumer; threads are spawned before the
//! clock starts and released together by a `Barrier`.
//!
//! ```sh
//! cargo bench --bench mpmc -- --warm-up-time 1 --measurement-time 3
//! ```

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::Backoff;
use ringmarket::mpmc::{channel, Ring};

const CAPACITY: usize = 128;

/// The operations every competitor offers, blocking until done.
trait Queue: Sync {
    fn put(&self, v: u64);
    /// `None` once the producers are done and the queue is drained.
    fn take(&self, remaining: &AtomicU64) -> Option<u64>;
}

/// Pops in a backoff loop until a value comes or every value has been claimed.
fn take_spinning(pop: impl Fn() -> Option<u64>, remaining: &AtomicU64) -> Option<u64> {
    let backoff = Backoff::new();
    loop {
        if let Some(v) = pop() {
            return Some(v);
        }
        if remaining.load(Ordering::Relaxed) == 0 {
            return None;
        }
        backoff.snooze();
    }
}

impl Queue for Ring<u64> {
    fn put(&self, mut v: u64) {
        let backoff = Backoff::new();
        while let Err(full) = self.push(v) {
            v = full.into_inner();
            backoff.snooze();
        }
    }
    fn take(&self, remaining: &AtomicU64) -> Option<u64> {
        take_spinning(|| self.pop().ok(), remaining)
    }
}

impl Queue for ArrayQueue<u64> {
    fn put(&self, mut v: u64) {
        let backoff = Backoff::new();
        while let Err(back) = self.push(v) {
            v = back;
            backoff.snooze();
        }
    }
    fn take(&self, remaining: &AtomicU64) -> Option<u64> {
        take_spinning(|| self.pop(), remaining)
    }
}

struct Locked {
    queue: Mutex<VecDeque<u64>>,
    not_empty: Condvar,
    not_full: Condvar,
}

impl Queue for Locked {
    fn put(&self, v: u64) {
        let mut q = self.queue.lock().unwrap();
        while q.len() == CAPACITY {
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

/// The channel with its blocking operations; the close ends the consumers.
fn run_channel(pairs: usize, iters: u64) -> Duration {
    let (tx, rx) = channel::<u64>(CAPACITY).unwrap();
    let barrier = Barrier::new(2 * pairs + 1);
    let per = iters / pairs as u64;
    let extra = iters % pairs as u64;
    thread::scope(|s| {
        for p in 0..pairs as u64 {
            let (barrier, n, tx) = (&barrier, per + u64::from(p < extra), tx.clone());
            s.spawn(move || {
                barrier.wait();
                for i in 0..n {
                    tx.push_wait(black_box(i)).unwrap();
                }
            });
        }
        drop(tx);
        for _ in 0..pairs {
            let (barrier, rx) = (&barrier, rx.clone());
            s.spawn(move || {
                barrier.wait();
                while let Ok(v) = rx.pop_wait() {
                    black_box(v);
                }
            });
        }
        barrier.wait();
        Instant::now()
    })
    .elapsed()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("mpmc");
    group.throughput(Throughput::Elements(1));
    // One thread, one push and one pop per iteration: the cost of the operations themselves,
    // without scheduling noise.
    let ring = Ring::<u64>::new(CAPACITY).unwrap();
    group.bench_function(
        BenchmarkId::new("ringmarket Ring", "push+pop 1 thread"),
        |b| {
            b.iter(|| {
                ring.push(black_box(1)).unwrap();
                ring.pop().unwrap()
            })
        },
    );
    let array = ArrayQueue::<u64>::new(CAPACITY);
    group.bench_function(
        BenchmarkId::new("crossbeam ArrayQueue", "push+pop 1 thread"),
        |b| {
            b.iter(|| {
                array.push(black_box(1)).unwrap();
                array.pop().unwrap()
            })
        },
    );
    for pairs in [1_usize, 2, 4] {
        let shape = format!("{pairs}+{pairs}");
        group.bench_function(BenchmarkId::new("ringmarket Ring", &shape), |b| {
            b.iter_custom(|iters| run(&Ring::<u64>::new(CAPACITY).unwrap(), pairs, iters))
        });
        group.bench_function(BenchmarkId::new("crossbeam ArrayQueue", &shape), |b| {
            b.iter_custom(|iters| run(&ArrayQueue::<u64>::new(CAPACITY), pairs, iters))
        });
        group.bench_function(
            BenchmarkId::new("ringmarket channel (waits)", &shape),
            |b| b.iter_custom(|iters| run_channel(pairs, iters)),
        );
        group.bench_function(BenchmarkId::new("Mutex<VecDeque>+Condvar", &shape), |b| {
            b.iter_custom(|iters| {
                let locked = Locked {
                    queue: Mutex::new(VecDeque::with_capacity(CAPACITY)),
                    not_empty: Condvar::new(),
                    not_full: Condvar::new(),
                };
                run(&locked, pairs, iters)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
