//! Tests of the wait list and the spin policy.

use super::backoff::{SpinPolicy, SPIN_STEPS};
use super::*;
use crate::sync::{fence, Arc, AtomicBool};

/// An `attempt` that meets the contract: a SeqCst fence, then a read of the state.
fn ready(flag: &AtomicBool) -> Option<()> {
    fence(Ordering::SeqCst);
    // Relaxed: ordered by the fence above, as a wait requires (docs/DESIGN.md, "Waits").
    flag.load(Ordering::Relaxed).then_some(())
}

#[test]
fn an_immediate_success_never_registers() {
    let list = WaitList::new();
    assert_eq!(
        list.wait_until(0, 0, None, Spin::Always, || Some(7)),
        Some(7)
    );
    assert_eq!(list.waiters.load(Ordering::Relaxed), 0);
    assert!(!list.has_waiters());
}

#[test]
fn an_attempt_that_unwinds_leaves_no_waiter_queued() {
    let list = WaitList::new();
    // Panics once the waiter is queued, as a panicking `Eq` would in a market's attempt.
    let unwound = std::panic::catch_unwind(|| {
        list.wait_until(3, 0, None, Spin::Always, || -> Option<()> {
            assert_eq!(list.queued(), 0, "the attempt of a registered waiter");
            None
        })
    });
    assert!(unwound.is_err());
    assert_eq!(
        list.queued(),
        0,
        "the registration ended with the unwinding"
    );
    assert_eq!(list.waiters.load(Ordering::Relaxed), 0);
    // A notification now finds nobody to swallow it.
    list.notify_one(3);
    assert_eq!(list.woken.load(Ordering::Relaxed), 0);
}

#[test]
fn a_notified_waiter_whose_attempt_unwinds_passes_the_notification_on() {
    let list = WaitList::new();
    let (go, second_may) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|s| {
        let first = s.spawn(|| {
            std::panic::catch_unwind(|| {
                list.wait_until(3, 0, None, Spin::Always, || {
                    if go.load(Ordering::SeqCst) {
                        // The notified attempt fails by unwinding, after letting the second
                        // waiter succeed.
                        second_may.store(true, Ordering::SeqCst);
                        panic!("a panicking attempt");
                    }
                    None::<()>
                })
            })
        });
        while list.queued() < 1 {
            std::thread::yield_now();
        }
        let second = s.spawn(|| {
            list.wait_until(3, 0, Some(Duration::from_secs(5)), Spin::Always, || {
                // Only once its own entry is gone, i.e. once notified: the registered
                // attempt cannot succeed by itself, whatever the schedule.
                (ready(&second_may).is_some() && list.queued() == 0).then_some(())
            })
        });
        while list.queued() < 2 {
            std::thread::yield_now();
        }
        go.store(true, Ordering::SeqCst);
        list.notify_one(3); // the first queued: the waiter that unwinds
        assert!(first.join().unwrap().is_err());
        assert_eq!(second.join().unwrap(), Some(()));
    });
    // The second waiter was notified too (by the pass-on), rather than timing out or
    // succeeding by itself with its entry still queued.
    assert_eq!(list.woken.load(Ordering::Relaxed), 2);
    assert_eq!(list.queued(), 0);
}

#[test]
fn a_timed_out_wait_returns_none_and_unregisters() {
    let list = WaitList::new();
    let flag = AtomicBool::new(false);
    let start = Instant::now();
    let timeout = Duration::from_millis(20);
    assert_eq!(
        list.wait_until(0, 0, Some(timeout), Spin::Always, || ready(&flag)),
        None
    );
    assert!(start.elapsed() >= timeout);
    assert_eq!(list.waiters.load(Ordering::Relaxed), 0);
    assert_eq!(list.woken.load(Ordering::Relaxed), 0, "nobody notified");
}

