//! What the producers and consumers share, as threads or as tasks: the units on the market,
//! the stop signal, each one's counters and state for the stall report, and their messages.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use super::output::Sink;
use super::WaitMode;
use crate::scenario::Scenario;

/// The longest scaled wait; beyond it a wait is as good as forever.
const MAX_WAIT_SECS: f64 = 365.0 * 24.0 * 3600.0;

/// A unit on the market: equal (and hashed) by its product's Python equality class, so that a
/// consumer asking for a product may get any equal one, as with Python's `==`; it remembers
/// which product definition was published, for printing.
#[derive(Clone, Copy, Debug)]
pub struct Unit {
    class: u32,
    pub(super) product: u32,
}

impl PartialEq for Unit {
    fn eq(&self, other: &Self) -> bool {
        self.class == other.class
    }
}

impl Eq for Unit {}

impl Hash for Unit {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.class.hash(state);
    }
}

pub(super) fn unit(scenario: &Scenario, product: usize) -> Unit {
    Unit {
        class: scenario.products[product].equal_class as u32,
        product: product as u32,
    }
}

/// Set once every consumer is done: producers stop at their next wait.
pub(super) struct Stop {
    flag: AtomicBool,
    lock: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    pub(super) fn new() -> Self {
        Stop {
            flag: AtomicBool::new(false),
            lock: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    pub(super) fn is_set(&self) -> bool {
        // ORDERING: pairs with the Release store in `set`; nothing else is published through
        // the flag, the Acquire only makes the stop visible promptly and in order.
        self.flag.load(Ordering::Acquire)
    }

    pub(super) fn set(&self) {
        let mut stopped = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        *stopped = true;
        // ORDERING: pairs with the Acquire load in `is_set`.
        self.flag.store(true, Ordering::Release);
        self.cv.notify_all();
    }

    /// Sleeps for `d` or until stopped; true when stopped.
    pub(super) fn sleep(&self, d: Duration) -> bool {
        if self.is_set() {
            return true;
        }
        if d.is_zero() {
            thread::yield_now();
            return self.is_set();
        }
        let deadline = Instant::now() + d;
        let mut stopped = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if *stopped {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stopped = self
                .cv
                .wait_timeout(stopped, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// What a thread is doing, for the stall report.
#[derive(Clone, Copy, Debug)]
pub(super) enum Doing {
    Running,
    /// A consumer waiting to add `product` (unit `unit` of `of` of operation `op` in cart `cart`).
    Adding {
        cart: usize,
        op: usize,
        unit: u64,
        of: u64,
        product: usize,
    },
    /// A producer waiting for room to publish `product`.
    Publishing {
        product: usize,
    },
    Done,
}

/// One thread's counters, written by that thread only.
pub(super) struct Slot {
    /// Successful market operations so far (publish, add, remove, place order).
    ops: CachePadded<AtomicU64>,
    doing: Mutex<Doing>,
}

impl Slot {
    pub(super) fn new() -> Self {
        Slot {
            ops: CachePadded::new(AtomicU64::new(0)),
            doing: Mutex::new(Doing::Running),
        }
    }

    pub(super) fn tick(&self) {
        // Relaxed: a counter read only for progress and totals; no data hangs on it.
        self.ops.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn set(&self, doing: Doing) {
        *self.doing.lock().unwrap_or_else(|e| e.into_inner()) = doing;
    }

    pub(super) fn get(&self) -> Doing {
        *self.doing.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn ops(&self) -> u64 {
        // Relaxed: see `tick`.
        self.ops.load(Ordering::Relaxed)
    }
}

/// The scaled duration of a wait given in seconds.
pub(super) fn scaled(secs: f64, scale: f64) -> Duration {
    Duration::from_secs_f64((secs * scale).clamp(0.0, MAX_WAIT_SECS))
}

/// A list of units as their reprs, `[A(..), B(..)]`, formatted only when logged.
pub(super) struct Reprs<'a>(pub &'a Scenario, pub &'a [Unit]);

impl fmt::Display for Reprs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, u) in self.1.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&self.0.products[u.product as usize].repr)?;
        }
        f.write_str("]")
    }
}

/// What consumer threads tell the main thread.
pub(super) enum Msg {
    /// One placed order, its lines written.
    Cart,
    /// A consumer has placed all its orders.
    ConsumerDone,
}

pub(super) struct Ctx {
    pub scenario: Scenario,
    pub mode: WaitMode,
    pub scale: f64,
    pub stop: Stop,
    /// Per equality class of products: successful publishes and returns minus successful
    /// reservations, i.e. how many such items the market must have on sale once the threads
    /// are quiet. The stall report prints it: a stall with wanted items on sale is a market
    /// fault, not a scenario that cannot progress.
    pub on_sale: Vec<AtomicI64>,
    /// Where the orders' lines go.
    pub sink: Sink,
}

impl Ctx {
    pub(super) fn count_on_sale(&self, product: usize, delta: i64) {
        let class = self.scenario.products[product].equal_class;
        // Relaxed: read only by the stall report, after a quiet period.
        self.on_sale[class].fetch_add(delta, Ordering::Relaxed);
    }
}
