//! Producer and cart ids, the errors of the id API, and the lock-free registry behind them.
//!
//! The registry is a segmented array: chunk `k` holds `FIRST << k` entries and is allocated
//! the first time an id in it is handed out. Chunks are never moved or freed while the market
//! lives, so a `&Registered<E>` stays valid for the market's lifetime, and looking an id up is
//! two loads, without a lock.

use core::fmt;

use crate::sync::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

/// Identifies a producer of one market.
///
/// # Examples
///
/// ```
/// let market = ringmarket::Market::<u32>::new(4).unwrap();
/// let a = market.register_producer_id();
/// let b = market.register_producer_id();
/// assert_ne!(a, b);
/// assert_eq!(a.to_string(), "producer 0");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProducerId(pub(crate) usize);

/// Identifies a cart of one market.
///
/// # Examples
///
/// ```
/// let market = ringmarket::Market::<u32>::new(4).unwrap();
/// let cart = market.new_cart_id();
/// assert_eq!(cart.to_string(), "cart 0");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CartId(pub(crate) usize);

impl ProducerId {
    /// The id with number `index` (for callers that keep ids as numbers; an id that was
    /// never registered is refused with [`IdError::UnknownProducer`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::ProducerId;
    ///
    /// assert_eq!(ProducerId::new(3).index(), 3);
    /// ```
    pub const fn new(index: usize) -> Self {
        Self(index)
    }

    /// The id as a number (producers are numbered from 0 in registration order).
    pub fn index(self) -> usize {
        self.0
    }
}

impl CartId {
    /// The id with number `index` (for callers that keep ids as numbers; an id that was
    /// never created is refused with [`IdError::UnknownCart`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::CartId;
    ///
    /// assert_eq!(CartId::new(3).index(), 3);
    /// ```
    pub const fn new(index: usize) -> Self {
        Self(index)
    }

    /// The id as a number (carts are numbered from 0 in creation order).
    pub fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for ProducerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "producer {}", self.0)
    }
}

impl fmt::Display for CartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cart {}", self.0)
    }
}

/// Why an id-API call was refused. Nothing changed in the market when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdError {
    /// No producer has this id, or its [`Producer`](crate::market::Producer) handle was dropped.
    UnknownProducer(ProducerId),
    /// No cart has this id, or its [`Cart`](crate::market::Cart) handle was dropped.
    UnknownCart(CartId),
    /// Another call is using this producer right now, or a handle owns it.
    ProducerBusy(ProducerId),
    /// Another call is using this cart right now, or a handle owns it.
    CartBusy(CartId),
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownProducer(id) => write!(f, "unknown {id}"),
            Self::UnknownCart(id) => write!(f, "unknown {id}"),
            Self::ProducerBusy(id) => write!(f, "{id} is in use by another caller"),
            Self::CartBusy(id) => write!(f, "{id} is in use by another caller"),
        }
    }
}

impl std::error::Error for IdError {}

/// Why a publish through the id API failed; the item is always handed back.
///
/// # Examples
///
/// ```
/// use ringmarket::market::PublishError;
///
/// let market = ringmarket::Market::new(1).unwrap();
/// let p = market.register_producer_id();
/// market.publish(p, 'a').unwrap();
/// let err = market.publish(p, 'b').unwrap_err();
/// assert!(matches!(err, PublishError::Full('b')));
/// assert_eq!(err.into_inner(), 'b');
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublishError<T> {
    /// The producer already has its limit of items on sale.
    Full(T),
    /// The producer id was refused.
    Id(IdError, T),
}

impl<T> PublishError<T> {
    /// The item that was not published.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item) | Self::Id(_, item) => item,
        }
    }
}

impl<T> From<crate::Full<T>> for PublishError<T> {
    fn from(full: crate::Full<T>) -> Self {
        Self::Full(full.0)
    }
}

impl<T> fmt::Debug for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Id(e, _) => write!(f, "Id({e:?}, ..)"),
        }
    }
}

impl<T> fmt::Display for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("the producer has its limit of items on sale"),
            Self::Id(e, _) => e.fmt(f),
        }
    }
}

impl<T> std::error::Error for PublishError<T> {}

