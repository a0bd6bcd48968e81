//! The cart: its registry entry (its items and its shelf for returns) and the handle that owns
//! it.

use std::time::Duration;

use super::account::Account;
use super::handle::Handle;
use super::index::SearchHints;
use super::registry::{Guard, Held, View};
use super::shelf::Shelf;
use super::{CartId, Market, WaitError};
use crate::sync::{AtomicU64, AtomicUsize, UnsafeCell};

/// A cart's contents and its shelf for returned items.
pub(crate) struct CartLocal<T> {
    /// The reserved items, in the order added.
    pub(super) items: Vec<T>,
    /// `from[k]`: the account of the producer `items[k]` came from.
    pub(super) from: Vec<*const Account>,
    /// Where returned items are put back on sale.
    pub(super) shelf: Shelf<T>,
    /// Where this cart's last reservations succeeded, per bucket.
    pub(super) hints: SearchHints<T>,
}

impl<T> Default for CartLocal<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            from: Vec::new(),
            shelf: Shelf::default(),
            hints: SearchHints::default(),
        }
    }
}

/// A cart's registry entry.
pub(crate) struct CartShared<T> {
    /// Items in the cart (a statistic, written only by the cart's user).
    pub(super) len: AtomicUsize,
    /// Items this cart's orders handed out (a statistic, written only by the cart's user).
    pub(super) ordered: AtomicU64,
    /// Only whoever holds the registry entry (`BUSY` or `HELD`) touches it.
    pub(super) local: UnsafeCell<CartLocal<T>>,
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

impl<T> Guard<'_, CartShared<T>> {
    /// The cart's contents.
    #[inline]
    pub(crate) fn cart_mut(&mut self) -> &mut CartLocal<T> {
        // SAFETY: the guard holds the entry (`BUSY` or `HELD`), so this thread alone uses its
        // cells, and `&mut self` makes this borrow the only one made through the guard.
        self.value().local.with_mut(|l| unsafe { &mut *l })
    }
}

impl<'a, T> View<'a, CartShared<T>> {
    /// The cart's contents, to read for as long as the handle is borrowed.
    #[inline]
    pub(crate) fn cart(&self) -> &'a CartLocal<T> {
        // SAFETY: the entry is held by the handle whose `Held` this view borrows, so no other
        // thread uses its cells, and no guard can change them (`cart_mut`) while that borrow,
        // which outlives the returned reference, lasts: a view lends only `&Guard`.
        self.value().local.with(|l| unsafe { &*l })
    }
}

/// Owns one cart of a [`Market`]. `Send` but not `Clone` or `Sync`; reusable after every
/// order. Dropping it drops the items still in it and retires its id.
///
/// # Examples
///
/// ```
/// let market = ringmarket::Market::new(4).unwrap();
/// let mut producer = market.register_producer();
/// let mut cart = market.new_cart();
/// for x in ["milk", "eggs", "milk"] {
///     producer.publish(x).unwrap();
/// }
/// assert!(cart.add(&"milk"));
/// assert!(cart.add(&"eggs"));
/// assert!(cart.add(&"milk"));
/// assert!(cart.remove(&"milk"));
/// assert_eq!(cart.place_order(), vec!["milk", "eggs"]);
/// assert!(cart.add(&"milk")); // the returned one was back on sale
/// ```
///
/// # Variance and threads
///
/// Invariant in `T` (as [`Market`]): a cart of `&'static str` cannot take shorter-lived
/// strings back as returns.
///
/// ```compile_fail
/// use ringmarket::market::Cart;
///
/// fn shorten<'a>(cart: Cart<&'static str>) -> Cart<&'a str> {
///     cart
/// }
/// ```
///
/// Not `Sync`, and not `Send` when `T` is not:
///
/// ```compile_fail
/// fn shared<S: Sync>(_: S) {}
/// let market = ringmarket::Market::<u8>::new(1).unwrap();
/// shared(market.new_cart());
/// ```
///
/// ```compile_fail
/// fn send<S: Send>(_: S) {}
/// let market = ringmarket::Market::<std::rc::Rc<u8>>::new(1).unwrap();
/// send(market.new_cart());
/// ```
pub struct Cart<T> {
    /// The cart's entry, held (`HELD`) by this handle for its whole life, and the market.
    pub(super) held: Held<Handle<T>, CartShared<T>>,
    id: CartId,
    /// Rank among carts waiting for equal items (`set_priority`).
    priority: u32,
}

