//! `--mode tasks`: the producers and consumers as tasks on a few threads (a tokio runtime),
//! waiting through the market's futures (`Producer::publish_async`, `Cart::add_async`)
//! instead of one thread each.
//!
//! The logic is the threads' (both run the scripts of `script.rs`): the same calls, slots,
//! counters, stall report and output; only the waits differ (a future or a timer instead of a
//! blocked thread). Thousands of threads start and end slowly: each start and end takes a
//! global lock in the standard library (the stack-overflow handler's thread list), and on a
//! busy machine that lock's holder is preempted among thousands of runnable threads.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use ringmarket::market::Producer;
use ringmarket::Market;

use super::script::{ConsumerScript, ConsumerStep, ProducerScript, ProducerStep};
use super::state::{Ctx, Msg, Slot, Unit};

/// Worker threads of the runtime: one per CPU, at most this many.
const MAX_WORKERS: usize = 8;

/// Starts every producer and consumer as a task; the runtime runs them until it is dropped
/// (which cancels the tasks still waiting).
pub(super) fn spawn(
    ctx: &Arc<Ctx>,
    market: &Market<Unit>,
    producers: Vec<(Producer<Unit>, Arc<Slot>)>,
    consumers: &[Arc<Slot>],
    tx: &mpsc::Sender<Msg>,
) -> Result<tokio::runtime::Runtime, String> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_WORKERS);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("ringmarket-run")
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the task runtime: {e}"))?;
    for (i, (producer, slot)) in producers.into_iter().enumerate() {
        let ctx = Arc::clone(ctx);
        runtime.spawn(async move { producer_task(&ctx, i, producer, &slot).await });
    }
    for (i, slot) in consumers.iter().enumerate() {
        let (ctx, market, tx, slot) = (
            Arc::clone(ctx),
            market.clone(),
            tx.clone(),
            Arc::clone(slot),
        );
        runtime.spawn(async move { consumer_task(&ctx, &market, i, &slot, &tx).await });
    }
    Ok(runtime)
}

/// Waits `d` (a zero wait lets the other tasks run first).
async fn pause(d: Duration) {
    if d.is_zero() {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(d).await;
    }
}

/// The waiting publish, as the log names it.
const PUBLISH_CALL: &str = "publish_async";
/// The waiting add, as the log names it.
const ADD_CALL: &str = "add_async";

async fn producer_task(ctx: &Ctx, index: usize, producer: Producer<Unit>, slot: &Slot) {
    let mut script = ProducerScript::new(ctx, index, producer, slot, PUBLISH_CALL);
    let mut step = script.start();
    loop {
        step = match step {
            ProducerStep::Publish(item) => {
                let r = script.producer().publish_async(item).await;
                script.published(r)
            }
            ProducerStep::Pause(d) => {
                let stopped = ctx.stop.is_set();
                if !stopped {
                    pause(d).await;
                }
                script.paused(stopped)
            }
            ProducerStep::Idle => {
                // Ends with the runtime's drop.
                std::future::pending::<()>().await;
                return;
            }
            ProducerStep::Done => return,
        };
    }
}

async fn consumer_task(
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
                let r = script.cart().add_async(&item).await;
                script.added(r)
            }
            ConsumerStep::Retry(d) => {
                pause(d).await;
                script.retry()
            }
            ConsumerStep::Done => return,
        };
    }
}
