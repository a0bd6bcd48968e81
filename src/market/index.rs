//! The index: buckets (by item hash) of segments of slots, the slot state machine, and the
//! reservation that searches it.
//!
//! Every item on sale sits in a slot of a [`Segment`]; a segment belongs to one bucket for
//! the market's whole life and is *owned* by one stall (a producer, or a cart that puts
//! returned items back on sale). Only the owner fills slots; anyone may claim and empty them.
//! See `docs/DESIGN.md` for the proofs.

use core::hash::{Hash, Hasher};
use core::mem::MaybeUninit;
use core::ptr;
use std::time::Instant;

use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering, UnsafeCell};

/// Slots per segment (the state word has 16 bits per field).
pub(crate) const SLOTS: usize = if cfg!(loom) { 2 } else { 16 };
const SLOT_MASK: u64 = (1 << SLOTS) - 1;
const CLAIMED_SHIFT: u32 = 16;
const FREED_SHIFT: u32 = 32;
/// Width of a segment's fill counter, at the top of its word; shrunk under loom and in unit
/// tests so that wrap-around is reachable (docs/DESIGN.md, "The double collect").
pub(crate) const COUNTER_BITS: u32 = if cfg!(loom) {
    2
} else if cfg!(test) {
    3
} else {
    16
};
const COUNTER_SHIFT: u32 = 64 - COUNTER_BITS;
const COUNTER_ONE: u64 = 1 << COUNTER_SHIFT;
/// Counter values at which the owner first bumps its bucket's `wraps`: every half range.
const HALF_MASK: u64 = (1 << (COUNTER_BITS - 1)) - 1;

/// Bumps `wraps` if the mark that takes the segment's counter from `counter` to `counter + 1`
/// is a half point (docs/DESIGN.md, "The double collect"); the owner calls it just before the
/// mark. Once per `2^(COUNTER_BITS - 1)` marks.
#[inline]
fn before_mark(counter: u64, wraps: &AtomicU64) {
    if counter.wrapping_add(1) & HALF_MASK == 0 {
        // ORDERING: SeqCst, ordered in the single total order before the mark that follows
        // (program order) and after the marks that precede it; the reservations' SeqCst loads
        // of `wraps` around their two collects see it (docs/DESIGN.md, "The double collect").
        wraps.fetch_add(1, Ordering::SeqCst);
    }
}

/// Slot `i` holds an item on sale.
const fn ready(i: usize) -> u64 {
    1 << i
}
/// Slot `i` is claimed: alone, prepared by its owner (not yet on sale); together with
/// `ready(i)`, a reservation is comparing or moving its item.
const fn claimed(i: usize) -> u64 {
    1 << (CLAIMED_SHIFT as usize + i)
}
/// Slot `i` was emptied by a reservation and not yet reused by its owner.
const fn freed(i: usize) -> u64 {
    1 << (FREED_SHIFT as usize + i)
}

/// What a slot holds: the item and the counts of the producer it counts against.
pub(crate) struct Item<T> {
    pub(crate) value: T,
    /// Points into the producer registry, which outlives every slot.
    pub(crate) count: *const super::Counts,
}

/// A fixed group of slots of one bucket, owned by one stall at a time.
pub(crate) struct Segment<T> {
    /// Per slot `i`: `ready(i)`, `claimed(i)`, `ready(i) | claimed(i)` or `freed(i)` (none =
    /// empty), and in the top `COUNTER_BITS` bits a counter bumped by every prepare and publish
    /// (the owner's *marks*; nobody else changes it).
    word: AtomicU64,
    /// The owning stall's token; 0 while orphaned (its owner was dropped).
    owner: AtomicUsize,
    /// The bucket's next (older) segment; written before the segment is published, then fixed.
    next: AtomicPtr<Segment<T>>,
    /// The owner's next segment in the same bucket; only the owner touches it.
    own_next: AtomicPtr<Segment<T>>,
    /// `hashes[i]`: hash of the item in slot `i`, written by the owner before `ready(i)`.
    hashes: [AtomicU64; SLOTS],
    /// The items. Written only by the owner while the slot is empty, read by the one claimer.
    slots: [UnsafeCell<MaybeUninit<Item<T>>>; SLOTS],
}

impl<T> Segment<T> {
    fn new(owner: usize) -> Self {
        Self {
            word: AtomicU64::new(0),
            owner: AtomicUsize::new(owner),
            next: AtomicPtr::new(ptr::null_mut()),
            own_next: AtomicPtr::new(ptr::null_mut()),
            hashes: core::array::from_fn(|_| AtomicU64::new(0)),
            slots: core::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
        }
    }

    /// Empty slots the owner may fill, given a word it loaded with Acquire.
    fn free_slots(w: u64) -> u64 {
        !(w | (w >> CLAIMED_SHIFT)) & SLOT_MASK
    }

