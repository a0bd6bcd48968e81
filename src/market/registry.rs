//! The lock-free registry behind the ids: a segmented array of entries, each with a state
//! word that says who may use it, and a free stack of vacated entries.
//!
//! Chunk `k` holds `FIRST << k` entries and is allocated the first time an entry in it is
//! needed. Chunks are never moved or freed while the market lives, so a `&Registered<E>` stays
//! valid for the market's lifetime, and looking an id up is two loads, without a lock.
//!
//! Vacated entries are reused, so the registry's storage is bounded by the largest number of
//! entries alive at once. An id is the entry's slot and its *generation*, bumped every time the
//! entry is vacated: a stale id names an old generation and is refused as unknown, never
//! mistaken for the entry's new owner. An entry whose generation would wrap is never reused
//! (docs/DESIGN.md, "Reusing registry entries").

use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use super::ids::{id_number, GEN_MASK, SLOT_BITS, SLOT_MASK};
use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Registry entry states (the low byte of [`Registered::state`]; the generation is above it).
/// Free: no id of the current generation was handed out.
pub(crate) const VACANT: u8 = 0;
/// Registered for the id API and not in use.
const IDLE: u8 = 1;
/// An id-API call is using the entry ([`Busy`]).
const BUSY: u8 = 2;
/// A handle owns the entry for its whole life ([`Registry::register_held`]).
const HELD: u8 = 3;
/// The owning handle was dropped; the id is no longer usable, and the entry waits until
/// nothing refers to it any more (see [`Registry::recycle`]).
const RETIRED: u8 = 4;
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
    /// generation. Whoever moved it to `BUSY` or `HELD` has a [`Guard`] of the entry: the
    /// exclusive use of the `UnsafeCell`s inside `value` until it moves it on.
    state: AtomicU64,
    /// The free stack's top word below this entry (see [`Registry::free`]) while this one is
    /// on the free stack.
    next_free: AtomicU64,
    /// This entry's slot (fixed).
    slot: usize,
    pub(crate) value: E,
}

/// Exclusive use of one registry entry: its holder moved the entry to `BUSY` (an id-API call,
/// [`Registry::acquire`]) or `HELD` (a handle, [`Registry::register_held`]) and has not moved
/// it on, so it alone may use the `UnsafeCell`s inside the entry's value. Only this module
/// makes guards, one per such move; a guard is not `Clone`, and its methods that hand out the
/// cells' contents (`cart_mut`, `shelf_mut`, ...) take `&mut self`.
pub(crate) struct Guard<'a, E> {
    entry: &'a Registered<E>,
}

impl<'a, E> Guard<'a, E> {
    /// The entry's value. Its `UnsafeCell`s are for the guard's methods that borrow the guard.
    #[inline]
    pub(crate) fn value(&self) -> &'a E {
        &self.entry.value
    }

    /// This entry's registry slot.
    pub(crate) fn slot(&self) -> usize {
        self.entry.slot
    }
}

/// An id-API call's [`Guard`]: [`Registry::acquire`] moved the entry `IDLE -> BUSY`, and
/// dropping the guard moves it back (`BUSY -> IDLE`), also when user `Hash`/`Eq` code unwinds.
pub(crate) struct Busy<'a, E>(Guard<'a, E>);

impl<'a, E> Deref for Busy<'a, E> {
    type Target = Guard<'a, E>;

    #[inline]
    fn deref(&self) -> &Guard<'a, E> {
        &self.0
    }
}

impl<'a, E> DerefMut for Busy<'a, E> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Guard<'a, E> {
        &mut self.0
    }
}

impl<E> Drop for Busy<'_, E> {
    fn drop(&mut self) {
        self.0.entry.release();
    }
}

/// A handle's hold on its entry (`HELD`, from [`Registry::register_held`]) for the handle's
/// whole life, kept beside `keeper`, the value through which the registry was reached (the
/// market), which keeps the registry, and so the entry, alive. [`hold`](Self::hold) lends the
/// entry's [`Guard`] for as long as the `Held` is borrowed mutably, [`view`](Self::view) a
/// read-only one for as long as it is borrowed; when the `Held` is dropped, its keeper ends
/// the hold ([`Keeper::end`]).
pub(crate) struct Held<K: Keeper<E>, E> {
    entry: NonNull<Registered<E>>,
    keeper: K,
}

/// What keeps a [`Held`] entry's registry alive, and ends the hold when the `Held` is dropped.
pub(crate) trait Keeper<E> {
    /// Ends the hold on `entry`, which is never used again: retires it
    /// ([`Retiring::retire`]) or vacates it ([`Registry::vacate_held`]).
    fn end(&self, entry: Retiring<'_, E>);
}

/// A held entry whose hold is ending (its `Held` is being dropped): the only guard that may
/// retire or vacate the entry, since nothing uses the entry through the `Held` afterwards.
pub(crate) struct Retiring<'a, E>(Guard<'a, E>);