// SAFETY: the handle owns its registry entry exclusively (state `HELD`); the items in the
// cart move with it, hence `T: Send`. Not `Sync`: every operation takes `&mut self`.
unsafe impl<T: Send> Send for Cart<T> {}

impl<T> Cart<T> {
    pub(crate) fn new(held: Held<Handle<T>, CartShared<T>>, id: CartId) -> Self {
        Self {
            held,
            id,
            priority: 0,
        }
    }

    /// This cart's id.
    pub fn id(&self) -> CartId {
        self.id
    }

    /// Sets this cart's priority among carts waiting for equal items
    /// ([`add_wait`](Cart::add_wait), [`add_timeout`](Cart::add_timeout), and `add_async` with
    /// the cargo feature `async`): an item put on sale wakes the waiting cart with the
    /// highest priority, and among equal priorities the one that has waited longest. Every
    /// cart starts at 0, so by default waiters are served first come, first served. A wait
    /// already under way keeps the priority it started with. Priorities only choose whom to
    /// wake: a cart that is not waiting can still take an item first.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::<u8>::new(1).unwrap();
    /// let mut cart = market.new_cart();
    /// assert_eq!(cart.priority(), 0);
    /// cart.set_priority(7);
    /// assert_eq!(cart.priority(), 7);
    /// ```
    pub fn set_priority(&mut self, priority: u32) {
        self.priority = priority;
    }

    /// This cart's priority among waiting carts (see [`set_priority`](Cart::set_priority)).
    pub fn priority(&self) -> u32 {
        self.priority
    }

    /// Reserves an on-sale item equal to `item`, from any producer; `false` when none was on
    /// sale. Never a spurious `false`: if an equal item stays on sale during the whole call,
    /// the call takes one. The producer the item came from may publish again at once.
    ///
    /// To decide, it may wait for another cart's reservation that is comparing an item of the
    /// same hash (its `Eq`) to finish. A reservation made from inside `T`'s `Eq` (an `Eq`
    /// that calls into a market) does not wait: it answers `false` where it would.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let mut p = market.register_producer();
    /// let mut c = market.new_cart();
    /// assert!(!c.add(&3));
    /// p.publish(3).unwrap();
    /// assert!(c.add(&3));
    /// ```
    pub fn add(&mut self, item: &T) -> bool {
        let (inner, mut cart) = self.held.hold();
        inner.reserve(&mut cart, item)
    }

    /// Like [`add`](Cart::add), but waits for as long as it takes for an equal item to be put
    /// on sale, as [`add_timeout`](Cart::add_timeout) does with no time-out.
    ///
    /// # Errors
    ///
    /// [`WaitError::Closed`] when the market is or gets [closed](Market::close) while no equal
    /// item is on sale, or this cart's handle becomes the market's last (nothing could ever
    /// end the wait). Never [`WaitError::Timeout`]. The cart is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::thread;
    ///
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let mut p = market.register_producer();
    /// let mut c = market.new_cart();
    /// let shopper = thread::spawn(move || {
    ///     c.add_wait(&"bread").unwrap();
    ///     c.place_order()
    /// });
    /// p.publish("bread").unwrap();
    /// assert_eq!(shopper.join().unwrap(), ["bread"]);
    /// ```
    pub fn add_wait(&mut self, item: &T) -> Result<(), WaitError> {
        self.add_timeout(item, Duration::MAX)
    }

