//! The original `TestMarketplace` cases and more, run against every `Marketplace`.

use ringmarket::baseline::MutexMarket;
use ringmarket::market::{IdError, PublishError};
use ringmarket::{CartId, Market, Marketplace, ProducerId};

/// Runs `test` on a fresh `Market` and a fresh `MutexMarket` of capacity `capacity`.
fn both(capacity: usize, test: impl Fn(&dyn Marketplace<String>)) {
    test(&Market::new(capacity).unwrap());
    test(&MutexMarket::new(capacity).unwrap());
}

fn s(x: &str) -> String {
    x.to_owned()
}

#[test]
fn register_producer_gives_distinct_ids() {
    both(3, |m| {
        let ids: Vec<ProducerId> = (0..20).map(|_| m.register_producer_id()).collect();
        for (i, a) in ids.iter().enumerate() {
            assert!(ids[i + 1..].iter().all(|b| a != b));
        }
    });
}

#[test]
fn new_cart_gives_distinct_ids() {
    both(3, |m| {
        let ids: Vec<CartId> = (0..20).map(|_| m.new_cart_id()).collect();
        for (i, a) in ids.iter().enumerate() {
            assert!(ids[i + 1..].iter().all(|b| a != b));
        }
    });
}

#[test]
fn publish_respects_the_per_producer_limit() {
    both(3, |m| {
        let p = m.register_producer_id();
        let q = m.register_producer_id();
        for i in 0..3 {
            assert!(m.publish(p, format!("tea {i}")).is_ok());
        }
        match m.publish(p, s("one too many")) {
            Err(PublishError::Full(back)) => assert_eq!(back, "one too many"),
            other => panic!("expected Full, got {other:?}"),
        }
        // The limit is per producer.
        assert!(m.publish(q, s("coffee")).is_ok());
    });
}

#[test]
fn add_to_cart_takes_only_what_is_on_sale() {
    both(2, |m| {
        let p = m.register_producer_id();
        let c = m.new_cart_id();
        assert_eq!(m.add_to_cart(c, &s("tea")), Ok(false));
        m.publish(p, s("tea")).unwrap();
        assert_eq!(m.add_to_cart(c, &s("coffee")), Ok(false));
        assert_eq!(m.add_to_cart(c, &s("tea")), Ok(true));
        assert_eq!(m.add_to_cart(c, &s("tea")), Ok(false));
        assert_eq!(m.stats().in_carts, 1);
    });
}

#[test]
fn a_reservation_frees_the_producers_room_at_once() {
    both(1, |m| {
        let p = m.register_producer_id();
        let c = m.new_cart_id();
        m.publish(p, s("a")).unwrap();
        assert!(m.publish(p, s("b")).is_err());
        assert_eq!(m.add_to_cart(c, &s("a")), Ok(true));
        assert!(m.publish(p, s("b")).is_ok());
    });
}

#[test]
fn remove_from_cart_puts_the_item_back_under_its_producer() {
    both(1, |m| {
        let p = m.register_producer_id();
        let q = m.register_producer_id();
        let c = m.new_cart_id();
        m.publish(p, s("x")).unwrap();
        m.add_to_cart(c, &s("x")).unwrap();
        m.publish(p, s("y")).unwrap();
        assert_eq!(m.remove_from_cart(c, &s("nothing")), Ok(false));
        assert_eq!(m.remove_from_cart(c, &s("x")), Ok(true));
        assert_eq!(m.remove_from_cart(c, &s("x")), Ok(false));
        let stats = m.stats();
        assert_eq!(
            stats.on_sale,
            vec![(p, 2), (q, 0)],
            "over the limit after a return"
        );
        assert!(m.publish(p, s("z")).is_err());
        assert_eq!(m.add_to_cart(c, &s("y")), Ok(true));
        assert!(m.publish(p, s("z")).is_err(), "still at the limit");
        assert_eq!(m.add_to_cart(c, &s("x")), Ok(true));
        assert!(m.publish(p, s("z")).is_ok());
    });
}

