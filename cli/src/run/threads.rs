//! The producer and consumer threads, the stop signal and the stall detector.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringmarket::market::Producer;
use ringmarket::Market;

use super::output::Sink;
use super::script::{ConsumerScript, ConsumerStep, ProducerScript, ProducerStep};
use super::state::{Ctx, Doing, Msg, Slot, Stop, Unit};
use super::tasks;
use super::{Exec, Plan};
use crate::scenario::check::Tally;

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

/// The waiting publish, as the log names it.
const PUBLISH_CALL: &str = "publish_wait";
/// The waiting add, as the log names it.
const ADD_CALL: &str = "add_wait";

fn producer_thread(ctx: &Ctx, index: usize, producer: Producer<Unit>, slot: &Slot) {
    let mut script = ProducerScript::new(ctx, index, producer, slot, PUBLISH_CALL);
    let mut step = script.start();
    loop {
        step = match step {
            ProducerStep::Publish(item) => {
                let r = script.producer().publish_wait(item);
                script.published(r)
            }
            ProducerStep::Pause(d) => script.paused(ctx.stop.sleep(d)),
            ProducerStep::Idle => {
                while !ctx.stop.sleep(Duration::from_secs(3600)) {}
                return;
            }
            ProducerStep::Done => return,
        };
    }
}

fn consumer_thread(
    ctx: &Ctx,
    market: &Market<Unit>,
    index: usize,
    slot: &Slot,
    tx: &mpsc::Sender<Msg>,
) {
    let mut script = ConsumerScript::new(ctx, market, index, slot, tx, ADD_CALL);
    let mut step = script.start();
    loop {
        step = match step {
            ConsumerStep::Add(item) => {
                let r = script.cart().add_wait(&item);
                script.added(r)
            }
            ConsumerStep::Retry(d) => {
                // Not cut short: consumers are never stopped from outside.
                ctx.stop.sleep(d);
                script.retry()
            }
            ConsumerStep::Done => return,
        };
    }
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
