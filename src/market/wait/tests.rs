//! Unit tests of the market's waits: targeted wake-ups, priorities, time-outs, closing.

use super::*;
use std::sync::atomic::Ordering::Relaxed;
use std::thread;

const LONG: Duration = Duration::from_secs(600);

fn woken<T>(m: &Market<T>) -> usize {
    m.inner
        .product_waits
        .lists
        .iter()
        .map(|l| l.woken.load(Relaxed))
        .sum()
}

fn queued<T>(m: &Market<T>) -> usize {
    m.inner.product_waits.lists.iter().map(|l| l.queued()).sum()
}

/// With one consumer waiting on each of many products, one publish wakes exactly one of
/// them: the one that wants it.
#[test]
fn one_publish_wakes_one_of_many_waiters_on_different_products() {
    let n: u32 = if cfg!(miri) { 8 } else { 100 };
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    thread::scope(|s| {
        let waiters: Vec<_> = (0..n)
            .map(|k| {
                let mut cart = market.new_cart();
                s.spawn(move || {
                    let r = cart.add_timeout(&k, LONG);
                    (r, cart.place_order())
                })
            })
            .collect();
        while queued(&market) < n as usize {
            thread::yield_now();
        }
        p.publish(n / 2).unwrap();
        let mut waiters: Vec<_> = waiters.into_iter().map(Some).collect();
        let (r, got) = waiters[(n / 2) as usize].take().unwrap().join().unwrap();
        assert_eq!((r, got), (Ok(()), vec![n / 2]));
        assert_eq!(woken(&market), 1, "one publish, one wake-up");
        assert_eq!(queued(&market), n as usize - 1);
        market.close();
        for w in waiters.into_iter().flatten() {
            assert_eq!(w.join().unwrap(), (Err(WaitError::Closed), vec![]));
        }
    });
}

/// Many waiters on one product: each publish wakes one, every item reaches exactly one
/// waiter, and nobody is woken without an item to try for.
#[test]
fn many_waiters_on_one_product_are_woken_one_per_item() {
    let n: usize = if cfg!(miri) { 4 } else { 32 };
    let market = Market::new(n).unwrap();
    let mut p = market.register_producer();
    thread::scope(|s| {
        let waiters: Vec<_> = (0..n)
            .map(|_| {
                let mut cart = market.new_cart();
                s.spawn(move || {
                    cart.add_timeout(&7u8, LONG).unwrap();
                    cart.place_order()
                })
            })
            .collect();
        while queued(&market) < n {
            thread::yield_now();
        }
        for _ in 0..n {
            p.publish(7).unwrap();
        }
        for w in waiters {
            assert_eq!(w.join().unwrap(), vec![7]);
        }
    });
    assert_eq!(woken(&market), n, "one wake-up per published item");
    assert_eq!(p.on_sale(), 0);
}

/// Carts of higher priority are served first, and equal priorities in the order they
/// started waiting.
#[test]
fn waiting_carts_are_served_by_priority_then_in_order() {
    // Queued in this order; served highest first, ties by queue order.
    let priorities = [1, 3, 0, 3];
    let served = [1, 3, 0, 2];
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    thread::scope(|s| {
        let mut waiters = Vec::new();
        for (i, &priority) in priorities.iter().enumerate() {
            let mut cart = market.new_cart();
            cart.set_priority(priority);
            waiters.push(Some(s.spawn(move || {
                cart.add_timeout(&'x', LONG).unwrap();
                cart.place_order()
            })));
            while queued(&market) < i + 1 {
                thread::yield_now();
            }
        }
        for (round, &expected) in served.iter().enumerate() {
            p.publish('x').unwrap();
            let done = loop {
                if let Some(i) = waiters
                    .iter()
                    .position(|w| w.as_ref().is_some_and(|h| h.is_finished()))
                {
                    break i;
                }
                thread::yield_now();
            };
            assert_eq!(done, expected, "round {round}");
            let got = waiters[done].take().unwrap().join().unwrap();
            assert_eq!(got, vec!['x']);
            assert_eq!(queued(&market), priorities.len() - round - 1);
        }
    });
    assert_eq!(woken(&market), priorities.len());
}

