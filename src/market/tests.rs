//! Unit tests of the market internals: storage reuse, collisions, segments, adoption, ids.

use super::segment::SLOTS;
use super::*;
use std::cell::Cell;
use std::hash::Hasher;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicUsize as Counter;

/// Equal by `key`, hashed to one constant: every item collides with every other.
#[derive(Debug)]
struct Colliding {
    key: u32,
}
impl PartialEq for Colliding {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Colliding {}
impl Hash for Colliding {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

#[test]
fn zero_capacity_is_an_error() {
    assert_eq!(Market::<u8>::new(0).unwrap_err(), ZeroCapacity);
    assert_eq!(Market::<u8>::with_buckets(0, 4).unwrap_err(), ZeroCapacity);
}

#[test]
fn a_buckets_bound_counts_its_used_slots_and_takes_and_refills_leave_it_alone() {
    let market = Market::new(8).unwrap();
    let hash = market.inner.index.hash(&7_u32);
    let bound = || market.inner.index.bound(hash);
    assert_eq!(
        bound(),
        0,
        "nothing was ever on sale: a miss is answered at once"
    );
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    for _ in 0..3 {
        p.publish(7_u32).unwrap();
    }
    assert_eq!(bound(), 3, "three slots left EMPTY");
    assert!(c.add(&7) && c.add(&7));
    assert_eq!(bound(), 3, "takes leave their slots FREED, still counted");
    assert!(c.remove(&7)); // back on sale through a slot of the cart's shelf
    assert_eq!(bound(), 4);
    drop(p); // its items stay on sale
    assert_eq!(c.place_order(), vec![7]);
    let mut other = market.new_cart();
    assert!(other.add(&7) && other.add(&7) && !other.add(&7));
    assert_eq!(other.place_order().len(), 2);
    drop((c, other));
    assert_eq!(bound(), 4, "every used slot is FREED");
    let mut p = market.register_producer();
    p.publish(7_u32).unwrap();
    assert_eq!(
        bound(),
        4,
        "the refill of a FREED slot (adopted) leaves the bound alone"
    );
    for on_sale in 2..=8 {
        p.publish(7_u32).unwrap();
        assert!(
            bound() >= on_sale,
            "EMPTY slots are counted before they fill"
        );
    }
}

#[test]
fn churn_reuses_the_same_slots() {
    let rounds = if cfg!(miri) { 200 } else { 100_000 };
    let market = Market::new(3).unwrap();
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    for i in 0..rounds {
        p.publish(i % 5).unwrap();
        assert!(c.add(&(i % 5)));
        if i % 7 == 0 {
            assert!(c.remove(&(i % 5)));
            assert!(c.add(&(i % 5)));
        }
        assert_eq!(c.place_order(), vec![i % 5]);
    }
    let s = market.stats();
    // One segment per (shelf, bucket) used: the producer's and the cart's, five buckets each
    // at most.
    assert!(s.slots <= 10 * SLOTS, "storage grew: {s:?}");
    assert_eq!(s.ordered, rounds as u64);
    assert_eq!(s.total_on_sale(), 0);
}

#[test]
fn colliding_hashes_are_told_apart_by_eq() {
    let market = Market::with_buckets(8, 4).unwrap();
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    for key in [1, 2, 3, 2] {
        p.publish(Colliding { key }).unwrap();
    }
    assert!(!c.add(&Colliding { key: 4 }));
    assert!(c.add(&Colliding { key: 2 }));
    assert!(c.add(&Colliding { key: 2 }));
    assert!(!c.add(&Colliding { key: 2 }));
    assert!(c.add(&Colliding { key: 3 }));
    let keys: Vec<u32> = c.place_order().into_iter().map(|x| x.key).collect();
    assert_eq!(keys, [2, 2, 3]);
    assert!(c.add(&Colliding { key: 1 }));
}

#[test]
fn a_producer_can_fill_several_segments_of_one_bucket() {
    let n = 2 * SLOTS + 3;
    let market = Market::with_buckets(n, 1).unwrap();
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    for i in 0..n {
        p.publish(i).unwrap();
    }
    assert!(p.publish(n).is_err());
    assert_eq!(market.stats().slots, 3 * SLOTS);
    for i in (0..n).rev() {
        assert!(c.add(&i), "item {i}");
    }
    assert_eq!(c.place_order().len(), n);
    for i in 0..n {
        p.publish(i).unwrap();
    }
    assert_eq!(market.stats().slots, 3 * SLOTS, "freed slots are reused");
}

#[test]
fn a_dropped_producers_segments_are_adopted() {
    let market = Market::with_buckets(4, 1).unwrap();
    let mut first = market.register_producer();
    first.publish(1).unwrap();
    first.publish(2).unwrap();
    drop(first);
    let mut second = market.register_producer();
    second.publish(3).unwrap();
    assert_eq!(
        market.stats().slots,
        SLOTS,
        "the orphaned segment was adopted"
    );
    let mut c = market.new_cart();
    for x in [1, 2, 3] {
        assert!(
            c.add(&x),
            "items stay on sale after their producer's handle is dropped"
        );
    }
}

#[test]
fn ids_unknown_busy_and_retired() {
    let market = Market::new(1).unwrap();
    let unknown_p = ProducerId::new(99);
    let unknown_c = CartId::new(99);
    assert!(matches!(
        market.publish(unknown_p, 1),
        Err(PublishError::Id(IdError::UnknownProducer(id), 1)) if id == unknown_p
    ));
    assert_eq!(
        market.add_to_cart(unknown_c, &1),
        Err(IdError::UnknownCart(unknown_c))
    );
    assert_eq!(
        market.remove_from_cart(unknown_c, &1),
        Err(IdError::UnknownCart(unknown_c))
    );
    assert_eq!(
        market.place_order(unknown_c),
        Err(IdError::UnknownCart(unknown_c))
    );
    assert_eq!(
        market.cart_contents(unknown_c),
        Err(IdError::UnknownCart(unknown_c))
    );

    let p = market.register_producer();
    let c = market.new_cart();
    let (pid, cid) = (p.id(), c.id());
    assert!(matches!(
        market.publish(pid, 1),
        Err(PublishError::Id(IdError::ProducerBusy(_), 1))
    ));
    assert_eq!(market.place_order(cid), Err(IdError::CartBusy(cid)));
    drop((p, c));
    assert!(matches!(
        market.publish(pid, 1),
        Err(PublishError::Id(IdError::UnknownProducer(_), 1))
    ));
    assert_eq!(market.add_to_cart(cid, &1), Err(IdError::UnknownCart(cid)));
    assert_eq!(
        IdError::CartBusy(cid).to_string(),
        format!("cart {} is in use by another caller", cid.index())
    );
}

#[test]
fn the_id_api_and_handles_share_one_market() {
    let market = Market::new(2).unwrap();
    let pid = market.register_producer_id();
    let mut cart = market.new_cart();
    market.publish(pid, "x").unwrap();
    assert!(cart.add(&"x"));
    assert_eq!(market.stats().on_sale, vec![(pid, 0)]);
    assert!(cart.remove(&"x"));
    assert_eq!(market.stats().on_sale, vec![(pid, 1)]);
    let cid = market.new_cart_id();
    assert_eq!(market.add_to_cart(cid, &"x"), Ok(true));
    assert_eq!(market.cart_contents(cid), Ok(vec!["x"]));
}

struct CountsDrops<'a>(u32, &'a Counter);
impl PartialEq for CountsDrops<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for CountsDrops<'_> {}
impl Hash for CountsDrops<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.hash(h);
    }
}
impl Drop for CountsDrops<'_> {
    fn drop(&mut self) {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn teardown_drops_every_item_exactly_once() {
    let drops = Counter::new(0);
    let market = Market::with_buckets(3, 2).unwrap();
    let mut p = market.register_producer();
    let q = market.register_producer_id();
    let mut c = market.new_cart();
    let d = market.new_cart_id();
    for k in 0..3 {
        p.publish(CountsDrops(k, &drops)).unwrap();
        market
            .publish(q, CountsDrops(k, &drops))
            .map_err(|_| ())
            .unwrap();
    }
    assert!(c.add(&CountsDrops(0, &drops)));
    assert!(market.add_to_cart(d, &CountsDrops(1, &drops)).unwrap());
    assert!(market.add_to_cart(d, &CountsDrops(2, &drops)).unwrap());
    assert!(market.remove_from_cart(d, &CountsDrops(2, &drops)).unwrap());
    let queries = 4; // the temporary query values above
    let ordered = c.place_order();
    assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), queries);
    drop(ordered);
    assert_eq!(
        drops.load(std::sync::atomic::Ordering::Relaxed),
        queries + 1
    );
    drop((p, c, market));
    assert_eq!(
        drops.load(std::sync::atomic::Ordering::Relaxed),
        queries + 6
    );
}

