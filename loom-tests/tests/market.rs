//! Loom models of `ringmarket::Market`: publish, reserve, return and order racing on a market
//! with one index bucket and two-slot segments (the library's loom build), and teardown with
//! items on sale and in carts. Slot accesses are tracked, so a missing happens-before edge
//! between the write of an item and its move out fails the model as a data race.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc as StdArc;

use loom::thread;
use loom_tests::explore;
use ringmarket::Market;

/// One index bucket, so that every item shares the searched segments.
fn market(capacity: usize) -> Market<u32> {
    Market::with_buckets(capacity, 1).unwrap()
}

#[test]
fn publish_races_reserve() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        let reserver = thread::spawn(move || (c.add(&7), c));
        let publisher = thread::spawn(move || {
            p.publish(7).unwrap();
            p
        });
        let (got, mut c) = reserver.join().unwrap();
        let mut p = publisher.join().unwrap();
        if got {
            assert_eq!(p.on_sale(), 0);
            assert!(!c.add(&7));
        } else {
            // It was published after the search: it must be found now.
            assert!(c.add(&7));
        }
        assert_eq!(c.place_order(), vec![7]);
        assert!(
            p.publish(8).is_ok(),
            "the reservation freed the producer's room"
        );
    });
    assert!(n > 1);
}

#[test]
fn two_reserves_race_for_the_last_item() {
    let n = explore(|| {
        let m = market(2);
        let mut p = m.register_producer();
        p.publish(1).unwrap();
        p.publish(5).unwrap();
        let mut a = m.new_cart();
        let mut b = m.new_cart();
        let ta = thread::spawn(move || (a.add(&5), a));
        let tb = thread::spawn(move || (b.add(&5), b));
        let (got_a, mut a) = ta.join().unwrap();
        let (got_b, mut b) = tb.join().unwrap();
        assert!(
            got_a ^ got_b,
            "exactly one reservation wins: {got_a} {got_b}"
        );
        let mut all = a.place_order();
        all.extend(b.place_order());
        assert_eq!(all, vec![5]);
        assert_eq!(p.on_sale(), 1);
    });
    assert!(n > 1);
}

#[test]
fn reserve_races_return() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut a = m.new_cart();
        let mut b = m.new_cart();
        p.publish(3).unwrap();
        assert!(a.add(&3));
        let returner = thread::spawn(move || {
            assert!(a.remove(&3));
            a
        });
        let reserver = thread::spawn(move || (b.add(&3), b));
        let (got, mut b) = reserver.join().unwrap();
        let mut a = returner.join().unwrap();
        assert!(a.place_order().is_empty());
        if !got {
            assert_eq!(p.on_sale(), 1);
            assert!(b.add(&3), "the returned item is on sale");
        }
        assert_eq!(b.place_order(), vec![3]);
        assert_eq!(p.on_sale(), 0);
        assert!(p.publish(4).is_ok());
    });
    assert!(n > 1);
}

#[test]
fn return_races_place_order() {
    let n = explore(|| {
        let m = market(2);
        let mut p = m.register_producer();
        let mut a = m.new_cart();
        let mut b = m.new_cart();
        p.publish(2).unwrap();
        p.publish(2).unwrap();
        assert!(a.add(&2));
        assert!(b.add(&2));
        let returner = thread::spawn(move || {
            assert!(a.remove(&2));
            a
        });
        let orderer = thread::spawn(move || (b.place_order(), b));
        let (ordered, mut b) = orderer.join().unwrap();
        let mut a = returner.join().unwrap();
        assert_eq!(ordered, vec![2]);
        assert!(a.place_order().is_empty());
        assert_eq!(p.on_sale(), 1);
        assert!(b.add(&2));
        assert_eq!(p.on_sale(), 0);
    });
    assert!(n > 1);
}

