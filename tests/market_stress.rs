//! Threads hammer one market with uniquely numbered items, then an audit checks that every
//! item is in exactly one place (on sale, in a cart, or handed out by an order) and that no
//! producer ever had more than its limit on sale except through returns.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use ringmarket::baseline::MutexMarket;
use ringmarket::{Market, Marketplace};

mod common;

/// Equal and hashed by `key` (its kind); `serial` is unique per item.
type Item = common::Keyed<u32>;

const KINDS: u32 = 5;

fn stress<M: Marketplace<Item> + 'static>(market: Arc<M>, capacity: usize) {
    let producers = 3;
    let consumers = 3;
    let per_producer: u64 = if cfg!(miri) { 12 } else { 5_000 };
    let stop = Arc::new(AtomicBool::new(false));
    let over_limit = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(producers + consumers));
    let mut handles = Vec::new();
    for p in 0..producers {
        let (market, barrier, over_limit) = (market.clone(), barrier.clone(), over_limit.clone());
        handles.push(thread::spawn(move || {
            let id = market.register_producer_id();
            barrier.wait();
            for n in 0..per_producer {
                let mut item = Item {
                    key: (n % u64::from(KINDS)) as u32,
                    serial: (p as u64) << 32 | n,
                };
                loop {
                    match market.publish(id, item) {
                        Ok(()) => break,
                        Err(e) => item = e.into_inner(),
                    }
                    thread::yield_now();
                }
                // Only returns can push a producer over its limit, by at most the number of
                // items that are in carts; a publish never may.
                let on_sale = market.stats().on_sale[id.index()].1;
                if on_sale > capacity + consumers * 4 {
                    over_limit.fetch_add(1, Ordering::Relaxed);
                }
            }
            (Vec::new(), Vec::new())
        }));
    }
    for c in 0..consumers {
        let (market, barrier, stop) = (market.clone(), barrier.clone(), stop.clone());
        handles.push(thread::spawn(move || {
            let cart = market.new_cart_id();
            let mut ordered = Vec::new();
            let mut k = c as u32;
            barrier.wait();
            let mut round = 0u32;
            while !stop.load(Ordering::Relaxed) {
                round = round.wrapping_add(1);
                k = (k + 1) % KINDS;
                let probe = Item {
                    key: k,
                    serial: u64::MAX,
                };
                if market.add_to_cart(cart, &probe).unwrap() && round % 5 == 0 {
                    assert!(market.remove_from_cart(cart, &probe).unwrap());
                }
                if market.cart_contents(cart).unwrap().len() >= 4 {
                    ordered.extend(market.place_order(cart).unwrap());
                }
                if round % 64 == 0 {
                    thread::yield_now();
                }
            }
            // Leave what is in the cart in the cart: the audit finds it there.
            let left = market.cart_contents(cart).unwrap();
            (ordered, left)
        }));
    }
    let mut results = Vec::new();
    for h in handles.drain(..producers) {
        assert_eq!(h.join().unwrap(), (vec![], vec![]));
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        results.push(h.join().unwrap());
    }
    // Audit: sweep what is still on sale with a fresh cart.
    let sweep = market.new_cart_id();
    for kind in 0..KINDS {
        while market
            .add_to_cart(
                sweep,
                &Item {
                    key: kind,
                    serial: 0,
                },
            )
            .unwrap()
        {}
    }
    let on_sale = market.place_order(sweep).unwrap();
    let mut seen = HashSet::new();
    let mut total = 0u64;
    for item in on_sale
        .iter()
        .chain(results.iter().flat_map(|(o, l)| o.iter().chain(l.iter())))
    {
        assert!(seen.insert(item.serial), "item {} seen twice", item.serial);
        total += 1;
    }
    assert_eq!(total, producers as u64 * per_producer, "items lost");
    assert_eq!(
        over_limit.load(Ordering::Relaxed),
        0,
        "a producer went over its limit"
    );
    let stats = market.stats();
    assert_eq!(stats.total_on_sale(), 0);
}

#[test]
fn market_loses_and_duplicates_nothing() {
    stress(Arc::new(Market::with_buckets(2, 4).unwrap()), 2);
    stress(Arc::new(Market::new(8).unwrap()), 8);
}

#[test]
fn baseline_loses_and_duplicates_nothing() {
    stress(Arc::new(MutexMarket::new(2).unwrap()), 2);
}

#[test]
fn handles_keep_exact_limits_under_contention() {
    // Without returns, no producer ever has more than its limit on sale.
    let market = Market::new(3).unwrap();
    let rounds = if cfg!(miri) { 20 } else { 20_000 };
    let mut producer = market.register_producer();
    let mut consumers: Vec<_> = (0..2)
        .map(|_| {
            let mut cart = market.new_cart();
            thread::spawn(move || {
                let mut got = 0;
                while got < rounds / 2 {
                    if cart.add(&1_u8) {
                        got += 1;
                    }
                    if cart.items().len() > 8 {
                        cart.place_order();
                    }
                    thread::yield_now();
                }
                got
            })
        })
        .collect();
    let mut sent = 0;
    while sent < rounds {
        if producer.publish(1).is_ok() {
            sent += 1;
        }
        assert!(producer.on_sale() <= 3);
    }
    let got: usize = consumers.drain(..).map(|h| h.join().unwrap()).sum();
    assert_eq!(got, rounds);
    assert_eq!(producer.on_sale(), 0);
}