#[test]
fn dropping_a_cart_handle_drops_its_items() {
    let drops = Counter::new(0);
    let market = Market::new(2).unwrap();
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    p.publish(CountsDrops(1, &drops)).map_err(|_| ()).unwrap();
    let probe = CountsDrops(1, &drops);
    assert!(c.add(&probe));
    drop(c);
    assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 1);
    drop(probe);
    drop((p, market));
    assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 2);
}

/// Panics in `eq` when `PANIC` is set for the current thread.
#[derive(Debug)]
struct Touchy(u8);
thread_local!(static PANIC: Cell<bool> = const { Cell::new(false) });
impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        assert!(!PANIC.with(Cell::get), "eq panics");
        self.0 == other.0
    }
}
impl Eq for Touchy {}
impl Hash for Touchy {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.hash(h);
    }
}

#[test]
fn a_panicking_eq_leaves_the_market_consistent() {
    let market = Market::new(1).unwrap();
    let p = market.register_producer_id();
    let c = market.new_cart_id();
    market.publish(p, Touchy(1)).unwrap();
    PANIC.with(|x| x.set(true));
    let r = catch_unwind(AssertUnwindSafe(|| market.add_to_cart(c, &Touchy(1))));
    PANIC.with(|x| x.set(false));
    assert!(r.is_err());
    // The item is still on sale, the cart id is not stuck busy, nothing was lost.
    assert_eq!(market.add_to_cart(c, &Touchy(1)), Ok(true));
    assert_eq!(market.place_order(c).unwrap().len(), 1);
    market.publish(p, Touchy(2)).unwrap();
}