#[test]
fn publish_at_the_limit_races_reserve() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        p.publish(1).unwrap();
        let reserver = thread::spawn(move || {
            assert!(c.add(&1));
            c
        });
        let publisher = thread::spawn(move || (p.publish(2), p));
        let (first, mut p) = publisher.join().unwrap();
        let mut c = reserver.join().unwrap();
        if let Err(full) = first {
            // No spurious `Full`: the reservation has finished, so there is room now.
            assert!(p.publish(full.into_inner()).is_ok());
        }
        assert_eq!(c.place_order(), vec![1]);
        assert!(c.add(&2));
    });
    assert!(n > 1);
}

/// A publish with room (one below the limit) racing a return to the same producer, then a
/// reservation of the published value after the return: if the publish succeeded, it is
/// ordered before the return (after it the producer is at its limit), so its item was on sale
/// when the reservation ran and the reservation must find it.
#[test]
fn publish_below_the_limit_races_return_then_reserve() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        p.publish(3).unwrap();
        assert!(c.add(&3));
        let publisher = thread::spawn(move || (p.publish(7).is_ok(), p));
        let returner = thread::spawn(move || {
            assert!(c.remove(&3));
            (c.add(&7), c)
        });
        let (published, p) = publisher.join().unwrap();
        let (got, mut c) = returner.join().unwrap();
        assert!(
            published || !got,
            "a reservation found an item whose publish failed"
        );
        assert!(
            got || !published,
            "the publish succeeded before the return, yet its item was not on sale after it"
        );
        let order = c.place_order();
        assert_eq!(order, if got { vec![7] } else { vec![] });
        assert_eq!(p.on_sale(), 1);
    });
    assert!(n > 1);
}

/// Counts its drops in a shared counter.
#[derive(Debug)]
struct Tracked(u32, StdArc<AtomicUsize>);
impl PartialEq for Tracked {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Tracked {}
impl std::hash::Hash for Tracked {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h);
    }
}
impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn teardown_drops_items_on_sale_and_in_carts_once() {
    let n = explore(|| {
        let drops = StdArc::new(AtomicUsize::new(0));
        let query = Tracked(1, drops.clone());
        let m = Market::with_buckets(2, 1).unwrap();
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        p.publish(Tracked(1, drops.clone())).unwrap();
        p.publish(Tracked(2, drops.clone())).unwrap();
        let m2 = m.clone();
        let shopper = thread::spawn(move || {
            // Races the producer's handle drop and the market's; the last one frees.
            let got = c.add(&query);
            drop(c);
            drop(m2);
            drop(query);
            got
        });
        drop(p);
        drop(m);
        assert!(shopper.join().unwrap());
        // Two items and the query: each dropped exactly once, whoever held the last reference.
        assert_eq!(drops.load(Ordering::Relaxed), 3);
    });
    assert!(n > 1);
}

/// Equal by key, hashed to one constant: every search claims items it then puts back.
#[derive(Debug, PartialEq, Eq)]
struct Colliding(u32);
impl std::hash::Hash for Colliding {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

#[test]
fn reserves_of_colliding_items_put_back_what_they_do_not_want() {
    let n = explore(|| {
        let m = Market::with_buckets(2, 1).unwrap();
        let mut p = m.register_producer();
        p.publish(Colliding(1)).unwrap();
        p.publish(Colliding(2)).unwrap();
        let mut a = m.new_cart();
        let mut b = m.new_cart();
        // Each may first claim the other's item: it must put it back, and the other must
        // wait for that verdict rather than answer `false`.
        let ta = thread::spawn(move || (a.add(&Colliding(2)), a));
        let tb = thread::spawn(move || (b.add(&Colliding(1)), b));
        let (got_a, mut a) = ta.join().unwrap();
        let (got_b, mut b) = tb.join().unwrap();
        assert!(got_a && got_b, "no spurious false: {got_a} {got_b}");
        assert_eq!(a.place_order(), vec![Colliding(2)]);
        assert_eq!(b.place_order(), vec![Colliding(1)]);
        assert_eq!(p.on_sale(), 0);
    });
    assert!(n > 1);
}

/// Under loom a timed wait never times out, so a lost wake-up shows as a deadlock.
const FOREVER: std::time::Duration = std::time::Duration::from_secs(3600);

#[test]
fn add_wait_is_woken_by_the_publish_of_its_product() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        let waiter = thread::spawn(move || {
            assert_eq!(c.add_timeout(&4, FOREVER), Ok(()));
            c
        });
        let publisher = thread::spawn(move || {
            p.publish(4).unwrap();
            p
        });
        let mut c = waiter.join().unwrap();
        let p = publisher.join().unwrap();
        assert_eq!(c.place_order(), vec![4]);
        assert_eq!(p.on_sale(), 0);
    });
    assert!(n > 1);
}