#[test]
fn waits_time_out_and_hand_the_item_back() {
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    assert_eq!(
        c.add_timeout(&1, Duration::from_millis(2)),
        Err(WaitError::Timeout)
    );
    p.publish(1).unwrap();
    assert_eq!(
        p.publish_timeout(2, Duration::from_millis(2)),
        Err(PublishWaitError::Timeout(2))
    );
    assert_eq!(
        c.add_timeout(&1, Duration::ZERO),
        Ok(()),
        "no waiting needed"
    );
    assert_eq!(p.publish_timeout(2, Duration::ZERO), Ok(()));
    assert_eq!(queued(&market), 0);
}

fn room_queued<T>(m: &Market<T>) -> usize {
    let producers = m.inner.producers.iter();
    producers.map(|(_, e)| e.value.account.room.queued()).sum()
}

/// Yields until `queued` says a waiter is queued or `waiter` has finished; says which.
fn until_queued<R>(queued: impl Fn() -> usize, waiter: &thread::ScopedJoinHandle<'_, R>) {
    while queued() == 0 && !waiter.is_finished() {
        thread::yield_now();
    }
    assert!(
        !waiter.is_finished(),
        "the blocking wait returned before it was served"
    );
}

/// The blocking waits take no time-out: they sleep until served (a cart until an equal
/// item is published, a producer until a reservation frees room) or closed.
#[test]
fn blocking_waits_sleep_until_served_or_closed() {
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    thread::scope(|s| {
        let cart = s.spawn(|| c.add_wait(&1));
        until_queued(|| queued(&market), &cart);
        p.publish(1).unwrap();
        assert_eq!(cart.join().unwrap(), Ok(()));
    });
    thread::scope(|s| {
        p.publish(2).unwrap();
        let producer = s.spawn(|| p.publish_wait(3));
        until_queued(|| room_queued(&market), &producer);
        assert!(c.add(&2));
        assert_eq!(producer.join().unwrap(), Ok(()));
    });
    assert_eq!(c.place_order(), [1, 2]);
    thread::scope(|s| {
        let producer = s.spawn(|| p.publish_wait(4));
        until_queued(|| room_queued(&market), &producer);
        let cart = s.spawn(|| c.add_wait(&5));
        until_queued(|| queued(&market), &cart);
        market.close();
        assert_eq!(producer.join().unwrap(), Err(PublishWaitError::Closed(4)));
        assert_eq!(cart.join().unwrap(), Err(WaitError::Closed));
    });
}

/// Waits with short time-outs racing publishes: every published item ends in exactly one
/// cart, whatever mix of time-outs, wake-ups and immediate successes the race produces.
#[test]
fn time_outs_racing_publishes_lose_nothing() {
    let consumers = if cfg!(miri) { 2 } else { 4 };
    let items: usize = if cfg!(miri) { 20 } else { 4_000 };
    let market = Market::new(2).unwrap();
    let taken = std::sync::atomic::AtomicUsize::new(0);
    let timed_out = std::sync::atomic::AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..consumers {
            let mut cart = market.new_cart();
            let (taken, timed_out) = (&taken, &timed_out);
            s.spawn(move || {
                let mut mine = 0;
                loop {
                    match cart.add_timeout(&3u8, Duration::from_micros(50)) {
                        Ok(()) => mine += cart.place_order().len(),
                        Err(WaitError::Timeout) => {
                            timed_out.fetch_add(1, Relaxed);
                        }
                        Err(WaitError::Closed) => break,
                    }
                }
                taken.fetch_add(mine, Relaxed);
            });
        }
        let mut p = market.register_producer();
        for _ in 0..items {
            p.publish_timeout(3, LONG).unwrap();
        }
        while p.on_sale() > 0 {
            thread::yield_now();
        }
        market.close();
    });
    assert_eq!(taken.load(Relaxed), items, "every item reserved once");
    assert_eq!(queued(&market), 0);
}

#[test]
fn producers_blocked_on_full_queues_are_released_by_orders() {
    let producers = if cfg!(miri) { 2 } else { 8 };
    let per = if cfg!(miri) { 5 } else { 200 };
    let market = Market::new(1).unwrap();
    thread::scope(|s| {
        for k in 0..producers {
            let mut p = market.register_producer();
            s.spawn(move || {
                for _ in 0..per {
                    p.publish_timeout(k, LONG).unwrap();
                }
            });
        }
        let mut cart = market.new_cart();
        for i in 0..producers * per {
            cart.add_timeout(&(i % producers), LONG).unwrap();
            if i % 3 == 0 {
                cart.place_order();
            }
        }
    });
    assert_eq!(market.stats().on_sale.iter().map(|x| x.1).sum::<usize>(), 0);
}

