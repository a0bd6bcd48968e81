//! The lock-free marketplace: producers put items on sale, carts reserve equal items, return
//! them, and place orders.
//!
//! Two ways in:
//!
//! - the handle API ([`Market::register_producer`] gives a [`Producer`], [`Market::new_cart`]
//!   a [`Cart`]): each handle owns its producer or cart, so the type system keeps it single;
//! - the id API ([`Market::register_producer_id`], [`Market::publish`],
//!   [`Market::add_to_cart`], ...): ids can be passed around; a call on an id that another
//!   call is using at that moment is refused with a `Busy` [`IdError`] instead of waiting.
//!
//! Waiting follows the crate's vocabulary (see [`mpmc`](crate::mpmc#names)): [`Cart::add`] and
//! [`Producer::publish`] never block; [`Cart::add_wait`] and [`Producer::publish_wait`] block
//! with no time-out; [`Cart::add_timeout`] and [`Producer::publish_timeout`] wait at most a
//! given time and may end with [`WaitError::Timeout`]; `add_async` and `publish_async` are
//! their futures (cargo feature `async`). Every wait ends with [`WaitError::Closed`] (with the
//! item, for a publish) once the market is [closed](Market::close) or nothing else could end
//! it.
//!
//! Both are implemented by the same lock-free core; the [`Marketplace`] trait is the id API,
//! shared with [`MutexMarket`](crate::baseline::MutexMarket). How it works, and why it is
//! correct, is in `docs/DESIGN.md`.
//!
//! # Examples
//!
//! ```
//! use ringmarket::Market;
//!
//! let market = Market::new(2).unwrap();
//! let mut producer = market.register_producer();
//! let mut cart = market.new_cart();
//!
//! producer.publish("apple").unwrap();
//! producer.publish("pear").unwrap();
//! assert!(producer.publish("plum").is_err()); // two on sale is the limit
//!
//! assert!(cart.add(&"pear"));
//! assert!(!cart.add(&"pear")); // the only pear is in the cart
//! producer.publish("plum").unwrap(); // the reservation freed room
//! assert_eq!(cart.place_order(), vec!["pear"]);
//! ```

// Inside this module, the operation that the public API calls `Cart::add` and
// `Marketplace::add_to_cart` is a *reservation* (`reserve`): it takes an equal item off sale
// into a cart. The files, one concept each (docs/DESIGN.md has the structure and the proofs):
//
// - `segment.rs`: the slot state machine; `shelf.rs`: the segments one owner fills;
//   `index.rs`: the buckets and the search (the double collect); `hasher.rs`: the bucket hash;
// - `ids.rs`: ids; `error.rs`: errors; `registry.rs`: the entries behind the ids and the
//   guards that prove exclusive use of one;
// - `account.rs`: a producer's account; `retirement.rs`: when a handle's entry is reused;
// - `inner.rs`: the shared state and the core operations; `wait.rs`: the waits;
//   `handle.rs`, `producer.rs`, `cart.rs`, `future.rs`, `api.rs`: what users hold and call.

mod account;
mod api;
mod cart;
mod error;
#[cfg(feature = "async")]
mod future;
mod handle;
mod hasher;
mod ids;
mod index;
mod inner;
mod producer;
mod registry;
mod retirement;
mod segment;
mod shelf;
mod wait;

use core::hash::Hash;
use core::marker::PhantomData;

pub use api::{Marketplace, Stats};
pub use cart::Cart;
pub use error::{IdError, PublishError, PublishWaitError, WaitError};
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use future::{AddFuture, PublishFuture};
pub use ids::{CartId, ProducerId};
pub use producer::Producer;

use crate::sync::{AtomicBool, AtomicUsize, Ordering};
use crate::ZeroCapacity;
use cart::CartShared;
use handle::Handle;
pub(crate) use ids::MarketTag;
use index::Index;
use inner::Inner;
use producer::ProducerShared;
use registry::{Guard, Held, Refused, Registry};
use wait::ProductWaits;

/// Buckets of the index unless told otherwise.
const DEFAULT_BUCKETS: usize = 1024;

