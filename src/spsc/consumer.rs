//! The consuming end of the ring.

use core::{fmt, ptr::NonNull};

use super::{Geometry, ReadChunk, Shared};
use crate::sync::{Arc, Ordering};
use crate::Empty;

/// The consuming end of a ring made by [`ring`](super::ring).
///
/// `Send` when `T` is, never `Sync`; every method that changes the ring takes `&mut self`.
/// The observers ([`len`](Self::len), [`is_empty`](Self::is_empty),
/// [`is_full`](Self::is_full), [`slots`](Self::slots), [`capacity`](Self::capacity),
/// [`is_abandoned`](Self::is_abandoned)) take `&self` and only read the producer's index.
///
/// ```compile_fail
/// fn shared<S: Sync>(_: S) {}
/// let (_producer, consumer) = ringmarket::spsc::ring::<u8>(1).unwrap();
/// shared(consumer); // a consumer cannot be shared between threads
/// ```
///
/// Nor sent to another thread when `T` cannot be:
///
/// ```compile_fail
/// fn send<S: Send>(_: S) {}
/// let (_producer, consumer) = ringmarket::spsc::ring::<std::rc::Rc<u8>>(1).unwrap();
/// send(consumer); // the `Rc`s would be shared by two threads
/// ```
///
/// It is invariant in `T`: a `Consumer<&'static str>` cannot be taken for a `Consumer<&'a str>`
/// (the producer could then push a short-lived `&str` that the consumer pops as
/// `&'static str`).
///
/// ```compile_fail
/// use ringmarket::spsc::Consumer;
///
/// fn shorten<'a>(consumer: Consumer<&'static str>) -> Consumer<&'a str> {
///     consumer
/// }
/// ```
pub struct Consumer<T> {
    /// The state shared with the producer.
    pub(super) shared: Arc<Shared<T>>,
    /// `shared.buffer.base`, copied so the fast path needs one pointer less.
    pub(super) base: NonNull<T>,
    /// `shared.geometry`, copied for the same reason.
    pub(super) geometry: Geometry,
    /// The position of the next item to read. In `0 .. 2 * capacity`. Only this end writes
    /// `shared.head`, which is equal to this between calls, except after a forgotten
    /// [`ReadChunkIntoIter`]: that moves `head` past its whole chunk when it is made and
    /// stores it in `shared.head` only when dropped. `shared.head` is then behind (the
    /// producer sees the slots as still full), and `refresh` and `drop` catch it up.
    pub(super) head: usize,
    /// The last `tail` this end loaded. `tail` only moves forward, so the items in
    /// `head .. tail_cache` are there for sure. In `0 .. 2 * capacity`.
    pub(super) tail_cache: usize,
    /// Set while a [`ReadChunkIntoIter`] has moved `head` without storing it (for good, if
    /// it was forgotten): `refresh` then stores it. A field of this end: looking at the
    /// shared index's cache line instead, where the producer spins, costs a ring of two
    /// slots a third of its speed.
    pub(super) head_unstored: bool,
}

// SAFETY: the consumer receives `T`s from the producer's thread (hence `T: Send`); `base`
// points into the buffer that `shared` keeps alive, and only the slots the index protocol
// gives the consumer are touched through it, from whichever single thread owns the handle.
unsafe impl<T: Send> Send for Consumer<T> {}

