//! Stress mode: random scenarios run many times on real threads, every history checked.

use std::collections::HashSet;
use std::fmt::{self, Debug, Write as _};
use std::ops::RangeInclusive;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::checker::{Checker, Spec, Verdict};
use crate::history::{Clock, History, ThreadLog};

/// Invocation of a specification `S`.
pub type OpOf<S> = <S as Spec>::Op;
/// Response of a specification `S`.
pub type RetOf<S> = <S as Spec>::Ret;

/// A concurrent structure under test, seen through handles, one per thread.
///
/// Each invocation of a scenario calls [`Target::setup`] for a fresh structure, runs the
/// scenario's prefix on the main thread, its parallel part on one real thread per handle, its
/// suffix on the main thread again, then drops the handles (so teardown runs every time too).
pub trait Target: Sync {
    /// The sequential specification the structure must be linearizable to.
    type Spec: Spec;
    /// What one thread holds to act on the structure (a producer, a consumer, a cart, ...).
    type Handle: Send;

    /// How many threads the parallel part may have (2 to 3 unless the structure fixes it).
    fn threads(&self) -> RangeInclusive<usize> {
        2..=3
    }

    /// A fresh structure: the specification's initial state and one handle per thread.
    fn setup(&self, threads: usize) -> (Self::Spec, Vec<Self::Handle>);

    /// A random operation that the handle of `thread` can run.
    fn gen_op(&self, rng: &mut StdRng, thread: usize) -> OpOf<Self::Spec>;

    /// Runs `op` on `handle` and returns the response.
    fn apply(&self, handle: &mut Self::Handle, op: &OpOf<Self::Spec>) -> RetOf<Self::Spec>;
}

/// A scenario: a sequential prefix, a parallel part (one list per thread), a sequential suffix.
/// Prefix and suffix operations carry the thread whose handle runs them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario<Op> {
    /// Run first, on the main thread.
    pub prefix: Vec<(usize, Op)>,
    /// Run at once, one real thread per list.
    pub parallel: Vec<Vec<Op>>,
    /// Run last, on the main thread.
    pub suffix: Vec<(usize, Op)>,
}

impl<Op> Scenario<Op> {
    /// How many operations the scenario has in all.
    pub fn len(&self) -> usize {
        self.prefix.len() + self.parallel.iter().map(Vec::len).sum::<usize>() + self.suffix.len()
    }

    /// `true` when the scenario has no operation.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<Op: Debug> fmt::Display for Scenario<Op> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cell = |t: usize, op: &Op| format!("[{t}] {op:?}");
        let width = self
            .prefix
            .iter()
            .chain(&self.suffix)
            .map(|(t, op)| cell(*t, op).len())
            .chain(
                self.parallel
                    .iter()
                    .flatten()
                    .map(|op| format!("{op:?}").len()),
            )
            .chain(std::iter::once(9))
            .max()
            .unwrap_or(9);
        let cols = self.parallel.len().max(1);
        let rule = format!("+{}\n", format!("{}+", "-".repeat(width + 2)).repeat(cols));
        f.write_str(&rule)?;
        for (t, op) in &self.prefix {
            writeln!(f, "| {:<w$} |", cell(*t, op), w = (width + 3) * cols - 3)?;
        }
        if !self.prefix.is_empty() {
            f.write_str(&rule)?;
        }
        let mut header = String::from("|");
        for t in 0..self.parallel.len() {
            let _ = write!(header, " {:<width$} |", format!("thread {t}"));
        }
        writeln!(f, "{header}")?;
        f.write_str(&rule)?;
        let rows = self.parallel.iter().map(Vec::len).max().unwrap_or(0);
        for r in 0..rows {
            let mut line = String::from("|");
            for ops in &self.parallel {
                let text = ops.get(r).map(|op| format!("{op:?}")).unwrap_or_default();
                let _ = write!(line, " {text:<width$} |");
            }
            writeln!(f, "{line}")?;
        }
        f.write_str(&rule)?;
        for (t, op) in &self.suffix {
            writeln!(f, "| {:<w$} |", cell(*t, op), w = (width + 3) * cols - 3)?;
        }
        if !self.suffix.is_empty() {
            f.write_str(&rule)?;
        }
        Ok(())
    }
}

