//! The producing end of the ring and its write chunks.

use core::{fmt, mem::MaybeUninit, ptr::NonNull, slice};

use super::{Geometry, Shared, TooFewSlots};
use crate::sync::{Arc, Ordering};
use crate::Full;

/// The producing end of a ring made by [`ring`](super::ring).
///
/// `Send` when `T` is, never `Sync`; every method that changes the ring takes `&mut self`.
/// The observers ([`len`](Self::len), [`is_empty`](Self::is_empty),
/// [`is_full`](Self::is_full), [`slots`](Self::slots), [`capacity`](Self::capacity),
/// [`is_abandoned`](Self::is_abandoned)) take `&self` and only read the consumer's index.
///
/// ```compile_fail
/// fn shared<S: Sync>(_: S) {}
/// let (producer, _consumer) = ringmarket::spsc::ring::<u8>(1).unwrap();
/// shared(producer); // a producer cannot be shared between threads
/// ```
///
/// Nor sent to another thread when `T` cannot be:
///
/// ```compile_fail
/// fn send<S: Send>(_: S) {}
/// let (producer, _consumer) = ringmarket::spsc::ring::<std::rc::Rc<u8>>(1).unwrap();
/// send(producer); // the `Rc`s would be shared by two threads
/// ```
///
/// It is invariant in `T`: a `Producer<&'static str>` cannot be taken for a `Producer<&'a str>`
/// (the producer could then push a short-lived `&str` that the consumer pops as
/// `&'static str`).
///
/// ```compile_fail
/// use ringmarket::spsc::Producer;
///
/// fn shorten<'a>(producer: Producer<&'static str>) -> Producer<&'a str> {
///     producer
/// }
/// ```
pub struct Producer<T> {
    /// The state shared with the consumer.
    shared: Arc<Shared<T>>,
    /// `shared.buffer.base`, copied so the fast path needs one pointer less.
    base: NonNull<T>,
    /// `shared.geometry`, copied for the same reason.
    geometry: Geometry,
    /// Always equal to `shared.tail` between calls: only this end writes it. In
    /// `0 .. 2 * capacity`.
    tail: usize,
    /// The last `head` this end loaded, plus the capacity: the position at which the ring is
    /// full as far as this end knows. `head` only moves forward, so the true limit is at or
    /// after this one; `tail` never passes it. In `0 .. 2 * capacity`.
    limit: usize,
}

// SAFETY: the producer moves `T`s to the consumer's thread (hence `T: Send`); `base` points
// into the buffer that `shared` keeps alive, and only the slots the index protocol gives the
// producer are touched through it, from whichever single thread owns the handle.
unsafe impl<T: Send> Send for Producer<T> {}

