//! Leak amplification: forgetting (`mem::forget`) any handle or future of the market, at any
//! point of its life, must leave the market sound. The items the forgotten value held may leak
//! and a forgotten registration may swallow a wake-up, but nothing is dropped twice, read after
//! it moved, or handed out twice. Run under Miri (`scripts/miri.sh`), which reports every such
//! access; natively the drop counts below show a double drop.
//!
//! A forgotten handle keeps the market alive (it holds a reference), so the market and its
//! items are never dropped: the handles are "forgotten" into a static that is never emptied,
//! which is the same to the market and keeps Miri's leak check quiet. Futures, which borrow,
//! are forgotten in place (`ManuallyDrop`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use ringmarket::Market;

/// Never dropped, like a `mem::forget`.
fn forget<X: Send + 'static>(x: X) {
    static FORGOTTEN: Mutex<Vec<Box<dyn Send>>> = Mutex::new(Vec::new());
    FORGOTTEN.lock().unwrap().push(Box::new(x));
}

/// Counts its drops in a counter of its own test (tests run in parallel).
#[derive(Debug)]
struct Counted<'a> {
    key: u32,
    /// Heap memory, so that a double drop is a double free under Miri (none for an item that
    /// is leaked on purpose: Miri would report the leak).
    _heap: Option<Box<u32>>,
    drops: &'a AtomicUsize,
}

impl<'a> Counted<'a> {
    fn new(key: u32, drops: &'a AtomicUsize) -> Self {
        Self {
            key,
            _heap: Some(Box::new(key)),
            drops,
        }
    }
}

#[cfg(feature = "async")]
impl<'a> Counted<'a> {
    /// One without heap memory.
    fn light(key: u32, drops: &'a AtomicUsize) -> Self {
        Self {
            key,
            _heap: None,
            drops,
        }
    }
}

impl PartialEq for Counted<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Counted<'_> {}
impl std::hash::Hash for Counted<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.key.hash(h);
    }
}
impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn forgetting_a_cart_with_items_leaks_them_and_leaves_the_market_sound() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let drops = &DROPS;
    let market = Market::new(4).unwrap();
    let mut producer = market.register_producer();
    for key in 0..4 {
        producer.publish(Counted::new(key, drops)).unwrap();
    }
    let mut cart = market.new_cart();
    assert!(cart.add(&Counted::new(0, drops)));
    assert!(cart.add(&Counted::new(1, drops)));
    forget(cart);
    // The probes of the two adds were dropped; the two items stay in the forgotten cart.
    assert_eq!(drops.load(Ordering::Relaxed), 2);
    let mut other = market.new_cart();
    assert!(
        !other.add(&Counted::new(0, drops)),
        "item 0 is in the forgotten cart"
    );
    assert!(other.add(&Counted::new(2, drops)));
    let order = other.place_order();
    assert_eq!(order.len(), 1);
    drop(order);
    producer.publish(Counted::new(5, drops)).unwrap();
    drop((producer, other, market));
    // 4 probes and the ordered item; the market (items 3 and 5 on sale) lives on in the
    // forgotten cart, which holds items 0 and 1.
    assert_eq!(drops.load(Ordering::Relaxed), 5);
}

#[test]
fn forgetting_a_producer_keeps_its_items_on_sale_and_drops_them_once() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let drops = &DROPS;
    let market = Market::new(2).unwrap();
    let mut producer = market.register_producer();
    producer.publish(Counted::new(1, drops)).unwrap();
    producer.publish(Counted::new(2, drops)).unwrap();
    forget(producer);
    let mut cart = market.new_cart();
    assert!(cart.add(&Counted::new(1, drops)));
    assert!(cart.remove(&Counted::new(1, drops)), "returned on sale");
    let mut again = market.register_producer();
    again.publish(Counted::new(3, drops)).unwrap();
    assert!(cart.add(&Counted::new(2, drops)));
    assert_eq!(cart.place_order().len(), 1);
    drop((again, cart, market));
    // 3 probes and the ordered item 2; items 1 and 3 stay on sale in the market that the
    // forgotten producer keeps alive.
    assert_eq!(drops.load(Ordering::Relaxed), 4);
}

#[test]
fn forgetting_a_market_clone_leaks_nothing_the_others_need() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let drops = &DROPS;
    let market = Market::new(2).unwrap();
    forget(market.clone());
    let mut producer = market.register_producer();
    producer.publish(Counted::new(1, drops)).unwrap();
    let mut cart = market.new_cart();
    assert!(cart.add(&Counted::new(1, drops)));
    assert_eq!(cart.place_order().len(), 1);
    drop((producer, cart, market));
    // The probe and the ordered item; the market itself is leaked, and held nothing.
    assert_eq!(drops.load(Ordering::Relaxed), 2);
}

#[cfg(feature = "async")]
mod futures {
    use super::*;
    use std::future::Future;
    use std::mem::ManuallyDrop;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(&Waker::from(Arc::new(Noop))))
    }

    #[test]
    fn forgetting_a_registered_add_future_leaves_the_market_sound() {
        let drops = AtomicUsize::new(0);
        let market = Market::new(2).unwrap();
        let mut cart = market.new_cart();
        let wanted = Counted::new(1, &drops);
        {
            let mut future = ManuallyDrop::new(cart.add_async(&wanted));
            assert!(poll_once(&mut *future).is_pending(), "registered");
        }
        let mut producer = market.register_producer();
        // The publish notifies the forgotten registration (its wake-up is swallowed).
        producer.publish(Counted::new(1, &drops)).unwrap();
        producer.publish(Counted::new(2, &drops)).unwrap();
        let mut other = market.new_cart();
        assert!(other.add(&Counted::new(1, &drops)));
        {
            let probe = Counted::new(2, &drops);
            let mut future = other.add_async(&probe);
            assert_eq!(poll_once(&mut future), Poll::Ready(Ok(())));
        }
        assert_eq!(other.place_order().len(), 2);
        drop((producer, other, cart, market, wanted));
        // 2 probes (one of them the future's), the 2 ordered items and `wanted`.
        assert_eq!(drops.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn forgetting_a_registered_publish_future_leaks_its_item_only() {
        let drops = AtomicUsize::new(0);
        let market = Market::new(1).unwrap();
        let mut producer = market.register_producer();
        producer.publish(Counted::new(1, &drops)).unwrap();
        {
            let mut future = ManuallyDrop::new(producer.publish_async(Counted::light(2, &drops)));
            assert!(poll_once(&mut *future).is_pending(), "full: registered");
        }
        let mut cart = market.new_cart();
        // The reservation frees room and notifies the forgotten registration.
        assert!(cart.add(&Counted::new(1, &drops)));
        producer.publish(Counted::new(3, &drops)).unwrap();
        assert!(cart.add(&Counted::new(3, &drops)));
        assert_eq!(cart.place_order().len(), 2);
        drop((producer, cart, market));
        // 2 probes and 2 ordered items; item 2 leaked with its future.
        assert_eq!(drops.load(Ordering::Relaxed), 4);
    }
}
