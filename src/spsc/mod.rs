//! A bounded, lock-free, wait-free single-producer single-consumer ring.
//!
//! [`ring`] allocates a ring of any capacity of at least one and returns its two ends: a
//! [`Producer`] that pushes and a [`Consumer`] that pops. Each end is `Send` (when `T` is), not
//! `Sync`, and every operation that changes the ring takes `&mut self`, so the type system
//! keeps the single producer single and the single consumer single; the observers (`len`,
//! `is_empty`, `is_full`, `slots`) take `&self`.
//!
//! Items go one at a time ([`Producer::push`], [`Consumer::pop`], [`Consumer::peek`]) or in
//! batches that publish their index once per batch, not once per item
//! ([`Producer::write_chunk`] with [`WriteChunk::fill_from_iter`] or
//! [`WriteChunk::fill_from_slice`]; [`Consumer::read_chunk`] with [`ReadChunk::as_slices`],
//! [`ReadChunk::commit`] or its popping iterator).
//!
//! Every item still in the ring when the second handle is dropped is dropped exactly once.
//!
//! # Examples
//!
//! ```
//! use ringmarket::spsc;
//!
//! let (mut producer, mut consumer) = spsc::ring::<u64>(3).unwrap();
//! let worker = std::thread::spawn(move || {
//!     for i in 0..100 {
//!         let mut item = i;
//!         while let Err(full) = producer.push(item) {
//!             item = full.into_inner();
//!             std::thread::yield_now();
//!         }
//!     }
//! });
//! let mut expected = 0;
//! while expected < 100 {
//!     match consumer.pop() {
//!         Ok(item) => {
//!             assert_eq!(item, expected);
//!             expected += 1;
//!         }
//!         Err(_) => std::thread::yield_now(),
//!     }
//! }
//! worker.join().unwrap();
//! ```

mod consumer;
mod producer;
mod read_chunk;

pub use consumer::Consumer;
pub use producer::{Producer, WriteChunk};
pub use read_chunk::{ReadChunk, ReadChunkIntoIter};

use core::{fmt, marker::PhantomData, ptr, ptr::NonNull};
use std::alloc::{self, Layout};

use crossbeam_utils::CachePadded;

use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering, SlotMarkers};
use crate::ZeroCapacity;

/// The largest capacity a ring can have: positions run over `0 .. 2 * capacity` and a
/// position plus a capacity must not overflow `usize`.
///
/// Any ring of a non-zero-sized `T` runs out of memory long before this.
pub const MAX_CAPACITY: usize = usize::MAX / 4;

/// Creates a ring that holds up to `capacity` items and returns its two ends.
///
/// `capacity` can be any number from 1 to [`MAX_CAPACITY`], not only a power of two. The
/// whole buffer is allocated here, once.
///
/// # Errors
///
/// [`ZeroCapacity`] if `capacity` is 0 (a ring that could never hold anything), as for every
/// structure of the crate.
///
/// # Panics
///
/// If `capacity` exceeds [`MAX_CAPACITY`] or the buffer cannot be allocated (as
/// `Vec::with_capacity` would).
///
/// # Examples
///
/// ```
/// use ringmarket::{spsc, ZeroCapacity};
///
/// let (mut producer, mut consumer) = spsc::ring::<&str>(1)?;
/// producer.push("one").unwrap();
/// assert!(producer.push("two").is_err());
/// assert_eq!(consumer.pop(), Ok("one"));
/// assert_eq!(spsc::ring::<u8>(0).err(), Some(ZeroCapacity));
/// # Ok::<(), ZeroCapacity>(())
/// ```
#[track_caller]
pub fn ring<T>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), ZeroCapacity> {
    if capacity == 0 {
        return Err(ZeroCapacity);
    }
    assert!(
        capacity <= MAX_CAPACITY,
        "spsc::ring: capacity {capacity} exceeds MAX_CAPACITY"
    );
    let shared = Arc::new(Shared::new(capacity));
    Ok((Producer::new(shared.clone()), Consumer::new(shared)))
}

/// A write chunk was asked for more free slots than the ring has.
///
/// Carries the number of free slots there were when the request was checked.
///
/// # Examples
///
/// ```
/// use ringmarket::spsc::{self, TooFewSlots};
///
/// let (mut producer, _consumer) = spsc::ring::<u32>(4).unwrap();
/// assert_eq!(producer.write_chunk(5).err(), Some(TooFewSlots(4)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TooFewSlots(pub usize);

impl fmt::Display for TooFewSlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "too few free slots: only {} available", self.0)
    }
}

impl std::error::Error for TooFewSlots {}

/// Position arithmetic of a ring of `capacity` slots.
///
/// A position is in `0 .. 2 * capacity`: slot `pos` or `pos - capacity`, whichever is below
/// `capacity`. Running positions over twice the capacity tells a full ring (`tail - head ==
/// capacity`) from an empty one (`tail == head`) without a spare slot, and keeping them there
/// by comparing and subtracting works for every capacity, with no modulo on the fast path.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    /// The number of slots, at least 1 and at most `MAX_CAPACITY`.
    capacity: usize,
    /// `2 * capacity`: positions are below this.
    wrap: usize,
}

