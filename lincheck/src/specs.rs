//! Sequential specifications shared by the structures' tests.

use std::collections::VecDeque;

use crate::checker::Spec;

/// An operation on a bounded FIFO queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QueueOp {
    /// Push one value.
    Push(u64),
    /// Pop one value.
    Pop,
    /// Push a batch with one commit: as many of the values as fit, in order, at once.
    PushBatch(Vec<u64>),
    /// Pop up to `n` values with one commit: the oldest `k` for some `k <= n` (a chunk may
    /// miss values pushed after it looked), in order.
    PopBatch(usize),
    /// Push all the values with one commit, or none of them if they do not all fit.
    PushAll(Vec<u64>),
    /// Look at the oldest value without removing it.
    Peek,
}

/// A response of a bounded FIFO queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QueueRet {
    /// The value was pushed.
    Pushed,
    /// The queue was full; the value was handed back.
    Full,
    /// This value was popped.
    Popped(u64),
    /// The queue was empty.
    Empty,
    /// A batch push stored this many values (the first ones of the batch).
    PushedBatch(usize),
    /// A batch pop took these values, oldest first.
    PoppedBatch(Vec<u64>),
    /// A peek saw this value (or nothing).
    Peeked(Option<u64>),
}

/// A bounded FIFO queue over `VecDeque`: the specification of the SPSC and MPMC rings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BoundedQueue {
    capacity: usize,
    items: VecDeque<u64>,
}

impl BoundedQueue {
    /// An empty queue holding at most `capacity` values.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            items: VecDeque::new(),
        }
    }
}

impl Spec for BoundedQueue {
    type Op = QueueOp;
    type Ret = QueueRet;

    fn step(&self, op: &QueueOp) -> Vec<(QueueRet, Self)> {
        let mut next = self.clone();
        let ret = match op {
            QueueOp::Push(v) => {
                if next.items.len() < next.capacity {
                    next.items.push_back(*v);
                    QueueRet::Pushed
                } else {
                    QueueRet::Full
                }
            }
            QueueOp::Pop => match next.items.pop_front() {
                Some(v) => QueueRet::Popped(v),
                None => QueueRet::Empty,
            },
            QueueOp::PushBatch(values) => {
                let room = next.capacity - next.items.len();
                let n = room.min(values.len());
                next.items.extend(&values[..n]);
                QueueRet::PushedBatch(n)
            }
            QueueOp::PopBatch(n) => {
                // A read chunk sees the values present when it looked and removes them when it
                // commits; values pushed in between are not in it. Linearized at the commit, it
                // takes the oldest k values for some k up to what was there: every k is allowed.
                let most = (*n).min(self.items.len());
                return (0..=most)
                    .map(|k| {
                        let mut next = self.clone();
                        let taken = next.items.drain(..k).collect();
                        (QueueRet::PoppedBatch(taken), next)
                    })
                    .collect();
            }
            QueueOp::PushAll(values) => {
                if next.items.len() + values.len() <= next.capacity {
                    next.items.extend(values);
                    QueueRet::Pushed
                } else {
                    QueueRet::Full
                }
            }
            QueueOp::Peek => QueueRet::Peeked(next.items.front().copied()),
        };
        vec![(ret, next)]
    }
}

/// A set of counters with a nondeterministic "take any non-zero one" step: a minimal model of
/// a choice the specification leaves open (like the market's reserve of one of several equal
/// items). Used to test that the checker explores every allowed outcome.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bins(pub Vec<u32>);

/// An operation on [`Bins`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BinsOp {
    /// Add one to bin `i`.
    Put(usize),
    /// Take one from any non-empty bin; the response says whether one was taken (not which).
    TakeAny,
    /// Take one from bin `i`; the response says whether it was non-empty.
    Take(usize),
}

impl Spec for Bins {
    type Op = BinsOp;
    type Ret = bool;

    fn step(&self, op: &BinsOp) -> Vec<(bool, Self)> {
        match op {
            BinsOp::Put(i) => {
                let mut next = self.clone();
                next.0[*i] += 1;
                vec![(true, next)]
            }
            BinsOp::Take(i) => {
                let mut next = self.clone();
                if next.0[*i] > 0 {
                    next.0[*i] -= 1;
                    vec![(true, next)]
                } else {
                    vec![(false, next)]
                }
            }
            BinsOp::TakeAny => {
                let choices: Vec<(bool, Self)> = (0..self.0.len())
                    .filter(|&i| self.0[i] > 0)
                    .map(|i| {
                        let mut next = self.clone();
                        next.0[i] -= 1;
                        (true, next)
                    })
                    .collect();
                if choices.is_empty() {
                    vec![(false, self.clone())]
                } else {
                    choices
                }
            }
        }
    }
}

