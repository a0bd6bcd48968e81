//! Waiting without losing wake-ups: a bounded spin [`Backoff`] and a parking [`WaitList`].
//!
//! Lock-free structures answer "not now" (full, empty, no such item) at once. A caller that
//! wants to *wait* for "now" retries the operation; this module decides how: first a short spin
//! (the other side is often a few nanoseconds away), then sleeping on a [`WaitList`] until
//! another thread reports a change of state that may let the operation succeed. Both the ring
//! in [`crate::mpmc`] and the marketplace ([`crate::market`]) wait through it; the same queue
//! serves parked threads and `std::task` wakers (the market's futures).
//!
//! # Waiters, keys and targeted wake-ups
//!
//! A [`WaitList`] is a FIFO queue of waiters, each with a `u64` *key* saying what it waits for
//! (the ring uses one key for everything; the market uses the full 64-bit hash of the wanted
//! product, or one key per producer) and a `u32` *rank*. [`WaitList::notify_one`]`(key)`
//! removes one waiter with that key from the queue and wakes it, and nobody else: one
//! published item wakes one consumer of that product. The waiter served is the one with the
//! highest rank, and among equal ranks the first queued (all ranks are 0 but for carts given a
//! [priority](crate::market::Cart::set_priority)). [`WaitList::notify_all`] wakes everyone
//! (closing).
//!
//! A waiter knows it was notified because its entry is no longer in the queue; a notified
//! waiter whose try fails queues again in its old place, and one that does not use its
//! notification passes it on ([`WaitList::cancel`]). When nobody waits, a notification costs
//! one atomic load of the waiter count: nothing is locked and no system call is made.
//!
//! # Why no wake-up is lost
//!
//! A waiter (1) registers, (2) issues a `SeqCst` fence and tries once more, and (3) parks; a
//! notifier (a) changes the state with a `SeqCst` read-modify-write, (b) loads the waiter count
//! and, if someone waits, (c) wakes a matching entry. [`wait`] takes these steps for a thread,
//! and a future's poll takes the same ones (`register_and_try`, `try_notified` in
//! `waiter.rs`). What they require of the notifiers' state changes
//! and of a waiter's attempt, and the proof that no wake-up is lost, are written once, in
//! docs/DESIGN.md, "Waits"; the comments here name the steps.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::PoisonError;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::sync::{loom_seq_cst_fence, thread, AtomicUsize, Mutex, MutexGuard, Ordering};

mod backoff;
mod signal;
#[cfg(all(test, not(loom)))]
mod tests;
mod waiter;

pub(crate) use backoff::{Backoff, Spin};
use signal::{drop_outside_lock, resume_waker_panic};
pub(crate) use signal::{Parked, Signal};
#[cfg(feature = "async")]
pub(crate) use waiter::{register_and_try, try_notified};
pub(crate) use waiter::{wait, Waiter};

#[derive(Debug)]
struct Entry {
    key: u64,
    /// Served before every waiter of the same key with a lower rank.
    rank: u32,
    id: u64,
    signal: Signal,
}

#[derive(Debug, Default)]
struct Queue {
    /// Waiters in the order of their first registration (of their ids: a waiter queued again
    /// after a spent notification keeps its place). An entry is removed by whoever notifies
    /// it, or by its owner when it stops waiting; "not queued" is what "notified" means.
    entries: VecDeque<Entry>,
    /// The id of the next registration.
    next_id: u64,
}

impl Queue {
    fn position(&self, id: u64) -> Option<usize> {
        self.entries.iter().position(|e| e.id == id)
    }
}

/// A registration on a [`WaitList`], returned by [`WaitList::register`].
#[derive(Debug)]
pub(crate) struct Ticket {
    key: u64,
    id: u64,
}

