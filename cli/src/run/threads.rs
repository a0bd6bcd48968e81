//! The producer and consumer threads, the stop signal and the stall detector.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringmarket::market::{Cart, Producer, PublishWaitError, WaitError};
use ringmarket::{Full, Market};

use super::{Plan, WaitMode};
use crate::scenario::{OpKind, Scenario};

/// The longest scaled wait; beyond it a wait is as good as forever.
const MAX_WAIT_SECS: f64 = 365.0 * 24.0 * 3600.0;

/// A unit on the market: equal (and hashed) by its product's Python equality class, so that a
/// consumer asking for a product may get any equal one, as with Python's `==`; it remembers
/// which product definition was published, for printing.
#[derive(Clone, Copy, Debug)]
pub struct Unit {
    class: u32,
    product: u32,
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

fn unit(scenario: &Scenario, product: usize) -> Unit {
    Unit {
        class: scenario.products[product].equal_class as u32,
        product: product as u32,
    }
}

/// Set once every consumer is done: producers stop at their next wait.
struct Stop {
    flag: AtomicBool,
    lock: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    fn new() -> Self {
        Stop {
            flag: AtomicBool::new(false),
            lock: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    fn is_set(&self) -> bool {
        // ORDERING: pairs with the Release store in `set`; nothing else is published through
        // the flag, the Acquire only makes the stop visible promptly and in order.
        self.flag.load(Ordering::Acquire)
    }

    fn set(&self) {
        let mut stopped = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        *stopped = true;
        // ORDERING: pairs with the Acquire load in `is_set`.
        self.flag.store(true, Ordering::Release);
        self.cv.notify_all();
    }

    /// Sleeps for `d` or until stopped; true when stopped.
    fn sleep(&self, d: Duration) -> bool {
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
enum Doing {
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
struct Slot {
    /// Successful market operations so far (publish, add, remove, place order).
    ops: CachePadded<AtomicU64>,
    doing: Mutex<Doing>,
}

impl Slot {
    fn new() -> Self {
        Slot {
            ops: CachePadded::new(AtomicU64::new(0)),
            doing: Mutex::new(Doing::Running),
        }
    }

    fn tick(&self) {
        // Relaxed: a counter read only for progress and totals; no data hangs on it.
        self.ops.fetch_add(1, Ordering::Relaxed);
    }

    fn set(&self, doing: Doing) {
        *self.doing.lock().unwrap_or_else(|e| e.into_inner()) = doing;
    }

    fn get(&self) -> Doing {
        *self.doing.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ops(&self) -> u64 {
        // Relaxed: see `tick`.
        self.ops.load(Ordering::Relaxed)
    }
}

/// The scaled duration of a wait given in seconds.
fn scaled(secs: f64, scale: f64) -> Duration {
    Duration::from_secs_f64((secs * scale).clamp(0.0, MAX_WAIT_SECS))
}

/// How a run ended.
pub enum Outcome {
    /// Every consumer placed every order.
    Done(Summary),
    /// No progress for the quiet period: the report says who waits for what.
    Stalled(String),
    /// A thread could not be started or ended without finishing its work.
    Failed(String),
    /// Writing the output to stdout failed (other than by a closed pipe): the run was
    /// abandoned.
    Output(std::io::Error),
}

/// The totals of a finished run.
pub struct Summary {
    /// Everything printed on stdout (kept only when asked for).
    pub output: String,
    /// Successful market operations.
    pub ops: u64,
    /// Wall time from the first thread's start to the last producer's stop.
    pub elapsed: Duration,
    /// Carts ordered.
    pub carts: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        write!(
            f,
            "{} carts, {} market operations in {:.3} s ({:.0} operations/s)",
            self.carts,
            self.ops,
            secs,
            self.ops as f64 / secs.max(1e-9)
        )
    }
}

/// A list of units as their reprs, `[A(..), B(..)]`, formatted only when logged.
struct Reprs<'a>(&'a Scenario, &'a [Unit]);

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
enum Msg {
    /// One placed order, as the lines to print.
    Cart(String),
    /// A consumer has placed all its orders.
    ConsumerDone,
}

struct Ctx {
    scenario: Scenario,
    mode: WaitMode,
    scale: f64,
    stop: Stop,
    /// Per equality class of products: successful publishes and returns minus successful
    /// reservations, i.e. how many such items the market must have on sale once the threads
    /// are quiet. The stall report prints it: a stall with wanted items on sale is a market
    /// fault, not a scenario that cannot progress.
    on_sale: Vec<AtomicI64>,
}

impl Ctx {
    fn count_on_sale(&self, product: usize, delta: i64) {
        let class = self.scenario.products[product].equal_class;
        // Relaxed: read only by the stall report, after a quiet period.
        self.on_sale[class].fetch_add(delta, Ordering::Relaxed);
    }
}

fn producer_thread(ctx: &Ctx, index: usize, mut producer: Producer<Unit>, slot: &Slot) {
    let spec = &ctx.scenario.producers[index];
    let name = spec.name.as_str();
    let republish = scaled(spec.republish_wait, ctx.scale);
    if spec.supplies.iter().all(|s| s.quantity == 0) {
        // Nothing to publish, ever: just wait for the end.
        while !ctx.stop.sleep(Duration::from_secs(3600)) {}
        return;
    }
    loop {
        for supply in &spec.supplies {
            let repr = ctx.scenario.products[supply.product].repr.as_str();
            let after = scaled(supply.wait, ctx.scale);
            for _ in 0..supply.quantity {
                let mut item = unit(&ctx.scenario, supply.product);
                let mut waiting = false;
                loop {
                    let result = match ctx.mode {
                        WaitMode::Sleep => {
                            tracing::info!(producer = name, id = %producer.id(), product = repr, "publish: enter");
                            let r = producer.publish(item);
                            tracing::info!(producer = name, ok = r.is_ok(), "publish: exit");
                            r
                        }
                        WaitMode::Park => {
                            // Waits until there is room or the market is closed at the end of
                            // the run: no time-out, no polling. The stall report shows the
                            // wait while it lasts.
                            waiting = true;
                            slot.set(Doing::Publishing {
                                product: supply.product,
                            });
                            tracing::info!(producer = name, id = %producer.id(), product = repr, timeout = ?Duration::MAX, "publish_wait: enter");
                            let r = producer.publish_wait(item, Duration::MAX);
                            tracing::info!(producer = name, ok = r.is_ok(), "publish_wait: exit");
                            match r {
                                Err(PublishWaitError::Closed(_)) => {
                                    slot.set(Doing::Done);
                                    return;
                                }
                                r => r.map_err(Full::from),
                            }
                        }
                    };
                    match result {
                        Ok(()) => {
                            ctx.count_on_sale(supply.product, 1);
                            break;
                        }
                        Err(Full(back)) => {
                            item = back;
                            if !waiting {
                                waiting = true;
                                slot.set(Doing::Publishing {
                                    product: supply.product,
                                });
                            }
                            // Park mode only gets here after a time-out, which it never sets.
                            let stopped = ctx.stop.sleep(republish);
                            if stopped {
                                slot.set(Doing::Done);
                                return;
                            }
                        }
                    }
                }
                if waiting {
                    slot.set(Doing::Running);
                }
                slot.tick();
                if ctx.stop.sleep(after) {
                    slot.set(Doing::Done);
                    return;
                }
            }
        }
    }
}

fn consumer_thread(
    ctx: &Ctx,
    market: &Market<Unit>,
    index: usize,
    slot: &Slot,
    tx: &mpsc::Sender<Msg>,
) {
    let spec = &ctx.scenario.consumers[index];
    let name = spec.name.as_str();
    let retry = scaled(spec.retry_wait, ctx.scale);
    // A parked consumer waits until the item comes, or until the market is closed when the
    // run is abandoned: no time-out, no polling.
    let park = Duration::MAX;
    // When several consumers wait for equal products, a publish serves the one with the
    // shortest retry wait first (ties: the one waiting longest), the consumer that the
    // original's polling favours: it looks again soonest. Serving strictly in arrival order
    // instead can leave the consumers that return items for last, so that what they return
    // is wanted by nobody any more and the producers must publish more (assignment test 03:
    // 24 publishes instead of 20).
    let priority = u32::MAX - u32::try_from(retry.as_micros()).unwrap_or(u32::MAX);
    for (c, cart_spec) in spec.carts.iter().enumerate() {
        tracing::info!(consumer = name, "new_cart: enter");
        let mut cart: Cart<Unit> = market.new_cart();
        cart.set_priority(priority);
        tracing::info!(consumer = name, cart = %cart.id(), "new_cart: exit");
        for (o, op) in cart_spec.ops.iter().enumerate() {
            let item = unit(&ctx.scenario, op.product);
            let repr = ctx.scenario.products[op.product].repr.as_str();
            for u in 0..op.quantity {
                match op.kind {
                    OpKind::Add => {
                        // What the stall report shows while this unit is awaited.
                        let adding = Doing::Adding {
                            cart: c,
                            op: o,
                            unit: u + 1,
                            of: op.quantity,
                            product: op.product,
                        };
                        let mut waiting = false;
                        loop {
                            let ok = match ctx.mode {
                                WaitMode::Sleep => {
                                    tracing::info!(consumer = name, cart = %cart.id(), product = repr, "add: enter");
                                    let ok = cart.add(&item);
                                    tracing::info!(consumer = name, cart = %cart.id(), ok, "add: exit");
                                    ok
                                }
                                WaitMode::Park => {
                                    // The stall report shows the wait while it lasts.
                                    waiting = true;
                                    slot.set(adding);
                                    tracing::info!(consumer = name, cart = %cart.id(), product = repr, timeout = ?park, "add_wait: enter");
                                    let r = cart.add_wait(&item, park);
                                    tracing::info!(consumer = name, cart = %cart.id(), ok = r.is_ok(), "add_wait: exit");
                                    if r == Err(WaitError::Closed) {
                                        // The run was abandoned (a stall): leave quietly.
                                        return;
                                    }
                                    r.is_ok()
                                }
                            };
                            if ok {
                                ctx.count_on_sale(op.product, -1);
                                break;
                            }
                            if !waiting {
                                waiting = true;
                                slot.set(adding);
                            }
                            if ctx.mode == WaitMode::Sleep {
                                // Consumers are never stopped from outside; a stall ends the
                                // process instead.
                                ctx.stop.sleep(retry);
                            }
                        }
                        if waiting {
                            slot.set(Doing::Running);
                        }
                    }
                    OpKind::Remove => {
                        tracing::info!(consumer = name, cart = %cart.id(), product = repr, "remove: enter");
                        let ok = cart.remove(&item);
                        tracing::info!(consumer = name, cart = %cart.id(), ok, "remove: exit");
                        if ok {
                            ctx.count_on_sale(op.product, 1);
                        }
                    }
                }
                slot.tick();
            }
        }
        tracing::info!(consumer = name, cart = %cart.id(), "place_order: enter");
        let bought = cart.place_order();
        let mut lines = String::new();
        for u in &bought {
            lines.push_str(name);
            lines.push_str(" bought ");
            lines.push_str(&ctx.scenario.products[u.product as usize].repr);
            lines.push('\n');
        }
        tracing::info!(consumer = name, cart = %cart.id(), items = %Reprs(&ctx.scenario, &bought), "place_order: exit");
        slot.tick();
        if tx.send(Msg::Cart(lines)).is_err() {
            return;
        }
    }
    slot.set(Doing::Done);
    let _ = tx.send(Msg::ConsumerDone);
}

fn stall_report(
    ctx: &Ctx,
    market: &Market<Unit>,
    quiet: Duration,
    producers: &[Arc<Slot>],
    consumers: &[Arc<Slot>],
) -> String {
    let s = &ctx.scenario;
    let stats = market.stats().on_sale;
    let waiting = consumers
        .iter()
        .filter(|c| !matches!(c.get(), Doing::Done))
        .count();
    let mut out = format!(
        "stalled: no market operation succeeded for {:.1} s while {waiting} of {} consumers are not done",
        quiet.as_secs_f64(),
        consumers.len()
    );
    for (i, slot) in consumers.iter().enumerate() {
        let name = &s.consumers[i].name;
        match slot.get() {
            Doing::Adding {
                cart,
                op,
                unit,
                of,
                product,
            } => {
                let p = &s.products[product];
                let class = p.equal_class;
                let makers: Vec<&str> = s
                    .producers
                    .iter()
                    .filter(|pr| {
                        pr.supplies
                            .iter()
                            .any(|x| x.quantity > 0 && s.products[x.product].equal_class == class)
                    })
                    .map(|pr| pr.name.as_str())
                    .collect();
                // Relaxed: the threads have been quiet for the whole quiet period.
                let on_sale = ctx.on_sale[class].load(Ordering::Relaxed);
                out.push_str(&format!(
                    "\n  consumer {name}: cart {}, operation {}: waiting to add unit {unit} of {of} of {} {} (published by {}; {on_sale} equal on sale by the runner's count{})",
                    cart + 1,
                    op + 1,
                    p.id,
                    p.repr,
                    makers.join(", "),
                    if on_sale > 0 { ": a market fault" } else { "" }
                ));
            }
            Doing::Running => out.push_str(&format!("\n  consumer {name}: running")),
            Doing::Done | Doing::Publishing { .. } => {}
        }
    }
    for (i, slot) in producers.iter().enumerate() {
        let name = &s.producers[i].name;
        match slot.get() {
            Doing::Publishing { product } => {
                let p = &s.products[product];
                let on_sale = stats.iter().find(|x| x.0.index() == i).map_or(0, |x| x.1);
                let queue = if on_sale >= s.queue_size {
                    "its queue is full"
                } else {
                    "its queue is below its limit"
                };
                out.push_str(&format!(
                    "\n  producer {name}: {queue} ({on_sale} on sale, limit {}); waiting to publish {} {}",
                    s.queue_size, p.id, p.repr
                ));
            }
            Doing::Running => out.push_str(&format!("\n  producer {name}: running")),
            Doing::Done | Doing::Adding { .. } => {}
        }
    }
    out
}

/// A thread's name for a producer or consumer name: the name itself, with each NUL (which a
/// thread name cannot hold, and a scenario name may) written `\0`. Only the thread (as the log
/// shows it) gets this form; the output prints the name as it is.
fn thread_name(name: &str) -> String {
    name.replace('\0', "\\0")
}

/// Runs the scenario to its end (or to a stall).
pub fn run(plan: &Plan, keep_output: bool) -> Outcome {
    let started = Instant::now();
    let ctx = Arc::new(Ctx {
        scenario: plan.scenario.clone(),
        mode: plan.mode,
        scale: plan.scale,
        stop: Stop::new(),
        on_sale: plan
            .scenario
            .products
            .iter()
            .map(|_| AtomicI64::new(0))
            .collect(),
    });
    let market = Market::<Unit>::new(ctx.scenario.queue_size)
        .expect("the scenario's queue size was checked to be at least 1");
    let total_carts = ctx.scenario.total_carts();
    let bar = if plan.progress {
        let bar = ProgressBar::with_draw_target(Some(total_carts), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} carts")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        ProgressBar::hidden()
    };

    let (tx, rx) = mpsc::channel();
    let mut producer_slots = Vec::new();
    let mut producer_threads = Vec::new();
    for i in 0..ctx.scenario.producers.len() {
        tracing::info!(producer = %ctx.scenario.producers[i].name, "register_producer: enter");
        let handle = market.register_producer();
        tracing::info!(producer = %ctx.scenario.producers[i].name, id = %handle.id(), "register_producer: exit");
        let slot = Arc::new(Slot::new());
        producer_slots.push(Arc::clone(&slot));
        let ctx = Arc::clone(&ctx);
        let spawned = thread::Builder::new()
            .name(thread_name(&ctx.scenario.producers[i].name))
            .spawn(move || producer_thread(&ctx, i, handle, &slot));
        match spawned {
            Ok(h) => producer_threads.push(h),
            Err(e) => return Outcome::Failed(format!("cannot start a producer thread: {e}")),
        }
    }
    let mut consumer_slots = Vec::new();
    for i in 0..ctx.scenario.consumers.len() {
        let slot = Arc::new(Slot::new());
        consumer_slots.push(Arc::clone(&slot));
        let (ctx, market, tx) = (Arc::clone(&ctx), market.clone(), tx.clone());
        let spawned = thread::Builder::new()
            .name(thread_name(&ctx.scenario.consumers[i].name))
            .spawn(move || consumer_thread(&ctx, &market, i, &slot, &tx));
        if let Err(e) = spawned {
            return Outcome::Failed(format!("cannot start a consumer thread: {e}"));
        }
    }
    drop(tx);

    let mut output = String::new();
    let mut remaining = ctx.scenario.consumers.len();
    let mut carts = 0;
    let tick = (plan.stall_after / 4).min(Duration::from_millis(100));
    let all_ops = || -> u64 {
        producer_slots
            .iter()
            .chain(&consumer_slots)
            .map(|s| s.ops())
            .sum()
    };
    let (mut seen, mut since) = (0, Instant::now());
    let stdout = std::io::stdout();
    let mut pipe_closed = false;
    while remaining > 0 {
        match rx.recv_timeout(tick) {
            Ok(Msg::Cart(lines)) => {
                carts += 1;
                if !pipe_closed {
                    let written = bar.suspend(|| {
                        use std::io::Write as _;
                        stdout.lock().write_all(lines.as_bytes())
                    });
                    match written {
                        Ok(()) => {}
                        // A closed stdout (`| head`) is not this program's failure: the run
                        // goes on without printing.
                        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => pipe_closed = true,
                        Err(e) => {
                            bar.finish_and_clear();
                            // Ends every thread's wait; the process ends with the report.
                            market.close();
                            return Outcome::Output(e);
                        }
                    }
                }
                bar.inc(1);
                if keep_output {
                    output.push_str(&lines);
                }
            }
            Ok(Msg::ConsumerDone) => remaining -= 1,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                bar.finish_and_clear();
                return Outcome::Failed(format!(
                    "{remaining} consumer threads ended without finishing their carts"
                ));
            }
        }
        let now_ops = all_ops();
        if now_ops != seen {
            seen = now_ops;
            since = Instant::now();
        } else if since.elapsed() >= plan.stall_after {
            bar.finish_and_clear();
            let report = stall_report(
                &ctx,
                &market,
                plan.stall_after,
                &producer_slots,
                &consumer_slots,
            );
            // Ends every thread's wait, now that the report has read what they wait for.
            market.close();
            return Outcome::Stalled(report);
        }
    }
    bar.finish_and_clear();
    ctx.stop.set();
    // Ends the producers' waits for room.
    market.close();
    for h in producer_threads {
        let _ = h.join();
    }
    Outcome::Done(Summary {
        output,
        ops: all_ops(),
        elapsed: started.elapsed(),
        carts,
    })
}