#[test]
fn zero_sized_items() {
    let market = Market::new(2).unwrap();
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    p.publish(()).unwrap();
    p.publish(()).unwrap();
    assert!(p.publish(()).is_err());
    assert!(c.add(&()));
    assert!(c.add(&()));
    assert!(!c.add(&()));
    assert_eq!(c.place_order(), vec![(), ()]);
}

#[test]
fn handles_are_send() {
    fn send<X: Send>() {}
    send::<Producer<String>>();
    send::<Cart<String>>();
    send::<Market<String>>();
    fn sync<X: Sync>() {}
    sync::<Market<String>>();
}

#[test]
fn absurd_bucket_counts_are_clamped() {
    let tiny = Market::with_buckets(1, 0).unwrap();
    let mut p = tiny.register_producer();
    p.publish(2).unwrap();
    if cfg!(miri) {
        return; // a million buckets are slow to initialise under Miri
    }
    let market = Market::with_buckets(1, usize::MAX).unwrap();
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    p.publish(1).unwrap();
    assert!(c.add(&1));
}

/// Equal by `(key, tag)`, hashed by `key` only (legal: equal items hash equal). Comparing a
/// `trigger` item runs the hook in `ON_TRIGGER` once, inside the reservation's search.
#[derive(Debug)]
struct Tagged {
    key: u32,
    tag: u32,
    trigger: bool,
}
impl PartialEq for Tagged {
    fn eq(&self, other: &Self) -> bool {
        if self.trigger || other.trigger {
            if let Some(hook) = ON_TRIGGER.with(|h| h.take()) {
                hook();
            }
        }
        (self.key, self.tag) == (other.key, other.tag)
    }
}
impl Eq for Tagged {}
impl Hash for Tagged {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.key.hash(h);
    }
}
fn tagged(key: u32, tag: u32) -> Tagged {
    Tagged {
        key,
        tag,
        trigger: false,
    }
}
thread_local! {
    static ON_TRIGGER: Cell<Option<Box<dyn FnOnce()>>> = const { Cell::new(None) };
}

