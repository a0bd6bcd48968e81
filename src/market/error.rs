//! The errors of the market: of the id API ([`IdError`], [`PublishError`]) and of the waits
//! ([`WaitError`], [`PublishWaitError`]).

use core::fmt;

use super::{CartId, ProducerId};
use crate::Full;

/// Why an id-API call was refused. Nothing changed in the market when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdError {
    /// No producer of this market has this id (it was never handed out, or by another
    /// market), or its [`Producer`](crate::market::Producer) handle was dropped.
    UnknownProducer(ProducerId),
    /// No cart of this market has this id (it was never handed out, or by another market), or
    /// its [`Cart`](crate::market::Cart) handle was dropped.
    UnknownCart(CartId),
    /// Another call is using this producer right now, or a handle owns it.
    ProducerBusy(ProducerId),
    /// Another call is using this cart right now, or a handle owns it.
    CartBusy(CartId),
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownProducer(id) => write!(f, "unknown {id}"),
            Self::UnknownCart(id) => write!(f, "unknown {id}"),
            Self::ProducerBusy(id) => write!(f, "{id} is in use by another caller"),
            Self::CartBusy(id) => write!(f, "{id} is in use by another caller"),
        }
    }
}

impl std::error::Error for IdError {}

/// Why a publish through the id API failed; the item is always handed back.
///
/// # Examples
///
/// ```
/// use ringmarket::market::PublishError;
///
/// let market = ringmarket::Market::new(1).unwrap();
/// let p = market.register_producer_id();
/// market.publish(p, 'a').unwrap();
/// let err = market.publish(p, 'b').unwrap_err();
/// assert!(matches!(err, PublishError::Full('b')));
/// assert_eq!(err.into_inner(), 'b');
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublishError<T> {
    /// The producer already has its limit of items on sale.
    Full(T),
    /// The producer id was refused.
    Id(IdError, T),
}

impl<T> PublishError<T> {
    /// The item that was not published.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item) | Self::Id(_, item) => item,
        }
    }
}

impl<T> From<Full<T>> for PublishError<T> {
    fn from(full: Full<T>) -> Self {
        Self::Full(full.0)
    }
}

impl<T> fmt::Debug for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Id(e, _) => write!(f, "Id({e:?}, ..)"),
        }
    }
}

impl<T> fmt::Display for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("the producer has its limit of items on sale"),
            Self::Id(e, _) => e.fmt(f),
        }
    }
}

impl<T> std::error::Error for PublishError<T> {}

/// Why a wait ended without success.
///
/// # Examples
///
/// ```
/// use ringmarket::market::WaitError;
/// use std::time::Duration;
///
/// let market = ringmarket::Market::new(1).unwrap();
/// let mut cart = market.new_cart();
/// assert_eq!(cart.add_timeout(&1, Duration::ZERO), Err(WaitError::Timeout));
/// market.close();
/// assert_eq!(cart.add_timeout(&1, Duration::MAX), Err(WaitError::Closed));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitError {
    /// The time-out passed.
    Timeout,
    /// The market was [closed](super::Market::close), or every other handle of it (each `Market`
    /// clone, producer and cart) is gone, so that nothing could ever end the wait (as a
    /// channel's receiver is told when the last sender goes).
    Closed,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timed out waiting",
            Self::Closed => "the market was closed while waiting",
        })
    }
}

impl std::error::Error for WaitError {}

/// [`Producer::publish_timeout`](super::Producer::publish_timeout) ended without publishing; the item
/// is handed back.
///
/// # Examples
///
/// ```
/// use ringmarket::market::{PublishWaitError, WaitError};
/// use std::time::Duration;
///
/// let market = ringmarket::Market::new(1).unwrap();
/// let mut p = market.register_producer();
/// p.publish(1).unwrap();
/// let err = p.publish_timeout(2, Duration::ZERO).unwrap_err();
/// assert_eq!(err, PublishWaitError::Timeout(2));
/// assert_eq!(err.reason(), WaitError::Timeout);
/// assert_eq!(err.into_inner(), 2);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublishWaitError<T> {
    /// The producer stayed at its limit for the whole time-out.
    Timeout(T),
    /// The market was [closed](super::Market::close), or the producer's handle became the market's
    /// last, while the producer was at its limit.
    Closed(T),
}

impl<T> PublishWaitError<T> {
    pub(super) fn new(reason: WaitError, item: T) -> Self {
        match reason {
            WaitError::Timeout => Self::Timeout(item),
            WaitError::Closed => Self::Closed(item),
        }
    }

    /// The unpublished item.
    pub fn into_inner(self) -> T {
        match self {
            Self::Timeout(item) | Self::Closed(item) => item,
        }
    }

    /// Why the wait ended.
    pub fn reason(&self) -> WaitError {
        match self {
            Self::Timeout(_) => WaitError::Timeout,
            Self::Closed(_) => WaitError::Closed,
        }
    }
}

impl<T> From<PublishWaitError<T>> for Full<T> {
    fn from(e: PublishWaitError<T>) -> Self {
        Full(e.into_inner())
    }
}

impl<T> fmt::Debug for PublishWaitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublishWaitError::{:?}(..)", self.reason())
    }
}

impl<T> fmt::Display for PublishWaitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; the item is handed back", self.reason())
    }
}

impl<T> std::error::Error for PublishWaitError<T> {}
