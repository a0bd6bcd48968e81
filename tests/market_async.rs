//! The market's futures (`--features async`), driven by a hand-written executor: wake-ups
//! are targeted, dropping a future at any point loses nothing, closing resolves them.
#![cfg(feature = "async")]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use ringmarket::market::{PublishWaitError, WaitError};
use ringmarket::Market;

/// Unparks its thread and counts its wake-ups. (Every atomic in this file is a test counter
/// read after the code under test synchronised: SeqCst for simplicity, no protocol rests on it.)
struct Unpark {
    thread: Thread,
    wakes: AtomicUsize,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
        self.thread.unpark();
    }
}

fn waker() -> (Arc<Unpark>, Waker) {
    let w = Arc::new(Unpark {
        thread: thread::current(),
        wakes: AtomicUsize::new(0),
    });
    (Arc::clone(&w), Waker::from(w))
}

/// The smallest executor: poll, park until woken, poll again.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let (_, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(r) = f.as_mut().poll(&mut cx) {
            return r;
        }
        thread::park();
    }
}

fn poll_once<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

#[test]
fn add_async_is_woken_by_a_publish_from_another_thread() {
    let rounds = if cfg!(miri) { 5 } else { 200 };
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    let shopper = thread::spawn(move || {
        for i in 0..rounds {
            assert_eq!(block_on(c.add_async(&(i % 2))), Ok(()));
            assert_eq!(c.place_order(), vec![i % 2]);
        }
    });
    for i in 0..rounds {
        assert_eq!(block_on(p.publish_async(i % 2)), Ok(()));
    }
    shopper.join().unwrap();
    assert_eq!(p.on_sale(), 0);
}

#[test]
fn one_publish_wakes_one_of_many_futures_on_different_products() {
    let n = if cfg!(miri) { 8 } else { 100 };
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    let mut carts: Vec<_> = (0..n).map(|_| market.new_cart()).collect();
    let wanted: Vec<u32> = (0..n).collect();
    let mut futures: Vec<_> = carts
        .iter_mut()
        .zip(&wanted)
        .map(|(c, k)| c.add_async(k))
        .collect();
    let wakers: Vec<_> = (0..n).map(|_| waker()).collect();
    for (f, (_, w)) in futures.iter_mut().zip(&wakers) {
        assert!(poll_once(f, w).is_pending());
    }
    p.publish(7).unwrap();
    let woken: Vec<usize> = wakers
        .iter()
        .enumerate()
        .filter(|(_, (u, _))| u.wakes.load(SeqCst) > 0)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(woken, vec![7], "one publish, one wake-up, the right one");
    assert_eq!(
        poll_once(&mut futures[7], &wakers[7].1),
        Poll::Ready(Ok(()))
    );
    drop(futures);
    assert_eq!(carts[7].items(), &[7]);
}

#[test]
fn a_publish_wakes_the_future_of_the_highest_priority_cart() {
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    let mut low = market.new_cart();
    let mut high = market.new_cart();
    high.set_priority(1);
    let (low_wakes, low_waker) = waker();
    let (high_wakes, high_waker) = waker();
    let mut low_wait = low.add_async(&'x');
    let mut high_wait = high.add_async(&'x');
    // The low-priority future waits first.
    assert!(poll_once(&mut low_wait, &low_waker).is_pending());
    assert!(poll_once(&mut high_wait, &high_waker).is_pending());
    p.publish('x').unwrap();
    assert_eq!(low_wakes.wakes.load(SeqCst), 0);
    assert_eq!(high_wakes.wakes.load(SeqCst), 1);
    assert!(poll_once(&mut low_wait, &low_waker).is_pending());
    assert_eq!(poll_once(&mut high_wait, &high_waker), Poll::Ready(Ok(())));
    drop((low_wait, high_wait));
    assert!(low.items().is_empty());
    assert_eq!(high.items(), &['x']);
}

