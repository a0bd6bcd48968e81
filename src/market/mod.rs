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

mod api;
mod cart;
mod error;
#[cfg(feature = "async")]
mod future;
mod hasher;
mod ids;
mod index;
mod producer;
mod registry;
mod segment;
mod stall;
mod wait;

use core::hash::Hash;
use core::marker::PhantomData;

use crossbeam_utils::CachePadded;

pub use api::{Marketplace, Stats};
pub use cart::Cart;
pub use error::{IdError, PublishError, PublishWaitError, WaitError};
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use future::{AddFuture, PublishFuture};
pub use ids::{CartId, ProducerId};
pub use producer::Producer;

use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering, UnsafeCell};
use crate::wait::WaitList;
use crate::{Full, ZeroCapacity};
pub(crate) use ids::MarketTag;
use index::{Index, SearchHints};
use registry::{Refused, Registered, Registry, HELD, IDLE};
use segment::Item;
use stall::Stall;
use wait::{Handle, ProductWaits};

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

/// A producer's on-sale count, split by writer so that publishing needs no read-modify-write:
/// on sale = `published + net`, where `net` counts returns minus reservations (wrapping; returns
/// may push the count above the limit). One load of `net` gives the producer its exact count.
pub(crate) struct Counts {
    /// Items published; written only by the holder of the producer's registry entry.
    published: CachePadded<AtomicUsize>,
    /// Items of this producer put back on sale by any cart, minus those reserved by any cart
    /// (wrapping arithmetic).
    net: CachePadded<AtomicUsize>,
    /// The producer's thread while it waits for room (`Producer::publish_timeout`).
    room: WaitList,
    /// Items of this producer that left the market (ordered, or dropped with a cart), and
    /// whether the producer's handle is gone: see [`Lifetime`].
    life: CachePadded<Lifetime>,
}

/// When a retired producer's registry entry may be reused: once every item it published
/// has left the market (`gone == published`), nothing refers to its [`Counts`] any more.
pub(crate) struct Lifetime {
    /// Items that left the market (wrapping, like `published`); added to by carts.
    gone: AtomicUsize,
    /// 0 while the producer lives; its retired registry state word once its handle is
    /// dropped (until the entry is reused).
    retired: AtomicU64,
    /// The producer's registry slot (set at registration).
    slot: AtomicUsize,
    /// Whether a handle owns the producer (set at registration). Only handles retire, so
    /// only their items need counting when they leave the market.
    handle: AtomicBool,
}

impl Counts {
    fn new() -> Self {
        Self {
            published: CachePadded::new(AtomicUsize::new(0)),
            net: CachePadded::new(AtomicUsize::new(0)),
            room: WaitList::new(),
            life: CachePadded::new(Lifetime {
                gone: AtomicUsize::new(0),
                retired: AtomicU64::new(0),
                slot: AtomicUsize::new(0),
                handle: AtomicBool::new(false),
            }),
        }
    }

    /// How many items are on sale, as of the load of `net` (the linearization point of a
    /// publish's decision).
    #[inline]
    fn on_sale(&self) -> usize {
        // ORDERING: SeqCst. The Acquire half pairs with the Release of `count_take`: every
        // reservation counted in `net` took an item whose `published`/`net` increment
        // happened before it, so the load of `published` below sees at least those and the
        // sum never underflows. SeqCst because a publish makes this load after its SeqCst
        // slot mark (`Segment::prepare`), see there. A plain load on x86.
        let net = self.net.load(Ordering::SeqCst);
        // Relaxed: see above; the producer itself reads its own writes.
        let published = self.published.load(Ordering::Relaxed);
        let on_sale = published.wrapping_add(net);
        debug_assert!(on_sale <= isize::MAX as usize, "count underflow");
        on_sale
    }