#[test]
fn a_notification_wakes_a_parked_waiter() {
    for _ in 0..if cfg!(miri) { 2 } else { 50 } {
        let list = WaitList::new();
        let flag = AtomicBool::new(false);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| list.wait_until(0, 0, None, Spin::Always, || ready(&flag)));
            // Give the waiter a chance to park; correctness does not depend on it.
            std::thread::sleep(Duration::from_millis(1));
            // ORDERING: SeqCst RMW: the state change the module docs require.
            flag.swap(true, Ordering::SeqCst);
            list.notify_one(0);
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
            .map(|_| s.spawn(|| list.wait_until(0, 0, None, Spin::Always, || ready(&flag))))
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
fn notify_one_wakes_only_a_waiter_with_that_key() {
    let list = WaitList::new();
    let flags: Vec<AtomicBool> = (0..4).map(|_| AtomicBool::new(false)).collect();
    std::thread::scope(|s| {
        let waiters: Vec<_> = (0..4u64)
            .map(|k| {
                let (list, flag) = (&list, &flags[k as usize]);
                s.spawn(move || list.wait_until(k, 0, None, Spin::Learnt, || ready(flag)))
            })
            .collect();
        while list.queued() < 4 {
            std::thread::yield_now();
        }
        // ORDERING: SeqCst RMW, the state change the module docs require.
        flags[2].swap(true, Ordering::SeqCst);
        list.notify_one(2);
        assert_eq!(
            waiters.into_iter().nth(2).unwrap().join().unwrap(),
            Some(())
        );
        assert_eq!(list.woken.load(Ordering::Relaxed), 1);
        assert_eq!(list.queued(), 3, "the other keys still wait");
        for flag in &flags {
            // ORDERING: SeqCst RMW, as above.
            flag.swap(true, Ordering::SeqCst);
        }
        list.notify_all();
    });
    assert_eq!(list.waiters.load(Ordering::Relaxed), 0);
}

#[test]
fn notify_one_serves_the_highest_rank_then_the_first_queued() {
    let list = WaitList::new();
    let low = list.register(5, 0, Signal::Thread(Parked::current()));
    let high = list.register(5, 2, Signal::Thread(Parked::current()));
    let high_later = list.register(5, 2, Signal::Thread(Parked::current()));
    let other_key = list.register(6, 9, Signal::Thread(Parked::current()));
    let queued = |t: &Ticket| list.lock().position(t.id).is_some();
    list.notify_one(5);
    assert!(!queued(&high), "the highest rank, first of two");
    assert!(queued(&low) && queued(&high_later) && queued(&other_key));
    list.notify_one(5);
    assert!(!queued(&high_later));
    assert!(queued(&low), "rank 0 comes last");
    list.notify_one(5);
    assert!(!queued(&low));
    assert!(queued(&other_key), "another key is never served");
    assert!(!list.cancel(other_key));
    assert_eq!(list.waiters.load(Ordering::Relaxed), 0);
}

#[test]
fn a_waiter_queued_again_after_a_spent_notification_keeps_its_place() {
    let list = WaitList::new();
    let first = list.register(5, 0, Signal::Thread(Parked::current()));
    let second = list.register(5, 0, Signal::Thread(Parked::current()));
    let queued = |t: &Ticket| list.lock().position(t.id);
    list.notify_one(5);
    assert_eq!(queued(&first), None, "the first queued is served");
    // Its attempt failed (another thread took the item): it queues again...
    let first = list.register_again(first, 0, Signal::Thread(Parked::current()));
    assert_eq!(
        (queued(&first), queued(&second)),
        (Some(0), Some(1)),
        "... ahead of the waiter that came after it"
    );
    let third = list.register(5, 0, Signal::Thread(Parked::current()));
    list.notify_one(5);
    assert_eq!(queued(&first), None, "and is served first again");
    assert_eq!((queued(&second), queued(&third)), (Some(0), Some(1)));
    assert!(!list.cancel(second) && !list.cancel(third));
    assert_eq!(list.waiters.load(Ordering::Relaxed), 0);
}

#[test]
fn a_cancelled_notified_ticket_passes_the_notification_on() {
    let list = WaitList::new();
    let first = list.register(5, 0, Signal::Thread(Parked::current()));
    let second_parked = Parked::current();
    let second = list.register(5, 0, Signal::Thread(Arc::clone(&second_parked)));
    let other = list.register(6, 0, Signal::Thread(Parked::current()));
    list.notify_one(5); // chooses `first`
    assert_eq!(list.queued(), 2);
    assert!(list.cancel(first), "it had been notified");
    assert_eq!(list.queued(), 1, "passed on to `second`");
    assert!(list.park(&second, &second_parked, Some(Instant::now())));
    assert!(!list.cancel(other));
    assert_eq!(list.waiters.load(Ordering::Relaxed), 0);
}

#[test]
fn spinning_stops_when_it_does_not_pay_and_is_tried_again_now_and_then() {
    // A fresh thread, so that no earlier wait has taught the policy anything.
    std::thread::spawn(|| {
        let fail = |n: u8| {
            for _ in 0..n {
                assert!(SpinPolicy::should_spin());
                SpinPolicy::record(false);
            }
        };
        fail(SpinPolicy::GAIN);
        assert!(!SpinPolicy::should_spin(), "out of credit");
        let probes = (1..3 * u32::from(SpinPolicy::PROBE_EVERY))
            .filter(|_| SpinPolicy::should_spin())
            .count();
        assert_eq!(probes, 3, "one probe every PROBE_EVERY waits");
        // A probe that pays: credit again, enough for GAIN failures.
        SpinPolicy::record(true);
        fail(SpinPolicy::GAIN);
        assert!(!SpinPolicy::should_spin());
        for _ in 0..SpinPolicy::PROBE_EVERY - 2 {
            assert!(!SpinPolicy::should_spin());
        }
        assert!(SpinPolicy::should_spin());
        SpinPolicy::record(true);
        // One success in GAIN keeps a thread spinning.
        for _ in 0..100 {
            fail(SpinPolicy::GAIN - 1);
            assert!(SpinPolicy::should_spin());
            SpinPolicy::record(true);
        }
        // Credit is capped: CREDIT_MAX failures in a row stop any spinning.
        for _ in 0..10 {
            assert!(SpinPolicy::should_spin());
            SpinPolicy::record(true);
        }
        fail(SpinPolicy::CREDIT_MAX);
        assert!(!SpinPolicy::should_spin());
    })
    .join()
    .unwrap();
}

#[test]
fn a_waiter_whose_spin_does_not_pay_sleeps_without_spinning() {
    std::thread::spawn(|| {
        let list = WaitList::new();
        let flag = AtomicBool::new(false);
        // Every try counts; a wait that times out without spinning tries three times:
        // once before, once after registering, once after the time-out.
        let tries = |spin: Spin| {
            let mut n = 0;
            let r = list.wait_until(0, 0, Some(Duration::ZERO), spin, || {
                n += 1;
                ready(&flag)
            });
            assert_eq!(r, None);
            n
        };
        let spun = 3 + SPIN_STEPS as usize;
        for _ in 0..SpinPolicy::GAIN {
            assert_eq!(tries(Spin::Learnt), spun, "a new thread's first waits spin");
        }
        let msg = "spinning did not pay: the next wait does not spin";
        assert_eq!(tries(Spin::Learnt), 3, "{msg}");
        // `Spin::Always` spins and yields on crossbeam's schedule, more steps than the learnt
        // spin's.
        assert!(tries(Spin::Always) > spun, "unless told to spin always");
        assert_eq!(tries(Spin::Learnt), 3, "which teaches the policy nothing");
    })
    .join()
    .unwrap();
}
