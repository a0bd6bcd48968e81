//! `--mode tasks`: the producers and consumers as tasks on a few threads (a tokio runtime),
//! waiting through the market's futures (`Producer::publish_async`, `Cart::add_async`)
//! instead of one thread each.
//!
//! The logic is the threads' (`threads.rs`), step for step: the same slots, counters, stall
//! report and output; only the waits differ (a future or a timer instead of a blocked
//! thread). Thousands of threads start and end slowly: each start and end takes a global lock
//! in the standard library (the stack-overflow handler's thread list), and on a busy machine
//! that lock's holder is preempted among thousands of runnable threads.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use ringmarket::market::{Cart, Producer, PublishWaitError, WaitError};
use ringmarket::{Full, Market};

use super::state::{scaled, unit, Ctx, Doing, Msg, Reprs, Slot, Unit};
use super::WaitMode;
use crate::scenario::OpKind;

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

async fn producer_task(ctx: &Ctx, index: usize, mut producer: Producer<Unit>, slot: &Slot) {
    let spec = &ctx.scenario.producers[index];
    let name = spec.name.as_str();
    let republish = scaled(spec.republish_wait, ctx.scale);
    if spec.supplies.iter().all(|s| s.quantity == 0) {
        // Nothing to publish, ever: wait for the end (the runtime's drop).
        std::future::pending::<()>().await;
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
                            waiting = true;
                            slot.set(Doing::Publishing {
                                product: supply.product,
                            });
                            tracing::info!(producer = name, id = %producer.id(), product = repr, "publish_async: enter");
                            let r = producer.publish_async(item).await;
                            tracing::info!(producer = name, ok = r.is_ok(), "publish_async: exit");
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
                            if ctx.stop.is_set() {
                                slot.set(Doing::Done);
                                return;
                            }
                            pause(republish).await;
                        }
                    }
                }
                if waiting {
                    slot.set(Doing::Running);
                }
                slot.tick();
                if ctx.stop.is_set() {
                    slot.set(Doing::Done);
                    return;
                }
                pause(after).await;
            }
        }
    }
}

async fn consumer_task(
    ctx: &Ctx,
    market: &Market<Unit>,
    index: usize,
    slot: &Slot,
    tx: &mpsc::Sender<Msg>,
) {
    let spec = &ctx.scenario.consumers[index];
    let name = spec.name.as_str();
    let retry = scaled(spec.retry_wait, ctx.scale);
    // As in the threads: the shortest retry wait is served first.
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
                                    waiting = true;
                                    slot.set(adding);
                                    tracing::info!(consumer = name, cart = %cart.id(), product = repr, "add_async: enter");
                                    let r = cart.add_async(&item).await;
                                    tracing::info!(consumer = name, cart = %cart.id(), ok = r.is_ok(), "add_async: exit");
                                    if r == Err(WaitError::Closed) {
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
                                pause(retry).await;
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