impl<T> Producer<T> {
    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        let geometry = shared.geometry;
        Self {
            base: shared.buffer.base,
            geometry,
            tail: 0,
            limit: geometry.capacity,
            shared,
        }
    }

    /// Free slots as far as the cached head says: a lower bound of the truth.
    #[inline(always)]
    fn cached_free(&self) -> usize {
        self.geometry.distance(self.tail, self.limit)
    }

    /// Loads the consumer's position, updates the cached limit and returns the free slots.
    #[inline]
    fn refresh(&mut self) -> usize {
        // ORDERING: Acquire pairs with the Release store of `head` in `Consumer::publish`:
        // the consumer's reads (and drops) of the slots it passed happen before this end
        // writes them again.
        let head = self.shared.head.load(Ordering::Acquire);
        debug_assert!(self.geometry.distance(head, self.tail) <= self.geometry.capacity);
        self.limit = self.geometry.advance(head, self.geometry.capacity);
        self.cached_free()
    }

    /// Free slots as of a fresh look at the consumer's position, without updating the cache:
    /// the observers' answer, through `&self`.
    #[inline]
    fn free_now(&self) -> usize {
        // Relaxed: only a number comes out of this; no slot is touched on its strength. A
        // push that follows loads `head` again with Acquire before it writes (the cached limit
        // is not updated here), and coherence makes that load see this value or a later one,
        // so the free slots counted here stay free for it.
        let head = self.shared.head.load(Ordering::Relaxed);
        let len = self.geometry.distance(head, self.tail);
        debug_assert!(len <= self.geometry.capacity);
        self.geometry.capacity - len
    }

    /// Makes the slots up to position `tail` visible to the consumer.
    #[inline(always)]
    fn publish(&mut self, tail: usize) {
        debug_assert!(self.geometry.distance(self.tail, tail) <= self.cached_free());
        self.tail = tail;
        // ORDERING: Release pairs with the Acquire load of `tail` in `Consumer::refresh`: the
        // writes of the slots before `tail` happen before the consumer reads them.
        self.shared.tail.store(tail, Ordering::Release);
    }

    /// Appends `value`, or hands it back inside [`Full`] if the ring has no free slot.
    ///
    /// Wait-free: it never waits for the consumer. It touches the consumer's index only when
    /// its cached copy says the ring is full.
    ///
    /// # Errors
    ///
    /// [`Full`] with `value` if all `capacity` slots hold items.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(1).unwrap();
    /// assert_eq!(producer.push(1), Ok(()));
    /// assert_eq!(producer.push(2).unwrap_err().into_inner(), 2);
    /// assert_eq!(consumer.pop(), Ok(1));
    /// assert_eq!(producer.push(2), Ok(()));
    /// ```
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), Full<T>> {
        if self.tail == self.limit && self.refresh() == 0 {
            return Err(Full(value));
        }
        let slot = self.geometry.slot(self.tail);
        self.shared.markers.write(slot);
        // SAFETY: `slot < capacity`: inside the buffer.
        let at = unsafe { self.base.as_ptr().add(slot) };
        // SAFETY: `tail` is before `limit`, so the slot is free: the consumer has left it and
        // will not touch it before `tail` moves past it.
        unsafe { at.write(value) };
        self.publish(self.geometry.advance(self.tail, 1));
        Ok(())
    }

    /// Reserves exactly `n` free slots to be filled and committed with one index publication.
    ///
    /// Fill them with [`WriteChunk::fill_from_iter`] or [`WriteChunk::fill_from_slice`], or
    /// write them through [`WriteChunk::as_mut_slices`] and [`WriteChunk::commit`]. A chunk
    /// dropped without a commit leaves the ring as it was.
    ///
    /// # Errors
    ///
    /// [`TooFewSlots`] with the number of free slots if there are fewer than `n`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(4).unwrap();
    /// let chunk = producer.write_chunk(3).unwrap();
    /// assert_eq!(chunk.fill_from_iter(10..), 3);
    /// assert_eq!(consumer.read_chunk(4).into_iter().collect::<Vec<_>>(), [10, 11, 12]);
    /// ```
    #[inline]
    pub fn write_chunk(&mut self, n: usize) -> Result<WriteChunk<'_, T>, TooFewSlots> {
        let free = self.cached_free();
        if free < n {
            let free = self.refresh();
            if free < n {
                return Err(TooFewSlots(free));
            }
        }
        Ok(WriteChunk {
            producer: self,
            len: n,
        })
    }

    /// The number of slots the ring has.
    ///
    /// # Examples
    ///
    /// ```
    /// let (producer, _consumer) = ringmarket::spsc::ring::<u8>(3).unwrap();
    /// assert_eq!(producer.capacity(), 3);
    /// ```
    pub fn capacity(&self) -> usize {
        self.geometry.capacity
    }

    /// The number of free slots now.
    ///
    /// The consumer may free more at any time, so this is a lower bound that stays true until
    /// this producer pushes: pushing up to that many items cannot fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, _consumer) = ringmarket::spsc::ring(3).unwrap();
    /// producer.push(1).unwrap();
    /// assert_eq!(producer.slots(), 2);
    /// ```
    pub fn slots(&self) -> usize {
        self.free_now()
    }

    /// The number of items in the ring now.
    ///
    /// The consumer may take some at any time, so this is an upper bound that stays true until
    /// this producer pushes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, _consumer) = ringmarket::spsc::ring(3).unwrap();
    /// producer.push('a').unwrap();
    /// assert_eq!(producer.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.geometry.capacity - self.free_now()
    }

    /// Whether the ring holds no item.
    ///
    /// `true` stays true until this producer pushes (only it adds items); `false` may turn
    /// true at any time as the consumer pops.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, _consumer) = ringmarket::spsc::ring(3).unwrap();
    /// assert!(producer.is_empty());
    /// producer.push(()).unwrap();
    /// assert!(!producer.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.free_now() == self.geometry.capacity
    }

    /// Whether every slot holds an item, so that [`push`](Self::push) would fail.
    ///
    /// `false` stays false until this producer pushes; `true` may turn false at any time as
    /// the consumer pops. Reads the consumer's index only when the cached one says full.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(1).unwrap();
    /// producer.push(1).unwrap();
    /// assert!(producer.is_full());
    /// consumer.pop().unwrap();
    /// assert!(!producer.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.cached_free() == 0 && self.free_now() == 0
    }

    /// Whether the consumer has been dropped, so that nothing pushed will ever be popped.
    ///
    /// Once `true`, always `true`. Items pushed after that are dropped with the ring.
    ///
    /// # Examples
    ///
    /// ```
    /// let (producer, consumer) = ringmarket::spsc::ring::<u8>(1).unwrap();
    /// assert!(!producer.is_abandoned());
    /// drop(consumer);
    /// assert!(producer.is_abandoned());
    /// ```
    pub fn is_abandoned(&self) -> bool {
        self.shared.is_abandoned()
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        self.shared.abandon();
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.geometry.capacity)
            .field("tail", &self.tail)
            .field("cached_free", &self.cached_free())
            .finish()
    }
}

