//! Hand-off latency from a publish to the waiting consumer's wake-up, for the market's
//! `Cart::add_wait` against a `Mutex` + `Condvar` stock and against polling with
//! `thread::sleep(1 ms)`; and the cost of the market's fast path (publish, add, order) with and
//! without waiters parked on other products.
//!
//! Each round, every consumer announces that it is about to wait for its own product; its
//! producer waits for the announcement plus a short pause (so that the consumer is asleep),
//! stamps the time and publishes; the consumer stamps the time when its wait returns. Criterion
//! reports the mean hand-off per round; the median and 99th percentile over every hand-off of
//! the run are printed at the end.
//!
//! ```text
//! cargo bench --bench waits -- --warm-up-time 1 --measurement-time 3
//! cargo bench --bench waits -- alternating 41   # Market and Condvar in alternating pairs
//! ```
//!
//! On a virtual machine a wake-up costs several times more after the processors have been idle
//! for a while, and the figures of two stretches a minute apart differ more than the two
//! designs do. The `alternating` mode runs `Market` and `Condvar` in pairs of short runs (which
//! goes first alternates), so that both see much the same machine, pools every hand-off of
//! each kind, and counts the pairs in which `Market`'s median and 99th percentile are the lower.

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use ringmarket::Market;

/// How long a producer lets its consumer fall asleep before publishing.
const SETTLE: Duration = Duration::from_micros(200);

/// Hand-off latencies (ns) of every run, by bench id.
static SAMPLES: Mutex<BTreeMap<String, Vec<u64>>> = Mutex::new(BTreeMap::new());

#[derive(Clone, Copy, Debug)]
enum Kind {
    Market,
    Condvar,
    Sleep1ms,
}

/// The Mutex + Condvar baseline: a count of items on sale per product, one condition variable
/// per product (already targeted, so the comparison is with the best simple design).
struct Stock {
    on_sale: Mutex<Vec<usize>>,
    ready: Vec<Condvar>,
}

/// Runs `rounds` rounds of `consumers` consumers, each waiting for its own product k, served
/// by `producers` producers (producer p publishes the products k with k % producers == p).
/// Returns every hand-off latency (ns), consumer by consumer.
fn handoff(kind: Kind, producers: usize, consumers: usize, rounds: u64) -> Vec<u64> {
    // Room for every product a producer serves: a publish never waits for an earlier
    // consumer's reservation, as the Condvar stock (unbounded) never does.
    let market = Market::<usize>::new(consumers).unwrap();
    let stock = Arc::new(Stock {
        on_sale: Mutex::new(vec![0; consumers]),
        ready: (0..consumers).map(|_| Condvar::new()).collect(),
    });
    let epoch = Instant::now();
    let stamp = Arc::new(
        (0..consumers)
            .map(|_| AtomicU64::new(0))
            .collect::<Vec<_>>(),
    );
    let waiting = Arc::new(
        (0..consumers)
            .map(|_| AtomicBool::new(false))
            .collect::<Vec<_>>(),
    );
    let start = Arc::new(Barrier::new(producers + consumers));
    let mut lat = Vec::with_capacity((rounds as usize) * consumers);
    // Scoped threads borrow what they share.
    let shared = (&market, &stock, &stamp, &waiting, &start);
    thread::scope(|s| {
        let mut handles = Vec::new();
        for k in 0..consumers {
            let (market, stock, stamp, waiting, start) = shared;
            handles.push(s.spawn(move || {
                let mut cart = market.new_cart();
                let mut mine = Vec::with_capacity(rounds as usize);
                start.wait();
                for _ in 0..rounds {
                    waiting[k].store(true, SeqCst);
                    match kind {
                        Kind::Market => cart.add_wait(&k, Duration::MAX).unwrap(),
                        Kind::Condvar => {
                            let mut g = stock.on_sale.lock().unwrap();
                            while g[k] == 0 {
                                g = stock.ready[k].wait(g).unwrap();
                            }
                            g[k] -= 1;
                        }
                        Kind::Sleep1ms => {
                            while !cart.add(&k) {
                                thread::sleep(Duration::from_millis(1));
                            }
                        }
                    }
                    let now = epoch.elapsed().as_nanos() as u64;
                    mine.push(now.saturating_sub(stamp[k].load(SeqCst)));
                    cart.place_order();
                }
                mine
            }));
        }
        for p in 0..producers {
            let (market, stock, stamp, waiting, start) = shared;
            s.spawn(move || {
                let mut producer = market.register_producer();
                let mine: Vec<usize> = (0..consumers).filter(|k| k % producers == p).collect();
                start.wait();
                for _ in 0..rounds {
                    for &k in &mine {
                        while !waiting[k].swap(false, SeqCst) {
                            thread::yield_now();
                        }
                    }
                    thread::sleep(SETTLE);
                    for &k in &mine {
                        stamp[k].store(epoch.elapsed().as_nanos() as u64, SeqCst);
                        match kind {
                            Kind::Market | Kind::Sleep1ms => {
                                let mut item = k;
                                while let Err(full) = producer.publish(item) {
                                    item = full.into_inner();
                                    thread::yield_now();
                                }
                            }
                            Kind::Condvar => {
                                stock.on_sale.lock().unwrap()[k] += 1;
                                stock.ready[k].notify_one();
                            }
                        }
                    }
                }
            });
        }
        for h in handles {
            lat.extend(h.join().unwrap());
        }
    });
    lat
}

/// [`handoff`] for criterion: records the latencies under `id` and returns the sum over rounds
/// of the mean hand-off latency.
fn timed_handoff(
    kind: Kind,
    producers: usize,
    consumers: usize,
    rounds: u64,
    id: &str,
) -> Duration {
    let lat = handoff(kind, producers, consumers, rounds);
    let total: u64 = lat.iter().sum();
    SAMPLES
        .lock()
        .unwrap()
        .entry(id.to_owned())
        .or_default()
        .extend_from_slice(&lat);
    Duration::from_nanos(total / consumers as u64)
}