#[test]
fn publish_wait_is_woken_by_a_reservation_that_frees_room() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        p.publish(1).unwrap();
        let waiter = thread::spawn(move || {
            assert!(p.publish_timeout(2, FOREVER).is_ok());
            p
        });
        let shopper = thread::spawn(move || {
            assert!(c.add(&1));
            c
        });
        let p = waiter.join().unwrap();
        let mut c = shopper.join().unwrap();
        assert_eq!(p.on_sale(), 1);
        assert!(c.add(&2));
    });
    assert!(n > 1);
}

/// The last item of a retired producer is ordered while its handle is dropped: the producer's
/// registry entry is reused exactly once (neither leaked nor put on the free stack twice).
#[test]
fn retirement_races_the_order_of_its_last_item() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        let old = p.id();
        p.publish(7).unwrap();
        assert!(c.add(&7));
        let orderer = thread::spawn(move || c.place_order());
        let retirer = thread::spawn(move || drop(p));
        assert_eq!(orderer.join().unwrap(), vec![7]);
        retirer.join().unwrap();
        let (a, b) = (m.register_producer(), m.register_producer());
        let slot = |id: ringmarket::ProducerId| id.index() & 0xffff_ffff;
        assert_eq!(slot(a.id()), slot(old), "the entry was reused");
        assert_ne!(a.id(), old);
        assert_ne!(slot(b.id()), slot(old), "the entry was freed twice");
    });
    assert!(n > 1);
}

/// A stale producer id is used while its entry is registered again: the call is refused as
/// unknown and never acts on the new producer.
#[test]
fn stale_id_races_re_registration() {
    let n = explore(|| {
        let m = market(1);
        let stale = m.register_producer().id();
        let m2 = m.clone();
        let registrar = thread::spawn(move || {
            let q = m2.register_producer_id();
            m2.publish(q, 1).unwrap();
            q
        });
        let m3 = m.clone();
        let stale_user = thread::spawn(move || m3.publish(stale, 2).unwrap_err());
        let err = stale_user.join().unwrap();
        assert!(matches!(
            err,
            ringmarket::market::PublishError::Id(
                ringmarket::market::IdError::UnknownProducer(_),
                2
            )
        ));
        let q = registrar.join().unwrap();
        assert_ne!(q, stale);
        assert_eq!(m.stats().on_sale, vec![(q, 1)]);
    });
    assert!(n > 1);
}

/// Products 7 and 8 share the one bucket with different hashes. A reservation of 7 checks the
/// hash of the slot holding 7; before its claim the slot is emptied and refilled with 8. The
/// claim must not land on 8 unnoticed: a waiter for 8 that sees the slot claimed must still
/// get 8 (formerly it slept, and the put-back woke nobody: a deadlock here).
#[test]
fn a_slot_refilled_with_another_product_between_filter_and_claim() {
    let n = explore(|| {
        let m = market(2);
        let mut p = m.register_producer();
        p.publish(7).unwrap();
        let mut r = m.new_cart();
        let mut t = m.new_cart();
        let mut w = m.new_cart();
        let reserver = thread::spawn(move || {
            r.add(&7);
            r
        });
        let refiller = thread::spawn(move || {
            t.add(&7);
            p.publish(8).unwrap();
            (t, p)
        });
        let waiter = thread::spawn(move || {
            assert_eq!(w.add_timeout(&8, FOREVER), Ok(()));
            w
        });
        let mut r = reserver.join().unwrap();
        let (mut t, _p) = refiller.join().unwrap();
        let mut w = waiter.join().unwrap();
        assert_eq!(w.place_order(), vec![8]);
        let mut sevens = r.place_order();
        sevens.extend(t.place_order());
        assert_eq!(sevens, vec![7]);
    });
    assert!(n > 1);
}

