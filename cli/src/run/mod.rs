//! `ringmarket run`: a scenario's producers and consumers as threads on a `ringmarket::Market`.
//!
//! The whole input is read and checked before anything runs, so bad input (exit code 2) never
//! leaves partial output. Exit codes: 0 done (and, with `--expect`, the output matched), 1 the
//! output differs from `--expect`, 2 bad input or options, 3 the scenario stalled, 70 an
//! internal failure (a thread that could not start or died), 74 the output or the log could
//! not be written (a closed pipe on stdout, as with `| head`, is not a failure: the run goes
//! on without printing).

mod log;
mod threads;

use std::fs::File;
use std::io::{ErrorKind, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::scenario::{check, Scenario};

/// The built-in scenario `ringmarket run` plays without a file.
pub const DEMO: &str = include_str!("demo.json");

/// How producers and consumers wait when the market cannot serve them yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WaitMode {
    /// Sleep in the market's blocking waits until the market can serve the call (no time-out,
    /// no polling; the market is closed at the end of the run, which ends the waits).
    Park,
    /// The original's plain sleeps: retry after the full wait time.
    Sleep,
}

/// Options of `ringmarket run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (`.in` or the generator's `.json`, at most 64 MiB); without one, a
    /// built-in demo runs.
    pub file: Option<PathBuf>,
    /// How waiting producers and consumers wait.
    #[arg(long, value_enum, default_value_t = WaitMode::Park)]
    pub wait: WaitMode,
    /// Multiplies every wait time of the scenario; 0 turns it into a stress run.
    #[arg(
        long,
        default_value_t = 1.0,
        value_name = "F",
        allow_negative_numbers = true
    )]
    pub time_scale: f64,
    /// Check the output against FILE (a `.ref.out`, or a `.json` with `expected_cart`s, at most
    /// 64 MiB and 10,000,000 expected items) the way the assignment's checker does; a mismatch
    /// prints a short diff and exits with 1.
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
    /// Log every market call (on entry with its arguments, on exit with its result, UTC
    /// timestamps) to FILE, rotated by size; FILE must be a regular file if it exists.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Size in bytes past which the log file is rotated.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub log_max_bytes: usize,
    /// Number of rotated log files kept.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub log_backups: usize,
    /// Seconds (above 0, below 1e9) without any successful market operation after which the
    /// run counts as stalled [default: 5 + 3 x the scenario's longest scaled wait].
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub stall_after: Option<f64>,
    /// Hide the progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print a summary (operations, wall time, operations per second) on stderr at the end.
    #[arg(long)]
    pub stats: bool,
}

/// Everything a run needs, checked.
pub(crate) struct Plan {
    pub scenario: Scenario,
    pub mode: WaitMode,
    pub scale: f64,
    pub stall_after: Duration,
    pub progress: bool,
}

/// The largest scenario or `--expect` file read, in bytes (64 MiB): the generator's largest
/// usual scenarios are a few MiB; the cap keeps an endless input (`/dev/zero`) from filling
/// the memory.
pub const MAX_INPUT_BYTES: u64 = 64 << 20;

/// Reads a whole text file of at most [`MAX_INPUT_BYTES`]; the error is the message to print.
fn read_text(path: &Path) -> Result<String, String> {
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let file = File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "cannot read {}: larger than the limit of {} MiB",
            path.display(),
            MAX_INPUT_BYTES >> 20
        ));
    }
    String::from_utf8(bytes).map_err(|_| cannot(std::io::Error::from(ErrorKind::InvalidData)))
}

/// Reads and checks a scenario file; the error is the message to print.
fn load(path: &Path) -> Result<Scenario, String> {
    let text = read_text(path)?;
    Scenario::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The expected output, from a `.ref.out` or from a scenario with `expected_cart`s.
fn load_expected(path: &Path) -> Result<String, String> {
    if path.extension().is_some_and(|e| e == "json") {
        let scenario = load(path)?;
        let lines = scenario
            .expected_lines()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(lines.join("\n"))
    } else {
        read_text(path)
    }
}

fn positive_seconds(x: f64, what: &str) -> Result<Duration, String> {
    if x.is_finite() && x > 0.0 && x < 1e9 {
        Ok(Duration::from_secs_f64(x))
    } else {
        Err(format!(
            "{what} must be a number of seconds above 0 and below 1e9 (about 31 years), got {}",
            if x.abs() < 1e9 {
                format!("{x}")
            } else {
                format!("{x:e}")
            }
        ))
    }
}

fn prepare(args: &RunArgs) -> Result<(Plan, Option<String>), String> {
    if !(args.time_scale.is_finite() && args.time_scale >= 0.0) {
        return Err(format!(
            "--time-scale must be a finite number, 0 or more, got {}",
            args.time_scale
        ));
    }
    if args.log_max_bytes == 0 {
        return Err("--log-max-bytes must be at least 1".to_owned());
    }
    let scenario = match &args.file {
        Some(path) => load(path)?,
        None => Scenario::parse(DEMO).map_err(|e| format!("built-in demo: {e}"))?,
    };
    let expected = args.expect.as_deref().map(load_expected).transpose()?;
    let stall_after = match args.stall_after {
        Some(s) => positive_seconds(s, "--stall-after")?,
        None => {
            Duration::from_secs_f64((5.0 + 3.0 * scenario.max_wait() * args.time_scale).min(1e6))
        }
    };
    let plan = Plan {
        scenario,
        mode: args.wait,
        scale: args.time_scale,
        stall_after,
        progress: !args.quiet && std::io::stderr().is_terminal(),
    };
    Ok((plan, expected))
}

/// Runs `ringmarket run`.
pub fn main(args: RunArgs) -> u8 {
    let (plan, expected) = match prepare(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ringmarket run: {e}");
            return 2;
        }
    };
    if let Some(path) = &args.log {
        if let Err(e) = log::install(path, args.log_max_bytes, args.log_backups) {
            eprintln!("ringmarket run: {e}");
            return 2;
        }
    }
    let outcome = threads::run(&plan, expected.is_some());
    let flushed = std::io::stdout().flush();
    let code = report(outcome, expected, args.stats);
    if let Some(e) = log::failure() {
        // A log write failed (the first failure; later ones were not reported one by one).
        eprintln!("ringmarket run: error: writing the log: {e}");
        return if code == 0 { 74 } else { code };
    }
    match flushed {
        Err(e) if e.kind() != ErrorKind::BrokenPipe && code == 0 => {
            eprintln!("ringmarket run: error: writing to stdout: {e}");
            74
        }
        _ => code,
    }
}

/// Prints how the run ended and returns the exit code.
fn report(outcome: threads::Outcome, expected: Option<String>, stats: bool) -> u8 {
    match outcome {
        threads::Outcome::Stalled(report) => {
            eprintln!("ringmarket run: {report}");
            3
        }
        threads::Outcome::Failed(why) => {
            eprintln!("ringmarket run: internal error: {why}");
            70
        }
        threads::Outcome::Output(e) => {
            eprintln!("ringmarket run: error: writing to stdout: {e}");
            74
        }
        threads::Outcome::Done(summary) => {
            if stats {
                eprintln!("ringmarket run: {summary}");
            }
            if let Some(expected) = expected {
                if let Some(diff) = check::compare(&summary.output, &expected, 10) {
                    eprint!("ringmarket run: {diff}");
                    return 1;
                }
            }
            0
        }
    }
}