/// Registry entry states.
pub(crate) const VACANT: u8 = 0;
/// Registered for the id API and not in use.
pub(crate) const IDLE: u8 = 1;
/// An id-API call is using the entry.
pub(crate) const BUSY: u8 = 2;
/// A handle owns the entry for its whole life.
pub(crate) const HELD: u8 = 3;
/// The owning handle was dropped; the id is no longer usable.
pub(crate) const RETIRED: u8 = 4;

/// One registry entry: who may use `value` right now, and the value.
pub(crate) struct Registered<E> {
    /// `VACANT -> (IDLE <-> BUSY) | HELD -> RETIRED`. Whoever moved it to `BUSY` or `HELD`
    /// has exclusive use of the `UnsafeCell`s inside `value` until it moves it on.
    pub(crate) state: AtomicU8,
    pub(crate) value: E,
}

/// Why [`Registry::acquire`] refused.
pub(crate) enum Refused {
    Unknown,
    Busy,
}

/// Entries in chunk 0; chunk `k` has `FIRST << k`.
const FIRST: usize = if cfg!(loom) { 2 } else { 8 };
const FIRST_LOG: u32 = FIRST.trailing_zeros();
/// Enough chunks for more ids than memory can hold.
const CHUNKS: usize = if cfg!(loom) { 4 } else { 40 };

/// Append-only, lock-free registry of entries addressed by index.
pub(crate) struct Registry<E> {
    /// Chunk `k`: null, or `FIRST << k` entries; set once, freed only by `Drop`.
    chunks: [AtomicPtr<Registered<E>>; CHUNKS],
    /// How many indices were handed out.
    next: AtomicUsize,
}

fn locate(index: usize) -> Option<(usize, usize)> {
    let j = index.checked_add(FIRST)?;
    let k = (usize::BITS - 1 - j.leading_zeros() - FIRST_LOG) as usize;
    (k < CHUNKS).then(|| (k, j - (FIRST << k)))
}

impl<E: Default> Registry<E> {
    pub(crate) fn new() -> Self {
        Self {
            chunks: core::array::from_fn(|_| AtomicPtr::new(core::ptr::null_mut())),
            next: AtomicUsize::new(0),
        }
    }

    /// Hands out the next index, its entry set to `state` (`IDLE` or `HELD`).
    ///
    /// # Panics
    ///
    /// When more ids were asked for than any memory could hold.
    pub(crate) fn register(&self, state: u8) -> (usize, &Registered<E>) {
        debug_assert!(state == IDLE || state == HELD);
        // Relaxed: the counter only hands out distinct indices; the entry is published by the
        // Release store of its state below.
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        let (k, offset) = locate(index).expect("too many ids");
        let chunk = self.chunk_or_allocate(k);
        // SAFETY: `offset < FIRST << k`, the length of chunk `k`, which is never freed while
        // `self` lives.
        let entry = unsafe { &*chunk.add(offset) };
        // ORDERING: Release pairs with the Acquire in `acquire`/`get`: whoever sees the entry
        // registered sees the chunk's initialisation.
        entry.state.store(state, Ordering::Release);
        (index, entry)
    }