/// With a constant `Hash` every product shares one wait key: a publish of 1 may wake the
/// waiter of 2 first. It must pass the notification on, and the waiter of 1 must get its item
/// (formerly the waiter of 2 kept it, a deadlock here).
#[test]
fn waiters_of_colliding_products_each_get_theirs() {
    let n = explore(|| {
        let m = Market::with_buckets(2, 1).unwrap();
        let mut p = m.register_producer();
        let mut a = m.new_cart();
        let mut b = m.new_cart();
        let ta = thread::spawn(move || {
            assert_eq!(a.add_timeout(&Colliding(1), FOREVER), Ok(()));
            a
        });
        let tb = thread::spawn(move || {
            assert_eq!(b.add_timeout(&Colliding(2), FOREVER), Ok(()));
            b
        });
        p.publish(Colliding(1)).unwrap();
        p.publish(Colliding(2)).unwrap();
        let mut a = ta.join().unwrap();
        let mut b = tb.join().unwrap();
        assert_eq!(a.place_order(), vec![Colliding(1)]);
        assert_eq!(b.place_order(), vec![Colliding(2)]);
    });
    assert!(n > 1);
}

/// A publish with room even if every item of its producer in a cart came back (capacity 2, one
/// item in a cart) decides before its fill and takes effect at the fill, while that item is
/// returned and a reservation of the new item follows the return: the publish never fails,
/// and if the reservation missed the new item, it is on sale afterwards.
#[test]
fn a_publish_no_return_can_overfill_races_a_return_then_reserve() {
    let n = explore(|| {
        let m = market(2);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        p.publish(3).unwrap();
        assert!(c.add(&3));
        let publisher = thread::spawn(move || (p.publish(7).is_ok(), p));
        let returner = thread::spawn(move || {
            assert!(c.remove(&3));
            (c.add(&7), c)
        });
        let (published, p) = publisher.join().unwrap();
        let (got, mut c) = returner.join().unwrap();
        assert!(
            published,
            "one item out and one returned: room for a second"
        );
        if !got {
            assert!(
                c.add(&7),
                "the publish was after the reservation: 7 is on sale now"
            );
        }
        assert_eq!(c.place_order(), vec![7]);
        assert_eq!(p.on_sale(), 1);
    });
    assert!(n > 1);
}

/// A publish at the limit (capacity 1, the one item in a cart) races the order of that item:
/// whether the publish sees the order's count of departed items or not, it decides on the
/// producer's count, which the reservation already lowered, and succeeds; the item is on sale.
#[test]
fn a_publish_races_the_order_of_its_producers_last_item() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        p.publish(3).unwrap();
        assert!(c.add(&3));
        let orderer = thread::spawn(move || (c.place_order(), c));
        let publisher = thread::spawn(move || (p.publish(7).is_ok(), p));
        let (ordered, mut c) = orderer.join().unwrap();
        let (published, p) = publisher.join().unwrap();
        assert_eq!(ordered, vec![3]);
        assert!(published, "nothing of the producer's was on sale");
        assert!(c.add(&7));
        assert_eq!(p.on_sale(), 0);
    });
    assert!(n > 1);
}

