//! What a producer and a consumer do, written once for both ways of running them: the market
//! calls, the retries, the log lines, the counters and what the stall report shows.
//!
//! A script makes every call that does not wait itself, and stops at each wait with a step
//! that says what it waits for. Its runner waits (a thread blocks in `threads.rs`, a task
//! awaits a future or a timer in `tasks.rs`), then hands what the wait gave back to the
//! script, which returns the next step.

use std::sync::mpsc;
use std::time::Duration;

use ringmarket::market::{Cart, Producer, PublishWaitError, WaitError};
use ringmarket::{Full, Market};

use super::state::{scaled, unit, Ctx, Doing, Msg, Reprs, Slot, Unit};
use super::WaitMode;
use crate::scenario::{ConsumerSpec, OpKind, ProducerSpec};

/// What a producer waits for next.
pub(super) enum ProducerStep {
    /// Room to publish the unit (`--wait park`): the market's waiting publish on
    /// [`ProducerScript::producer`], whose result goes to [`ProducerScript::published`]. It
    /// waits until there is room or the market is closed at the end of the run: no time-out,
    /// no polling.
    Publish(Unit),
    /// This long, or less if the run stops first; then [`ProducerScript::paused`].
    Pause(Duration),
    /// The end of the run: the producer has nothing to publish, ever.
    Idle,
    /// Nothing more: the producer is done.
    Done,
}

/// A producer's script: its supplies in a cycle, unit by unit, until the run stops.
pub(super) struct ProducerScript<'a> {
    ctx: &'a Ctx,
    spec: &'a ProducerSpec,
    producer: Producer<Unit>,
    slot: &'a Slot,
    /// The waiting publish, as the log names it.
    call: &'static str,
    republish: Duration,
    /// The supply being published, in `0 .. spec.supplies.len()`.
    supply: usize,
    /// Units of that supply published in this round, below its quantity.
    published: u64,
    /// Whether the slot shows the current unit's wait.
    waiting: bool,
}

impl<'a> ProducerScript<'a> {
    /// The script of producer `index`; `call` is what the log names its waiting publish.
    pub(super) fn new(
        ctx: &'a Ctx,
        index: usize,
        producer: Producer<Unit>,
        slot: &'a Slot,
        call: &'static str,
    ) -> Self {
        let spec = &ctx.scenario.producers[index];
        ProducerScript {
            ctx,
            spec,
            producer,
            slot,
            call,
            republish: scaled(spec.republish_wait, ctx.scale),
            supply: 0,
            published: 0,
            waiting: false,
        }
    }

    /// The first step.
    pub(super) fn start(&mut self) -> ProducerStep {
        if self.spec.supplies.iter().all(|s| s.quantity == 0) {
            return ProducerStep::Idle;
        }
        self.skip_published();
        self.offer()
    }

    /// The producer's handle, for the wait of [`ProducerStep::Publish`].
    pub(super) fn producer(&mut self) -> &mut Producer<Unit> {
        &mut self.producer
    }

    /// Takes the result of the waiting publish.
    pub(super) fn published(&mut self, result: Result<(), PublishWaitError<Unit>>) -> ProducerStep {
        let name = self.spec.name.as_str();
        tracing::info!(producer = name, ok = result.is_ok(), "{}: exit", self.call);
        if let Err(PublishWaitError::Closed(_)) = result {
            self.slot.set(Doing::Done);
            return ProducerStep::Done;
        }
        self.outcome(result.map_err(Full::from))
    }

    /// Goes on after a pause; `stopped`: the run stopped before or during it.
    pub(super) fn paused(&mut self, stopped: bool) -> ProducerStep {
        if stopped {
            self.slot.set(Doing::Done);
            return ProducerStep::Done;
        }
        self.offer()
    }

    /// Offers the current unit: publishes it if there is room (`--wait sleep`), or waits for
    /// room.
    fn offer(&mut self) -> ProducerStep {
        let name = self.spec.name.as_str();
        let product = self.spec.supplies[self.supply].product;
        let repr = self.ctx.scenario.products[product].repr.as_str();
        let item = unit(&self.ctx.scenario, product);
        match self.ctx.mode {
            WaitMode::Sleep => {
                tracing::info!(producer = name, id = %self.producer.id(), product = repr, "publish: enter");
                let r = self.producer.publish(item);
                tracing::info!(producer = name, ok = r.is_ok(), "publish: exit");
                self.outcome(r)
            }
            WaitMode::Park => {
                // The stall report shows the wait while it lasts.
                self.waiting = true;
                self.slot.set(Doing::Publishing { product });
                tracing::info!(producer = name, id = %self.producer.id(), product = repr, "{}: enter", self.call);
                ProducerStep::Publish(item)
            }
        }
    }

