//! Cloneable producer and consumer handles around a [`Ring`], with closing and waiting.

use core::fmt;
use std::time::Duration;

use super::error::{Closed, Disconnected, PopError, PopTimeoutError, PushError, PushTimeoutError};
use super::ring::Ring;
use crate::sync::{Arc, AtomicUsize, Ordering};
use crate::wait::{Spin, WaitList};
use crate::{Empty, Full, ZeroCapacity};

/// What the handles share.
struct Shared<T> {
    ring: Ring<T>,
    /// Live [`Producer`] handles. Only decreases to 0 (a clone needs a live handle); 0 means
    /// closed: no value will ever be pushed again.
    producers: AtomicUsize,
    /// Live [`Consumer`] handles; 0 means no value will ever be popped again.
    consumers: AtomicUsize,
    /// Consumers waiting for a value (or for the close).
    not_empty: WaitList,
    /// Producers waiting for room (or for the last consumer to leave).
    not_full: WaitList,
}

/// Creates a bounded multi-producer multi-consumer channel on a [`Ring`] of `capacity` slots.
///
/// Both handles can be cloned and shared between threads (`Send + Sync`, methods take `&self`).
/// When the last [`Producer`] is dropped the channel is *closed*: consumers take what is left and
/// then get [`PopError::Closed`] (or [`Closed`], [`PopTimeoutError::Closed`]) instead of
/// "empty for now". When the last [`Consumer`] is dropped, pushes fail with `Disconnected`.
/// Blocking and timed waits park the thread without losing wake-ups (see `crate::wait`).
///
/// # Errors
///
/// [`ZeroCapacity`] if `capacity` is 0.
///
/// # Examples
///
/// ```
/// use ringmarket::mpmc::{channel, Closed};
///
/// let (tx, rx) = channel(2).unwrap();
/// let producers: Vec<_> = (0..3)
///     .map(|p| {
///         let tx = tx.clone();
///         std::thread::spawn(move || for i in 0..10 { tx.push_wait(p * 10 + i).unwrap() })
///     })
///     .collect();
/// drop(tx); // the clones keep the channel open until their threads finish
/// let mut got = Vec::new();
/// while let Ok(v) = rx.pop_wait() {
///     got.push(v);
/// }
/// assert_eq!(rx.pop_wait(), Err(Closed));
/// got.sort();
/// assert_eq!(got, (0..30).collect::<Vec<_>>());
/// for p in producers { p.join().unwrap() }
/// ```
pub fn channel<T>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), ZeroCapacity> {
    let shared = Arc::new(Shared {
        ring: Ring::new(capacity)?,
        producers: AtomicUsize::new(1),
        consumers: AtomicUsize::new(1),
        not_empty: WaitList::new(),
        not_full: WaitList::new(),
    });
    Ok((
        Producer {
            shared: shared.clone(),
        },
        Consumer { shared },
    ))
}

/// The pushing side of a [`channel`]: cloneable, `Send + Sync` when `T: Send`.
///
/// Dropping the last producer closes the channel.
///
/// Neither when `T` is not `Send`:
///
/// ```compile_fail
/// fn send<S: Send>(_: S) {}
/// let (tx, _rx) = ringmarket::mpmc::channel::<std::rc::Rc<u8>>(1).unwrap();
/// send(tx);
/// ```
///
/// It is invariant in `T`, as [`Ring`] is: a `Producer<&'static str>` cannot be taken for a
/// `Producer<&'a str>`.
///
/// ```compile_fail
/// use ringmarket::mpmc::Producer;
///
/// fn shorten<'a>(tx: Producer<&'static str>) -> Producer<&'a str> {
///     tx
/// }
/// ```
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
}

