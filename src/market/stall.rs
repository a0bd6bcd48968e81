//! Stalls: the segments one owner fills, and the item it prepared in one of them.

use core::ptr;

use super::index::{Bucket, Index};
use super::segment::{Item, Segment};
use crate::sync::Ordering;

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
            let freed_slots = Segment::<T>::freed_slots(w);
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
            let w = s.owner_view();
            if let Some(i) = pick(w) {
                self.hints[b] = seg;
                return (s, i, w, bucket);
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
                seg = s.own_next();
                s.orphan();
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