    /// Like [`Counts::on_sale`], but reading `net` with a read-modify-write, which reads the
    /// latest value in `net`'s modification order: the decision of a publish whose item is
    /// prepared (see `Inner::publish`).
    #[inline]
    fn on_sale_latest(&self) -> usize {
        // ORDERING: SeqCst read-modify-write (it adds nothing). It is ordered with every
        // return's `count_return` (also a read-modify-write of `net`): if it comes first, the
        // return's Acquire synchronises with its Release, so the slot this publish prepared
        // before it is seen claimed by any search the return makes afterwards; if it comes
        // second, it reads the return's increment. The Acquire half pairs with `count_take`
        // as in `on_sale`.
        let net = self.net.fetch_add(0, Ordering::SeqCst);
        // Relaxed: the producer itself reads its own writes.
        let published = self.published.load(Ordering::Relaxed);
        let on_sale = published.wrapping_add(net);
        debug_assert!(on_sale <= isize::MAX as usize, "count underflow");
        on_sale
    }

    /// Counts a return of one of this producer's items (its linearization point).
    #[inline]
    fn count_return(&self) {
        // ORDERING: SeqCst: ordered after the return's SeqCst slot mark (`Segment::prepare`)
        // and before its publish (Release), which the reservation that takes the item
        // acquires, so its `count_take` follows this in `net`'s modification order.
        self.net.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a reservation of one of this producer's items (its linearization point); the
    /// caller then calls [`Counts::notify_room`].
    #[inline]
    pub(crate) fn count_take(&self) {
        // ORDERING: SeqCst. The Release half pairs with the Acquire in `on_sale` (see there);
        // the increment of `published`/`net` for this item happened before our claim's
        // Acquire. SeqCst because this is step (a) of the wait handshake (`wait.rs`) that
        // `notify_room` completes; free on x86, where every read-modify-write is SeqCst.
        self.net.fetch_sub(1, Ordering::SeqCst);
    }

    /// Records where the producer is registered, and whether a handle owns it.
    fn registered(&self, slot: usize, handle: bool) {
        // Relaxed (both): read by carts only about items this producer publishes afterwards
        // (the publish's Release and the take's Acquire order them).
        self.life.slot.store(slot, Ordering::Relaxed);
        self.life.handle.store(handle, Ordering::Relaxed);
    }

    /// Wakes the producer if it waits for room.
    #[inline]
    fn notify_room(&self) {
        self.room.notify_one(wait::ROOM);
    }
}

/// What a producer shares with reservations: its on-sale counts, and its stall.
pub(crate) struct ProducerShared<T> {
    counts: Counts,
    /// Only whoever holds the registry entry (`BUSY` or `HELD`) touches it.
    stall: UnsafeCell<Stall<T>>,
}

/// A cart's contents and its stall for returned items.
pub(crate) struct CartLocal<T> {
    /// The reserved items, in the order added.
    items: Vec<T>,
    /// `from[k]`: the counts of the producer `items[k]` came from.
    from: Vec<*const Counts>,
    /// Where returned items are put back on sale.
    stall: Stall<T>,
    /// Where this cart's last reservations succeeded, per bucket.
    hints: SearchHints<T>,
}

impl<T> Default for CartLocal<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            from: Vec::new(),
            stall: Stall::default(),
            hints: SearchHints::default(),
        }
    }
}

/// A cart's registry entry.
pub(crate) struct CartShared<T> {
    /// Items in the cart (a statistic, written only by the cart's user).
    len: AtomicUsize,
    /// Items this cart's orders handed out (a statistic, written only by the cart's user).
    ordered: AtomicU64,
    /// Only whoever holds the registry entry (`BUSY` or `HELD`) touches it.
    local: UnsafeCell<CartLocal<T>>,
}

impl<T> Default for ProducerShared<T> {
    fn default() -> Self {
        Self {
            counts: Counts::new(),
            stall: UnsafeCell::new(Stall::default()),
        }
    }
}

impl<T> Default for CartShared<T> {
    fn default() -> Self {
        Self {
            len: AtomicUsize::new(0),
            ordered: AtomicU64::new(0),
            local: UnsafeCell::new(CartLocal::default()),
        }
    }
}

