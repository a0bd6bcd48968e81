//! A waiter's loop: try, spin, register, try again, sleep, and after a notification try
//! again; the same steps serve a parked thread ([`wait`]) and a polled future
//! ([`register_and_try`], [`try_notified`]).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::backoff::{Backoff, Spin, SpinPolicy, SPIN_STEPS};
use super::signal::{Parked, Signal};
use super::{Ticket, WaitList};
use crate::sync::{fence, Arc, Ordering};

/// One waiter's side of a wait on a [`WaitList`]: the list, and the operation it retries.
pub(crate) trait Waiter {
    /// What the operation gives when the wait is over.
    type Output;

    /// The list the waiter queues on.
    fn list(&self) -> &WaitList;

    /// One try of the operation: `Some` when the wait is over. It may answer `None` only from
    /// state it reads after it is called: the try that decides whether to sleep follows the
    /// waiter's registration and a `SeqCst` fence (docs/DESIGN.md, "Waits").
    fn attempt(&mut self) -> Option<Self::Output>;

    /// For waiters whose key several kinds of waiter share: whether the last try found, under
    /// the key, what another kind of waiter wants (an item of another product with the same
    /// hash). Asked after each try that follows a notification, which is then passed forward
    /// ([`WaitList::pass_forward`]).
    fn mismatched(&mut self) -> bool {
        false
    }
}

/// Runs `waiter`'s operation until it succeeds, spinning briefly (as `spin` says) and then
/// sleeping in its list's queue under `key` with `rank` between tries; `None` once `timeout`
/// (if any) has passed with the operation still failing. A time-out too large to represent
/// means no time-out.
#[inline]
pub(crate) fn wait<W: Waiter>(
    waiter: &mut W,
    key: u64,
    rank: u32,
    timeout: Option<Duration>,
    spin: Spin,
) -> Option<W::Output> {
    // The first try costs no clock read: most waits end here.
    if let Some(done) = waiter.attempt() {
        return Some(done);
    }
    let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
    // `Spin::Always`: spin, then yield, until the backoff is completed (see `Spin`).
    // `Spin::Learnt`: a short spin (about a microsecond of spin hints), no yielding, and
    // only while spinning pays on this thread (see `SpinPolicy`): a waiter that sleeps
    // anyway only delays the threads that need the processor.
    match spin {
        Spin::Always => {
            // Under loom the backoff is completed at once: nobody spins.
            let mut backoff = Backoff::new();
            while !backoff.is_completed() {
                backoff.snooze();
                if let Some(done) = waiter.attempt() {
                    return Some(done);
                }
            }
        }
        Spin::Learnt if SpinPolicy::should_spin() => {
            let mut backoff = Backoff::new();
            for _ in 0..SPIN_STEPS {
                backoff.spin();
                if let Some(done) = waiter.attempt() {
                    SpinPolicy::record(true);
                    return Some(done);
                }
            }
            SpinPolicy::record(false);
        }
        Spin::Learnt => {}
    }
    // The ticket of a notification this waiter could not use, if any.
    let mut spent = None;
    loop {
        let parked = Parked::current();
        let signal = Signal::Thread(Arc::clone(&parked));
        let ticket = match register_and_try(waiter, key, rank, signal, spent.take()) {
            Ok(done) => return Some(done),
            Err(ticket) => ticket,
        };
        if !waiter.list().park(&ticket, &parked, deadline) {
            // Timed out (and no longer queued); one last try.
            return waiter.attempt();
        }
        // Notified (and no longer queued): try at once; if another thread took what the
        // notifier offered, queue again in the same place, which loses nothing.
        match try_notified(waiter, &ticket, rank) {
            Some(done) => return Some(done),
            None => spent = Some(ticket),
        }
    }
}

/// Steps (1) and (2) of a wait (docs/DESIGN.md, "Waits"): queues `waiter` under `key` (again
/// in the place of `spent`, a notification it could not use, keeping its seniority), issues
/// the `SeqCst` fence and tries once more. `Ok` when that try succeeded (the registration is
/// over), otherwise the ticket of the queued registration.
///
/// If the try unwinds, the registration ends before the panic goes on: a queued entry left
/// behind would swallow a notification meant for another waiter.
pub(crate) fn register_and_try<W: Waiter>(
    waiter: &mut W,
    key: u64,
    rank: u32,
    signal: Signal,
    spent: Option<Ticket>,
) -> Result<W::Output, Ticket> {
    let ticket = match spent {
        None => waiter.list().register(key, rank, signal),
        Some(spent) => waiter.list().register_again(spent, rank, signal),
    };
    // ORDERING: SeqCst fence, step (2) of the handshake (docs/DESIGN.md, "Waits"): the
    // attempt below reads every change whose notifier did not see our registration.
    fence(Ordering::SeqCst);
    match catch_unwind(AssertUnwindSafe(|| waiter.attempt())) {
        Ok(Some(done)) => {
            waiter.list().cancel(ticket);
            Ok(done)
        }
        Ok(None) => Err(ticket),
        Err(panic) => {
            waiter.list().cancel(ticket);
            resume_unwind(panic)
        }
    }
}

/// The try of a waiter that was notified (its registration, `ticket`, is over): `Some` when
/// it succeeded; `None` when another thread took what the notifier offered (the waiter then
/// queues again with `ticket`, which loses nothing). A try that found another kind of
/// waiter's thing ([`Waiter::mismatched`]) passes the notification forward; a try that unwinds
/// passes it on before the panic goes on, so that no other waiter loses a wake-up.
pub(crate) fn try_notified<W: Waiter>(
    waiter: &mut W,
    ticket: &Ticket,
    rank: u32,
) -> Option<W::Output> {
    match catch_unwind(AssertUnwindSafe(|| waiter.attempt())) {
        Ok(done) => {
            if waiter.mismatched() {
                waiter.list().pass_forward(ticket, rank);
            }
            done
        }
        Err(panic) => {
            waiter.list().pass_on_unused(ticket.key);
            resume_unwind(panic)
        }
    }
}
