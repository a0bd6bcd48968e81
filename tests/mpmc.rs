//! Single-threaded behaviour of `ringmarket::mpmc`: capacities, order, wrap-around, closing,
//! time-outs and drops.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ringmarket::mpmc::{
    channel, Closed, Disconnected, PopError, PopTimeoutError, PushError, PushTimeoutError, Ring,
};
use ringmarket::{Empty, ZeroCapacity};

#[test]
fn zero_capacity_is_refused() {
    assert_eq!(Ring::<u8>::new(0).err(), Some(ZeroCapacity));
    assert!(channel::<u8>(0).is_err());
}

#[test]
fn fifo_and_wrap_around_for_many_capacities() {
    // Odd capacities and powers of two, several laps each, at every fill level.
    let capacities: &[usize] = if cfg!(miri) {
        &[1, 2, 3, 5, 8]
    } else {
        &[1, 2, 3, 5, 7, 8, 100]
    };
    for &capacity in capacities {
        let ring = Ring::new(capacity).unwrap();
        let mut next_in = 0_u32;
        let mut next_out = 0_u32;
        for round in 0..2 * capacity + 1 {
            let fill = round % capacity + 1;
            for _ in 0..fill {
                ring.push(next_in).unwrap();
                next_in += 1;
            }
            assert_eq!(ring.len(), fill);
            for _ in 0..fill {
                assert_eq!(ring.pop(), Ok(next_out));
                next_out += 1;
            }
            assert_eq!(ring.pop(), Err(Empty));
            assert!(ring.is_empty());
        }
    }
}

#[test]
fn full_hands_the_value_back_and_len_stays_in_range() {
    for capacity in [1, 3, 4, 6] {
        let ring = Ring::new(capacity).unwrap();
        for i in 0..capacity {
            assert_eq!(ring.len(), i);
            ring.push(i).unwrap();
        }
        assert!(ring.is_full());
        assert_eq!(ring.len(), capacity);
        assert_eq!(ring.push(99).unwrap_err().into_inner(), 99);
        assert_eq!(ring.pop(), Ok(0));
        ring.push(capacity).unwrap();
        assert!(ring.push(100).is_err());
        for i in 1..=capacity {
            assert_eq!(ring.pop(), Ok(i));
        }
        assert_eq!(ring.pop(), Err(Empty));
    }
}

#[test]
fn zero_sized_values() {
    let ring = Ring::new(3).unwrap();
    for _ in 0..10 {
        ring.push(()).unwrap();
        ring.push(()).unwrap();
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.pop(), Ok(()));
        assert_eq!(ring.pop(), Ok(()));
        assert_eq!(ring.pop(), Err(Empty));
    }
}

#[test]
fn closing_is_distinct_from_empty() {
    let (tx, rx) = channel(3).unwrap();
    let tx2 = tx.clone();
    assert_eq!(rx.pop(), Err(PopError::Empty));
    tx.push(1).unwrap();
    drop(tx);
    // One producer remains: still only empty for now.
    assert_eq!(rx.pop(), Ok(1));
    assert_eq!(rx.pop(), Err(PopError::Empty));
    assert!(!rx.is_closed());
    tx2.push(2).unwrap();
    tx2.push(3).unwrap();
    drop(tx2);
    assert!(rx.is_closed());
    // Closed, but what was pushed before the close is still delivered, in order.
    assert_eq!(rx.pop(), Ok(2));
    assert_eq!(rx.pop_wait(), Ok(3));
    assert_eq!(rx.pop(), Err(PopError::Closed));
    assert_eq!(rx.pop_wait(), Err(Closed));
    assert_eq!(
        rx.pop_timeout(Duration::from_secs(60)),
        Err(PopTimeoutError::Closed)
    );
}

#[test]
fn disconnected_when_every_consumer_is_gone() {
    let (tx, rx) = channel(1).unwrap();
    let rx2 = rx.clone();
    drop(rx);
    tx.push(1).unwrap();
    assert_eq!(tx.push(2), Err(PushError::Full(2)));
    drop(rx2);
    assert_eq!(tx.push(3), Err(PushError::Disconnected(3)));
    assert_eq!(tx.push_wait(4), Err(Disconnected(4)));
    assert_eq!(
        tx.push_timeout(5, Duration::from_secs(60)),
        Err(PushTimeoutError::Disconnected(5))
    );
}

#[test]
fn timeouts_expire_and_hand_the_value_back() {
    let (tx, rx) = channel(1).unwrap();
    assert_eq!(
        rx.pop_timeout(Duration::from_millis(1)),
        Err(PopTimeoutError::Timeout)
    );
    tx.push_timeout(1, Duration::ZERO).unwrap();
    assert_eq!(
        tx.push_timeout(2, Duration::from_millis(1)),
        Err(PushTimeoutError::Timeout(2))
    );
    assert_eq!(rx.pop_timeout(Duration::ZERO), Ok(1));
    // A time-out too large to represent waits without a deadline; here there is a value.
    tx.push(3).unwrap();
    assert_eq!(rx.pop_timeout(Duration::MAX), Ok(3));
}

/// Counts its drops in a shared counter; panics on drop if told to.
struct Tracked<'a> {
    drops: &'a AtomicUsize,
    panic_on_drop: bool,
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
        if self.panic_on_drop {
            panic!("drop panics on purpose");
        }
    }
}