/// The shared state behind every clone of a [`Market`] and every handle.
pub(crate) struct Inner<T> {
    capacity: usize,
    /// Carried by every id this market hands out; an id with another tag is unknown here.
    tag: MarketTag,
    /// `T`'s `Eq`, captured where the bound is known so that handles need no bounds.
    eq: fn(&T, &T) -> bool,
    /// `T`'s `Hash` through the index's seeded hasher, captured likewise.
    hash: fn(&Index<T>, &T) -> u64,
    index: Index<T>,
    /// Carts waiting for a product, by the product's hash.
    product_waits: ProductWaits,
    /// Set by `Market::close`: waits end instead of sleeping.
    closed: AtomicBool,
    /// Live handles (`Market` clones, producers, carts): see [`Handle`]. At least 1 while a
    /// handle can read it; a wait of the last one ends instead of sleeping.
    handles: AtomicUsize,
    producers: Registry<ProducerShared<T>>,
    carts: Registry<CartShared<T>>,
    /// Makes `Inner<T>`, and so every handle, invariant in `T` whatever the fields above
    /// are: handles put `T`s in and take them out (see `Market`'s "Variance and threads").
    _invariant: PhantomData<fn(T) -> T>,
}

// SAFETY: the raw pointers inside (`Item::count`, `CartLocal::from`, the stalls' segment
// pointers) point into this same structure, which is shared only behind `Arc`; items of type
// `T` move between threads (hence `T: Send`) but are only ever accessed by one thread at a
// time: a slot's item by its owner before publication and by its one claimer after, a cart's
// items by the holder of the cart's registry entry. No `&T` is ever shared between threads,
// so `T: Sync` is not needed.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above: every `&Inner` operation synchronises access to the `UnsafeCell`s through
// the registry states and the slot state words (docs/DESIGN.md).
unsafe impl<T: Send> Sync for Inner<T> {}

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
        let (index, entry) = self.inner.producers.register(HELD);
        entry.value.counts.registered(entry.slot(), true);
        Producer::new(
            self.inner.clone(),
            entry,
            ProducerId::tagged(self.inner.tag, index),
        )
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
        let (index, entry) = self.inner.carts.register(HELD);
        Cart::new(
            self.inner.clone(),
            entry,
            CartId::tagged(self.inner.tag, index),
        )
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
        let (index, entry) = self.inner.producers.register(IDLE);
        entry.value.counts.registered(entry.slot(), false);
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
        CartId::tagged(self.inner.tag, self.inner.carts.register(IDLE).0)
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
        let entry = match producer
            .number_in(self.inner.tag)
            .ok_or(Refused::Unknown)
            .and_then(|number| self.inner.producers.acquire(number))
        {
            Ok(entry) => entry,
            Err(Refused::Unknown) => {
                return Err(PublishError::Id(IdError::UnknownProducer(producer), item))
            }
            Err(Refused::Busy) => {
                return Err(PublishError::Id(IdError::ProducerBusy(producer), item))
            }
        };
        let _release = Release(entry);
        // SAFETY: `acquire` gave us the entry exclusively until `_release` drops.
        unsafe { self.inner.publish(&entry.value, item) }.map_err(Into::into)
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
        self.with_cart(cart, |inner, c| {
            // SAFETY: `with_cart` holds the entry exclusively.
            unsafe { inner.reserve(c, item) }
        })
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
        self.with_cart(cart, |inner, c| {
            // SAFETY: `with_cart` holds the entry exclusively.
            unsafe { inner.give_back(c, item) }
        })
    }

    /// Empties `cart`, returning its items in the order they were added (minus returned
    /// ones). The cart stays usable.
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
        self.with_cart(cart, |inner, c| {
            // SAFETY: `with_cart` holds the entry exclusively.
            unsafe { inner.place_order(c) }
        })
    }

    fn with_cart<R>(
        &self,
        cart: CartId,
        f: impl FnOnce(&Inner<T>, &CartShared<T>) -> R,
    ) -> Result<R, IdError> {
        let entry = match cart
            .number_in(self.inner.tag)
            .ok_or(Refused::Unknown)
            .and_then(|number| self.inner.carts.acquire(number))
        {
            Ok(entry) => entry,
            Err(Refused::Unknown) => return Err(IdError::UnknownCart(cart)),
            Err(Refused::Busy) => return Err(IdError::CartBusy(cart)),
        };
        let _release = Release(entry);
        Ok(f(&self.inner, &entry.value))
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
        self.with_cart(cart, |_, c| {
            // SAFETY: `with_cart` holds the entry exclusively.
            c.local.with(|l| unsafe { (*l).items.clone() })
        })
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
                .map(|(i, e)| (ProducerId::tagged(inner.tag, i), e.value.counts.on_sale()))
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

/// Ends an id-API call when dropped (also on unwinding out of user `Hash`/`Eq` code).
struct Release<'a, E>(&'a Registered<E>);