#[test]
fn close_ends_blocked_producers_and_carts_and_later_waits() {
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    p.publish(1u8).unwrap();
    thread::scope(|s| {
        let producer = s.spawn(move || (p.publish_timeout(2, LONG), p));
        let mut cart = market.new_cart();
        let consumer = s.spawn(move || (cart.add_timeout(&3, LONG), cart));
        let room_queued = || -> usize {
            market
                .inner
                .producers
                .iter()
                .map(|(_, e)| e.value.account.room.queued())
                .sum()
        };
        while queued(&market) < 1 || room_queued() < 1 {
            thread::yield_now();
        }
        market.close();
        let (r, mut p) = producer.join().unwrap();
        assert_eq!(r, Err(PublishWaitError::Closed(2)));
        let (r, mut cart) = consumer.join().unwrap();
        assert_eq!(r, Err(WaitError::Closed));
        // Later waits end at once, unless they can succeed.
        assert_eq!(cart.add_timeout(&3, LONG), Err(WaitError::Closed));
        assert_eq!(cart.add_timeout(&1, LONG), Ok(()));
        assert_eq!(p.publish_timeout(4, LONG), Ok(()));
        assert_eq!(p.publish_timeout(5, LONG), Err(PublishWaitError::Closed(5)));
    });
}

/// A reservation whose `Eq` panics puts the item it had claimed back on sale; a cart that
/// saw the item claimed waits for that verdict (it does not sleep on another
/// reservation's claim) and gets the item.
#[test]
fn an_eq_that_panics_in_a_reservation_leaves_the_item_to_a_waiter() {
    use std::sync::atomic::AtomicBool;
    static IN_EQ: AtomicBool = AtomicBool::new(false);
    static GO: AtomicBool = AtomicBool::new(false);
    /// Equal by `key`; a comparison with a `touchy` one waits for `GO`, then panics.
    #[derive(Debug)]
    struct Touchy {
        key: u32,
        touchy: bool,
    }
    impl PartialEq for Touchy {
        fn eq(&self, other: &Self) -> bool {
            if self.touchy || other.touchy {
                IN_EQ.store(true, Relaxed);
                while !GO.load(Relaxed) {
                    thread::yield_now();
                }
                panic!("an Eq that panics");
            }
            self.key == other.key
        }
    }
    impl Eq for Touchy {}
    impl core::hash::Hash for Touchy {
        fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
            self.key.hash(h);
        }
    }
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    let plain = |key| Touchy { key, touchy: false };
    p.publish(plain(7)).unwrap();
    thread::scope(|s| {
        let mut b = market.new_cart();
        let claimer = s.spawn(move || {
            let touchy = Touchy {
                key: 7,
                touchy: true,
            };
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.add(&touchy)))
        });
        // The claimer holds the only item while its `Eq` runs.
        while !IN_EQ.load(Relaxed) {
            thread::yield_now();
        }
        let mut a = market.new_cart();
        let waiter = s.spawn(move || a.add_timeout(&plain(7), LONG));
        GO.store(true, Relaxed);
        assert!(
            claimer.join().unwrap().is_err(),
            "the claimer's Eq panicked"
        );
        assert_eq!(waiter.join().unwrap(), Ok(()));
    });
}

#[test]
fn waits_ping_pong_between_threads() {
    let rounds = if cfg!(miri) { 20 } else { 2_000 };
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    let shopper = thread::spawn(move || {
        let mut got = 0;
        for i in 0..rounds {
            assert_eq!(c.add_timeout(&(i % 3), LONG), Ok(()), "round {i}");
            got += c.place_order().len();
        }
        got
    });
    for i in 0..rounds {
        assert_eq!(p.publish_timeout(i % 3, LONG), Ok(()), "round {i}");
    }
    assert_eq!(shopper.join().unwrap(), rounds);
    assert_eq!(p.on_sale(), 0);
}
