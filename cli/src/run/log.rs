//! `--log FILE`: market calls through `tracing` into a size-rotated file.
//!
//! Without `--log` no subscriber is installed, and every `tracing` event in the runner costs
//! one relaxed load of tracing's global level filter, which says "off".

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};

/// Installs the global subscriber writing to `path`, rotated once it passes `max_bytes`
/// (whole lines are never split), keeping `backups` older files (`FILE.1` is the newest).
///
/// # Errors
///
/// The path exists and is not a regular file (rotation renames and removes what is at the
/// path: a device such as `/dev/null` must not be), or the file cannot be created or opened
/// for appending.
pub fn install(path: &Path, max_bytes: usize, backups: usize) -> Result<(), String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
    let path = cwd.join(path);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the log folder {}: {e}", dir.display()))?;
    }
    match fs::metadata(&path) {
        Ok(meta) if !meta.is_file() => {
            return Err(format!(
                "the log file {} exists and is not a regular file",
                path.display()
            ))
        }
        _ => {}
    }
    // Open once here so that a bad path is an error message, not a failure later.
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?;
    let writer = FileRotate::new(
        &path,
        AppendCount::new(backups),
        ContentLimit::BytesSurpassed(max_bytes),
        Compression::None,
        None,
    );
    tracing_subscriber::fmt()
        .with_writer(Mutex::new(Checked(writer)))
        .with_ansi(false)
        .with_thread_names(true)
        .with_target(false)
        .with_max_level(tracing::Level::INFO)
        .try_init()
        .map_err(|e| format!("cannot start logging: {e}"))
}

/// The first error writing the log, if any.
static FAILURE: OnceLock<io::Error> = OnceLock::new();

/// The first error writing the log, if there was one: the run reports it once at its end
/// (later writes are still tried; their errors are not reported one by one).
pub fn failure() -> Option<&'static io::Error> {
    FAILURE.get()
}

/// A writer that keeps its first error in [`FAILURE`] and tells the logger every write went
/// well, so that a failing log (a full disk) is reported once, not once per event.
struct Checked<W>(W);

impl<W: Write> Write for Checked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Err(e) = self.0.write_all(buf) {
            let _ = FAILURE.set(e);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Err(e) = self.0.flush() {
            let _ = FAILURE.set(e);
        }
        Ok(())
    }
}
