//! A consumer's read chunks and their popping iterator.

use core::{fmt, iter::FusedIterator, ptr::NonNull, slice};

use super::Consumer;

/// Up to `max` of the oldest items, borrowed by [`Consumer::read_chunk`].
///
/// Look at them with [`as_slices`](Self::as_slices), drop some with
/// [`commit`](Self::commit), or take them with the iterator of
/// [`into_iter`](IntoIterator::into_iter); each releases its slots with one index store.
/// Dropping (or forgetting) the chunk without either leaves the items in the ring.
///
/// It is invariant in `T`, as its consumer is:
///
/// ```compile_fail
/// use ringmarket::spsc::ReadChunk;
///
/// fn shorten<'c, 'a>(chunk: ReadChunk<'c, &'static str>) -> ReadChunk<'c, &'a str> {
///     chunk
/// }
/// ```
pub struct ReadChunk<'a, T> {
    pub(super) consumer: &'a mut Consumer<T>,
    /// The number of borrowed items; at most the consumer's cached available items.
    pub(super) len: usize,
}

impl<'a, T> ReadChunk<'a, T> {
    /// The number of borrowed items.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(4).unwrap();
    /// producer.push(1).unwrap();
    /// assert_eq!(consumer.read_chunk(3).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the chunk borrows no item.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_producer, mut consumer) = ringmarket::spsc::ring::<u8>(4).unwrap();
    /// assert!(consumer.read_chunk(3).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The items, oldest first, as two runs (the second is empty unless they wrap around
    /// the end of the buffer).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(3).unwrap();
    /// producer.write_chunk(3).unwrap().fill_from_iter([1, 2, 3]);
    /// consumer.read_chunk(2).commit_all();
    /// producer.write_chunk(2).unwrap().fill_from_iter([4, 5]);
    /// let chunk = consumer.read_chunk(3);
    /// assert_eq!(chunk.as_slices(), (&[3][..], &[4, 5][..]));
    /// ```
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let c = &*self.consumer;
        let (start, first, second) = c.geometry.runs(c.head, self.len);
        c.shared.markers.read_span(start, self.len);
        let base = c.base.as_ptr();
        // SAFETY: `runs` keeps `start + first <= capacity`: inside the buffer.
        let first_at = unsafe { base.add(start) };
        // SAFETY: the two runs are the borrowed items: initialised, published by the producer,
        // inside the buffer, and not touched by the producer until `head` moves past them,
        // which cannot happen while `&self` borrows the chunk.
        let first = unsafe { slice::from_raw_parts(first_at, first) };
        // SAFETY: as for the first run.
        let second = unsafe { slice::from_raw_parts(base, second) };
        (first, second)
    }

    /// The items, oldest first, as two mutable runs.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(3).unwrap();
    /// producer.push(1).unwrap();
    /// let mut chunk = consumer.read_chunk(1);
    /// chunk.as_mut_slices().0[0] += 10;
    /// drop(chunk);
    /// assert_eq!(consumer.pop(), Ok(11));
    /// ```
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        let c = &*self.consumer;
        let (start, first, second) = c.geometry.runs(c.head, self.len);
        c.shared.markers.write_span(start, self.len);
        let base = c.base.as_ptr();
        // SAFETY: `runs` keeps `start + first <= capacity`: inside the buffer.
        let first_at = unsafe { base.add(start) };
        // SAFETY: as in `as_slices`; the runs are disjoint and `&mut self` makes the borrow
        // exclusive.
        let first = unsafe { slice::from_raw_parts_mut(first_at, first) };
        // SAFETY: as for the first run.
        let second = unsafe { slice::from_raw_parts_mut(base, second) };
        (first, second)
    }

    /// Drops the `n` oldest borrowed items and releases their slots with one index store.
    ///
    /// If an item's `Drop` panics, the other `n - 1` are still dropped, the slots are
    /// released all the same, and the panic goes on (a second panic aborts, as it does
    /// everywhere in Rust).
    ///
    /// # Panics
    ///
    /// If `n` is greater than [`len`](Self::len).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(4).unwrap();
    /// producer.write_chunk(3).unwrap().fill_from_slice(&[1, 2, 3]);
    /// consumer.read_chunk(3).commit(2);
    /// assert_eq!(consumer.pop(), Ok(3));
    /// ```
    pub fn commit(self, n: usize) {
        assert!(
            n <= self.len,
            "commit({n}) of a chunk of {} items",
            self.len
        );
        /// Releases the slots when dropped, on return or unwinding alike.
        struct Publish<'c, T> {
            consumer: &'c mut Consumer<T>,
            head: usize,
        }
        impl<T> Drop for Publish<'_, T> {
            fn drop(&mut self) {
                self.consumer.publish(self.head);
            }
        }
        let head = self.consumer.head;
        let publish = Publish {
            head: self.consumer.geometry.advance(head, n),
            consumer: self.consumer,
        };
        // SAFETY: the `n` items from `head` on are borrowed by this chunk (initialised, the
        // consumer's to take); `publish` moves `head` past them on return and on unwinding,
        // so they are never touched again.
        unsafe { publish.consumer.shared.drop_items(head, n) };
    }

    /// Drops every borrowed item and releases the slots, as [`commit`](Self::commit)`(len)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(4).unwrap();
    /// producer.push(1).unwrap();
    /// consumer.read_chunk(4).commit_all();
    /// assert!(consumer.is_empty());
    /// ```
    pub fn commit_all(self) {
        let n = self.len;
        self.commit(n);
    }
}

