//! Linearizability checking for ringmarket's concurrent structures.
//!
//! Three parts, independent of any one structure:
//!
//! - [`history`]: a recorder. Every thread keeps its own [`ThreadLog`]; each operation takes a
//!   tick from a shared [`Clock`] just before its call and just after its return.
//! - [`checker`]: Wing and Gong's search for a linearization, with Lowe's memoization of
//!   (linearized set, specification state) pairs, against a [`Spec`] whose steps may allow
//!   several outcomes (all explored). Running out of budget is a failure, never a pass.
//! - [`stress`]: random scenarios (a prefix, 2 to 3 threads of 5 operations, a suffix) run many
//!   times on real threads, every history checked; a failure is shrunk and printed as a table.
//!
//! [`specs`] holds the sequential specifications the rings are checked against.
//!
//! # Examples
//!
//! A history where a pop overlaps the push whose value it returns is linearizable; one where a
//! pop returns a value before anything pushed it is not.
//!
//! ```
//! use lincheck::specs::{BoundedQueue, QueueOp, QueueRet};
//! use lincheck::{check, History};
//!
//! let ok = History::from_tuples([
//!     (0, QueueOp::Push(7), QueueRet::Pushed, 0, 3),
//!     (1, QueueOp::Pop, QueueRet::Popped(7), 1, 2),
//! ]);
//! assert!(check(&BoundedQueue::new(2), &ok).is_linearizable());
//!
//! let bad = History::from_tuples([
//!     (1, QueueOp::Pop, QueueRet::Popped(7), 0, 1),
//!     (0, QueueOp::Push(7), QueueRet::Pushed, 2, 3),
//! ]);
//! assert!(!check(&BoundedQueue::new(2), &bad).is_linearizable());
//! ```

pub mod checker;
pub mod history;
pub mod specs;
pub mod stress;

pub use checker::{check, Checker, Spec, Verdict};
pub use history::{Clock, History, Operation, ThreadLog};
pub use stress::{
    assert_linearizable, assert_linearizable_with, stress, Config, Failure, FailureOf, Report,
    Scenario, Target,
};