    /// Writes `item` into slot `i` and marks the slot claimed (by its owner): the item is not
    /// yet on sale, but a reservation looking for an equal item sees a claimed slot with a
    /// matching hash and waits for it (see [`Prepared`]).
    ///
    /// # Safety
    ///
    /// The caller owns the segment and `w`, loaded with Acquire after it became the owner,
    /// shows slot `i` free (neither ready nor claimed); `wraps` is the bucket's. Returns the
    /// counter after the mark, for [`publish`](Self::publish).
    unsafe fn prepare(&self, i: usize, w: u64, hash: u64, item: Item<T>, wraps: &AtomicU64) -> u64 {
        debug_assert!(Self::free_slots(w) & ready(i) != 0);
        // SAFETY: the slot is empty (not ready, not claimed) and only the owner fills slots,
        // so nobody else accesses it until `ready(i)` is published by `publish`; the Acquire
        // load of `w` ordered any previous claimer's move-out before this write.
        self.slots[i].with_mut(|p| unsafe { (*p).write(item) });
        // Relaxed: readers only use the hash as a filter and read it after an Acquire load of
        // `word`; the RMW below publishes it.
        self.hashes[i].store(hash, Ordering::Relaxed);
        // Set claimed(i), clear freed(i) if it was set (only the owner clears it, so `w` is
        // still right about it), and bump the counter (it wraps out of the word's top), so
        // that a search whose first collect missed this slot sees the segment change.
        let delta = claimed(i)
            .wrapping_add(COUNTER_ONE)
            .wrapping_sub(w & freed(i));
        // Only the owner changes the counter, so `w` has its current value.
        let counter = w >> COUNTER_SHIFT;
        before_mark(counter, wraps);
        // ORDERING: SeqCst. The Release half publishes the hash to the searches' Acquire
        // loads of `word`. SeqCst because the owner's next step is a SeqCst load (publish) or
        // read-modify-write (return) of the producer's count, its linearization point: in
        // the single total order either a search's (SeqCst) load of this word comes after
        // this mark, and it waits for the slot, or the search's earlier collect missed it and
        // its second collect sees the counter changed (docs/DESIGN.md, "Publish and return").
        self.word.fetch_add(delta, Ordering::SeqCst);
        counter.wrapping_add(1)
    }

    /// Puts the item prepared in slot `i` on sale: claimed(i) becomes ready(i). `counter` is
    /// what `prepare` returned.
    fn publish(&self, i: usize, counter: u64, wraps: &AtomicU64) {
        before_mark(counter, wraps);
        // claimed(i) is set, so adding `ready(i) - claimed(i)` flips the two bits; the
        // counter is bumped again.
        let delta = ready(i).wrapping_sub(claimed(i)).wrapping_add(COUNTER_ONE);
        // ORDERING: SeqCst. The Release half pairs with the Acquire of the claim CAS in
        // `claim`: the item, its hash and the producer's count increment are written before
        // any reservation can take them. SeqCst because this is also step (a) of the wait
        // handshake (`wait.rs`): the load of the product's waiter count that follows must not
        // be ordered before this fill in the single total order, or a cart about to sleep on
        // this product could miss it. On x86 every read-modify-write is already sequentially
        // consistent, so this costs nothing there.
        let w = self.word.fetch_add(delta, Ordering::SeqCst);
        debug_assert!(w & claimed(i) != 0 && w & ready(i) == 0, "not prepared");
        debug_assert_eq!(w >> COUNTER_SHIFT, counter & (u64::MAX >> COUNTER_SHIFT));
    }

    /// Writes `item` into slot `i` and puts it on sale at once (one mark: EMPTY or FREED to
    /// READY), for a publish that decided before it (docs/DESIGN.md, "publish").
    ///
    /// # Safety
    ///
    /// As for [`prepare`](Self::prepare).
    unsafe fn fill(&self, i: usize, w: u64, hash: u64, item: Item<T>, wraps: &AtomicU64) {
        debug_assert!(Self::free_slots(w) & ready(i) != 0);
        // SAFETY: as in `prepare`: the slot is empty and only its owner fills slots.
        self.slots[i].with_mut(|p| unsafe { (*p).write(item) });
        // Relaxed: published by the Release half of the mark below.
        self.hashes[i].store(hash, Ordering::Relaxed);
        before_mark(w >> COUNTER_SHIFT, wraps);
        // Set ready(i), clear freed(i) if it was set (as in `prepare`), bump the counter.
        let delta = ready(i)
            .wrapping_add(COUNTER_ONE)
            .wrapping_sub(w & freed(i));
        // ORDERING: SeqCst, as `publish`: the Release half pairs with the claim's Acquire (the
        // item, its hash and the producer's `published` are written before anyone takes
        // them); SeqCst for the double collect (see `prepare`) and as step (a) of the wait
        // handshake (see `publish`).
        self.word.fetch_add(delta, Ordering::SeqCst);
    }

    /// Takes the item prepared in slot `i` back out; the slot becomes empty.
    ///
    /// # Safety
    ///
    /// The caller owns the segment and prepared slot `i` without publishing it since.
    unsafe fn retract(&self, i: usize) -> Item<T> {
        // SAFETY: the slot is claimed by us (its owner) since `prepare` wrote it: nobody
        // else reads or writes it.
        let item = self.slots[i].with_mut(|p| unsafe { p.cast::<Item<T>>().read() });
        // ORDERING: Release pairs with the Acquire loads of searches waiting for this slot
        // (nothing they read depends on it; it keeps the put-back symmetric with `settle`).
        self.word.fetch_xor(claimed(i), Ordering::Release);
        item
    }

