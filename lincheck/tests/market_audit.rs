//! The large audit: 8 threads each running 10^6 random marketplace operations on uniquely
//! numbered items, then a count of every item: each one published must be found exactly once,
//! in an order, in a cart, or still on sale; nothing else may appear.
//!
//! Optimized builds only (a debug build runs a cut-down version); `AUDIT_OPS` sets the
//! operations per thread.

use std::collections::HashMap;
use std::sync::Barrier;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ringmarket::Market;

#[path = "../../tests/common/keyed.rs"]
mod keyed;

/// A product (`key`) with a serial number that equality and hashing ignore: carts ask for a
/// product, the audit counts serials.
type Item = keyed::Keyed<u16>;

const THREADS: usize = 8;
const PRODUCTS: u16 = 16;
const LIMIT: usize = 4;

fn ops_per_thread() -> u64 {
    if let Ok(v) = std::env::var("AUDIT_OPS") {
        return v.parse().expect("AUDIT_OPS is a number");
    }
    if cfg!(miri) {
        50
    } else if cfg!(debug_assertions) {
        20_000
    } else {
        1_000_000
    }
}

/// What one thread saw.
#[derive(Default)]
struct Tally {
    published: Vec<u64>,
    ordered: Vec<u64>,
    full: u64,
}

#[test]
fn eight_threads_lose_and_duplicate_nothing() {
    let market = Market::<Item>::new(LIMIT).unwrap();
    let ops = ops_per_thread();
    let start = Barrier::new(THREADS);
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (market, start) = (&market, &start);
                s.spawn(move || {
                    let mut producer = market.register_producer();
                    let mut cart = market.new_cart();
                    let mut rng = StdRng::seed_from_u64(t as u64);
                    let mut tally = Tally::default();
                    let mut next = (t as u64) << 40;
                    start.wait();
                    for _ in 0..ops {
                        let product = rng.random_range(0..PRODUCTS);
                        let probe = Item {
                            key: product,
                            serial: 0,
                        };
                        match rng.random_range(0..100) {
                            0..=39 => {
                                let item = Item {
                                    key: product,
                                    serial: next,
                                };
                                match producer.publish(item) {
                                    Ok(()) => {
                                        tally.published.push(next);
                                        next += 1;
                                    }
                                    Err(full) => {
                                        assert_eq!(
                                            full.into_inner().serial,
                                            next,
                                            "wrong item back"
                                        );
                                        tally.full += 1;
                                    }
                                }
                            }
                            40..=79 => {
                                cart.add(&probe);
                            }
                            80..=91 => {
                                cart.remove(&probe);
                            }
                            _ => tally
                                .ordered
                                .extend(cart.place_order().into_iter().map(|i| i.serial)),
                        }
                    }
                    // What is left in the cart is handed out by a last order.
                    tally
                        .ordered
                        .extend(cart.place_order().into_iter().map(|i| i.serial));
                    tally
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    // Everything still on sale: reserve it all with one more cart.
    let stats = market.stats();
    let mut drain = market.new_cart();
    for product in 0..PRODUCTS {
        while drain.add(&Item {
            key: product,
            serial: 0,
        }) {}
    }
    let remaining: Vec<u64> = drain.place_order().into_iter().map(|i| i.serial).collect();
    assert_eq!(
        remaining.len(),
        stats.total_on_sale(),
        "stats disagree with the drain"
    );
    assert_eq!(market.stats().total_on_sale(), 0);

    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut published = 0_usize;
    let mut fulls = 0_u64;
    for t in &tallies {
        published += t.published.len();
        fulls += t.full;
        for &s in &t.published {
            assert!(seen.insert(s, 0).is_none(), "serial {s} published twice");
        }
    }
    for s in tallies.iter().flat_map(|t| &t.ordered).chain(&remaining) {
        let count = seen
            .get_mut(s)
            .unwrap_or_else(|| panic!("serial {s} was never published"));
        *count += 1;
    }
    let lost: Vec<_> = seen
        .iter()
        .filter(|(_, &c)| c == 0)
        .map(|(s, _)| *s)
        .collect();
    let doubled: Vec<_> = seen
        .iter()
        .filter(|(_, &c)| c > 1)
        .map(|(s, _)| *s)
        .collect();
    assert!(
        lost.is_empty(),
        "{} items lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(
        doubled.is_empty(),
        "{} items duplicated, e.g. {:?}",
        doubled.len(),
        &doubled[..doubled.len().min(5)]
    );
    assert!(
        published > 0 && fulls > 0,
        "the mix must both publish and hit the limit"
    );
    println!(
        "audit: {THREADS} threads x {ops} operations, {published} items published, {fulls} publishes refused at the limit, {} left on sale, every item accounted for exactly once",
        remaining.len()
    );
}
