//! Shelves: the segments one owner fills, and the item it prepared in one of them.

use core::ptr;

use super::index::{Bucket, Index};
use super::segment::{FreeSlot, Item, PreparedSlot, Segment};
use crate::sync::Ordering;

/// The segments one owner (a producer, or a cart putting returns back) fills.
pub(crate) struct Shelf<T> {
    /// Nonzero once the shelf has owned a segment.
    token: usize,
    /// `heads[b]`: the first of this shelf's segments in bucket `b` (chained by `own_next`),
    /// or null. Empty until the first fill.
    heads: Vec<*mut Segment<T>>,
    /// `hints[b]`: the segment of bucket `b` this shelf filled last (null or one of its own),
    /// tried first so that a shelf with many segments in one bucket rarely scans them all.
    hints: Vec<*mut Segment<T>>,
}

impl<T> Default for Shelf<T> {
    fn default() -> Self {
        Self {
            token: 0,
            heads: Vec::new(),
            hints: Vec::new(),
        }
    }
}

impl<T> Shelf<T> {
    /// This shelf as the one that fills `index`'s slots, for one operation.
    ///
    /// # Safety
    ///
    /// `index` is the one index this shelf fills (every call passes the same one) and lives
    /// until the shelf is orphaned: the shelf's segments are in it. No type can say so: a
    /// shelf is made by `Default` in a registry entry before any index is at hand, and the
    /// index it belongs to is the one beside that registry in the same `Inner`.
    pub(crate) unsafe fn filler<'a>(&'a mut self, index: &'a Index<T>) -> Filler<'a, T> {
        Filler { shelf: self, index }
    }

    /// A free slot of one of this shelf's segments in the bucket of `hash` (in `index`, the one
    /// index this shelf fills: see [`filler`](Self::filler)), and that bucket. A slot a take
    /// emptied (FREED) is preferred: the bucket's bound still counts it. Taking an EMPTY one
    /// counts it in the bound first.
    ///
    /// The common case, a FREED slot in the segment filled last, is inlined into the publish;
    /// everything else is [`free_slot_searching`](Self::free_slot_searching).
    #[inline]
    fn free_slot<'a>(
        &mut self,
        index: &'a Index<T>,
        hash: u64,
    ) -> (FreeSlot<'a, T>, &'a Bucket<T>) {
        let b = index.bucket(hash);
        // SAFETY: segments live as long as the index.
        if let Some(s) = self.hints.get(b).and_then(|&hint| unsafe { hint.as_ref() }) {
            let w = s.owner_view();
            let freed_slots = Segment::<T>::freed_slots(w);
            if freed_slots != 0 {
                let bucket = &index.buckets[b];
                let i = freed_slots.trailing_zeros() as usize;
                // SAFETY: a hint is one of the shelf's own segments, and `w` was loaded just
                // now and shows slot `i` free.
                let slot = unsafe { s.free_slot(i, w, &bucket.wraps) };
                return (slot, bucket);
            }
        }
        self.free_slot_searching(index, hash)
    }

    /// [`free_slot`](Self::free_slot) when the segment filled last has no FREED slot: the
    /// first fill of the shelf, an EMPTY slot, another segment, or a new one.
    #[inline(never)]
    fn free_slot_searching<'a>(
        &mut self,
        index: &'a Index<T>,
        hash: u64,
    ) -> (FreeSlot<'a, T>, &'a Bucket<T>) {
        if self.heads.is_empty() {
            // `resize` keeps the allocation of an orphaned shelf whose entry was reused.
            self.heads.resize(index.buckets(), ptr::null_mut());
            self.hints.resize(index.buckets(), ptr::null_mut());
            self.token = index.new_token();
        }
        let b = index.bucket(hash);
        let bucket = &index.buckets[b];
        // A free slot of `s`, given its word: a FREED one first.
        let pick = |w: u64| {
            let free = Segment::<T>::free_slots(w);
            let freed_slots = Segment::<T>::freed_slots(w);
            if freed_slots != 0 {
                Some(freed_slots.trailing_zeros() as usize)
            } else if free != 0 {
                // ORDERING: SeqCst, before the slot leaves EMPTY: see `Index::empty`.
                bucket.used_slots.fetch_add(1, Ordering::SeqCst);
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
            let w = s.owner_view();
            if let Some(i) = pick(w) {
                self.hints[b] = seg;
                // SAFETY: the shelf owns its own segments (`heads` chains them), and `w` was
                // loaded just now and shows slot `i` free.
                return (unsafe { s.free_slot(i, w, &bucket.wraps) }, bucket);
            }
            if from_head {
                seg = s.own_next();
            } else {
                from_head = true;
                seg = self.heads[b];
            }
        }
        loop {
            let seg = index.adopt_or_allocate(b, self.token);
            // SAFETY: segments live as long as the index.
            let s = unsafe { &*seg };
            s.set_own_next(self.heads[b]);
            self.heads[b] = seg;
            self.hints[b] = seg;
            let w = s.owner_view();
            if let Some(i) = pick(w) {
                // SAFETY: the shelf adopted or allocated `s` just now and loaded `w` since;
                // `w` shows slot `i` free.
                return (unsafe { s.free_slot(i, w, &bucket.wraps) }, bucket);
            }
        }
    }

    /// Gives up every segment of this shelf so that other shelves can adopt them; the items on
    /// sale in them stay on sale.
    pub(crate) fn orphan(&mut self) {
        for &head in &self.heads {
            let mut seg = head;
            // SAFETY: the shelf's segments are in the index it fills, which lives until the
            // shelf is orphaned (`Shelf::filler`).
            while let Some(s) = unsafe { seg.as_ref() } {
                seg = s.own_next();
                s.orphan();
            }
        }
        self.heads.clear();
        self.hints.clear();
    }
}

