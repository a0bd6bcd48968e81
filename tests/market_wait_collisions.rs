//! Waits stay live for every `Hash` that std allows: a `Hash` that ignores a field `Eq`
//! compares, and a constant one, make every product share one wait key; each waiter must still
//! be woken for its own product.

use std::hash::{Hash, Hasher};
use std::thread;
use std::time::{Duration, Instant};

use ringmarket::Market;

/// Far above what a wake-up takes. A waiter that is never woken for its item sleeps until its
/// time-out, whose last try then finds the item: the test checks that each wait ended well
/// before (a bound on liveness, not a timing).
const TIMEOUT: Duration = Duration::from_secs(60);

/// Equal by `(key, tag)`; hashed by `key` only, or not at all.
#[derive(Clone, Copy, Debug)]
struct Product {
    key: u32,
    tag: u32,
    constant_hash: bool,
}
impl PartialEq for Product {
    fn eq(&self, other: &Self) -> bool {
        (self.key, self.tag) == (other.key, other.tag)
    }
}
impl Eq for Product {}
impl Hash for Product {
    fn hash<H: Hasher>(&self, h: &mut H) {
        if !self.constant_hash {
            self.key.hash(h);
        }
    }
}

/// `waiters` carts wait for products `0 .. waiters`, queued in that order; the products are
/// then published in the reverse order, one at a time: the first waiter queued is woken first
/// for an item that is not its product.
fn each_waiter_gets_its_product(constant_hash: bool, waiters: u32) {
    let product = |tag| Product {
        key: 1,
        tag,
        constant_hash,
    };
    let market = Market::with_buckets(waiters as usize, 1).unwrap();
    let mut p = market.register_producer();
    thread::scope(|s| {
        let handles: Vec<_> = (0..waiters)
            .map(|tag| {
                let mut cart = market.new_cart();
                let h = s.spawn(move || {
                    let start = Instant::now();
                    let r = cart.add_timeout(&product(tag), TIMEOUT);
                    let woken = start.elapsed() < TIMEOUT / 2;
                    (r, cart.place_order(), woken)
                });
                // Lets the waiter queue before the next one (not needed for the test to
                // pass, only for the order that made the former code fail).
                thread::sleep(Duration::from_millis(50));
                h
            })
            .collect();
        for tag in (0..waiters).rev() {
            p.publish(product(tag)).unwrap();
            // As above: lets the notified waiter try (and, formerly, queue again at the head).
            thread::sleep(Duration::from_millis(50));
        }
        for (tag, h) in (0..waiters).zip(handles) {
            assert_eq!(
                h.join().unwrap(),
                (Ok(()), vec![product(tag)], true),
                "waiter {tag}: (result, items, woken before half its time-out)"
            );
        }
    });
}

#[test]
fn waiters_of_products_whose_hash_ignores_a_field_each_get_theirs() {
    each_waiter_gets_its_product(false, 4);
}

#[test]
fn waiters_of_products_with_a_constant_hash_each_get_theirs() {
    each_waiter_gets_its_product(true, 4);
}

/// The futures' side, single-threaded and without timing: futures of colliding products are
/// registered in order, the products published in the reverse order; after each publish every
/// woken future is polled until none is woken, and the future of the published product must
/// then be done (a future never woken would stay pending for ever).
#[cfg(feature = "async")]
fn each_future_gets_its_product(constant_hash: bool, waiters: u32) {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    use ringmarket::market::AddFuture;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    let product = |tag| Product {
        key: 1,
        tag,
        constant_hash,
    };
    let market = Market::with_buckets(waiters as usize, 1).unwrap();
    let mut p = market.register_producer();
    let mut carts: Vec<_> = (0..waiters).map(|_| market.new_cart()).collect();
    let items: Vec<Product> = (0..waiters).map(product).collect();
    let flags: Vec<Arc<Flag>> = (0..waiters)
        .map(|_| Arc::new(Flag(AtomicBool::new(false))))
        .collect();
    let wakers: Vec<Waker> = flags.iter().map(|f| Waker::from(f.clone())).collect();
    let mut futures: Vec<Option<_>> = carts
        .iter_mut()
        .zip(&items)
        .map(|(cart, item)| Some(Box::pin(cart.add_async(item))))
        .collect();
    fn poll(k: usize, futures: &mut [Option<Pin<Box<AddFuture<'_, Product>>>>], waker: &Waker) {
        let f = futures[k].as_mut().expect("polled after completion");
        if let Poll::Ready(r) = f.as_mut().poll(&mut Context::from_waker(waker)) {
            assert_eq!(r, Ok(()), "future {k}");
            futures[k] = None;
        }
    }
    for k in 0..waiters as usize {
        poll(k, &mut futures, &wakers[k]);
        assert!(futures[k].is_some(), "nothing is on sale yet");
    }
    for tag in (0..waiters as usize).rev() {
        p.publish(product(tag as u32)).unwrap();
        loop {
            let woken: Vec<usize> = (0..waiters as usize)
                .filter(|&k| flags[k].0.swap(false, Ordering::SeqCst))
                .collect();
            if woken.is_empty() {
                break;
            }
            for k in woken {
                if futures[k].is_some() {
                    poll(k, &mut futures, &wakers[k]);
                }
            }
        }
        assert!(
            futures[tag].is_none(),
            "the future of product {tag} was never woken for it"
        );
    }
    drop(futures);
    for (tag, cart) in carts.iter_mut().enumerate() {
        assert_eq!(cart.place_order(), [product(tag as u32)]);
    }
}

#[cfg(feature = "async")]
#[test]
fn futures_of_products_whose_hash_ignores_a_field_each_get_theirs() {
    each_future_gets_its_product(false, 4);
}

#[cfg(feature = "async")]
#[test]
fn futures_of_products_with_a_constant_hash_each_get_theirs() {
    each_future_gets_its_product(true, 4);
}
