//! Producer and cart ids, the errors of the id API, and the lock-free registry behind them.
//!
//! The registry is a segmented array: chunk `k` holds `FIRST << k` entries and is allocated
//! the first time an entry in it is needed. Chunks are never moved or freed while the market
//! lives, so a `&Registered<E>` stays valid for the market's lifetime, and looking an id up is
//! two loads, without a lock.
//!
//! Vacated entries are reused (a lock-free stack of free entries), so the registry's storage
//! is bounded by the largest number of entries alive at once. An id is the entry's slot and
//! its *generation*, bumped every time the entry is vacated: a stale id names an old
//! generation and is refused as unknown, never mistaken for the entry's new owner. An entry
//! whose generation would wrap is never reused (see `docs/DESIGN.md`, "Registry").

use core::fmt;

use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Bits of an id's number that hold the registry slot; the generation is above them.
const SLOT_BITS: u32 = usize::BITS / 2;
const SLOT_MASK: usize = (1 << SLOT_BITS) - 1;
/// Bits of a generation: the rest of an id's number, shrunk under `cfg(test)` and `cfg(loom)`
/// so that tests and models reach the last generation of an entry.
const GEN_BITS: u32 = if cfg!(any(test, loom)) {
    2
} else {
    usize::BITS - SLOT_BITS
};
/// The last generation of an entry: vacating it in this generation spends it (`SPENT`), so
/// that no (slot, generation) pair is ever handed out twice.
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;

/// The number of the id of registry slot `slot` in generation `generation`.
fn id_number(slot: usize, generation: u64) -> usize {
    debug_assert!(slot <= SLOT_MASK);
    slot | (((generation & GEN_MASK) as usize) << SLOT_BITS)
}

/// Writes an id number as `slot` (generation 0) or `slot.generation`.
fn write_id(f: &mut fmt::Formatter<'_>, what: &str, n: usize) -> fmt::Result {
    let (slot, generation) = (n & SLOT_MASK, n >> SLOT_BITS);
    if generation == 0 {
        write!(f, "{what} {slot}")
    } else {
        write!(f, "{what} {slot}.{generation}")
    }
}

/// The tag of the market that handed out an id: a number unique in the process, so that an
/// id used on another market than its own is refused as unknown instead of naming whatever
/// that market has under the same number. Tag 0 belongs to no market.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct MarketTag(u64);

impl MarketTag {
    /// A tag no other market of this process has.
    pub(crate) fn unique() -> Self {
        Self(crate::sync::unique_tag())
    }
}

/// Identifies a producer of one market.
///
/// An id carries a tag of the market that handed it out: used on another market, it is
/// refused with [`IdError::UnknownProducer`], even where that market has a producer with the
/// same number. `Debug` shows what `Display` shows (`producer 3`, or `producer 3.1` for a
/// reused registry slot); two ids that print alike but come from different markets are not
/// equal.
///
/// # Examples
///
/// ```
/// use ringmarket::market::{IdError, PublishError};
///
/// let market = ringmarket::Market::<u32>::new(4).unwrap();
/// let a = market.register_producer_id();
/// let b = market.register_producer_id();
/// assert_ne!(a, b);
/// assert_eq!(a.to_string(), "producer 0");
/// assert_eq!(format!("{a:?}"), "producer 0");
///
/// let other = ringmarket::Market::<u32>::new(4).unwrap();
/// let theirs = other.register_producer_id();
/// assert_eq!(theirs.to_string(), "producer 0");
/// assert_ne!(theirs, a);
/// assert!(matches!(
///     market.publish(theirs, 1),
///     Err(PublishError::Id(IdError::UnknownProducer(_), 1))
/// ));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProducerId {
    market: MarketTag,
    number: usize,
}

/// Identifies a cart of one market.
///
/// Like [`ProducerId`], it carries a tag of its market: used on another market, it is
/// refused with [`IdError::UnknownCart`]. `Debug` shows what `Display` shows.
///
/// # Examples
///
/// ```
/// use ringmarket::market::IdError;
///
/// let market = ringmarket::Market::<u32>::new(4).unwrap();
/// let cart = market.new_cart_id();
/// assert_eq!(cart.to_string(), "cart 0");
/// assert_eq!(format!("{cart:?}"), "cart 0");
///
/// let other = ringmarket::Market::<u32>::new(4).unwrap();
/// let _their_cart = other.new_cart_id();
/// assert_eq!(other.place_order(cart), Err(IdError::UnknownCart(cart)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CartId {
    market: MarketTag,
    number: usize,
}