/// Free slots reserved by [`Producer::write_chunk`], to be filled and published at once.
///
/// Dropping the chunk without committing leaves the ring unchanged (anything written through
/// [`as_mut_slices`](Self::as_mut_slices) is then forgotten, not dropped). Forgetting it
/// (`mem::forget`) does the same.
///
/// It is invariant in `T`, as its producer is:
///
/// ```compile_fail
/// use ringmarket::spsc::WriteChunk;
///
/// fn shorten<'c, 'a>(chunk: WriteChunk<'c, &'static str>) -> WriteChunk<'c, &'a str> {
///     chunk
/// }
/// ```
pub struct WriteChunk<'a, T> {
    producer: &'a mut Producer<T>,
    /// The number of reserved slots; at most the producer's cached free slots.
    len: usize,
}

impl<T> WriteChunk<'_, T> {
    /// The number of reserved slots.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, _consumer) = ringmarket::spsc::ring::<u8>(4).unwrap();
    /// assert_eq!(producer.write_chunk(2).unwrap().len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no slot is reserved.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, _consumer) = ringmarket::spsc::ring::<u8>(4).unwrap();
    /// assert!(producer.write_chunk(0).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The reserved slots, in order, as two runs (the second is empty unless the reservation
    /// wraps around the end of the buffer).
    ///
    /// Write the first `n` slots of the two runs taken together, then [`commit`](Self::commit)
    /// `n`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::mem::MaybeUninit;
    ///
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(4).unwrap();
    /// let mut chunk = producer.write_chunk(2).unwrap();
    /// let (first, second) = chunk.as_mut_slices();
    /// for (slot, value) in first.iter_mut().chain(second).zip([7, 8]) {
    ///     *slot = MaybeUninit::new(value);
    /// }
    /// // SAFETY: both reserved slots were written just above.
    /// unsafe { chunk.commit(2) };
    /// assert_eq!(consumer.pop(), Ok(7));
    /// ```
    pub fn as_mut_slices(&mut self) -> (&mut [MaybeUninit<T>], &mut [MaybeUninit<T>]) {
        let p = &*self.producer;
        let (start, first, second) = p.geometry.runs(p.tail, self.len);
        p.shared.markers.write_span(start, self.len);
        let base = p.base.as_ptr().cast::<MaybeUninit<T>>();
        // SAFETY: `runs` keeps `start + first <= capacity`: inside the buffer.
        let first_at = unsafe { base.add(start) };
        // SAFETY: the two runs are the reserved slots: free (the producer owns them until it
        // moves `tail`), inside the buffer and disjoint; `&mut self` borrows the chunk, and so
        // the producer, for as long as the slices live. `MaybeUninit` needs no initialisation.
        let first = unsafe { slice::from_raw_parts_mut(first_at, first) };
        // SAFETY: as for the first run.
        let second = unsafe { slice::from_raw_parts_mut(base, second) };
        (first, second)
    }

    /// Publishes the first `n` reserved slots to the consumer with one index store.
    ///
    /// # Safety
    ///
    /// The first `n` slots of [`as_mut_slices`](Self::as_mut_slices) (the two runs taken in
    /// order) must have been initialised.
    ///
    /// # Panics
    ///
    /// If `n` is greater than [`len`](Self::len).
    ///
    /// # Examples
    ///
    /// See [`as_mut_slices`](Self::as_mut_slices).
    pub unsafe fn commit(self, n: usize) {
        assert!(
            n <= self.len,
            "commit({n}) of a chunk of {} slots",
            self.len
        );
        let tail = self.producer.geometry.advance(self.producer.tail, n);
        self.producer.publish(tail);
    }

    /// Moves items from `iter` into the reserved slots until either runs out, and publishes
    /// them with one index store. Returns how many were written.
    ///
    /// If `iter` panics, the items it yielded before are published (not leaked, not
    /// dropped twice) and the panic goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(8).unwrap();
    /// assert_eq!(producer.write_chunk(5).unwrap().fill_from_iter(["a", "b"]), 2);
    /// assert_eq!(consumer.slots(), 2);
    /// ```
    #[inline]
    pub fn fill_from_iter<I: IntoIterator<Item = T>>(self, iter: I) -> usize {
        /// Publishes what has been written when dropped, on return or unwinding alike.
        struct Publish<'p, T> {
            producer: &'p mut Producer<T>,
            written: usize,
        }
        impl<T> Drop for Publish<'_, T> {
            #[inline]
            fn drop(&mut self) {
                if self.written > 0 {
                    let tail = self
                        .producer
                        .geometry
                        .advance(self.producer.tail, self.written);
                    self.producer.publish(tail);
                }
            }
        }

        let (start, first, second) = self.producer.geometry.runs(self.producer.tail, self.len);
        self.producer.shared.markers.write_span(start, self.len);
        let base = self.producer.base.as_ptr();
        let mut iter = iter.into_iter();
        let mut publish = Publish {
            producer: self.producer,
            written: 0,
        };
        for (run_start, run_len) in [(start, first), (0, second)] {
            for i in run_start..run_start + run_len {
                let Some(value) = iter.next() else {
                    return publish.written;
                };
                // SAFETY: slot `i` is one of the reserved ones: inside the buffer.
                let at = unsafe { base.add(i) };
                // SAFETY: the reserved slots are free and owned by the producer, and slot `i`
                // has not been written yet in this call.
                unsafe { at.write(value) };
                publish.written += 1;
            }
        }
        publish.written
    }

    /// Clones items from `items` into the reserved slots until either runs out, and publishes
    /// them with one index store. Returns how many were written.
    ///
    /// A panicking `clone` publishes the items cloned before it, as
    /// [`fill_from_iter`](Self::fill_from_iter) does.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(8).unwrap();
    /// assert_eq!(producer.write_chunk(3).unwrap().fill_from_slice(&[1, 2, 3, 4]), 3);
    /// assert_eq!(consumer.read_chunk(8).as_slices(), (&[1, 2, 3][..], &[][..]));
    /// ```
    #[inline]
    pub fn fill_from_slice(self, items: &[T]) -> usize
    where
        T: Clone,
    {
        self.fill_from_iter(items.iter().cloned())
    }
}

impl<T> fmt::Debug for WriteChunk<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteChunk")
            .field("len", &self.len)
            .finish()
    }
}