    /// Tries to move slot `i` from ready to ready and claimed, for an item whose hash is
    /// `hash`; `w` is the caller's last view of `word` and is kept current.
    ///
    /// The caller checked `hashes[i]` against an earlier view, but the slot may have been
    /// emptied and refilled since (the compare-exchange then retries on the new word): the
    /// hash is checked again once the slot is ours, and an item of another hash is put back
    /// untouched, so that a claim that succeeds holds an item of `hash` (docs/DESIGN.md,
    /// "Waiters do not wait on claimed slots").
    #[inline(always)]
    fn claim(&self, i: usize, hash: u64, w: &mut u64) -> bool {
        loop {
            if *w & (ready(i) | claimed(i)) != ready(i) {
                return false;
            }
            let new = *w | claimed(i);
            // ORDERING: Acquire pairs with the Release of `publish` (the item and its hash are
            // initialised) and of `settle`'s put-back (the previous claimer is done reading).
            match self
                .word
                .compare_exchange_weak(*w, new, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => {
                    *w = new;
                    break;
                }
                Err(current) => *w = current,
            }
        }
        // Relaxed: the claim's Acquire ordered the owner's write of this slot's hash before
        // this load, and the owner writes it again only after the slot is emptied.
        if self.hashes[i].load(Ordering::Relaxed) == hash {
            return true;
        }
        // ORDERING: Release pairs with the next claim's Acquire (nothing was read; kept
        // symmetric with `settle`'s put-back). Nobody sleeps on a reservation's claim, so
        // nobody needs a notification.
        self.word.fetch_xor(claimed(i), Ordering::Release);
        false
    }

    /// With slot `i` claimed by the caller: takes the item if `eq` accepts it, otherwise puts
    /// it back on sale.
    ///
    /// # Safety
    ///
    /// The caller's `claim(i)` succeeded and it has not settled the slot since.
    #[inline(always)]
    unsafe fn settle(&self, i: usize, eq: &mut impl FnMut(&T) -> bool) -> Option<Item<T>> {
        /// Puts the item back on sale if `eq` rejects it or panics.
        struct PutBack<'a, T>(&'a Segment<T>, usize);
        impl<T> Drop for PutBack<'_, T> {
            fn drop(&mut self) {
                // ORDERING: SeqCst. The Release half pairs with the Acquire of the next claim.
                // SeqCst because when `eq` panics this is the state change of the wait
                // handshake (`crate::wait`) that the unwinding reservation's notification
                // completes (`Inner::reserve_hashed`): a waiter that saw the slot claimed and
                // went to sleep is woken.
                self.0.word.fetch_xor(claimed(self.1), Ordering::SeqCst);
            }
        }
        let put_back = PutBack(self, i);
        let equal = {
            let _inside = InsideEq::enter();
            // SAFETY: the claim gives this thread sole access to the slot, which holds an item
            // (it was ready when claimed).
            self.slots[i].with(|p| eq(unsafe { &(*p.cast::<Item<T>>()).value }))
        };
        if !equal {
            return None; // `put_back` puts it back on sale.
        }
        core::mem::forget(put_back);
        // SAFETY: as above; after this read the slot counts as empty and is never read again
        // before the owner fills it anew.
        let item = self.slots[i].with_mut(|p| unsafe { p.cast::<Item<T>>().read() });
        // The take is counted while the slot is still claimed: a reservation of an equal
        // item that would otherwise give up waits until then, so the item stops being on
        // sale (for the producer's count and for searches) at this one step.
        // SAFETY: `count` points into the producer registry, which outlives every slot.
        unsafe { &*item.count }.count_take();
        // ORDERING: Release pairs with the owner's Acquire load in `Stall::prepare`: the move
        // out happens before the owner overwrites the slot.
        self.word
            .fetch_xor(ready(i) | claimed(i) | freed(i), Ordering::Release);
        Some(item)
    }
}

impl<T> Segment<T> {
    /// Tries every ready slot of this segment whose hash is `hash`: takes the first item `eq`
    /// accepts, or returns a word loaded after the last try, which shows no untried ready
    /// slot with that hash. Sets `*collided` when `eq` rejected an item of that hash.
    #[inline(always)]
    fn search(
        &self,
        hash: u64,
        eq: &mut impl FnMut(&T) -> bool,
        collided: &mut bool,
    ) -> Result<Item<T>, u64> {
        // Slots claimed by us and found unequal, valid while the counter is unchanged.
        let mut skip = 0u64;
        let mut skip_counter = None;
        loop {
            // ORDERING: SeqCst: the Acquire half pairs with `prepare`'s Release (hashes
            // published); SeqCst so that a slot prepared before this load in the single total
            // order is seen claimed (see `prepare`). A plain load on x86.
            let mut w = self.word.load(Ordering::SeqCst);
            if skip_counter.is_some_and(|c| c != w >> COUNTER_SHIFT) {
                skip = 0;
            }
            // Ready and not claimed by another reservation.
            let mut candidates = w & SLOT_MASK & !(w >> CLAIMED_SHIFT) & !skip;
            // Set once we touched the word: then `w` is no longer a plain snapshot of the
            // candidates, and the segment is scanned again from a fresh load.
            let mut tried = false;
            while candidates != 0 {
                let i = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                // Relaxed: a filter; a stale hash only belongs to an item filled after our
                // load of `w`, which this search may miss.
                if self.hashes[i].load(Ordering::Relaxed) != hash {
                    continue;
                }
                tried = true;
                if !self.claim(i, hash, &mut w) {
                    continue;
                }
                // SAFETY: our claim of slot `i` just succeeded.
                if let Some(item) = unsafe { self.settle(i, eq) } {
                    return Ok(item);
                }
                *collided = true;
                skip |= ready(i);
                skip_counter = Some(w >> COUNTER_SHIFT);
            }
            if !tried {
                return Err(w);
            }
        }
    }
}

