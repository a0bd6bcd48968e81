//! The slot state machine: a [`Segment`] of slots, each EMPTY, PREPARED, READY, CLAIMED or
//! FREED as its segment's state word says, and the moves between those states (see
//! docs/DESIGN.md, "The slot state machine").
//!
//! A segment belongs to one bucket of the index for the market's whole life and is *owned* by
//! one shelf (a producer, or a cart that puts returned items back on sale). Only the owner
//! fills slots; anyone may claim and empty them.

use core::mem::MaybeUninit;
use core::ptr;

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
/// The counter in word `w`.
pub(super) const fn counter(w: u64) -> u64 {
    w >> COUNTER_SHIFT
}

/// What a slot holds: the item and the account of the producer it counts against.
pub(crate) struct Item<T> {
    pub(crate) value: T,
    /// Points into the producer registry, which outlives every slot.
    pub(crate) account: *const super::account::Account,
}

/// A fixed group of slots of one bucket, owned by one shelf at a time.
pub(crate) struct Segment<T> {
    /// Per slot `i`: `ready(i)`, `claimed(i)`, `ready(i) | claimed(i)` or `freed(i)` (none =
    /// empty), and in the top `COUNTER_BITS` bits a counter bumped by every prepare and publish
    /// (the owner's *marks*; nobody else changes it).
    word: AtomicU64,
    /// The owning shelf's token; 0 while orphaned (its owner was dropped).
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
    /// A segment owned by the shelf with token `owner`, every slot empty, linked to nothing.
    pub(super) fn new(owner: usize) -> Self {
        Self {
            word: AtomicU64::new(0),
            owner: AtomicUsize::new(owner),
            next: AtomicPtr::new(ptr::null_mut()),
            own_next: AtomicPtr::new(ptr::null_mut()),
            hashes: core::array::from_fn(|_| AtomicU64::new(0)),
            slots: core::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
        }
    }

    /// Empty slots the owner may fill, given a word it loaded with Acquire
    /// ([`owner_view`](Self::owner_view)).
    pub(super) fn free_slots(w: u64) -> u64 {
        !(w | (w >> CLAIMED_SHIFT)) & SLOT_MASK
    }

    /// The slots among [`free_slots`](Self::free_slots) that a take emptied (FREED, not EMPTY).
    pub(super) fn freed_slots(w: u64) -> u64 {
        (w >> FREED_SHIFT) & SLOT_MASK
    }

    /// The word, as the owner loads it before it picks a free slot.
    #[inline]
    pub(super) fn owner_view(&self) -> u64 {
        // ORDERING: Acquire pairs with `settle`'s Release: a reservation's move out of a
        // freed slot happens before we overwrite it.
        self.word.load(Ordering::Acquire)
    }

    /// The segment's counter, loaded for the second collect of a search.
    #[inline]
    pub(super) fn counter(&self) -> u64 {
        // ORDERING: SeqCst, so that this load is not satisfied earlier than the loads of
        // the first collect that precede it, and is ordered with the owners' SeqCst marks.
        counter(self.word.load(Ordering::SeqCst))
    }

    /// Whether, in word `w`, some slot holding an item of `hash` is claimed by its owner
    /// (prepared: being published or returned), and whether some is claimed by a reservation
    /// (its item being compared).
    pub(super) fn claimed_with_hash(&self, w: u64, hash: u64) -> (bool, bool) {
        let (mut prepared, mut comparing) = (false, false);
        let mut claimed_now = (w >> CLAIMED_SHIFT) & SLOT_MASK;
        while claimed_now != 0 {
            let i = claimed_now.trailing_zeros() as usize;
            claimed_now &= claimed_now - 1;
            // Relaxed: a claimed slot's hash is fixed until its owner refills it.
            if self.hashes[i].load(Ordering::Relaxed) == hash {
                if w & ready(i) == 0 {
                    prepared = true;
                } else {
                    comparing = true;
                }
            }
        }
        (prepared, comparing)
    }

    /// The bucket's next (older) segment, or null.
    #[inline]
    pub(super) fn next(&self) -> *mut Segment<T> {
        // Relaxed: `next` was written before the segment was published, then fixed.
        self.next.load(Ordering::Relaxed)
    }

    /// Links the segment in front of `head`, before it is published (by the push's Release).
    pub(super) fn set_next(&self, head: *mut Segment<T>) {
        // Relaxed: published by the push.
        self.next.store(head, Ordering::Relaxed);
    }

