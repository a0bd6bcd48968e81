//! Keyed waits for the marketplace, on top of the crate's one [`WaitList`]: a cart waiting for
//! a product, a producer waiting for room, and [`Market::close`], which ends every wait.
//!
//! * A cart waits on one of [`PRODUCT_WAIT_LISTS`] lists, chosen by the high bits of the
//!   product's hash, *under the key of the full 64-bit hash*. A publish (or a return) of a
//!   product wakes the first waiter queued under that hash and nobody else, so one item wakes
//!   one consumer of that product; sharing a list with other products costs a short scan under
//!   its lock, never a wake-up.
//! * A producer waits on the list in its own counts; a reservation of one of its items (which
//!   frees room) wakes it.
//! * The protocol and the argument that no wake-up is lost are in [`crate::wait`]. The
//!   notifiers' state changes are the `SeqCst` slot fill (publish, return) and the `SeqCst`
//!   `taken.fetch_add` (reservation); the waiters' attempts run after the list's `SeqCst`
//!   fence. Closing is one more such change: a `SeqCst` swap of `closed`, then a notification
//!   of every list; a waiter reads `closed` in its attempt, after the fence, so it either sees
//!   it or is woken.
//!
//! Waits work for every `Hash` std allows. Different products whose 64-bit hashes are equal
//! (a `Hash` that leaves out a field `Eq` compares, a constant one, a collision) share a key:
//! a publish of one may wake a waiter for the other, whose try then claims an item of its hash
//! that is not its product; it passes the notification forward to the waiters behind it
//! (`WaitList::wait_until_passing`), so the chain ends and the right waiter is reached. A try
//! waits for another reservation's verdict on a claimed slot of its hash rather than sleeping
//! on it, so a put-back needs no notification. docs/DESIGN.md, "Waits", has the argument.

use core::ops::Deref;
use std::time::{Duration, Instant};

use super::{CartShared, Inner, Market, ProducerShared, PublishWaitError, WaitError};
use crate::sync::{fence, Arc, Ordering};
use crate::wait::{notify_all_of, Spin, WaitList};
use crate::Full;

/// Lists of carts waiting for a product (by the hash's high bits).
pub(crate) const PRODUCT_WAIT_LISTS: usize = if cfg!(loom) { 2 } else { 64 };

/// The key a producer's room waiters use on the producer's own list.
pub(super) const ROOM: u64 = 0;

/// Carts waiting for products, keyed by the product's full hash.
pub(crate) struct ProductWaits {
    lists: Box<[WaitList]>,
}

impl ProductWaits {
    pub(crate) fn new() -> Self {
        Self {
            lists: (0..PRODUCT_WAIT_LISTS).map(|_| WaitList::new()).collect(),
        }
    }

    /// The list that waiters for products with this hash queue on.
    #[inline]
    pub(crate) fn list(&self, hash: u64) -> &WaitList {
        // High bits: the low ones pick the index bucket.
        &self.lists[(hash >> 40) as usize % PRODUCT_WAIT_LISTS]
    }

    /// Wakes one cart waiting for a product with this hash; call after putting one on sale
    /// with a `SeqCst` read-modify-write.
    #[inline]
    pub(crate) fn notify(&self, hash: u64) {
        self.list(hash).notify_one(hash);
    }
}

