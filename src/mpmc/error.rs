//! Errors of the [`channel`](super::channel) handles.

use core::fmt;

/// Why [`Producer::push`](super::Producer::push) could not store a value; the value is handed
/// back.
///
/// # Examples
///
/// ```
/// use ringmarket::mpmc::{channel, PushError};
///
/// let (tx, rx) = channel(1).unwrap();
/// tx.push(1).unwrap();
/// assert_eq!(tx.push(2), Err(PushError::Full(2)));
/// drop(rx);
/// assert_eq!(tx.push(3), Err(PushError::Disconnected(3)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushError<T> {
    /// The ring was full; consumers may make room at any moment.
    Full(T),
    /// Every consumer handle is gone: nobody will ever take the value.
    Disconnected(T),
}

impl<T> PushError<T> {
    /// Returns the value that could not be stored.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(value) | Self::Disconnected(value) => value,
        }
    }
}

/// Why [`Producer::push_timeout`](super::Producer::push_timeout) gave up; the value is handed
/// back.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringmarket::mpmc::{channel, PushTimeoutError};
///
/// let (tx, _rx) = channel(1).unwrap();
/// tx.push('a').unwrap();
/// let err = tx.push_timeout('b', Duration::from_millis(1)).unwrap_err();
/// assert_eq!(err, PushTimeoutError::Timeout('b'));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushTimeoutError<T> {
    /// The ring stayed full until the time-out.
    Timeout(T),
    /// Every consumer handle is gone.
    Disconnected(T),
}

impl<T> PushTimeoutError<T> {
    /// Returns the value that could not be stored.
    pub fn into_inner(self) -> T {
        match self {
            Self::Timeout(value) | Self::Disconnected(value) => value,
        }
    }
}

/// [`Producer::push_wait`](super::Producer::push_wait) failed: every consumer handle is gone.
/// The value is handed back.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Disconnected<T>(pub T);

impl<T> Disconnected<T> {
    /// Returns the value that could not be stored.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Why [`Consumer::pop`](super::Consumer::pop) returned no value.
///
/// # Examples
///
/// ```
/// use ringmarket::mpmc::{channel, PopError};
///
/// let (tx, rx) = channel::<u8>(4).unwrap();
/// assert_eq!(rx.pop(), Err(PopError::Empty));
/// drop(tx);
/// assert_eq!(rx.pop(), Err(PopError::Closed));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PopError {
    /// Empty for now: some producer handle still exists and may push.
    Empty,
    /// Empty for good: every producer handle is gone and every value has been taken.
    Closed,
}

/// Why [`Consumer::pop_timeout`](super::Consumer::pop_timeout) returned no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PopTimeoutError {
    /// Nothing arrived before the time-out; producers remain.
    Timeout,
    /// Every producer handle is gone and every value has been taken.
    Closed,
}

/// [`Consumer::pop_wait`](super::Consumer::pop_wait) returned no value: every producer handle
/// is gone and every value has been taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Closed;

macro_rules! value_error_fmt {
    ($ty:ident { $($variant:ident => $msg:literal),* $(,)? }) => {
        impl<T> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // The value need not be `Debug`: name the case, not the cargo.
                match self {
                    $(Self::$variant(_) => f.write_str(concat!(stringify!($variant), "(..)")),)*
                }
            }
        }
        impl<T> fmt::Display for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$variant(_) => f.write_str($msg),)*
                }
            }
        }
        impl<T> std::error::Error for $ty<T> {}
    };
}

value_error_fmt!(PushError {
    Full => "full: no room for the value, which is handed back",
    Disconnected => "disconnected: no consumer is left to take the value",
});
value_error_fmt!(PushTimeoutError {
    Timeout => "timed out waiting for room; the value is handed back",
    Disconnected => "disconnected: no consumer is left to take the value",
});

impl<T> fmt::Debug for Disconnected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Disconnected(..)")
    }
}

impl<T> fmt::Display for Disconnected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("disconnected: no consumer is left to take the value")
    }
}

impl<T> std::error::Error for Disconnected<T> {}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty: nothing to take for now",
            Self::Closed => "closed: no producer is left and nothing remains",
        })
    }
}

impl std::error::Error for PopError {}

impl fmt::Display for PopTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timed out waiting for a value",
            Self::Closed => "closed: no producer is left and nothing remains",
        })
    }
}

impl std::error::Error for PopTimeoutError {}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("closed: no producer is left and nothing remains")
    }
}

impl std::error::Error for Closed {}
