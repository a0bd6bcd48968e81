//! Waiting without losing wake-ups: a bounded spin [`Backoff`] and a parking [`WaitList`].
//!
//! Lock-free structures answer "not now" (full, empty) at once. A caller that wants to *wait*
//! for "now" retries the operation; this module decides how: first a short spin (the other side
//! is often a few nanoseconds away), then parking on a [`WaitList`] until another thread reports
//! a change of state that may let the operation succeed.
//!
//! # The protocol
//!
//! A [`WaitList`] belongs to one condition ("the ring may have a value", "the ring may have
//! room"). Threads that change the state towards that condition call [`WaitList::notify_one`] or
//! [`WaitList::notify_all`] *after* the change. Threads that wait run
//! [`WaitList::wait_until`] with an `attempt` closure that performs the operation and answers
//! `Some(result)` when it is done (success, or a final failure such as "closed") and `None` for
//! "not now".
//!
//! When nobody waits, a notification costs one atomic load of the waiter count
//! (`waiters == 0`): nothing is locked and no system call is made.
//!
//! # Why no wake-up is lost
//!
//! A waiter parks in three steps: (1) `prepare`: under the lock, increment `waiters` with a
//! `SeqCst` read-modify-write and read the current `epoch`; (2) run `attempt` once more;
//! (3) `park`: under the lock, sleep on the condition variable for as long as `epoch` still has
//! the value read in (1). A notifier (a) changes the state, (b) loads `waiters` with `SeqCst`,
//! and only if it is non-zero, (c) under the lock increments `epoch` and signals the condition
//! variable.
//!
//! This is a store-buffering handshake between `waiters` and the state. Its requirements on the
//! state are part of the contract:
//!
//! - the notifier's change of state (a) is a `SeqCst` read-modify-write (or is followed by a
//!   `SeqCst` fence), and
//! - the waiter's `attempt` answers "not now" only after a `SeqCst` fence followed by a read of
//!   that state.
//!
//! The ring in [`crate::mpmc`] meets both: its index updates are `SeqCst` compare-exchanges and
//! it decides "full" or "empty" only after `fence(SeqCst)`. Then, in the single total order `S`
//! of `SeqCst` operations, either the notifier's load (b) comes after the waiter's increment (1),
//! so it sees `waiters > 0` and goes on to (c), or it comes before; then the state change (a),
//! which precedes (b), also precedes the waiter's fence in `S`, so the waiter's read in (2) sees
//! the change and `attempt` succeeds without parking. (C++20 [atomics.order] p3-4: a `SeqCst`
//! load that is coherence-ordered before a `SeqCst` write precedes it in `S`; a read after a
//! `SeqCst` fence sees every `SeqCst` write that precedes the fence in `S`.)
//!
//! In case (c), the `epoch` protects the window between (1) and (3): the notifier increments it
//! under the same lock that the waiter holds while it compares `epoch` and starts to sleep
//! (`Condvar::wait` releases the lock atomically). If the increment happens before the waiter's
//! comparison, the waiter does not sleep; if after, the waiter is already asleep and the signal
//! reaches it. A waiter woken for any reason (signal, spurious wake-up, time-out) runs `attempt`
//! again before it gives up, so a signal taken by a waiter that was timing out is never wasted.
//!
//! Under loom, whose model treats `SeqCst` accesses as `AcqRel`, the notifier adds a
//! `fence(SeqCst)` between (a) and (b) ([`crate::sync::loom_seq_cst_fence`]); the argument above
//! then holds by the fence-to-fence rule, and that is the version loom checks.
//!
//! # Keyed waiting
//!
//! A keyed variant (wake only the waiters interested in one key) is a table of `WaitList`s
//! indexed by a hash of the key: waiters prepare on the list of their key, notifiers notify the
//! list of the key they changed. Collisions only cause spurious wake-ups, which the protocol
//! tolerates, and each list keeps its own one-load fast path.

use std::sync::PoisonError;
use std::time::{Duration, Instant};

use crate::sync::{hint, loom_seq_cst_fence, thread, AtomicUsize, Condvar, Mutex, Ordering};

/// Exponential spinning, then yielding, for the short waits of a lock-free retry loop.
///
/// Under loom every step is a single `yield_now`, so that models stay small and spin loops
/// hand control to the other modelled threads.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    /// Number of steps taken, saturating at `YIELD_LIMIT + 1`.
    step: u32,
}

impl Backoff {
    /// Steps up to which [`Backoff::snooze`] spins (`2^step` spin hints) instead of yielding.
    const SPIN_LIMIT: u32 = 6;
    /// Steps after which [`Backoff::is_completed`] advises parking instead.
    const YIELD_LIMIT: u32 = 10;