/// Waiters queued until a condition may have become true; see the [module docs](self) for the
/// protocol, and docs/DESIGN.md, "Waits", for the argument that no wake-up is lost.
#[derive(Debug)]
pub(crate) struct WaitList {
    /// Number of queued entries. Incremented (`SeqCst`) after an entry is pushed and
    /// decremented after one is removed, both under the lock, so it is never below the true
    /// count when a notifier reads it.
    waiters: AtomicUsize,
    queue: Mutex<Queue>,
    /// Waiters woken by a notification (tests count them to check that wake-ups are targeted).
    #[cfg(all(test, not(loom)))]
    pub(crate) woken: AtomicUsize,
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
            queue: Mutex::new(Queue::default()),
            #[cfg(all(test, not(loom)))]
            woken: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `attempt` until it returns `Some`, spinning briefly (as `spin` says) and then
    /// sleeping in the queue under `key` between tries; returns `None` once `timeout` (if any)
    /// has passed with `attempt` still answering `None`. A time-out too large to represent
    /// means no time-out.
    ///
    /// `attempt` must meet the contract of [`Waiter::attempt`].
    #[inline]
    pub(crate) fn wait_until<R>(
        &self,
        key: u64,
        rank: u32,
        timeout: Option<Duration>,
        spin: Spin,
        attempt: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        /// A waiter that is one closure, on one list.
        struct Tries<'l, A> {
            list: &'l WaitList,
            attempt: A,
        }
        impl<R, A: FnMut() -> Option<R>> Waiter for Tries<'_, A> {
            type Output = R;
            fn list(&self) -> &WaitList {
                self.list
            }
            fn attempt(&mut self) -> Option<R> {
                (self.attempt)()
            }
        }
        wait(
            &mut Tries {
                list: self,
                attempt,
            },
            key,
            rank,
            timeout,
            spin,
        )
    }

    /// Passes a notification on to the next waiter under the ticket's key *behind* the
    /// ticket's owner in serving order (a lower rank, or the same rank and queued later), if
    /// any: for a notified waiter whose attempt found, under its key, what another kind of
    /// waiter wants. Strictly forward, so that a chain of such passes ends at the back of the
    /// queue (docs/DESIGN.md, "Waits").
    fn pass_forward(&self, ticket: &Ticket, rank: u32) {
        let mut queue = self.lock();
        let behind = |e: &Entry| e.rank < rank || (e.rank == rank && e.id > ticket.id);
        let next = self.take_best(&mut queue, ticket.key, behind);
        drop(queue);
        if let Some(signal) = next {
            signal.wake();
        }
    }

    /// Passes on a notification whose waiter will not use it (its attempt unwound) to the
    /// next waiter under `key`.
    fn pass_on_unused(&self, key: u64) {
        self.pass_on(self.lock(), key);
    }

    /// Passes a notification that its waiter did not use on to the next waiter under `key`
    /// (`queue` is the locked queue).
    fn pass_on(&self, mut queue: MutexGuard<'_, Queue>, key: u64) {
        let next = self.take_next(&mut queue, key);
        drop(queue);
        if let Some(signal) = next {
            signal.wake();
        }
    }

    /// Queues a waiter under `key` (step (1) of the handshake). The caller then issues
    /// `fence(SeqCst)`, tries its operation once more, and ends the registration with exactly
    /// one of [`cancel`](Self::cancel), [`park`](Self::park) returning, or
    /// [`poll`](Self::poll) answering `true`.
    pub(crate) fn register(&self, key: u64, rank: u32, signal: Signal) -> Ticket {
        self.enqueue(key, rank, signal, None)
    }

    /// Queues again a waiter whose notification is spent (its attempt after the wake-up
    /// failed: another thread took what the notifier offered), in the place of its first
    /// registration, so that among equal ranks it keeps its seniority; otherwise as
    /// [`register`](Self::register).
    pub(crate) fn register_again(&self, spent: Ticket, rank: u32, signal: Signal) -> Ticket {
        self.enqueue(spent.key, rank, signal, Some(spent.id))
    }

    /// Queues an entry: a new one at the back, or one with an `earlier` id in its place.
    fn enqueue(&self, key: u64, rank: u32, signal: Signal, earlier: Option<u64>) -> Ticket {
        let mut queue = self.lock();
        let (id, at) = match earlier {
            None => {
                let id = queue.next_id;
                queue.next_id = id.wrapping_add(1);
                (id, queue.entries.len())
            }
            // The entries are in the order of their ids.
            Some(id) => (id, queue.entries.partition_point(|e| e.id < id)),
        };
        queue.entries.insert(
            at,
            Entry {
                key,
                rank,
                id,
                signal,
            },
        );
        debug_assert!(queue.position(id) == Some(at), "ids are unique");
        // ORDERING: SeqCst read-modify-write: the waiter's half of the store-buffering
        // handshake with the notifier's `SeqCst` load in `has_waiters` (step (1):
        // docs/DESIGN.md, "Waits").
        self.waiters.fetch_add(1, Ordering::SeqCst);
        // Relaxed: under the lock, which orders every change of the count but the fast-path
        // load; a check only.
        debug_assert!(self.waiters.load(Ordering::Relaxed) >= queue.entries.len());
        drop(queue);
        Ticket { key, id }
    }

    /// Ends a registration that will not sleep (the operation succeeded, the wait is given up,
    /// a future is dropped). If a notification had already chosen this waiter, it is passed on
    /// to the next waiter with the same key, so that it is not lost. Returns whether it was.
    pub(crate) fn cancel(&self, ticket: Ticket) -> bool {
        let mut queue = self.lock();
        match queue.position(ticket.id) {
            Some(at) => {
                let entry = queue.entries.remove(at);
                // Relaxed: under the lock, which orders it with every other change of the
                // count except the notifiers' fast-path load, which an over-count only sends
                // to the lock.
                self.waiters.fetch_sub(1, Ordering::Relaxed);
                drop(queue);
                // Its waker's drop may re-enter this list: after unlocking.
                drop_outside_lock(entry);
                false
            }
            None => {
                self.pass_on(queue, ticket.key);
                true
            }
        }
    }

    /// Parks the thread until `parked` is notified, or until `deadline` if any. Returns `true`
    /// when notified; `false` when the deadline passed first (the entry is then removed).
    pub(crate) fn park(&self, ticket: &Ticket, parked: &Parked, deadline: Option<Instant>) -> bool {
        loop {
            if parked.is_notified() {
                return true;
            }
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        let mut queue = self.lock();
                        let Some(at) = queue.position(ticket.id) else {
                            drop(queue);
                            // A notifier removed us and is about to set the flag: the
                            // notification is ours; wait the instant it takes.
                            while !parked.is_notified() {
                                thread::yield_now();
                            }
                            return true;
                        };
                        let entry = queue.entries.remove(at);
                        // Relaxed: as in `cancel`.
                        self.waiters.fetch_sub(1, Ordering::Relaxed);
                        drop(queue);
                        drop_outside_lock(entry);
                        return false;
                    }
                    park_timeout(deadline - now);
                }
            }
        }
    }

    /// A task's version of [`park`](Self::park): `true` when the ticket was notified (the
    /// registration is over); otherwise remembers `waker` for the notification and answers
    /// `false`.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn poll(&self, ticket: &Ticket, waker: &Waker) -> bool {
        let queue = self.lock();
        let Some(at) = queue.position(ticket.id) else {
            return true;
        };
        if matches!(&queue.entries[at].signal, Signal::Task(old) if old.will_wake(waker)) {
            return false;
        }
        drop(queue);
        // Cloning the new waker and dropping the old one are user code, which may re-enter
        // this list: neither runs under the lock. Meanwhile a notifier may take the entry.
        let new = Signal::Task(waker.clone());
        let mut queue = self.lock();
        let (notified, unused) = match queue.position(ticket.id) {
            Some(at) => (
                false,
                core::mem::replace(&mut queue.entries[at].signal, new),
            ),
            None => (true, new),
        };
        drop(queue);
        drop_outside_lock(unused);
        notified
    }

    /// Whether any waiter may be queued or about to be. The notifiers' fast path.
    #[inline]
    fn has_waiters(&self) -> bool {
        loom_seq_cst_fence();
        // ORDERING: SeqCst load: the notifier's half of the store-buffering handshake with the
        // SeqCst `fetch_add` in `register`; the caller's state change is a SeqCst RMW that
        // precedes this load in the total order (step (b): docs/DESIGN.md, "Waits").
        self.waiters.load(Ordering::SeqCst) != 0
    }

    /// Wakes the first waiter queued under `key`, if any; call after a change of state that
    /// lets one such waiter proceed (one item published, one slot freed). Waiters under other
    /// keys are not disturbed.
    #[inline]
    pub(crate) fn notify_one(&self, key: u64) {
        if self.has_waiters() {
            self.notify_one_slow(key);
        }
    }

    #[cold]
    fn notify_one_slow(&self, key: u64) {
        let mut queue = self.lock();
        let next = self.take_next(&mut queue, key);
        // Signal after unlocking, so that the woken thread does not block on the lock at once.
        // Still no lost wake-up: the entry is gone, which the waiter checks under the lock.
        drop(queue);
        if let Some(signal) = next {
            signal.wake();
        }
    }

    /// Removes the entry under `key` to serve next (the highest rank; of those, the first
    /// queued) and returns how to wake its owner.
    fn take_next(&self, queue: &mut Queue, key: u64) -> Option<Signal> {
        self.take_best(queue, key, |_| true)
    }

    /// As [`take_next`](Self::take_next), among the entries that `eligible` accepts.
    fn take_best(
        &self,
        queue: &mut Queue,
        key: u64,
        eligible: impl Fn(&Entry) -> bool,
    ) -> Option<Signal> {
        let mut best: Option<(usize, u32)> = None;
        for (at, e) in queue.entries.iter().enumerate() {
            if e.key == key && eligible(e) && !matches!(best, Some((_, rank)) if rank >= e.rank) {
                best = Some((at, e.rank));
            }
        }
        let (at, _) = best?;
        let entry = queue.entries.remove(at)?;
        // Relaxed: as in `cancel`.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        #[cfg(all(test, not(loom)))]
        self.woken.fetch_add(1, Ordering::Relaxed);
        Some(entry.signal)
    }

    /// Wakes every queued waiter, whatever its key; call after a change that concerns them all
    /// (closing).
    #[inline]
    pub(crate) fn notify_all(&self) {
        notify_all_of([self]);
    }

    /// How many waiters are queued (a snapshot).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn queued(&self) -> usize {
        self.lock().entries.len()
    }
}