/// The popping side of a [`channel`]: cloneable, `Send + Sync` when `T: Send`.
///
/// Iterate it as a crossbeam-channel `Receiver`: [`iter`](Consumer::iter) (blocking, ends once
/// the channel is closed and drained), [`try_iter`](Consumer::try_iter) (what is there now),
/// `for v in &rx` and `for v in rx`.
///
/// Neither when `T` is not `Send`:
///
/// ```compile_fail
/// fn send<S: Send>(_: S) {}
/// let (_tx, rx) = ringmarket::mpmc::channel::<std::rc::Rc<u8>>(1).unwrap();
/// send(rx);
/// ```
///
/// It is invariant in `T`, as [`Ring`] is: a `Consumer<&'static str>` cannot be taken for a
/// `Consumer<&'a str>`.
///
/// ```compile_fail
/// use ringmarket::mpmc::Consumer;
///
/// fn shorten<'a>(rx: Consumer<&'static str>) -> Consumer<&'a str> {
///     rx
/// }
/// ```
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Shared<T> {
    /// Whether every consumer is gone.
    fn disconnected(&self) -> bool {
        // Relaxed is enough for the answer itself (no data is published with the count); for
        // the no-lost-wake-up handshake, callers read it after the ring's SeqCst fence (the
        // "full" path of `Ring::push`), which orders it as a wait requires (docs/DESIGN.md,
        // "Waits").
        self.consumers.load(Ordering::Relaxed) == 0
    }

    /// One try at pushing: `Ok` when done or disconnected, `Err(value)` when full for now.
    ///
    /// Disconnection is checked before the push (so a value is not stored once the last
    /// consumer is known to be gone) and again when the ring is full (so a waiting producer
    /// learns of it). A consumer leaving between the check and the push lets the value in; it
    /// is then dropped with the ring.
    fn try_push(&self, value: T) -> Result<Result<(), Disconnected<T>>, T> {
        if self.disconnected() {
            return Ok(Err(Disconnected(value)));
        }
        match self.ring.push(value) {
            Ok(()) => {
                self.not_empty.notify_one(0);
                Ok(Ok(()))
            }
            Err(Full(value)) if self.disconnected() => Ok(Err(Disconnected(value))),
            Err(Full(value)) => Err(value),
        }
    }

    /// One try at popping: `Ok(Ok)` for a value, `Ok(Err(Closed))` when closed and drained,
    /// `Err(Empty)` when empty for now.
    fn try_pop(&self) -> Result<Result<T, Closed>, Empty> {
        let popped = match self.ring.pop() {
            Ok(value) => Ok(value),
            // ORDERING: Acquire pairs with the Release half of each producer's `fetch_sub` in
            // `Producer::drop` (a release sequence ending in the decrement to 0), so every push
            // made before the close is visible to the second `pop` below. The load follows the
            // ring's SeqCst fence on the "empty" path, as `crate::wait` requires.
            Err(Empty) if self.producers.load(Ordering::Acquire) == 0 => {
                self.ring.pop().map_err(|Empty| Closed)
            }
            Err(Empty) => return Err(Empty),
        };
        if popped.is_ok() {
            self.not_full.notify_one(0);
        }
        Ok(popped)
    }
}

impl<T> Producer<T> {
    /// Pushes `value` if there is room, without waiting.
    ///
    /// # Errors
    ///
    /// [`PushError::Disconnected`] if every consumer is gone (checked first, then again when
    /// the ring is full), [`PushError::Full`] if the ring is full; the value is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ringmarket::mpmc::channel(1).unwrap();
    /// tx.push(5).unwrap();
    /// assert_eq!(rx.pop(), Ok(5));
    /// ```
    pub fn push(&self, value: T) -> Result<(), PushError<T>> {
        match self.shared.try_push(value) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Disconnected(value))) => Err(PushError::Disconnected(value)),
            Err(value) => Err(PushError::Full(value)),
        }
    }

    /// Pushes `value`, waiting for as long as the ring is full.
    ///
    /// # Errors
    ///
    /// [`Disconnected`] with the value if every consumer is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ringmarket::mpmc::channel(1).unwrap();
    /// tx.push_wait(1).unwrap();
    /// let t = std::thread::spawn(move || tx.push_wait(2)); // waits for room
    /// assert_eq!(rx.pop_wait(), Ok(1));
    /// assert_eq!(rx.pop_wait(), Ok(2));
    /// t.join().unwrap().unwrap();
    /// ```
    pub fn push_wait(&self, value: T) -> Result<(), Disconnected<T>> {
        self.push_until(value, None)
            .map_err(PushTimeoutError::into_inner)
            .map_err(Disconnected)
    }

    /// Pushes `value`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`PushTimeoutError::Timeout`] if the ring stayed full, [`PushTimeoutError::Disconnected`]
    /// if every consumer is gone; the value is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (tx, _rx) = ringmarket::mpmc::channel(1).unwrap();
    /// assert!(tx.push_timeout(1, Duration::from_millis(10)).is_ok());
    /// assert!(tx.push_timeout(2, Duration::from_millis(10)).is_err());
    /// ```
    pub fn push_timeout(&self, value: T, timeout: Duration) -> Result<(), PushTimeoutError<T>> {
        self.push_until(value, Some(timeout))
    }

    fn push_until(&self, value: T, timeout: Option<Duration>) -> Result<(), PushTimeoutError<T>> {
        let mut pending = Some(value);
        let done = self
            .shared
            .not_full
            .wait_until(0, 0, timeout, Spin::Always, || {
                let value = pending.take()?;
                match self.shared.try_push(value) {
                    Ok(done) => Some(done),
                    Err(value) => {
                        pending = Some(value);
                        None
                    }
                }
            });
        match done {
            Some(Ok(())) => Ok(()),
            Some(Err(Disconnected(value))) => Err(PushTimeoutError::Disconnected(value)),
            None => Err(PushTimeoutError::Timeout(
                pending.expect("a timed-out push keeps its value"),
            )),
        }
    }

    /// The capacity of the ring.
    pub fn capacity(&self) -> usize {
        self.shared.ring.capacity()
    }

    /// The number of values in the ring at some moment during the call (see [`Ring::len`]).
    pub fn len(&self) -> usize {
        self.shared.ring.len()
    }

    /// Whether the ring was empty at some moment during the call.
    pub fn is_empty(&self) -> bool {
        self.shared.ring.is_empty()
    }
}