/// A lock-free marketplace of items of type `T`.
///
/// Cloning a `Market` gives another reference to the same market (it is an `Arc` inside).
/// Every producer may have at most `queue_size_per_producer` items on sale when it publishes;
/// a cart reserves an on-sale item *equal* to the one it asks for, from any producer.
///
/// See the [module documentation](self) for the two APIs, and [`Marketplace`] for the id API
/// in trait form.
///
/// # Examples
///
/// ```
/// use ringmarket::Market;
/// use std::thread;
///
/// let market = Market::new(4).unwrap();
/// let mut producer = market.register_producer();
/// let shop = market.clone();
/// let consumer = thread::spawn(move || {
///     let mut cart = shop.new_cart();
///     let mut got = 0;
///     while got < 100 {
///         if cart.add(&7_u32) {
///             got += 1;
///         }
///     }
///     cart.place_order().len()
/// });
/// for _ in 0..100 {
///     let mut item = 7_u32;
///     while let Err(full) = producer.publish(item) {
///         item = full.into_inner();
///         thread::yield_now();
///     }
/// }
/// assert_eq!(consumer.join().unwrap(), 100);
/// ```
///
/// # Variance and threads
///
/// `Market<T>` is invariant in `T`: a market of `&'static str` cannot be used as a market of
/// shorter-lived strings (which could then be published into it and taken out as `'static`).
///
/// ```compile_fail
/// fn shorten<'a>(market: ringmarket::Market<&'static str>) -> ringmarket::Market<&'a str> {
///     market
/// }
/// ```
///
/// It is `Send` and `Sync` when `T` is `Send`, and neither otherwise:
///
/// ```compile_fail
/// fn send<S: Send>(_: S) {}
/// send(ringmarket::Market::<std::rc::Rc<u8>>::new(1).unwrap());
/// ```
pub struct Market<T> {
    inner: Handle<T>,
}

impl<T> Clone for Market<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> core::fmt::Debug for Market<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Market")
            .field("queue_size_per_producer", &self.inner.capacity)
            .finish_non_exhaustive()
    }
}

impl<T: Eq + Hash> Market<T> {
    /// A market whose producers may each have `queue_size_per_producer` items on sale.
    ///
    /// # Errors
    ///
    /// [`ZeroCapacity`] when `queue_size_per_producer` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::{Market, ZeroCapacity};
    ///
    /// assert!(Market::<u8>::new(0).is_err_and(|e| e == ZeroCapacity));
    /// assert!(Market::<u8>::new(1).is_ok());
    /// ```
    pub fn new(queue_size_per_producer: usize) -> Result<Self, ZeroCapacity> {
        Self::with_buckets(queue_size_per_producer, DEFAULT_BUCKETS)
    }

    /// Like [`Market::new`], with an index of `buckets` hash buckets (rounded up to a power
    /// of two, between 1 and 2^20; the default is 1024). More buckets than distinct products
    /// on sale keep searches short; fewer save memory (each bucket costs a cache line in the
    /// index and two pointers in every producer, and in every cart that returns items).
    ///
    /// # Errors
    ///
    /// [`ZeroCapacity`] when `queue_size_per_producer` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::<u8>::with_buckets(8, 1).unwrap();
    /// assert_eq!(market.queue_size_per_producer(), 8);
    /// ```
    pub fn with_buckets(
        queue_size_per_producer: usize,
        buckets: usize,
    ) -> Result<Self, ZeroCapacity> {
        if queue_size_per_producer == 0 {
            return Err(ZeroCapacity);
        }
        Ok(Self {
            inner: Handle::new(Inner {
                capacity: queue_size_per_producer,
                tag: MarketTag::unique(),
                eq: |a, b| a == b,
                hash: |index, item| index.hash(item),
                publish_op: Inner::publish_inlined,
                reserve_op: Inner::reserve_inlined,
                index: Index::new(buckets),
                product_waits: ProductWaits::new(),
                closed: AtomicBool::new(false),
                handles: AtomicUsize::new(1),
                producers: Registry::new(),
                carts: Registry::new(),
                _invariant: PhantomData,
            }),
        })
    }
}

impl<T> Market<T> {
    /// The per-producer limit this market was created with.
    pub fn queue_size_per_producer(&self) -> usize {
        self.inner.capacity
    }

    /// Registers a producer and returns the handle that owns it.
    ///
    /// The handle's [`id`](Producer::id) is refused by the id API ([`IdError::ProducerBusy`])
    /// while the handle lives, and unknown after it is dropped; items it published stay on
    /// sale.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let mut p = market.register_producer();
    /// assert!(p.publish(1).is_ok());
    /// assert_eq!(p.publish(2).unwrap_err().into_inner(), 2);
    /// ```
    pub fn register_producer(&self) -> Producer<T> {
        let (index, held) = Held::new(self.inner.clone(), |inner| {
            let (index, entry) = inner.producers.register_held();
            entry.value().account.registered(entry.slot(), true);
            (index, entry)
        });
        Producer::new(held, ProducerId::tagged(self.inner.tag, index))
    }

