//! The shared state behind every handle, and the core operations on it: publish, reserve,
//! return (`give_back`) and place an order. Each takes the producer's or cart's registry entry,
//! which its caller holds.

use core::hash::Hash;
use core::marker::PhantomData;

use super::account::Account;
use super::cart::CartShared;
use super::index::Index;
use super::producer::ProducerShared;
use super::registry::{Guard, Registry};
use super::segment::Item;
use super::wait::ProductWaits;
use super::MarketTag;
use crate::sync::{AtomicBool, AtomicUsize, Ordering};
use crate::Full;

/// The shared state behind every clone of a [`Market`](super::Market) and every handle.
pub(crate) struct Inner<T> {
    pub(super) capacity: usize,
    /// Carried by every id this market hands out; an id with another tag is unknown here.
    pub(super) tag: MarketTag,
    /// `T`'s `Eq`, captured where the bound is known so that handles need no bounds.
    pub(super) eq: fn(&T, &T) -> bool,
    /// `T`'s `Hash` through the index's seeded hasher, captured likewise.
    pub(super) hash: fn(&Index<T>, &T) -> u64,
    /// [`publish_inlined`](Inner::publish_inlined), captured likewise: the publish with `T`'s
    /// `Hash` called directly (inlined) rather than through `hash`.
    pub(super) publish_op: PublishOp<T>,
    /// [`reserve_inlined`](Inner::reserve_inlined), captured likewise: the reservation with
    /// `T`'s `Eq` and `Hash` inlined.
    pub(super) reserve_op: ReserveOp<T>,
    pub(super) index: Index<T>,
    /// Carts waiting for a product, by the product's hash.
    pub(super) product_waits: ProductWaits,
    /// Set by `Market::close`: waits end instead of sleeping.
    pub(super) closed: AtomicBool,
    /// Live handles (`Market` clones, producers, carts): see
    /// [`Handle`](super::handle::Handle). At least 1 while a handle can read it; a wait of the
    /// last one ends instead of sleeping.
    pub(super) handles: AtomicUsize,
    pub(super) producers: Registry<ProducerShared<T>>,
    pub(super) carts: Registry<CartShared<T>>,
    /// Makes `Inner<T>`, and so every handle, invariant in `T` whatever the fields above
    /// are: handles put `T`s in and take them out (see `Market`'s "Variance and threads").
    pub(super) _invariant: PhantomData<fn(T) -> T>,
}