    /// A fresh backoff, at its shortest step.
    pub(crate) const fn new() -> Self {
        Self { step: 0 }
    }

    /// Backs off in a loop that lost a race with another thread (a failed compare-exchange):
    /// spins only, since the winner has already made progress.
    #[inline]
    pub(crate) fn spin(&mut self) {
        if cfg!(loom) {
            thread::yield_now();
            return;
        }
        for _ in 0..1_u32 << self.step.min(Self::SPIN_LIMIT) {
            hint::spin_loop();
        }
        if self.step <= Self::SPIN_LIMIT {
            self.step += 1;
        }
    }

    /// Backs off in a loop that waits for another thread to finish something (a slot being
    /// written): spins at first, then yields the processor.
    #[inline]
    pub(crate) fn snooze(&mut self) {
        if cfg!(loom) {
            thread::yield_now();
            return;
        }
        if self.step <= Self::SPIN_LIMIT {
            for _ in 0..1_u32 << self.step {
                hint::spin_loop();
            }
        } else {
            thread::yield_now();
        }
        if self.step <= Self::YIELD_LIMIT {
            self.step += 1;
        }
    }

    /// Whether spinning has gone on long enough that the caller should park instead.
    #[inline]
    pub(crate) fn is_completed(&self) -> bool {
        cfg!(loom) || self.step > Self::YIELD_LIMIT
    }
}

/// Threads parked until a condition may have become true; see the [module docs](self) for
/// the protocol and the argument that no wake-up is lost.
#[derive(Debug)]
pub(crate) struct WaitList {
    /// Number of threads between `prepare` and the end of `park` (or `cancel`). Only ever
    /// over-counts (a thread that has stopped waiting but not yet decremented), which costs a
    /// needless lock, never a lost wake-up.
    waiters: AtomicUsize,
    /// Incremented, under its lock, by every notification that found waiters. A waiter sleeps
    /// only while it still holds the value it read in `prepare`.
    epoch: Mutex<u64>,
    /// Where waiters sleep; always used with `epoch`'s lock.
    cond: Condvar,
}

impl Default for WaitList {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitList {
    /// An empty wait list.
    pub(crate) fn new() -> Self {
        Self {
            waiters: AtomicUsize::new(0),
            epoch: Mutex::new(0),
            cond: Condvar::new(),
        }
    }

    /// Runs `attempt` until it returns `Some`, spinning briefly and then parking between tries;
    /// returns `None` once `timeout` (if any) has passed with `attempt` still answering `None`.
    /// A time-out too large to represent as a deadline means no time-out.
    ///
    /// `attempt` must meet the contract in the [module docs](self): answer `None` only after a
    /// `SeqCst` fence followed by a read of the state that notifiers change.
    pub(crate) fn wait_until<R>(
        &self,
        timeout: Option<Duration>,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        // The first try costs no clock read: most waits end here.
        if let Some(done) = attempt() {
            return Some(done);
        }
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let mut backoff = Backoff::new();
        while !backoff.is_completed() {
            backoff.snooze();
            if let Some(done) = attempt() {
                return Some(done);
            }
        }
        loop {
            let key = self.prepare();
            if let Some(done) = attempt() {
                self.cancel();
                return Some(done);
            }
            if !self.park(key, deadline) {
                // Timed out; one last try, so that a signal meant for us is not wasted.
                return attempt();
            }
        }
    }

    /// Registers the caller as a waiter and returns the epoch it will sleep on.
    fn prepare(&self) -> u64 {
        let epoch = self.epoch.lock().unwrap_or_else(PoisonError::into_inner);
        // ORDERING: SeqCst read-modify-write: the waiter's half of the store-buffering
        // handshake with the notifier's `SeqCst` load in `notify_*` (module docs, step (1)).
        self.waiters.fetch_add(1, Ordering::SeqCst);
        *epoch
    }

    /// Unregisters a waiter that did not park.
    fn cancel(&self) {
        // Relaxed: an over-count only costs a notifier a needless lock; nothing is published.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
    }