/// An operation on the marketplace, run by thread `t` through its own producer and cart.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MarketOp {
    /// Publish this product under the thread's producer.
    Publish(u8),
    /// Reserve an on-sale item equal to this product into the thread's cart.
    Add(u8),
    /// Return an item equal to this product from the thread's cart.
    Remove(u8),
    /// Place the order of the thread's cart.
    Order,
}

/// A response of the marketplace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MarketRet {
    /// The item is on sale.
    Published,
    /// The producer was at its limit; the item was handed back.
    Full,
    /// Whether a reserve or a return found an item.
    Found(bool),
    /// The products an order handed out, in the order added.
    Ordered(Vec<u8>),
}

/// Items with their producers: the on-sale multiset (sorted) and each cart's contents.
type MarketKey<'a> = (Vec<(u8, usize)>, Vec<&'a [(u8, usize)]>);

/// The marketplace's sequential specification ([`ringmarket::model::Model`]) as a [`Spec`]:
/// thread `t` owns producer `t` and cart `t`. A reserve may take an equal item from any
/// producer that has one on sale; every such choice is an outcome the checker explores.
#[derive(Clone, Debug)]
pub struct MarketSpec {
    model: ringmarket::model::Model<u8>,
    threads: usize,
}

impl MarketSpec {
    /// A fresh market with `threads` producers and `threads` carts, each producer allowed
    /// `capacity` items on sale.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0.
    pub fn new(capacity: usize, threads: usize) -> Self {
        let mut model = ringmarket::model::Model::new(capacity).expect("capacity >= 1");
        for _ in 0..threads {
            model.register_producer();
            model.new_cart();
        }
        Self { model, threads }
    }

    /// The state that decides every future response: the items on sale with their producers
    /// as a multiset (a reserve may take any equal one, so their order is irrelevant), and
    /// each cart's contents in order.
    fn key(&self) -> MarketKey<'_> {
        let mut on_sale = self.model.on_sale().to_vec();
        on_sale.sort_unstable();
        (
            on_sale,
            (0..self.threads).map(|c| self.model.cart(c)).collect(),
        )
    }

    /// Runs `op` for `thread`: every allowed outcome.
    pub fn step_for(&self, thread: usize, op: &MarketOp) -> Vec<(MarketRet, Self)> {
        let mut next = self.clone();
        match op {
            MarketOp::Publish(x) => {
                let ret = match next.model.publish(thread, *x) {
                    Ok(()) => MarketRet::Published,
                    Err(_) => MarketRet::Full,
                };
                vec![(ret, next)]
            }
            MarketOp::Add(x) => {
                let mut producers: Vec<usize> = self
                    .model
                    .on_sale()
                    .iter()
                    .filter(|(y, _)| y == x)
                    .map(|&(_, p)| p)
                    .collect();
                producers.sort_unstable();
                producers.dedup();
                if producers.is_empty() {
                    return vec![(MarketRet::Found(false), next)];
                }
                producers
                    .into_iter()
                    .map(|p| {
                        let mut next = self.clone();
                        let took = next
                            .model
                            .add_to_cart_chosen(thread, x, |_, q| q == p)
                            .expect("an equal item of p is on sale");
                        debug_assert!(took);
                        (MarketRet::Found(true), next)
                    })
                    .collect()
            }
            MarketOp::Remove(x) => {
                let found = next.model.remove_from_cart(thread, x);
                vec![(MarketRet::Found(found), next)]
            }
            MarketOp::Order => {
                let items = next.model.place_order(thread);
                vec![(MarketRet::Ordered(items), next)]
            }
        }
    }
}

impl PartialEq for MarketSpec {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for MarketSpec {}

impl std::hash::Hash for MarketSpec {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl Spec for MarketSpec {
    type Op = (usize, MarketOp);
    type Ret = MarketRet;

    fn step(&self, (thread, op): &(usize, MarketOp)) -> Vec<(MarketRet, Self)> {
        self.step_for(*thread, op)
    }
}
