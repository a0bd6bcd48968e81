//! The registry behind producer and cart ids reuses the entries of dropped handles: storage
//! stays bounded under register/drop churn, ids stay unique, and a stale id is refused with
//! the typed error, never taken for the entry's new owner.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use ringmarket::market::{Cart, IdError, PublishError};
use ringmarket::Market;

/// A small index: these tests are about ids, and Miri is slow to set up large shelves.
const BUCKETS: usize = 16;

#[test]
fn handle_churn_keeps_the_registry_constant() {
    let (rounds, warm_up) = if cfg!(miri) { (60, 20) } else { (100_000, 100) };
    let market = Market::with_buckets(2, BUCKETS).unwrap();
    let mut cart = market.new_cart();
    let mut warm = 0;
    let mut producer_ids = HashSet::new();
    let mut cart_ids = HashSet::new();
    for i in 0..rounds {
        if i == warm_up {
            warm = market.stats().entries;
        }
        let mut p = market.register_producer();
        assert!(producer_ids.insert(p.id()), "producer id {} reused", p.id());
        p.publish(i).unwrap();
        let mut c = market.new_cart();
        assert!(cart_ids.insert(c.id()), "cart id {} reused", c.id());
        if i % 3 == 0 {
            // The producer leaves with its item on sale; a later cart buys it.
            drop(p);
            assert!(cart.add(&i));
            assert_eq!(cart.place_order(), vec![i]);
        } else {
            assert!(c.add(&i));
            if i % 2 == 0 {
                // The cart is dropped with the item in it.
                drop(c);
            } else {
                assert_eq!(c.place_order(), vec![i]);
            }
        }
    }
    let s = market.stats();
    assert!(warm > 0);
    assert_eq!(
        s.entries, warm,
        "the registry grew from {warm} to {}",
        s.entries
    );
    assert_eq!(s.total_on_sale(), 0);
    // Only the long-lived cart's entry and the last round's are left in use.
    assert!(s.on_sale.is_empty(), "{:?}", s.on_sale);
}

#[test]
fn stale_ids_are_refused_with_the_typed_error() {
    let market = Market::with_buckets(4, BUCKETS).unwrap();
    let old_p = market.register_producer();
    let old_c = market.new_cart();
    let (stale_p, stale_c) = (old_p.id(), old_c.id());
    drop((old_p, old_c));

    // The id API reuses both entries (nothing refers to them any more).
    let p = market.register_producer_id();
    let c = market.new_cart_id();
    assert_ne!(p, stale_p);
    assert_ne!(c, stale_c);
    assert_eq!(
        p.index() & 0xffff,
        stale_p.index() & 0xffff,
        "the entry is reused"
    );
    market.publish(p, 1).unwrap();
    assert_eq!(market.add_to_cart(c, &1), Ok(true));
    market.publish(p, 2).unwrap();

    assert!(matches!(
        market.publish(stale_p, 3),
        Err(PublishError::Id(IdError::UnknownProducer(id), 3)) if id == stale_p
    ));
    assert_eq!(
        market.add_to_cart(stale_c, &2),
        Err(IdError::UnknownCart(stale_c))
    );
    assert_eq!(
        market.remove_from_cart(stale_c, &1),
        Err(IdError::UnknownCart(stale_c))
    );
    assert_eq!(
        market.place_order(stale_c),
        Err(IdError::UnknownCart(stale_c))
    );
    assert_eq!(
        market.cart_contents(stale_c),
        Err(IdError::UnknownCart(stale_c))
    );
    // The new owners' data is untouched.
    assert_eq!(market.cart_contents(c), Ok(vec![1]));
    assert_eq!(market.stats().on_sale, vec![(p, 1)]);
    assert_eq!(
        format!("{}", IdError::UnknownProducer(stale_p)),
        format!("unknown {stale_p}")
    );
}

/// Through both ways of ordering: `place_order` and `place_order_into` count departures alike.
#[test]
fn a_producer_entry_waits_until_its_last_item_is_gone() {
    for into in [false, true] {
        entry_waits_for_the_last_item(|cart| {
            if into {
                let mut out = Vec::new();
                cart.place_order_into(&mut out);
                out
            } else {
                cart.place_order()
            }
        });
    }
}