impl ProducerId {
    /// The id with number `index` and no market, for other implementations of
    /// [`Marketplace`](crate::Marketplace) that number their ids themselves. Every market of
    /// this crate refuses it ([`IdError::UnknownProducer`]): only the ids a market handed out
    /// name its producers.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::ProducerId;
    ///
    /// assert_eq!(ProducerId::new(3).index(), 3);
    /// ```
    pub const fn new(index: usize) -> Self {
        Self::tagged(MarketTag(0), index)
    }

    pub(crate) const fn tagged(market: MarketTag, number: usize) -> Self {
        Self { market, number }
    }

    /// The number of this id if `market` handed it out.
    pub(crate) fn number_in(self, market: MarketTag) -> Option<usize> {
        (self.market == market).then_some(self.number)
    }

    /// The id as a number (without its market). The low half of its bits is a registry slot,
    /// the high half how many times that slot was vacated before (its generation), so ids
    /// stay unique although the slots of retired producers are reused. Producers registered
    /// while none was retired are numbered from 0 in registration order.
    pub fn index(self) -> usize {
        self.number
    }
}

impl CartId {
    /// The id with number `index` and no market, for other implementations of
    /// [`Marketplace`](crate::Marketplace) that number their ids themselves. Every market of
    /// this crate refuses it ([`IdError::UnknownCart`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::CartId;
    ///
    /// assert_eq!(CartId::new(3).index(), 3);
    /// ```
    pub const fn new(index: usize) -> Self {
        Self::tagged(MarketTag(0), index)
    }

    pub(crate) const fn tagged(market: MarketTag, number: usize) -> Self {
        Self { market, number }
    }

    /// The number of this id if `market` handed it out.
    pub(crate) fn number_in(self, market: MarketTag) -> Option<usize> {
        (self.market == market).then_some(self.number)
    }

    /// The id as a number (without its market): a registry slot in the low half of its bits,
    /// the slot's generation in the high half (as for [`ProducerId::index`]). Carts opened
    /// while none was dropped are numbered from 0 in creation order.
    pub fn index(self) -> usize {
        self.number
    }
}

/// `producer SLOT`, or `producer SLOT.GENERATION` for a reused slot.
impl fmt::Display for ProducerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_id(f, "producer", self.number)
    }
}

/// The same as `Display`.
impl fmt::Debug for ProducerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `cart SLOT`, or `cart SLOT.GENERATION` for a reused slot.
impl fmt::Display for CartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_id(f, "cart", self.number)
    }
}