impl Geometry {
    fn new(capacity: usize) -> Self {
        debug_assert!((1..=MAX_CAPACITY).contains(&capacity));
        Self {
            capacity,
            wrap: 2 * capacity,
        }
    }

    /// The slot that position `pos` names.
    #[inline(always)]
    fn slot(self, pos: usize) -> usize {
        debug_assert!(pos < self.wrap);
        if pos >= self.capacity {
            pos - self.capacity
        } else {
            pos
        }
    }

    /// The position `n` steps after `pos`.
    #[inline(always)]
    fn advance(self, pos: usize, n: usize) -> usize {
        debug_assert!(pos < self.wrap && n <= self.capacity);
        let next = pos + n;
        if next >= self.wrap {
            next - self.wrap
        } else {
            next
        }
    }

    /// How many steps lead from position `from` to position `to`.
    #[inline(always)]
    fn distance(self, from: usize, to: usize) -> usize {
        debug_assert!(from < self.wrap && to < self.wrap);
        if to >= from {
            to - from
        } else {
            to + self.wrap - from
        }
    }

    /// The `n` slots from position `pos` on, as at most two runs of slots:
    /// `(first slot, length of the run from it, length of the run from slot 0)`.
    #[inline(always)]
    fn runs(self, pos: usize, n: usize) -> (usize, usize, usize) {
        debug_assert!(n <= self.capacity);
        let start = self.slot(pos);
        let room = self.capacity - start;
        if n <= room {
            (start, n, 0)
        } else {
            (start, room, n - room)
        }
    }
}

/// The slots: one allocation of `capacity` possibly uninitialised `T`s.
///
/// Owns the allocation and frees it on drop without dropping any item (which items are live
/// is the business of [`Shared`]). Making it costs one allocation and no work per slot (a
/// ring of a zero-sized `T` may have `MAX_CAPACITY` slots and allocates nothing).
struct Buffer<T> {
    /// The first slot; slot `i` is at `base + i` for `i < len`. Dangling when `layout` has
    /// size 0 (a zero-sized `T`).
    base: NonNull<T>,
    /// The number of slots.
    len: usize,
}

impl<T> Buffer<T> {
    /// The layout of `len` slots.
    ///
    /// # Panics
    ///
    /// If `len` slots of `T` exceed `isize::MAX` bytes (as `Vec::with_capacity` does).
    fn layout(len: usize) -> Layout {
        Layout::array::<T>(len).expect("spsc::ring: capacity overflow")
    }

    fn new(len: usize) -> Self {
        let layout = Self::layout(len);
        let base = if layout.size() == 0 {
            NonNull::dangling()
        } else {
            // SAFETY: the layout has a non-zero size, as `alloc` requires.
            let raw = unsafe { alloc::alloc(layout) };
            NonNull::new(raw.cast::<T>()).unwrap_or_else(|| alloc::handle_alloc_error(layout))
        };
        Self { base, len }
    }
}

impl<T> Drop for Buffer<T> {
    fn drop(&mut self) {
        let layout = Self::layout(self.len);
        if layout.size() != 0 {
            // SAFETY: `base` was allocated in `Buffer::new` with this same layout (the same
            // `len`), and this is the only place that frees it. Items are not touched:
            // `Shared::drop` has already dropped the live ones.
            unsafe { alloc::dealloc(self.base.as_ptr().cast::<u8>(), layout) };
        }
    }
}

/// The state both ends share.
///
/// Slot state: the slots at positions `head .. tail` (in position arithmetic, see
/// [`Geometry`]) hold initialised items owned by the consumer's side; the others are empty
/// and belong to the producer. Only the producer moves `tail` (after writing slots), only the
/// consumer moves `head` (after reading or dropping slots).
struct Shared<T> {
    /// The consumer's position: the next slot to read. In `0 .. 2 * capacity`; written only
    /// by the consumer, always after the slots it passes have been read or dropped.
    head: CachePadded<AtomicUsize>,
    /// The producer's position: the next slot to write. In `0 .. 2 * capacity`, at most
    /// `capacity` steps ahead of `head`; written only by the producer, always after the slots
    /// it passes have been written.
    tail: CachePadded<AtomicUsize>,
    /// Set by whichever end is dropped first (each end only asks about the other).
    abandoned: AtomicBool,
    /// The position arithmetic.
    geometry: Geometry,
    /// The slots.
    buffer: Buffer<T>,
    /// Under loom, one access marker per slot; nothing under std.
    markers: SlotMarkers,
    /// Makes `Shared`, and with it both handles, invariant in `T`: the fields alone
    /// (`NonNull<T>`) would make them covariant, so that a `Producer<&'static str>` could
    /// become a `Producer<&'a str>`, push a short-lived `&str`, and the untouched
    /// `Consumer<&'static str>` would pop it as `&'static str`. `fn(T) -> T` is invariant in
    /// `T` and `Send + Sync` whatever `T` is, so it leaves the auto traits to the impls below.
    _invariant: PhantomData<fn(T) -> T>,
}

