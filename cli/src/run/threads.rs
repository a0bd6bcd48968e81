//! The producer and consumer threads, the stop signal and the stall detector.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringmarket::market::{Cart, Producer, PublishWaitError, WaitError};
use ringmarket::{Full, Market};

use super::output::Sink;
use super::state::{scaled, unit, Ctx, Doing, Msg, Reprs, Slot, Stop, Unit};
use super::tasks;
use super::{Exec, Plan, WaitMode};
use crate::scenario::check::Tally;
use crate::scenario::OpKind;

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
    /// How the output differs from `--expect`'s, if it was given and it does.
    pub diff: Option<String>,
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
                            tracing::info!(producer = name, id = %producer.id(), product = repr, "publish_wait: enter");
                            let r = producer.publish_wait(item);
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
                                    // A parked consumer waits until the item comes, or until the market is
                                    // closed when the run is abandoned: no time-out, no polling.
                                    tracing::info!(consumer = name, cart = %cart.id(), product = repr, "add_wait: enter");
                                    let r = cart.add_wait(&item);
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
        tracing::info!(consumer = name, cart = %cart.id(), items = %Reprs(&ctx.scenario, &bought), "place_order: exit");
        slot.tick();
        let reprs = bought
            .iter()
            .map(|u| ctx.scenario.products[u.product as usize].repr.as_str());
        ctx.sink.cart(name, reprs);
        if tx.send(Msg::Cart).is_err() {
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

/// Whether a consumer has finished but its last message has not been handled yet (it sets
/// its slot to done just before sending): the run is still progressing.
fn done_unreported(consumers: &[Arc<Slot>], remaining: usize) -> bool {
    let done = consumers
        .iter()
        .filter(|c| matches!(c.get(), Doing::Done))
        .count();
    done > consumers.len() - remaining
}

/// A thread's name for a producer or consumer name: the name itself, with each NUL (which a
/// thread name cannot hold, and a scenario name may) written `\0`. Only the thread (as the log
/// shows it) gets this form; the output prints the name as it is.
fn thread_name(name: &str) -> String {
    name.replace('\0', "\\0")
}

/// The running producers and consumers. Dropped without [`Running::finish`] (a run abandoned
/// after a stall or a failed write), nothing is waited for: the process ends with the report.
enum Running {
    /// The producers' threads (the consumers' end by themselves).
    Threads(Vec<thread::JoinHandle<()>>),
    /// The runtime running every task.
    Tasks(Option<tokio::runtime::Runtime>),
}

impl Running {
    /// Waits for the producers to end, once the stop is set and the market closed.
    fn finish(mut self) {
        if let Running::Threads(handles) = &mut self {
            for h in handles.drain(..) {
                let _ = h.join();
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Cancels the tasks still waiting, without waiting for one that is writing.
        if let Running::Tasks(runtime) = self {
            if let Some(runtime) = runtime.take() {
                runtime.shutdown_background();
            }
        }
    }
}

/// Starts a thread per producer and per consumer.
fn start_threads(
    ctx: &Arc<Ctx>,
    market: &Market<Unit>,
    producers: Vec<(Producer<Unit>, Arc<Slot>)>,
    consumers: &[Arc<Slot>],
    tx: &mpsc::Sender<Msg>,
) -> Result<Vec<thread::JoinHandle<()>>, String> {
    let mut handles = Vec::new();
    for (i, (handle, slot)) in producers.into_iter().enumerate() {
        let ctx = Arc::clone(ctx);
        let spawned = thread::Builder::new()
            .name(thread_name(&ctx.scenario.producers[i].name))
            .spawn(move || producer_thread(&ctx, i, handle, &slot));
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => return Err(format!("cannot start a producer thread: {e}")),
        }
    }
    for (i, slot) in consumers.iter().enumerate() {
        let (ctx, market, tx, slot) = (
            Arc::clone(ctx),
            market.clone(),
            tx.clone(),
            Arc::clone(slot),
        );
        let spawned = thread::Builder::new()
            .name(thread_name(&ctx.scenario.consumers[i].name))
            .spawn(move || consumer_thread(&ctx, &market, i, &slot, &tx));
        if let Err(e) = spawned {
            return Err(format!("cannot start a consumer thread: {e}"));
        }
    }
    Ok(handles)
}

/// Runs the scenario to its end (or to a stall).
pub fn run(plan: &Plan, expected: Option<Tally>) -> Outcome {
    let started = Instant::now();
    let total_carts = plan.scenario.total_carts();
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
        sink: Sink::new(bar.clone(), expected),
    });
    let market = Market::<Unit>::new(ctx.scenario.queue_size)
        .expect("the scenario's queue size was checked to be at least 1");

    let (tx, rx) = mpsc::channel();
    let mut producer_slots = Vec::new();
    let mut producers = Vec::new();
    for i in 0..ctx.scenario.producers.len() {
        tracing::info!(producer = %ctx.scenario.producers[i].name, "register_producer: enter");
        let handle = market.register_producer();
        tracing::info!(producer = %ctx.scenario.producers[i].name, id = %handle.id(), "register_producer: exit");
        let slot = Arc::new(Slot::new());
        producer_slots.push(Arc::clone(&slot));
        producers.push((handle, slot));
    }
    let consumer_slots: Vec<Arc<Slot>> = (0..ctx.scenario.consumers.len())
        .map(|_| Arc::new(Slot::new()))
        .collect();
    let started_all = match plan.exec {
        Exec::Threads => {
            start_threads(&ctx, &market, producers, &consumer_slots, &tx).map(Running::Threads)
        }
        Exec::Tasks => tasks::spawn(&ctx, &market, producers, &consumer_slots, &tx)
            .map(|runtime| Running::Tasks(Some(runtime))),
    };
    let running = match started_all {
        Ok(r) => r,
        Err(e) => {
            bar.finish_and_clear();
            market.close();
            return Outcome::Failed(e);
        }
    };
    drop(tx);

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
    // Progress is any successful market operation and any message handled here. Summing the
    // threads' counters costs one load per thread, so it is done at most once per `tick` (or
    // when the channel is quiet), never per message: a message costs O(1) whatever the number
    // of threads.
    let mut handled: u64 = 0;
    let (mut seen, mut since, mut checked) = (0, Instant::now(), Instant::now());
    while remaining > 0 {
        let quiet = match rx.recv_timeout(tick) {
            Ok(Msg::Cart) => {
                carts += 1;
                handled += 1;
                if let Some(e) = ctx.sink.take_error() {
                    bar.finish_and_clear();
                    // Ends every thread's wait; the process ends with the report.
                    market.close();
                    return Outcome::Output(e);
                }
                bar.inc(1);
                false
            }
            Ok(Msg::ConsumerDone) => {
                remaining -= 1;
                handled += 1;
                false
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => {
                bar.finish_and_clear();
                return Outcome::Failed(format!(
                    "{remaining} consumer threads ended without finishing their carts"
                ));
            }
        };
        if !quiet && checked.elapsed() < tick {
            continue;
        }
        checked = Instant::now();
        let now_progress = all_ops()
            .wrapping_add(handled)
            .wrapping_add(ctx.sink.lines());
        if now_progress != seen {
            seen = now_progress;
            since = checked;
        } else if quiet
            && since.elapsed() >= plan.stall_after
            && !done_unreported(&consumer_slots, remaining)
        {
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
    running.finish();
    Outcome::Done(Summary {
        diff: ctx.sink.diff(10),
        ops: all_ops(),
        elapsed: started.elapsed(),
        carts,
    })
}
