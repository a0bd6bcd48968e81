//! Output files that are written whole or not at all.
//!
//! A command that writes several files stages each in a temporary file beside its target (same
//! folder, so the final rename stays on one file system) and moves them all into place only
//! once every one is complete. A run that fails before that leaves the files that were there
//! untouched: the temporaries are removed when the [`StagedFiles`] is dropped.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use tempfile::TempPath;

/// Temporary files waiting to replace their targets.
#[derive(Debug, Default)]
pub struct StagedFiles {
    staged: Vec<(TempPath, PathBuf)>,
}

impl StagedFiles {
    /// No files staged yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates an empty temporary file beside `target` (named `.NAME.XXXXXX.tmp`), to be renamed
    /// to `target` by [`StagedFiles::commit`], and returns it open for writing.
    ///
    /// # Errors
    ///
    /// `target` is a folder, or the temporary file cannot be created (missing folder, no
    /// permission, too many open files, ...). The error names `target`.
    pub fn create(&mut self, target: &Path) -> io::Result<File> {
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", target.display()));
        if target.is_dir() {
            return Err(named(io::Error::other("is a folder")));
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut prefix = OsString::from(".");
        prefix.push(target.file_name().unwrap_or_default());
        prefix.push(".");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            // The mode `File::create` gives (before the umask), not the temporaries' 0600.
            use std::os::unix::fs::PermissionsExt as _;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let (file, path) = builder.tempfile_in(dir).map_err(named)?.into_parts();
        self.staged.push((path, target.to_path_buf()));
        Ok(file)
    }

    /// Renames every staged file to its target, replacing what was there.
    ///
    /// # Errors
    ///
    /// A rename failed; the error names the target. The staged files not yet renamed are
    /// removed.
    pub fn commit(self) -> io::Result<()> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (temp, target) in self.staged {
            temp.persist(&target).map_err(|e| {
                io::Error::new(
                    e.error.kind(),
                    format!("cannot replace {}: {}", target.display(), e.error),
                )
            })?;
            if let Some(dir) = target.parent() {
                if !dirs.iter().any(|d| d == dir) {
                    dirs.push(dir.to_path_buf());
                }
            }
        }
        // Make the renames durable; a file system that cannot sync a folder loses nothing
        // that was not already at risk, so a failure here is not an error.
        #[cfg(unix)]
        for dir in dirs {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}