    /// Sleeps while the epoch is still `key`; unregisters the waiter. Returns `false` if the
    /// deadline passed first.
    fn park(&self, key: u64, deadline: Option<Instant>) -> bool {
        let mut epoch = self.epoch.lock().unwrap_or_else(PoisonError::into_inner);
        let mut woken = true;
        while *epoch == key {
            match deadline {
                None => {
                    epoch = self
                        .cond
                        .wait(epoch)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        woken = false;
                        break;
                    }
                    epoch = self
                        .cond
                        .wait_timeout(epoch, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
        drop(epoch);
        // Relaxed: as in `cancel`.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        woken
    }

    /// Whether any thread may be parked or about to park. The notifiers' fast path.
    #[inline]
    fn has_waiters(&self) -> bool {
        loom_seq_cst_fence();
        // ORDERING: SeqCst load: the notifier's half of the store-buffering handshake with the
        // SeqCst `fetch_add` in `prepare`; the caller's state change is a SeqCst RMW that
        // precedes this load in the total order (module docs, step (b)).
        self.waiters.load(Ordering::SeqCst) != 0
    }

    /// Wakes one parked waiter, if any; call after a change of state that lets one waiter
    /// proceed (one value pushed, one slot freed).
    #[inline]
    pub(crate) fn notify_one(&self) {
        if self.has_waiters() {
            self.bump().notify_one();
        }
    }

    /// Wakes every parked waiter; call after a change that concerns them all (closing).
    #[inline]
    pub(crate) fn notify_all(&self) {
        if self.has_waiters() {
            self.bump().notify_all();
        }
    }

    /// Increments the epoch under the lock and returns the condition variable to signal.
    #[cold]
    fn bump(&self) -> &Condvar {
        let mut epoch = self.epoch.lock().unwrap_or_else(PoisonError::into_inner);
        *epoch = epoch.wrapping_add(1);
        // The caller signals after the lock is released, so the woken thread does not block on
        // it at once. Still no lost wake-up: a waiter that compared the epoch before this
        // increment was already asleep on `cond` (the wait released the lock atomically) when we
        // took the lock; one that compares after it sees the new epoch and does not sleep.
        drop(epoch);
        &self.cond
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::{fence, AtomicBool};

    /// An `attempt` that meets the contract: a SeqCst fence, then a read of the state.
    fn ready(flag: &AtomicBool) -> Option<()> {
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above, as the module docs require.
        flag.load(Ordering::Relaxed).then_some(())
    }

    #[test]
    fn an_immediate_success_never_registers() {
        let list = WaitList::new();
        assert_eq!(list.wait_until(None, || Some(7)), Some(7));
        assert_eq!(list.waiters.load(Ordering::Relaxed), 0);
        assert!(!list.has_waiters());
    }

    #[test]
    fn a_timed_out_wait_returns_none_and_unregisters() {
        let list = WaitList::new();
        let flag = AtomicBool::new(false);
        let start = Instant::now();
        let timeout = Duration::from_millis(20);
        assert_eq!(list.wait_until(Some(timeout), || ready(&flag)), None);
        assert!(start.elapsed() >= timeout);
        assert_eq!(list.waiters.load(Ordering::Relaxed), 0);
        assert_eq!(*list.epoch.lock().unwrap(), 0, "nobody notified");
    }

    #[test]
    fn a_notification_wakes_a_parked_waiter() {
        for _ in 0..if cfg!(miri) { 2 } else { 50 } {
            let list = WaitList::new();
            let flag = AtomicBool::new(false);
            std::thread::scope(|s| {
                let waiter = s.spawn(|| list.wait_until(None, || ready(&flag)));
                // Give the waiter a chance to park; correctness does not depend on it.
                std::thread::sleep(Duration::from_millis(1));
                // ORDERING: SeqCst RMW: the state change the module docs require.
                flag.swap(true, Ordering::SeqCst);
                list.notify_one();
                assert_eq!(waiter.join().unwrap(), Some(()));
            });
            assert_eq!(list.waiters.load(Ordering::Relaxed), 0);
        }
    }

    #[test]
    fn notify_all_wakes_every_waiter() {
        let list = WaitList::new();
        let flag = AtomicBool::new(false);
        std::thread::scope(|s| {
            let waiters: Vec<_> = (0..3)
                .map(|_| s.spawn(|| list.wait_until(None, || ready(&flag))))
                .collect();
            std::thread::sleep(Duration::from_millis(1));
            // ORDERING: SeqCst RMW, as above.
            flag.swap(true, Ordering::SeqCst);
            list.notify_all();
            for w in waiters {
                assert_eq!(w.join().unwrap(), Some(()));
            }
        });
    }

    #[test]
    fn backoff_completes() {
        let mut backoff = Backoff::new();
        let mut steps = 0;
        while !backoff.is_completed() {
            backoff.snooze();
            steps += 1;
        }
        assert_eq!(steps, Backoff::YIELD_LIMIT + 1);
        backoff.spin();
        assert!(backoff.is_completed());
    }
}
