//! Loom model checks of ringmarket, one test file per component under `tests/`.
//!
//! Run them with `scripts/loom.sh` (which sets `RUSTFLAGS="--cfg loom"` and
//! `LOOM_MAX_PREEMPTIONS=2`); without `--cfg loom` every test file compiles to nothing.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `f` under `loom::model` and returns how many executions loom explored.
///
/// Every model asserts that this is more than one: a model that explored a single
/// interleaving proved nothing.
pub fn explore<F>(f: F) -> usize
where
    F: Fn() + Sync + Send + 'static,
{
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    loom::model(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f();
    });
    let n = runs.load(Ordering::Relaxed);
    println!("explored {n} executions");
    n
}