    /// Opens a cart and returns the handle that owns it.
    ///
    /// The handle's [`id`](Cart::id) is refused by the id API ([`IdError::CartBusy`]) while the
    /// handle lives, and unknown after it is dropped. Dropping the handle drops the items in
    /// the cart.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let mut cart = market.new_cart();
    /// assert!(!cart.add(&"nothing on sale"));
    /// ```
    pub fn new_cart(&self) -> Cart<T> {
        let (index, held) = Held::new(self.inner.clone(), |inner| inner.carts.register_held());
        Cart::new(held, CartId::tagged(self.inner.tag, index))
    }

    /// Registers a producer for the id API.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let p = market.register_producer_id();
    /// assert!(market.publish(p, 'x').is_ok());
    /// ```
    pub fn register_producer_id(&self) -> ProducerId {
        let (index, entry) = self.inner.producers.register_idle();
        entry.value.account.registered(entry.slot(), false);
        ProducerId::tagged(self.inner.tag, index)
    }

    /// Opens a cart for the id API.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::<char>::new(1).unwrap();
    /// let c = market.new_cart_id();
    /// assert_eq!(market.place_order(c), Ok(vec![]));
    /// ```
    pub fn new_cart_id(&self) -> CartId {
        CartId::tagged(self.inner.tag, self.inner.carts.register_idle().0)
    }

    /// Puts `item` on sale under `producer`. Lock-free, and wait-free while the producer has
    /// a free slot in the item's bucket (always, once it has published that many items of
    /// that bucket before).
    ///
    /// # Errors
    ///
    /// The item is handed back in every error: [`PublishError::Full`] when the producer
    /// already has its limit of items on sale (a concurrent reservation may free room at
    /// any moment), [`PublishError::Id`] when the id is unknown or in use.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::market::{IdError, PublishError};
    ///
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let p = market.register_producer_id();
    /// let stranger = ringmarket::Market::<u8>::new(1).unwrap().register_producer_id();
    /// market.publish(p, 1).unwrap();
    /// assert!(matches!(market.publish(p, 2), Err(PublishError::Full(2))));
    /// let other = market.register_producer_id();
    /// assert!(market.publish(other, 3).is_ok());
    /// // An id of another market is unknown here.
    /// assert!(matches!(
    ///     market.publish(stranger, 4),
    ///     Err(PublishError::Id(IdError::UnknownProducer(_), 4))
    /// ));
    /// ```
    pub fn publish(&self, producer: ProducerId, item: T) -> Result<(), PublishError<T>> {
        let mut entry = match producer
            .number_in(self.inner.tag)
            .ok_or(Refused::Unknown)
            .and_then(|number| self.inner.producers.acquire(number))
        {
            Ok(busy) => busy,
            Err(Refused::Unknown) => {
                return Err(PublishError::Id(IdError::UnknownProducer(producer), item))
            }
            Err(Refused::Busy) => {
                return Err(PublishError::Id(IdError::ProducerBusy(producer), item))
            }
        };
        // The guard gives the entry back when it drops, also if user code unwinds.
        self.inner.publish(&mut entry, item).map_err(Into::into)
    }

    /// Reserves into `cart` an on-sale item equal to `item`, from any producer; `Ok(false)`
    /// when none was on sale. Never a spurious `false`: when an equal item stays on sale for
    /// the whole call, the call takes one.
    ///
    /// # Errors
    ///
    /// [`IdError`] when the cart id is unknown or in use; nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let p = market.register_producer_id();
    /// let c = market.new_cart_id();
    /// market.publish(p, "tea").unwrap();
    /// assert_eq!(market.add_to_cart(c, &"tea"), Ok(true));
    /// assert_eq!(market.add_to_cart(c, &"tea"), Ok(false));
    /// ```
    pub fn add_to_cart(&self, cart: CartId, item: &T) -> Result<bool, IdError> {
        self.with_cart(cart, |inner, c| inner.reserve(c, item))
    }

    /// Returns the most recently added item equal to `item` from `cart` to sale, under the
    /// producer it came from (whose count may then exceed the limit); `Ok(false)` when the
    /// cart holds no equal item.
    ///
    /// # Errors
    ///
    /// [`IdError`] when the cart id is unknown or in use; nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let p = market.register_producer_id();
    /// let c = market.new_cart_id();
    /// market.publish(p, 5).unwrap();
    /// market.add_to_cart(c, &5).unwrap();
    /// assert_eq!(market.remove_from_cart(c, &5), Ok(true));
    /// assert_eq!(market.remove_from_cart(c, &5), Ok(false));
    /// assert_eq!(market.add_to_cart(c, &5), Ok(true)); // it was back on sale
    /// ```
    pub fn remove_from_cart(&self, cart: CartId, item: &T) -> Result<bool, IdError> {
        self.with_cart(cart, |inner, c| inner.give_back(c, item))
    }