impl<'a, T> IntoIterator for ReadChunk<'a, T> {
    type Item = T;
    type IntoIter = ReadChunkIntoIter<'a, T>;

    /// An iterator that pops the borrowed items, oldest first, and releases the slots of
    /// those it took with one index store when it is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(4).unwrap();
    /// producer.write_chunk(3).unwrap().fill_from_iter(1..);
    /// let mut items = consumer.read_chunk(3).into_iter();
    /// assert_eq!(items.next(), Some(1));
    /// drop(items);
    /// assert_eq!(consumer.pop(), Ok(2));
    /// ```
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        ReadChunkIntoIter::new(self.consumer, self.len)
    }
}

impl<T> fmt::Debug for ReadChunk<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadChunk").field("len", &self.len).finish()
    }
}

/// Pops the items of a [`ReadChunk`]; releases the slots of the ones it took, with one index
/// store, when dropped. Items it did not take stay in the ring.
///
/// Forgetting it (`mem::forget`) is safe: no item is handed out or dropped twice. The items
/// it did not take are then leaked (neither popped nor dropped, as `Vec::drain` leaks on
/// `forget`), and the slots of the whole chunk are given back to the producer not when the
/// iterator is dropped but at the consumer's next index store (a `pop`, a commit), its next
/// refresh of the producer's index (a `pop`, `peek` or `read_chunk` that finds its cached
/// items used up), or its drop. The observers (`len`, `is_empty`, ...) take `&self` and only
/// read, so they do not give them back.
///
/// It is invariant in `T`, as its consumer is:
///
/// ```compile_fail
/// use ringmarket::spsc::ReadChunkIntoIter;
///
/// fn shorten<'c, 'a>(
///     items: ReadChunkIntoIter<'c, &'static str>,
/// ) -> ReadChunkIntoIter<'c, &'a str> {
///     items
/// }
/// ```
pub struct ReadChunkIntoIter<'a, T> {
    /// Its `head` is moved past the whole chunk when the iterator is made, so that no item is
    /// read twice even if the iterator is forgotten; `drop` moves it back to the first item
    /// not taken (`start` plus the items taken) and publishes it.
    consumer: &'a mut Consumer<T>,
    /// The consumer's `base`, copied so that the loop does not go through `consumer`.
    base: NonNull<T>,
    /// The consumer's `head` before the chunk.
    start: usize,
    /// The slot of the next item, in `0 ..= run_end`.
    pos: usize,
    /// The end of the run of slots being taken, at most `capacity`.
    run_end: usize,
    /// The length of the run from slot 0 still to come after this one (0 once in it).
    second: usize,
    /// The number of items in the chunk.
    len: usize,
}

impl<'a, T> ReadChunkIntoIter<'a, T> {
    /// An iterator over the `len` items from the consumer's `head` on (all published).
    #[inline]
    fn new(consumer: &'a mut Consumer<T>, len: usize) -> Self {
        let geometry = consumer.geometry;
        let start = consumer.head;
        let (pos, first, second) = geometry.runs(start, len);
        // Past the chunk, until `drop` says how far the items taken reach.
        consumer.head = geometry.advance(start, len);
        consumer.head_unstored = true;
        Self {
            base: consumer.base,
            start,
            pos,
            run_end: pos + first,
            second,
            len,
            consumer,
        }
    }

    /// Items not taken yet.
    #[inline(always)]
    fn remaining(&self) -> usize {
        self.run_end - self.pos + self.second
    }
}

impl<T> Iterator for ReadChunkIntoIter<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.pos == self.run_end {
            if self.second == 0 {
                return None;
            }
            self.pos = 0;
            self.run_end = self.second;
            self.second = 0;
        }
        let slot = self.pos;
        debug_assert!(slot < self.consumer.geometry.capacity);
        self.consumer.shared.markers.read(slot);
        self.pos += 1;
        // SAFETY: `slot < capacity`: inside the buffer.
        let at = unsafe { self.base.as_ptr().add(slot) };
        // SAFETY: the slot holds the next borrowed item (initialised, published, the
        // consumer's: the chunk lies before `tail_cache`). The consumer's `head` is already
        // past the chunk, so neither this iterator (`pos` has moved past the slot) nor the
        // consumer reads it again, even if this iterator is forgotten, and the producer does
        // not write it before a `head` past it is published.
        Some(unsafe { at.read() })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

impl<T> ExactSizeIterator for ReadChunkIntoIter<'_, T> {}

impl<T> FusedIterator for ReadChunkIntoIter<'_, T> {}

impl<T> Drop for ReadChunkIntoIter<'_, T> {
    #[inline]
    fn drop(&mut self) {
        let taken = self.len - self.remaining();
        // The items not taken stay in the ring.
        self.consumer.head = self.consumer.geometry.advance(self.start, taken);
        self.consumer.head_unstored = false;
        if taken > 0 {
            self.consumer.store_head();
        }
    }
}

impl<T> fmt::Debug for ReadChunkIntoIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadChunkIntoIter")
            .field("remaining", &self.remaining())
            .field("len", &self.len)
            .finish()
    }
}