#[cfg(not(loom))]
crate::sync::thread_local! {
    /// How many reservations' user `Eq` calls this thread is inside.
    static INSIDE_EQ: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

/// Marks this thread as inside a reservation's user `Eq` while it lives (docs/DESIGN.md,
/// "Waiting for a verdict"). Not tracked under loom, whose models never re-enter.
struct InsideEq {
    /// This thread's count (one look-up of the thread-local for both ends).
    #[cfg(not(loom))]
    count: *const core::cell::Cell<u32>,
}

impl InsideEq {
    #[inline(always)]
    fn enter() -> Self {
        Self {
            #[cfg(not(loom))]
            count: INSIDE_EQ.with(|n| {
                n.set(n.get() + 1);
                n as *const _
            }),
        }
    }

    /// Whether this thread is inside a reservation's `Eq`: a reservation made from there
    /// must not wait for a verdict, which may be the one this thread is computing.
    #[inline]
    fn entered() -> bool {
        #[cfg(not(loom))]
        return INSIDE_EQ.with(|n| n.get() != 0);
        #[cfg(loom)]
        return false;
    }
}

impl Drop for InsideEq {
    #[inline(always)]
    fn drop(&mut self) {
        #[cfg(not(loom))]
        // SAFETY: the thread-local outlives the guard, which stays on its thread (not `Send`:
        // it holds a raw pointer).
        let count = unsafe { &*self.count };
        #[cfg(not(loom))]
        count.set(count.get() - 1);
    }
}

/// Entries in a cart's [`SearchHints`] (direct-mapped by bucket).
const HINTS: usize = if cfg!(loom) { 1 } else { 16 };

/// Per cart: for a few buckets, the segment where its last reservation succeeded; and the
/// scratch state of its searches.
pub(crate) struct SearchHints<T> {
    /// `(bucket, segment of that bucket)`; `usize::MAX` marks an empty entry.
    entries: [(usize, *mut Segment<T>); HINTS],
    /// The first collect's counter of each segment, in list order (kept to save allocations).
    counters: Vec<u64>,
    /// Set when a search claimed an item of its hash that `eq` rejected (another product with
    /// the same hash); cleared only by the caller.
    pub(crate) collided: bool,
}

impl<T> Default for SearchHints<T> {
    fn default() -> Self {
        Self {
            entries: [(usize::MAX, ptr::null_mut()); HINTS],
            counters: Vec::new(),
            collided: false,
        }
    }
}

impl<T> SearchHints<T> {
    fn get(&self, bucket: usize) -> *mut Segment<T> {
        let (b, seg) = self.entries[bucket % HINTS];
        if b == bucket {
            seg
        } else {
            ptr::null_mut()
        }
    }

    fn set(&mut self, bucket: usize, seg: *mut Segment<T>) {
        self.entries[bucket % HINTS] = (bucket, seg);
    }
}

/// A fast, per-market-seeded hasher for bucket selection (not used for anything that an
/// adversary's collisions could break: equal items are always compared with `Eq`).
pub(crate) struct KeyHasher(u64);

impl KeyHasher {
    /// Mixes in one word: a folded multiply (the 128-bit product's halves xored), whose every
    /// output bit depends on every input bit; one multiplication per word.
    #[inline]
    fn add(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word) * u128::from(0x9E37_79B9_7F4A_7C15_u64);
        self.0 = product as u64 ^ (product >> 64) as u64;
    }
}

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(buf) ^ ((bytes.len() as u64) << 56));
    }
    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // Every word went through `add`, whose low (bucket) bits depend on all its input.
        self.0
    }
}

/// Most buckets an index has (more would only waste memory: each stall keeps two pointers per
/// bucket).
pub(crate) const MAX_BUCKETS: usize = 1 << 20;