    /// Goes on after an attempt to publish the current unit: to the next unit after the
    /// supply's wait, or to the same one after the republish wait.
    fn outcome(&mut self, result: Result<(), Full<Unit>>) -> ProducerStep {
        let supply = &self.spec.supplies[self.supply];
        if result.is_err() {
            if !self.waiting {
                self.waiting = true;
                self.slot.set(Doing::Publishing {
                    product: supply.product,
                });
            }
            // Park mode only gets here after a time-out, which it never sets.
            return ProducerStep::Pause(self.republish);
        }
        self.ctx.count_on_sale(supply.product, 1);
        if self.waiting {
            self.waiting = false;
            self.slot.set(Doing::Running);
        }
        self.slot.tick();
        let after = scaled(supply.wait, self.ctx.scale);
        self.published += 1;
        self.skip_published();
        ProducerStep::Pause(after)
    }

    /// Moves on from supplies whose units are all published in this round, in a cycle (at
    /// least one supply has units: see [`ProducerScript::start`]).
    fn skip_published(&mut self) {
        while self.published == self.spec.supplies[self.supply].quantity {
            self.supply = (self.supply + 1) % self.spec.supplies.len();
            self.published = 0;
        }
    }
}

/// What a consumer waits for next.
pub(super) enum ConsumerStep {
    /// The unit, in the cart (`--wait park`): the market's waiting add on
    /// [`ConsumerScript::cart`], whose result goes to [`ConsumerScript::added`]. It waits
    /// until the item comes, or until the market is closed when the run is abandoned: no
    /// time-out, no polling.
    Add(Unit),
    /// This long, then [`ConsumerScript::retry`] (`--wait sleep`). Consumers are never
    /// stopped from outside; a stall ends the process instead.
    Retry(Duration),
    /// Nothing more: the consumer is done, or the run was abandoned.
    Done,
}

/// A consumer's script: its carts in order, each one's operations unit by unit, then its
/// order.
pub(super) struct ConsumerScript<'a> {
    ctx: &'a Ctx,
    market: &'a Market<Unit>,
    spec: &'a ConsumerSpec,
    slot: &'a Slot,
    tx: &'a mpsc::Sender<Msg>,
    /// The waiting add, as the log names it.
    call: &'static str,
    retry: Duration,
    priority: u32,
    /// The cart at index `cart`, once opened.
    open: Option<Cart<Unit>>,
    /// Where the consumer is: the cart, the operation in it, and that operation's units done.
    cart: usize,
    op: usize,
    unit: u64,
    /// Whether the slot shows the current unit's wait.
    waiting: bool,
}

impl<'a> ConsumerScript<'a> {
    /// The script of consumer `index`, which tells the main thread of its orders through `tx`;
    /// `call` is what the log names its waiting add.
    pub(super) fn new(
        ctx: &'a Ctx,
        market: &'a Market<Unit>,
        index: usize,
        slot: &'a Slot,
        tx: &'a mpsc::Sender<Msg>,
        call: &'static str,
    ) -> Self {
        let spec = &ctx.scenario.consumers[index];
        let retry = scaled(spec.retry_wait, ctx.scale);
        let priority = retry_rank(retry);
        ConsumerScript {
            ctx,
            market,
            spec,
            slot,
            tx,
            call,
            retry,
            priority,
            open: None,
            cart: 0,
            op: 0,
            unit: 0,
            waiting: false,
        }
    }

    /// The first step.
    pub(super) fn start(&mut self) -> ConsumerStep {
        self.proceed()
    }

    /// The open cart, for the wait of [`ConsumerStep::Add`].
    pub(super) fn cart(&mut self) -> &mut Cart<Unit> {
        self.open
            .as_mut()
            .expect("a cart is open while its units are added")
    }

    /// Takes the result of the waiting add.
    pub(super) fn added(&mut self, result: Result<(), WaitError>) -> ConsumerStep {
        let name = self.spec.name.as_str();
        let id = self.cart().id();
        tracing::info!(consumer = name, cart = %id, ok = result.is_ok(), "{}: exit", self.call);
        if result == Err(WaitError::Closed) {
            // The run was abandoned (a stall): leave quietly.
            return ConsumerStep::Done;
        }
        self.outcome(result.is_ok())
    }

    /// Tries the current unit again after [`ConsumerStep::Retry`]'s wait.
    pub(super) fn retry(&mut self) -> ConsumerStep {
        self.add()
    }

    /// Makes every call up to the next wait: opens carts, removes units, places orders.
    fn proceed(&mut self) -> ConsumerStep {
        let ctx = self.ctx;
        let name = self.spec.name.as_str();
        loop {
            let Some(cart_spec) = self.spec.carts.get(self.cart) else {
                self.slot.set(Doing::Done);
                let _ = self.tx.send(Msg::ConsumerDone);
                return ConsumerStep::Done;
            };
            let cart = self
                .open
                .get_or_insert_with(|| open_cart(self.market, name, self.priority));
            let Some(op) = cart_spec.ops.get(self.op) else {
                tracing::info!(consumer = name, cart = %cart.id(), "place_order: enter");
                let bought = cart.place_order();
                tracing::info!(consumer = name, cart = %cart.id(), items = %Reprs(&ctx.scenario, &bought), "place_order: exit");
                self.slot.tick();
                let reprs = bought
                    .iter()
                    .map(|u| ctx.scenario.products[u.product as usize].repr.as_str());
                ctx.sink.cart(name, reprs);
                if self.tx.send(Msg::Cart).is_err() {
                    return ConsumerStep::Done;
                }
                self.open = None;
                self.cart += 1;
                self.op = 0;
                continue;
            };
            if self.unit == op.quantity {
                self.op += 1;
                self.unit = 0;
                continue;
            }
            match op.kind {
                OpKind::Add => return self.add(),
                OpKind::Remove => {
                    let item = unit(&ctx.scenario, op.product);
                    let repr = ctx.scenario.products[op.product].repr.as_str();
                    tracing::info!(consumer = name, cart = %cart.id(), product = repr, "remove: enter");
                    let ok = cart.remove(&item);
                    tracing::info!(consumer = name, cart = %cart.id(), ok, "remove: exit");
                    if ok {
                        ctx.count_on_sale(op.product, 1);
                    }
                    self.slot.tick();
                    self.unit += 1;
                }
            }
        }
    }

