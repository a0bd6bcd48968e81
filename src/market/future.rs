//! Futures for the two market waits (cargo feature `async`), built only on `std::task`, so
//! they run on any executor.
//!
//! A future registers its task's waker on the same wait list as a blocking waiter (see
//! [`crate::wait`]) and is woken by the same targeted notification. There is no time-out: race
//! the future against your runtime's timer; dropping it at any point is safe:
//!
//! * [`AddFuture`]: an item is reserved into the cart only inside `poll`, in the same step
//!   that answers `Ready`; a future dropped before that leaves every item on sale. If a
//!   notification had already chosen the dropped future, it is passed on to the next waiter.
//! * [`PublishFuture`]: the item is on sale once `poll` answered `Ready(Ok(()))`; before that
//!   it is held by the future, and [`PublishFuture::cancel`] hands it back. Dropping the future
//!   unpublished drops the item, once.
//!
//! Leaking a pending future instead of dropping it (`mem::forget`) leaves its registration
//! queued: the next notification under its key goes to it and is lost with it, as a leaked
//! lock guard keeps its lock.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::{Cart, Inner, Producer, PublishWaitError, WaitError};
use crate::wait::{register_and_try, try_notified, Signal, Ticket, WaitList, Waiter};

/// What the two futures share: a [`Waiter`] that keeps its ticket between polls.
trait WaitingFuture: Waiter {
    /// The future's registration on its list between polls.
    fn ticket(&mut self) -> &mut Option<Ticket>;
    /// The same, to read.
    fn queued(&self) -> Option<&Ticket>;
}

/// One poll of a waiting future: after a notification (or on the first poll) try; if that
/// fails, register the task's waker under `key` with `rank`, then try once more (the steps of
/// a wait: docs/DESIGN.md, "Waits"), and stay registered only if that fails too.
fn poll_wait<F: WaitingFuture>(
    f: &mut F,
    key: u64,
    rank: u32,
    cx: &mut Context<'_>,
) -> Poll<F::Output> {
    // The ticket of a notification this poll received, if any.
    let mut notified = None;
    if let Some(ticket) = f.queued() {
        // The ticket stays in the future while the list may clone the waker (user code,
        // which may unwind): the future's drop then ends the registration.
        if !f.list().poll(ticket, cx.waker()) {
            return Poll::Pending;
        }
        // Notified: the registration is over.
        notified = f.ticket().take();
    }
    let done = match &notified {
        Some(ticket) => try_notified(f, ticket, rank),
        None => f.attempt(),
    };
    if let Some(done) = done {
        return Poll::Ready(done);
    }
    let signal = Signal::Task(cx.waker().clone());
    // A spent notification queues the future again in its old place (its seniority).
    match register_and_try(f, key, rank, signal, notified) {
        Ok(done) => Poll::Ready(done),
        Err(ticket) => {
            *f.ticket() = Some(ticket);
            Poll::Pending
        }
    }
}

impl<T> Cart<T> {
    /// The future version of [`add_wait`](Cart::add_wait) (no time-out): resolves to
    /// `Ok(())` once an item equal to `item` is in the cart, or to `Err(WaitError::Closed)`
    /// when the market is closed first. Dropping it before it resolves leaves the cart and the
    /// items on sale unchanged.
    ///
    /// # Panics
    ///
    /// When the future is polled again after it resolved.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::task::{Context, Poll, Waker};
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = Context::from_waker(Waker::noop());
    /// #     loop { if let Poll::Ready(r) = f.as_mut().poll(&mut cx) { return r; } std::thread::yield_now(); }
    /// # }
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let mut p = market.register_producer();
    /// let mut c = market.new_cart();
    /// p.publish(5).unwrap();
    /// assert_eq!(block_on(c.add_async(&5)), Ok(()));
    /// assert_eq!(c.items(), &[5]);
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn add_async<'a>(&'a mut self, item: &'a T) -> AddFuture<'a, T> {
        let inner = self.held.keeper();
        let hash = (inner.hash)(&inner.index, item);
        AddFuture {
            cart: self,
            item,
            hash,
            ticket: None,
            done: false,
        }
    }
}

impl<T> Producer<T> {
    /// The future version of [`publish_wait`](Producer::publish_wait) (no time-out):
    /// resolves to `Ok(())` once `item` is on sale, or to `Err(PublishWaitError::Closed(item))`
    /// when the market is closed while this producer is at its limit. Dropping it unresolved
    /// drops the item (once); [`PublishFuture::cancel`] hands it back instead.
    ///
    /// # Panics
    ///
    /// When the future is polled again after it resolved.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::task::{Context, Poll, Waker};
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = Context::from_waker(Waker::noop());
    /// #     loop { if let Poll::Ready(r) = f.as_mut().poll(&mut cx) { return r; } std::thread::yield_now(); }
    /// # }
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let mut p = market.register_producer();
    /// assert_eq!(block_on(p.publish_async('x')), Ok(()));
    /// assert_eq!(p.on_sale(), 1);
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn publish_async(&mut self, item: T) -> PublishFuture<'_, T> {
        PublishFuture {
            producer: self,
            item: Some(item),
            ticket: None,
        }
    }
}