/// One bucket of the index, on a cache line of its own: its counter changes with every item,
/// and neighbouring buckets (other products) must not pay for that.
#[repr(align(64))]
struct Bucket<T> {
    /// The newest segment of the bucket (null when none); segments are only ever pushed in
    /// front, never removed while the index lives.
    head: AtomicPtr<Segment<T>>,
    /// An upper bound of the bucket's slots that are not EMPTY (prepared, on sale, being
    /// reserved, or FREED by a take and not yet refilled), and so of its items; 0 means none,
    /// so a reservation can give up without a search. Incremented before a slot leaves EMPTY,
    /// decremented after a retract makes one EMPTY again; a take (to FREED) and the refill of
    /// a FREED slot leave it alone, so the steady state of a bucket writes it never. Read by
    /// every search just before `head`, which shares its line.
    avail: AtomicUsize,
    /// Bumped by a segment's owner before every mark that brings the segment's counter to a
    /// multiple of half its range; a failing search reads it around its double collect
    /// (docs/DESIGN.md, "The double collect"). Never wraps in practice (64 bits).
    wraps: AtomicU64,
}

/// The buckets.
pub(crate) struct Index<T> {
    /// `buckets[b]`: bucket `b`.
    buckets: Box<[Bucket<T>]>,
    /// `buckets.len() - 1` (the length is a power of two).
    mask: usize,
    seed: u64,
    /// Segments allocated so far (statistics).
    segments: AtomicUsize,
    /// Next stall token (tokens are nonzero).
    tokens: AtomicUsize,
}