/// The same as `Display`.
impl fmt::Debug for CartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why an id-API call was refused. Nothing changed in the market when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdError {
    /// No producer of this market has this id (it was never handed out, or by another
    /// market), or its [`Producer`](crate::market::Producer) handle was dropped.
    UnknownProducer(ProducerId),
    /// No cart of this market has this id (it was never handed out, or by another market), or
    /// its [`Cart`](crate::market::Cart) handle was dropped.
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

/// Registry entry states (the low byte of [`Registered::state`]; the generation is above it).
/// Free: no id of the current generation was handed out.
pub(crate) const VACANT: u8 = 0;
/// Registered for the id API and not in use.
pub(crate) const IDLE: u8 = 1;
/// An id-API call is using the entry.
pub(crate) const BUSY: u8 = 2;
/// A handle owns the entry for its whole life.
pub(crate) const HELD: u8 = 3;
/// The owning handle was dropped; the id is no longer usable, and the entry waits until
/// nothing refers to it any more (see [`Registry::recycle`]).
pub(crate) const RETIRED: u8 = 4;
/// Vacated in its last generation: never handed out again (its storage stays allocated).
const SPENT: u8 = 5;

const STATE_BITS: u32 = 8;

/// A state word: `generation << 8 | state`.
const fn word(generation: u64, state: u8) -> u64 {
    (generation << STATE_BITS) | state as u64
}

/// One registry entry: who may use `value` right now, and the value. Aligned to a cache line
/// pair, so that neighbouring entries (producers and carts used by other threads) never share
/// a line.
#[repr(align(128))]
pub(crate) struct Registered<E> {
    /// `generation << 8 | state`, state `VACANT -> (IDLE <-> BUSY) | (HELD -> RETIRED) ->
    /// VACANT` (with the generation bumped), or `SPENT` instead of `VACANT` after the last
    /// generation. Whoever moved it to `BUSY` or `HELD`
    /// has exclusive use of the `UnsafeCell`s inside `value` until it moves it on.
    pub(crate) state: AtomicU64,
    /// The free stack's top word below this entry (see [`Registry::free`]) while this one is
    /// on the free stack.
    next_free: AtomicU64,
    /// This entry's slot (fixed).
    slot: usize,
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

/// Lock-free registry of entries addressed by slot, reusing vacated entries.
pub(crate) struct Registry<E> {
    /// Chunk `k`: null, or `FIRST << k` entries; set once, freed only by `Drop`.
    chunks: [AtomicPtr<Registered<E>>; CHUNKS],
    /// How many slots were ever handed out.
    next: AtomicUsize,
    /// The free stack: `generation << 32 | (slot + 1)` of its top entry (0 in the low half:
    /// empty). An entry is pushed once per generation and never in its last one, so a top word
    /// never comes back once popped, and a stale compare-exchange fails (no ABA, whatever
    /// the time between its load and its compare-exchange).
    free: AtomicU64,
}

fn locate(index: usize) -> Option<(usize, usize)> {
    let j = index.checked_add(FIRST)?;
    let k = (usize::BITS - 1 - j.leading_zeros() - FIRST_LOG) as usize;
    (k < CHUNKS).then(|| (k, j - (FIRST << k)))
}

const FREE_LOW: u64 = u32::MAX as u64;
const FREE_GEN_SHIFT: u32 = 32;

impl<E: Default> Registry<E> {
    pub(crate) fn new() -> Self {
        Self {
            chunks: core::array::from_fn(|_| AtomicPtr::new(core::ptr::null_mut())),
            next: AtomicUsize::new(0),
            free: AtomicU64::new(0),
        }
    }

    /// Hands out a vacant entry (a reused one if any), set to `state` (`IDLE` or `HELD`),
    /// and the number of its id.
    ///
    /// # Panics
    ///
    /// When more ids were asked for than any memory could hold.
    pub(crate) fn register(&self, state: u8) -> (usize, &Registered<E>) {
        debug_assert!(state == IDLE || state == HELD);
        let (slot, entry) = match self.pop_free() {
            Some(found) => found,
            None => {
                // Relaxed: the counter only hands out distinct slots; the entry is published
                // by the Release store of its state below.
                let slot = self.next.fetch_add(1, Ordering::Relaxed);
                assert!(
                    slot <= SLOT_MASK && slot < FREE_LOW as usize,
                    "too many ids"
                );
                let (k, offset) = locate(slot).expect("too many ids");
                let chunk = self.chunk_or_allocate(k);
                // SAFETY: `offset < FIRST << k`, the length of chunk `k`: the pointer stays
                // inside the chunk's allocation.
                let entry = unsafe { chunk.add(offset) };
                // SAFETY: chunk `k` is initialised and never freed while `self` lives.
                (slot, unsafe { &*entry })
            }
        };
        // Relaxed: the entry is vacant, so we alone write its state now (a popped entry was
        // acquired through the free stack, a fresh one through its chunk).
        let current = entry.state.load(Ordering::Relaxed);
        debug_assert_eq!(current as u8, VACANT);
        let generation = current >> STATE_BITS;
        // ORDERING: Release pairs with the Acquire in `acquire`/`get`: whoever sees the entry
        // registered sees the chunk's initialisation and the entry's reset.
        entry
            .state
            .store(word(generation, state), Ordering::Release);
        (id_number(slot, generation), entry)
    }

    /// Pops a vacated entry off the free stack.
    fn pop_free(&self) -> Option<(usize, &Registered<E>)> {
        self.pop_free_with(|| {})
    }

