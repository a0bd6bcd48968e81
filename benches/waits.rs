//! Hand-off latency from a publish to the waiting consumer's wake-up, for the market's
//! `Cart::add_timeout` against two `Mutex` + `Condvar` designs (a count per product, and a market
//! with the same semantics as `Market`) and against polling with `thread::sleep(1 ms)`; and the
//! cost of the market's fast path (publish, add, order) with and
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
//! cargo bench --bench waits -- alternating 41   # the three designs in rotating rounds
//! ```
//!
//! On a virtual machine a wake-up costs several times more after the processors have been idle
//! for a while, and the figures of two stretches a minute apart differ more than the designs
//! do. The `alternating` mode runs `Market`, `Condvar` and `CondvarMarket` in rounds of short
//! runs (the order rotating), so that all see much the same machine, pools every hand-off of
//! each kind, and counts the rounds in which `Market`'s median and 99th percentile are lower
//! than each baseline's.

mod common;

use std::collections::{BTreeMap, VecDeque};
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

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Market,
    Condvar,
    CondvarMarket,
    Sleep1ms,
}

/// The first Mutex + Condvar baseline: a count of items on sale per product, one condition
/// variable per product (already targeted, and doing no more than a hand-off needs: no
/// producer limits, no items, no carts).
struct Stock {
    on_sale: Mutex<Vec<usize>>,
    ready: Vec<Condvar>,
}

/// The second Mutex + Condvar baseline: the marketplace of `baseline::MutexMarket` (one lock
/// around the items on sale with their producers, the producers' counts and the carts) with
/// targeted waits: a waiting cart queues its own condition variable under the product it wants,
/// and a publish wakes the first cart waiting for that product, nobody else.
struct CondvarMarket {
    capacity: usize,
    state: Mutex<MarketState>,
}

struct MarketState {
    /// Items on sale with their producers, oldest first.
    on_sale: Vec<(usize, usize)>,
    /// Items on sale per producer.
    counts: Vec<usize>,
    /// Each cart's items with their producers.
    carts: Vec<Vec<(usize, usize)>>,
    /// Waiting carts: the product wanted, and the condition variable the cart sleeps on.
    waiting: VecDeque<(usize, Arc<Condvar>)>,
}

impl CondvarMarket {
    fn new(capacity: usize, producers: usize, carts: usize) -> Self {
        Self {
            capacity,
            state: Mutex::new(MarketState {
                on_sale: Vec::new(),
                counts: vec![0; producers],
                carts: vec![Vec::new(); carts],
                waiting: VecDeque::new(),
            }),
        }
    }

    /// Puts `item` on sale under `producer` unless it is at its limit; wakes the first cart
    /// waiting for it.
    fn publish(&self, producer: usize, item: usize) -> bool {
        let mut s = self.state.lock().unwrap();
        if s.counts[producer] >= self.capacity {
            return false;
        }
        s.counts[producer] += 1;
        s.on_sale.push((item, producer));
        if let Some(at) = s.waiting.iter().position(|&(wanted, _)| wanted == item) {
            let (_, waiter) = s.waiting.remove(at).unwrap();
            drop(s);
            waiter.notify_one();
        }
        true
    }

    /// Reserves an item equal to `item` into `cart`, sleeping on `me` until one is on sale.
    fn add_timeout(&self, cart: usize, item: usize, me: &Arc<Condvar>) {
        let mut s = self.state.lock().unwrap();
        loop {
            if let Some(at) = s.on_sale.iter().position(|&(x, _)| x == item) {
                let (x, producer) = s.on_sale.remove(at);
                s.counts[producer] -= 1;
                s.carts[cart].push((x, producer));
                return;
            }
            s.waiting.push_back((item, Arc::clone(me)));
            s = me.wait(s).unwrap();
            // Woken by a publish (which dequeued us) or spuriously (still queued).
            if let Some(at) = s.waiting.iter().position(|(_, w)| Arc::ptr_eq(w, me)) {
                s.waiting.remove(at);
            }
        }
    }