impl<T> Consumer<T> {
    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        Self {
            base: shared.buffer.base,
            geometry: shared.geometry,
            head: 0,
            tail_cache: 0,
            head_unstored: false,
            shared,
        }
    }

    /// Items available as far as the cached tail says: a lower bound of the truth.
    #[inline(always)]
    fn cached_len(&self) -> usize {
        self.geometry.distance(self.head, self.tail_cache)
    }

    /// Loads the producer's position, updates the cache and returns the available items.
    ///
    /// When none are, it also gives back the slots of the chunk of a forgotten
    /// [`ReadChunkIntoIter`], which it left without storing `head`, so that a consumer that
    /// has taken everything cannot leave the producer waiting for room for good. (While items
    /// are available, the consumer's next pop or chunk stores `head` anyway.)
    #[inline]
    fn refresh(&mut self) -> usize {
        // ORDERING: Acquire pairs with the Release store of `tail` in `Producer::publish`: the
        // producer's writes of the slots before `tail` happen before this end reads them.
        let tail = self.shared.tail.load(Ordering::Acquire);
        debug_assert!(self.geometry.distance(self.head, tail) <= self.geometry.capacity);
        self.tail_cache = tail;
        let len = self.cached_len();
        if len == 0 && self.head_unstored {
            self.store_unstored_head();
        }
        len
    }

    /// Stores a `head` that a forgotten [`ReadChunkIntoIter`] moved.
    #[cold]
    fn store_unstored_head(&mut self) {
        self.head_unstored = false;
        self.store_head();
    }

    /// Items available as of a fresh look at the producer's position, without updating the
    /// cache (nor giving back slots left behind by a forgotten [`ReadChunkIntoIter`]): the
    /// observers' answer, through `&self`.
    #[inline]
    fn len_now(&self) -> usize {
        // Relaxed: only a number comes out of this; no slot is read on its strength. A pop
        // that follows loads `tail` again with Acquire before it reads (the cache is not
        // updated here), and coherence makes that load see this value or a later one, so the
        // items counted here are there for it.
        let tail = self.shared.tail.load(Ordering::Relaxed);
        let len = self.geometry.distance(self.head, tail);
        debug_assert!(len <= self.geometry.capacity);
        len
    }

    /// Gives the slots before position `head` back to the producer.
    #[inline(always)]
    pub(super) fn publish(&mut self, head: usize) {
        debug_assert!(self.geometry.distance(self.head, head) <= self.cached_len());
        self.head = head;
        self.store_head();
    }

    /// Gives the slots before this end's `head` back to the producer.
    #[inline(always)]
    pub(super) fn store_head(&self) {
        // ORDERING: Release pairs with the Acquire load of `head` in `Producer::refresh`: this
        // end's reads and drops of the slots before `head` happen before the producer writes
        // them again.
        self.shared.head.store(self.head, Ordering::Release);
    }

    /// Takes the oldest item, or fails with [`Empty`] if there is none.
    ///
    /// Wait-free: it never waits for the producer. It touches the producer's index only when
    /// its cached copy says the ring is empty.
    ///
    /// # Errors
    ///
    /// [`Empty`] if the ring holds no item.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::Empty;
    ///
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(2).unwrap();
    /// assert_eq!(consumer.pop(), Err(Empty));
    /// producer.push(5).unwrap();
    /// assert_eq!(consumer.pop(), Ok(5));
    /// ```
    #[inline]
    pub fn pop(&mut self) -> Result<T, Empty> {
        if self.head == self.tail_cache && self.refresh() == 0 {
            return Err(Empty);
        }
        let slot = self.geometry.slot(self.head);
        self.shared.markers.read(slot);
        // SAFETY: `slot < capacity`: inside the buffer.
        let at = unsafe { self.base.as_ptr().add(slot) };
        // SAFETY: `head` is before `tail_cache`, so the slot holds an initialised item that
        // the producer published and will not touch before `head` moves past it. Moving the
        // item out is followed by moving `head` past the slot, so it is never read again.
        let value = unsafe { at.read() };
        self.publish(self.geometry.advance(self.head, 1));
        Ok(value)
    }

    /// Borrows the oldest item without taking it, or fails with [`Empty`].
    ///
    /// # Errors
    ///
    /// [`Empty`] if the ring holds no item.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(2).unwrap();
    /// producer.push(String::from("hi")).unwrap();
    /// assert_eq!(consumer.peek().map(String::as_str), Ok("hi"));
    /// assert_eq!(consumer.pop().as_deref(), Ok("hi"));
    /// ```
    #[inline]
    pub fn peek(&mut self) -> Result<&T, Empty> {
        if self.head == self.tail_cache && self.refresh() == 0 {
            return Err(Empty);
        }
        let slot = self.geometry.slot(self.head);
        self.shared.markers.read(slot);
        // SAFETY: `slot < capacity`: inside the buffer.
        let at = unsafe { self.base.as_ptr().add(slot) };
        // SAFETY: as in `pop`, the slot holds a published item that only this end may touch
        // until `head` moves, which the `&mut self` borrow of the result prevents.
        Ok(unsafe { &*at })
    }

    /// Borrows up to `max` of the oldest items, to be looked at, taken by an iterator or
    /// dropped, and released with one index publication.
    ///
    /// The chunk holds `min(max, available)` items, maybe none. Dropping it without a commit
    /// leaves the items in the ring.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(4).unwrap();
    /// for i in 0..3 {
    ///     producer.push(i).unwrap();
    /// }
    /// let chunk = consumer.read_chunk(2);
    /// assert_eq!(chunk.len(), 2);
    /// chunk.commit_all();
    /// assert_eq!(consumer.read_chunk(10).into_iter().collect::<Vec<_>>(), [2]);
    /// ```
    #[inline]
    pub fn read_chunk(&mut self, max: usize) -> ReadChunk<'_, T> {
        let mut available = self.cached_len();
        if available < max {
            available = self.refresh();
        }
        ReadChunk {
            len: available.min(max),
            consumer: self,
        }
    }

    /// The number of slots the ring has.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_producer, consumer) = ringmarket::spsc::ring::<u8>(3).unwrap();
    /// assert_eq!(consumer.capacity(), 3);
    /// ```
    pub fn capacity(&self) -> usize {
        self.geometry.capacity
    }

    /// The number of items available to pop now.
    ///
    /// The producer may add more at any time, so this is a lower bound that stays true until
    /// this consumer pops: popping that many cannot fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, consumer) = ringmarket::spsc::ring(3).unwrap();
    /// producer.push(1).unwrap();
    /// assert_eq!(consumer.slots(), 1);
    /// ```
    pub fn slots(&self) -> usize {
        self.len_now()
    }

    /// The number of items in the ring now; the same as [`slots`](Self::slots), with the
    /// same caveat (a lower bound, as the producer may push at any time).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, consumer) = ringmarket::spsc::ring(3).unwrap();
    /// producer.push(1).unwrap();
    /// assert_eq!(consumer.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.len_now()
    }

    /// Whether the ring holds no item, so that [`pop`](Self::pop) would fail.
    ///
    /// `false` stays false until this consumer pops; `true` may turn false at any time as the
    /// producer pushes. Reads the producer's index only when the cached one says empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, consumer) = ringmarket::spsc::ring(1).unwrap();
    /// assert!(consumer.is_empty());
    /// producer.push(1).unwrap();
    /// assert!(!consumer.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.cached_len() == 0 && self.len_now() == 0
    }

    /// Whether every slot holds an item.
    ///
    /// `true` stays true until this consumer pops (only it frees slots); `false` may turn true
    /// at any time as the producer pushes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, consumer) = ringmarket::spsc::ring(1).unwrap();
    /// producer.push(1).unwrap();
    /// assert!(consumer.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.len_now() == self.geometry.capacity
    }

    /// Whether the producer has been dropped, so that no more items will come.
    ///
    /// Once `true`, always `true`. When it is `true`, every item the producer pushed is
    /// visible: if [`pop`](Self::pop) then fails, the ring is drained for good.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut producer, mut consumer) = ringmarket::spsc::ring(2).unwrap();
    /// producer.push(1).unwrap();
    /// drop(producer);
    /// assert!(consumer.is_abandoned());
    /// assert_eq!(consumer.pop(), Ok(1));
    /// assert!(consumer.pop().is_err());
    /// ```
    pub fn is_abandoned(&self) -> bool {
        self.shared.is_abandoned()
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        // After a forgotten `ReadChunkIntoIter`, `shared.head` is behind `head`, and the items
        // between the two have been moved out or leaked: `Shared::drop` must not drop them.
        self.store_head();
        self.shared.abandon();
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.geometry.capacity)
            .field("head", &self.head)
            .field("cached_len", &self.cached_len())
            .finish()
    }
}