    /// Empties `cart`, returning its items in the order they were added (minus returned
    /// ones). The cart stays usable, with a new buffer for as many items as this order had (up
    /// to 4 KiB of them).
    ///
    /// # Errors
    ///
    /// [`IdError`] when the cart id is unknown or in use; nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(3).unwrap();
    /// let p = market.register_producer_id();
    /// let c = market.new_cart_id();
    /// for x in [1, 2, 3] {
    ///     market.publish(p, x).unwrap();
    /// }
    /// for x in [3, 1] {
    ///     market.add_to_cart(c, &x).unwrap();
    /// }
    /// assert_eq!(market.place_order(c), Ok(vec![3, 1]));
    /// assert_eq!(market.place_order(c), Ok(vec![]));
    /// ```
    pub fn place_order(&self, cart: CartId) -> Result<Vec<T>, IdError> {
        self.with_cart(cart, |inner, c| inner.place_order(c))
    }

    /// Like [`place_order`](Market::place_order), but appends the items to `out` (see
    /// [`Cart::place_order_into`]).
    ///
    /// # Errors
    ///
    /// [`IdError`] when the cart id is unknown or in use; nothing changes then (`out`
    /// included).
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(2).unwrap();
    /// let p = market.register_producer_id();
    /// let c = market.new_cart_id();
    /// let mut out = Vec::new();
    /// market.publish(p, 5).unwrap();
    /// market.add_to_cart(c, &5).unwrap();
    /// market.place_order_into(c, &mut out).unwrap();
    /// market.place_order_into(c, &mut out).unwrap();
    /// assert_eq!(out, [5]);
    /// ```
    pub fn place_order_into(&self, cart: CartId, out: &mut Vec<T>) -> Result<(), IdError> {
        self.with_cart(cart, |inner, c| inner.place_order_into(c, out))
    }

    fn with_cart<R>(
        &self,
        cart: CartId,
        f: impl FnOnce(&Inner<T>, &mut Guard<'_, CartShared<T>>) -> R,
    ) -> Result<R, IdError> {
        let mut entry = match cart
            .number_in(self.inner.tag)
            .ok_or(Refused::Unknown)
            .and_then(|number| self.inner.carts.acquire(number))
        {
            Ok(busy) => busy,
            Err(Refused::Unknown) => return Err(IdError::UnknownCart(cart)),
            Err(Refused::Busy) => return Err(IdError::CartBusy(cart)),
        };
        // The guard gives the entry back when it drops, also if user code unwinds.
        Ok(f(&self.inner, &mut entry))
    }

    /// Copies of the items in `cart`, in the order added (for inspection and tests).
    ///
    /// # Errors
    ///
    /// [`IdError`] when the cart id is unknown or in use.
    pub fn cart_contents(&self, cart: CartId) -> Result<Vec<T>, IdError>
    where
        T: Clone,
    {
        self.with_cart(cart, |_, c| c.cart_mut().items.clone())
    }

    /// A snapshot of the market's counters. Each number is read without stopping anyone, so
    /// while operations run concurrently the numbers may belong to slightly different moments;
    /// when the market is quiet they are exact.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(2).unwrap();
    /// let mut p = market.register_producer();
    /// let mut c = market.new_cart();
    /// p.publish('a').unwrap();
    /// p.publish('b').unwrap();
    /// c.add(&'a');
    /// let s = market.stats();
    /// assert_eq!(s.on_sale, vec![(p.id(), 1)]);
    /// assert_eq!((s.in_carts, s.ordered), (1, 0));
    /// c.place_order();
    /// assert_eq!(market.stats().ordered, 1);
    /// ```
    pub fn stats(&self) -> Stats {
        let inner = &*self.inner;
        Stats {
            on_sale: inner
                .producers
                .iter()
                // Relaxed: a statistic.
                .map(|(i, e)| (ProducerId::tagged(inner.tag, i), e.value.account.on_sale()))
                .collect(),
            in_carts: inner
                .carts
                .iter()
                // Relaxed: a statistic.
                .map(|(_, e)| e.value.len.load(Ordering::Relaxed))
                .sum(),
            // Every entry, vacant ones included: a dropped cart's orders still count.
            ordered: inner
                .carts
                .iter_all()
                // Relaxed: a statistic.
                .map(|e| e.value.ordered.load(Ordering::Relaxed))
                .sum(),
            slots: inner.index.slots(),
            entries: inner.producers.allocated() + inner.carts.allocated(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