/// Sizes of a stress run.
#[derive(Clone, Debug)]
pub struct Config {
    /// How many random scenarios.
    pub scenarios: usize,
    /// How many times each scenario runs (each run's history is checked).
    pub invocations: u64,
    /// Operations per thread in the parallel part.
    pub ops_per_thread: usize,
    /// Most operations in the prefix and in the suffix.
    pub max_prefix: usize,
    /// Seed of the scenario generator.
    pub seed: u64,
    /// Longest time spent shrinking a failing scenario.
    pub shrink_time: Duration,
    /// The checker's budget for one history.
    pub checker: Checker,
}

fn env_num(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={value:?} is not a number"),
    }
}

impl Config {
    /// The default size for this build, overridden by `LINCHECK_SCENARIOS`,
    /// `LINCHECK_INVOCATIONS` and `LINCHECK_SEED`.
    ///
    /// Defaults: 100 scenarios x 10,000 invocations in an optimized build, 6 x 150 in a debug
    /// build, 1 x 3 under Miri.
    ///
    /// # Panics
    ///
    /// If one of the variables is set to something that is not a number.
    pub fn from_env() -> Self {
        let (scenarios, invocations) = if cfg!(miri) {
            (1, 3)
        } else if cfg!(debug_assertions) {
            (6, 150)
        } else {
            (100, 10_000)
        };
        let seed = env_num("LINCHECK_SEED").unwrap_or_else(|| {
            if cfg!(miri) {
                // No wall clock under Miri's isolation; its own scheduler seeds vary the runs.
                return 0x5EED;
            }
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
        Self {
            scenarios: env_num("LINCHECK_SCENARIOS").map_or(scenarios, |n| n as usize),
            invocations: env_num("LINCHECK_INVOCATIONS").unwrap_or(invocations),
            ops_per_thread: 5,
            max_prefix: 4,
            seed,
            shrink_time: Duration::from_secs(60),
            checker: Checker::default(),
        }
    }
}

/// What a successful stress run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Scenarios run.
    pub scenarios: usize,
    /// Histories recorded and checked (scenarios x invocations).
    pub histories: u64,
    /// Of those, how many were distinct (results and real-time order) and went through the
    /// search; the others matched an already-checked history.
    pub searched: u64,
    /// Operations run in all.
    pub operations: u64,
}

/// A history the checker rejected (or could not decide), with the scenario that produced it.
pub struct Failure<Op, Ret> {
    /// The scenario, after shrinking.
    pub scenario: Scenario<Op>,
    /// The smallest failing history seen.
    pub history: History<Op, Ret>,
    /// Why it failed.
    pub verdict: Verdict,
    /// The seed that reproduces the scenario (with `LINCHECK_SEED`).
    pub seed: u64,
    /// How many operations the scenario had before shrinking.
    pub original_len: usize,
}

impl<Op: Debug, Ret: Debug> fmt::Display for Failure<Op, Ret> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "history {:?}; scenario shrunk from {} to {} operations (LINCHECK_SEED={})",
            self.verdict,
            self.original_len,
            self.scenario.len(),
            self.seed
        )?;
        writeln!(
            f,
            "scenario (prefix, parallel part, suffix):\n{}",
            self.scenario
        )?;
        write!(
            f,
            "failing history (call order; [call, return] ticks):\n{}",
            self.history.table()
        )
    }
}

impl<Op: Debug, Ret: Debug> Debug for Failure<Op, Ret> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One scenario's runs: returns the histories checked and searched, or the first failure.
struct Outcome<Op, Ret> {
    histories: u64,
    searched: u64,
    failure: Option<(History<Op, Ret>, Verdict)>,
}