    /// The owner's next segment in the same bucket, or null.
    pub(super) fn own_next(&self) -> *mut Segment<T> {
        // Relaxed: only the owner uses `own_next` (an adoption's Acquire ordered the previous
        // owner's uses before ours).
        self.own_next.load(Ordering::Relaxed)
    }

    /// Sets the owner's next segment in the same bucket.
    pub(super) fn set_own_next(&self, next: *mut Segment<T>) {
        // Relaxed: as in `own_next`.
        self.own_next.store(next, Ordering::Relaxed);
    }

    /// Makes the shelf with `token` the owner if the segment is orphaned; whether it did.
    pub(super) fn adopt(&self, token: usize) -> bool {
        // ORDERING: Acquire pairs with the Release in `orphan`: the previous owner's writes
        // to the segment happen before ours.
        self.owner.load(Ordering::Relaxed) == 0
            && self
                .owner
                .compare_exchange(0, token, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Gives the segment up so that another shelf can adopt it; its items stay on sale.
    pub(super) fn orphan(&self) {
        // ORDERING: Release pairs with the Acquire of the adoption CAS.
        self.owner.store(0, Ordering::Release);
    }

    /// Slot `i`, for its owner to fill, given the word `w` that shows it free.
    ///
    /// # Safety
    ///
    /// The caller owns the segment until it has filled the slot, or published or retracted
    /// what it prepared there; it loaded `w` with [`owner_view`](Self::owner_view) after it
    /// became the owner, and `w` shows slot `i` free ([`free_slots`](Self::free_slots));
    /// `wraps` is the bucket's. Only the owner fills slots, so nobody else then touches the
    /// slot until the owner's mark puts it on sale. No type can carry this: owning a segment
    /// is its `owner` word holding the shelf's token, a fact of shared memory that the shelf's
    /// pointers to its segments do not show, and which slots are free is a fact of the word
    /// the owner loaded.
    pub(super) unsafe fn free_slot<'a>(
        &'a self,
        i: usize,
        w: u64,
        wraps: &'a AtomicU64,
    ) -> FreeSlot<'a, T> {
        debug_assert!(Self::free_slots(w) & ready(i) != 0);
        FreeSlot {
            seg: self,
            i,
            w,
            wraps,
        }
    }

    /// Tries to move slot `i` from ready to ready and claimed, for an item whose hash is
    /// `hash`; `w` is the caller's last view of `word` and is kept current.
    ///
    /// The caller checked `hashes[i]` against an earlier view, but the slot may have been
    /// emptied and refilled since (the compare-exchange then retries on the new word): the
    /// hash is checked again once the slot is ours, and an item of another hash is put back
    /// untouched, so that a claim that succeeds holds an item of `hash` (docs/DESIGN.md,
    /// "The slot state machine").
    #[inline(always)]
    fn claim(&self, i: usize, hash: u64, w: &mut u64) -> Option<Claimed<'_, T>> {
        loop {
            if *w & (ready(i) | claimed(i)) != ready(i) {
                return None;
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
            return Some(Claimed { seg: self, i });
        }
        // ORDERING: Release pairs with the next claim's Acquire (nothing was read; kept
        // symmetric with `settle`'s put-back). Nobody sleeps on a reservation's claim, so
        // nobody needs a notification.
        self.word.fetch_xor(claimed(i), Ordering::Release);
        None
    }
}

/// A free slot of a segment, in its owner's hands: made only by [`Segment::free_slot`], and
/// used up by [`prepare`](Self::prepare) or [`fill`](Self::fill).
pub(crate) struct FreeSlot<'a, T> {
    seg: &'a Segment<T>,
    i: usize,
    /// The word that shows the slot free, loaded by the owner with Acquire.
    w: u64,
    /// The bucket's half-point counter (see [`before_mark`]).
    wraps: &'a AtomicU64,
}

