//! `ringmarket run`: a scenario's producers and consumers as threads or tasks on a `ringmarket::Market`.
//!
//! The whole input is read and checked before anything runs, so bad input (exit code 2) never
//! leaves partial output. Exit codes: 0 done (and, with `--expect`, the output matched), 1 the
//! output differs from `--expect`, 2 bad input or options, 3 the scenario stalled, 70 an
//! internal failure (a thread that could not start or died), 74 the output or the log could
//! not be written (a closed pipe on stdout, as with `| head`, is not a failure: the run goes
//! on without printing).

mod log;
mod output;
mod script;
mod state;
mod tasks;
mod threads;

use std::fs::File;
use std::io::{ErrorKind, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::scenario::check::Tally;
use crate::scenario::Scenario;
use crate::Failure;

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

/// How producers and consumers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Threads for scenarios of up to 1,000 producers and consumers, tasks above.
    Auto,
    /// One thread per producer and per consumer.
    Threads,
    /// Tasks on one thread per CPU (at most 8), waiting through the market's futures.
    Tasks,
}

/// How a run executes, [`Mode::Auto`] resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exec {
    Threads,
    Tasks,
}

/// Above this many producers and consumers together, `--mode auto` runs tasks: starting and
/// ending thousands of threads takes a global lock of the standard library each time.
pub const AUTO_TASKS_ABOVE: usize = 1000;

/// Options of `ringmarket run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (`.in` or the generator's `.json`, at most 64 MiB); without one, a
    /// built-in demo runs.
    pub file: Option<PathBuf>,
    /// How waiting producers and consumers wait.
    #[arg(long, value_enum, default_value_t = WaitMode::Park)]
    pub wait: WaitMode,
    /// Whether producers and consumers are threads or tasks (the output is the same).
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    pub mode: Mode,
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
    /// Seconds (at least 0.001, below 1e9) without progress (a successful market operation, a
    /// consumer's result handled or output written) after which the run counts as stalled
    /// [default: 5 + 3 x the scenario's longest scaled wait, at most 1e6; 5 at
    /// `--time-scale 0`].
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
    pub exec: Exec,
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

/// The expected output, from a `.ref.out` or from a scenario with `expected_cart`s, counted
/// for the comparison (a cart's expected lines are counted, never made one by one).
fn load_expected(path: &Path) -> Result<Tally, String> {
    let mut tally = Tally::default();
    if path.extension().is_some_and(|e| e == "json") {
        let scenario = load(path)?;
        scenario
            .expected_units()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        scenario.for_each_expected(|line, n| tally.expect(line, n));
    } else {
        tally.expect(&read_text(path)?, 1);
    }
    Ok(tally)
}

/// The shortest `--stall-after` accepted, in seconds: a shorter window would call a healthy
/// run stalled between two checks of the threads' progress.
pub const MIN_STALL_SECS: f64 = 0.001;

/// The longest default stall window, in seconds (1,000,000 s, about 11.6 days): a scenario
/// whose waits would ask for more (or for an endless one) gets this one.
pub const MAX_DEFAULT_STALL_SECS: f64 = 1e6;

/// The default stall window: 5 s plus 3 times the scenario's longest scaled wait, at most
/// [`MAX_DEFAULT_STALL_SECS`]. Computed so that no product overflows or is NaN: at
/// `--time-scale 0` the window is 5 s, whatever the waits.
pub fn default_stall_window(max_wait: f64, scale: f64) -> Duration {
    let scaled = if scale == 0.0 || max_wait == 0.0 {
        0.0
    } else {
        max_wait * scale
    };
    // A NaN (impossible for the finite, non-negative inputs that were checked) or an overflow
    // to infinity is a wait as good as forever.
    let scaled = if scaled.is_nan() {
        MAX_DEFAULT_STALL_SECS
    } else {
        scaled.clamp(0.0, MAX_DEFAULT_STALL_SECS)
    };
    Duration::from_secs_f64((5.0 + 3.0 * scaled).min(MAX_DEFAULT_STALL_SECS))
}

