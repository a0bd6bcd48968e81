//! Keyed waits for the marketplace, on top of the crate's one [`WaitList`]: a cart waiting for
//! a product, a producer waiting for room, and [`Market::close`], which ends every wait.
//!
//! * A cart waits on one of [`PRODUCT_WAIT_LISTS`] lists, chosen by the high bits of the
//!   product's hash, *under the key of the full 64-bit hash*. A publish (or a return) of a
//!   product wakes the first waiter queued under that hash and nobody else, so one item wakes
//!   one consumer of that product; sharing a list with other products costs a short scan under
//!   its lock, never a wake-up.
//! * A producer waits on the list in its own account; a reservation of one of its items (which
//!   frees room) wakes it.
//! * Every wait takes the steps of [`crate::wait`]. Which state changes notify (the mark that
//!   puts an item on sale, a reservation's count of its take, closing, the drop that leaves
//!   one handle), and why no wake-up is lost, is written in docs/DESIGN.md, "Waits".
//!
//! Waits work for every `Hash` std allows: products with equal 64-bit hashes share a key, and
//! a waiter woken for another product passes the notification forward ([`Waiter::mismatched`];
//! docs/DESIGN.md, "Shared keys"). A try waits for another reservation's verdict on a claimed
//! slot of its hash rather than sleeping on it, so a put-back needs no notification
//! (docs/DESIGN.md, "Waiters do not wait on prepared slots").

use std::time::{Duration, Instant};

use super::registry::Guard;
use super::{CartShared, Inner, Market, ProducerShared, PublishWaitError, WaitError};
use crate::sync::{fence, Ordering};
use crate::wait::{notify_all_of, wait, Spin, WaitList, Waiter};
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
        // ORDERING: SeqCst read-modify-write: the state change, step (a), of every wait
        // (docs/DESIGN.md, "Waits"), paired with the waiters' load in `Inner::is_closed` after
        // their fence; the notifications below complete it.
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
    pub(super) fn notify_every_waiter(&self) {
        // ORDERING: SeqCst fence: the registry walk below reads which producers exist with
        // Relaxed/Acquire loads; the fence orders them after the caller's read-modify-write,
        // so that a producer registered since, whose wait's fence preceded it (and so read the
        // old state), is found (C++20 [atomics.order] p4 covers loads after a SeqCst fence
        // only).
        fence(Ordering::SeqCst);
        // Every list is notified even if a task's waker panics (user code): the first panic
        // goes on once all are.
        let lists = self.product_waits.lists.iter();
        let rooms = self.producers.iter().map(|(_, p)| &p.value.account.room);
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

    /// One try of a cart's wait, through its entry's guard `cart`: `Some` when it is over.
    /// `hash` is `item`'s.
    #[inline]
    pub(super) fn try_reserve(
        &self,
        cart: &mut Guard<'_, CartShared<T>>,
        item: &T,
        hash: u64,
        deadline: Option<Instant>,
    ) -> Option<Result<(), WaitError>> {
        // Never waits for an item of its hash that is prepared (being published or returned):
        // the waiter answers "not now" and sleeps, and the publish that puts the item on sale
        // notifies it. A slot claimed by another reservation is waited for (its verdict
        // notifies nobody). docs/DESIGN.md, "Waiters do not wait on prepared slots".
        cart.cart_mut().hints.collided = false;
        if self.reserve_hashed(cart, item, hash, false, deadline) {
            Some(Ok(()))
        } else if self.wait_is_hopeless() {
            // The wait ends here, so its answer must be exact: one reservation that waits
            // for claimed items, as `Cart::add` does.
            let reserved = self.reserve_hashed(cart, item, hash, true, deadline);
            Some(if reserved {
                Ok(())
            } else {
                Err(WaitError::Closed)
            })
        } else {
            None
        }
    }

    /// One try of a producer's wait, through its entry's guard `producer`, to publish the
    /// item in `pending`: `Some` when the wait is over (published, or closed with the item
    /// handed back in the error); `None`, with the item back in `pending`, for "not now".
    #[inline]
    pub(super) fn try_publish(
        &self,
        producer: &mut Guard<'_, ProducerShared<T>>,
        pending: &mut Option<T>,
    ) -> Option<Result<(), PublishWaitError<T>>> {
        let item = pending.take()?;
        match self.publish(producer, item) {
            Ok(()) => Some(Ok(())),
            Err(Full(item)) if self.wait_is_hopeless() => Some(Err(PublishWaitError::Closed(item))),
            Err(Full(item)) => {
                *pending = Some(item);
                None
            }
        }
    }

    /// Reserves like `reserve`, waiting up to `timeout` for an equal item to be put on sale;
    /// among carts waiting for equal items, those of higher `rank` are served first.
    pub(super) fn reserve_wait(
        &self,
        cart: &mut Guard<'_, CartShared<T>>,
        item: &T,
        rank: u32,
        timeout: Duration,
    ) -> Result<(), WaitError> {
        /// A cart's thread waiting for an item equal to `item`.
        struct CartWait<'w, 'g, T> {
            inner: &'w Inner<T>,
            cart: &'w mut Guard<'g, CartShared<T>>,
            item: &'w T,
            hash: u64,
            deadline: Option<Instant>,
        }
        impl<T> Waiter for CartWait<'_, '_, T> {
            type Output = Result<(), WaitError>;
            fn list(&self) -> &WaitList {
                self.inner.product_waits.list(self.hash)
            }
            fn attempt(&mut self) -> Option<Result<(), WaitError>> {
                (self.inner).try_reserve(self.cart, self.item, self.hash, self.deadline)
            }
            fn mismatched(&mut self) -> bool {
                self.cart.collided()
            }
        }
        let hash = (self.hash)(&self.index, item);
        // `None` for a time-out too long to have an end.
        let deadline = Instant::now().checked_add(timeout);
        let l = cart.cart_mut();
        // Room for the item before sleeping rather than after waking: an allocation
        // less between a publish and the waiter's return.
        l.items.reserve(1);
        l.from.reserve(1);
        let mut waiting = CartWait {
            inner: self,
            cart: &mut *cart,
            item,
            hash,
            deadline,
        };
        let done = wait(&mut waiting, hash, rank, Some(timeout), Spin::Learnt);
        done.unwrap_or_else(|| {
            // Timed out. The tries above do not wait for prepared items; this last one
            // does (as `Cart::add`), but, the deadline having passed, for no other
            // reservation's verdict (docs/DESIGN.md, "Waiting for a verdict").
            if self.reserve_hashed(cart, item, hash, true, Some(Instant::now())) {
                Ok(())
            } else {
                Err(WaitError::Timeout)
            }
        })
    }

    /// Publishes like `publish`, waiting up to `timeout` for room.
    pub(super) fn publish_timeout(
        &self,
        producer: &mut Guard<'_, ProducerShared<T>>,
        item: T,
        timeout: Duration,
    ) -> Result<(), PublishWaitError<T>> {
        let mut pending = Some(item);
        let room = &producer.value().account.room;
        let done = room.wait_until(ROOM, 0, Some(timeout), Spin::Learnt, || {
            self.try_publish(producer, &mut pending)
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
        (&producer.account.room, ROOM)
    }
}

impl<T> Guard<'_, CartShared<T>> {
    /// Whether the cart's last try claimed an item of its hash that is another product (its
    /// notification is then passed forward: [`Waiter::mismatched`]).
    #[inline]
    pub(super) fn collided(&mut self) -> bool {
        self.cart_mut().hints.collided
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
