//! Files that are replaced whole or not at all.
//!
//! A command that writes files stages each in a temporary file beside its target (same
//! folder, so the final rename stays on one file system) and moves them all into place only
//! once every one is complete. A run that fails before that leaves the files that were there
//! untouched: the temporaries are removed when the [`StagedFiles`] is dropped. Every atomic
//! file replacement of the program goes through here: `gen`'s scenario files, the readings
//! pipeline's output files and the inventory client's local inventory.
//!
//! # Examples
//!
//! ```
//! use std::io::Write as _;
//! use ringmarket_cli::staged::StagedFiles;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let target = dir.path().join("out.txt");
//! let mut staged = StagedFiles::new();
//! let mut file = staged.create(&target).unwrap();
//! file.write_all(b"all or nothing\n").unwrap();
//! file.sync_all().unwrap();
//! assert!(!target.exists()); // nothing replaced before the commit
//! staged.commit().unwrap();
//! assert_eq!(std::fs::read_to_string(&target).unwrap(), "all or nothing\n");
//! ```

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
    /// The name is fresh and unpredictable and the file is created exclusively (`O_EXCL`), so
    /// nothing planted beside the target in advance (a link, say) is written through. The file
    /// gets the permissions `File::create` would leave on `target`: those of the file already
    /// there, or the default mode for a new file (not the temporaries' `0600`).
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
            // A new file's mode as `File::create` gives it (before the umask).
            use std::os::unix::fs::PermissionsExt as _;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let (file, path) = builder.tempfile_in(dir).map_err(named)?.into_parts();
        // A file being replaced keeps its permissions, as with `File::create`.
        if let Ok(existing) = std::fs::metadata(target) {
            file.set_permissions(existing.permissions())
                .map_err(named)?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_permissions_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        std::fs::write(&target, "old").unwrap();
        let mut readonly = std::fs::metadata(&target).unwrap().permissions();
        readonly.set_readonly(true);
        std::fs::set_permissions(&target, readonly).unwrap();

        let mut staged = StagedFiles::new();
        staged.create(&target).unwrap().write_all(b"new").unwrap();
        staged.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert!(std::fs::metadata(&target).unwrap().permissions().readonly());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        // Dropped before the commit: the target is untouched and the temporary is gone.
        let mut staged = StagedFiles::new();
        staged.create(&target).unwrap().write_all(b"lost").unwrap();
        drop(staged);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