impl<E> Drop for Release<'_, E> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl<T> Inner<T> {
    /// # Safety
    ///
    /// The caller holds `producer`'s registry entry exclusively (`BUSY` or `HELD`).
    unsafe fn publish(&self, producer: &ProducerShared<T>, item: T) -> Result<(), Full<T>> {
        let counts = &producer.counts;
        let count: *const Counts = counts;
        // Relaxed: only the entry's holder writes `published` (the registry orders successive
        // holders).
        let published = counts.published.load(Ordering::Relaxed);
        // Items of this producer not yet gone from the market: on sale or in carts. Relaxed:
        // a stale `gone` is smaller, which only makes the test below stricter; an item counted
        // in `gone` was ordered and can never be returned.
        let not_gone = published.wrapping_sub(counts.life.gone.load(Ordering::Relaxed));
        if not_gone < self.capacity {
            // Even if every item in a cart came back, the producer would stay below its limit
            // from now until the fill: no return can race this publish, which may decide now
            // and take effect at the fill, its linearization point (docs/DESIGN.md, "publish").
            let hash = (self.hash)(&self.index, &item);
            // Relaxed: made visible to whoever takes the item by the fill's Release.
            counts.published.store(published + 1, Ordering::Relaxed);
            producer.stall.with_mut(|stall| {
                // SAFETY: the caller holds the entry, so the stall is ours alone.
                let stall = unsafe { &mut *stall };
                // SAFETY: the stall only ever fills this market's index.
                unsafe { stall.fill(&self.index, hash, Item { value: item, count }) }
            });
            self.product_waits.notify(hash);
            return Ok(());
        }
        // A full producer fails here without touching its storage.
        if counts.on_sale() >= self.capacity {
            return Err(Full(item));
        }
        let hash = (self.hash)(&self.index, &item);
        let prepared = producer.stall.with_mut(|stall| {
            // SAFETY: the caller holds the entry, so the stall is ours alone.
            let stall = unsafe { &mut *stall };
            // SAFETY: the stall only ever fills this market's index.
            unsafe { stall.prepare(&self.index, hash, Item { value: item, count }) }
        });
        // The decision: the linearization point, with the item already findable as pending.
        if counts.on_sale_latest() >= self.capacity {
            return Err(Full(prepared.retract().value));
        }
        // Relaxed: the publish's Release below makes the increment visible to whoever takes
        // the item.
        counts.published.store(published + 1, Ordering::Relaxed);
        prepared.publish();
        self.product_waits.notify(hash);
        Ok(())
    }

    /// # Safety
    ///
    /// The caller holds `cart`'s registry entry exclusively.
    unsafe fn reserve(&self, cart: &CartShared<T>, item: &T) -> bool {
        let hash = (self.hash)(&self.index, item);
        // SAFETY: the caller's guarantee.
        unsafe { self.reserve_hashed(cart, item, hash, true, None) }
    }

    /// `wait_pending` and `deadline` as in `Index::reserve` (false and the wait's deadline for
    /// the tries of a wait, `wait.rs`).
    ///
    /// # Safety
    ///
    /// The caller holds `cart`'s registry entry exclusively; `hash` is `item`'s.
    #[inline]
    unsafe fn reserve_hashed(
        &self,
        cart: &CartShared<T>,
        item: &T,
        hash: u64,
        wait_pending: bool,
        deadline: Option<std::time::Instant>,
    ) -> bool {
        // SAFETY: the caller holds the cart's entry, so this thread alone uses the cart's
        // fields until it returns; `eq` (user code) gets no access to them.
        let hints = cart.local.with_mut(|l| unsafe { &mut (*l).hints });
        /// If `eq` (user code) unwinds, the index puts the item it had claimed back on sale. A
        /// waiter may have seen that item claimed and gone to sleep (waiters do not wait for
        /// claimed items): the unwinding wakes one waiter of the product.
        struct NotifyOnUnwind<'a, T>(&'a Inner<T>, u64);
        impl<T> Drop for NotifyOnUnwind<'_, T> {
            fn drop(&mut self) {
                self.0.product_waits.notify(self.1);
            }
        }
        let unwinding = NotifyOnUnwind(self, hash);
        let taken = self
            .index
            .reserve(hash, |x| (self.eq)(x, item), hints, wait_pending, deadline);
        core::mem::forget(unwinding);
        let Some(taken) = taken else {
            return false;
        };
        let count = taken.count;
        cart.local.with_mut(|l| {
            // SAFETY: the caller holds the cart's entry.
            let l = unsafe { &mut *l };
            l.items.push(taken.value);
            l.from.push(taken.count);
            // Relaxed: a statistic.
            cart.len.store(l.items.len(), Ordering::Relaxed);
        });
        // SAFETY: `count` points into the producer registry, which lives as long as `self`.
        // The index counted the take; wake the producer if it waits for room (after the item
        // is in the cart: the waker is user code and may unwind).
        unsafe { &*count }.notify_room();
        true
    }

    /// # Safety
    ///
    /// The caller holds `cart`'s registry entry exclusively.
    unsafe fn give_back(&self, cart: &CartShared<T>, item: &T) -> bool {
        cart.local.with_mut(|l| {
            // SAFETY: the caller holds the cart's entry.
            let l = unsafe { &mut *l };
            let Some(at) = l.items.iter().rposition(|x| (self.eq)(x, item)) else {
                return false;
            };
            let hash = (self.hash)(&self.index, item);
            let value = l.items.remove(at);
            let count = l.from.remove(at);
            // Relaxed: a statistic.
            cart.len.store(l.items.len(), Ordering::Relaxed);
            // SAFETY: the cart's stall is ours (we hold the entry) and fills only this index.
            let prepared = unsafe { l.stall.prepare(&self.index, hash, Item { value, count }) };
            // SAFETY: `count` points into the producer registry, which outlives `self`.
            // The linearization point, with the item already findable as pending.
            unsafe { &*count }.count_return();
            prepared.publish();
            self.product_waits.notify(hash);
            true
        })
    }

    /// # Safety
    ///
    /// The caller holds `cart`'s registry entry exclusively.
    unsafe fn place_order(&self, cart: &CartShared<T>) -> Vec<T> {
        cart.local.with_mut(|l| {
            // SAFETY: the caller holds the cart's entry.
            let l = unsafe { &mut *l };
            self.count_gone(&l.from);
            l.from.clear();
            let items = core::mem::take(&mut l.items);
            // Relaxed (all): statistics written only by the entry's holder (a load and a store,
            // not a read-modify-write, which would cost a locked instruction).
            cart.len.store(0, Ordering::Relaxed);
            let ordered = cart.ordered.load(Ordering::Relaxed);
            cart.ordered
                .store(ordered + items.len() as u64, Ordering::Relaxed);
            items
        })
    }
}

