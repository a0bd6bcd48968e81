//! Wakers are user code (`--features async`): at every place the market clones, wakes or
//! drops one, a waker that re-enters the same wait list (drops or polls another future of the
//! same product) must not deadlock, and a waker that panics while the thread is already
//! unwinding must not abort the process.
#![cfg(feature = "async")]

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::thread;
use std::time::Duration;

use ringmarket::market::{AddFuture, WaitError};
use ringmarket::Market;

type Hook = Box<dyn FnOnce() + Send>;

/// What a [`hooked`] waker runs (each hook once) when cloned, woken, or dropped for the last
/// time.
#[derive(Default)]
struct Hooks {
    on_clone: Mutex<Option<Hook>>,
    on_wake: Mutex<Option<Hook>>,
    on_drop: Mutex<Option<Hook>>,
}

fn run(hook: &Mutex<Option<Hook>>) {
    let hook = hook.lock().unwrap().take();
    if let Some(hook) = hook {
        hook();
    }
}

impl Drop for Hooks {
    fn drop(&mut self) {
        run(&self.on_drop);
    }
}

/// When a hook runs.
enum On {
    Clone,
    Wake,
    Drop,
}

/// A waker that runs `f` once, `on` that event.
fn hooked_on(on: On, f: impl FnOnce() + Send + 'static) -> Waker {
    let hooks = Hooks::default();
    let slot = match on {
        On::Clone => &hooks.on_clone,
        On::Wake => &hooks.on_wake,
        On::Drop => &hooks.on_drop,
    };
    *slot.lock().unwrap() = Some(Box::new(f));
    hooked(hooks)
}

/// A waker that runs `hooks`.
fn hooked(hooks: Hooks) -> Waker {
    unsafe fn clone(p: *const ()) -> RawWaker {
        // SAFETY: `p` came from `Arc::into_raw` and the waker still owns that count.
        let a = ManuallyDrop::new(unsafe { Arc::from_raw(p.cast::<Hooks>()) });
        run(&a.on_clone);
        RawWaker::new(Arc::into_raw(Arc::clone(&a)).cast(), &VTABLE)
    }
    unsafe fn wake(p: *const ()) {
        // SAFETY: as in `clone`; `wake` consumes the waker's count.
        let a = unsafe { Arc::from_raw(p.cast::<Hooks>()) };
        run(&a.on_wake);
    }
    unsafe fn wake_by_ref(p: *const ()) {
        // SAFETY: as in `clone`.
        let a = ManuallyDrop::new(unsafe { Arc::from_raw(p.cast::<Hooks>()) });
        run(&a.on_wake);
    }
    unsafe fn drop(p: *const ()) {
        // SAFETY: as in `wake`.
        std::mem::drop(unsafe { Arc::from_raw(p.cast::<Hooks>()) });
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop);
    let p = Arc::into_raw(Arc::new(hooks)).cast();
    // SAFETY: the table's functions treat `p` as the `Arc<Hooks>` it is, one count per waker.
    unsafe { Waker::from_raw(RawWaker::new(p, &VTABLE)) }
}

fn noop() -> Waker {
    hooked(Hooks::default())
}

/// A waker whose `wake` panics.
fn panicky() -> Waker {
    hooked_on(On::Wake, || panic!("a waker that panics"))
}

fn poll<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

/// `Box::leak`, but the value stays reachable from a static, so that Miri's leak check (which
/// looks for allocations that no static reaches) does not count it.
fn leak<X: 'static>(x: X) -> &'static mut X {
    struct Kept(#[allow(dead_code)] *mut ());
    // SAFETY: never dereferenced: it only keeps the allocation reachable.
    unsafe impl Send for Kept {}
    static KEPT: Mutex<Vec<Kept>> = Mutex::new(Vec::new());
    let x = Box::into_raw(Box::new(x));
    KEPT.lock().unwrap().push(Kept(x.cast()));
    // SAFETY: from `Box::into_raw`, never freed; this is the only reference made from it.
    unsafe { &mut *x }
}

/// A pending future for product 5 of `market`, on a cart that lives as long as the test
/// binary.
fn pending(market: &Market<u32>) -> AddFuture<'static, u32> {
    let cart = leak(market.new_cart());
    let mut f = cart.add_async(&5);
    assert!(poll(&mut f, &noop()).is_pending());
    f
}