impl<'a, T> FreeSlot<'a, T> {
    /// Writes `item` into the slot and marks the slot claimed (by its owner): the item is not
    /// yet on sale, but a reservation looking for an equal item sees a claimed slot with a
    /// matching hash and waits for it (see [`Prepared`](super::shelf::Prepared)).
    pub(super) fn prepare(self, hash: u64, item: Item<T>) -> PreparedSlot<'a, T> {
        let (seg, i, wraps) = (self.seg, self.i, self.wraps);
        let counter = self.write_and_mark(hash, item, claimed(i));
        PreparedSlot {
            seg,
            i,
            counter,
            wraps,
        }
    }

    /// Writes `item` into the slot and puts it on sale at once (one mark: EMPTY or FREED to
    /// READY), for a publish that decided before it (docs/DESIGN.md, "publish").
    pub(super) fn fill(self, hash: u64, item: Item<T>) {
        let i = self.i;
        self.write_and_mark(hash, item, ready(i));
    }

    /// Writes `item` and its hash into the slot, then sets `state` (`claimed(i)` or
    /// `ready(i)`), clears `freed(i)` if it was set and bumps the counter in one mark; returns
    /// the counter after it.
    #[inline(always)]
    fn write_and_mark(self, hash: u64, item: Item<T>, state: u64) -> u64 {
        let Self { seg, i, w, wraps } = self;
        // SAFETY: the slot is empty (not ready, not claimed) and only the owner fills slots
        // (`Segment::free_slot`), so nobody else accesses it until `ready(i)` is published;
        // the Acquire load of `w` ordered any previous claimer's move-out before this write.
        seg.slots[i].with_mut(|p| unsafe { (*p).write(item) });
        // Relaxed: readers only use the hash as a filter and read it after an Acquire load of
        // `word`; the mark below publishes it.
        seg.hashes[i].store(hash, Ordering::Relaxed);
        // Clear freed(i) if it was set (only the owner clears it, so `w` is still right about
        // it), and bump the counter (it wraps out of the word's top), so that a search whose
        // first collect missed this slot sees the segment change.
        let delta = state.wrapping_add(COUNTER_ONE).wrapping_sub(w & freed(i));
        // Only the owner changes the counter, so `w` has its current value.
        let counter = w >> COUNTER_SHIFT;
        before_mark(counter, wraps);
        // ORDERING: SeqCst. The Release half publishes the item, its hash and the producer's
        // `published` to the searches' Acquire loads of `word` and to the claim's Acquire.
        // SeqCst because this mark is ordered in the single total order with the searches'
        // loads (a search either sees the slot claimed or ready, or its second collect sees
        // the counter changed: docs/DESIGN.md, "The double collect"), with the prepared
        // publish's or return's SeqCst step on the producer's count that follows a prepare
        // (docs/DESIGN.md, "publish"), and, for a fill, as the state change, step (a), of the
        // waits of carts for this product (docs/DESIGN.md, "Waits").
        seg.word.fetch_add(delta, Ordering::SeqCst);
        counter.wrapping_add(1)
    }
}

/// An item its owner wrote into a slot and marked claimed, not yet on sale: made only by
/// [`FreeSlot::prepare`], and used up by [`publish`](Self::publish) or
/// [`retract`](Self::retract).
#[must_use = "a prepared slot must be published or retracted"]
pub(crate) struct PreparedSlot<'a, T> {
    seg: &'a Segment<T>,
    i: usize,
    /// The segment's counter after the prepare.
    counter: u64,
    wraps: &'a AtomicU64,
}

impl<T> PreparedSlot<'_, T> {
    /// Puts the item on sale: claimed(i) becomes ready(i).
    pub(super) fn publish(self) {
        let Self {
            seg,
            i,
            counter,
            wraps,
        } = self;
        before_mark(counter, wraps);
        // claimed(i) is set, so adding `ready(i) - claimed(i)` flips the two bits; the
        // counter is bumped again.
        let delta = ready(i).wrapping_sub(claimed(i)).wrapping_add(COUNTER_ONE);
        // ORDERING: SeqCst. The Release half pairs with the Acquire of the claim CAS in
        // `claim`: the item, its hash and the producer's count increment are written before
        // any reservation can take them. SeqCst because this is also the state change, step
        // (a), of the waits of carts for this product (docs/DESIGN.md, "Waits"). On x86 every
        // read-modify-write is already sequentially consistent, so this costs nothing there.
        let w = seg.word.fetch_add(delta, Ordering::SeqCst);
        debug_assert!(w & claimed(i) != 0 && w & ready(i) == 0, "not prepared");
        debug_assert_eq!(w >> COUNTER_SHIFT, counter & (u64::MAX >> COUNTER_SHIFT));
    }

    /// Takes the item back out; the slot becomes empty. It was never on sale.
    pub(super) fn retract(self) -> Item<T> {
        let Self { seg, i, .. } = self;
        // SAFETY: the slot is claimed by its owner, the caller, since `prepare` wrote it:
        // nobody else reads or writes it.
        let item = seg.slots[i].with_mut(|p| unsafe { p.cast::<Item<T>>().read() });
        // ORDERING: Release pairs with the Acquire loads of searches waiting for this slot
        // (nothing they read depends on it; it keeps the put-back symmetric with `settle`).
        seg.word.fetch_xor(claimed(i), Ordering::Release);
        item
    }
}

