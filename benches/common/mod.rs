//! What the benchmarks with an alternating or a scaling mode share (`mod common;` in each).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use criterion::Criterion;

/// The 1, 5 and 15 minute load averages, where the system reports them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The thread (or thread-pair) counts of the threaded criterion groups and the alternating
/// mode: `RINGMARKET_BENCH_THREADS=1,2,4` where set, `default` otherwise.
#[allow(dead_code)] // Not every benchmark has threaded cases.
pub fn bench_threads(default: &[usize]) -> Vec<usize> {
    match std::env::var("RINGMARKET_BENCH_THREADS") {
        Ok(list) => parse_threads(&list),
        Err(_) => default.to_vec(),
    }
}

/// `"1,2,4"` as `[1, 2, 4]`; panics on anything else (a benchmark's argument, not input).
fn parse_threads(list: &str) -> Vec<usize> {
    let threads: Vec<usize> = list
        .split(',')
        .map(|n| match n.trim().parse() {
            Ok(n) if n > 0 => n,
            _ => panic!("thread counts are positive integers separated by commas, not {list:?}"),
        })
        .collect();
    assert!(!threads.is_empty(), "no thread counts in {list:?}");
    threads
}

/// One case of a scaling run: every contender moves items with `threads` producer/consumer
/// pairs, once per round.
pub struct Case {
    /// What is moved and how, e.g. `products1/queue1024`.
    pub name: String,
    pub threads: usize,
    /// The contenders' names, in the order `run` takes them.
    pub contenders: &'static [&'static str],
    /// The index in `contenders` of the mutex baseline (`ratio_to_mutex` divides by it).
    pub mutex: usize,
    /// Runs contender `which` once: the number of items moved and the time it took.
    #[allow(clippy::type_complexity)]
    pub run: Box<dyn Fn(usize) -> (u64, Duration)>,
}

/// A benchmark's scaling mode: the structure's name in the CSV and the cases to run for a
/// list of thread counts.
pub struct Scaling {
    pub structure: &'static str,
    pub cases: fn(&[usize]) -> Vec<Case>,
}

/// A benchmark's `main`:
/// - `cargo bench --bench NAME -- alternating [N]` runs `alternating(N)` (`N` is `default`
///   when not given);
/// - `cargo bench --bench NAME -- scaling THREADS_LIST OUT.csv [ROUNDS]` runs `scaling`'s
///   cases, 5 rounds by default (see [`run_scaling`]);
/// - anything else runs the criterion groups of `benches`.
pub fn main(default: usize, alternating: fn(usize), scaling: Option<Scaling>, benches: fn()) {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "alternating") {
        alternating(
            args.get(at + 1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(default),
        );
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "scaling") {
        let scaling = scaling.expect("this benchmark has no scaling mode");
        let usage = "usage: scaling THREADS_LIST OUT.csv [ROUNDS]";
        let threads = parse_threads(args.get(at + 1).expect(usage));
        let out = args.get(at + 2).expect(usage);
        let rounds = args.get(at + 3).map_or(5, |n| n.parse().expect(usage));
        run_scaling(&scaling, &threads, out, rounds);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

/// The header of the scaling CSVs.
const HEADER: &str = "nproc,cpu_model,structure,case,threads,contender,ops_per_sec,ratio_to_mutex";

/// Runs every case `rounds` times, every contender once per round (in an order that rotates
/// from round to round, after one warm-up run each), and writes one CSV row per case and
/// contender into `out`: the median throughput over the rounds (items moved per second) and
/// its ratio to the mutex baseline's median. Rows of other machines (another `nproc` or CPU
/// model) already in `out` are kept; this machine's are replaced.
fn run_scaling(scaling: &Scaling, threads: &[usize], out: &str, rounds: usize) {
    assert!(rounds > 0, "at least one round");
    let (nproc, cpu) = (nproc(), cpu_model());
    let machine = format!("{nproc},{cpu},");
    eprintln!(
        "{}: {nproc} cpus, {cpu}, load average {}; {rounds} rounds, threads {threads:?}",
        scaling.structure,
        load_average()
    );
    let mut rows = String::new();
    for case in (scaling.cases)(threads) {
        let mut rates = rotate(rounds, case.contenders.len(), |which| {
            let (items, time) = (case.run)(which);
            items as f64 / time.as_secs_f64()
        });
        let medians: Vec<f64> = rates.iter_mut().map(|r| median(r)).collect();
        for (which, name) in case.contenders.iter().enumerate() {
            let ratio = medians[which] / medians[case.mutex];
            writeln!(
                rows,
                "{machine}{},{},{},{name},{:.0},{ratio:.3}",
                scaling.structure, case.name, case.threads, medians[which]
            )
            .unwrap();
            eprintln!(
                "  {} {}+{} {name:<26} {:>14.0} items/s  x{ratio:.2} of mutex",
                case.name, case.threads, case.threads, medians[which]
            );
        }
    }
    let kept: String = std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter(|line| !line.is_empty() && !line.starts_with(&machine))
        .map(|line| format!("{line}\n"))
        .collect();
    if let Some(dir) = std::path::Path::new(out).parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(out, format!("{HEADER}\n{kept}{rows}"))
        .unwrap_or_else(|e| panic!("cannot write {out}: {e}"));
    eprintln!("load average at end: {}; wrote {out}", load_average());
}

/// `rounds` rounds of `n` contenders after one warm-up run each: in each round every
/// contender runs once, in an order that rotates from round to round, so that the contenders
/// of a round see much the same machine. Returns what `run(which)` measured, per contender.
pub fn rotate(rounds: usize, n: usize, mut run: impl FnMut(usize) -> f64) -> Vec<Vec<f64>> {
    for which in 0..n {
        run(which);
    }
    let mut got = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        for k in 0..n {
            let which = (round + k) % n;
            got[which].push(run(which));
        }
    }
    got
}

/// The number of CPUs this process may use.
fn nproc() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPU's model name (`/proc/cpuinfo`), without the commas and quotes that would need
/// quoting in a CSV field.
fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let fields: BTreeMap<&str, &str> = info
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let model = fields
        .get("model name")
        .or(fields.get("Model"))
        .or(fields.get("cpu model"))
        .copied()
        .unwrap_or("unknown CPU");
    model
        .replace([',', '"'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The median (nearest rank) of `xs`, which it sorts.
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[(xs.len() - 1) / 2]
}
