//! Loom models of the market's wake-up protocol (`src/wait.rs`, `src/market/wait.rs`):
//! targeted wake-ups lose nothing, a time-out racing a publish (or a reservation) leaves the
//! item in exactly one place, and dropping a waiting future passes its wake-up on.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use loom_tests::explore;
use ringmarket::market::{PublishWaitError, WaitError};
use ringmarket::Market;

/// Under loom a timed wait never times out, so a lost wake-up shows as a deadlock.
const FOREVER: Duration = Duration::from_secs(3600);

fn market(capacity: usize) -> Market<u32> {
    Market::with_buckets(capacity, 1).unwrap()
}

/// Two carts wait for the same product and two items are published: each publish wakes one
/// waiter (not both), and neither waiter is left asleep.
#[test]
fn two_publishes_wake_two_waiters_of_one_product() {
    let n = explore(|| {
        let m = market(2);
        let mut p = m.register_producer();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let mut c = m.new_cart();
                thread::spawn(move || {
                    assert_eq!(c.add_timeout(&5, FOREVER), Ok(()));
                    c.place_order()
                })
            })
            .collect();
        p.publish(5).unwrap();
        p.publish(5).unwrap();
        for w in waiters {
            assert_eq!(w.join().unwrap(), vec![5]);
        }
        assert_eq!(p.on_sale(), 0);
    });
    assert!(n > 1);
}

/// A waiter woken for an item that another cart takes first waits again and is woken by the
/// next publish. Its second registration takes a fresh signal while the first notifier may
/// still hold the old one: the old notification cannot wake the new registration, and the new
/// one is not lost.
#[test]
fn a_waiter_whose_item_is_taken_first_waits_again_and_is_woken() {
    let n = explore(|| {
        let m = market(2);
        let mut p = m.register_producer();
        let (mut c1, mut c2) = (m.new_cart(), m.new_cart());
        let waiter = thread::spawn(move || {
            assert_eq!(c1.add_timeout(&5, FOREVER), Ok(()));
            c1.place_order()
        });
        let other = thread::spawn(move || (c2.add(&5), c2));
        p.publish(5).unwrap();
        let (took, mut c2) = other.join().unwrap();
        if took {
            p.publish(5).unwrap();
        }
        assert_eq!(waiter.join().unwrap(), vec![5]);
        assert_eq!(c2.place_order().len(), usize::from(took));
        assert_eq!(p.on_sale(), 0);
    });
    assert!(n > 1);
}

/// A wait that times out at once (register, retry, give up, last try) racing a publish: the
/// item ends in the cart or on sale, never both, never neither.
#[test]
fn a_time_out_racing_a_publish_leaves_the_item_in_one_place() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        let waiter = thread::spawn(move || (c.add_timeout(&4, Duration::ZERO), c));
        p.publish(4).unwrap();
        let (r, mut c) = waiter.join().unwrap();
        match r {
            Ok(()) => {
                assert_eq!(p.on_sale(), 0);
                assert!(!c.add(&4), "not also on sale");
                assert_eq!(c.place_order(), vec![4]);
            }
            Err(e) => {
                assert_eq!(e, WaitError::Timeout);
                assert!(c.items().is_empty());
                assert_eq!(p.on_sale(), 1);
                assert!(c.add(&4), "still on sale");
            }
        }
    });
    assert!(n > 1);
}

/// A producer's wait for room that times out at once, racing the reservation that frees the
/// room: the new item is on sale (and counted) or handed back, never both, never neither.
#[test]
fn a_time_out_racing_freed_room_leaves_the_item_in_one_place() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let mut c = m.new_cart();
        p.publish(1).unwrap();
        let producer = thread::spawn(move || (p.publish_timeout(2, Duration::ZERO), p));
        assert!(c.add(&1));
        let (r, p) = producer.join().unwrap();
        match r {
            Ok(()) => {
                assert_eq!(p.on_sale(), 1);
                assert!(c.add(&2), "on sale");
            }
            Err(e) => {
                assert_eq!(e, PublishWaitError::Timeout(2));
                assert_eq!(p.on_sale(), 0);
                assert!(!c.add(&2), "not also on sale");
            }
        }
    });
    assert!(n > 1);
}

/// Sets a flag when woken.
struct Flag(loom::sync::Arc<AtomicBool>);

impl Wake for Flag {
    fn wake(self: StdArc<Self>) {
        // ORDERING: Release, paired with the Acquire load of the waiting loop below.
        self.0.store(true, Ordering::Release);
    }
}

fn poll<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

