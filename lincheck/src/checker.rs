//! The linearizability checker: Wing and Gong's search with Lowe's memoization.

use std::collections::HashSet;
use std::fmt::{self, Debug};
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::history::History;

/// A sequential specification: a state machine whose steps may be nondeterministic.
///
/// `step` returns every outcome the specification allows for `op` in this state: the result
/// the caller sees, and the state afterwards. A deterministic specification returns exactly one
/// pair; a market reserve that may take any of several equal items returns one pair per
/// choice, and the checker explores them all. An empty vector means the operation cannot
/// happen in this state (no outcome allowed).
///
/// States are compared and hashed so the checker can remember which (linearized set, state)
/// pairs it has already explored.
pub trait Spec: Clone + Eq + Hash {
    /// An invocation.
    type Op: Clone + Debug + Send + Sync + 'static;
    /// A response.
    type Ret: Clone + Debug + Eq + Hash + Send + Sync + 'static;

    /// Every allowed `(response, next state)` for `op` applied in `self`.
    fn step(&self, op: &Self::Op) -> Vec<(Self::Ret, Self)>;
}

/// What the checker concluded about a history.
#[derive(Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A linearization exists; `order` lists the operations' indices (into `History::ops`) in
    /// linearization order.
    Linearizable {
        /// The witness order.
        order: Vec<usize>,
    },
    /// No linearization exists: every order consistent with real time disagrees with the
    /// specification somewhere.
    NotLinearizable,
    /// The search ran out of budget (nodes or time) before deciding. This is a failure.
    Inconclusive {
        /// Which budget ran out.
        reason: String,
    },
    /// The history itself is impossible (an operation returning before its call, or two
    /// operations of one thread overlapping). This is a failure.
    Malformed {
        /// What is wrong.
        reason: String,
    },
}

impl Verdict {
    /// `true` only for [`Verdict::Linearizable`]: a time-out is never a pass.
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable { .. })
    }
}

impl Debug for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Linearizable { order } => write!(f, "linearizable (witness order {order:?})"),
            Verdict::NotLinearizable => f.write_str("NOT linearizable"),
            Verdict::Inconclusive { reason } => {
                write!(f, "inconclusive, counted as a failure: {reason}")
            }
            Verdict::Malformed { reason } => write!(f, "malformed history: {reason}"),
        }
    }
}

/// Limits and statistics of a search.
#[derive(Clone, Debug)]
pub struct Checker {
    /// Most search nodes (states entered) before giving up with [`Verdict::Inconclusive`].
    pub max_nodes: u64,
    /// Longest time before giving up with [`Verdict::Inconclusive`].
    pub time_limit: Duration,
}

impl Default for Checker {
    fn default() -> Self {
        Self {
            max_nodes: 5_000_000,
            time_limit: Duration::from_secs(20),
        }
    }
}

/// Bit set over operation indices, the "linearized so far" part of a memo key.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Self(vec![0; n.div_ceil(64)])
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

struct Search<'h, S: Spec> {
    calls: Vec<u64>,
    rets: Vec<u64>,
    ops: Vec<&'h S::Op>,
    results: Vec<&'h S::Ret>,
    /// Original index of the i-th operation in call order.
    original: Vec<usize>,
    seen: HashSet<(Bits, S)>,
    nodes: u64,
    max_nodes: u64,
    deadline: Instant,
    order: Vec<usize>,
}

enum Stop {
    Budget(String),
}

impl<S: Spec> Search<'_, S> {
    /// Depth-first search: can the operations not in `done` be linearized from `state`?
    fn go(&mut self, done: &mut Bits, remaining: usize, state: &S) -> Result<bool, Stop> {
        if remaining == 0 {
            return Ok(true);
        }
        // Lowe's memoization: the same set of linearized operations reaching the same state
        // leaves the same problem to solve; if it failed once it fails again.
        if !self.seen.insert((done.clone(), state.clone())) {
            return Ok(false);
        }
        self.nodes += 1;
        if self.nodes > self.max_nodes {
            return Err(Stop::Budget(format!(
                "more than {} search nodes",
                self.max_nodes
            )));
        }
        if self.nodes % 4096 == 0 && Instant::now() > self.deadline {
            return Err(Stop::Budget("time limit reached".to_owned()));
        }
        // An operation may come next only if it was called before every other pending
        // operation returned (otherwise that one must precede it in real time).
        let n = self.calls.len();
        let mut first_return = u64::MAX;
        for i in 0..n {
            if !done.get(i) {
                first_return = first_return.min(self.rets[i]);
            }
        }
        for i in 0..n {
            if self.calls[i] > first_return {
                break; // sorted by call: no later operation can be minimal either
            }
            if done.get(i) {
                continue;
            }
            for (ret, next) in state.step(self.ops[i]) {
                if &ret != self.results[i] {
                    continue;
                }
                done.set(i);
                self.order.push(self.original[i]);
                if self.go(done, remaining - 1, &next)? {
                    return Ok(true);
                }
                self.order.pop();
                done.clear(i);
            }
        }
        Ok(false)
    }
}

impl Checker {
    /// Decides whether `history` is linearizable with respect to `init`.
    ///
    /// Operations are ordered by their call ticks; at each step the search tries every
    /// pending operation that could be linearized next (called before the earliest pending
    /// return), and every outcome the specification allows for it whose response matches the
    /// recorded one. Visited (linearized set, state) pairs are memoized.
    pub fn check<S: Spec>(&self, init: &S, history: &History<S::Op, S::Ret>) -> Verdict {
        if let Err(reason) = history.validate() {
            return Verdict::Malformed { reason };
        }
        let mut idx: Vec<usize> = (0..history.ops.len()).collect();
        idx.sort_by_key(|&i| history.ops[i].call);
        let mut search: Search<'_, S> = Search {
            calls: idx.iter().map(|&i| history.ops[i].call).collect(),
            rets: idx.iter().map(|&i| history.ops[i].ret_at).collect(),
            ops: idx.iter().map(|&i| &history.ops[i].op).collect(),
            results: idx.iter().map(|&i| &history.ops[i].ret).collect(),
            original: idx.clone(),
            seen: HashSet::new(),
            nodes: 0,
            max_nodes: self.max_nodes,
            deadline: Instant::now() + self.time_limit,
            order: Vec::new(),
        };
        let n = idx.len();
        let mut done = Bits::new(n);
        match search.go(&mut done, n, init) {
            Ok(true) => Verdict::Linearizable {
                order: search.order,
            },
            Ok(false) => Verdict::NotLinearizable,
            Err(Stop::Budget(reason)) => Verdict::Inconclusive { reason },
        }
    }
}

/// Checks `history` against `init` with the default budget.
pub fn check<S: Spec>(init: &S, history: &History<S::Op, S::Ret>) -> Verdict {
    Checker::default().check(init, history)
}