impl<T> Index<T> {
    /// An index of `buckets` buckets (rounded up to a power of two, between 1 and
    /// `MAX_BUCKETS`).
    pub(crate) fn new(buckets: usize) -> Self {
        let n = buckets.clamp(1, MAX_BUCKETS).next_power_of_two();
        #[cfg(not(loom))]
        let seed = core::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            0x5eed_u64,
        );
        #[cfg(loom)]
        let seed = 0x5eed_u64;
        Self {
            buckets: (0..n)
                .map(|_| Bucket {
                    head: AtomicPtr::new(ptr::null_mut()),
                    avail: AtomicUsize::new(0),
                    wraps: AtomicU64::new(0),
                })
                .collect(),
            mask: n - 1,
            seed,
            segments: AtomicUsize::new(0),
            tokens: AtomicUsize::new(1),
        }
    }

    /// The number of buckets.
    pub(crate) fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// Slots allocated so far (on sale, being reserved, or empty and reusable).
    pub(crate) fn slots(&self) -> usize {
        // Relaxed: a statistic.
        self.segments.load(Ordering::Relaxed) * SLOTS
    }

    /// The bound (`avail`) of the bucket that `hash` is filed under.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn bound(&self, hash: u64) -> usize {
        // Relaxed: tests read it with nothing running.
        self.buckets[self.bucket(hash)]
            .avail
            .load(Ordering::Relaxed)
    }

    /// How many slots of the bucket that `hash` is filed under are not EMPTY (prepared, on
    /// sale, being reserved or FREED): what its bound counts once the market is quiet.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn used(&self, hash: u64) -> usize {
        let mut used = 0;
        // Relaxed (all): tests read it with nothing running.
        let mut seg = self.buckets[self.bucket(hash)].head.load(Ordering::Relaxed);
        // SAFETY: segments are never freed while the index lives.
        while let Some(s) = unsafe { seg.as_ref() } {
            let w = s.word.load(Ordering::Relaxed);
            let empty = Segment::<T>::free_slots(w) & !(w >> FREED_SHIFT);
            used += SLOTS - empty.count_ones() as usize;
            seg = s.next.load(Ordering::Relaxed);
        }
        used
    }

    /// The hash the index files `item` under.
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, item: &Q) -> u64 {
        let mut h = KeyHasher(self.seed);
        item.hash(&mut h);
        h.finish()
    }

    fn bucket(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    fn new_token(&self) -> usize {
        // Relaxed: only distinctness matters.
        self.tokens.fetch_add(1, Ordering::Relaxed)
    }

    /// Takes, from any stall, an item on sale that `eq` accepts among those filed under
    /// `hash`, or returns `None` when there was a moment during the call at which no such item
    /// was on sale. Lock-free except that it waits out other reservations that are comparing
    /// an item with the same hash at the moment it would otherwise give up.
    ///
    /// `hints` remembers, per bucket, the segment of the last success; the search tries from
    /// there first (a pure speed-up: the full search below decides failures).
    ///
    /// With `wait_pending` false, the call never waits: a claimed slot with a matching hash
    /// makes it answer `None` at once. That answer is not linearizable (the claimed item may be
    /// a publish past its decision); it is for the tries of a wait, whose decisive try follows
    /// the waiter's registration, so the owner's publish (`Inner::publish`,
    /// `Inner::give_back`) notifies it after the slot becomes ready: the waiter parks instead
    /// of spinning on a thread that may be descheduled.
    ///
    /// The wait for another reservation's verdict (its user `Eq`) ends at `deadline`, and
    /// never starts in a reservation made from inside a reservation's `Eq`: the answer is then
    /// `None` although that item may turn out to be on sale (docs/DESIGN.md, "Waiting for a
    /// verdict").
    pub(crate) fn reserve(
        &self,
        hash: u64,
        mut eq: impl FnMut(&T) -> bool,
        hints: &mut SearchHints<T>,
        wait_pending: bool,
        deadline: Option<Instant>,
    ) -> Option<Item<T>> {
        let b = self.bucket(hash);
        let bucket = &self.buckets[b].head;
        let avail = &self.buckets[b].avail;
        let wraps = &self.buckets[b].wraps;
        if Self::empty(avail) {
            return None;
        }
        let mut seg = hints.get(b);
        // SAFETY: segments are never freed while the index lives; a hint of bucket `b` is a
        // segment of bucket `b`.
        while let Some(s) = unsafe { seg.as_ref() } {
            if let Ok(item) = s.search(hash, &mut eq, &mut hints.collided) {
                hints.set(b, seg);
                return Some(item);
            }
            // Relaxed: `next` was written before the segment was published.
            seg = s.next.load(Ordering::Relaxed);
        }
        let mut step = 0;
        loop {
            // ORDERING: SeqCst, before the first collect: see `before_mark` and
            // docs/DESIGN.md, "The double collect".
            let wraps_before = wraps.load(Ordering::SeqCst);
            // ORDERING: SeqCst: the Acquire half pairs with the Release of the push in
            // `adopt_or_allocate`: the newest segment (and, through the push chain, every
            // older one) is seen initialised; SeqCst so that a segment pushed before a
            // prepared slot in it is seen (see `Segment::prepare`).
            let head = bucket.load(Ordering::SeqCst);
            // Claimed slots of our hash: prepared by their owner, or being compared by
            // another reservation.
            let mut prepared = false;
            let mut comparing = false;
            hints.counters.clear();
            let mut seg = head;
            // SAFETY: segments are never freed while the index lives.
            while let Some(s) = unsafe { seg.as_ref() } {
                let w = match s.search(hash, &mut eq, &mut hints.collided) {
                    Ok(item) => {
                        hints.set(b, seg);
                        return Some(item);
                    }
                    Err(w) => w,
                };
                let mut claimed_now = (w >> CLAIMED_SHIFT) & SLOT_MASK;
                while claimed_now != 0 {
                    let i = claimed_now.trailing_zeros() as usize;
                    claimed_now &= claimed_now - 1;
                    // Relaxed: a claimed slot's hash is fixed until its owner refills it.
                    if s.hashes[i].load(Ordering::Relaxed) == hash {
                        if w & ready(i) == 0 {
                            prepared = true;
                        } else {
                            comparing = true;
                        }
                    }
                }
                hints.counters.push(w >> COUNTER_SHIFT);
                // Relaxed: `next` was written before the segment was published.
                seg = s.next.load(Ordering::Relaxed);
            }
            // A waiter's try does not wait for a prepared slot (its publish notifies), but does
            // wait for another reservation's verdict, which notifies nobody.
            if prepared && !comparing && !wait_pending {
                return None;
            }
            if comparing && (InsideEq::entered() || deadline.is_some_and(|d| Instant::now() >= d)) {
                // The verdict may be this thread's own, or come after the caller's deadline.
                return None;
            }
            if prepared || comparing {
                // Someone is comparing an item that may equal ours, or publishing one: wait.
                crate::sync::wait_step(&mut step);
                if Self::empty(avail) {
                    return None;
                }
                continue;
            }
            // Second collect: no new segment, no segment's counter changed and no half point
            // passed since the first one means that no slot was filled since, so at the end
            // of the first, nothing accepted by `eq` was on sale (docs/DESIGN.md, "The double
            // collect").
            // ORDERING: SeqCst as above; `wraps` after the second collect.
            if bucket.load(Ordering::SeqCst) == head
                && Self::unchanged(head, &hints.counters)
                && wraps.load(Ordering::SeqCst) == wraps_before
            {
                return None;
            }
        }
    }

    /// Whether bucket `avail` has no slot that is not EMPTY: then nothing is on sale in it at
    /// the moment of this load, and a reservation may answer `false`.
    #[inline]
    fn empty(avail: &AtomicUsize) -> bool {
        // ORDERING: SeqCst, ordered with the SeqCst increment in `Stall::free_slot`, which
        // precedes the slot's leaving EMPTY and so the item's linearization point: a publish
        // or return whose linearization point happens before this load has its increment
        // seen here (a FREED slot's increment came before its earlier fill). A plain load on
        // x86.
        avail.load(Ordering::SeqCst) == 0
    }

    /// Counts a slot of bucket `avail` that became EMPTY again (a retracted prepare), after
    /// it did, so the bound stays an upper bound.
    #[inline]
    fn emptied(avail: &AtomicUsize) {
        // ORDERING: SeqCst like every change of `avail` (see `empty`); the decrement follows
        // the retract in program order, so a reader that sees it sees the slot empty.
        avail.fetch_sub(1, Ordering::SeqCst);
    }

    /// Whether every segment from `head` on still has the counter the first collect saw
    /// (`counters`, in list order).
    fn unchanged(head: *mut Segment<T>, counters: &[u64]) -> bool {
        let mut seg = head;
        let mut counters = counters.iter();
        // SAFETY: segments are never freed while the index lives.
        while let Some(s) = unsafe { seg.as_ref() } {
            // ORDERING: SeqCst, so that this load is not satisfied earlier than the loads of
            // the first collect that precede it, and is ordered with the owners' SeqCst marks.
            let counter = s.word.load(Ordering::SeqCst) >> COUNTER_SHIFT;
            if counters.next() != Some(&counter) {
                return false;
            }
            // Relaxed: fixed after publication.
            seg = s.next.load(Ordering::Relaxed);
        }
        true
    }

    /// An orphaned segment of bucket `b`, now owned by `token`, or a fresh one.
    fn adopt_or_allocate(&self, b: usize, token: usize) -> *mut Segment<T> {
        let bucket = &self.buckets[b].head;
        // ORDERING: Acquire as in `reserve`.
        let mut seg = bucket.load(Ordering::Acquire);
        // SAFETY: segments are never freed while the index lives.
        while let Some(s) = unsafe { seg.as_ref() } {
            // ORDERING: Acquire pairs with the Release in `Stall::orphan`: the previous
            // owner's writes to the segment happen before ours.
            if s.owner.load(Ordering::Relaxed) == 0
                && s.owner
                    .compare_exchange(0, token, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return seg;
            }
            // Relaxed: fixed after publication.
            seg = s.next.load(Ordering::Relaxed);
        }
        let fresh = Box::into_raw(Box::new(Segment::new(token)));
        // Relaxed: a statistic.
        self.segments.fetch_add(1, Ordering::Relaxed);
        // Relaxed: the compare_exchange below re-checks the value.
        let mut head = bucket.load(Ordering::Relaxed);
        loop {
            // SAFETY: `fresh` is not shared until the compare_exchange succeeds.
            unsafe { &*fresh }.next.store(head, Ordering::Relaxed);
            // ORDERING: Release publishes the segment's initialisation (and `next`) to the
            // Acquire loads of `bucket`; Acquire on success continues the chain so that a
            // reader of our segment also sees the older ones initialised. SeqCst so that
            // searches' SeqCst loads of the head are ordered with it (see `Segment::prepare`).
            match bucket.compare_exchange_weak(head, fresh, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return fresh,
                Err(current) => head = current,
            }
        }
    }
}

