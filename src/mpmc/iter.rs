//! Iterating a [`Consumer`], as a crossbeam-channel `Receiver` is iterated.

use core::fmt;
use core::iter::FusedIterator;

use super::channel::Consumer;

/// A blocking iterator over the values of a channel, from [`Consumer::iter`] or `&Consumer`'s
/// [`IntoIterator`].
///
/// Each `next` is a [`Consumer::pop_wait`]: it waits for a value, and returns `None` only once
/// the channel is closed (every producer gone) and drained. From then on it returns `None` for
/// good, so the iterator is fused.
pub struct Iter<'a, T> {
    consumer: &'a Consumer<T>,
}

/// A non-blocking iterator over the values available now, from [`Consumer::try_iter`].
///
/// Each `next` is a [`Consumer::pop`]: it returns `None` as soon as the ring is empty, whether
/// or not producers remain. It is not fused: a value pushed after a `None` is returned by a
/// later `next`.
pub struct TryIter<'a, T> {
    consumer: &'a Consumer<T>,
}

/// A blocking iterator that owns its [`Consumer`], from the handle's [`IntoIterator`].
///
/// It behaves as [`Iter`]; dropping it drops the handle (so the last consumer's iterator
/// disconnects the producers when it goes).
pub struct IntoIter<T> {
    consumer: Consumer<T>,
}

impl<T> Consumer<T> {
    /// A blocking iterator: waits for each value and ends once the channel is closed and
    /// drained (as crossbeam-channel's `Receiver::iter`).
    ///
    /// Values are shared out among all consumers: each value goes to exactly one of them,
    /// whether it pops or iterates.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ringmarket::mpmc::channel(2).unwrap();
    /// let producer = std::thread::spawn(move || {
    ///     for i in 0..5 {
    ///         tx.push_wait(i).unwrap();
    ///     }
    ///     // Dropping `tx`, the last producer, closes the channel and ends the iteration.
    /// });
    /// let got: Vec<i32> = rx.iter().collect();
    /// assert_eq!(got, [0, 1, 2, 3, 4]);
    /// producer.join().unwrap();
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { consumer: self }
    }

    /// A non-blocking iterator over the values that can be popped now (as crossbeam-channel's
    /// `Receiver::try_iter`): it ends at the first empty ring, even while producers remain.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ringmarket::mpmc::channel(4).unwrap();
    /// tx.push('a').unwrap();
    /// tx.push('b').unwrap();
    /// assert_eq!(rx.try_iter().collect::<String>(), "ab");
    /// // Empty but open: nothing now, and no waiting for more.
    /// assert_eq!(rx.try_iter().next(), None);
    /// tx.push('c').unwrap();
    /// assert_eq!(rx.try_iter().collect::<String>(), "c");
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { consumer: self }
    }
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.consumer.pop_wait().ok()
    }
}

impl<T> FusedIterator for Iter<'_, T> {}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.consumer.pop().ok()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.consumer.pop_wait().ok()
    }
}

impl<T> FusedIterator for IntoIter<T> {}

impl<'a, T> IntoIterator for &'a Consumer<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    /// The same as [`Consumer::iter`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ringmarket::mpmc::channel(3).unwrap();
    /// for word in ["to", "be"] {
    ///     tx.push(word).unwrap();
    /// }
    /// drop(tx);
    /// let mut got = Vec::new();
    /// for word in &rx {
    ///     got.push(word);
    /// }
    /// assert_eq!(got, ["to", "be"]);
    /// ```
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Consumer<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    /// A blocking iterator that owns the handle: as [`Consumer::iter`], and the handle is
    /// dropped with the iterator.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = ringmarket::mpmc::channel(8).unwrap();
    /// let sums = std::thread::spawn(move || rx.into_iter().sum::<u32>());
    /// for i in 1..=10 {
    ///     tx.push_wait(i).unwrap();
    /// }
    /// drop(tx);
    /// assert_eq!(sums.join().unwrap(), 55);
    /// ```
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { consumer: self }
    }
}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryIter").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter").finish_non_exhaustive()
    }
}
