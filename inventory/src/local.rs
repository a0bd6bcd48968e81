//! The client's local inventory: what each user bought through clients sharing one file.
//!
//! The local inventory (per user: UPC, name, units bought) lives in a JSON file that is
//! replaced atomically ([`ringmarket_cli::staged`]: temporary file, fsync, rename, fsync of the
//! directory) after every purchase. Several clients may share the file: each save takes a
//! lock, re-reads the file and adds the units this client bought since its last save to what
//! is there (see [`LocalInventory::add_to_file`]).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use ringmarket_cli::staged::StagedFiles;

/// One item in the local inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalItem {
    /// The item's name when it was bought.
    pub name: String,
    /// Units bought so far.
    pub units: u64,
}

/// Why [`LocalInventory::load`] could not read a local inventory file.
#[derive(Debug)]
pub enum LocalError {
    /// The file exists but cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why reading it failed.
        error: io::Error,
    },
    /// The file was read but is not a local inventory (not JSON, or not of its shape).
    NotLocalInventory {
        /// The file.
        path: PathBuf,
        /// Why its contents are not a local inventory.
        error: serde_json::Error,
    },
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalError::Read { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            LocalError::NotLocalInventory { path, error } => {
                write!(f, "{} is not a local inventory: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for LocalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LocalError::Read { error, .. } => Some(error),
            LocalError::NotLocalInventory { error, .. } => Some(error),
        }
    }
}

/// What each user bought through this client: user to UPC to item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalInventory {
    /// Per user, per UPC.
    pub users: BTreeMap<String, BTreeMap<u64, LocalItem>>,
}

impl LocalInventory {
    /// Reads the local inventory; a missing file is an empty inventory.
    ///
    /// # Errors
    ///
    /// A [`LocalError`] when the file exists but cannot be read or is not a local inventory.
    pub fn load(path: &Path) -> Result<LocalInventory, LocalError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|error| LocalError::NotLocalInventory {
                    path: path.to_owned(),
                    error,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(LocalInventory::default()),
            Err(error) => Err(LocalError::Read {
                path: path.to_owned(),
                error,
            }),
        }
    }

    /// Writes the local inventory atomically: a reader sees the old file or the new one, never
    /// a mix, and the new one is on disk when this returns.
    ///
    /// # Errors
    ///
    /// When the file or its directory cannot be written.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        let mut staged = StagedFiles::new();
        let mut file = staged.create(path)?;
        file.write_all(&json)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        // On any error the temporary file is removed when `staged` drops.
        staged.commit()
    }

    /// Adds this inventory's units to the inventory in the file at `path`, and returns what the
    /// file holds afterwards: `self` holds purchases not yet recorded, and they are added per
    /// user and UPC to the units already in the file (an item new to the file keeps the name
    /// in `self`). Clients sharing one file therefore never lose each other's purchases.
    ///
    /// The read, merge and write happen under an exclusive operating-system lock on the file
    /// `PATH.lock` next to it (created if missing, and left in place; waited for up to
    /// [`LOCK_WAIT`]); a client that stops while saving releases it with its process, so
    /// no lock is ever left behind. The new file replaces the old one atomically as with
    /// [`LocalInventory::save`].
    ///
    /// # Errors
    ///
    /// When the lock cannot be taken in time, or the file cannot be read, is not a local
    /// inventory, or cannot be replaced; the file is then unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket_inventory::local::LocalInventory;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("local.json");
    /// let (mut mine, mut theirs) = (LocalInventory::default(), LocalInventory::default());
    /// mine.add("alice", 1001, "Blue widget", 1);
    /// theirs.add("bob", 1001, "Blue widget", 2);
    /// mine.add_to_file(&path).unwrap();
    /// let all = theirs.add_to_file(&path).unwrap();
    /// assert_eq!(all.users["alice"][&1001].units, 1);
    /// assert_eq!(all.users["bob"][&1001].units, 2);
    /// ```
    pub fn add_to_file(&self, path: &Path) -> io::Result<LocalInventory> {
        let _lock = FileLock::acquire(path)?;
        let mut merged = LocalInventory::load(path)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        for (user, items) in &self.users {
            for (&upc, item) in items {
                merged.add(user, upc, &item.name, item.units);
            }
        }
        // An error means the file was not replaced (see `StagedFiles::commit`): the purchases
        // in `self` are not in it, and the next save adds them again.
        merged.save(path)?;
        Ok(merged)
    }

    /// Adds `units` of an item to `user`'s inventory.
    pub fn add(&mut self, user: &str, upc: u64, name: &str, units: u64) {
        let item = self
            .users
            .entry(user.to_owned())
            .or_default()
            .entry(upc)
            .or_insert_with(|| LocalItem {
                name: name.to_owned(),
                units: 0,
            });
        item.units = item.units.saturating_add(units);
    }
}

/// How long a save waits for another client's lock on the local inventory.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// An exclusive lock on a local inventory file: an operating-system lock on `PATH.lock`,
/// released when dropped or when the process ends (so a client that stops while saving
/// leaves no lock behind).
///
/// The holder removes the lock file before releasing it, keeping the folder tidy. A waiter
/// may then get the lock on the removed file while a newcomer creates and locks a new one;
/// so a lock only counts once the path still names the very file locked.
struct FileLock {
    path: PathBuf,
    _file: std::fs::File,
}

impl FileLock {
    fn acquire(target: &Path) -> io::Result<FileLock> {
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let path = target.with_file_name(name);
        let cannot =
            |e: io::Error| io::Error::new(e.kind(), format!("cannot lock {}: {e}", path.display()));
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(cannot)?;
            match try_lock(&file) {
                Ok(true) if same_file(&file, &path) => return Ok(FileLock { path, _file: file }),
                // Locked after its holder removed it: try the file there now.
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => return Err(cannot(e)),
            }
            if start.elapsed() >= LOCK_WAIT {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "{} is locked by another client (through {}) for more than {} s",
                        target.display(),
                        path.display(),
                        LOCK_WAIT.as_secs()
                    ),
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

/// Takes an exclusive lock on `file` if no one holds one: `Ok(false)` when someone does.
#[cfg(unix)]
fn try_lock(file: &std::fs::File) -> io::Result<bool> {
    use rustix::fs::{flock, FlockOperation};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Takes an exclusive lock on `file` if no one holds one: `Ok(false)` when someone does.
#[cfg(not(unix))]
#[allow(clippy::incompatible_msrv)] // Outside Unix the client needs Rust 1.89.
fn try_lock(file: &std::fs::File) -> io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Whether `path` names the open `file` (not a file created there since).
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        // Elsewhere the lock file is never removed (see `Drop`), so the path keeps naming it.
        let _ = (file, path);
        true
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Removed while still locked; the lock goes with the file handle right after.
        #[cfg(unix)]
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_inventory_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("local.json");
        assert_eq!(
            LocalInventory::load(&path).unwrap(),
            LocalInventory::default()
        );
        let mut local = LocalInventory::default();
        local.add("alice", 1001, "Blue widget", 2);
        local.add("alice", 1001, "Blue widget", 3);
        local.add("bob", 7, "Seven", 1);
        local.save(&path).unwrap();
        let back = LocalInventory::load(&path).unwrap();
        assert_eq!(back, local);
        assert_eq!(back.users["alice"][&1001].units, 5);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        std::fs::write(&path, "{ not json").unwrap();
        assert!(LocalInventory::load(&path).is_err());
    }
}