impl<T> Drop for Index<T> {
    fn drop(&mut self) {
        for bucket in self.buckets.iter() {
            // Relaxed: `&mut self`, no other thread can touch the index.
            let mut seg = bucket.head.load(Ordering::Relaxed);
            while !seg.is_null() {
                // SAFETY: every segment came from `Box::into_raw`, is reachable from exactly
                // one bucket once, and is freed only here.
                let s = unsafe { Box::from_raw(seg) };
                // Relaxed: exclusive access.
                let w = s.word.load(Ordering::Relaxed);
                debug_assert_eq!(w & (SLOT_MASK << CLAIMED_SHIFT), 0, "claim at teardown");
                let mut on_sale = w & SLOT_MASK;
                while on_sale != 0 {
                    let i = on_sale.trailing_zeros() as usize;
                    on_sale &= on_sale - 1;
                    // SAFETY: a ready slot holds an initialised item, dropped only here.
                    s.slots[i].with_mut(|p| unsafe { p.cast::<Item<T>>().drop_in_place() });
                }
                // Relaxed: exclusive access.
                seg = s.next.load(Ordering::Relaxed);
            }
        }
    }
}

/// The segments one owner (a producer, or a cart putting returns back) fills.
pub(crate) struct Stall<T> {
    /// Nonzero once the stall has owned a segment.
    token: usize,
    /// `heads[b]`: the first of this stall's segments in bucket `b` (chained by `own_next`),
    /// or null. Empty until the first fill.
    heads: Vec<*mut Segment<T>>,
    /// `hints[b]`: the segment of bucket `b` this stall filled last (null or one of its own),
    /// tried first so that a stall with many segments in one bucket rarely scans them all.
    hints: Vec<*mut Segment<T>>,
}

impl<T> Default for Stall<T> {
    fn default() -> Self {
        Self {
            token: 0,
            heads: Vec::new(),
            hints: Vec::new(),
        }
    }
}

