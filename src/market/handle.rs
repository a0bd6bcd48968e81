//! What every handle holds: the market, counted so that a wait can tell when nobody else could
//! end it.

use core::ops::Deref;

use super::inner::Inner;
use crate::sync::{Arc, Ordering};

/// What every handle of a market (each [`Market`](super::Market) clone,
/// [`Producer`](super::Producer) and [`Cart`](super::Cart)) holds: a reference to the shared
/// state, counted in `Inner::handles`, so that a wait can tell when nobody else could ever end
/// it. When the count falls to 1, the remaining handle's waits end with
/// [`WaitError::Closed`](super::WaitError::Closed)
/// (docs/DESIGN.md, "Abandoned markets"). Counting costs nothing on the operations: only
/// creating and dropping handles touch the count.
pub(crate) struct Handle<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Handle<T> {
    /// The first handle of a new market (whose count of handles starts at 1).
    pub(super) fn new(inner: Inner<T>) -> Self {
        // Relaxed: nobody else can see the count yet.
        debug_assert_eq!(inner.handles.load(Ordering::Relaxed), 1);
        Self {
            inner: Arc::new(inner),
        }
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        // Relaxed, as `Arc::clone`: the clone is made from a live handle, so the count is
        // above 1 from before this increment until after it, and a waiter reading any value
        // of it in between sees no "last handle".
        self.inner.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> Drop for Handle<T> {
    fn drop(&mut self) {
        // ORDERING: SeqCst read-modify-write: the state change, step (a), of every wait
        // (docs/DESIGN.md, "Waits" and "Abandoned markets"), paired with the waiters' load in
        // `Inner::wait_is_hopeless` after their fence; the notifications complete it.
        if self.inner.handles.fetch_sub(1, Ordering::SeqCst) == 2 {
            // One handle is left: if it waits, nobody else can end its wait.
            self.inner.notify_every_waiter();
        }
    }
}

impl<T> Deref for Handle<T> {
    type Target = Inner<T>;

    #[inline]
    fn deref(&self) -> &Inner<T> {
        &self.inner
    }
}