/// Runs `scenario` on another thread and fails the test if it does not end within 10 s (a
/// deadlock), instead of hanging.
fn watchdog(scenario: impl FnOnce() + Send + 'static) {
    let (done, ended) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(catch_unwind(AssertUnwindSafe(scenario)));
    });
    match ended.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => resume_unwind(panic),
        Err(_) => panic!("deadlock: a waker re-entered the wait list under its lock"),
    }
}

/// After a scenario: the list is usable, and an item published now reaches a cart.
fn still_usable(market: &Market<u32>) {
    let mut p = market.register_producer();
    let mut c = market.new_cart();
    p.publish(5).unwrap();
    assert_eq!(c.add_timeout(&5, Duration::from_secs(10)), Ok(()));
}

#[test]
fn a_waker_dropped_by_cancel_may_drop_a_future_of_the_same_product() {
    watchdog(|| {
        let market = Market::new(1).unwrap();
        let b = pending(&market);
        let w = hooked_on(On::Drop, move || drop(b));
        let mut a = pending(&market);
        assert!(poll(&mut a, &w).is_pending());
        drop(w);
        drop(a); // cancels: drops the last `w`, which drops `b`, which cancels too
        still_usable(&market);
    });
}

#[test]
fn a_waker_replaced_in_poll_may_drop_a_future_of_the_same_product() {
    watchdog(|| {
        let market = Market::new(1).unwrap();
        let b = pending(&market);
        let w = hooked_on(On::Drop, move || drop(b));
        let mut a = pending(&market);
        assert!(poll(&mut a, &w).is_pending());
        drop(w);
        assert!(poll(&mut a, &noop()).is_pending(), "replaces and drops `w`");
        drop(a);
        still_usable(&market);
    });
}

#[test]
fn a_waker_cloned_in_poll_may_poll_a_future_of_the_same_product() {
    watchdog(|| {
        let market = Market::new(1).unwrap();
        let mut b = pending(&market);
        let w = hooked_on(On::Clone, move || {
            assert!(poll(&mut b, &noop()).is_pending());
            drop(b);
        });
        let mut a = pending(&market);
        assert!(poll(&mut a, &w).is_pending(), "clones `w` for the entry");
        drop(a);
        still_usable(&market);
    });
}

/// A waker woken by a publish (`notify_one`), by a dropped notified future (`cancel` passing
/// the notification on) and by `close` (`notify_all`) drops a future of the same product.
#[test]
fn a_woken_waker_may_drop_a_future_of_the_same_product() {
    for site in ["publish", "pass on", "close"] {
        watchdog(move || {
            let market = Market::new(1).unwrap();
            let mut first = pending(&market);
            let mut a = pending(&market);
            let b = pending(&market);
            let w = hooked_on(On::Wake, move || drop(b));
            let mut p = market.register_producer();
            match site {
                "publish" => {
                    drop(first);
                    assert!(poll(&mut a, &w).is_pending());
                    p.publish(5).unwrap(); // wakes `a`
                    assert_eq!(poll(&mut a, &noop()), Poll::Ready(Ok(())));
                }
                "pass on" => {
                    assert!(poll(&mut a, &w).is_pending());
                    p.publish(5).unwrap(); // chooses `first`
                    drop(first); // passes it on to `a`
                    assert_eq!(poll(&mut a, &noop()), Poll::Ready(Ok(())));
                }
                _ => {
                    assert!(poll(&mut first, &noop()).is_pending());
                    assert!(poll(&mut a, &w).is_pending());
                    market.close();
                    assert_eq!(poll(&mut a, &noop()), Poll::Ready(Err(WaitError::Closed)));
                    drop(first);
                }
            }
            drop((w, a));
        });
    }
}