// SAFETY: the ring moves `T`s from the producer's thread to the consumer's, so `T: Send` is
// required and enough: no `T` is ever reachable from both threads at once, because a slot
// belongs to exactly one side at a time (see `Shared`'s slot state) and passes from one to
// the other only through the Release/Acquire pairs on `head` and `tail`.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as for `Send`: shared access to `Shared` only ever touches atomics, read-only
// fields, and slots that the index protocol gives to one side at a time.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    fn new(capacity: usize) -> Self {
        Self {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            abandoned: AtomicBool::new(false),
            geometry: Geometry::new(capacity),
            buffer: Buffer::new(capacity),
            markers: SlotMarkers::new(capacity),
            _invariant: PhantomData,
        }
    }

    /// Marks one end as gone. Called from each end's `Drop`.
    fn abandon(&self) {
        // ORDERING: Release pairs with the Acquire load in `is_abandoned`: everything the
        // dropped end did (its last index store included) is visible to an end that sees
        // `true`, so a consumer that sees its producer gone and then finds the ring empty
        // knows that nothing more will come.
        self.abandoned.store(true, Ordering::Release);
    }

    /// Whether one end has been dropped.
    fn is_abandoned(&self) -> bool {
        // ORDERING: Acquire pairs with the Release store in `abandon`.
        self.abandoned.load(Ordering::Acquire)
    }

    /// Drops the `n` items at positions `pos ..`, all of them even if one's `Drop` panics.
    ///
    /// # Safety
    ///
    /// The `n` slots from `pos` on hold initialised items that the caller owns, and the
    /// caller treats them as gone afterwards (by moving `head` past them), also when this
    /// unwinds.
    unsafe fn drop_items(&self, pos: usize, n: usize) {
        let (start, first, second) = self.geometry.runs(pos, n);
        self.markers.write_span(start, n);
        if !core::mem::needs_drop::<T>() || n == 0 {
            return;
        }
        /// Drops a run of items when it goes out of scope, so that the second run is dropped
        /// even while the first one unwinds.
        struct DropRun<T>(*mut [T]);
        impl<T> Drop for DropRun<T> {
            fn drop(&mut self) {
                // SAFETY: built below from a run of initialised items that `drop_items`'
                // caller gave up; dropped exactly once, here.
                unsafe { ptr::drop_in_place(self.0) }
            }
        }
        let base = self.buffer.base.as_ptr();
        let _second = DropRun(ptr::slice_from_raw_parts_mut(base, second));
        // SAFETY: `runs` keeps `start + first <= capacity`, so the run is inside the buffer.
        let first_at = unsafe { base.add(start) };
        // SAFETY: the caller guarantees that the run's items are initialised and given up. A
        // panicking item `Drop` inside the run still drops the rest of the run (slice drop
        // glue does), and `_second` then drops the second run.
        unsafe { ptr::drop_in_place(ptr::slice_from_raw_parts_mut(first_at, first)) };
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // ORDERING: Relaxed: `&mut self` means both ends are gone, and the Arc's final
        // decrement synchronised with both of their drops, so their last stores are visible.
        let head = self.head.load(Ordering::Relaxed);
        // ORDERING: Relaxed, for the same reason.
        let tail = self.tail.load(Ordering::Relaxed);
        let n = self.geometry.distance(head, tail);
        debug_assert!(n <= self.geometry.capacity);
        // SAFETY: positions `head .. tail` hold the initialised items nobody popped; no end is
        // left to touch them, and `buffer` is freed by its own drop right after this one, also
        // if an item's `Drop` panics.
        unsafe { self.drop_items(head, n) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_wraps_at_twice_the_capacity() {
        for capacity in [1, 2, 3, 7, 1024] {
            let g = Geometry::new(capacity);
            let mut pos = 0;
            for step in 0..5 * capacity {
                assert_eq!(g.slot(pos), step % capacity);
                assert_eq!(pos, step % (2 * capacity));
                let next = g.advance(pos, 1);
                assert_eq!(g.distance(pos, next), 1);
                assert_eq!(g.distance(pos, g.advance(pos, capacity)), capacity);
                pos = next;
            }
        }
    }

    #[test]
    fn runs_split_at_the_end_of_the_buffer() {
        let g = Geometry::new(3);
        assert_eq!(g.runs(0, 3), (0, 3, 0));
        assert_eq!(g.runs(2, 2), (2, 1, 1));
        assert_eq!(g.runs(5, 3), (2, 1, 2));
        assert_eq!(g.runs(4, 0), (1, 0, 0));
    }
}