impl<T> Inner<T> {
    /// Ends a cart handle: drops its items, orphans its stall, retires the id.
    ///
    /// # Safety
    ///
    /// The caller is the handle holding `cart`'s entry, which it never uses again.
    unsafe fn close_cart(&self, cart: &Registered<CartShared<T>>) {
        let items = cart.value.local.with_mut(|l| {
            // SAFETY: the handle holds the entry.
            let l = unsafe { &mut *l };
            l.stall.orphan();
            // The items leave the market (their values refer to no producer).
            self.count_gone(&l.from);
            l.from.clear();
            core::mem::take(&mut l.items)
        });
        // Relaxed: a statistic.
        cart.value.len.store(0, Ordering::Relaxed);
        // Nothing refers to a cart's entry but its handle: it is reused at once.
        self.carts.recycle(cart, cart.held(), |_| {});
        drop(items);
    }

    /// Counts the items whose producers' counts are `from` as gone from the market, and
    /// reuses the entry of each such producer that is retired and has no item left.
    fn count_gone(&self, from: &[*const Counts]) {
        for run in from.chunk_by(|a, b| a == b) {
            // SAFETY: `from` points into the producer registry, which outlives `self`; the
            // entry is not reused before this count, which accounts for items we hold.
            let counts = unsafe { &*run[0] };
            let (life, published) = (&counts.life, &counts.published);
            // ORDERING: AcqRel, one side of the handshake with `close_producer` (which stores
            // `retired`, then reads `gone` with a read-modify-write): either it sees this
            // count, or this reads from its read-modify-write and we see it retired below.
            // The Release half orders our uses of the counts (the takes, the returns) before
            // the entry's reuse.
            let gone = life
                .gone
                .fetch_add(run.len(), Ordering::AcqRel)
                .wrapping_add(run.len());
            // Relaxed: see `Counts::registered`. A producer of the id API never retires.
            if !life.handle.load(Ordering::Relaxed) {
                continue;
            }
            // ORDERING: Acquire pairs with `close_producer`'s Release store, made after the
            // producer's last write of `published`.
            let retired = life.retired.load(Ordering::Acquire);
            // Relaxed: final once the producer is retired (see above).
            if retired != 0 && published.load(Ordering::Relaxed) == gone {
                // Relaxed: set before the producer published anything.
                let slot = life.slot.load(Ordering::Relaxed);
                self.recycle_producer(slot, retired);
            }
        }
    }

