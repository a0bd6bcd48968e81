//! A reservation waits for another reservation's verdict (its user `Eq`) on an item of its
//! hash, but never without end: not from inside a reservation's `Eq` (the verdict may be its
//! own thread's), and not past a wait's deadline.
use std::cell::Cell;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ringmarket::market::CartId;
use ringmarket::Market;

thread_local! {
    /// The market and a second cart that `Eq` uses, once, on this thread.
    static REENTER: Cell<Option<(*const Market<Key>, CartId, bool)>> = const { Cell::new(None) };
}

#[derive(Debug)]
struct Key(u32);

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        if let Some((m, cart, wait)) = REENTER.with(|r| r.take()) {
            // SAFETY: the market outlives the call that set it (the test holds it).
            let m = unsafe { &*m };
            if wait {
                // A wait with a short time-out (the id API has none: a handle cart), which
                // must end by itself.
                let _ = m.new_cart().add_timeout(&Key(1), Duration::from_millis(10));
            } else {
                let _ = m.add_to_cart(cart, &Key(self.0));
            }
        }
        self.0 == other.0
    }
}
impl Eq for Key {}

/// Runs `f` on a thread and reports whether it finished within `limit`.
fn finishes(limit: Duration, f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(limit).is_ok()
}

#[test]
fn eq_that_reserves_in_the_same_market_does_not_hang() {
    assert!(
        finishes(Duration::from_secs(10), || {
            let market = Market::new(1).unwrap();
            let p = market.register_producer_id();
            let outer = market.new_cart_id();
            let inner = market.new_cart_id();
            market.publish(p, Key(1)).unwrap();
            REENTER.with(|r| r.set(Some((&market as *const _, inner, false))));
            // The outer reservation claims the only Key(1), then its Eq asks for another.
            assert_eq!(market.add_to_cart(outer, &Key(1)), Ok(true));
        }),
        "a reservation made from inside Eq spins forever on the outer reservation's claim"
    );
}

#[test]
fn eq_that_waits_with_a_time_out_in_the_same_market_does_not_hang() {
    assert!(
        finishes(Duration::from_secs(10), || {
            let market = Market::new(1).unwrap();
            let p = market.register_producer_id();
            let outer = market.new_cart_id();
            market.publish(p, Key(1)).unwrap();
            REENTER.with(|r| r.set(Some((&market as *const _, CartId::new(0), true))));
            assert_eq!(market.add_to_cart(outer, &Key(1)), Ok(true));
        }),
        "add_timeout(10ms) from inside Eq ignores its time-out and spins forever"
    );
}

/// A product whose `Eq` blocks, on one thread, until told to go on.
#[derive(Debug)]
struct Slow(u32, bool);
impl std::hash::Hash for Slow {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h);
    }
}
static GATE: std::sync::Mutex<()> = std::sync::Mutex::new(());
static IN_EQ: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
impl PartialEq for Slow {
    fn eq(&self, other: &Self) -> bool {
        if self.1 || other.1 {
            IN_EQ.store(true, std::sync::atomic::Ordering::SeqCst);
            drop(GATE.lock().unwrap());
        }
        self.0 == other.0
    }
}
impl Eq for Slow {}

/// `add_timeout` with a time-out on another thread must end near its time-out even while
/// another thread's `Eq` takes long over an item of the same product.
#[test]
fn add_wait_time_out_is_honoured_while_another_eq_is_slow() {
    let market = Market::new(1).unwrap();
    let mut p = market.register_producer();
    p.publish(Slow(1, false)).unwrap();
    let gate = GATE.lock().unwrap();
    let mut slow_cart = market.new_cart();
    let slow = thread::spawn(move || slow_cart.add(&Slow(1, true)));
    while !IN_EQ.load(std::sync::atomic::Ordering::SeqCst) {
        thread::yield_now();
    }
    let mut waiter = market.new_cart();
    let ok = finishes(Duration::from_secs(5), move || {
        let _ = waiter.add_timeout(&Slow(1, false), Duration::from_millis(10));
    });
    drop(gate);
    assert!(slow.join().unwrap());
    assert!(
        ok,
        "add_timeout(10ms) was still running 5s later: it spins on another thread's claim"
    );
}