/// A shelf in the hands of one operation, with the index it fills
/// ([`Shelf::filler`]).
pub(crate) struct Filler<'a, T> {
    shelf: &'a mut Shelf<T>,
    index: &'a Index<T>,
}

impl<'a, T> Filler<'a, T> {
    /// Writes `item` into one of the shelf's slots of the bucket of `hash`, claimed by the
    /// shelf (not yet on sale; see [`Prepared`]). Wait-free unless the shelf has no free slot
    /// in that bucket and must take a segment.
    pub(crate) fn prepare(self, hash: u64, item: Item<T>) -> Prepared<'a, T> {
        let (slot, bucket) = self.shelf.free_slot(self.index, hash);
        Prepared {
            slot: slot.prepare(hash, item),
            bucket,
        }
    }

    /// Writes `item` into one of the shelf's slots of the bucket of `hash` and puts it on
    /// sale at once: one mark, the linearization point of a publish that no return can race
    /// (docs/DESIGN.md, "publish"). Wait-free unless the shelf must take a segment.
    #[inline]
    pub(crate) fn fill(self, hash: u64, item: Item<T>) {
        let (slot, _) = self.shelf.free_slot(self.index, hash);
        slot.fill(hash, item);
    }
}

/// An item written into its shelf's slot but not yet on sale: the slot is claimed by its
/// owner, so a reservation of an equal item that would otherwise answer `false` waits for it.
/// Between [`Filler::prepare`] and [`Prepared::publish`] the owner makes one atomic step, the
/// operation's linearization point (the producer's count load of a publish, the count
/// increment of a return), and runs no user code.
#[must_use = "a prepared slot must be published or retracted"]
pub(crate) struct Prepared<'a, T> {
    slot: PreparedSlot<'a, T>,
    /// The bucket, whose `used_slots` counts this item.
    bucket: &'a Bucket<T>,
}

impl<T> Prepared<'_, T> {
    /// Puts the item on sale.
    pub(crate) fn publish(self) {
        self.slot.publish();
    }

    /// Takes the item back; it was never on sale.
    pub(crate) fn retract(self) -> Item<T> {
        let item = self.slot.retract();
        Index::<T>::emptied(&self.bucket.used_slots);
        item
    }
}
