//! `ringmarket readings read FILE...`: prints the readings of consumer files and reports how
//! many were read from each, and where a damaged file stops being readable.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, ErrorKind, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::format::RecordReader;
use super::reading::Reading;
use crate::Failure;

/// Options of `ringmarket readings read`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Readings files written by `ringmarket readings run`.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print each reading as one JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A reading as printed by `--json`: its fields plus the unit of its value.
#[derive(Serialize)]
struct JsonReading<'a> {
    #[serde(flatten)]
    reading: &'a Reading,
    unit: &'static str,
}

/// Prints every readable reading to stdout and one line per file to stderr:
/// `FILE: N readings` or `FILE: N readings, then damaged from byte B: why`.
///
/// # Errors
///
/// Status 1 if any file could not be opened or is damaged (reported per file), or stdout could
/// not be written (other than by a closed pipe).
pub fn read(args: &ReadArgs) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut all_good = true;
    for path in &args.files {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) => {
                out.flush().or_else(ignore_broken_pipe)?;
                eprintln!("{}: cannot open: {e}", path.display());
                all_good = false;
                continue;
            }
        };
        let mut reader = RecordReader::new(BufReader::with_capacity(1 << 16, file));
        let damage = loop {
            match reader.next_reading() {
                Ok(Some(reading)) => {
                    let written = if args.json {
                        serde_json::to_writer(
                            &mut out,
                            &JsonReading {
                                reading: &reading,
                                unit: reading.quantity.unit(),
                            },
                        )
                        .map_err(io::Error::from)
                        .and_then(|()| out.write_all(b"\n"))
                    } else {
                        writeln!(out, "{reading}")
                    };
                    if let Err(e) = written {
                        // A closed pipe (`| head`) is the reader's choice, not an error.
                        return ignore_broken_pipe(e).map_err(Failure::from);
                    }
                }
                Ok(None) => break None,
                Err(damage) => break Some(damage),
            }
        };
        if let Err(e) = out.flush() {
            return ignore_broken_pipe(e).map_err(Failure::from);
        }
        let count = reader.count();
        match damage {
            None => eprintln!("{}: {count} readings", path.display()),
            Some(damage) => {
                all_good = false;
                eprintln!("{}: {count} readings, then {damage}", path.display());
            }
        }
    }
    if all_good {
        Ok(())
    } else {
        Err(Failure::silent(1))
    }
}

fn ignore_broken_pipe(e: io::Error) -> anyhow::Result<()> {
    if e.kind() == ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(anyhow::Error::new(e).context("writing to stdout"))
    }
}