/// Resolves once an equal item is in the cart; see [`Cart::add_async`].
///
/// Invariant in `T`, as the cart it borrows:
///
/// ```compile_fail
/// use ringmarket::market::AddFuture;
///
/// fn shorten<'f, 'a>(future: AddFuture<'f, &'static str>) -> AddFuture<'f, &'a str> {
///     future
/// }
/// ```
#[must_use = "futures do nothing unless polled"]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub struct AddFuture<'a, T> {
    cart: &'a mut Cart<T>,
    item: &'a T,
    hash: u64,
    /// Queued on the product's wait list between polls.
    ticket: Option<Ticket>,
    /// Resolved: polling again would reserve a second item, so it panics instead.
    done: bool,
}

impl<T> Waiter for AddFuture<'_, T> {
    type Output = Result<(), WaitError>;

    fn list(&self) -> &WaitList {
        self.cart.held.keeper().product_waits.list(self.hash)
    }

    fn attempt(&mut self) -> Option<Result<(), WaitError>> {
        let (inner, mut cart) = self.cart.held.hold();
        let done = inner.try_reserve(&mut cart, self.item, self.hash, None);
        self.done = done.is_some();
        done
    }

    fn mismatched(&mut self) -> bool {
        self.cart.held.hold().1.collided()
    }
}

impl<T> WaitingFuture for AddFuture<'_, T> {
    fn ticket(&mut self) -> &mut Option<Ticket> {
        &mut self.ticket
    }

    fn queued(&self) -> Option<&Ticket> {
        self.ticket.as_ref()
    }
}

impl<T> Future for AddFuture<'_, T> {
    type Output = Result<(), WaitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "AddFuture polled after completion");
        let (key, rank) = (this.hash, this.cart.priority());
        poll_wait(this, key, rank, cx)
    }
}

impl<T> Drop for AddFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            // Passes a notification that chose us on to the next waiter.
            self.list().cancel(ticket);
        }
    }
}

impl<T> core::fmt::Debug for AddFuture<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AddFuture")
            .field("cart", &self.cart.id())
            .field("waiting", &self.ticket.is_some())
            .finish_non_exhaustive()
    }
}

/// Resolves once the item is on sale; see [`Producer::publish_async`].
///
/// Invariant in `T`, as the producer it borrows:
///
/// ```compile_fail
/// use ringmarket::market::PublishFuture;
///
/// fn shorten<'f, 'a>(future: PublishFuture<'f, &'static str>) -> PublishFuture<'f, &'a str> {
///     future
/// }
/// ```
#[must_use = "futures do nothing unless polled"]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub struct PublishFuture<'a, T> {
    producer: &'a mut Producer<T>,
    /// The item until it is published (or handed back).
    item: Option<T>,
    /// Queued on the producer's room list between polls.
    ticket: Option<Ticket>,
}

// The future never pins the item: it only moves it in and out by value.
impl<T> Unpin for PublishFuture<'_, T> {}

impl<T> Waiter for PublishFuture<'_, T> {
    type Output = Result<(), PublishWaitError<T>>;

    fn list(&self) -> &WaitList {
        Inner::room(self.producer.held.view().value()).0
    }

    /// One try; `None` when the item is still ours.
    fn attempt(&mut self) -> Option<Result<(), PublishWaitError<T>>> {
        let (inner, mut producer) = self.producer.held.hold();
        inner.try_publish(&mut producer, &mut self.item)
    }
}

impl<T> WaitingFuture for PublishFuture<'_, T> {
    fn ticket(&mut self) -> &mut Option<Ticket> {
        &mut self.ticket
    }

    fn queued(&self) -> Option<&Ticket> {
        self.ticket.as_ref()
    }
}

impl<T> PublishFuture<'_, T> {
    /// Stops waiting and hands the item back, or `None` when it was already published (the
    /// future had resolved to `Ok`).
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let mut p = market.register_producer();
    /// p.publish(1).unwrap();
    /// let waiting = p.publish_async(2);
    /// assert_eq!(waiting.cancel(), Some(2));
    /// ```
    pub fn cancel(mut self) -> Option<T> {
        self.item.take()
    }
}

impl<T> Future for PublishFuture<'_, T> {
    type Output = Result<(), PublishWaitError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(this.item.is_some(), "PublishFuture polled after completion");
        let (_, key) = Inner::room(this.producer.held.view().value());
        poll_wait(this, key, 0, cx)
    }
}

impl<T> Drop for PublishFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.list().cancel(ticket);
        }
        // An unpublished item is dropped here, with the future's fields.
    }
}

impl<T> core::fmt::Debug for PublishFuture<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PublishFuture")
            .field("producer", &self.producer.id())
            .field("published", &self.item.is_none())
            .finish_non_exhaustive()
    }
}
