//! The run's output: each placed order's lines written to stdout (and checked against
//! `--expect`) as the consumer that placed it produces them, one line at a time.
//!
//! Nothing is accumulated: peak memory follows the scenario (the longest line), not the
//! output. A cart's lines stay together on stdout: its consumer holds the sink while writing
//! them.

use std::io::{self, BufWriter, ErrorKind, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use indicatif::ProgressBar;

use crate::scenario::check::Tally;

/// Where the consumers' orders go.
pub struct Sink {
    inner: Mutex<Inner>,
    /// Lines handled (written or dropped after a closed pipe, and checked): progress for the
    /// stall detector while a long cart is being written.
    lines: AtomicU64,
    bar: ProgressBar,
}

struct Inner {
    /// stdout was closed (`| head`): the run goes on without printing.
    pipe_closed: bool,
    /// The first error writing stdout other than a closed pipe: the run is abandoned.
    error: Option<io::Error>,
    /// Writing failed (the error may have been taken already): nothing more is written.
    failed: bool,
    /// The `--expect` comparison, fed as lines are written.
    tally: Option<Tally>,
    /// The line being written, kept to reuse its allocation.
    line: String,
}

impl Sink {
    /// A sink writing to stdout around `bar`, checking against `expected` if given.
    pub fn new(bar: ProgressBar, expected: Option<Tally>) -> Self {
        Sink {
            inner: Mutex::new(Inner {
                pipe_closed: false,
                error: None,
                failed: false,
                tally: expected,
                line: String::new(),
            }),
            lines: AtomicU64::new(0),
            bar,
        }
    }

    /// Writes `NAME bought REPR` for each repr, together; does nothing once writing failed.
    pub fn cart<'a>(&self, name: &str, reprs: impl IntoIterator<Item = &'a str>) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Inner {
            pipe_closed,
            error,
            failed,
            tally,
            line,
        } = &mut *guard;
        if *failed {
            return;
        }
        let stdout = io::stdout();
        self.bar.suspend(|| {
            let mut out = BufWriter::with_capacity(64 << 10, stdout.lock());
            for repr in reprs {
                line.clear();
                line.push_str(name);
                line.push_str(" bought ");
                line.push_str(repr);
                line.push('\n');
                if let Some(tally) = tally.as_mut() {
                    tally.produce(line);
                }
                if !*pipe_closed {
                    if let Err(e) = out.write_all(line.as_bytes()) {
                        note(e, pipe_closed, error);
                    }
                }
                // Relaxed: a progress counter; no data hangs on it.
                self.lines.fetch_add(1, Ordering::Relaxed);
                if error.is_some() {
                    break;
                }
            }
            if !*pipe_closed && error.is_none() {
                if let Err(e) = out.flush() {
                    note(e, pipe_closed, error);
                }
            }
            // A failed write leaves its bytes in the buffer; they are dropped, not retried.
            let _ = out.into_parts();
        });
        *failed = error.is_some();
        if line.capacity() > 64 << 10 {
            // Gives back what a long name's line took.
            *line = String::new();
        }
    }

    /// Lines handled so far.
    pub fn lines(&self) -> u64 {
        // Relaxed: see `cart`.
        self.lines.load(Ordering::Relaxed)
    }

    /// The error that ended the output, if any (taken once).
    pub fn take_error(&self) -> Option<io::Error> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .error
            .take()
    }

    /// The `--expect` difference, if expected output was given and the output differs.
    pub fn diff(&self, limit: usize) -> Option<String> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.tally.as_ref().and_then(|t| t.diff(limit))
    }
}

/// Records a write error: a closed pipe stops the printing, anything else the run.
fn note(e: io::Error, pipe_closed: &mut bool, error: &mut Option<io::Error>) {
    if e.kind() == ErrorKind::BrokenPipe {
        *pipe_closed = true;
    } else if error.is_none() {
        *error = Some(e);
    }
}