/// A cart reserves and orders the producer's only item (capacity 1) while the producer
/// publishes, reserves its new item through another cart and publishes again. A publish that
/// succeeds at capacity 1 is ordered after the reservation of the old item; once the new item
/// is reserved too nothing is on sale, so the third publish must succeed. The publish that
/// fills at once decided on the order's count of departed items: the reservation counted
/// before that count must be seen by the producer's later look at its on-sale count (this
/// needs the load of the departed count to synchronise with the order's count; with a
/// Relaxed load only the hardware's ordering provides it, which loom does not weaken).
#[test]
fn a_publish_decided_on_an_order_leaves_room_once_its_item_is_taken() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        let mut t = m.new_cart();
        p.publish(3).unwrap();
        let orderer = thread::spawn(move || {
            assert!(c.add(&3));
            c.place_order()
        });
        let publisher = thread::spawn(move || {
            if p.publish(7).is_ok() {
                assert!(t.add(&7));
                assert!(
                    p.publish(8).is_ok(),
                    "3 and 7 were reserved: nothing on sale"
                );
                assert!(p.publish(9).is_err(), "8 is on sale");
            }
            (p, t)
        });
        assert_eq!(orderer.join().unwrap(), vec![3]);
        let (mut p, mut t) = publisher.join().unwrap();
        if p.on_sale() == 0 {
            assert!(p.publish(8).is_ok());
        }
        assert_eq!(p.on_sale(), 1);
        assert!(t.place_order().len() <= 1);
    });
    assert!(n > 1);
}

/// The id API now counts its producers' departed items too: the order of an id producer's only
/// item races its next publishes (capacity 1). Whichever way the publish decides, it succeeds
/// (the item was reserved before) and the one after it is refused.
#[test]
fn an_id_producers_publishes_race_the_order_of_its_item() {
    let n = explore(|| {
        let m = market(1);
        let p = m.register_producer_id();
        let c = m.new_cart_id();
        m.publish(p, 3).unwrap();
        assert_eq!(m.add_to_cart(c, &3), Ok(true));
        let m1 = m.clone();
        let orderer = thread::spawn(move || m1.place_order(c).unwrap());
        let m2 = m.clone();
        let publisher = thread::spawn(move || {
            assert!(m2.publish(p, 7).is_ok(), "3 was reserved: nothing on sale");
            assert!(m2.publish(p, 8).is_err(), "7 is on sale");
        });
        assert_eq!(orderer.join().unwrap(), vec![3]);
        publisher.join().unwrap();
        assert_eq!(m.stats().on_sale, vec![(p, 1)]);
        assert_eq!(m.add_to_cart(c, &7), Ok(true));
        assert!(m.publish(p, 8).is_ok());
    });
    assert!(n > 1);
}

/// A retired producer's last item is ordered (which may hand its registry entry back) while a
/// new producer registers and publishes (capacity 2): whether it got the old entry, with its
/// old counts of published and departed items, or a fresh one, it may have exactly two items
/// on sale.
#[test]
fn a_producer_on_a_reused_entry_publishes_exactly_its_capacity() {
    let n = explore(|| {
        let m = market(2);
        let mut old = m.register_producer();
        let mut c = m.new_cart();
        old.publish(3).unwrap();
        assert!(c.add(&3));
        drop(old);
        let orderer = thread::spawn(move || (c.place_order(), c));
        let m2 = m.clone();
        let publisher = thread::spawn(move || {
            let mut q = m2.register_producer();
            assert!(q.publish(5).is_ok());
            assert!(q.publish(6).is_ok());
            assert!(q.publish(7).is_err(), "two on sale is the limit");
            q
        });
        let (ordered, mut c) = orderer.join().unwrap();
        let q = publisher.join().unwrap();
        assert_eq!(ordered, vec![3]);
        assert_eq!(q.on_sale(), 2);
        assert!(c.add(&5) && c.add(&6) && !c.add(&7));
        assert_eq!(q.on_sale(), 0);
    });
    assert!(n > 1);
}