type Slot<H, Op, Ret> = Mutex<Option<(H, ThreadLog<Op, Ret>)>>;
type SlotOf<T> = Slot<<T as Target>::Handle, OpOf<<T as Target>::Spec>, RetOf<<T as Target>::Spec>>;
type HistoryKey<S> = (Vec<RetOf<S>>, Vec<u64>);
/// The failure type of [`stress`] for a target `T`.
pub type FailureOf<T> = Failure<OpOf<<T as Target>::Spec>, RetOf<<T as Target>::Spec>>;

/// A barrier that spins (then yields) instead of sleeping: phases are a few microseconds long,
/// and waking sleeping threads would cost more than the operations under test.
struct SpinBarrier {
    parties: usize,
    count: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    fn new(parties: usize) -> Self {
        Self {
            parties,
            count: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    fn wait(&self) {
        // ORDERING: Acquire so that the generation read here is not older than the arrivals
        // counted below; the AcqRel fetch_add and the Release/Acquire generation hand-off
        // make everything written before any party's wait visible after every party's wait.
        let generation = self.generation.load(Ordering::Acquire);
        // ORDERING: AcqRel: the last party acquires every earlier party's writes.
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.parties {
            // ORDERING: Relaxed: ordered before the Release store below, which the others read.
            self.count.store(0, Ordering::Relaxed);
            // ORDERING: Release, pairs with the Acquire loads of the waiting parties.
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0_u32;
        // ORDERING: Acquire, pairs with the last party's Release increment.
        while self.generation.load(Ordering::Acquire) == generation {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                thread::yield_now();
            }
        }
    }
}

fn spin_delay(rng: &mut StdRng) {
    if rng.random_bool(0.5) {
        for _ in 0..rng.random_range(0..64) {
            std::hint::spin_loop();
        }
    }
}

/// Key of a history for the "already checked" cache: every response, and the real-time
/// relation between every pair of operations. Two histories with the same key are decided the
/// same way by the checker.
fn history_key<Op, Ret: Clone>(history: &History<Op, Ret>) -> (Vec<Ret>, Vec<u64>) {
    let n = history.ops.len();
    let mut bits = vec![0_u64; (n * n).div_ceil(64)];
    for (i, a) in history.ops.iter().enumerate() {
        for (j, b) in history.ops.iter().enumerate() {
            if a.precedes(b) {
                let k = i * n + j;
                bits[k / 64] |= 1 << (k % 64);
            }
        }
    }
    (history.ops.iter().map(|o| o.ret.clone()).collect(), bits)
}

/// Runs a sequential part on the calling thread, each operation through its thread's handle.
fn sequential<T: Target>(
    target: &T,
    clock: &std::sync::Arc<Clock>,
    handles: &mut [T::Handle],
    part: &[(usize, OpOf<T::Spec>)],
    history: &mut History<OpOf<T::Spec>, RetOf<T::Spec>>,
) {
    for (t, op) in part {
        let mut log = ThreadLog::new(clock, *t);
        log.record(op.clone(), |op| target.apply(&mut handles[*t], op));
        history.ops.extend(log.into_ops());
    }
}

fn run_scenario<T: Target>(
    target: &T,
    scenario: &Scenario<OpOf<T::Spec>>,
    invocations: u64,
    seed: u64,
    checker: &Checker,
) -> Outcome<OpOf<T::Spec>, RetOf<T::Spec>> {
    let threads = scenario.parallel.len();
    let slots: Vec<SlotOf<T>> = (0..threads).map(|_| Mutex::new(None)).collect();
    let start = SpinBarrier::new(threads + 1);
    let end = SpinBarrier::new(threads + 1);
    let arrived = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let panicked: Mutex<Option<Box<dyn std::any::Any + Send>>> = Mutex::new(None);
    let mut out = Outcome {
        histories: 0,
        searched: 0,
        failure: None,
    };
    let mut checked: HashSet<HistoryKey<T::Spec>> = HashSet::new();

    thread::scope(|s| {
        for t in 0..threads {
            let (slots, start, end, arrived, stop, panicked) =
                (&slots, &start, &end, &arrived, &stop, &panicked);
            let ops = &scenario.parallel[t];
            s.spawn(move || {
                let mut rng = StdRng::seed_from_u64(
                    seed ^ (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                loop {
                    start.wait();
                    // ORDERING: the barrier orders this after the main thread's store.
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let taken = slots[t].lock().unwrap().take();
                    let (mut handle, mut log) = taken.expect("the main thread filled the slot");
                    // Line the threads up so their operations really overlap.
                    // ORDERING: AcqRel/Acquire: only a rendezvous, no data is passed through it.
                    arrived.fetch_add(1, Ordering::AcqRel);
                    let mut spins = 0_u32;
                    while arrived.load(Ordering::Acquire) < threads {
                        spins += 1;
                        if spins < 128 {
                            std::hint::spin_loop();
                        } else {
                            thread::yield_now();
                        }
                    }
                    let result = panic::catch_unwind(AssertUnwindSafe(|| {
                        for op in ops {
                            spin_delay(&mut rng);
                            log.record(op.clone(), |op| target.apply(&mut handle, op));
                        }
                    }));
                    if let Err(payload) = result {
                        *panicked.lock().unwrap() = Some(payload);
                    }
                    *slots[t].lock().unwrap() = Some((handle, log));
                    end.wait();
                }
            });
        }

        for _ in 0..invocations {
            let (init, mut handles) = target.setup(threads);
            assert_eq!(
                handles.len(),
                threads,
                "setup must give one handle per thread"
            );
            let clock = Clock::new();
            let mut history = History::default();
            sequential(target, &clock, &mut handles, &scenario.prefix, &mut history);
            for (t, handle) in handles.drain(..).enumerate() {
                *slots[t].lock().unwrap() = Some((handle, ThreadLog::new(&clock, t)));
            }
            // ORDERING: Relaxed: the barrier below publishes it to the workers.
            arrived.store(0, Ordering::Relaxed);
            start.wait();
            end.wait();
            if let Some(payload) = panicked.lock().unwrap().take() {
                // ORDERING: published by the barrier.
                stop.store(true, Ordering::Relaxed);
                start.wait();
                panic::resume_unwind(payload);
            }
            for slot in &slots {
                let (handle, log) = slot
                    .lock()
                    .unwrap()
                    .take()
                    .expect("worker returned its slot");
                handles.push(handle);
                history.ops.extend(log.into_ops());
            }
            sequential(target, &clock, &mut handles, &scenario.suffix, &mut history);
            drop(handles);
            out.histories += 1;
            let key = history_key(&history);
            if checked.contains(&key) {
                continue;
            }
            out.searched += 1;
            let verdict = checker.check(&init, &history);
            if verdict.is_linearizable() {
                checked.insert(key);
            } else {
                out.failure = Some((history, verdict));
                break;
            }
        }
        // ORDERING: published by the barrier.
        stop.store(true, Ordering::Relaxed);
        start.wait();
    });
    out
}

fn random_scenario<T: Target>(
    target: &T,
    rng: &mut StdRng,
    config: &Config,
) -> Scenario<OpOf<T::Spec>> {
    let threads = rng.random_range(target.threads());
    let part = |rng: &mut StdRng| {
        let n = rng.random_range(0..=config.max_prefix);
        (0..n)
            .map(|_| {
                let t = rng.random_range(0..threads);
                (t, target.gen_op(rng, t))
            })
            .collect::<Vec<_>>()
    };
    let prefix = part(rng);
    let suffix = part(rng);
    let parallel = (0..threads)
        .map(|t| {
            (0..config.ops_per_thread)
                .map(|_| target.gen_op(rng, t))
                .collect()
        })
        .collect();
    Scenario {
        prefix,
        parallel,
        suffix,
    }
}

/// Every scenario with one operation fewer (or one thread's operations all dropped).
fn smaller<Op: Clone>(s: &Scenario<Op>) -> Vec<Scenario<Op>> {
    let mut out = Vec::new();
    for t in 0..s.parallel.len() {
        if s.parallel[t].len() > 1 {
            let mut c = s.clone();
            c.parallel[t].clear();
            out.push(c);
        }
    }
    for t in 0..s.parallel.len() {
        for i in 0..s.parallel[t].len() {
            let mut c = s.clone();
            c.parallel[t].remove(i);
            out.push(c);
        }
    }
    for i in 0..s.prefix.len() {
        let mut c = s.clone();
        c.prefix.remove(i);
        out.push(c);
    }
    for i in 0..s.suffix.len() {
        let mut c = s.clone();
        c.suffix.remove(i);
        out.push(c);
    }
    out
}

/// Runs `config.scenarios` random scenarios `config.invocations` times each against `target`
/// and checks every history.
///
/// # Errors
///
/// The first history that is not linearizable (or that the checker could not decide within
/// its budget), with its scenario shrunk: operations and threads are dropped, and each
/// smaller scenario rerun, for as long as it still fails (within `config.shrink_time`).
pub fn stress<T: Target>(target: &T, config: &Config) -> Result<Report, Box<FailureOf<T>>> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut report = Report::default();
    for _ in 0..config.scenarios {
        let scenario = random_scenario(target, &mut rng, config);
        let run_seed = rng.random();
        let outcome = run_scenario(
            target,
            &scenario,
            config.invocations,
            run_seed,
            &config.checker,
        );
        report.scenarios += 1;
        report.histories += outcome.histories;
        report.searched += outcome.searched;
        report.operations += outcome.histories * scenario.len() as u64;
        if let Some((history, verdict)) = outcome.failure {
            let original_len = scenario.len();
            // Rerun each smaller scenario about as often as the failure took to show, within
            // bounds (Miri interprets every run, so it gets only a few).
            let tries = if cfg!(miri) {
                4
            } else {
                (outcome.histories * 4).clamp(100, 20_000)
            };
            let deadline = Instant::now() + config.shrink_time;
            let (mut best, mut best_history, mut best_verdict) = (scenario, history, verdict);
            'shrink: while Instant::now() < deadline {
                for candidate in smaller(&best) {
                    if Instant::now() >= deadline {
                        break 'shrink;
                    }
                    let o = run_scenario(target, &candidate, tries, rng.random(), &config.checker);
                    if let Some((h, v)) = o.failure {
                        best = candidate;
                        best_history = h;
                        best_verdict = v;
                        continue 'shrink;
                    }
                }
                break;
            }
            return Err(Box::new(Failure {
                scenario: best,
                history: best_history,
                verdict: best_verdict,
                seed: config.seed,
                original_len,
            }));
        }
    }
    Ok(report)
}

/// Runs [`stress`] with [`Config::from_env`] and panics with the failing history, printed as a
/// table, if there is one; prints a one-line summary otherwise.
///
/// # Panics
///
/// If a history is not linearizable, or the checker could not decide one within its budget.
pub fn assert_linearizable<T: Target>(name: &str, target: &T) -> Report {
    assert_linearizable_with(name, target, &Config::from_env())
}

/// [`assert_linearizable`] with an explicit configuration.
///
/// # Panics
///
/// If a history is not linearizable, or the checker could not decide one within its budget.
pub fn assert_linearizable_with<T: Target>(name: &str, target: &T, config: &Config) -> Report {
    match stress(target, config) {
        Ok(report) => {
            println!(
                "lincheck {name}: {} scenarios, {} histories checked ({} distinct, searched), {} operations, all linearizable (seed {})",
                report.scenarios, report.histories, report.searched, report.operations, config.seed
            );
            report
        }
        Err(failure) => panic!("lincheck {name}: {failure}"),
    }
}