#[test]
fn dropping_a_notified_future_passes_the_wake_up_on() {
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    let (mut c1, mut c2) = (market.new_cart(), market.new_cart());
    let (u1, w1) = waker();
    let (u2, w2) = waker();
    let mut f1 = c1.add_async(&3);
    let mut f2 = c2.add_async(&3);
    assert!(poll_once(&mut f1, &w1).is_pending());
    assert!(poll_once(&mut f2, &w2).is_pending());
    p.publish(3).unwrap();
    assert_eq!((u1.wakes.load(SeqCst), u2.wakes.load(SeqCst)), (1, 0));
    drop(f1); // notified, never polled again: nothing reserved, the wake-up moves on
    assert_eq!(u2.wakes.load(SeqCst), 1);
    assert_eq!(poll_once(&mut f2, &w2), Poll::Ready(Ok(())));
    drop(f2);
    assert!(c1.items().is_empty());
    assert_eq!(c2.items(), &[3]);
}

#[test]
fn dropping_a_waiting_add_future_leaves_the_item_on_sale() {
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    let (_, w) = waker();
    let mut f = c.add_async(&1);
    assert!(poll_once(&mut f, &w).is_pending());
    drop(f);
    p.publish(1).unwrap();
    assert_eq!(p.on_sale(), 1);
    assert!(c.items().is_empty());
    assert!(c.add(&1));
}

/// Counts its drops; equal and hashed by the number only.
#[derive(Debug)]
struct Counted(u32, Arc<AtomicUsize>);

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Counted {}

impl std::hash::Hash for Counted {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, SeqCst);
    }
}

#[test]
fn an_unpublished_item_is_dropped_once_or_handed_back() {
    let drops = Arc::new(AtomicUsize::new(0));
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    p.publish(Counted(0, drops.clone())).unwrap();
    let (u, w) = waker();

    let mut f = p.publish_async(Counted(1, drops.clone()));
    assert!(poll_once(&mut f, &w).is_pending());
    drop(f);
    assert_eq!(drops.load(SeqCst), 1, "dropped with the future, once");

    let mut f = p.publish_async(Counted(2, drops.clone()));
    assert!(poll_once(&mut f, &w).is_pending());
    let back = f.cancel().unwrap();
    assert_eq!(back.0, 2);
    drop(back);
    assert_eq!(drops.load(SeqCst), 2);

    let mut f = p.publish_async(Counted(3, drops.clone()));
    assert!(poll_once(&mut f, &w).is_pending());
    let wakes = u.wakes.load(SeqCst);
    assert!(c.add(&Counted(0, drops.clone()))); // frees room: wakes the producer
    assert_eq!(u.wakes.load(SeqCst), wakes + 1);
    assert_eq!(poll_once(&mut f, &w), Poll::Ready(Ok(())));
    assert!(f.cancel().is_none(), "published, nothing to hand back");
    drop(c.place_order());
    assert_eq!(drops.load(SeqCst), 4, "probe and ordered item");
    assert_eq!(p.on_sale(), 1);
}

#[test]
fn closing_resolves_the_futures() {
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    p.publish(1).unwrap();
    let (u, w) = waker();
    let mut add = c.add_async(&2);
    assert!(poll_once(&mut add, &w).is_pending());
    let mut publish = p.publish_async(3);
    assert!(poll_once(&mut publish, &w).is_pending());
    market.close();
    assert_eq!(u.wakes.load(SeqCst), 2);
    assert_eq!(poll_once(&mut add, &w), Poll::Ready(Err(WaitError::Closed)));
    assert_eq!(
        poll_once(&mut publish, &w),
        Poll::Ready(Err(PublishWaitError::Closed(3)))
    );
}

/// Equal by the number, every one hashed alike; the comparison that brings `countdown` from 1
/// to 0 panics, as a faulty user `Eq` would.
#[derive(Debug)]
struct Touchy(u32, Arc<AtomicUsize>);

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        let countdown = &self.1;
        if countdown.load(SeqCst) > 0 && countdown.fetch_sub(1, SeqCst) == 1 {
            panic!("a panicking Eq");
        }
        self.0 == other.0
    }
}

impl Eq for Touchy {}

