//! Two revisions of the library in one executable, run side by side: the market's threaded
//! mix and single-thread cycle, and SPSC transfers, each case run once per round by each
//! revision (the order alternating), so that both see the same machine. Built and run by
//! `scripts/bench-ab.sh`, which provides the crates `old` and `new`.
//!
//! Prints, per case, the median over the rounds of the time per item of each revision and of
//! the per-round ratio new/old (< 1: the new revision is faster), with how many rounds the new
//! one won.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// A producer's side of the mix.
trait Seller: Send + 'static {
    fn sell(&mut self, item: u64) -> Result<(), u64>;
}

/// A consumer's side of the mix.
trait Shopper: Send + 'static {
    fn add(&mut self, item: &u64) -> bool;
    fn remove(&mut self, item: &u64) -> bool;
    fn order(&mut self) -> usize;
}

/// Spins a little, then yields; only yields when the threads outnumber the cores.
#[derive(Clone, Copy)]
struct Backoff {
    spin_limit: u32,
}

impl Backoff {
    fn for_threads(threads: usize) -> Self {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            spin_limit: if threads > cores { 0 } else { 64 },
        }
    }

    fn wait(self, spins: &mut u32) {
        if *spins < self.spin_limit {
            *spins += 1;
            std::hint::spin_loop();
        } else {
            *spins = 0;
            thread::yield_now();
        }
    }
}

/// The mix of `benches/market.rs`: every producer publishes products `0, 1, 2, ...
/// (mod products)`, every consumer wants the same sequence, returns every tenth item it got
/// and orders every four.
fn mix<S: Seller, C: Shopper>(
    sellers: Vec<S>,
    shoppers: Vec<C>,
    products: u64,
    iters: u64,
) -> Duration {
    let threads = sellers.len();
    let backoff = Backoff::for_threads(2 * threads);
    let barrier = Arc::new(Barrier::new(2 * threads + 1));
    let mut handles = Vec::new();
    for mut seller in sellers {
        let barrier = barrier.clone();
        handles.push(thread::spawn(move || {
            barrier.wait();
            let mut spins = 0;
            for n in 0..iters {
                let mut item = n % products;
                while let Err(back) = seller.sell(item) {
                    item = back;
                    backoff.wait(&mut spins);
                }
            }
            0
        }));
    }
    for mut shopper in shoppers {
        let barrier = barrier.clone();
        handles.push(thread::spawn(move || {
            barrier.wait();
            let (mut got, mut ordered, mut spins, mut n) = (0u64, 0, 0, 0);
            while n < iters {
                let want = n % products;
                if !shopper.add(&want) {
                    backoff.wait(&mut spins);
                    continue;
                }
                got += 1;
                if got % 10 == 0 {
                    assert!(shopper.remove(&want));
                    continue;
                }
                n += 1;
                if n % 4 == 0 {
                    ordered += shopper.order();
                }
            }
            ordered + shopper.order()
        }));
    }
    barrier.wait();
    let start = Instant::now();
    let ordered: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let elapsed = start.elapsed();
    assert_eq!(ordered as u64, threads as u64 * iters, "items lost");
    elapsed
}

/// Runs `produce` here and `consume` on another thread, timed from a common start.
fn transfer<P: Send, C: Send>(
    n: u64,
    (p, c): (P, C),
    produce: fn(P, u64),
    consume: fn(C, u64) -> u64,
) -> Duration {
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let barrier = &barrier;
        let handle = s.spawn(move || {
            barrier.wait();
            consume(c, n)
        });
        barrier.wait();
        let start = Instant::now();
        produce(p, n);
        let sum = handle.join().unwrap();
        let elapsed = start.elapsed();
        assert_eq!(sum, n * n.saturating_sub(1) / 2, "items lost");
        elapsed
    })
}

fn spin_wait(spins: &mut u32) {
    if *spins < 7 {
        for _ in 0..1_u32 << *spins {
            std::hint::spin_loop();
        }
        *spins += 1;
    } else {
        thread::yield_now();
    }
}

const BATCH: usize = 64;

