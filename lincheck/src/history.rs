//! Recording concurrent histories: a shared clock and one log per thread.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A shared logical clock: every call and every return takes a distinct, increasing tick.
///
/// The ticks come from one `SeqCst` `fetch_add`, so they form a single total order that agrees
/// with happens-before: if an operation's return tick is smaller than another's call tick, the
/// first return's `fetch_add` precedes the second call's in the counter's modification order,
/// and (the read-modify-writes forming a release sequence) the first operation happens-before
/// the second. A checker that treats "returned before called" as real-time order therefore
/// never blames the structure for an order the threads could not observe.
#[derive(Debug, Default)]
pub struct Clock(AtomicU64);

impl Clock {
    /// A clock starting at tick 0.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Takes the next tick.
    pub fn tick(&self) -> u64 {
        // ORDERING: SeqCst so that all ticks of all threads form one order consistent with
        // happens-before (see the type's documentation); this is a test harness, not a hot path.
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

/// One completed operation: who ran it, what it was, what it returned, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<Op, Ret> {
    /// The thread (or role) that ran it.
    pub thread: usize,
    /// The invocation.
    pub op: Op,
    /// The response.
    pub ret: Ret,
    /// Tick taken just before the call.
    pub call: u64,
    /// Tick taken just after the return; always greater than `call`.
    pub ret_at: u64,
}

impl<Op, Ret> Operation<Op, Ret> {
    /// `true` when `self` returned before `other` was called (real-time precedence).
    pub fn precedes(&self, other: &Self) -> bool {
        self.ret_at < other.call
    }
}

/// The log of one thread: the operations it completed, in program order.
#[derive(Debug)]
pub struct ThreadLog<Op, Ret> {
    clock: Arc<Clock>,
    thread: usize,
    ops: Vec<Operation<Op, Ret>>,
}

impl<Op, Ret> ThreadLog<Op, Ret> {
    /// An empty log for `thread`, stamping with `clock`.
    pub fn new(clock: &Arc<Clock>, thread: usize) -> Self {
        Self {
            clock: Arc::clone(clock),
            thread,
            ops: Vec::new(),
        }
    }

    /// Runs `f` as one operation `op`, stamping its call and return, and records it.
    pub fn record(&mut self, op: Op, f: impl FnOnce(&Op) -> Ret) -> &Ret {
        let call = self.clock.tick();
        let ret = f(&op);
        let ret_at = self.clock.tick();
        self.ops.push(Operation {
            thread: self.thread,
            op,
            ret,
            call,
            ret_at,
        });
        &self.ops.last().expect("just pushed").ret
    }

    /// The operations recorded so far.
    pub fn into_ops(self) -> Vec<Operation<Op, Ret>> {
        self.ops
    }
}

/// A complete history: every operation of every thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<Op, Ret> {
    /// The operations, in no particular order (the checker sorts them by call tick).
    pub ops: Vec<Operation<Op, Ret>>,
}

impl<Op, Ret> Default for History<Op, Ret> {
    fn default() -> Self {
        Self { ops: Vec::new() }
    }
}

impl<Op: Debug, Ret: Debug> History<Op, Ret> {
    /// Gathers thread logs into one history.
    pub fn from_logs(logs: impl IntoIterator<Item = ThreadLog<Op, Ret>>) -> Self {
        let mut ops = Vec::new();
        for log in logs {
            ops.extend(log.into_ops());
        }
        Self { ops }
    }

    /// Builds a history by hand: `(thread, op, ret, call, ret_at)` tuples. For tests.
    pub fn from_tuples(ops: impl IntoIterator<Item = (usize, Op, Ret, u64, u64)>) -> Self {
        Self {
            ops: ops
                .into_iter()
                .map(|(thread, op, ret, call, ret_at)| Operation {
                    thread,
                    op,
                    ret,
                    call,
                    ret_at,
                })
                .collect(),
        }
    }

    /// Checks that the history could have been recorded: every operation returns after it is
    /// called, and the operations of one thread do not overlap.
    ///
    /// # Errors
    ///
    /// A description of the first problem found.
    pub fn validate(&self) -> Result<(), String> {
        for o in &self.ops {
            if o.ret_at <= o.call {
                return Err(format!(
                    "{:?} returns at {} before its call at {}",
                    o.op, o.ret_at, o.call
                ));
            }
        }
        let mut by_thread: Vec<&Operation<Op, Ret>> = self.ops.iter().collect();
        by_thread.sort_by_key(|o| (o.thread, o.call));
        for w in by_thread.windows(2) {
            if w[0].thread == w[1].thread && w[1].call < w[0].ret_at {
                return Err(format!(
                    "thread {} runs {:?} and {:?} at once",
                    w[0].thread, w[0].op, w[1].op
                ));
            }
        }
        Ok(())
    }

    /// Renders the history as a table: one column per thread, one row per operation in call
    /// order, each cell `op -> ret [call, return]`.
    pub fn table(&self) -> String {
        let mut threads: Vec<usize> = self.ops.iter().map(|o| o.thread).collect();
        threads.sort_unstable();
        threads.dedup();
        let mut order: Vec<&Operation<Op, Ret>> = self.ops.iter().collect();
        order.sort_by_key(|o| o.call);
        let cells: Vec<String> = order
            .iter()
            .map(|o| format!("{:?} -> {:?} [{}, {}]", o.op, o.ret, o.call, o.ret_at))
            .collect();
        let width = cells
            .iter()
            .map(String::len)
            .chain(std::iter::once(10))
            .max()
            .unwrap_or(10);
        let mut out = String::new();
        let rule = {
            let mut r = String::from("+");
            for _ in &threads {
                r.push_str(&"-".repeat(width + 2));
                r.push('+');
            }
            r.push('\n');
            r
        };
        out.push_str(&rule);
        out.push('|');
        for t in &threads {
            out.push_str(&format!(" {:<width$} |", format!("thread {t}")));
        }
        out.push('\n');
        out.push_str(&rule);
        for (o, cell) in order.iter().zip(&cells) {
            out.push('|');
            for t in &threads {
                let text = if *t == o.thread { cell.as_str() } else { "" };
                out.push_str(&format!(" {text:<width$} |"));
            }
            out.push('\n');
        }
        out.push_str(&rule);
        out
    }
}
