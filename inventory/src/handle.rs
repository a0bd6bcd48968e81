//! The store's database handle, replaced by a fresh one after a failed write.
//!
//! redb refuses every transaction after an I/O error (a full disk, say) until the database is
//! opened again. Opening it runs redb's repair, which writes; a repair whose writes partly
//! fail can leave the file inconsistent (with a file-size limit standing in for a full disk,
//! reopening at once, while writes still failed, left garbage items in the inventory listing
//! in 8 of 20 runs of one fail-and-recover round; reopening only after the limit was lifted,
//! in none of 20). So after a failed write the handle is
//! closed (once the readers under way let go of it), and a new one is opened only when the
//! next write comes and a probe shows that the data directory takes writes again.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redb::Database;

use crate::store::{catch_quietly, StoreError};

/// How long closing waits for the read transactions under way on the old handle.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Bytes the data directory must take (written and synced to a temporary file) before the
/// database is opened again: room for redb's repair and the next commits.
const PROBE_BYTES: usize = 4 << 20;

/// The database, or none while it is closed after a failure.
pub(crate) struct Handle {
    path: PathBuf,
    current: RwLock<Option<Arc<Database>>>,
}

impl Handle {
    pub(crate) fn new(path: PathBuf, db: Database) -> Handle {
        Handle {
            path,
            current: RwLock::new(Some(Arc::new(db))),
        }
    }

    /// The open database, for one transaction (closing waits until it is dropped).
    ///
    /// # Errors
    ///
    /// While the database is closed after a failed write.
    pub(crate) fn get(&self) -> Result<Arc<Database>, StoreError> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                StoreError(format!(
                    "{} is closed after a failed write (reopened with the next write the disk \
                     takes)",
                    self.path.display()
                ))
            })
    }

    /// Drops the database handle once no reader holds it (waiting up to [`CLOSE_WAIT`]).
    /// Only the writer thread calls this.
    pub(crate) fn close(&self) {
        let Some(mut old) = self
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let start = Instant::now();
        loop {
            match Arc::try_unwrap(old) {
                Ok(db) => return drop(db),
                Err(shared) if start.elapsed() < CLOSE_WAIT => {
                    old = shared;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(shared) => {
                    // Readers kept it: put it back, the next write closes it again.
                    *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(shared);
                    return;
                }
            }
        }
    }

    /// The database for a write: the open one, or a fresh one if it was closed and the data
    /// directory takes writes again. Only the writer thread calls this.
    ///
    /// # Errors
    ///
    /// When the directory still refuses writes, or the database cannot be opened.
    pub(crate) fn for_write(&self) -> Result<Arc<Database>, StoreError> {
        if let Ok(db) = self.get() {
            return Ok(db);
        }
        let dir = self.path.parent().unwrap_or(&self.path);
        probe(dir).map_err(|e| StoreError(format!("the disk still refuses writes: {e}")))?;
        let db = match catch_quietly(|| Database::create(&self.path)) {
            Ok(db) => db?,
            Err(_) => return Err(StoreError(format!("{} is damaged", self.path.display()))),
        };
        eprintln!("ringmarket serve: reopened the database");
        let db = Arc::new(db);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&db));
        Ok(db)
    }
}

/// Writes and syncs [`PROBE_BYTES`] to an unnamed temporary file in `dir`.
fn probe(dir: &std::path::Path) -> std::io::Result<()> {
    let mut file = tempfile::tempfile_in(dir)?;
    let block = [0u8; 64 * 1024];
    for _ in 0..PROBE_BYTES / block.len() {
        file.write_all(&block)?;
    }
    file.sync_all()
}