/// Runs `scenario` in a child process (this test binary, filtered to the calling test), so
/// that an abort (a panic while unwinding) fails the test instead of killing the test run.
fn in_child(test: &str, scenario: impl FnOnce()) {
    const CHILD: &str = "RINGMARKET_WAKERS_CHILD";
    if cfg!(miri) || std::env::var(CHILD).as_deref() == Ok(test) {
        scenario();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{test} in a child process: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `scenario`, which panics with "the first panic", on a thread; the thread must end
/// with that panic, not abort.
fn unwinds(scenario: impl FnOnce() + Send + 'static) {
    let panic = thread::spawn(scenario).join().unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"the first panic"));
}

#[test]
fn a_notified_future_dropped_by_a_panic_passes_its_wake_up_on_to_a_panicking_waker() {
    in_child(
        "a_notified_future_dropped_by_a_panic_passes_its_wake_up_on_to_a_panicking_waker",
        || {
            unwinds(|| {
                let market = Market::new(1).unwrap();
                let first = pending(&market);
                let mut b = pending(&market);
                assert!(poll(&mut b, &panicky()).is_pending());
                market.register_producer().publish(5).unwrap(); // chooses `first`
                let _first = first;
                panic!("the first panic"); // drops `first`: it passes the wake-up on to `b`
            });
        },
    );
}

#[test]
fn close_while_unwinding_reaches_a_panicking_waker() {
    in_child("close_while_unwinding_reaches_a_panicking_waker", || {
        unwinds(|| {
            struct CloseOnDrop(Market<u32>);
            impl Drop for CloseOnDrop {
                fn drop(&mut self) {
                    self.0.close();
                }
            }
            let market = Market::new(1).unwrap();
            let mut a = pending(&market);
            assert!(poll(&mut a, &panicky()).is_pending());
            let _close = CloseOnDrop(market);
            panic!("the first panic");
        });
    });
}

#[test]
fn the_last_other_handle_dropped_while_unwinding_reaches_a_panicking_waker() {
    in_child(
        "the_last_other_handle_dropped_while_unwinding_reaches_a_panicking_waker",
        || {
            unwinds(|| {
                let market = Market::<u32>::new(1).unwrap();
                let mut cart = market.new_cart();
                let mut a = cart.add_async(&5);
                assert!(poll(&mut a, &panicky()).is_pending());
                let _market = market; // dropped first: the cart is then the last handle
                panic!("the first panic");
            });
        },
    );
}

#[test]
fn a_reservation_while_unwinding_reaches_a_panicking_producer_waker() {
    in_child(
        "a_reservation_while_unwinding_reaches_a_panicking_producer_waker",
        || {
            unwinds(|| {
                struct AddOnDrop(ringmarket::market::Cart<u32>);
                impl Drop for AddOnDrop {
                    fn drop(&mut self) {
                        assert!(self.0.add(&1)); // frees room: wakes the producer's task
                    }
                }
                let market = Market::<u32>::new(1).unwrap();
                let mut p = market.register_producer();
                p.publish(1).unwrap();
                let mut publishing = p.publish_async(2);
                assert!(poll(&mut publishing, &panicky()).is_pending());
                let _add = AddOnDrop(market.new_cart());
                panic!("the first panic");
            });
        },
    );
}

/// Equal by the number, hashed alike; compares with a panic once `touchy` is set.
#[derive(Debug)]
struct Touchy(u32);

static TOUCHY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        if TOUCHY.load(std::sync::atomic::Ordering::SeqCst) {
            panic!("the first panic");
        }
        self.0 == other.0
    }
}

impl Eq for Touchy {}

impl std::hash::Hash for Touchy {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

/// A reservation whose `Eq` panics wakes a waiter of the product while it unwinds.
#[test]
fn an_eq_that_panics_wakes_a_panicking_waker_while_unwinding() {
    in_child(
        "an_eq_that_panics_wakes_a_panicking_waker_while_unwinding",
        || {
            unwinds(|| {
                static TWO: Touchy = Touchy(2);
                let market = Market::new(1).unwrap();
                market.register_producer().publish(Touchy(1)).unwrap();
                let cart = leak(market.new_cart());
                let mut b = cart.add_async(&TWO);
                assert!(poll(&mut b, &panicky()).is_pending());
                TOUCHY.store(true, std::sync::atomic::Ordering::SeqCst);
                market.new_cart().add(&Touchy(1));
            });
        },
    );
}