    /// `pop_free`, calling `between` between reading the top's successor and the
    /// compare-exchange (tests use it to hold a pop at its most fragile point).
    #[inline(always)]
    fn pop_free_with(&self, mut between: impl FnMut()) -> Option<(usize, &Registered<E>)> {
        // ORDERING: Acquire pairs with the Release of the push: the entry's reset (and its
        // `next_free`) happen before our use.
        let mut top = self.free.load(Ordering::Acquire);
        loop {
            let low = (top & FREE_LOW) as usize;
            if low == 0 {
                return None;
            }
            let entry = self.entry(low - 1)?;
            // Relaxed: a stale value means that the entry was popped (and pushed again in a
            // later generation) since `top` was loaded; `top` can then never be the top
            // again, and the compare-exchange below fails.
            let next = entry.next_free.load(Ordering::Relaxed);
            between();
            // ORDERING: Acquire as above (also on failure, for the next round).
            match self
                .free
                .compare_exchange_weak(top, next, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Some((entry.slot, entry)),
                Err(current) => top = current,
            }
        }
    }

    fn chunk_or_allocate(&self, k: usize) -> *mut Registered<E> {
        // ORDERING: Acquire pairs with the Release of the compare_exchange that installed the
        // chunk, so its entries are seen initialised.
        let current = self.chunks[k].load(Ordering::Acquire);
        if !current.is_null() {
            return current;
        }
        let fresh: Box<[Registered<E>]> = (0..FIRST << k)
            .map(|offset| Registered {
                state: AtomicU64::new(word(0, VACANT)),
                next_free: AtomicU64::new(0),
                slot: (FIRST << k) - FIRST + offset,
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
}

impl<E> Registry<E> {
    /// The entry in `slot`, if its chunk exists.
    fn entry(&self, slot: usize) -> Option<&Registered<E>> {
        let (k, offset) = locate(slot)?;
        // ORDERING: Acquire pairs with the Release that installed the chunk.
        let chunk = self.chunks[k].load(Ordering::Acquire);
        if chunk.is_null() {
            return None;
        }
        // SAFETY: `offset` is within chunk `k`: the pointer stays inside its allocation.
        let entry = unsafe { chunk.add(offset) };
        // SAFETY: chunk `k` is initialised and lives as long as `self`.
        Some(unsafe { &*entry })
    }

    /// The entry in `slot`, if its chunk exists.
    pub(crate) fn slot_entry(&self, slot: usize) -> Option<&Registered<E>> {
        self.entry(slot)
    }

    /// Takes exclusive use of an `IDLE` entry for one id-API call (`IDLE -> BUSY`).
    pub(crate) fn acquire(&self, id: usize) -> Result<&Registered<E>, Refused> {
        let entry = self.entry(id & SLOT_MASK).ok_or(Refused::Unknown)?;
        let generation = ((id >> SLOT_BITS) as u64) & GEN_MASK;
        // ORDERING: Acquire pairs with the Release in `release` by the previous user (or in
        // `register`), so its writes to the entry's cells happen before ours. Comparing the
        // whole word, generation included, refuses a stale id whatever happens to the entry
        // meanwhile; one compare-exchange, no load before it.
        match entry.state.compare_exchange(
            word(generation, IDLE),
            word(generation, BUSY),
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => Ok(entry),
            Err(now)
                if (now >> STATE_BITS) & GEN_MASK == generation
                    && matches!(now as u8, BUSY | HELD) =>
            {
                Err(Refused::Busy)
            }
            Err(_) => Err(Refused::Unknown),
        }
    }

    /// Iterates over every registered entry (not vacant) with its id number (a snapshot:
    /// entries registered or vacated meanwhile may or may not appear).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &Registered<E>)> {
        // Relaxed: a bound for the scan; each entry's state is loaded with Acquire.
        let len = self.next.load(Ordering::Relaxed);
        (0..len).filter_map(move |slot| {
            let entry = self.entry(slot)?;
            // ORDERING: Acquire pairs with the Release in `register`.
            let w = entry.state.load(Ordering::Acquire);
            (!matches!(w as u8, VACANT | SPENT)).then(|| (id_number(slot, w >> STATE_BITS), entry))
        })
    }

    /// Every entry handed out so far, whatever its state (live, retired, vacant, or spent):
    /// for statistics kept across reuse.
    pub(crate) fn iter_all(&self) -> impl Iterator<Item = &Registered<E>> {
        // Relaxed: a bound for the scan; entries are only read for statistics.
        let len = self.next.load(Ordering::Relaxed);
        (0..len).filter_map(move |slot| self.entry(slot))
    }

    /// Entries allocated (live, retired or free for reuse): the registry's storage.
    pub(crate) fn allocated(&self) -> usize {
        (0..CHUNKS)
            // Relaxed: a statistic (the chunk is not read).
            .filter(|&k| !self.chunks[k].load(Ordering::Relaxed).is_null())
            .map(|k| FIRST << k)
            .sum()
    }

    /// Vacates `entry` if its state word is still `from` (`HELD` for a handle that leaves
    /// nothing behind, `RETIRED` for an entry whose last reference just went away), bumping
    /// its generation, and puts it on the free stack for reuse; in its last generation the
    /// entry is spent instead and never reused. Returns whether this call vacated it: at most
    /// one call vacates each generation.
    ///
    /// The caller makes sure that nothing refers to the entry's value any more; `reset`
    /// (called by the winner, before the entry can be handed out again) makes the value fit
    /// for a new owner (the counters of a producer with no item left already sum to zero; a
    /// closed cart is empty).
    pub(crate) fn recycle(&self, entry: &Registered<E>, from: u64, reset: impl FnOnce(&E)) -> bool {
        let generation = from >> STATE_BITS;
        debug_assert!(generation <= GEN_MASK);
        let vacated = if generation == GEN_MASK {
            word(generation, SPENT)
        } else {
            word(generation + 1, VACANT)
        };
        // ORDERING: Acquire so that every use of the entry by its last owner and by its last
        // referents (whose Release reached the caller) happens before the next owner's;
        // Release is provided again by the push below.
        if entry
            .state
            .compare_exchange(from, vacated, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        reset(&entry.value);
        if generation == GEN_MASK {
            return true;
        }
        let pushed = ((generation + 1) << FREE_GEN_SHIFT) | (entry.slot as u64 + 1);
        // Relaxed load: the Release compare-exchange below publishes the entry's state and
        // `next_free` to the Acquire of `pop_free`.
        let mut top = self.free.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the Release compare-exchange below.
            entry.next_free.store(top, Ordering::Relaxed);
            // ORDERING: Release, see above.
            match self
                .free
                .compare_exchange_weak(top, pushed, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(current) => top = current,
            }
        }
    }
}

impl<E> Registered<E> {
    /// This entry's registry slot.
    pub(crate) fn slot(&self) -> usize {
        self.slot
    }

    /// Ends an id-API call (`BUSY -> IDLE`).
    pub(crate) fn release(&self) {
        // Relaxed: only we write the state while it is `BUSY`.
        let w = self.state.load(Ordering::Relaxed);
        debug_assert_eq!(w as u8, BUSY);
        // ORDERING: Release pairs with the Acquire in `Registry::acquire` of the next user.
        // A plain store suffices: while `BUSY`, nobody else writes the state.
        self.state
            .store(word(w >> STATE_BITS, IDLE), Ordering::Release);
    }

    /// Ends a handle's ownership (`HELD -> RETIRED`), returning the new state word.
    pub(crate) fn retire(&self) -> u64 {
        // Relaxed: only we write the state while it is `HELD`.
        let w = self.state.load(Ordering::Relaxed);
        debug_assert_eq!(w as u8, HELD);
        let retired = word(w >> STATE_BITS, RETIRED);
        // ORDERING: Release so that the handle's last writes happen before anything that
        // later observes the retirement with an Acquire load (`Market::stats`, `recycle`).
        self.state.store(retired, Ordering::Release);
        retired
    }

    /// The state word of a `HELD` entry (for [`Registry::recycle`]).
    pub(crate) fn held(&self) -> u64 {
        // Relaxed: only the handle writes the state while it is `HELD`.
        let w = self.state.load(Ordering::Relaxed);
        debug_assert_eq!(w as u8, HELD);
        w
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

    #[test]
    fn vacated_entries_are_reused_under_a_new_generation() {
        let r = Registry::<u8>::new();
        let (a, ea) = r.register(HELD);
        let (b, eb) = r.register(HELD);
        assert!(r.recycle(ea, ea.held(), |_| {}));
        let retired = eb.retire();
        assert!(
            !r.recycle(eb, retired ^ (1 << STATE_BITS), |_| {}),
            "another generation"
        );
        assert!(r.recycle(eb, retired, |_| {}));
        assert!(
            !r.recycle(eb, retired, |_| {}),
            "vacated once per generation"
        );
        // LIFO: `b`'s slot first, then `a`'s, then a fresh one.
        let (b2, _) = r.register(IDLE);
        let (a2, _) = r.register(IDLE);
        let (c, _) = r.register(IDLE);
        assert_eq!((b2 & SLOT_MASK, a2 & SLOT_MASK, c), (b, a, 2));
        assert_ne!(a2, a);
        assert_ne!(b2, b);
        for stale in [a, b] {
            assert!(matches!(r.acquire(stale), Err(Refused::Unknown)));
        }
        assert!(r.acquire(a2).is_ok());
        assert!(matches!(r.acquire(a2), Err(Refused::Busy)));
        assert_eq!(r.allocated(), FIRST);
        assert_eq!(r.iter().map(|(id, _)| id).collect::<Vec<_>>(), [a2, b2, c]);
    }

    #[test]
    fn an_entry_is_spent_after_its_last_generation_and_its_ids_never_come_back() {
        let r = Registry::<u8>::new();
        let mut ids = Vec::new();
        let mut slots = Vec::new();
        // Every generation of one slot, then once more: the last vacate spends the entry.
        for _ in 0..=GEN_MASK + 1 {
            let (id, entry) = r.register(HELD);
            ids.push(id);
            slots.push(entry.slot());
            assert!(r.recycle(entry, entry.retire(), |_| {}));
        }
        let first = slots[0];
        assert!(slots[..=GEN_MASK as usize].iter().all(|&s| s == first));
        assert_ne!(
            slots[GEN_MASK as usize + 1],
            first,
            "a spent entry was reused"
        );
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            ids.len(),
            "an id was handed out twice: {ids:?}"
        );
        for &id in &ids {
            assert!(matches!(r.acquire(id), Err(Refused::Unknown)));
        }
        assert_eq!(
            r.iter().count(),
            0,
            "spent and vacant entries are not listed"
        );
        // The spent entry is never handed out, however many ids are asked for.
        let later: Vec<usize> = (0..3 * FIRST).map(|_| r.register(IDLE).1.slot()).collect();
        assert!(!later.contains(&first));
    }

    #[test]
    fn a_pop_held_before_its_compare_exchange_never_hands_out_a_live_entry() {
        let r = Registry::<u8>::new();
        let (_, s) = r.register(HELD);
        let (_, x) = r.register(HELD);
        let (_, y) = r.register(HELD);
        assert!(r.recycle(x, x.held(), |_| {}));
        assert!(r.recycle(s, s.held(), |_| {}));
        // The free stack is `s -> x`; `y` is live. A pop loads `s` and its successor `x`, then
        // waits while others pop `s` and `x`, and push `y` and `s` again: the top names `s`
        // again (with `y` below it) while `x` is live. A tag that counted pushes and pops in
        // as many bits as a generation would be back at its old value now.
        let mut attacked = false;
        let mut live = Vec::new();
        let popped = r.pop_free_with(|| {
            if !std::mem::replace(&mut attacked, true) {
                let (_, s2) = r.register(HELD);
                let (_, x2) = r.register(HELD);
                assert_eq!((s2.slot(), x2.slot()), (s.slot(), x.slot()));
                assert!(r.recycle(y, y.retire(), |_| {}));
                assert!(r.recycle(s2, s2.held(), |_| {}));
                live.push(x2.slot());
            }
        });
        live.push(popped.expect("the stack holds entries").0);
        while live.len() < 4 {
            live.push(r.register(IDLE).1.slot());
        }
        let mut unique = live.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            live.len(),
            "an entry handed out twice: {live:?}"
        );
    }
}
