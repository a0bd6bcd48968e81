//! How a waiter is woken (a parked thread's flag, a task's waker), and the rule for wakers,
//! which are user code: they run, and are dropped, outside the list's lock, and a panic of
//! theirs never turns into a second panic while the thread unwinds.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::task::Waker;

use crate::sync::{panicking, thread, Arc, AtomicBool, Ordering};

/// A parked thread's side of one registration: set once its entry has been removed by a
/// notifier, then the thread is unparked.
#[derive(Debug)]
pub(crate) struct Parked {
    notified: AtomicBool,
    thread: thread::Thread,
}

impl Parked {
    /// A fresh signal for the calling thread (one per registration, so that a late store of
    /// an earlier notification cannot be mistaken for a new one).
    pub(crate) fn current() -> Arc<Self> {
        Arc::new(Self {
            notified: AtomicBool::new(false),
            thread: thread::current(),
        })
    }

    pub(super) fn is_notified(&self) -> bool {
        // ORDERING: Acquire, paired with the Release store in `Signal::wake`, so that the
        // notifier's state change is visible to the retry that follows.
        self.notified.load(Ordering::Acquire)
    }
}

/// How a queued waiter is woken.
#[derive(Debug)]
pub(crate) enum Signal {
    /// A parked thread.
    Thread(Arc<Parked>),
    /// A task: the waker of its last poll.
    Task(Waker),
}

impl Signal {
    /// Signals the owner; called without the list's lock (a waker is user code, which may
    /// re-enter the list).
    pub(super) fn wake(self) {
        match self {
            Signal::Thread(parked) => {
                // ORDERING: Release, paired with the Acquire load in `Parked::is_notified`.
                parked.notified.store(true, Ordering::Release);
                parked.thread.unpark();
            }
            Signal::Task(waker) => run_user_code(|| waker.wake()),
        }
    }
}

/// Runs `f`, a waker's `wake` or `drop` (user code), which never runs under a list's lock
/// (docs/DESIGN.md, "Wakers are user code"). A panic in `f` goes on to the caller, except
/// while this thread is already unwinding (a notified future dropped by a panic passes its
/// notification on from its `drop`): a second panic would abort the process, so it is caught
/// and dropped, and the first panic goes on.
fn run_user_code(f: impl FnOnce()) {
    if panicking() {
        drop(catch_unwind(AssertUnwindSafe(f)));
    } else {
        f();
    }
}

/// Drops `x` (an entry or a signal holding a waker) outside the list's lock; see
/// [`run_user_code`].
pub(super) fn drop_outside_lock<X>(x: X) {
    run_user_code(|| drop(x));
}

/// Resumes the first panic of a waker (`panic`), unless this thread is already unwinding,
/// where a second panic would abort the process (see [`run_user_code`]).
pub(super) fn resume_waker_panic(panic: Option<Box<dyn std::any::Any + Send>>) {
    if let Some(panic) = panic {
        if !panicking() {
            resume_unwind(panic);
        }
    }
}