impl<T> Consumer<T> {
    /// Pops the front value if there is one, without waiting.
    ///
    /// # Errors
    ///
    /// [`PopError::Empty`] if the ring is empty but producers remain, [`PopError::Closed`] if it
    /// is empty and every producer is gone (it stays empty for good).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::mpmc::{channel, PopError};
    ///
    /// let (tx, rx) = channel(2).unwrap();
    /// tx.push(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.pop(), Ok(1)); // closed, but not yet drained
    /// assert_eq!(rx.pop(), Err(PopError::Closed));
    /// ```
    pub fn pop(&self) -> Result<T, PopError> {
        match self.shared.try_pop() {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(Closed)) => Err(PopError::Closed),
            Err(Empty) => Err(PopError::Empty),
        }
    }

    /// Pops the front value, waiting for as long as the ring is empty and producers remain.
    ///
    /// # Errors
    ///
    /// [`Closed`] once the ring is empty and every producer is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ringmarket::mpmc::channel(4).unwrap();
    /// std::thread::spawn(move || tx.push_wait("hello").unwrap());
    /// assert_eq!(rx.pop_wait(), Ok("hello"));
    /// assert!(rx.pop_wait().is_err()); // the producer is gone
    /// ```
    pub fn pop_wait(&self) -> Result<T, Closed> {
        self.pop_until(None).map_err(|_| Closed)
    }

    /// Pops the front value, waiting at most `timeout` for one.
    ///
    /// # Errors
    ///
    /// [`PopTimeoutError::Timeout`] if nothing arrived in time, [`PopTimeoutError::Closed`] if
    /// the ring is empty and every producer is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringmarket::mpmc::{channel, PopTimeoutError};
    ///
    /// let (_tx, rx) = channel::<u8>(1).unwrap();
    /// assert_eq!(rx.pop_timeout(Duration::from_millis(5)), Err(PopTimeoutError::Timeout));
    /// ```
    pub fn pop_timeout(&self, timeout: Duration) -> Result<T, PopTimeoutError> {
        self.pop_until(Some(timeout))
    }

    fn pop_until(&self, timeout: Option<Duration>) -> Result<T, PopTimeoutError> {
        match self
            .shared
            .not_empty
            .wait_until(0, 0, timeout, Spin::Always, || self.shared.try_pop().ok())
        {
            Some(Ok(value)) => Ok(value),
            Some(Err(Closed)) => Err(PopTimeoutError::Closed),
            None => Err(PopTimeoutError::Timeout),
        }
    }

    /// Whether every producer is gone. Values may remain to be popped.
    pub fn is_closed(&self) -> bool {
        // ORDERING: Acquire, as in `Shared::try_pop`: a caller that sees `true` and then pops
        // sees every value pushed before the close.
        self.shared.producers.load(Ordering::Acquire) == 0
    }

    /// The capacity of the ring.
    pub fn capacity(&self) -> usize {
        self.shared.ring.capacity()
    }

    /// The number of values in the ring at some moment during the call (see [`Ring::len`]).
    pub fn len(&self) -> usize {
        self.shared.ring.len()
    }

    /// Whether the ring was empty at some moment during the call.
    pub fn is_empty(&self) -> bool {
        self.shared.ring.is_empty()
    }
}

impl<T> Clone for Producer<T> {
    fn clone(&self) -> Self {
        // Relaxed: `self` keeps the count above 0, so no decision depends on this increment's
        // order; the count is only read for "0 or not".
        self.shared.producers.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Clone for Consumer<T> {
    fn clone(&self) -> Self {
        // Relaxed: as for `Producer::clone`.
        self.shared.consumers.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        // ORDERING: SeqCst. Its Release half heads a release sequence that the consumers'
        // Acquire load in `Shared::try_pop` reads at 0, publishing this producer's pushes; as a
        // SeqCst RMW it is the state change, step (a), that a wait requires (docs/DESIGN.md,
        // "Waits"), so a consumer about to park on `not_empty` cannot miss the close.
        if self.shared.producers.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.not_empty.notify_all();
        }
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        // ORDERING: SeqCst, for the handshake with producers parked on `not_full`, as in
        // `Producer::drop`.
        if self.shared.consumers.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.not_full.notify_all();
        }
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("ring", &self.shared.ring)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("ring", &self.shared.ring)
            .finish_non_exhaustive()
    }
}
