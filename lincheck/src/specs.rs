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
    /// Pop up to `n` values with one commit.
    PopBatch(usize),
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
                let k = (*n).min(next.items.len());
                QueueRet::PoppedBatch(next.items.drain(..k).collect())
            }
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