/// Wakes every waiter queued on each of `lists` (as [`WaitList::notify_all`] each). A task's
/// waker that panics (user code) does not stop the others: every list is still notified, and
/// the first panic goes on afterwards (unless this thread is already unwinding).
pub(crate) fn notify_all_of<'a>(lists: impl IntoIterator<Item = &'a WaitList>) {
    let mut panic = None;
    for list in lists {
        if !list.has_waiters() {
            continue;
        }
        let mut queue = list.lock();
        let all = core::mem::take(&mut queue.entries);
        // Relaxed: as in `cancel`.
        list.waiters.fetch_sub(all.len(), Ordering::Relaxed);
        #[cfg(all(test, not(loom)))]
        list.woken.fetch_add(all.len(), Ordering::Relaxed);
        drop(queue);
        for entry in all {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| entry.signal.wake())) {
                panic.get_or_insert(p);
            }
        }
    }
    resume_waker_panic(panic);
}

/// Parks for at most `timeout`; under loom, which models no time, until unparked (a model's
/// waits never time out, so a lost wake-up shows as a deadlock).
fn park_timeout(timeout: Duration) {
    #[cfg(loom)]
    {
        let _ = timeout;
        thread::park();
    }
    #[cfg(not(loom))]
    thread::park_timeout(timeout);
}
