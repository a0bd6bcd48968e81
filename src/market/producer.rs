//! The producer: its registry entry (its account and its shelf) and the handle that owns it.

use std::time::Duration;

use super::account::Account;
use super::handle::Handle;
use super::registry::{Guard, Held};
use super::shelf::Shelf;
use super::{Market, ProducerId, PublishWaitError};
use crate::sync::UnsafeCell;
use crate::Full;

/// What a producer shares with reservations: its account, and its shelf.
pub(crate) struct ProducerShared<T> {
    pub(super) account: Account,
    /// Only whoever holds the registry entry (`BUSY` or `HELD`) touches it.
    pub(super) shelf: UnsafeCell<Shelf<T>>,
}

impl<T> Default for ProducerShared<T> {
    fn default() -> Self {
        Self {
            account: Account::new(),
            shelf: UnsafeCell::new(Shelf::default()),
        }
    }
}

impl<T> Guard<'_, ProducerShared<T>> {
    /// The producer's shelf.
    #[inline]
    pub(crate) fn shelf_mut(&mut self) -> &mut Shelf<T> {
        // SAFETY: the guard holds the entry (`BUSY` or `HELD`), so this thread alone uses its
        // cells, and `&mut self` makes this borrow the only one made through the guard.
        self.value().shelf.with_mut(|s| unsafe { &mut *s })
    }
}

/// Owns one producer of a [`Market`]: the only way to publish as that producer through the
/// handle API. `Send` but not `Clone` or `Sync`, so a producer is single by construction.
///
/// Dropping the handle retires its id; the items it published stay on sale.
///
/// # Examples
///
/// ```
/// let market = ringmarket::Market::new(2).unwrap();
/// let mut producer = market.register_producer();
/// producer.publish(String::from("bread")).unwrap();
/// assert_eq!(producer.on_sale(), 1);
/// ```
///
/// # Variance and threads
///
/// Invariant in `T` (as [`Market`]):
///
/// ```compile_fail
/// use ringmarket::market::Producer;
///
/// fn shorten<'a>(producer: Producer<&'static str>) -> Producer<&'a str> {
///     producer
/// }
/// ```
///
/// Not `Sync`, and not `Send` when `T` is not:
///
/// ```compile_fail
/// fn shared<S: Sync>(_: S) {}
/// let market = ringmarket::Market::<u8>::new(1).unwrap();
/// shared(market.register_producer());
/// ```
///
/// ```compile_fail
/// fn send<S: Send>(_: S) {}
/// let market = ringmarket::Market::<std::rc::Rc<u8>>::new(1).unwrap();
/// send(market.register_producer());
/// ```
pub struct Producer<T> {
    /// The producer's entry, held (`HELD`) by this handle for its whole life, and the market.
    pub(super) held: Held<Handle<T>, ProducerShared<T>>,
    id: ProducerId,
}

// SAFETY: the handle owns its registry entry exclusively (state `HELD`), so moving it to
// another thread moves that exclusive use along; items of type `T` it publishes move to other
// threads, hence `T: Send`. It is deliberately not `Sync`: `publish` takes `&mut self`.
unsafe impl<T: Send> Send for Producer<T> {}

impl<T> Producer<T> {
    pub(crate) fn new(held: Held<Handle<T>, ProducerShared<T>>, id: ProducerId) -> Self {
        Self { held, id }
    }

    /// This producer's id (as seen in [`Market::stats`]).
    pub fn id(&self) -> ProducerId {
        self.id
    }

    /// Puts `item` on sale. Lock-free; wait-free once this producer has published as many
    /// items into the item's index bucket as it has on sale there now.
    ///
    /// # Errors
    ///
    /// [`Full`] with the item when this producer already has its limit of items on sale
    /// (returned items count too). Reservations may free room at any moment.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let mut p = market.register_producer();
    /// let mut c = market.new_cart();
    /// p.publish(1).unwrap();
    /// assert_eq!(p.publish(2).unwrap_err().into_inner(), 2);
    /// assert!(c.add(&1));
    /// assert!(p.publish(2).is_ok());
    /// ```
    pub fn publish(&mut self, item: T) -> Result<(), Full<T>> {
        let (inner, mut producer) = self.held.hold();
        inner.publish(&mut producer, item)
    }

    /// Like [`publish`](Producer::publish), but waits for as long as it takes for room, as
    /// [`publish_timeout`](Producer::publish_timeout) does with no time-out.
    ///
    /// # Errors
    ///
    /// [`PublishWaitError::Closed`] with the item when the market is or gets
    /// [closed](Market::close) while this producer is at its limit, or this producer's handle
    /// becomes the market's last. Never [`PublishWaitError::Timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::thread;
    ///
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let mut p = market.register_producer();
    /// let mut c = market.new_cart();
    /// p.publish(1).unwrap();
    /// let seller = thread::spawn(move || {
    ///     p.publish_wait(2).unwrap(); // waits for the cart to take 1
    ///     p
    /// });
    /// c.add_wait(&1).unwrap();
    /// c.add_wait(&2).unwrap();
    /// assert_eq!(c.place_order(), [1, 2]);
    /// seller.join().unwrap();
    /// ```
    pub fn publish_wait(&mut self, item: T) -> Result<(), PublishWaitError<T>> {
        self.publish_timeout(item, Duration::MAX)
    }

    /// Like [`publish`](Producer::publish), but waits up to `timeout` for room, sleeping
    /// (after a short spin) without polling: returns as soon as the item is on sale. Only
    /// reservations of this producer's items (which free room) wake the waiting thread.
    ///
    /// # Errors
    ///
    /// The item is handed back: [`PublishWaitError::Timeout`] when this producer stayed at
    /// its limit for the whole `timeout`, [`PublishWaitError::Closed`] when the market is or
    /// gets [closed](Market::close) while it is at its limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{thread, time::Duration};
    ///
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let mut p = market.register_producer();
    /// let mut c = market.new_cart();
    /// p.publish('a').unwrap();
    /// assert!(p.publish_timeout('b', Duration::from_millis(1)).is_err());
    /// let shopper = thread::spawn(move || {
    ///     thread::sleep(Duration::from_millis(5));
    ///     assert!(c.add(&'a'));
    /// });
    /// assert!(p.publish_timeout('b', Duration::MAX).is_ok());
    /// shopper.join().unwrap();
    /// ```
    pub fn publish_timeout(
        &mut self,
        item: T,
        timeout: Duration,
    ) -> Result<(), PublishWaitError<T>> {
        let (inner, mut producer) = self.held.hold();
        inner.publish_timeout(&mut producer, item, timeout)
    }

    /// How many of this producer's items are on sale (a snapshot: reservations may lower it
    /// and returns raise it at any moment).
    pub fn on_sale(&self) -> usize {
        self.held.view().value().account.on_sale()
    }

    /// The market this producer sells in.
    pub fn market(&self) -> Market<T> {
        Market {
            inner: self.held.keeper().clone(),
        }
    }
}

impl<T> core::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
