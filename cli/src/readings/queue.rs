//! The buffer between producers and consumers: the lock-free `ringmarket::mpmc` channel, or,
//! for comparison, a `Mutex<VecDeque>` with two `Condvar`s behind the same interface.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use ringmarket::mpmc::{self, PopTimeoutError};

/// Which buffer the pipeline runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum QueueKind {
    /// The lock-free bounded ring `ringmarket::mpmc`.
    #[default]
    Ring,
    /// A `Mutex<VecDeque>` with `Condvar`s: the textbook baseline, for comparison.
    Mutex,
}

/// The sending side; one clone per producer. Dropping the last one closes the buffer.
#[derive(Debug)]
pub enum Sender<T> {
    /// Over the lock-free ring.
    Ring(mpmc::Producer<T>),
    /// Over the locked baseline.
    Mutex(Locked<T>),
}

/// The receiving side; one clone per consumer.
#[derive(Debug)]
pub enum Receiver<T> {
    /// Over the lock-free ring.
    Ring(mpmc::Consumer<T>),
    /// Over the locked baseline.
    Mutex(Locked<T>),
}

/// What a consumer got.
#[derive(Debug, PartialEq)]
pub enum Received<T> {
    /// A value.
    Value(T),
    /// The buffer is empty and every sender is gone.
    Closed,
    /// Nothing arrived within the idle time-out.
    Idle,
}

/// A bounded buffer of `capacity` (at least 1) of the given kind.
pub fn bounded<T>(kind: QueueKind, capacity: usize) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.max(1);
    match kind {
        QueueKind::Ring => {
            let (tx, rx) = mpmc::channel(capacity).expect("capacity is at least 1");
            (Sender::Ring(tx), Receiver::Ring(rx))
        }
        QueueKind::Mutex => {
            let shared = Arc::new(LockedShared {
                state: Mutex::new(LockedState {
                    queue: VecDeque::with_capacity(capacity),
                    capacity,
                    senders: 1,
                    receivers: 1,
                }),
                not_empty: Condvar::new(),
                not_full: Condvar::new(),
            });
            (
                Sender::Mutex(Locked {
                    shared: shared.clone(),
                    side: Side::Sender,
                }),
                Receiver::Mutex(Locked {
                    shared,
                    side: Side::Receiver,
                }),
            )
        }
    }
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the buffer is full.
    ///
    /// # Errors
    ///
    /// The value back if every receiver is gone.
    pub fn send(&self, value: T) -> Result<(), T> {
        match self {
            Self::Ring(tx) => tx.push_wait(value).map_err(|e| e.into_inner()),
            Self::Mutex(locked) => locked.send(value),
        }
    }
}

impl<T> Receiver<T> {
    /// Receives a value, waiting at most `idle` for one.
    pub fn recv(&self, idle: Duration) -> Received<T> {
        match self {
            Self::Ring(rx) => match rx.pop_timeout(idle) {
                Ok(value) => Received::Value(value),
                Err(PopTimeoutError::Closed) => Received::Closed,
                Err(PopTimeoutError::Timeout) => Received::Idle,
            },
            Self::Mutex(locked) => locked.recv(idle),
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Ring(tx) => Self::Ring(tx.clone()),
            Self::Mutex(locked) => Self::Mutex(locked.clone()),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Ring(rx) => Self::Ring(rx.clone()),
            Self::Mutex(locked) => Self::Mutex(locked.clone()),
        }
    }
}

#[derive(Debug)]
struct LockedState<T> {
    queue: VecDeque<T>,
    capacity: usize,
    senders: usize,
    receivers: usize,
}

#[derive(Debug)]
struct LockedShared<T> {
    state: Mutex<LockedState<T>>,
    not_empty: Condvar,
    not_full: Condvar,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Sender,
    Receiver,
}

/// One handle on the locked baseline; counts itself in and out like the ring's handles.
#[derive(Debug)]
pub struct Locked<T> {
    shared: Arc<LockedShared<T>>,
    side: Side,
}

impl<T> Locked<T> {
    fn lock(&self) -> MutexGuard<'_, LockedState<T>> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, value: T) -> Result<(), T> {
        let mut state = self.lock();
        while state.queue.len() >= state.capacity && state.receivers > 0 {
            state = self
                .shared
                .not_full
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.receivers == 0 {
            return Err(value);
        }
        state.queue.push_back(value);
        drop(state);
        self.shared.not_empty.notify_one();
        Ok(())
    }

    fn recv(&self, idle: Duration) -> Received<T> {
        let deadline = Instant::now().checked_add(idle);
        let mut state = self.lock();
        loop {
            if let Some(value) = state.queue.pop_front() {
                drop(state);
                self.shared.not_full.notify_one();
                return Received::Value(value);
            }
            if state.senders == 0 {
                return Received::Closed;
            }
            let timeout = match deadline {
                None => Duration::MAX,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Received::Idle,
                },
            };
            state = self
                .shared
                .not_empty
                .wait_timeout(state, timeout)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl<T> Clone for Locked<T> {
    fn clone(&self) -> Self {
        let mut state = self.lock();
        match self.side {
            Side::Sender => state.senders += 1,
            Side::Receiver => state.receivers += 1,
        }
        drop(state);
        Self {
            shared: self.shared.clone(),
            side: self.side,
        }
    }
}

impl<T> Drop for Locked<T> {
    fn drop(&mut self) {
        let mut state = self.lock();
        match self.side {
            Side::Sender => {
                state.senders -= 1;
                if state.senders == 0 {
                    self.shared.not_empty.notify_all();
                }
            }
            Side::Receiver => {
                state.receivers -= 1;
                if state.receivers == 0 {
                    self.shared.not_full.notify_all();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_deliver_close_and_time_out() {
        for kind in [QueueKind::Ring, QueueKind::Mutex] {
            let (tx, rx) = bounded(kind, 2);
            assert_eq!(rx.recv(Duration::from_millis(1)), Received::Idle);
            let tx2 = tx.clone();
            tx.send(1).unwrap();
            drop(tx);
            tx2.send(2).unwrap();
            let producer = std::thread::spawn(move || tx2.send(3));
            assert_eq!(rx.recv(Duration::from_secs(60)), Received::Value(1));
            assert_eq!(rx.recv(Duration::from_secs(60)), Received::Value(2));
            assert_eq!(rx.recv(Duration::from_secs(60)), Received::Value(3));
            producer.join().unwrap().unwrap();
            assert_eq!(rx.recv(Duration::from_secs(60)), Received::Closed);
            let (tx, rx) = bounded(kind, 1);
            drop(rx);
            assert_eq!(tx.send(9), Err(9));
        }
    }
}