/// A cart dropped with its producer's item (capacity 1) counts it as departed while the
/// producer publishes twice: the first publish succeeds (the item was reserved before), the
/// second is refused, whatever the publish saw of the drop.
#[test]
fn a_cart_dropped_with_an_item_races_publishes() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        p.publish(3).unwrap();
        assert!(c.add(&3));
        let dropper = thread::spawn(move || drop(c));
        let publisher = thread::spawn(move || {
            assert!(p.publish(7).is_ok());
            assert!(p.publish(8).is_err());
            p
        });
        dropper.join().unwrap();
        let p = publisher.join().unwrap();
        assert_eq!(p.on_sale(), 1);
        let mut d = m.new_cart();
        assert!(!d.add(&3) && d.add(&7));
    });
    assert!(n > 1);
}

/// A fresh producer's first publish adopts the orphaned segment of a dropped cart, whose slot
/// a reservation freed (counted in the bucket's bound since the cart's return filled it), and
/// fills that slot without counting it again, racing a reservation of the new item: the
/// reservation must not answer `false` on the bound, and if it missed the item (published
/// after its search) the item is on sale afterwards.
#[test]
fn a_fill_of_an_adopted_freed_slot_races_a_reserve() {
    let n = explore(|| {
        let m = market(1);
        let mut seller = m.register_producer();
        let mut c = m.new_cart();
        let mut d = m.new_cart();
        seller.publish(1).unwrap();
        assert!(c.add(&1));
        assert!(c.remove(&1)); // into a slot of c's own segment
        assert!(d.add(&1)); // that slot is FREED
        drop(c); // its segment is orphaned
        assert_eq!(d.place_order(), vec![1]);
        drop(seller); // its segment is orphaned too: both FREED, no EMPTY slot left
        let mut p = m.register_producer();
        let publisher = thread::spawn(move || {
            p.publish(7).unwrap();
            p
        });
        let reserver = thread::spawn(move || (d.add(&7), d));
        let p = publisher.join().unwrap();
        let (got, mut d) = reserver.join().unwrap();
        if !got {
            assert_eq!(p.on_sale(), 1);
            assert!(
                d.add(&7),
                "the publish came after the search: 7 is on sale now"
            );
        }
        assert_eq!(d.place_order(), vec![7]);
        assert_eq!(m.stats().slots, 2 * 2, "the FREED slots were reused");
    });
    assert!(n > 1);
}

/// A waiting cart races a publish that fills, in one mark, a slot a reservation freed (the
/// bucket's bound is not written: the waiter's checks of the bound must not end its wait, and
/// the fill's notification must reach it).
#[test]
fn add_wait_is_woken_by_a_fill_of_a_freed_slot() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        let mut w = m.new_cart();
        p.publish(4).unwrap();
        assert!(c.add(&4));
        assert_eq!(c.place_order(), vec![4]); // so that the next publish fills at once
        let waiter = thread::spawn(move || {
            assert_eq!(w.add_timeout(&4, FOREVER), Ok(()));
            w
        });
        let publisher = thread::spawn(move || {
            p.publish(4).unwrap();
            p
        });
        let mut w = waiter.join().unwrap();
        let p = publisher.join().unwrap();
        assert_eq!(w.place_order(), vec![4]);
        assert_eq!(p.on_sale(), 0);
        assert_eq!(m.stats().slots, 2, "the FREED slot was reused");
    });
    assert!(n > 1);
}