/// A ready slot claimed by the caller's reservation: made only by [`Segment::claim`] (whose
/// compare-exchange set the claimed bit), and used up by [`settle`](Self::settle).
struct Claimed<'a, T> {
    seg: &'a Segment<T>,
    i: usize,
}

impl<T> Claimed<'_, T> {
    /// Takes the item if `eq` accepts it, otherwise puts it back on sale.
    #[inline(always)]
    fn settle(self, eq: &mut impl FnMut(&T) -> bool) -> Option<Item<T>> {
        /// Puts the item back on sale if `eq` rejects it or panics.
        struct PutBack<'a, T>(&'a Segment<T>, usize);
        impl<T> Drop for PutBack<'_, T> {
            fn drop(&mut self) {
                // ORDERING: SeqCst. The Release half pairs with the Acquire of the next claim.
                // SeqCst because when `eq` panics this is the state change, step (a), of a
                // wait (docs/DESIGN.md, "Waits") that the unwinding reservation's notification
                // completes (`Inner::reserve_hashed`): a waiter that saw the slot claimed and
                // went to sleep is woken.
                self.0.word.fetch_xor(claimed(self.1), Ordering::SeqCst);
            }
        }
        let Self { seg, i } = self;
        let put_back = PutBack(seg, i);
        let equal = {
            let _inside = InsideEq::enter();
            // SAFETY: the claim gives this thread sole access to the slot, which holds an item
            // (it was ready when claimed).
            seg.slots[i].with(|p| eq(unsafe { &(*p.cast::<Item<T>>()).value }))
        };
        if !equal {
            return None; // `put_back` puts it back on sale.
        }
        core::mem::forget(put_back);
        // SAFETY: as above; after this read the slot counts as empty and is never read again
        // before the owner fills it anew.
        let item = seg.slots[i].with_mut(|p| unsafe { p.cast::<Item<T>>().read() });
        // The take is counted while the slot is still claimed: a reservation of an equal
        // item that would otherwise give up waits until then, so the item stops being on
        // sale (for the producer's count and for searches) at this one step.
        // SAFETY: `account` points into the producer registry, which outlives every slot.
        unsafe { &*item.account }.count_take();
        // ORDERING: Release pairs with the owner's Acquire load in `Segment::owner_view`: the move
        // out happens before the owner overwrites the slot.
        seg.word
            .fetch_xor(ready(i) | claimed(i) | freed(i), Ordering::Release);
        Some(item)
    }
}

impl<T> Segment<T> {
    /// Tries every ready slot of this segment whose hash is `hash`: takes the first item `eq`
    /// accepts, or returns a word loaded after the last try, which shows no untried ready
    /// slot with that hash. Sets `*collided` when `eq` rejected an item of that hash.
    #[inline(always)]
    pub(super) fn search(
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
                let Some(mine) = self.claim(i, hash, &mut w) else {
                    continue;
                };
                if let Some(item) = mine.settle(eq) {
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

/// Drops the items still on sale; the index frees its segments only when the market is torn
/// down.
impl<T> Drop for Segment<T> {
    fn drop(&mut self) {
        // Relaxed: `&mut self`, exclusive access.
        let w = self.word.load(Ordering::Relaxed);
        debug_assert_eq!(w & (SLOT_MASK << CLAIMED_SHIFT), 0, "claim at teardown");
        let mut on_sale = w & SLOT_MASK;
        while on_sale != 0 {
            let i = on_sale.trailing_zeros() as usize;
            on_sale &= on_sale - 1;
            // SAFETY: a ready slot holds an initialised item, dropped only here.
            self.slots[i].with_mut(|p| unsafe { p.cast::<Item<T>>().drop_in_place() });
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
pub(super) struct InsideEq {
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
    pub(super) fn entered() -> bool {
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