/// A segment's fill counter driven exactly once around (2^COUNTER_BITS marks) between a
/// search's first and second collect, while an equal item is on sale for the whole call (it
/// moves to the already-scanned newer segment): the reservation must not answer `false`.
#[test]
fn a_counter_driven_once_around_during_a_search_is_noticed() {
    let marks = 1_usize << super::segment::COUNTER_BITS;
    let market = Market::with_buckets(marks, 1).unwrap();
    let mut old = market.register_producer();
    let mut new = market.register_producer();
    // The older segment (searched second): an unequal item of the same hash, then the wanted
    // one.
    old.publish(Tagged {
        key: 1,
        tag: 9,
        trigger: true,
    })
    .unwrap();
    old.publish(tagged(1, 0)).unwrap();
    // A cart whose hint points at the older segment (its last success there).
    old.publish(tagged(3, 0)).unwrap();
    let mut mover = market.new_cart();
    assert!(mover.add(&tagged(3, 0)));
    // The newer segment (the bucket's head, searched first), with nothing of key 1 in it.
    new.publish(tagged(2, 0)).unwrap();
    let mut junk = market.new_cart();
    assert!(junk.add(&tagged(2, 0)));
    // Junk is ordered at once, so no return can race `new`'s publishes: each is one fill, one
    // mark of the newer segment's counter.
    assert_eq!(junk.place_order().len(), 1);
    ON_TRIGGER.with(|h| {
        h.set(Some(Box::new(move || {
            // During the search of the older segment: an equal item goes on sale in the newer
            // segment (1 mark), then the old one is taken; then junk fills bring the newer
            // segment's counter exactly once around.
            new.publish(tagged(1, 0)).unwrap();
            assert!(mover.add(&tagged(1, 0)), "taken from the older segment");
            for _ in 0..marks - 1 {
                new.publish(tagged(2, 0)).unwrap();
                assert!(junk.add(&tagged(2, 0)));
                assert_eq!(junk.place_order().len(), 1);
            }
        })))
    });
    let mut cart = market.new_cart();
    assert!(
        cart.add(&tagged(1, 0)),
        "an equal item was on sale for the whole call"
    );
    assert!(ON_TRIGGER.with(|h| h.take()).is_none(), "the hook ran");
}

/// Equal and hashed by `key`; `serial` tells equal items apart. Hashing an item whose `hook`
/// is set runs the hook in `ON_HASH` once: inside the publish of that item, after its first
/// look at the producer's counts (the departed count of a publish that decides at once, the
/// on-sale count of one that does not) and before its slot is filled or prepared.
#[derive(Clone, Debug)]
struct Hooked {
    key: u8,
    serial: u32,
    hook: bool,
}
impl PartialEq for Hooked {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Hooked {}
impl Hash for Hooked {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.key.hash(h);
        if self.hook {
            if let Some(hook) = ON_HASH.with(|h| h.take()) {
                hook();
            }
        }
    }
}
thread_local! {
    static ON_HASH: Cell<Option<Box<dyn FnOnce()>>> = const { Cell::new(None) };
}

mod hooked_sequences {
    use super::*;
    use crate::model::Model;
    use proptest::prelude::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[derive(Clone, Debug)]
    enum Op {
        /// With `inside`, the cart `inside.0` makes `inside.2` (a return or a reservation of an
        /// item of key `inside.1`, or an order) while the publish hashes its item.
        Publish {
            producer: usize,
            key: u8,
            inside: Option<(usize, u8, Inside)>,
        },
        Add {
            cart: usize,
            key: u8,
        },
        Remove {
            cart: usize,
            key: u8,
        },
        Order {
            cart: usize,
        },
        DropCart {
            cart: usize,
        },
        DropProducer {
            producer: usize,
        },
    }

    #[derive(Clone, Copy, Debug)]
    enum Inside {
        Return,
        Add,
        Order,
    }

    fn op() -> impl Strategy<Value = Op> {
        let inside = prop_oneof![
            3 => Just(Inside::Return),
            1 => Just(Inside::Add),
            1 => Just(Inside::Order),
        ];
        let key = 0u8..3;
        prop_oneof![
            6 => (0usize..3, key.clone(), proptest::option::of((0usize..3, key.clone(), inside)))
                .prop_map(|(producer, key, inside)| Op::Publish { producer, key, inside }),
            6 => (0usize..3, key.clone()).prop_map(|(cart, key)| Op::Add { cart, key }),
            2 => (0usize..3, key).prop_map(|(cart, key)| Op::Remove { cart, key }),
            2 => (0usize..3).prop_map(|cart| Op::Order { cart }),
            1 => (0usize..3).prop_map(|cart| Op::DropCart { cart }),
            1 => (0usize..3).prop_map(|producer| Op::DropProducer { producer }),
        ]
    }

    /// The model and the carts (with their numbers in the model), shared with the hooks.
    struct Shop {
        model: Model<Hooked>,
        carts: Vec<(Cart<Hooked>, usize)>,
    }

    impl Shop {
        /// Returns an item of `key` from cart `c` in the market and in the model.
        fn give_back(&mut self, c: usize, key: u8) {
            let (cart, m) = &mut self.carts[c];
            let query = Hooked {
                key,
                serial: u32::MAX,
                hook: false,
            };
            assert_eq!(cart.remove(&query), self.model.remove_from_cart(*m, &query));
        }