/// Capacity 2, one item of the producer ordered and one in a cart: a publish (which may decide
/// at once on the departed count, or on the producer's count if it missed the order) races the
/// order and the return of the item in the cart. At most one item is on sale before the
/// publish whatever the interleaving, so it succeeds, and afterwards the producer is at its
/// limit.
#[test]
fn a_publish_races_an_order_and_a_return_of_its_producers_items() {
    let n = explore(|| {
        let m = market(2);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        let mut d = m.new_cart();
        p.publish(1).unwrap();
        p.publish(2).unwrap();
        assert!(c.add(&1));
        assert!(d.add(&2));
        let orderer = thread::spawn(move || (c.place_order(), c));
        let returner = thread::spawn(move || {
            assert!(d.remove(&2));
            d
        });
        assert!(p.publish(3).is_ok(), "at most 2 was on sale");
        let (ordered, _c) = orderer.join().unwrap();
        let mut d = returner.join().unwrap();
        assert_eq!(ordered, vec![1]);
        assert_eq!(p.on_sale(), 2);
        assert!(p.publish(4).is_err(), "2 and 3 are on sale");
        assert!(d.add(&2) && d.add(&3));
    });
    assert!(n > 1);
}

/// One-mark fills drive the newer segment's counter once around (2^2 marks under loom) while a
/// reservation searches, and an equal item is on sale for the whole call: a 7 is put on sale
/// in the newer segment (searched first) before the older segment's 7 is taken. The
/// reservation must not answer `false` on an unchanged counter (the bucket's `wraps` tells it
/// the counter went around). The loom version of the unit test
/// `a_counter_driven_once_around_during_a_search_is_noticed`.
#[test]
fn fills_drive_a_counter_once_around_during_a_search() {
    let n = explore(|| {
        // Capacity 2: `new`'s 7 stays on sale while `new` fills its other slot.
        let m = market(2);
        let mut old = m.register_producer();
        old.publish(7).unwrap();
        old.publish(3).unwrap();
        // A cart whose last success was in the older segment searches from there first.
        let mut mover = m.new_cart();
        assert!(mover.add(&3));
        let mut new = m.register_producer();
        let mut junk = m.new_cart();
        new.publish(5).unwrap(); // the newer segment, the bucket's head
        assert!(junk.add(&5));
        assert_eq!(junk.place_order(), vec![5]); // so that `new`'s publishes fill at once
        let mut r = m.new_cart();
        let reserver = thread::spawn(move || (r.add(&7), r));
        let churner = thread::spawn(move || {
            new.publish(7).unwrap();
            assert!(mover.add(&7), "a 7 is on sale");
            for _ in 0..3 {
                new.publish(5).unwrap();
                assert!(junk.add(&5));
                assert_eq!(junk.place_order(), vec![5]);
            }
            (new, mover)
        });
        let (got, mut r) = reserver.join().unwrap();
        let (_new, mut mover) = churner.join().unwrap();
        assert!(got, "a 7 was on sale for the whole call");
        let mut sevens = r.place_order();
        sevens.extend(mover.place_order().into_iter().filter(|&x| x == 7));
        assert_eq!(sevens, vec![7, 7]);
    });
    assert!(n > 1);
}

/// A waiting cart, a waiting producer and a cart that returns and takes back the producer's
/// only item (capacity 1). The producer's publish cannot decide at once (its item is in a
/// cart), so it prepares its item in the FREED slot of the first and may retract it when the
/// return brings it to its limit (no notification then: its item was never on sale); it then
/// waits for the room the second take frees, and its publish wakes the waiting cart.
#[test]
fn a_retracted_publish_waits_for_room_and_wakes_a_waiting_cart() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        let mut w = m.new_cart();
        p.publish(5).unwrap();
        assert!(c.add(&5));
        let waiter = thread::spawn(move || {
            assert_eq!(w.add_timeout(&4, FOREVER), Ok(()));
            w
        });
        let publisher = thread::spawn(move || {
            assert!(p.publish_timeout(4, FOREVER).is_ok());
            p
        });
        assert!(c.remove(&5));
        assert!(c.add(&5), "5 is on sale and nobody else wants it");
        let mut w = waiter.join().unwrap();
        let p = publisher.join().unwrap();
        assert_eq!(w.place_order(), vec![4]);
        assert_eq!(c.place_order(), vec![5]);
        assert_eq!(p.on_sale(), 0);
    });
    assert!(n > 1);
}