/// The type of [`Inner::publish_op`].
pub(super) type PublishOp<T> =
    fn(&Inner<T>, &mut Guard<'_, ProducerShared<T>>, T) -> Result<(), Full<T>>;
/// The type of [`Inner::reserve_op`].
pub(super) type ReserveOp<T> = fn(&Inner<T>, &mut Guard<'_, CartShared<T>>, &T) -> bool;

// SAFETY: the raw pointers inside (`Item::account`, `CartLocal::from`, the shelves' segment
// pointers) point into this same structure, which is shared only behind `Arc`; items of type
// `T` move between threads (hence `T: Send`) but are only ever accessed by one thread at a
// time: a slot's item by its owner before publication and by its one claimer after, a cart's
// items by the holder of the cart's registry entry. No `&T` is ever shared between threads,
// so `T: Sync` is not needed.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above: every `&Inner` operation synchronises access to the `UnsafeCell`s through
// the registry states and the slot state words (docs/DESIGN.md).
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Inner<T> {
    /// Puts `item` on sale under the producer whose entry `producer` holds
    /// (docs/DESIGN.md, "publish"), through [`publish_op`](Inner::publish_op).
    #[inline]
    pub(super) fn publish(
        &self,
        producer: &mut Guard<'_, ProducerShared<T>>,
        item: T,
    ) -> Result<(), Full<T>> {
        (self.publish_op)(self, producer, item)
    }

    /// [`publish`](Self::publish), with `T`'s `Hash` called directly: one call through a
    /// function pointer for the whole operation instead of one per use of the bound, and the
    /// hash inlined. Instantiated only where `T: Hash` is known (`Market::with_buckets`
    /// captures it in `publish_op`).
    pub(super) fn publish_inlined(
        &self,
        producer: &mut Guard<'_, ProducerShared<T>>,
        item: T,
    ) -> Result<(), Full<T>>
    where
        T: Hash,
    {
        let account = &producer.value().account;
        let from: *const Account = account;
        // Relaxed: only the entry's holder writes `published` (the registry orders successive
        // holders).
        let published = account.published.load(Ordering::Relaxed);
        // Items of this producer that have not departed from the market: on sale or in carts.
        // A stale `departed` is smaller, which only makes the test below stricter; an item
        // counted in `departed` was ordered and can never be returned. ORDERING: Acquire pairs
        // with the Release half of the orders' `departed.fetch_add` (`count_departed`): the
        // reservations of the items counted happen before the fill, so their takes precede it
        // in `returns_less_takes`'s modification order too, and a later load of it by this
        // producer sees them (docs/DESIGN.md, "Acquire/Release pairs").
        let not_departed =
            published.wrapping_sub(account.retirement.departed.load(Ordering::Acquire));
        if not_departed < self.capacity {
            // Even if every item in a cart came back, the producer would stay below its limit
            // from now until the fill: no return can race this publish, which may decide now
            // and take effect at the fill, its linearization point (docs/DESIGN.md, "publish").
            let hash = self.index.hash(&item);
            // Relaxed: made visible to whoever takes the item by the fill's Release.
            account.published.store(published + 1, Ordering::Relaxed);
            let shelf = producer.shelf_mut();
            // SAFETY: the shelf only ever fills this market's index, which outlives it.
            let filler = unsafe { shelf.filler(&self.index) };
            filler.fill(
                hash,
                Item {
                    value: item,
                    account: from,
                },
            );
            self.product_waits.notify(hash);
            return Ok(());
        }
        // A full producer fails here without touching its storage.
        if account.on_sale() >= self.capacity {
            return Err(Full(item));
        }
        let hash = self.index.hash(&item);
        let shelf = producer.shelf_mut();
        // SAFETY: the shelf only ever fills this market's index, which outlives it.
        let filler = unsafe { shelf.filler(&self.index) };
        let prepared = filler.prepare(
            hash,
            Item {
                value: item,
                account: from,
            },
        );
        // The decision: the linearization point, with the item already findable as pending.
        if account.on_sale_latest() >= self.capacity {
            return Err(Full(prepared.retract().value));
        }
        // Relaxed: the publish's Release below makes the increment visible to whoever takes
        // the item.
        account.published.store(published + 1, Ordering::Relaxed);
        prepared.publish();
        self.product_waits.notify(hash);
        Ok(())
    }

    /// Reserves into the cart whose entry `cart` holds an on-sale item equal to `item`
    /// (`Cart::add`, `Marketplace::add_to_cart`), through [`reserve_op`](Inner::reserve_op).
    #[inline]
    pub(super) fn reserve(&self, cart: &mut Guard<'_, CartShared<T>>, item: &T) -> bool {
        (self.reserve_op)(self, cart, item)
    }

    /// [`reserve`](Self::reserve), with `T`'s `Eq` and `Hash` called directly (see
    /// [`publish_inlined`](Self::publish_inlined)); captured in `reserve_op`.
    pub(super) fn reserve_inlined(&self, cart: &mut Guard<'_, CartShared<T>>, item: &T) -> bool
    where
        T: Eq + Hash,
    {
        let hash = self.index.hash(item);
        self.reserve_with(cart, item, hash, |a, b| a == b, true, None)
    }

    /// [`reserve`](Self::reserve) with `item`'s `hash`; `wait_pending` and `deadline` as in
    /// `Index::reserve` (false and the wait's deadline for the tries of a wait, `wait.rs`).
    #[inline]
    pub(super) fn reserve_hashed(
        &self,
        cart: &mut Guard<'_, CartShared<T>>,
        item: &T,
        hash: u64,
        wait_pending: bool,
        deadline: Option<std::time::Instant>,
    ) -> bool {
        self.reserve_with(cart, item, hash, self.eq, wait_pending, deadline)
    }

    /// [`reserve_hashed`](Self::reserve_hashed) comparing with `eq` (`T`'s `Eq`).
    #[inline(always)]
    fn reserve_with(
        &self,
        cart: &mut Guard<'_, CartShared<T>>,
        item: &T,
        hash: u64,
        eq: impl Fn(&T, &T) -> bool,
        wait_pending: bool,
        deadline: Option<std::time::Instant>,
    ) -> bool {
        let shared = cart.value();
        // This thread alone uses the cart's fields until it returns; `eq` (user code) gets no
        // access to them.
        let hints = &mut cart.cart_mut().hints;
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
            .reserve(hash, |x| eq(x, item), hints, wait_pending, deadline);
        core::mem::forget(unwinding);
        let Some(taken) = taken else {
            return false;
        };
        let from = taken.account;
        let l = cart.cart_mut();
        l.items.push(taken.value);
        l.from.push(from);
        // Relaxed: a statistic.
        shared.len.store(l.items.len(), Ordering::Relaxed);
        // SAFETY: `from` points into the producer registry, which lives as long as `self`.
        // The index counted the take; wake the producer if it waits for room (after the item
        // is in the cart: the waker is user code and may unwind).
        unsafe { &*from }.notify_room();
        true
    }

    /// Puts the most recently added item equal to `item` back on sale from the cart whose
    /// entry `cart` holds (`Cart::remove`, `Marketplace::remove_from_cart`).
    #[inline]
    pub(super) fn give_back(&self, cart: &mut Guard<'_, CartShared<T>>, item: &T) -> bool {
        let shared = cart.value();
        let l = cart.cart_mut();
        let Some(at) = l.items.iter().rposition(|x| (self.eq)(x, item)) else {
            return false;
        };
        let hash = (self.hash)(&self.index, item);
        let value = l.items.remove(at);
        let from = l.from.remove(at);
        // Relaxed: a statistic.
        shared.len.store(l.items.len(), Ordering::Relaxed);
        // SAFETY: the cart's shelf only ever fills this market's index, which outlives it.
        let filler = unsafe { l.shelf.filler(&self.index) };
        let prepared = filler.prepare(
            hash,
            Item {
                value,
                account: from,
            },
        );
        // SAFETY: `from` points into the producer registry, which outlives `self`.
        // The linearization point, with the item already findable as pending.
        unsafe { &*from }.count_return();
        prepared.publish();
        self.product_waits.notify(hash);
        true
    }

    /// Empties the cart whose entry `cart` holds, returning its items. The cart gets a new
    /// buffer for as many items as this order had (up to [`REFILL_BYTES`]), allocated here
    /// rather than grown item by item by the next reservations.
    #[inline]
    pub(super) fn place_order(&self, cart: &mut Guard<'_, CartShared<T>>) -> Vec<T> {
        let l = cart.cart_mut();
        let n = l.items.len();
        if n == 0 {
            // Nothing to hand out: the cart keeps its buffer.
            return Vec::new();
        }
        let next = Vec::with_capacity(n.min(REFILL_BYTES / core::mem::size_of::<T>().max(1)));
        let items = core::mem::replace(&mut l.items, next);
        self.ordered(cart);
        items
    }

    /// Empties the cart whose entry `cart` holds, appending its items to `out`; the cart keeps
    /// its buffer, so an order allocates nothing once `out` and the cart have room.
    #[inline]
    pub(super) fn place_order_into(&self, cart: &mut Guard<'_, CartShared<T>>, out: &mut Vec<T>) {
        out.append(&mut cart.cart_mut().items);
        self.ordered(cart);
    }

    /// Counts the items an order just took out of the cart whose entry `cart` holds (their
    /// accounts are still in `from`) as departed, and updates the cart's statistics.
    #[inline]
    fn ordered(&self, cart: &mut Guard<'_, CartShared<T>>) {
        let shared = cart.value();
        let l = cart.cart_mut();
        let n = l.from.len();
        self.count_departed(&l.from);
        l.from.clear();
        // Relaxed (all): statistics written only by the entry's holder (a load and a store,
        // not a read-modify-write, which would cost a locked instruction).
        shared.len.store(0, Ordering::Relaxed);
        let ordered = shared.ordered.load(Ordering::Relaxed);
        shared.ordered.store(ordered + n as u64, Ordering::Relaxed);
    }
}

/// At most how many bytes of items [`Inner::place_order`] allocates for a cart's next order
/// (the size of the order it hands out, in items, up to this).
const REFILL_BYTES: usize = 4096;