/// What every handle of a market (each [`Market`] clone, [`Producer`](super::Producer) and
/// [`Cart`](super::Cart)) holds: a reference to the shared state, counted in
/// `Inner::handles`, so that a wait can tell when nobody else could ever end it. When the
/// count falls to 1, the remaining handle's waits end with [`WaitError::Closed`]
/// (docs/DESIGN.md, "Abandoned markets"). Counting costs nothing on the operations: only
/// creating and dropping handles touch the count.
pub(crate) struct Handle<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Handle<T> {
    /// The first handle of a new market (whose count of handles starts at 1).
    pub(super) fn new(inner: Inner<T>) -> Self {
        // Relaxed: nobody else can see the count yet.
        debug_assert_eq!(inner.handles.load(Ordering::Relaxed), 1);
        Self {
            inner: Arc::new(inner),
        }
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        // Relaxed, as `Arc::clone`: the clone is made from a live handle, so the count is
        // above 1 from before this increment until after it, and a waiter reading any value
        // of it in between sees no "last handle".
        self.inner.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> Drop for Handle<T> {
    fn drop(&mut self) {
        // ORDERING: SeqCst read-modify-write: the state change of the wait handshake
        // (`crate::wait`), paired with the waiters' load in `Inner::wait_is_hopeless` after
        // their fence; the notifications complete it.
        if self.inner.handles.fetch_sub(1, Ordering::SeqCst) == 2 {
            // One handle is left: if it waits, nobody else can end its wait.
            self.inner.notify_every_waiter();
        }
    }
}

impl<T> Deref for Handle<T> {
    type Target = Inner<T>;

    #[inline]
    fn deref(&self) -> &Inner<T> {
        &self.inner
    }
}

impl<T> Market<T> {
    /// Ends every wait, now and later: blocked [`Cart::add_timeout`](super::Cart::add_timeout) and
    /// [`Producer::publish_timeout`](super::Producer::publish_timeout) calls (and their futures) that
    /// cannot succeed at once return [`WaitError::Closed`] instead of sleeping. The operations
    /// that do not wait are unaffected, and a wait whose operation can succeed at once still
    /// does. Closing cannot be undone; closing twice is harmless.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::market::WaitError;
    /// use std::{thread, time::Duration};
    ///
    /// let market = ringmarket::Market::<u32>::new(1).unwrap();
    /// let mut cart = market.new_cart();
    /// let waiter = thread::spawn(move || cart.add_timeout(&1, Duration::MAX));
    /// market.close();
    /// assert_eq!(waiter.join().unwrap(), Err(WaitError::Closed));
    /// assert!(market.is_closed());
    /// ```
    pub fn close(&self) {
        let inner = &*self.inner;
        // ORDERING: SeqCst read-modify-write: the state change of the wait handshake
        // (`crate::wait`), paired with the waiters' load in `Inner::is_closed` after their
        // fence; the notifications below complete it.
        if inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        inner.notify_every_waiter();
    }

    /// Whether [`close`](Market::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl<T> Inner<T> {
    /// Wakes every waiting cart and producer, after a `SeqCst` read-modify-write that may end
    /// their waits (closing, or the last handle but one going).
    fn notify_every_waiter(&self) {
        // ORDERING: SeqCst fence: the registry walk below reads which producers exist with
        // Relaxed/Acquire loads; the fence orders them after the caller's read-modify-write,
        // so that a producer registered since, whose wait's fence preceded it (and so read the
        // old state), is found (C++20 [atomics.order] p4 covers loads after a SeqCst fence
        // only).
        fence(Ordering::SeqCst);
        // Every list is notified even if a task's waker panics (user code): the first panic
        // goes on once all are.
        let lists = self.product_waits.lists.iter();
        let rooms = self.producers.iter().map(|(_, p)| &p.value.counts.room);
        notify_all_of(lists.chain(rooms));
    }

    /// Whether the market is closed; read by waiters after their handshake fence.
    #[inline]
    pub(super) fn is_closed(&self) -> bool {
        // ORDERING: Acquire, paired with the SeqCst swap in `Market::close`; waiters read it
        // after the wait list's SeqCst fence, which the handshake needs.
        self.closed.load(Ordering::Acquire)
    }

    /// Whether a wait that cannot succeed now never will: the market is closed, or the
    /// waiter's handle is the market's last (docs/DESIGN.md, "Abandoned markets"). Read by
    /// waiters after their handshake fence.
    #[inline]
    fn wait_is_hopeless(&self) -> bool {
        // ORDERING: Acquire, paired with the SeqCst `fetch_sub` in `Handle::drop`; read after
        // the wait list's SeqCst fence, as the handshake needs.
        self.is_closed() || self.handles.load(Ordering::Acquire) == 1
    }

    /// One try of a cart's wait: `Some` when it is over.
    ///
    /// # Safety
    ///
    /// The caller holds `cart`'s registry entry exclusively; `hash` is `item`'s.
    #[inline]
    pub(super) unsafe fn try_reserve(
        &self,
        cart: &CartShared<T>,
        item: &T,
        hash: u64,
        deadline: Option<Instant>,
    ) -> Option<Result<(), WaitError>> {
        // Never waits for an item of its hash that is prepared (being published or returned):
        // a waiter answers "not now" and sleeps, and the publish that puts such
        // an item on sale notifies it afterwards (its `SeqCst` fill follows our load of the
        // slot, so its load of the waiter count follows our registration). Waiting here instead
        // would spin on a thread that may be descheduled, or, under loom, on two waiters that
        // yield to each other forever. A slot claimed by another reservation is waited for
        // (its verdict notifies nobody): see the module docs.
        cart.local.with_mut(|l| {
            // SAFETY: the caller holds the cart's entry.
            unsafe { (*l).hints.collided = false }
        });
        // SAFETY: the caller's guarantee.
        if unsafe { self.reserve_hashed(cart, item, hash, false, deadline) } {
            Some(Ok(()))
        } else if self.wait_is_hopeless() {
            // The wait ends here, so its answer must be exact: one reservation that waits
            // for claimed items, as `Cart::add` does.
            // SAFETY: the caller's guarantee.
            let reserved = unsafe { self.reserve_hashed(cart, item, hash, true, deadline) };
            Some(if reserved {
                Ok(())
            } else {
                Err(WaitError::Closed)
            })
        } else {
            None
        }
    }

    /// Whether the cart's last try claimed an item of its hash that is another product (its
    /// notification is then passed forward: `WaitList::wait_until_passing`).
    ///
    /// # Safety
    ///
    /// The caller holds `cart`'s registry entry exclusively.
    #[inline]
    pub(super) unsafe fn collided(&self, cart: &CartShared<T>) -> bool {
        // SAFETY: the caller's guarantee.
        cart.local.with(|l| unsafe { (*l).hints.collided })
    }

    /// One try of a producer's wait: `Ok` when it is over (published, or closed with the item
    /// handed back in the error), `Err(item)` for "not now".
    ///
    /// # Safety
    ///
    /// The caller holds `producer`'s registry entry exclusively.
    #[inline]
    pub(super) unsafe fn try_publish(
        &self,
        producer: &ProducerShared<T>,
        item: T,
    ) -> Result<Result<(), PublishWaitError<T>>, T> {
        // SAFETY: the caller's guarantee.
        match unsafe { self.publish(producer, item) } {
            Ok(()) => Ok(Ok(())),
            Err(Full(item)) if self.wait_is_hopeless() => Ok(Err(PublishWaitError::Closed(item))),
            Err(Full(item)) => Err(item),
        }
    }

    /// Reserves like `reserve`, waiting up to `timeout` for an equal item to be put on sale;
    /// among carts waiting for equal items, those of higher `rank` are served first.
    ///
    /// # Safety
    ///
    /// The caller holds `cart`'s registry entry exclusively.
    pub(super) unsafe fn reserve_wait(
        &self,
        cart: &CartShared<T>,
        item: &T,
        rank: u32,
        timeout: Duration,
    ) -> Result<(), WaitError> {
        let hash = (self.hash)(&self.index, item);
        // `None` for a time-out too long to have an end.
        let deadline = Instant::now().checked_add(timeout);
        cart.local.with_mut(|l| {
            // SAFETY: the caller holds the cart's entry.
            let l = unsafe { &mut *l };
            // Room for the item before sleeping rather than after waking: an allocation
            // less between a publish and the waiter's return.
            l.items.reserve(1);
            l.from.reserve(1);
        });
        self.product_waits
            .list(hash)
            .wait_until_passing(
                hash,
                rank,
                Some(timeout),
                Spin::Learnt,
                || {
                    // SAFETY: the caller's guarantee.
                    unsafe { self.try_reserve(cart, item, hash, deadline) }
                },
                || {
                    // SAFETY: the caller's guarantee.
                    unsafe { self.collided(cart) }
                },
            )
            .unwrap_or_else(|| {
                // Timed out. The tries above do not wait for prepared items; this last one
                // does (as `Cart::add`), but, the deadline having passed, for no other
                // reservation's verdict (docs/DESIGN.md, "Waiting for a verdict").
                let reserved =
                    // SAFETY: the caller's guarantee.
                    unsafe { self.reserve_hashed(cart, item, hash, true, Some(Instant::now())) };
                if reserved {
                    Ok(())
                } else {
                    Err(WaitError::Timeout)
                }
            })
    }

    /// Publishes like `publish`, waiting up to `timeout` for room.
    ///
    /// # Safety
    ///
    /// The caller holds `producer`'s registry entry exclusively.
    pub(super) unsafe fn publish_timeout(
        &self,
        producer: &ProducerShared<T>,
        item: T,
        timeout: Duration,
    ) -> Result<(), PublishWaitError<T>> {
        let mut pending = Some(item);
        let done = producer
            .counts
            .room
            .wait_until(ROOM, 0, Some(timeout), Spin::Learnt, || {
                let item = pending.take()?;
                // SAFETY: the caller's guarantee.
                match unsafe { self.try_publish(producer, item) } {
                    Ok(done) => Some(done),
                    Err(item) => {
                        pending = Some(item);
                        None
                    }
                }
            });
        match (done, pending) {
            (Some(done), _) => done,
            (None, Some(item)) => Err(PublishWaitError::new(WaitError::Timeout, item)),
            (None, None) => unreachable!("the item is either published or pending"),
        }
    }

    /// The list and key a producer's room waiters use.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(super) fn room(producer: &ProducerShared<T>) -> (&WaitList, u64) {
        (&producer.counts.room, ROOM)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
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
        producers.map(|(_, e)| e.value.counts.room.queued()).sum()
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
                    .map(|(_, e)| e.value.counts.room.queued())
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
}