impl<T> Stall<T> {
    /// Writes `item` into one of this stall's slots of the bucket of `hash`, claimed by the
    /// stall (not yet on sale; see [`Prepared`]). Wait-free unless this stall has no free slot
    /// in that bucket and must take a segment.
    ///
    /// # Safety
    ///
    /// The caller has exclusive use of the stall until it publishes or retracts the returned
    /// slot, and `index` is the index whose segments the stall has been filling (the same one
    /// every time).
    pub(crate) unsafe fn prepare<'a>(
        &mut self,
        index: &'a Index<T>,
        hash: u64,
        item: Item<T>,
    ) -> Prepared<'a, T> {
        let (seg, i, w, bucket) = self.free_slot(index, hash);
        // SAFETY: we own `seg`; `w` shows the slot free.
        let counter = unsafe { seg.prepare(i, w, hash, item, &bucket.wraps) };
        Prepared {
            seg,
            i,
            counter,
            bucket,
        }
    }

    /// Writes `item` into one of this stall's slots of the bucket of `hash` and puts it on
    /// sale at once: one mark, the linearization point of a publish that no return can race
    /// (docs/DESIGN.md, "publish"). Wait-free unless this stall must take a segment.
    ///
    /// # Safety
    ///
    /// As for [`prepare`](Self::prepare), for the length of the call.
    pub(crate) unsafe fn fill(&mut self, index: &Index<T>, hash: u64, item: Item<T>) {
        let (seg, i, w, bucket) = self.free_slot(index, hash);
        // SAFETY: we own `seg`; `w` shows the slot free.
        unsafe { seg.fill(i, w, hash, item, &bucket.wraps) };
    }

    /// A free slot `i` of one of this stall's segments in the bucket of `hash`, with the word
    /// `w` that shows it free, loaded with Acquire. A slot a take emptied (FREED) is preferred:
    /// the bucket's bound still counts it. Taking an EMPTY one counts it in the bound first.
    fn free_slot<'a>(
        &mut self,
        index: &'a Index<T>,
        hash: u64,
    ) -> (&'a Segment<T>, usize, u64, &'a Bucket<T>) {
        if self.heads.is_empty() {
            // `resize` keeps the allocation of an orphaned stall whose entry was reused.
            self.heads.resize(index.buckets(), ptr::null_mut());
            self.hints.resize(index.buckets(), ptr::null_mut());
            self.token = index.new_token();
        }
        let b = index.bucket(hash);
        let bucket = &index.buckets[b];
        // A free slot of `s`, given its word: a FREED one first.
        let pick = |w: u64| {
            let free = Segment::<T>::free_slots(w);
            let freed_slots = (w >> FREED_SHIFT) & SLOT_MASK;
            if freed_slots != 0 {
                Some(freed_slots.trailing_zeros() as usize)
            } else if free != 0 {
                // ORDERING: SeqCst, before the slot leaves EMPTY: see `Index::empty`.
                bucket.avail.fetch_add(1, Ordering::SeqCst);
                Some(free.trailing_zeros() as usize)
            } else {
                None
            }
        };
        let hint = self.hints[b];
        // The hint first, then every own segment of the bucket.
        let mut seg = if hint.is_null() { self.heads[b] } else { hint };
        let mut from_head = hint.is_null();
        // SAFETY: segments live as long as the index.
        while let Some(s) = unsafe { seg.as_ref() } {
            // ORDERING: Acquire pairs with `settle`'s Release: a reservation's move out of a
            // freed slot happens before we overwrite it.
            let w = s.word.load(Ordering::Acquire);
            if let Some(i) = pick(w) {
                self.hints[b] = seg;
                return (s, i, w, bucket);
            }
            if from_head {
                // Relaxed: only the owner uses `own_next`.
                seg = s.own_next.load(Ordering::Relaxed);
            } else {
                from_head = true;
                seg = self.heads[b];
            }
        }
        loop {
            let seg = index.adopt_or_allocate(b, self.token);
            // SAFETY: segments live as long as the index.
            let s = unsafe { &*seg };
            // Relaxed: only the owner uses `own_next` (the adoption's Acquire ordered the
            // previous owner's uses before ours).
            s.own_next.store(self.heads[b], Ordering::Relaxed);
            self.heads[b] = seg;
            self.hints[b] = seg;
            // ORDERING: as in the loop above.
            let w = s.word.load(Ordering::Acquire);
            if let Some(i) = pick(w) {
                return (s, i, w, bucket);
            }
        }
    }

    /// Gives up every segment of this stall so that other stalls can adopt them; the items on
    /// sale in them stay on sale.
    pub(crate) fn orphan(&mut self) {
        for &head in &self.heads {
            let mut seg = head;
            // SAFETY: segments live as long as the index, which outlives the stall's owner.
            while let Some(s) = unsafe { seg.as_ref() } {
                // Relaxed: we still own `s`.
                seg = s.own_next.load(Ordering::Relaxed);
                // ORDERING: Release pairs with the Acquire of the adoption CAS.
                s.owner.store(0, Ordering::Release);
            }
        }
        self.heads.clear();
        self.hints.clear();
    }
}

/// An item written into its stall's slot but not yet on sale: the slot is claimed by its
/// owner, so a reservation of an equal item that would otherwise answer `false` waits for it.
/// Between [`Stall::prepare`] and [`Prepared::publish`] the owner makes one atomic step, the
/// operation's linearization point (the producer's count load of a publish, the count
/// increment of a return), and runs no user code.
#[must_use = "a prepared slot must be published or retracted"]
pub(crate) struct Prepared<'a, T> {
    seg: &'a Segment<T>,
    i: usize,
    /// The segment's counter after the prepare.
    counter: u64,
    /// The bucket, whose `avail` counts this item.
    bucket: &'a Bucket<T>,
}

impl<T> Prepared<'_, T> {
    /// Puts the item on sale.
    pub(crate) fn publish(self) {
        self.seg.publish(self.i, self.counter, &self.bucket.wraps);
    }

    /// Takes the item back; it was never on sale.
    pub(crate) fn retract(self) -> Item<T> {
        // SAFETY: `prepare` gave this value for a slot it prepared in a segment the stall
        // owns; consuming `self` makes this the only publish or retract of it.
        let item = unsafe { self.seg.retract(self.i) };
        Index::<T>::emptied(&self.bucket.avail);
        item
    }
}