    fn place_order(&self, cart: usize) -> Vec<usize> {
        let items = std::mem::take(&mut self.state.lock().unwrap().carts[cart]);
        items.into_iter().map(|(x, _)| x).collect()
    }
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
    let condvar_market = CondvarMarket::new(consumers, producers, consumers);
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
    let shared = (&market, &stock, &condvar_market, &stamp, &waiting, &start);
    thread::scope(|s| {
        let mut handles = Vec::new();
        for k in 0..consumers {
            let (market, stock, condvar_market, stamp, waiting, start) = shared;
            handles.push(s.spawn(move || {
                let mut cart = market.new_cart();
                let me = Arc::new(Condvar::new());
                let mut mine = Vec::with_capacity(rounds as usize);
                start.wait();
                for _ in 0..rounds {
                    waiting[k].store(true, SeqCst);
                    match kind {
                        Kind::Market => cart.add_timeout(&k, Duration::MAX).unwrap(),
                        Kind::Condvar => {
                            let mut g = stock.on_sale.lock().unwrap();
                            while g[k] == 0 {
                                g = stock.ready[k].wait(g).unwrap();
                            }
                            g[k] -= 1;
                        }
                        Kind::CondvarMarket => condvar_market.add_timeout(k, k, &me),
                        Kind::Sleep1ms => {
                            while !cart.add(&k) {
                                thread::sleep(Duration::from_millis(1));
                            }
                        }
                    }
                    let now = epoch.elapsed().as_nanos() as u64;
                    mine.push(now.saturating_sub(stamp[k].load(SeqCst)));
                    if kind == Kind::CondvarMarket {
                        black_box(condvar_market.place_order(k));
                    } else {
                        black_box(cart.place_order());
                    }
                }
                mine
            }));
        }
        for p in 0..producers {
            let (market, stock, condvar_market, stamp, waiting, start) = shared;
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
                            Kind::CondvarMarket => {
                                while !condvar_market.publish(p, k) {
                                    thread::yield_now();
                                }
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
        for kind in [
            Kind::Market,
            Kind::Condvar,
            Kind::CondvarMarket,
            Kind::Sleep1ms,
        ] {
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

/// The alternating comparison of `Market` with the two `Mutex` + `Condvar` baselines: per
/// configuration, `runs` rounds of one run of `ROUNDS` hand-offs of each design (the order
/// rotating from round to round), so that all see much the same machine. Prints the median and
/// 99th percentile over every hand-off of each design, and in how many rounds `Market`'s median
/// and 99th percentile were lower than each baseline's; one polling run per configuration for
/// reference.
fn alternating(runs: usize) {
    /// Hand-off rounds per run: a few tens of milliseconds.
    const ROUNDS: u64 = 1000;
    const KINDS: [Kind; 3] = [Kind::Market, Kind::Condvar, Kind::CondvarMarket];
    println!("load average at start: {}", common::load_average());
    println!(
        "{runs} rounds per configuration, each one run of {ROUNDS} hand-offs of every design \
         (order rotating); latency over every hand-off of each design, median / p99 (µs); \
         rounds in which Market's median / p99 was the lower"
    );
    println!(
        "{:<28} {:>13} {:>13} {:>13} {:>15} {:>15} {:>15}",
        "case", "Market", "Condvar", "CondvarMarket", "Sleep1ms", "vs Condvar", "vs CondvarMkt"
    );
    for (name, producers, consumers) in CONFIGS {
        // Warm-up, not counted.
        for kind in KINDS {
            handoff(kind, producers, consumers, ROUNDS / 10);
        }
        let mut pooled: [Vec<u64>; 3] = Default::default();
        // Per baseline: rounds with Market's median lower, with its p99 lower.
        let mut wins = [[0usize; 2]; 2];
        for run in 0..runs {
            let mut lat: [Vec<u64>; 3] = Default::default();
            for i in 0..KINDS.len() {
                let at = (i + run) % KINDS.len();
                lat[at] = handoff(KINDS[at], producers, consumers, ROUNDS);
                lat[at].sort_unstable();
            }
            for (b, win) in wins.iter_mut().enumerate() {
                for (w, q) in win.iter_mut().zip([0.5, 0.99]) {
                    *w += usize::from(quantile_us(&lat[0], q) < quantile_us(&lat[b + 1], q));
                }
            }
            for (pool, mut l) in pooled.iter_mut().zip(lat) {
                pool.append(&mut l);
            }
        }
        let mut sleep = handoff(Kind::Sleep1ms, producers, consumers, ROUNDS);
        sleep.sort_unstable();
        let cell = |v: &mut Vec<u64>| {
            v.sort_unstable();
            format!("{:.1} / {:.1}", quantile_us(v, 0.5), quantile_us(v, 0.99))
        };
        let [m, c, cm] = &mut pooled;
        println!(
            "{:<28} {:>13} {:>13} {:>13} {:>15} {:>15} {:>15}",
            name,
            cell(m),
            cell(c),
            cell(cm),
            cell(&mut sleep),
            format!("{} / {} of {runs}", wins[0][0], wins[0][1]),
            format!("{} / {} of {runs}", wins[1][0], wins[1][1]),
        );
    }
    println!("load average at end: {}", common::load_average());
}

/// The fast path: publish, add and order on one thread, with `parked` threads asleep in
/// `add_timeout` for products that are never published.
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
                                let _ = cart.add_timeout(&(1_000_000 + k as u64), Duration::MAX);
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
    common::main(21, alternating, None, benches);
}