impl std::hash::Hash for Touchy {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

#[test]
fn a_future_whose_registered_attempt_unwinds_leaves_no_registration_behind() {
    let countdown = Arc::new(AtomicUsize::new(0));
    let touchy = |n| Touchy(n, countdown.clone());
    let market = Market::new(4).unwrap();
    let mut p = market.register_producer();
    // Filed with everything, equal to nothing wanted: every try compares it once.
    p.publish(touchy(3)).unwrap();
    let (mut a, mut b) = (market.new_cart(), market.new_cart());
    let (_, wa) = waker();
    let want_a = touchy(2);
    let mut fa = a.add_async(&want_a);
    // The first try compares once; the try after the registration panics.
    countdown.store(2, SeqCst);
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        poll_once(&mut fa, &wa).is_pending()
    }));
    assert!(unwound.is_err());
    drop(fa);
    let (ub, wb) = waker();
    let want_b = touchy(1);
    let mut fb = b.add_async(&want_b);
    assert!(poll_once(&mut fb, &wb).is_pending());
    p.publish(touchy(1)).unwrap();
    assert_eq!(ub.wakes.load(SeqCst), 1, "the publish woke the live waiter");
    assert_eq!(poll_once(&mut fb, &wb), Poll::Ready(Ok(())));
    drop(fb);
    assert_eq!(b.items().len(), 1);
}

#[test]
fn a_notified_future_whose_attempt_unwinds_passes_the_wake_up_on() {
    let countdown = Arc::new(AtomicUsize::new(0));
    let touchy = |n| Touchy(n, countdown.clone());
    let market = Market::new(4).unwrap();
    let mut p = market.register_producer();
    let (mut a, mut b) = (market.new_cart(), market.new_cart());
    let (ua, wa) = waker();
    let (ub, wb) = waker();
    let want = touchy(1);
    let mut fa = a.add_async(&want);
    let mut fb = b.add_async(&want);
    assert!(poll_once(&mut fa, &wa).is_pending());
    assert!(poll_once(&mut fb, &wb).is_pending());
    p.publish(touchy(1)).unwrap();
    assert_eq!(ua.wakes.load(SeqCst), 1, "the first queued is notified");
    assert_eq!(ub.wakes.load(SeqCst), 0);
    // Its next comparison panics.
    countdown.store(1, SeqCst);
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        poll_once(&mut fa, &wa).is_pending()
    }));
    assert!(unwound.is_err());
    assert_eq!(
        ub.wakes.load(SeqCst),
        1,
        "the wake-up went on to the next waiter"
    );
    assert_eq!(poll_once(&mut fb, &wb), Poll::Ready(Ok(())));
    drop((fa, fb));
    assert_eq!(b.items().len(), 1);
}

/// A waker whose `wake` panics (user code).
struct PanicsOnWake;

impl Wake for PanicsOnWake {
    fn wake(self: Arc<Self>) {
        panic!("a waker that panics");
    }
}

/// Waits until `done` says so, for at most `limit`; whether it did.
fn within(limit: std::time::Duration, done: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    while !done() {
        if start.elapsed() > limit {
            return false;
        }
        thread::sleep(std::time::Duration::from_millis(5));
    }
    true
}

#[test]
fn close_reaches_every_waiter_even_when_a_waker_panics() {
    use std::time::Duration;
    let market = Market::<u32>::new(1).unwrap();
    // Queued first on the product's list: a future whose waker panics.
    let mut a = market.new_cart();
    let mut fa = a.add_async(&5);
    let panicky = Waker::from(Arc::new(PanicsOnWake));
    assert!(poll_once(&mut fa, &panicky).is_pending());
    // Queued after it on the same list: a thread with a time-out; on another list: a producer
    // waiting for room.
    let mut b = market.new_cart();
    // Without the fix, a waiter with a deadline whose entry was removed but never signalled
    // finds it gone at the deadline and waits for the signal for ever.
    let cart_wait = thread::spawn(move || b.add_timeout(&5, Duration::from_secs(3)));
    let mut p = market.register_producer();
    p.publish(1).unwrap();
    let producer_wait = thread::spawn(move || p.publish_timeout(2, Duration::MAX));
    thread::sleep(Duration::from_millis(100));
    let closed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| market.close()));
    assert!(closed.is_err(), "the waker's panic comes out of close");
    assert!(
        within(Duration::from_secs(10), || cart_wait.is_finished()
            && producer_wait.is_finished()),
        "every waiter heard of the close"
    );
    assert_eq!(cart_wait.join().unwrap(), Err(WaitError::Closed));
    assert_eq!(
        producer_wait.join().unwrap(),
        Err(PublishWaitError::Closed(2))
    );
    drop(fa);
}

