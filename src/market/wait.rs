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
mod tests;
