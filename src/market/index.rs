//! The index: buckets (by item hash) of segments, and the reservation that searches a bucket
//! (its double collect included). See docs/DESIGN.md, "Operations, linearization points,
//! progress", for the proofs.

use core::hash::{Hash, Hasher};
use core::ptr;
use std::time::Instant;

use super::hasher::KeyHasher;
use super::segment::{counter, InsideEq, Item, Segment, SLOTS};
use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Entries in a cart's [`SearchHints`] (direct-mapped by bucket).
const HINTS: usize = if cfg!(loom) { 1 } else { 64 };

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

/// Most buckets an index has (more would only waste memory: each shelf keeps two pointers per
/// bucket).
pub(crate) const MAX_BUCKETS: usize = 1 << 20;

/// One bucket of the index, on a cache line of its own: its counter changes with every item,
/// and neighbouring buckets (other products) must not pay for that.
#[repr(align(64))]
pub(crate) struct Bucket<T> {
    /// The newest segment of the bucket (null when none); segments are only ever pushed in
    /// front, never removed while the index lives.
    head: AtomicPtr<Segment<T>>,
    /// An upper bound of the bucket's slots that are not EMPTY (prepared, on sale, being
    /// reserved, or FREED by a take and not yet refilled), and so of its items; 0 means none,
    /// so a reservation can give up without a search. Incremented before a slot leaves EMPTY,
    /// decremented after a retract makes one EMPTY again; a take (to FREED) and the refill of
    /// a FREED slot leave it alone, so the steady state of a bucket writes it never. Read by
    /// every search just before `head`, which shares its line.
    pub(super) used_slots: AtomicUsize,
    /// Bumped by a segment's owner before every mark that brings the segment's counter to a
    /// multiple of half its range; a failing search reads it around its double collect
    /// (docs/DESIGN.md, "The double collect"). Never wraps in practice (64 bits).
    pub(super) wraps: AtomicU64,
}

/// The buckets.
pub(crate) struct Index<T> {
    /// `buckets[b]`: bucket `b`.
    pub(super) buckets: Box<[Bucket<T>]>,
    /// `buckets.len() - 1` (the length is a power of two).
    mask: usize,
    seed: u64,
    /// Segments allocated so far (statistics).
    segments: AtomicUsize,
    /// Next shelf token (tokens are nonzero).
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
                    used_slots: AtomicUsize::new(0),
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

