//! Keyed blocking waits for the marketplace: a cart waiting for a product, a producer waiting
//! for room. Nobody is woken who does not wait for what changed, no wake-up is lost, and when
//! nobody waits a notification costs one load.
//!
//! # The protocol (store-buffering handshake)
//!
//! A waiter (1) increments `waiters` with a `SeqCst` read-modify-write and reads `epoch` under
//! the lock, (2) issues `fence(SeqCst)` and tries its operation once more, (3) sleeps under
//! the lock while `epoch` is unchanged. A notifier (a) makes its change with a `SeqCst`
//! read-modify-write (the fill of a slot, the count of a reservation), (b) loads `waiters`
//! with `SeqCst`, and only if it is non-zero (c) increments `epoch` under the lock and wakes
//! the sleepers.
//!
//! In the single total order of `SeqCst` operations, either (b) comes after (1), so the
//! notifier sees the waiter and wakes it (the `epoch` closes the window between (2) and (3):
//! it is compared under the lock that the notifier takes to change it), or (b) comes before
//! (1); then (a) precedes the waiter's fence, and the waiter's retry in (2) sees the change.
//! Under loom, which treats `SeqCst` accesses like `AcqRel`, the notifier adds a
//! `fence(SeqCst)` between (a) and (b) so that the fence-to-fence rule gives the same result.

use std::time::Instant;

use crate::sync::{fence, AtomicUsize, Condvar, Mutex, Ordering};

/// Sleepers waiting for one condition (or for several that share a hash).
pub(crate) struct WaitList {
    /// Threads between step (1) and the end of their wait.
    waiters: AtomicUsize,
    /// Bumped by every notification that found waiters.
    epoch: Mutex<u64>,
    wake: Condvar,
}

impl Default for WaitList {
    fn default() -> Self {
        Self {
            waiters: AtomicUsize::new(0),
            epoch: Mutex::new(0),
            wake: Condvar::new(),
        }
    }
}

impl WaitList {
    /// Wakes the waiters, if any. Call after changing the awaited state with a `SeqCst`
    /// read-modify-write.
    #[inline]
    pub(crate) fn notify(&self) {
        #[cfg(loom)]
        fence(Ordering::SeqCst);
        // ORDERING: SeqCst, the load (b) of the handshake in the module documentation: it is
        // ordered after the caller's SeqCst change (a) and against the waiters' increment (1).
        if self.waiters.load(Ordering::SeqCst) != 0 {
            self.notify_slow();
        }
    }

    #[cold]
    fn notify_slow(&self) {
        let mut epoch = self.epoch.lock().unwrap_or_else(|e| e.into_inner());
        *epoch = epoch.wrapping_add(1);
        drop(epoch);
        self.wake.notify_all();
    }

    /// Runs `attempt` until it answers `Some`, sleeping between tries until notified, and gives
    /// up (after one last try) at `deadline`.
    ///
    /// `attempt` must decide "not now" (`None`) only from state it reads after it is called
    /// (this function issues the fence of step (2) before calling it).
    pub(crate) fn wait_until<R>(
        &self,
        deadline: Instant,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        loop {
            if let Some(done) = attempt() {
                return Some(done);
            }
            let seen = {
                let epoch = self.epoch.lock().unwrap_or_else(|e| e.into_inner());
                // ORDERING: SeqCst, step (1) of the handshake.
                self.waiters.fetch_add(1, Ordering::SeqCst);
                *epoch
            };
            // ORDERING: SeqCst fence, step (2): the retry below reads every change whose
            // notifier did not see our increment.
            fence(Ordering::SeqCst);
            let result = attempt();
            let now = Instant::now();
            if result.is_none() && now < deadline {
                let mut epoch = self.epoch.lock().unwrap_or_else(|e| e.into_inner());
                while *epoch == seen {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    epoch = match self.wake.wait_timeout(epoch, left) {
                        Ok((guard, _)) => guard,
                        Err(poisoned) => poisoned.into_inner().0,
                    };
                }
            }
            // Relaxed: leaving costs at most one unnecessary notification.
            self.waiters.fetch_sub(1, Ordering::Relaxed);
            if result.is_some() {
                return result;
            }
            if Instant::now() >= deadline {
                return attempt();
            }
        }
    }
}