    fn chunk_or_allocate(&self, k: usize) -> *mut Registered<E> {
        // ORDERING: Acquire pairs with the Release of the compare_exchange that installed the
        // chunk, so its entries are seen initialised.
        let current = self.chunks[k].load(Ordering::Acquire);
        if !current.is_null() {
            return current;
        }
        let fresh: Box<[Registered<E>]> = (0..FIRST << k)
            .map(|_| Registered {
                state: AtomicU8::new(VACANT),
                value: E::default(),
            })
            .collect();
        let fresh = Box::into_raw(fresh).cast::<Registered<E>>();
        // ORDERING: Release publishes the initialised chunk to the Acquire loads above and
        // in `get`; Acquire on failure pairs with the winner's Release.
        match self.chunks[k].compare_exchange(
            core::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: `fresh` came from `Box::into_raw` of a slice of this length just
                // above and was never shared.
                drop(unsafe {
                    Box::from_raw(core::ptr::slice_from_raw_parts_mut(fresh, FIRST << k))
                });
                winner
            }
        }
    }

    /// The entry of `index`, if that index was registered.
    pub(crate) fn get(&self, index: usize) -> Option<&Registered<E>> {
        let (k, offset) = locate(index)?;
        // ORDERING: Acquire pairs with the Release that installed the chunk.
        let chunk = self.chunks[k].load(Ordering::Acquire);
        if chunk.is_null() {
            return None;
        }
        // SAFETY: `offset` is within chunk `k`, which lives as long as `self`.
        let entry = unsafe { &*chunk.add(offset) };
        // ORDERING: Acquire pairs with the Release in `register`.
        (entry.state.load(Ordering::Acquire) != VACANT).then_some(entry)
    }

    /// Takes exclusive use of an `IDLE` entry for one id-API call (`IDLE -> BUSY`).
    pub(crate) fn acquire(&self, index: usize) -> Result<&Registered<E>, Refused> {
        let entry = self.get(index).ok_or(Refused::Unknown)?;
        // ORDERING: Acquire pairs with the Release in `release` by the previous user, so its
        // writes to the entry's cells happen before ours.
        match entry
            .state
            .compare_exchange(IDLE, BUSY, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Ok(entry),
            Err(BUSY | HELD) => Err(Refused::Busy),
            Err(_) => Err(Refused::Unknown),
        }
    }

    /// Iterates over every registered entry with its index (a snapshot: entries registered
    /// meanwhile may or may not appear).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &Registered<E>)> {
        // Relaxed: a bound for the scan; `get` synchronises with each entry.
        let len = self.next.load(Ordering::Relaxed);
        (0..len).filter_map(move |i| self.get(i).map(|e| (i, e)))
    }
}

impl<E> Registered<E> {
    /// Ends an id-API call (`BUSY -> IDLE`).
    pub(crate) fn release(&self) {
        // Relaxed: a debug check of our own earlier write.
        debug_assert_eq!(self.state.load(Ordering::Relaxed), BUSY);
        // ORDERING: Release pairs with the Acquire in `Registry::acquire` of the next user.
        // A plain store suffices: while `BUSY`, nobody else writes the state.
        self.state.store(IDLE, Ordering::Release);
    }

    /// Ends a handle's ownership (`HELD -> RETIRED`).
    pub(crate) fn retire(&self) {
        // ORDERING: Release so that the handle's last writes happen before anything that
        // later observes the retirement with an Acquire load (`Market::stats`, `Drop`).
        let previous = self.state.swap(RETIRED, Ordering::Release);
        debug_assert_eq!(previous, HELD);
    }
}

impl<E> Drop for Registry<E> {
    fn drop(&mut self) {
        for (k, chunk) in self.chunks.iter_mut().enumerate() {
            // Relaxed: `&mut self` means no other thread touches the registry.
            let chunk = chunk.load(Ordering::Relaxed);
            if !chunk.is_null() {
                // SAFETY: installed from `Box::into_raw` of a slice of `FIRST << k` entries,
                // freed only here, once.
                drop(unsafe {
                    Box::from_raw(core::ptr::slice_from_raw_parts_mut(chunk, FIRST << k))
                });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_indices_without_gaps() {
        let mut expected = (0, 0);
        for i in 0..1000 {
            let got = locate(i).unwrap();
            assert_eq!(got, expected, "index {i}");
            expected.1 += 1;
            if expected.1 == FIRST << expected.0 {
                expected = (expected.0 + 1, 0);
            }
        }
        assert_eq!(locate(usize::MAX), None);
    }

    #[test]
    fn unknown_and_busy_are_told_apart() {
        let r = Registry::<u8>::new();
        assert!(matches!(r.acquire(0), Err(Refused::Unknown)));
        let (i, _) = r.register(IDLE);
        let e = r.acquire(i).ok().unwrap();
        assert!(matches!(r.acquire(i), Err(Refused::Busy)));
        e.release();
        assert!(r.acquire(i).is_ok());
        let (j, held) = r.register(HELD);
        assert!(matches!(r.acquire(j), Err(Refused::Busy)));
        held.retire();
        assert!(matches!(r.acquire(j), Err(Refused::Unknown)));
        assert_eq!(r.iter().count(), 2);
    }
}