#[test]
fn place_order_returns_the_items_in_the_order_added_and_empties_the_cart() {
    both(5, |m| {
        let p = m.register_producer_id();
        let c = m.new_cart_id();
        for x in ["a", "b", "c", "b", "d"] {
            m.publish(p, s(x)).unwrap();
        }
        for x in ["d", "b", "a", "b"] {
            assert_eq!(m.add_to_cart(c, &s(x)), Ok(true));
        }
        assert_eq!(m.remove_from_cart(c, &s("a")), Ok(true));
        assert_eq!(m.place_order(c), Ok(vec![s("d"), s("b"), s("b")]));
        assert_eq!(m.place_order(c), Ok(vec![]));
        // The cart is reusable.
        assert_eq!(m.add_to_cart(c, &s("a")), Ok(true));
        assert_eq!(m.place_order(c), Ok(vec![s("a")]));
        let stats = m.stats();
        assert_eq!((stats.ordered, stats.in_carts), (4, 0));
        assert_eq!(stats.total_on_sale(), 1);
    });
}

#[test]
fn carts_are_independent() {
    both(4, |m| {
        let p = m.register_producer_id();
        let (c, d) = (m.new_cart_id(), m.new_cart_id());
        m.publish(p, s("a")).unwrap();
        m.publish(p, s("b")).unwrap();
        m.add_to_cart(c, &s("a")).unwrap();
        m.add_to_cart(d, &s("b")).unwrap();
        assert_eq!(m.remove_from_cart(c, &s("b")), Ok(false));
        assert_eq!(m.place_order(d), Ok(vec![s("b")]));
        assert_eq!(m.cart_contents(c), Ok(vec![s("a")]));
    });
}

#[test]
fn unknown_ids_are_typed_errors() {
    both(1, |m| {
        let p = ProducerId::new(7);
        let c = CartId::new(7);
        match m.publish(p, s("lost?")) {
            Err(PublishError::Id(IdError::UnknownProducer(id), back)) => {
                assert_eq!((id, back.as_str()), (p, "lost?"))
            }
            other => panic!("expected UnknownProducer, got {other:?}"),
        }
        assert_eq!(m.add_to_cart(c, &s("a")), Err(IdError::UnknownCart(c)));
        assert_eq!(m.remove_from_cart(c, &s("a")), Err(IdError::UnknownCart(c)));
        assert_eq!(m.place_order(c), Err(IdError::UnknownCart(c)));
        assert_eq!(m.stats().on_sale, vec![]);
    });
}

#[test]
fn orders_of_dropped_carts_stay_counted() {
    let market = Market::<u32>::new(4).unwrap();
    let mut producer = market.register_producer();
    for x in 0..3 {
        producer.publish(x).unwrap();
    }
    let mut cart = market.new_cart();
    assert!(cart.add(&0) && cart.add(&1));
    assert_eq!(cart.place_order(), [0, 1]);
    drop(cart);
    assert_eq!(market.stats().ordered, 2, "the dropped cart's order");
    // A new cart reuses the vacated entry; its orders add to the total.
    let mut cart = market.new_cart();
    assert!(cart.add(&2));
    assert_eq!(cart.place_order(), [2]);
    assert_eq!(market.stats().ordered, 3);
    drop(cart);
    assert_eq!(market.stats().ordered, 3);
}

