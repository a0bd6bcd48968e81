//! `--log FILE`: market calls through `tracing` into a size-rotated file.
//!
//! Without `--log` no subscriber is installed, and every `tracing` event in the runner costs
//! one relaxed load of tracing's global level filter, which says "off".

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::Mutex;

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};

/// Installs the global subscriber writing to `path`, rotated once it passes `max_bytes`
/// (whole lines are never split), keeping `backups` older files (`FILE.1` is the newest).
///
/// # Errors
///
/// The file cannot be created or opened for appending.
pub fn install(path: &Path, max_bytes: usize, backups: usize) -> Result<(), String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
    let path = cwd.join(path);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the log folder {}: {e}", dir.display()))?;
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
        .with_writer(Mutex::new(writer))
        .with_ansi(false)
        .with_thread_names(true)
        .with_target(false)
        .with_max_level(tracing::Level::INFO)
        .try_init()
        .map_err(|e| format!("cannot start logging: {e}"))
}
