//! Two revisions of the library in one executable, run side by side: the market's threaded
//! mix and single-thread cycle, the MPMC channel and SPSC transfers, each case run once per round by each
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

// The mix's `Seller`, `Shopper`, `Backoff` and `mix`, as `benches/market.rs` runs them
// (copied beside this file by `scripts/bench-ab.sh`).
include!("mix.rs");

// The SPSC batch size, wait, contender trait, transfer loops and timed run, as `benches/spsc.rs`
// runs them (copied beside this file by `scripts/bench-ab.sh`).
include!("spsc_timing.rs");

/// One revision's contenders; `$ring` makes an SPSC ring of a capacity (the constructor's
/// signature changed between revisions).
macro_rules! side {
    ($side:ident, $krate:ident, $ring:expr) => {
        mod $side {
            use super::*;
            use $krate::market::{Cart, Market, Producer};

            /// The mix's sides for this revision's handles, as `benches/market.rs` has them.
            mod handles {
                use super::super::*;
                use $krate as ringmarket;
                include!("market_handles.rs");
            }

            pub fn mix(threads: usize, products: u64, queue: usize, iters: u64) -> Duration {
                let m = Market::new(queue).unwrap();
                let sellers: Vec<Producer<u64>> =
                    (0..threads).map(|_| m.register_producer()).collect();
                let shoppers: Vec<Cart<u64>> = (0..threads).map(|_| m.new_cart()).collect();
                super::mix(sellers, shoppers, products, iters)
            }

            pub use handles::handles_cycle as cycle;

            /// `threads` producers each push `n` values through this revision's channel of
            /// `capacity` and as many consumers pop them all (blocking `push_wait`/`pop_wait`,
            /// as `benches/mpmc.rs` runs it); timed from a common barrier to the last pop.
            pub fn channel(threads: usize, capacity: usize, n: u64) -> Duration {
                let (tx, rx) = $krate::mpmc::channel::<u64>(capacity).unwrap();
                let start = Arc::new(Barrier::new(2 * threads + 1));
                let mut joins = Vec::new();
                for _ in 0..threads {
                    let (tx, go) = (tx.clone(), start.clone());
                    joins.push(thread::spawn(move || {
                        go.wait();
                        for v in 0..n {
                            tx.push_wait(v).unwrap();
                        }
                    }));
                    let (rx, go) = (rx.clone(), start.clone());
                    joins.push(thread::spawn(move || {
                        go.wait();
                        for _ in 0..n {
                            black_box(rx.pop_wait().unwrap());
                        }
                    }));
                }
                drop((tx, rx));
                start.wait();
                let t = Instant::now();
                for j in joins {
                    j.join().unwrap();
                }
                t.elapsed()
            }

            pub fn spsc(capacity: usize, batch: bool, n: u64) -> Duration {
                timed::<ring::Ours>(capacity, batch, n)
            }

            /// This revision's ring as the contender of `benches/spsc.rs`.
            mod ring {
                use super::super::*;
                use $krate as ringmarket;

                fn new_ring(capacity: usize) -> (Producer<u64>, Consumer<u64>) {
                    let make: fn(usize) -> (Producer<u64>, Consumer<u64>) = $ring;
                    make(capacity)
                }

                include!("spsc_ours.rs");
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
    for threads in [1usize, 2, 4] {
        for capacity in [128usize, 1] {
            let n = if capacity == 1 { ITEMS / 10 } else { ITEMS };
            cases.push(Case {
                name: format!("mpmc channel {threads}+{threads} cap{capacity}"),
                items: n,
                run: [
                    Box::new(move || old_side::channel(threads, capacity, n)),
                    Box::new(move || new_side::channel(threads, capacity, n)),
                ],
            });
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