    /// Reuses the entry of the producer in `slot`, retired with state word `retired`, once
    /// every item it published is gone (at most one caller succeeds).
    fn recycle_producer(&self, slot: usize, retired: u64) {
        let Some(entry) = self.producers.slot_entry(slot) else {
            return;
        };
        self.producers.recycle(entry, retired, |p| {
            // Relaxed: published to the next owner by the registry's free stack (Release).
            p.counts.life.retired.store(0, Ordering::Relaxed);
        });
    }

    /// Ends a producer handle: orphans its stall, retires the id.
    ///
    /// # Safety
    ///
    /// The caller is the handle holding `producer`'s entry, which it never uses again.
    unsafe fn close_producer(&self, producer: &Registered<ProducerShared<T>>) {
        producer.value.stall.with_mut(|s| {
            // SAFETY: the handle holds the entry.
            unsafe { (*s).orphan() }
        });
        let retired = producer.retire();
        let counts = &producer.value.counts;
        // ORDERING: Release publishes our last `published` to the carts that see it.
        counts.life.retired.store(retired, Ordering::Release);
        // ORDERING: a read-modify-write (adding nothing) reads the latest `gone`. If a cart's
        // count comes before it in `gone`'s modification order, we see that count; if after,
        // the cart's read-modify-write reads from ours (AcqRel: Release here, Acquire there),
        // so our store of `retired` happens before the cart's load of it. Either way one of
        // us sees the other (a store-buffering handshake without a fence). The Acquire half
        // pairs with the carts' counts, so their uses of the counts happen before reuse.
        let gone = counts.life.gone.fetch_add(0, Ordering::AcqRel);
        // Relaxed: our own last write.
        if counts.published.load(Ordering::Relaxed) == gone {
            self.recycle_producer(producer.slot(), retired);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