    /// The bound (`used_slots`) of the bucket that `hash` is filed under.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn bound(&self, hash: u64) -> usize {
        // Relaxed: tests read it with nothing running.
        self.buckets[self.bucket(hash)]
            .used_slots
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
            let w = s.owner_view();
            let empty = Segment::<T>::free_slots(w) & !Segment::<T>::freed_slots(w);
            used += SLOTS - empty.count_ones() as usize;
            seg = s.next();
        }
        used
    }

    /// The hash the index files `item` under.
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, item: &Q) -> u64 {
        let mut h = KeyHasher::new(self.seed);
        item.hash(&mut h);
        h.finish()
    }

    /// The bucket that `hash` is filed under.
    pub(super) fn bucket(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    /// A token for a shelf that is about to own its first segment.
    pub(super) fn new_token(&self) -> usize {
        // Relaxed: only distinctness matters.
        self.tokens.fetch_add(1, Ordering::Relaxed)
    }

    /// Takes, from any shelf, an item on sale that `eq` accepts among those filed under
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
    #[inline]
    pub(crate) fn reserve(
        &self,
        hash: u64,
        mut eq: impl FnMut(&T) -> bool,
        hints: &mut SearchHints<T>,
        wait_pending: bool,
        deadline: Option<Instant>,
    ) -> Option<Item<T>> {
        let b = self.bucket(hash);
        if Self::empty(&self.buckets[b].used_slots) {
            return None;
        }
        let hint = hints.get(b);
        // SAFETY: segments are never freed while the index lives; a hint of bucket `b` is a
        // segment of bucket `b`.
        if let Some(s) = unsafe { hint.as_ref() } {
            if let Ok(item) = s.search(hash, &mut eq, &mut hints.collided) {
                return Some(item);
            }
        }
        self.reserve_searching(hints, b, hash, eq, wait_pending, deadline)
    }

    /// [`reserve`](Self::reserve) past its first try (the hinted segment, inlined into the
    /// caller): the segments after the hint, then the whole bucket with its double collect.
    #[inline(never)]
    fn reserve_searching(
        &self,
        hints: &mut SearchHints<T>,
        b: usize,
        hash: u64,
        mut eq: impl FnMut(&T) -> bool,
        wait_pending: bool,
        deadline: Option<Instant>,
    ) -> Option<Item<T>> {
        let bucket = &self.buckets[b].head;
        let used_slots = &self.buckets[b].used_slots;
        let wraps = &self.buckets[b].wraps;
        let hint = hints.get(b);
        // SAFETY: as in `reserve`.
        let mut seg = unsafe { hint.as_ref() }.map_or(ptr::null_mut(), |s| s.next());
        // SAFETY: as in `reserve`.
        while let Some(s) = unsafe { seg.as_ref() } {
            if let Ok(item) = s.search(hash, &mut eq, &mut hints.collided) {
                hints.set(b, seg);
                return Some(item);
            }
            seg = s.next();
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
                let (prepared_here, comparing_here) = s.claimed_with_hash(w, hash);
                prepared |= prepared_here;
                comparing |= comparing_here;
                hints.counters.push(counter(w));
                seg = s.next();
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
                if Self::empty(used_slots) {
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

    /// Whether a bucket whose bound is `used_slots` has no slot that is not EMPTY: then nothing
    /// is on sale in it at the moment of this load, and a reservation may answer `false`.
    #[inline]
    fn empty(used_slots: &AtomicUsize) -> bool {
        // ORDERING: SeqCst, ordered with the SeqCst increment in `Shelf::free_slot`, which
        // precedes the slot's leaving EMPTY and so the item's linearization point: a publish
        // or return whose linearization point happens before this load has its increment
        // seen here (a FREED slot's increment came before its earlier fill). A plain load on
        // x86.
        used_slots.load(Ordering::SeqCst) == 0
    }

    /// Counts a slot of the bucket whose bound is `used_slots` that became EMPTY again (a
    /// retracted prepare), after it did, so the bound stays an upper bound.
    #[inline]
    pub(super) fn emptied(used_slots: &AtomicUsize) {
        // ORDERING: SeqCst like every change of `used_slots` (see `empty`); the decrement
        // follows the retract in program order, so a reader that sees it sees the slot empty.
        used_slots.fetch_sub(1, Ordering::SeqCst);
    }

    /// Whether every segment from `head` on still has the counter the first collect saw
    /// (`counters`, in list order).
    fn unchanged(head: *mut Segment<T>, counters: &[u64]) -> bool {
        let mut seg = head;
        let mut counters = counters.iter();
        // SAFETY: segments are never freed while the index lives.
        while let Some(s) = unsafe { seg.as_ref() } {
            if counters.next() != Some(&s.counter()) {
                return false;
            }
            seg = s.next();
        }
        true
    }

    /// An orphaned segment of bucket `b`, now owned by `token`, or a fresh one.
    pub(super) fn adopt_or_allocate(&self, b: usize, token: usize) -> *mut Segment<T> {
        let bucket = &self.buckets[b].head;
        // ORDERING: Acquire as in `reserve`.
        let mut seg = bucket.load(Ordering::Acquire);
        // SAFETY: segments are never freed while the index lives.
        while let Some(s) = unsafe { seg.as_ref() } {
            if s.adopt(token) {
                return seg;
            }
            seg = s.next();
        }
        let fresh = Box::into_raw(Box::new(Segment::new(token)));
        // Relaxed: a statistic.
        self.segments.fetch_add(1, Ordering::Relaxed);
        // Relaxed: the compare_exchange below re-checks the value.
        let mut head = bucket.load(Ordering::Relaxed);
        loop {
            // SAFETY: `fresh` is not shared until the compare_exchange succeeds.
            unsafe { &*fresh }.set_next(head);
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
                seg = s.next();
                // Dropping the segment drops the items still on sale in it.
                drop(s);
            }
        }
    }
}