fn stall_seconds(x: f64, what: &str) -> Result<Duration, String> {
    if (MIN_STALL_SECS..1e9).contains(&x) {
        Ok(Duration::from_secs_f64(x))
    } else {
        Err(format!(
            "{what} must be a number of seconds above 0 (at least 0.001, 1 ms) and below 1e9 (about 31 years), got {}",
            if x == 0.0 || (1e-3..1e9).contains(&x.abs()) {
                format!("{x}")
            } else {
                format!("{x:e}")
            }
        ))
    }
}

fn prepare(args: &RunArgs) -> Result<(Plan, Option<Tally>), String> {
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
        Some(s) => stall_seconds(s, "--stall-after")?,
        None => default_stall_window(scenario.max_wait(), args.time_scale),
    };
    let exec = match args.mode {
        Mode::Threads => Exec::Threads,
        Mode::Tasks => Exec::Tasks,
        Mode::Auto if scenario.producers.len() + scenario.consumers.len() > AUTO_TASKS_ABOVE => {
            Exec::Tasks
        }
        Mode::Auto => Exec::Threads,
    };
    let plan = Plan {
        exec,
        scenario,
        mode: args.wait,
        scale: args.time_scale,
        stall_after,
        progress: !args.quiet && std::io::stderr().is_terminal(),
    };
    Ok((plan, expected))
}

/// Runs `ringmarket run`.
///
/// # Errors
///
/// The exit status the module's documentation lists, and why.
pub fn main(args: RunArgs) -> Result<(), Failure> {
    let bad_input = |e: String| Failure::new(2, format!("ringmarket run: {e}"));
    let (plan, expected) = prepare(&args).map_err(bad_input)?;
    if let Some(path) = &args.log {
        log::install(path, args.log_max_bytes, args.log_backups).map_err(bad_input)?;
    }
    let outcome = threads::run(&plan, expected);
    let flushed = std::io::stdout().flush();
    let result = report(outcome, args.stats);
    if let Some(e) = log::failure() {
        // A log write failed (the first failure; later ones were not reported one by one).
        let message = format!("ringmarket run: error: writing the log: {e}");
        return Err(match result {
            Ok(()) => Failure::new(74, message),
            Err(failure) => failure.also(message),
        });
    }
    match flushed {
        Err(e) if e.kind() != ErrorKind::BrokenPipe && result.is_ok() => Err(Failure::new(
            74,
            format!("ringmarket run: error: writing to stdout: {e}"),
        )),
        _ => result,
    }
}

/// How the run ended: the summary is printed here (with `--stats`), anything else is the
/// failure to report.
fn report(outcome: threads::Outcome, stats: bool) -> Result<(), Failure> {
    match outcome {
        threads::Outcome::Stalled(report) => {
            Err(Failure::new(3, format!("ringmarket run: {report}")))
        }
        threads::Outcome::Failed(why) => Err(Failure::new(
            70,
            format!("ringmarket run: internal error: {why}"),
        )),
        threads::Outcome::Output(e) => Err(Failure::new(
            74,
            format!("ringmarket run: error: writing to stdout: {e}"),
        )),
        threads::Outcome::Done(summary) => {
            if stats {
                eprintln!("ringmarket run: {summary}");
            }
            match &summary.diff {
                // The diff's lines each end with a newline; the message's last one is main's.
                Some(diff) => Err(Failure::new(
                    1,
                    format!(
                        "ringmarket run: {}",
                        diff.strip_suffix('\n').unwrap_or(diff)
                    ),
                )),
                None => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_stall_window_is_finite_and_capped() {
        let secs = |w, s| default_stall_window(w, s).as_secs_f64();
        assert_eq!(secs(6e307, 0.0), 5.0);
        assert_eq!(secs(f64::MAX, 0.0), 5.0);
        assert_eq!(secs(0.0, 1e300), 5.0);
        assert_eq!(secs(1.0, 2.0), 11.0);
        assert_eq!(secs(f64::MAX, 10.0), MAX_DEFAULT_STALL_SECS);
        assert_eq!(secs(1e300, 1e300), MAX_DEFAULT_STALL_SECS);
        assert_eq!(secs(4e5, 1.0), MAX_DEFAULT_STALL_SECS);
    }
}
