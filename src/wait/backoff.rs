//! Spinning before sleeping: the [`Backoff`] of lock-free retry loops, and the per-thread
//! policy that decides whether a wait spins at all.

#[cfg(not(loom))]
use crate::sync::thread_local;

/// Spin steps of the spin phase of a wait ([`WaitList::wait_until`](super::WaitList::wait_until)):
/// `2^0 + ... + 2^5` spin hints, about a microsecond. The `SPIN_LIMIT` of crossbeam's
/// `Backoff`, whose `spin` steps double up to it.
pub(crate) const SPIN_STEPS: u32 = 6;

/// Exponential spinning, then yielding, for the short waits of a lock-free retry loop:
/// `crossbeam_utils::Backoff`, except under loom, where every step is a single `yield_now`, so
/// that models stay small and spin loops hand control to the other modelled threads.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    #[cfg(not(loom))]
    inner: crossbeam_utils::Backoff,
}

impl Backoff {
    /// A fresh backoff, at its shortest step.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Backs off in a loop that lost a race with another thread (a failed compare-exchange):
    /// spins only, since the winner has already made progress.
    #[inline]
    pub(crate) fn spin(&mut self) {
        #[cfg(loom)]
        crate::sync::thread::yield_now();
        #[cfg(not(loom))]
        self.inner.spin();
    }

    /// Backs off in a loop that waits for another thread to finish something (a slot being
    /// written): spins at first, then yields the processor.
    #[inline]
    pub(crate) fn snooze(&mut self) {
        #[cfg(loom)]
        crate::sync::thread::yield_now();
        #[cfg(not(loom))]
        self.inner.snooze();
    }

    /// Whether [`snooze`](Self::snooze) has spun and yielded long enough that the caller
    /// should sleep instead (at once under loom).
    #[inline]
    pub(crate) fn is_completed(&self) -> bool {
        #[cfg(loom)]
        return true;
        #[cfg(not(loom))]
        self.inner.is_completed()
    }
}

/// How [`WaitList::wait_until`](super::WaitList::wait_until) spins before it sleeps (never under loom).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spin {
    /// Every wait spins, then yields a few times, on the schedule of crossbeam's
    /// `Backoff::snooze` (about 11 steps): for waits that the other side usually ends within
    /// that time (a channel's streaming or hand-off peer), where it spares the notifier a
    /// wake-up and, with fewer cores than threads, a yield lets that peer run.
    Always,
    /// A wait spins only while that has paid often enough on this thread ([`SpinPolicy`]):
    /// for waits that may last long (a product that comes later), where a waiter that
    /// sleeps anyway only delays, by spinning, the threads that need the processor.
    Learnt,
}

/// Whether a waiter spins before it sleeps, learnt per thread from its own recent waits.
///
/// The spin phase of [`WaitList::wait_until`] costs about a microsecond of processor time. It
/// pays when the other side often answers within that time (a ping-pong, a busy channel);
/// when it does not, the spinning thread only delays the others (a woken waiter, the
/// notifier) on a busy machine. Each thread keeps a credit, like a saturating branch
/// predictor: a spin phase that succeeds adds `GAIN` (up to `CREDIT_MAX`), one that fails
/// takes 1, and the thread spins while it has credit, that is while about one spin phase in
/// `GAIN + 1` or more succeeds. Without credit it still spins once every `PROBE_EVERY` waits,
/// so that it notices when spinning starts to pay again. Under loom nobody spins.
pub(super) struct SpinPolicy;

/// A thread's [`SpinPolicy`] state.
#[cfg(not(loom))]
#[derive(Clone, Copy)]
struct SpinCredit {
    /// Spin phases the thread may still fail before it stops spinning.
    credit: u8,
    /// Waits without a spin phase since the last one (while without credit).
    skipped: u8,
}

#[cfg(not(loom))]
thread_local! {
    /// The calling thread's spin credit; a new thread starts with one success's worth.
    static SPIN: core::cell::Cell<SpinCredit> = const {
        core::cell::Cell::new(SpinCredit { credit: SpinPolicy::GAIN, skipped: 0 })
    };
}

#[cfg(not(loom))]
impl SpinPolicy {
    /// Credit added by a spin phase that succeeded.
    pub(super) const GAIN: u8 = 4;
    /// At most this much credit: after a run of successes, this many failures in a row stop
    /// the spinning.
    pub(super) const CREDIT_MAX: u8 = 16;
    /// A thread without credit spins once every this many waits.
    pub(super) const PROBE_EVERY: u8 = 64;
}

impl SpinPolicy {
    /// Whether the calling thread's next wait should spin first.
    #[inline]
    pub(super) fn should_spin() -> bool {
        #[cfg(loom)]
        return false;
        #[cfg(not(loom))]
        SPIN.try_with(|cell| {
            let mut s = cell.get();
            let spin = if s.credit > 0 {
                true
            } else {
                s.skipped += 1;
                s.skipped >= Self::PROBE_EVERY
            };
            if spin {
                s.skipped = 0;
            }
            debug_assert!(s.credit <= Self::CREDIT_MAX && s.skipped < Self::PROBE_EVERY);
            cell.set(s);
            spin
        })
        .unwrap_or(false)
    }

    /// Records whether the spin phase of the calling thread's wait succeeded.
    #[inline]
    pub(super) fn record(succeeded: bool) {
        #[cfg(not(loom))]
        let _ = SPIN.try_with(|cell| {
            let mut s = cell.get();
            s.credit = if succeeded {
                (s.credit + Self::GAIN).min(Self::CREDIT_MAX)
            } else {
                s.credit.saturating_sub(1)
            };
            cell.set(s);
        });
        #[cfg(loom)]
        let _ = succeeded;
    }
}