#[test]
fn values_left_in_the_ring_are_dropped_once() {
    for capacity in [1, 2, 5] {
        for left in 0..=capacity {
            let drops = AtomicUsize::new(0);
            let ring = Ring::new(capacity).unwrap();
            // Move the indices off zero so the remaining values straddle the wrap.
            for _ in 0..capacity / 2 + 1 {
                ring.push(Tracked {
                    drops: &drops,
                    panic_on_drop: false,
                })
                .unwrap_or_else(|_| panic!("room"));
                drop(ring.pop().unwrap());
            }
            let before = drops.load(Ordering::Relaxed);
            for _ in 0..left {
                ring.push(Tracked {
                    drops: &drops,
                    panic_on_drop: false,
                })
                .unwrap_or_else(|_| panic!("room"));
            }
            assert_eq!(drops.load(Ordering::Relaxed), before);
            drop(ring);
            assert_eq!(drops.load(Ordering::Relaxed), before + left);
        }
    }
}

#[test]
fn a_failed_push_does_not_drop_the_value() {
    let drops = AtomicUsize::new(0);
    let ring = Ring::new(1).unwrap();
    ring.push(Tracked {
        drops: &drops,
        panic_on_drop: false,
    })
    .unwrap_or_else(|_| panic!("room"));
    let back = ring
        .push(Tracked {
            drops: &drops,
            panic_on_drop: false,
        })
        .unwrap_err()
        .into_inner();
    assert_eq!(drops.load(Ordering::Relaxed), 0);
    drop(back);
    drop(ring);
    assert_eq!(drops.load(Ordering::Relaxed), 2);
}

#[test]
fn a_panicking_drop_does_not_leak_the_rest() {
    let drops = AtomicUsize::new(0);
    let ring = Ring::new(4).unwrap();
    for i in 0..4 {
        ring.push(Tracked {
            drops: &drops,
            panic_on_drop: i == 1,
        })
        .unwrap_or_else(|_| panic!("room"));
    }
    let result = catch_unwind(AssertUnwindSafe(move || drop(ring)));
    assert!(result.is_err(), "the panic propagates");
    assert_eq!(drops.load(Ordering::Relaxed), 4, "every value dropped once");
}

#[test]
fn channel_drops_leftovers_when_the_last_handle_goes() {
    let drops = AtomicUsize::new(0);
    let (tx, rx) = channel(3).unwrap();
    for _ in 0..3 {
        tx.push(Tracked {
            drops: &drops,
            panic_on_drop: false,
        })
        .unwrap_or_else(|_| panic!("room"));
    }
    drop(rx.pop().unwrap());
    drop(tx);
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    drop(rx);
    assert_eq!(drops.load(Ordering::Relaxed), 3);
}

#[test]
fn handles_are_send_and_sync_but_values_need_not_be_sync() {
    fn assert_send_sync<X: Send + Sync>() {}
    // `Cell` is `Send` but not `Sync`: the ring moves values, it never shares them.
    assert_send_sync::<Ring<Cell<u8>>>();
    assert_send_sync::<ringmarket::mpmc::Producer<Cell<u8>>>();
    assert_send_sync::<ringmarket::mpmc::Consumer<Cell<u8>>>();
}

#[test]
fn errors_describe_themselves_without_showing_the_value() {
    struct Opaque;
    assert_eq!(format!("{:?}", PushError::Full(Opaque)), "Full(..)");
    assert_eq!(
        format!("{:?}", PushTimeoutError::Disconnected(Opaque)),
        "Disconnected(..)"
    );
    assert!(PopError::Closed.to_string().contains("closed"));
    assert!(Closed.to_string().contains("no producer"));
}

/// A zero-sized value whose drops are counted in a static.
struct CountedZst;

static ZST_DROPS: AtomicUsize = AtomicUsize::new(0);

impl Drop for CountedZst {
    fn drop(&mut self) {
        ZST_DROPS.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn zero_sized_values_with_drop_are_dropped_once() {
    let ring = Ring::new(1).unwrap();
    ring.push(CountedZst).unwrap_or_else(|_| panic!("room"));
    drop(ring.push(CountedZst).unwrap_err().into_inner());
    assert_eq!(ZST_DROPS.load(Ordering::Relaxed), 1);
    drop(ring.pop().unwrap());
    assert_eq!(ZST_DROPS.load(Ordering::Relaxed), 2);
    ring.push(CountedZst).unwrap_or_else(|_| panic!("room"));
    drop(ring);
    assert_eq!(ZST_DROPS.load(Ordering::Relaxed), 3);
}

/// Keeps `value` without ever dropping it, as `mem::forget` does, but reachable from a static so
/// that Miri's leak check does not report the leak that forgetting a handle means.
fn forget<T: Send + 'static>(value: T) {
    static FORGOTTEN: std::sync::Mutex<Vec<Box<dyn std::any::Any + Send>>> =
        std::sync::Mutex::new(Vec::new());
    FORGOTTEN.lock().unwrap().push(Box::new(value));
}

#[test]
fn forgetting_channel_handles_leaves_the_channel_sound_and_open() {
    // The channel has no guards or iterators: its only `Drop`s count handles out. Forgetting a
    // handle leaks the channel and keeps it open (or connected); it must not do more.
    let (tx, rx) = channel::<String>(2).unwrap();
    forget(tx.clone());
    forget(rx.clone());
    for round in 0..5 {
        tx.push(format!("a{round}")).unwrap();
        tx.push(format!("b{round}")).unwrap();
        assert!(matches!(tx.push(String::new()), Err(PushError::Full(_))));
        assert_eq!(rx.pop().as_deref(), Ok(&*format!("a{round}")));
        assert_eq!(rx.pop().as_deref(), Ok(&*format!("b{round}")));
    }
    drop(tx);
    // A forgotten producer never leaves: empty for now, never closed.
    assert_eq!(rx.pop(), Err(PopError::Empty));
    assert!(!rx.is_closed());
    let rx2 = rx.clone();
    drop(rx);
    assert_eq!(rx2.pop(), Err(PopError::Empty));
    drop(rx2);
}