/// A future queued first for a product is dropped while the product is published: if the
/// publish had chosen it, the wake-up passes to the second future; one of the two carts ends
/// with the item, the other empty, and the second future is never left waiting for nothing.
#[test]
fn dropping_a_waiting_future_racing_a_publish_passes_the_wake_up_on() {
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        let (mut c1, mut c2) = (m.new_cart(), m.new_cart());
        let shopper = thread::spawn(move || {
            let noop = Waker::from(StdArc::new(Flag(loom::sync::Arc::new(AtomicBool::new(
                false,
            )))));
            let woken = loom::sync::Arc::new(AtomicBool::new(false));
            let waker = Waker::from(StdArc::new(Flag(woken.clone())));
            let mut f1 = c1.add_async(&9);
            if poll(&mut f1, &noop).is_ready() {
                drop(f1);
                return (c1, c2);
            }
            let mut f2 = c2.add_async(&9);
            let mut r2 = poll(&mut f2, &waker);
            drop(f1);
            while r2.is_pending() {
                // ORDERING: Acquire, paired with the Release store of the waker.
                while !woken.load(Ordering::Acquire) {
                    thread::yield_now();
                }
                // Relaxed: only this thread reads the flag; the next wake-up stores it again.
                woken.store(false, Ordering::Relaxed);
                r2 = poll(&mut f2, &waker);
            }
            assert_eq!(r2, Poll::Ready(Ok(())));
            drop(f2);
            (c1, c2)
        });
        p.publish(9).unwrap();
        let (c1, c2) = shopper.join().unwrap();
        assert_eq!(c1.items().len() + c2.items().len(), 1);
        assert_eq!(p.on_sale(), 0);
    });
    assert!(n > 1);
}

/// Closing racing a cart and a producer going to sleep: neither is left asleep; the cart ends
/// with `Closed` (nothing was published), the producer gets its item back.
#[test]
fn close_racing_waiters_ends_their_waits() {
    let n = explore(|| {
        let m = market(1);
        let mut c = m.new_cart();
        let mut p = m.register_producer();
        p.publish(1).unwrap();
        let cart = thread::spawn(move || c.add_timeout(&4, FOREVER));
        let producer = thread::spawn(move || p.publish_timeout(2, FOREVER));
        m.close();
        assert_eq!(cart.join().unwrap(), Err(WaitError::Closed));
        assert_eq!(producer.join().unwrap(), Err(PublishWaitError::Closed(2)));
    });
    assert!(n > 1);
}

/// The last other handles dropped racing a cart and a producer going to sleep: neither is left
/// asleep; each waiter's handle is then the market's last, so nothing could end its wait, and
/// it ends with `Closed` (the producer gets its item back).
#[test]
fn the_last_other_handle_dropped_racing_a_waiter_ends_its_wait() {
    let n = explore(|| {
        let m = market(1);
        let mut c = m.new_cart();
        let cart = thread::spawn(move || c.add_timeout(&4, FOREVER));
        drop(m);
        assert_eq!(cart.join().unwrap(), Err(WaitError::Closed));
    });
    assert!(n > 1);
    let n = explore(|| {
        let m = market(1);
        let mut p = m.register_producer();
        p.publish(1).unwrap();
        let producer = thread::spawn(move || p.publish_timeout(2, FOREVER));
        drop(m);
        assert_eq!(producer.join().unwrap(), Err(PublishWaitError::Closed(2)));
    });
    assert!(n > 1);
}

/// A task's waker that closes the market when it is dropped.
struct CloseOnDrop(Market<u32>);

impl Wake for CloseOnDrop {
    fn wake(self: StdArc<Self>) {}
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A dropped future's waker, dropped by the cancellation, closes the market, which notifies
/// the list the future was queued on, where a thread waits for the same product: the waker is
/// dropped after the list's lock is released (a drop under it deadlocks), and the thread is
/// told of the close.
#[test]
fn a_waker_dropped_by_a_cancellation_may_use_the_same_list() {
    let n = explore(|| {
        let m = market(1);
        let (mut c1, mut c2) = (m.new_cart(), m.new_cart());
        let other = thread::spawn(move || c2.add_timeout(&9, FOREVER));
        let closer = Waker::from(StdArc::new(CloseOnDrop(m.clone())));
        let mut f = c1.add_async(&9);
        assert!(poll(&mut f, &closer).is_pending());
        drop(closer);
        drop(f);
        assert_eq!(other.join().unwrap(), Err(WaitError::Closed));
    });
    assert!(n > 1);
}