/// One revision's contenders; `$ring` makes an SPSC ring of a capacity (the constructor's
/// signature changed between revisions).
macro_rules! side {
    ($side:ident, $krate:ident, $ring:expr) => {
        mod $side {
            use super::*;
            use $krate::market::{Cart, Market, Producer};
            use $krate::spsc::{Consumer, TooFewSlots};

            impl Seller for Producer<u64> {
                fn sell(&mut self, item: u64) -> Result<(), u64> {
                    self.publish(item).map_err(|e| e.into_inner())
                }
            }

            impl Shopper for Cart<u64> {
                fn add(&mut self, item: &u64) -> bool {
                    Cart::add(self, item)
                }
                fn remove(&mut self, item: &u64) -> bool {
                    Cart::remove(self, item)
                }
                fn order(&mut self) -> usize {
                    black_box(self.place_order()).len()
                }
            }

            pub fn mix(threads: usize, products: u64, queue: usize, iters: u64) -> Duration {
                let m = Market::new(queue).unwrap();
                let sellers: Vec<Producer<u64>> =
                    (0..threads).map(|_| m.register_producer()).collect();
                let shoppers: Vec<Cart<u64>> = (0..threads).map(|_| m.new_cart()).collect();
                super::mix(sellers, shoppers, products, iters)
            }

            pub fn cycle(n: u64) -> Duration {
                let market = Market::new(8).unwrap();
                let mut p = market.register_producer();
                let mut cart = market.new_cart();
                let start = Instant::now();
                for _ in 0..n {
                    p.publish(black_box(42_u64)).unwrap();
                    assert!(cart.add(black_box(&42)));
                    black_box(cart.place_order());
                }
                start.elapsed()
            }

            pub fn spsc(capacity: usize, batch: bool, n: u64) -> Duration {
                let make: fn(usize) -> ($krate::spsc::Producer<u64>, Consumer<u64>) = $ring;
                if batch {
                    transfer(n, make(capacity), produce_batch, consume_batch)
                } else {
                    transfer(n, make(capacity), produce_single, consume_single)
                }
            }

            fn produce_single(mut p: $krate::spsc::Producer<u64>, n: u64) {
                for i in 0..n {
                    let mut spins = 0;
                    while p.push(i).is_err() {
                        spin_wait(&mut spins);
                    }
                }
            }

            fn consume_single(mut c: Consumer<u64>, n: u64) -> u64 {
                let mut sum = 0;
                for _ in 0..n {
                    let mut spins = 0;
                    loop {
                        if let Ok(item) = c.pop() {
                            sum += black_box(item);
                            break;
                        }
                        spin_wait(&mut spins);
                    }
                }
                sum
            }

            fn produce_batch(mut p: $krate::spsc::Producer<u64>, n: u64) {
                let (mut next, mut spins) = (0, 0);
                while next < n {
                    let want = BATCH.min((n - next) as usize);
                    let chunk = match p.write_chunk(want) {
                        Ok(chunk) => chunk,
                        Err(TooFewSlots(0)) => {
                            spin_wait(&mut spins);
                            continue;
                        }
                        Err(TooFewSlots(free)) => p.write_chunk(free).unwrap(),
                    };
                    spins = 0;
                    next += chunk.fill_from_iter(next..n) as u64;
                }
            }

            fn consume_batch(mut c: Consumer<u64>, n: u64) -> u64 {
                let (mut sum, mut got, mut spins) = (0, 0, 0);
                while got < n {
                    let chunk = c.read_chunk(BATCH);
                    if chunk.is_empty() {
                        spin_wait(&mut spins);
                        continue;
                    }
                    spins = 0;
                    got += chunk.len() as u64;
                    for item in chunk {
                        sum += black_box(item);
                    }
                }
                sum
            }
        }
    };
}

/// The two ends from `spsc::ring`, whether it returns them (earlier revisions) or a result.
trait Ends<P, C> {
    fn ends(self) -> (P, C);
}

impl<P, C> Ends<P, C> for (P, C) {
    fn ends(self) -> (P, C) {
        self
    }
}

impl<P, C, E: std::fmt::Debug> Ends<P, C> for Result<(P, C), E> {
    fn ends(self) -> (P, C) {
        self.unwrap()
    }
}

side!(old_side, old, |capacity| old::spsc::ring(capacity).ends());
side!(new_side, new, |capacity| new::spsc::ring(capacity).ends());

/// A case: its name, the items (per producer) one run moves, and each revision's run.
struct Case {
    name: String,
    items: u64,
    run: [Box<dyn Fn() -> Duration>; 2],
}

fn cases() -> Vec<Case> {
    const ITEMS: u64 = 100_000;
    const CYCLES: u64 = 200_000;
    const TRANSFERS: u64 = 1_000_000;
    let mut cases = vec![Case {
        name: "market cycle".into(),
        items: CYCLES,
        run: [
            Box::new(|| old_side::cycle(CYCLES)),
            Box::new(|| new_side::cycle(CYCLES)),
        ],
    }];
    for threads in [1usize, 2, 4] {
        for products in [1u64, 16, 1024] {
            for queue in [8usize, 1024] {
                cases.push(Case {
                    name: format!("market {threads}+{threads} products{products} queue{queue}"),
                    items: ITEMS,
                    run: [
                        Box::new(move || old_side::mix(threads, products, queue, ITEMS)),
                        Box::new(move || new_side::mix(threads, products, queue, ITEMS)),
                    ],
                });
            }
        }
    }
    for capacity in [2usize, 1024] {
        for batch in [false, true] {
            let n = if capacity == 2 {
                TRANSFERS / 10
            } else {
                TRANSFERS
            };
            cases.push(Case {
                name: format!(
                    "spsc cap{capacity} {}",
                    if batch { "batch64" } else { "single" }
                ),
                items: n,
                run: [
                    Box::new(move || old_side::spsc(capacity, batch, n)),
                    Box::new(move || new_side::spsc(capacity, batch, n)),
                ],
            });
        }
    }
    cases
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(21);
    // Only the cases whose name contains this, when given.
    let filter = args.get(2).cloned().unwrap_or_default();
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.name.contains(&filter))
        .collect();
    let mut times = vec![[Vec::new(), Vec::new()]; cases.len()];
    for round in 0..rounds {
        for (k, case) in cases.iter().enumerate() {
            let order = if (round + k) % 2 == 0 { [0, 1] } else { [1, 0] };
            for side in order {
                let t = (case.run[side])();
                times[k][side].push(t.as_nanos() as f64 / case.items as f64);
            }
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    println!("{rounds} rounds, each case run once per round by each revision (order alternating)");
    println!(
        "{:<36} {:>10} {:>10} {:>9} {:>9}",
        "case", "old ns", "new ns", "new/old", "new won"
    );
    for (case, [old, new]) in cases.iter().zip(times) {
        let ratios: Vec<f64> = new.iter().zip(&old).map(|(n, o)| n / o).collect();
        let won = ratios.iter().filter(|&&r| r < 1.0).count();
        println!(
            "{:<36} {:>10.1} {:>10.1} {:>9.3} {:>6}/{rounds}",
            case.name,
            median(old),
            median(new),
            median(ratios),
            won
        );
    }
}
