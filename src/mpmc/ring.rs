//! The lock-free bounded ring shared by every producer and consumer.

use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::sync::{fence, AtomicUsize, Ordering, UnsafeCell};
use crate::wait::Backoff;
use crate::{Empty, Full, ZeroCapacity};

/// How many laps before the wrap point of `usize` the positions start.
///
/// Positions only move forward and wrap around `usize` (all their arithmetic is wrapping and
/// compared for equality only, see `docs/DESIGN-mpmc.md`). Starting at 0, a 64-bit ring wraps
/// after about `2^63` operations, never in a test. So debug builds (every test but the
/// benchmarks and the sanitizers' release runs), the unit tests and loom models start one lap
/// before the wrap point, and every such test and model that goes round the ring once crosses
/// it; other release builds start at 0.
const LAPS_BEFORE_WRAP: usize = if cfg!(any(debug_assertions, test, loom)) {
    1
} else {
    0
};

/// One cell of the ring: a value and the stamp that says whose turn it is.
struct Slot<T> {
    /// For the slot at `index`, in lap `L` (positions are `L | index`, see [`Ring`]):
    /// `L | index` means empty and awaiting the push at that position; `(L | index) + 1` means
    /// full, written by that push and awaiting the pop at the same position; the pop then stores
    /// `(L + one_lap) | index`, the empty stamp of the next lap.
    stamp: AtomicUsize,
    /// Initialized exactly while the stamp says full (and during the owning pop's read).
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A bounded lock-free multi-producer multi-consumer ring of any capacity >= 1.
///
/// Every method takes `&self`: share the ring by reference (scoped threads) or in an `Arc`.
/// It has no notion of closing and never blocks; [`channel`](super::channel) wraps it with
/// cloneable handles that count producers and consumers and add blocking and timed waits.
///
/// The design is Dmitry Vyukov's bounded MPMC queue: each slot carries a sequence stamp, a
/// producer claims a position by a compare-exchange on `tail` when the slot's stamp says "empty
/// for this position", writes, and publishes by storing the stamp; consumers mirror that on
/// `head`. Positions are `lap | index` with `one_lap` a power of two above the capacity, so any
/// capacity works without a division. See `docs/DESIGN-mpmc.md`.
///
/// # Examples
///
/// ```
/// use ringmarket::mpmc::Ring;
///
/// let ring = Ring::new(3).unwrap();
/// std::thread::scope(|s| {
///     s.spawn(|| for i in 0..3 { ring.push(i).unwrap() });
/// });
/// assert!(ring.is_full());
/// assert_eq!(ring.push(9).unwrap_err().into_inner(), 9);
/// assert_eq!(ring.pop(), Ok(0));
/// ```
///
/// `Send` and `Sync` when `T` is `Send` (values are moved between threads, never shared), and
/// neither when it is not:
///
/// ```compile_fail
/// fn send<S: Send>(_: S) {}
/// send(ringmarket::mpmc::Ring::<std::rc::Rc<u8>>::new(1).unwrap());
/// ```
///
/// It is invariant in `T`: a `Ring<&'static str>` cannot be taken for a `Ring<&'a str>`, which
/// would let a short-lived `&str` pushed through the one be popped as `&'static str` from the
/// other.
///
/// ```compile_fail
/// use ringmarket::mpmc::Ring;
///
/// fn shorten<'r, 'a>(ring: &'r Ring<&'static str>) -> &'r Ring<&'a str> {
///     ring
/// }
/// ```
pub struct Ring<T> {
    /// Position of the next pop, `lap | index` with `index < capacity`. Only moves forward,
    /// wrapping around `usize` (see [`LAPS_BEFORE_WRAP`]).
    head: CachePadded<AtomicUsize>,
    /// Position of the next push, same encoding. Between `head` and `head + capacity` positions
    /// (counting only valid `lap | index` positions).
    tail: CachePadded<AtomicUsize>,
    /// The slots; `slots.len()` is the capacity, at least 1.
    slots: Box<[Slot<T>]>,
    /// The smallest power of two above the capacity: the distance between a position and the
    /// same index one lap later. Bits below it are the index, bits from it up are the lap.
    one_lap: usize,
    /// Keeps the ring invariant in `T` whatever the slots are made of (`UnsafeCell` already
    /// makes it so): see the `compile_fail` example above.
    _invariant: PhantomData<fn(T) -> T>,
}

// SAFETY: the ring hands each value from one thread to another (push to pop), so `T: Send` is
// needed and enough: no `&T` is ever shared, since a value is only touched by the one thread
// that won its position.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above; concurrent `&self` calls only move values in and out of slots, each slot
// owned by the thread whose compare-exchange claimed its position until the stamp hands it on.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// Creates an empty ring that holds up to `capacity` values.
    ///
    /// # Errors
    ///
    /// [`ZeroCapacity`] if `capacity` is 0.
    ///
    /// # Panics
    ///
    /// If `capacity` is so large that the slots' size overflows `isize` (as
    /// `Vec::with_capacity` does). A capacity whose slots fit in the address space but not in
    /// memory makes the allocation fail, which aborts the process (`handle_alloc_error`), as
    /// for any collection.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::{mpmc::Ring, ZeroCapacity};
    ///
    /// assert_eq!(Ring::<u8>::new(7).unwrap().capacity(), 7);
    /// assert_eq!(Ring::<u8>::new(0).err(), Some(ZeroCapacity));
    /// ```
    pub fn new(capacity: usize) -> Result<Self, ZeroCapacity> {
        if capacity == 0 {
            return Err(ZeroCapacity);
        }
        let one_lap = capacity
            .checked_add(1)
            .and_then(usize::checked_next_power_of_two)
            .expect("capacity overflow");
        debug_assert!(capacity < one_lap && one_lap.is_power_of_two());
        // The first lap: `LAPS_BEFORE_WRAP` laps before 0, a multiple of `one_lap`.
        let first = LAPS_BEFORE_WRAP.wrapping_mul(one_lap).wrapping_neg();
        // Every slot needs its stamp, so this is O(capacity) whatever `T` is (a zero-sized `T`
        // included); `collect` allocates first, so a capacity whose slots cannot fit in memory
        // fails before the loop.
        let slots = (0..capacity)
            .map(|index| Slot {
                // The first lap: every slot awaits the push at its own position.
                stamp: AtomicUsize::new(first | index),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ok(Self {
            head: CachePadded::new(AtomicUsize::new(first)),
            tail: CachePadded::new(AtomicUsize::new(first)),
            slots,
            one_lap,
            _invariant: PhantomData,
        })
    }

    /// The number of values the ring can hold.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ringmarket::mpmc::Ring::<()>::new(100).unwrap().capacity(), 100);
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The position after `pos`: the next index, or index 0 of the next lap.
    #[inline]
    fn next(&self, pos: usize) -> usize {
        let index = pos & (self.one_lap - 1);
        debug_assert!(index < self.capacity(), "position {pos:#x} has no slot");
        if index + 1 < self.capacity() {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// The slot of position `pos`.
    #[inline]
    fn slot(&self, pos: usize) -> &Slot<T> {
        let index = pos & (self.one_lap - 1);
        debug_assert!(index < self.capacity(), "position {pos:#x} has no slot");
        // SAFETY: every position is the first one (from `new`, index 0) or came out of `next`,
        // whose index part is below the capacity (`next` never yields `capacity` itself), and only such positions
        // are stored in `head` and `tail` or derived from them.
        unsafe { self.slots.get_unchecked(index) }
    }

    /// Appends `value` at the back.
    ///
    /// Linearizes at the successful compare-exchange on `tail`, or, for `Full`, at the load of
    /// `head` that found the ring full. Lock-free apart from one wait: if the slot it needs is
    /// still being read by a pop that already claimed it, it waits (spinning, then yielding) until that pop finishes.
    ///
    /// # Errors
    ///
    /// [`Full`] with `value` handed back if the ring held `capacity` values. With other threads
    /// popping, the ring may stop being full at any moment.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::mpmc::Ring;
    ///
    /// let ring = Ring::new(1).unwrap();
    /// assert!(ring.push("a").is_ok());
    /// assert_eq!(ring.push("b").unwrap_err().into_inner(), "b");
    /// ```
    pub fn push(&self, value: T) -> Result<(), Full<T>> {
        let mut backoff = Backoff::new();
        // Relaxed: only a first guess; the compare-exchange below checks it, and the slot's
        // stamp (loaded with Acquire) decides whether the slot is ours to write.
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(tail);
            // ORDERING: Acquire pairs with the Release stamp store of the pop that emptied this
            // slot in the previous lap, so its read of the old value happens before our write.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // The slot awaits exactly this position: try to claim it.
                // ORDERING: SeqCst on success: the claim must take part in the total order that
                // the "empty" check of `pop` (fence then load of `tail`) and the wait lists rely
                // on (see `crate::wait`). Relaxed on failure: we only retry with the new value.
                match self.tail.compare_exchange_weak(
                    tail,
                    self.next(tail),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        slot.value.with_mut(|cell| {
                            // SAFETY: our compare-exchange moved `tail` past this position, so no
                            // other push can claim it, and the stamp still reads "empty" so no
                            // pop touches it until the store below; the previous value was
                            // moved out before its pop stored the stamp we acquired.
                            unsafe { (*cell).write(value) };
                        });
                        // ORDERING: Release pairs with the Acquire stamp load in `pop`: the value
                        // written above is visible to the pop that sees this stamp.
                        slot.stamp.store(tail.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(current) => {
                        tail = current;
                        backoff.spin();
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == tail.wrapping_add(1) {
                // The slot still holds the value of the previous lap. Full, unless a pop has
                // already claimed it (moved `head`) and is reading it right now.
                // ORDERING: SeqCst fence: orders the `head` load below after our earlier loads in
                // the total order, so a `head` that a pop moved before we started is seen; it
                // pairs with the SeqCst compare-exchange on `head` in `pop` (a pop that freed room
                // before this fence is seen). It is also the fence that the wait lists' handshake
                // requires before a "not now" answer (docs/DESIGN.md, "Waits").
                fence(Ordering::SeqCst);
                // Relaxed: ordered by the fence above.
                let head = self.head.load(Ordering::Relaxed);
                if head.wrapping_add(self.one_lap) == tail {
                    return Err(Full(value));
                }
                // A pop is reading the slot: wait for it (it may have been preempted).
                backoff.snooze();
                // Relaxed: a new guess, checked as above.
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // Another push claimed this position and has not published yet, or our `tail`
                // is stale: wait for the world to move on.
                backoff.snooze();
                // Relaxed: a new guess, checked as above.
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Removes the value at the front.
    ///
    /// Linearizes at the successful compare-exchange on `head`, or, for `Empty`, at the load of
    /// `tail` that found the ring empty. If a push has claimed the front position but not yet
    /// written it, waits (spinning, then yielding) for that push rather than answering `Empty`.
    ///
    /// # Errors
    ///
    /// [`Empty`] if the ring held no value. With other threads pushing, a value may arrive at
    /// any moment.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::{mpmc::Ring, Empty};
    ///
    /// let ring = Ring::new(2).unwrap();
    /// ring.push('x').unwrap();
    /// assert_eq!(ring.pop(), Ok('x'));
    /// assert_eq!(ring.pop(), Err(Empty));
    /// ```
    pub fn pop(&self) -> Result<T, Empty> {
        let mut backoff = Backoff::new();
        // Relaxed: only a first guess; see `push`.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(head);
            // ORDERING: Acquire pairs with the Release stamp store of the push that filled this
            // slot, so its write of the value happens before our read.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == head.wrapping_add(1) {
                // ORDERING: SeqCst on success, as for `tail` in `push` (the "full" check and the
                // wait lists rely on it). Relaxed on failure: we only retry.
                match self.head.compare_exchange_weak(
                    head,
                    self.next(head),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let value = slot.value.with(|cell| {
                            // SAFETY: the stamp says full (its push's Release store was
                            // acquired above), and our compare-exchange made this position ours
                            // alone: no other pop can read it, and no push writes it before our
                            // stamp store below.
                            unsafe { cell.cast::<T>().read() }
                        });
                        // ORDERING: Release pairs with the Acquire stamp load in `push` one lap
                        // later: our read of the value happens before it is overwritten.
                        slot.stamp
                            .store(head.wrapping_add(self.one_lap), Ordering::Release);
                        return Ok(value);
                    }
                    Err(current) => {
                        head = current;
                        backoff.spin();
                    }
                }
            } else if stamp == head {
                // The slot awaits its push. Empty, unless a push has already claimed it.
                // ORDERING: SeqCst fence, mirror image of the one in `push`: pairs with the
                // SeqCst compare-exchange on `tail`, and is the fence the wait lists' handshake
                // requires before "not now".
                fence(Ordering::SeqCst);
                // Relaxed: ordered by the fence above.
                let tail = self.tail.load(Ordering::Relaxed);
                if tail == head {
                    return Err(Empty);
                }
                // A push is writing the slot: wait for it (it may have been preempted).
                backoff.snooze();
                // Relaxed: a new guess.
                head = self.head.load(Ordering::Relaxed);
            } else {
                // Another pop took this position, or our `head` is stale.
                backoff.snooze();
                // Relaxed: a new guess.
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// The number of values in the ring at some moment during the call.
    ///
    /// With other threads at work this is a snapshot that may be stale on return; it is
    /// always between 0 and [`capacity`](Self::capacity).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ringmarket::mpmc::Ring::new(4).unwrap();
    /// ring.push(1).unwrap();
    /// ring.push(2).unwrap();
    /// assert_eq!(ring.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        loop {
            // ORDERING: SeqCst loads, paired with the SeqCst compare-exchanges on the indices:
            // re-reading `tail` after `head` and finding it unchanged proves the pair was
            // current at one moment.
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            if self.tail.load(Ordering::SeqCst) == tail {
                let mask = self.one_lap - 1;
                let (hix, tix) = (head & mask, tail & mask);
                let len = if hix < tix {
                    tix - hix
                } else if hix > tix {
                    self.capacity() - hix + tix
                } else if tail == head {
                    0
                } else {
                    self.capacity()
                };
                debug_assert!(len <= self.capacity());
                return len;
            }
        }
    }

    /// Whether the ring held no value at some moment during the call.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(ringmarket::mpmc::Ring::<u8>::new(1).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the ring held `capacity` values at some moment during the call.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ringmarket::mpmc::Ring::new(1).unwrap();
    /// ring.push(()).unwrap();
    /// assert!(ring.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        if !core::mem::needs_drop::<T>() {
            return;
        }
        /// Drops what is left if dropping one value panics, so one bad `Drop` leaks nothing.
        /// (A second panic while unwinding aborts, as it does for `Vec`.)
        struct DropRest<'a, T>(&'a Ring<T>);
        impl<T> Drop for DropRest<'_, T> {
            fn drop(&mut self) {
                while let Ok(value) = self.0.pop() {
                    drop(value);
                }
            }
        }
        // `&mut self`: no other thread can push or pop, so popping drains exactly what is left.
        let rest = DropRest(self);
        while let Ok(value) = rest.0.pop() {
            drop(value);
        }
    }
}

impl<T> fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The positions cross the wrap point of `usize` (they start one lap before it in debug
    /// builds and unit tests, see `LAPS_BEFORE_WRAP`), and FIFO order, `Full`, `Empty` and `len` hold on both
    /// sides of it.
    #[test]
    fn positions_cross_the_wrap_point_of_usize() {
        for capacity in [1, 2, 3, 4, 5] {
            let ring = Ring::new(capacity).unwrap();
            let one_lap = ring.one_lap;
            // Relaxed: single-threaded.
            let start = ring.tail.load(Ordering::Relaxed);
            assert!(
                start > usize::MAX - one_lap,
                "positions start far from the wrap point"
            );
            let (mut next_in, mut next_out) = (0_usize, 0_usize);
            let mut wrapped = false;
            for round in 0..3 * capacity + 2 {
                let fill = round % capacity + 1;
                for _ in 0..fill {
                    ring.push(next_in).unwrap();
                    next_in += 1;
                }
                assert_eq!(ring.len(), fill);
                if fill == capacity {
                    assert_eq!(ring.push(usize::MAX).unwrap_err().into_inner(), usize::MAX);
                    assert!(ring.is_full());
                }
                for _ in 0..fill {
                    assert_eq!(ring.pop(), Ok(next_out));
                    next_out += 1;
                }
                assert_eq!(ring.pop(), Err(Empty));
                // Relaxed: single-threaded.
                wrapped |= ring.head.load(Ordering::Relaxed) < start;
            }
            assert!(wrapped, "capacity {capacity}: the positions never wrapped");
        }
    }
}