    /// Tries to add the current unit: takes it if it is on sale (`--wait sleep`), or waits
    /// for it.
    fn add(&mut self) -> ConsumerStep {
        let name = self.spec.name.as_str();
        let product = self.spec.carts[self.cart].ops[self.op].product;
        let repr = self.ctx.scenario.products[product].repr.as_str();
        let item = unit(&self.ctx.scenario, product);
        match self.ctx.mode {
            WaitMode::Sleep => {
                let cart = self.cart();
                tracing::info!(consumer = name, cart = %cart.id(), product = repr, "add: enter");
                let ok = cart.add(&item);
                tracing::info!(consumer = name, cart = %cart.id(), ok, "add: exit");
                self.outcome(ok)
            }
            WaitMode::Park => {
                // The stall report shows the wait while it lasts.
                self.waiting = true;
                self.slot.set(self.adding());
                let priority = self.priority | closeness(self.units_left());
                self.cart().set_priority(priority);
                let id = self.cart().id();
                tracing::info!(consumer = name, cart = %id, product = repr, "{}: enter", self.call);
                ConsumerStep::Add(item)
            }
        }
    }

    /// Goes on after an attempt to add the current unit: to the next call if `added`, or to
    /// another attempt.
    fn outcome(&mut self, added: bool) -> ConsumerStep {
        if added {
            let product = self.spec.carts[self.cart].ops[self.op].product;
            self.ctx.count_on_sale(product, -1);
            if self.waiting {
                self.waiting = false;
                self.slot.set(Doing::Running);
            }
            self.slot.tick();
            self.unit += 1;
            return self.proceed();
        }
        if !self.waiting {
            self.waiting = true;
            self.slot.set(self.adding());
        }
        match self.ctx.mode {
            WaitMode::Sleep => ConsumerStep::Retry(self.retry),
            // Only after a time-out, which park mode never sets: wait again.
            WaitMode::Park => self.add(),
        }
    }

    /// Units the open cart still has to add, the current one included.
    fn units_left(&self) -> u64 {
        let ops = &self.spec.carts[self.cart].ops[self.op..];
        ops.iter()
            .filter(|op| op.kind == OpKind::Add)
            .map(|op| op.quantity)
            .sum::<u64>()
            - self.unit
    }

    /// What the stall report shows while the current unit is awaited.
    fn adding(&self) -> Doing {
        let op = &self.spec.carts[self.cart].ops[self.op];
        Doing::Adding {
            cart: self.cart,
            op: self.op,
            unit: self.unit + 1,
            of: op.quantity,
            product: op.product,
        }
    }
}

/// The high half of a waiting cart's priority: the shorter its consumer's retry wait, the
/// higher (in steps of 100 µs, waits of 6.5 s and more all ranking lowest).
///
/// When several consumers wait for equal products, a publish serves the one with the shortest
/// retry wait first, the consumer that the original's polling favours: it looks again soonest.
/// Serving strictly in arrival order instead can leave the consumers that return items for
/// last, so that what they return is wanted by nobody any more and the producers must publish
/// more (assignment test 03: 24 publishes instead of 20).
fn retry_rank(retry: Duration) -> u32 {
    let steps = u16::try_from(retry.as_micros() / 100).unwrap_or(u16::MAX);
    u32::from(u16::MAX - steps) << 16
}

/// The low half of a waiting cart's priority, which breaks ties of [`retry_rank`]: the fewer
/// units its cart still has to add, the higher. Consumers with equal retry waits who all want
/// a few units of one product would otherwise get them in turn, one each, and all finish
/// late; serving the cart closest to its order first finishes carts one after another, as
/// the original's polling tends to (`tests/scenarios/equal_waits_pairs.json`). Among equal
/// priorities the cart that has waited longest comes first.
fn closeness(units_left: u64) -> u32 {
    u32::from(u16::MAX - u16::try_from(units_left).unwrap_or(u16::MAX))
}

/// A new cart for consumer `name`, ranked by `priority` among carts waiting for equal items.
fn open_cart(market: &Market<Unit>, name: &str, priority: u32) -> Cart<Unit> {
    tracing::info!(consumer = name, "new_cart: enter");
    let mut cart = market.new_cart();
    cart.set_priority(priority);
    tracing::info!(consumer = name, cart = %cart.id(), "new_cart: exit");
    cart
}