        /// Reserves an item of `key` into cart `c`, checking the choice against the model.
        fn add(&mut self, c: usize, key: u8) {
            let (cart, m) = &mut self.carts[c];
            let query = Hooked {
                key,
                serial: u32::MAX,
                hook: false,
            };
            if cart.add(&query) {
                let taken = cart.items().last().unwrap().serial;
                let chosen = self
                    .model
                    .add_to_cart_chosen(*m, &query, |x, _| x.serial == taken);
                assert_eq!(chosen, Ok(true), "reserved an item not on sale");
            } else {
                assert!(!self.model.is_on_sale(&query), "spurious false");
            }
        }

        /// Orders cart `c` in the market and in the model.
        fn order(&mut self, c: usize) {
            let (cart, m) = &mut self.carts[c];
            let got: Vec<u32> = cart.place_order().iter().map(|x| x.serial).collect();
            let want: Vec<u32> = self
                .model
                .place_order(*m)
                .iter()
                .map(|x| x.serial)
                .collect();
            assert_eq!(got, want);
        }
    }

    fn run(capacity: usize, buckets: usize, ops: &[Op]) {
        let market = Market::with_buckets(capacity, buckets).unwrap();
        let mut model = Model::new(capacity).unwrap();
        let mut producers: Vec<(Producer<Hooked>, usize)> = (0..3)
            .map(|_| (market.register_producer(), model.register_producer()))
            .collect();
        let carts = (0..3)
            .map(|_| (market.new_cart(), model.new_cart()))
            .collect();
        let shop = Rc::new(RefCell::new(Shop { model, carts }));
        let hashes: Vec<u64> = (0..3u8)
            .map(|key| {
                market.inner.index.hash(&Hooked {
                    key,
                    serial: 0,
                    hook: false,
                })
            })
            .collect();
        for (serial, op) in ops.iter().enumerate() {
            let serial = serial as u32;
            match *op {
                Op::Publish {
                    producer,
                    key,
                    inside,
                } => {
                    let hooked = inside.map(|(c, k, what)| {
                        let shop = shop.clone();
                        let ran = Rc::new(Cell::new(false));
                        let flag = ran.clone();
                        ON_HASH.with(|h| {
                            h.set(Some(Box::new(move || {
                                flag.set(true);
                                let mut shop = shop.borrow_mut();
                                match what {
                                    Inside::Return => shop.give_back(c, k),
                                    Inside::Add => shop.add(c, k),
                                    Inside::Order => shop.order(c),
                                }
                            })))
                        });
                        ran
                    });
                    let (p, m) = &mut producers[producer];
                    let item = Hooked {
                        key,
                        serial,
                        hook: hooked.is_some(),
                    };
                    let got = p.publish(item.clone());
                    // A publish that ran the hook took effect after what the hook did.
                    let want = shop.borrow_mut().model.publish(*m, item);
                    ON_HASH.with(|h| h.take());
                    match (got, want) {
                        (Ok(()), Ok(())) => {}
                        (Err(back), Err(full)) => {
                            assert_eq!(back.into_inner().serial, full.0.serial);
                        }
                        (got, want) => panic!("publish {got:?}, model {want:?}"),
                    }
                    if let Some(ran) = hooked {
                        // Only a publish refused on its first look at the count skips the
                        // hash; the model agrees it was full.
                        if !ran.get() {
                            let on_sale = shop.borrow().model.on_sale_of(*m);
                            assert!(on_sale >= capacity, "the hook did not run");
                        }
                    }
                }
                Op::Add { cart, key } => shop.borrow_mut().add(cart, key),
                Op::Remove { cart, key } => shop.borrow_mut().give_back(cart, key),
                Op::Order { cart } => shop.borrow_mut().order(cart),
                Op::DropCart { cart } => {
                    let shop = &mut *shop.borrow_mut();
                    let m = shop.model.new_cart();
                    let (old, old_m) =
                        core::mem::replace(&mut shop.carts[cart], (market.new_cart(), m));
                    // The model drops the items like an order whose items are thrown away.
                    shop.model.place_order(old_m);
                    drop(old);
                }
                Op::DropProducer { producer } => {
                    // The model keeps the old producer's items on sale under its number.
                    let m = shop.borrow_mut().model.register_producer();
                    drop(core::mem::replace(
                        &mut producers[producer],
                        (market.register_producer(), m),
                    ));
                }
            }
            let shop = shop.borrow();
            for (p, m) in &producers {
                assert_eq!(p.on_sale(), shop.model.on_sale_of(*m), "on-sale count");
            }
            for (c, m) in &shop.carts {
                let got: Vec<u32> = c.items().iter().map(|x| x.serial).collect();
                let want: Vec<u32> = shop.model.cart(*m).iter().map(|(x, _)| x.serial).collect();
                assert_eq!(got, want, "cart contents");
            }
            for &hash in &hashes {
                assert_eq!(
                    market.inner.index.bound(hash),
                    market.inner.index.used(hash),
                    "the bound counts exactly the slots that are not EMPTY once quiet"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: if cfg!(miri) { 4 } else { 400 },
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Random sequences of handle operations in lock-step with the model, where a publish
        /// may return, reserve or order items (of any producer) while it hashes its own item
        /// (a user `Hash` that calls into the market): between the
        /// decision of a publish that decides at once and its fill, or between the first look
        /// of one that does not and its prepare (which is then retracted when the return
        /// brought its producer to the limit). Producers and carts are dropped and replaced,
        /// so segments with FREED slots are adopted and registry entries reused. After every
        /// step the bucket bounds equal the slots that are not EMPTY.
        #[test]
        fn publishes_racing_returns_from_inside_follow_the_model(
            capacity in 1usize..4,
            buckets in prop_oneof![Just(1usize), Just(4)],
            ops in prop::collection::vec(op(), 0..60),
        ) {
            run(capacity, buckets, &ops);
        }
    }

    /// The deterministic case: capacity 1, the producer's only item in a cart; the next
    /// publish finds room, and the item comes back while it hashes: the prepared slot (the
    /// item's old, FREED slot) is retracted, the publish is refused, and the bound drops back
    /// to the slots in use.
    #[test]
    fn a_return_while_a_publish_hashes_makes_it_retract_a_freed_slot() {
        run(
            1,
            1,
            &[
                Op::Publish {
                    producer: 0,
                    key: 1,
                    inside: None,
                },
                Op::Add { cart: 0, key: 1 },
                Op::Publish {
                    producer: 0,
                    key: 2,
                    inside: Some((0, 1, Inside::Return)),
                },
                Op::Add { cart: 1, key: 1 },
                Op::Order { cart: 1 },
                Op::Publish {
                    producer: 0,
                    key: 2,
                    inside: None,
                },
            ],
        );
    }
}

/// The room an order leaves in its cart: as many items as the order had, up to
/// `REFILL_BYTES` of them; none for items larger than that; an empty order keeps the buffer;
/// `place_order_into` keeps the cart's buffer whatever its size.
#[test]
fn an_order_leaves_its_cart_room_for_as_many_items_up_to_a_bound() {
    fn room<T>(c: &Cart<T>) -> usize {
        c.held.view().cart().items.capacity()
    }
    fn order_of<T: Eq + Hash + Clone>(market: &Market<T>, c: &mut Cart<T>, x: &T, n: usize) {
        let mut p = market.register_producer();
        for _ in 0..n {
            p.publish(x.clone()).unwrap();
            assert!(c.add(x));
        }
        assert_eq!(c.place_order().len(), n);
    }
    let market = Market::new(5_000).unwrap();
    let mut c = market.new_cart();
    order_of(&market, &mut c, &7_u64, 3);
    assert_eq!(room(&c), 3);
    assert!(c.place_order().is_empty());
    assert_eq!(room(&c), 3, "an empty order keeps the buffer");
    order_of(&market, &mut c, &7_u64, 1_000);
    assert_eq!(room(&c), 4096 / 8, "at most 4 KiB of items");
    let mut p = market.register_producer();
    p.publish(7).unwrap();
    assert!(c.add(&7));
    let before = room(&c);
    let mut out = Vec::new();
    c.place_order_into(&mut out);
    assert_eq!(
        (out, room(&c)),
        (vec![7], before),
        "into: the cart keeps its buffer"
    );

    let big = Market::new(2).unwrap();
    let mut c = big.new_cart();
    order_of(&big, &mut c, &[1_u8; 5_000], 2);
    assert_eq!(room(&c), 0, "an item larger than the bound: no room kept");

    let zst = Market::new(5_000).unwrap();
    let mut c = zst.new_cart();
    order_of(&zst, &mut c, &(), 4_500);
    assert!(c.items().is_empty());
}