fn entry_waits_for_the_last_item(order: impl Fn(&mut Cart<char>) -> Vec<char>) {
    let market = Market::with_buckets(2, BUCKETS).unwrap();
    let mut cart = market.new_cart();
    let mut old = market.register_producer();
    old.publish('a').unwrap();
    old.publish('b').unwrap();
    let old_id = old.id();
    drop(old);
    // Its items are on sale and count against it: the entry is not reused yet.
    let p = market.register_producer();
    assert_ne!(p.id().index() & 0xffff, old_id.index() & 0xffff);
    assert_eq!(market.stats().on_sale, vec![(old_id, 2), (p.id(), 0)]);
    assert!(cart.add(&'a'));
    assert!(cart.remove(&'a')); // back on sale under the retired producer
    assert!(cart.add(&'b'));
    assert_eq!(market.stats().on_sale, vec![(old_id, 1), (p.id(), 0)]);
    drop(p);
    assert_eq!(order(&mut cart), vec!['b']);
    // 'a' is still on sale: the retired producer keeps its entry.
    let p2 = market.register_producer();
    assert_ne!(p2.id().index() & 0xffff, old_id.index() & 0xffff);
    assert!(cart.add(&'a'));
    assert_eq!(market.stats().total_on_sale(), 0);
    // In a cart it still refers to the producer (a return would count against it).
    let p3 = market.register_producer();
    assert_ne!(p3.id().index() & 0xffff, old_id.index() & 0xffff);
    assert_eq!(order(&mut cart), vec!['a']);
    // Every item is gone: the next registration reuses the entry, with a fresh count.
    let mut fresh = market.register_producer();
    assert_eq!(fresh.id().index() & 0xffff, old_id.index() & 0xffff);
    assert_ne!(fresh.id(), old_id);
    assert_eq!(fresh.on_sale(), 0);
    fresh.publish('c').unwrap();
    fresh.publish('d').unwrap();
    assert!(fresh.publish('e').is_err());
    assert!(cart.add(&'c'));
    assert!(fresh.publish('e').is_ok());
    drop((p2, p3));
}

#[test]
fn stale_ids_race_re_registration() {
    let rounds = if cfg!(miri) { 10 } else { 20_000 };
    let market = Market::with_buckets(1, BUCKETS).unwrap();
    let stale_p = market.register_producer().id();
    let stale_c = market.new_cart().id();
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let c = market.new_cart_id();
            for i in 0..rounds {
                // Both handles reuse the stale ids' entries (in a new generation).
                let mut p = market.register_producer();
                let mut cart = market.new_cart();
                p.publish(i).unwrap();
                assert!(cart.add(&i));
                assert!(cart.remove(&i));
                drop(p);
                assert_eq!(market.add_to_cart(c, &i), Ok(true));
                assert_eq!(market.place_order(c), Ok(vec![i]));
            }
            done.store(true, Ordering::Release);
        });
        s.spawn(|| {
            // Under Miri a fixed number of tries (its scheduler makes a spin loop slow).
            let limit = if cfg!(miri) { 20 } else { u64::MAX };
            let mut tries = 0;
            while tries < limit && !done.load(Ordering::Acquire) {
                tries += 1;
                assert!(matches!(
                    market.publish(stale_p, u32::MAX),
                    Err(PublishError::Id(IdError::UnknownProducer(_), u32::MAX))
                ));
                assert_eq!(
                    market.add_to_cart(stale_c, &0),
                    Err(IdError::UnknownCart(stale_c))
                );
                assert_eq!(
                    market.place_order(stale_c),
                    Err(IdError::UnknownCart(stale_c))
                );
                thread::yield_now();
            }
        });
    });
    let s = market.stats();
    assert_eq!(s.total_on_sale(), 0);
    assert_eq!(s.in_carts, 0);
}

/// The last item's order and the producer's retirement, in both orders: whichever comes last
/// frees the entry, exactly once.
#[test]
fn the_entry_is_reused_whichever_ends_last() {
    for first_order in [true, false] {
        let m = Market::with_buckets(1, 1).unwrap();
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        let old = p.id();
        p.publish(7).unwrap();
        assert!(c.add(&7));
        if first_order {
            assert_eq!(c.place_order(), vec![7]);
            drop(c);
            drop(p);
        } else {
            drop(p);
            assert_eq!(c.place_order(), vec![7]);
            drop(c);
        }
        let (a, b) = (m.register_producer(), m.register_producer());
        assert_eq!(
            a.id().index() & 0xffff,
            old.index() & 0xffff,
            "{first_order}"
        );
        assert_ne!(
            b.id().index() & 0xffff,
            old.index() & 0xffff,
            "{first_order}"
        );
    }
}