    /// Like [`add`](Cart::add), but waits up to `timeout` for an equal item to be put on
    /// sale, sleeping (after a short spin) without polling. Only a publish or a return of an
    /// equal item wakes the waiting thread, and one such item wakes one waiting cart. Waiters
    /// are told apart by the product's hash; any `Hash` std allows works: when products share
    /// a hash (a `Hash` that leaves out a field `Eq` compares, or a collision), a waiter woken
    /// for an item that is not its product passes the wake-up on, so waits get slower, never
    /// stuck.
    ///
    /// # Errors
    ///
    /// [`WaitError::Timeout`] when `timeout` passed without an equal item on sale (or with
    /// one still being compared by another cart's `Eq` at the deadline: the wait does not
    /// outlast its time-out for another thread's `Eq`);
    /// [`WaitError::Closed`] when the market is or gets [closed](Market::close) while none is.
    /// The cart is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::market::WaitError;
    /// use std::{thread, time::Duration};
    ///
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let mut p = market.register_producer();
    /// let mut c = market.new_cart();
    /// assert_eq!(c.add_timeout(&1, Duration::from_millis(1)), Err(WaitError::Timeout));
    /// let later = thread::spawn(move || {
    ///     thread::sleep(Duration::from_millis(5));
    ///     p.publish(1).unwrap();
    /// });
    /// assert_eq!(c.add_timeout(&1, Duration::MAX), Ok(()));
    /// later.join().unwrap();
    /// ```
    pub fn add_timeout(&mut self, item: &T, timeout: Duration) -> Result<(), WaitError> {
        let priority = self.priority;
        let (inner, mut cart) = self.held.hold();
        inner.reserve_wait(&mut cart, item, priority, timeout)
    }

    /// Puts the most recently added item equal to `item` back on sale under the producer it
    /// came from (whose on-sale count may then exceed the limit); `false` when the cart
    /// holds no equal item.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let mut p = market.register_producer();
    /// let mut c = market.new_cart();
    /// p.publish('x').unwrap();
    /// assert!(c.add(&'x'));
    /// p.publish('y').unwrap();
    /// assert!(c.remove(&'x'));
    /// assert_eq!(p.on_sale(), 2); // above the limit of 1 ...
    /// assert!(p.publish('z').is_err()); // ... so no publishing until it falls below
    /// ```
    pub fn remove(&mut self, item: &T) -> bool {
        let (inner, mut cart) = self.held.hold();
        inner.give_back(&mut cart, item)
    }

    /// Empties the cart, returning its items in the order they were added (minus returned
    /// ones). The cart stays usable, with a new buffer for as many items as this order had (up
    /// to 4 KiB of them), so that the next reservations do not grow one item by item.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::<u8>::new(1).unwrap();
    /// let mut c = market.new_cart();
    /// assert!(c.place_order().is_empty());
    /// ```
    pub fn place_order(&mut self) -> Vec<T> {
        let (inner, mut cart) = self.held.hold();
        inner.place_order(&mut cart)
    }

    /// Like [`place_order`](Cart::place_order), but appends the items to `out` instead of
    /// returning a new `Vec`. The cart keeps its buffer, so a loop that orders into the same
    /// `out` (cleared or drained in between) allocates nothing once both have grown to its
    /// orders' size.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(2).unwrap();
    /// let mut p = market.register_producer();
    /// let mut c = market.new_cart();
    /// let mut out = vec!["receipt"];
    /// for x in ["tea", "jam"] {
    ///     p.publish(x).unwrap();
    ///     assert!(c.add(&x));
    /// }
    /// c.place_order_into(&mut out);
    /// assert_eq!(out, ["receipt", "tea", "jam"]);
    /// assert!(c.items().is_empty());
    /// ```
    pub fn place_order_into(&mut self, out: &mut Vec<T>) {
        let (inner, mut cart) = self.held.hold();
        inner.place_order_into(&mut cart, out);
    }

    /// The items in the cart, in the order added.
    ///
    /// # Examples
    ///
    /// ```
    /// let market = ringmarket::Market::new(1).unwrap();
    /// let mut p = market.register_producer();
    /// let mut c = market.new_cart();
    /// p.publish(9).unwrap();
    /// c.add(&9);
    /// assert_eq!(c.items(), &[9]);
    /// ```
    pub fn items(&self) -> &[T] {
        self.held.view().cart().items.as_slice()
    }

    /// The market this cart shops in.
    pub fn market(&self) -> Market<T> {
        Market {
            inner: self.held.keeper().clone(),
        }
    }
}

impl<T> core::fmt::Debug for Cart<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Cart")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