/// Every call that takes an id refuses, as unknown, an id that another market handed out,
/// although this market has a live id with the same number; neither market changes.
fn ids_of_another_market_are_unknown(a: &dyn Marketplace<String>, b: &dyn Marketplace<String>) {
    let (pa, ca) = (a.register_producer_id(), a.new_cart_id());
    let (pb, cb) = (b.register_producer_id(), b.new_cart_id());
    assert_eq!(
        (pa.index(), ca.index()),
        (pb.index(), cb.index()),
        "the two markets number their ids alike"
    );
    a.publish(pa, s("a")).unwrap();
    a.publish(pa, s("a")).unwrap();
    assert_eq!(a.add_to_cart(ca, &s("a")), Ok(true));
    b.publish(pb, s("b")).unwrap();
    b.publish(pb, s("b")).unwrap();
    assert_eq!(b.add_to_cart(cb, &s("b")), Ok(true));
    let (before_a, before_b) = (a.stats(), b.stats());
    for (market, theirs_p, theirs_c, on_sale) in [(a, pb, cb, "a"), (b, pa, ca, "b")] {
        match market.publish(theirs_p, s("stray")) {
            Err(PublishError::Id(IdError::UnknownProducer(id), back)) => {
                assert_eq!((id, back.as_str()), (theirs_p, "stray"))
            }
            other => panic!("publish with another market's {theirs_p}: {other:?}"),
        }
        let unknown = Err(IdError::UnknownCart(theirs_c));
        assert_eq!(market.add_to_cart(theirs_c, &s(on_sale)), unknown);
        assert_eq!(market.remove_from_cart(theirs_c, &s(on_sale)), unknown);
        assert_eq!(market.cart_contents(theirs_c), unknown.map(|_| vec![]));
        assert_eq!(market.place_order(theirs_c), unknown.map(|_| vec![]));
    }
    assert_eq!((a.stats(), b.stats()), (before_a, before_b));
    // Each market's own ids still work.
    assert_eq!(a.place_order(ca), Ok(vec![s("a")]));
    assert_eq!(b.place_order(cb), Ok(vec![s("b")]));
}

#[test]
fn an_id_from_another_market_is_unknown_in_every_call_that_takes_an_id() {
    ids_of_another_market_are_unknown(&Market::new(2).unwrap(), &Market::new(2).unwrap());
    ids_of_another_market_are_unknown(&MutexMarket::new(2).unwrap(), &MutexMarket::new(2).unwrap());
    ids_of_another_market_are_unknown(&Market::new(2).unwrap(), &MutexMarket::new(2).unwrap());
}

#[test]
fn a_handle_id_from_another_market_is_unknown_not_busy() {
    let (a, b) = (Market::<u8>::new(1).unwrap(), Market::new(1).unwrap());
    let (pa, ca) = (a.register_producer(), a.new_cart());
    // `b` holds the same numbers through its own handles: its answer for them is "busy".
    let (pb, cb) = (b.register_producer(), b.new_cart());
    assert_eq!(
        (pa.id().index(), ca.id().index()),
        (pb.id().index(), cb.id().index())
    );
    assert!(matches!(
        b.publish(pb.id(), 1),
        Err(PublishError::Id(IdError::ProducerBusy(_), 1))
    ));
    assert!(matches!(
        b.publish(pa.id(), 1),
        Err(PublishError::Id(IdError::UnknownProducer(id), 1)) if id == pa.id()
    ));
    assert_eq!(b.place_order(ca.id()), Err(IdError::UnknownCart(ca.id())));
    assert_eq!(b.place_order(cb.id()), Err(IdError::CartBusy(cb.id())));
}

#[test]
fn a_clone_of_a_market_is_the_same_market_for_ids() {
    let market = Market::new(1).unwrap();
    let clone = market.clone();
    let p = market.register_producer_id();
    let c = clone.new_cart_id();
    clone.publish(p, 5).unwrap();
    assert_eq!(market.add_to_cart(c, &5), Ok(true));
    assert_eq!(clone.place_order(c), Ok(vec![5]));
}

#[test]
fn ids_debug_as_they_display() {
    let market = Market::<u8>::new(1).unwrap();
    let (p, c) = (market.register_producer_id(), market.new_cart_id());
    assert_eq!(format!("{p:?} {c:?}"), "producer 0 cart 0");
    assert_eq!(format!("{p:?} {c:?}"), format!("{p} {c}"));
    let err = IdError::UnknownCart(c);
    assert_eq!(format!("{err:?}"), "UnknownCart(cart 0)");
}