/// The configurations: name, producers, consumers.
const CONFIGS: [(&str, usize, usize); 3] = [
    ("1+1", 1, 1),
    ("4+4", 4, 4),
    ("16 waiters on 16 products", 1, 16),
];

/// The value at quantile `q` (nearest rank below) of the sorted `v`, in µs.
fn quantile_us(v: &[u64], q: f64) -> f64 {
    v[((v.len() - 1) as f64 * q) as usize] as f64 / 1000.0
}

fn handoffs(c: &mut Criterion) {
    let mut g = c.benchmark_group("handoff");
    g.sample_size(10);
    for (name, producers, consumers) in CONFIGS {
        for kind in [Kind::Market, Kind::Condvar, Kind::Sleep1ms] {
            let id = format!("{name}/{kind:?}");
            g.bench_function(&id, |b| {
                b.iter_custom(|rounds| timed_handoff(kind, producers, consumers, rounds, &id))
            });
        }
    }
    g.finish();
    println!("\nhand-off latency over every hand-off of the run (µs):");
    println!("{:<36} {:>9} {:>9} {:>9}", "case", "median", "p99", "count");
    for (id, v) in SAMPLES.lock().unwrap().iter_mut() {
        v.sort_unstable();
        let (median, p99) = (quantile_us(v, 0.5), quantile_us(v, 0.99));
        println!("{id:<36} {median:>9.1} {p99:>9.1} {:>9}", v.len());
    }
}

/// The alternating comparison of `Market` with the `Condvar` stock: per configuration,
/// `runs` pairs of runs of `ROUNDS` hand-off rounds each, one of each kind per pair (which goes
/// first alternates), so that both see much the same machine. Prints the median and 99th
/// percentile over every hand-off of each kind, and in how many pairs `Market`'s median and
/// 99th percentile were the lower ones; one polling run per configuration for reference.
fn alternating(runs: usize) {
    /// Hand-off rounds per run: a few tens of milliseconds.
    const ROUNDS: u64 = 1000;
    println!("load average at start: {}", common::load_average());
    println!(
        "{runs} alternating pairs of runs per configuration, {ROUNDS} rounds per run; \
         latency over every hand-off of each kind (µs)"
    );
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>13} {:>13}",
        "case", "Market", "p99", "Condvar", "p99", "Sleep1ms", "p99", "lower median", "lower p99"
    );
    for (name, producers, consumers) in CONFIGS {
        // Warm-up, not counted.
        for kind in [Kind::Market, Kind::Condvar] {
            handoff(kind, producers, consumers, ROUNDS / 10);
        }
        let (mut market, mut condvar) = (Vec::new(), Vec::new());
        let (mut lower_median, mut lower_p99) = (0, 0);
        for run in 0..runs {
            let order = if run % 2 == 0 {
                [Kind::Market, Kind::Condvar]
            } else {
                [Kind::Condvar, Kind::Market]
            };
            let [mut first, mut second] =
                order.map(|kind| handoff(kind, producers, consumers, ROUNDS));
            first.sort_unstable();
            second.sort_unstable();
            let (mut m, mut c) = if run % 2 == 0 {
                (first, second)
            } else {
                (second, first)
            };
            lower_median += usize::from(quantile_us(&m, 0.5) < quantile_us(&c, 0.5));
            lower_p99 += usize::from(quantile_us(&m, 0.99) < quantile_us(&c, 0.99));
            market.append(&mut m);
            condvar.append(&mut c);
        }
        market.sort_unstable();
        condvar.sort_unstable();
        let mut sleep = handoff(Kind::Sleep1ms, producers, consumers, ROUNDS);
        sleep.sort_unstable();
        println!(
            "{:<28} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>7}/{:<5} {:>7}/{:<5}",
            name,
            quantile_us(&market, 0.5),
            quantile_us(&market, 0.99),
            quantile_us(&condvar, 0.5),
            quantile_us(&condvar, 0.99),
            quantile_us(&sleep, 0.5),
            quantile_us(&sleep, 0.99),
            lower_median,
            runs,
            lower_p99,
            runs
        );
    }
    println!("load average at end: {}", common::load_average());
}

/// The fast path: publish, add and order on one thread, with `parked` threads asleep in
/// `add_wait` for products that are never published.
fn fast_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("fast path");
    for parked in [0usize, 16] {
        g.bench_function(
            format!("publish+add+order, {parked} waiters elsewhere"),
            |b| {
                b.iter_custom(|iters| {
                    let market = Market::<u64>::new(4).unwrap();
                    thread::scope(|s| {
                        for k in 0..parked {
                            let mut cart = market.new_cart();
                            s.spawn(move || {
                                // Products 1_000_000 + k are never published; close() ends these.
                                let _ = cart.add_wait(&(1_000_000 + k as u64), Duration::MAX);
                            });
                        }
                        let mut p = market.register_producer();
                        let mut cart = market.new_cart();
                        // Let the waiters park.
                        thread::sleep(Duration::from_millis(20));
                        let t = Instant::now();
                        for i in 0..iters {
                            let x = i % 64;
                            p.publish(black_box(x)).unwrap();
                            assert!(cart.add(&x));
                            black_box(cart.place_order());
                        }
                        let elapsed = t.elapsed();
                        market.close();
                        elapsed
                    })
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, handoffs, fast_path);

/// `cargo bench --bench waits -- alternating [RUNS]` runs the alternating comparison instead
/// of the criterion benchmarks.
fn main() {
    common::main(21, alternating, benches);
}