impl<'a, E> Retiring<'a, E> {
    /// The entry's guard, for the last uses of the entry.
    pub(crate) fn guard(&mut self) -> &mut Guard<'a, E> {
        &mut self.0
    }

    /// Ends a handle's ownership (`HELD -> RETIRED`), returning the new state word; the entry
    /// is reused later by [`Registry::recycle`] (a producer's, once nothing refers to it).
    pub(crate) fn retire(self) -> u64 {
        self.0.entry.retire()
    }
}

impl<K: Keeper<E>, E> Drop for Held<K, E> {
    fn drop(&mut self) {
        let entry = Retiring(Guard {
            entry: self.entry(),
        });
        self.keeper.end(entry);
    }
}

impl<K: Keeper<E>, E> Held<K, E> {
    /// Registers an entry with `register`, which moves an entry of a registry it reaches
    /// through `keeper` to `HELD` (with [`Registry::register_held`]); returns the number of its
    /// id and the hold.
    pub(crate) fn new(
        keeper: K,
        register: impl FnOnce(&K) -> (usize, Guard<'_, E>),
    ) -> (usize, Self) {
        let (id, guard) = register(&keeper);
        let entry = NonNull::from(guard.entry);
        (id, Self { entry, keeper })
    }

    /// The value that keeps the registry alive.
    #[inline]
    pub(crate) fn keeper(&self) -> &K {
        &self.keeper
    }

    /// The entry.
    #[inline]
    fn entry(&self) -> &Registered<E> {
        // SAFETY: `register` made the guard from a borrow of `keeper` of any length, so the
        // entry's registry outlives every borrow of `keeper`, which lives as long as `self`
        // (`keeper` is never lent out mutably); entries live as long as their registry, and
        // moving `keeper` moves no entry (they are in the registry's chunks).
        unsafe { self.entry.as_ref() }
    }

    /// The keeper and the entry's guard, for one operation of the handle.
    #[inline]
    pub(crate) fn hold(&mut self) -> (&K, Guard<'_, E>) {
        let this = &*self;
        (
            &this.keeper,
            Guard {
                entry: this.entry(),
            },
        )
    }

    /// The entry's guard, to read through: the `&self` methods of the guard only.
    #[inline]
    pub(crate) fn view(&self) -> View<'_, E> {
        View(Guard {
            entry: self.entry(),
        })
    }
}

/// A read-only [`Guard`] of a held entry ([`Held::view`]): it lends only `&Guard`, so the
/// guard's `&mut self` methods are out of reach while any view lives.
pub(crate) struct View<'a, E>(Guard<'a, E>);

impl<'a, E> Deref for View<'a, E> {
    type Target = Guard<'a, E>;

    #[inline]
    fn deref(&self) -> &Guard<'a, E> {
        &self.0
    }
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

    /// Hands out a vacant entry (a reused one if any) for the id API (`IDLE`), with the number
    /// of its id; [`acquire`](Self::acquire) takes it for each call.
    ///
    /// # Panics
    ///
    /// When more ids were asked for than any memory could hold.
    pub(crate) fn register_idle(&self) -> (usize, &Registered<E>) {
        self.register(IDLE)
    }

    /// Hands out a vacant entry (a reused one if any) to a handle (`HELD`), with the number of
    /// its id and the guard the handle keeps for its whole life.
    ///
    /// # Panics
    ///
    /// When more ids were asked for than any memory could hold.
    pub(crate) fn register_held(&self) -> (usize, Guard<'_, E>) {
        let (id, entry) = self.register(HELD);
        (id, Guard { entry })
    }

    /// Hands out a vacant entry (a reused one if any), set to `state` (`IDLE` or `HELD`),
    /// and the number of its id.
    fn register(&self, state: u8) -> (usize, &Registered<E>) {
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

    /// Takes exclusive use of an `IDLE` entry for one id-API call (`IDLE -> BUSY`) until the
    /// guard is dropped.
    pub(crate) fn acquire(&self, id: usize) -> Result<Busy<'_, E>, Refused> {
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
            Ok(_) => Ok(Busy(Guard { entry })),
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

    /// Vacates a handle's entry that nothing but the handle refers to (`HELD -> VACANT`, as
    /// [`recycle`](Self::recycle)): the entry is reused at once.
    pub(crate) fn vacate_held(&self, entry: Retiring<'_, E>) {
        let entry = entry.0.entry;
        self.recycle(entry, entry.held(), |_| {});
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
    fn release(&self) {
        // Relaxed: only we write the state while it is `BUSY`.
        let w = self.state.load(Ordering::Relaxed);
        debug_assert_eq!(w as u8, BUSY);
        // ORDERING: Release pairs with the Acquire in `Registry::acquire` of the next user.
        // A plain store suffices: while `BUSY`, nobody else writes the state.
        self.state
            .store(word(w >> STATE_BITS, IDLE), Ordering::Release);
    }

    /// Ends a handle's ownership (`HELD -> RETIRED`), returning the new state word.
    fn retire(&self) -> u64 {
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
    fn held(&self) -> u64 {
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
mod tests;