#[test]
fn a_producer_waker_that_panics_in_a_reservation_loses_no_item() {
    let market = Market::<u32>::new(1).unwrap();
    let mut p = market.register_producer();
    p.publish(1).unwrap();
    let mut c = market.new_cart();
    let panicky = Waker::from(Arc::new(PanicsOnWake));
    let mut publishing = p.publish_async(2);
    assert!(poll_once(&mut publishing, &panicky).is_pending());
    // The reservation frees room and wakes the producer's task, whose waker panics.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.add(&1)));
    assert!(r.is_err(), "the waker's panic comes out of add");
    drop(publishing);
    let on_sale: usize = market.stats().on_sale.iter().map(|x| x.1).sum();
    assert_eq!(
        (c.items(), on_sale),
        (&[1][..], 0),
        "the item is in the cart"
    );
    assert_eq!(c.place_order(), vec![1]);
}

/// A waker whose `clone` panics (user code); waking it does nothing.
fn waker_whose_clone_panics() -> Waker {
    use std::task::{RawWaker, RawWakerVTable};
    fn clone(_: *const ()) -> RawWaker {
        panic!("a waker whose clone panics")
    }
    fn nothing(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, nothing, nothing, nothing);
    // SAFETY: the functions of the table ignore the data pointer, and none dereferences it.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

#[test]
fn a_future_polled_with_a_waker_whose_clone_panics_leaves_no_registration_behind() {
    let market = Market::<u32>::new(1).unwrap();
    let mut p = market.register_producer();
    let mut a = market.new_cart();
    let (_, first) = waker();
    let mut fa = a.add_async(&5);
    assert!(poll_once(&mut fa, &first).is_pending());
    // A poll with another waker clones it into the registration: the clone unwinds.
    let bad = waker_whose_clone_panics();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(&mut fa, &bad)));
    assert!(r.is_err());
    drop(fa);
    // The dropped future's registration is gone: the next publish wakes a live waiter.
    let mut b = market.new_cart();
    let (wb, b_waker) = waker();
    let mut fb = b.add_async(&5);
    assert!(poll_once(&mut fb, &b_waker).is_pending());
    p.publish(5).unwrap();
    assert_eq!(wb.wakes.load(SeqCst), 1, "the publish woke the live future");
    assert_eq!(poll_once(&mut fb, &b_waker), Poll::Ready(Ok(())));
}

#[test]
fn a_woken_future_that_lost_the_item_keeps_its_place_in_the_queue() {
    let market = Market::<u32>::new(2).unwrap();
    let mut p = market.register_producer();
    let (mut a, mut b, mut c) = (market.new_cart(), market.new_cart(), market.new_cart());
    let (wa, a_waker) = waker();
    let (wb, b_waker) = waker();
    let mut fa = a.add_async(&5);
    assert!(poll_once(&mut fa, &a_waker).is_pending()); // A waits first,
    let mut fb = b.add_async(&5);
    assert!(poll_once(&mut fb, &b_waker).is_pending()); // then B.
    p.publish(5).unwrap();
    assert_eq!(wa.wakes.load(SeqCst), 1, "the first waiter is woken");
    assert!(c.add(&5), "a cart that does not wait takes the item first");
    assert!(poll_once(&mut fa, &a_waker).is_pending(), "A finds nothing");
    p.publish(5).unwrap();
    assert_eq!(
        (wa.wakes.load(SeqCst), wb.wakes.load(SeqCst)),
        (2, 0),
        "A, which has waited longest, is served before B"
    );
    assert_eq!(poll_once(&mut fa, &a_waker), Poll::Ready(Ok(())));
    drop(fb);
}
