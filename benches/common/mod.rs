//! What the benchmarks with an alternating mode share (`mod common;` in each).

use criterion::Criterion;

/// The 1, 5 and 15 minute load averages, where the system reports them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// A benchmark's `main`: `cargo bench --bench NAME -- alternating [N]` runs `alternating(N)`
/// (`N` is `default` when not given), anything else the criterion groups of `benches`.
pub fn main(default: usize, alternating: fn(usize), benches: fn()) {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "alternating") {
        alternating(
            args.get(at + 1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(default),
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
