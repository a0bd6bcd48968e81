//! Error types shared by every structure in the crate.

use core::fmt;

/// A push or publish failed because the structure was full; the value is handed back.
///
/// # Examples
///
/// ```
/// use ringmarket::Full;
///
/// let err = Full(7_u32);
/// assert_eq!(err.into_inner(), 7);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Full<T>(pub T);

impl<T> Full<T> {
    /// Returns the value that could not be stored.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The value is not required to be `Debug`; say what happened, not what was carried.
        f.write_str("Full(..)")
    }
}

impl<T> fmt::Display for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("full: no room for the value, which is handed back")
    }
}

impl<T> std::error::Error for Full<T> {}

/// A pop failed because there was nothing to take at that moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Empty;

impl fmt::Display for Empty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("empty: nothing to take")
    }
}

impl std::error::Error for Empty {}

/// A structure was asked for with a capacity of zero, which could never hold anything.
///
/// # Examples
///
/// ```
/// use ringmarket::ZeroCapacity;
///
/// assert_eq!(ZeroCapacity.to_string(), "capacity must be at least 1");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ZeroCapacity;

impl fmt::Display for ZeroCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("capacity must be at least 1")
    }
}

impl std::error::Error for ZeroCapacity {}
