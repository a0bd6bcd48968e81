//! Durable state: the inventory and the logins, in one redb database.
//!
//! All writes go through one writer thread ([`Writer`]), fed by the crate's own bounded
//! multi-producer ring (`ringmarket::mpmc::channel`): every connection task pushes, the writer
//! pops. A tokio semaphore with one permit per ring slot gives the async side back-pressure
//! without blocking a runtime thread (a permit travels with its operation and is returned once
//! the writer has popped it, so a push never finds the ring full).
//!
//! The writer takes every operation waiting in the ring (up to 512), applies them one after
//! another in a single write transaction, commits it with `Durability::Immediate` (an fsync)
//! and only then answers each operation. Applying the operations one at a time makes each
//! purchase atomic (the check of the units left and the decrement happen in the same serial
//! step), and batching makes one fsync cover many purchases (group commit). Reads use redb's
//! read transactions, which see the last commit. After a failed write the database handle is
//! replaced by a fresh one once the disk takes writes again (module `handle`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use blake2::{Blake2b, Digest};
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use ringmarket::mpmc::{self, PushError};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::handle::Handle;
use crate::protocol::{
    parse_units, parse_upc, valid_name, ErrorCode, Item, Token, MAX_ITEMS, MAX_UPC_DIGITS,
};

/// UPC to item name.
const NAMES: TableDefinition<u64, &str> = TableDefinition::new("names");
/// UPC to units available.
const UNITS: TableDefinition<u64, u64> = TableDefinition::new("units");
/// Blake2b-256 of a session token to (user, login time in Unix seconds).
const LOGINS: TableDefinition<&[u8], (&str, u64)> = TableDefinition::new("logins");

/// The most operations one transaction applies.
const MAX_BATCH: usize = 512;

/// Slots in the ring between the connection tasks and the writer.
const QUEUE: usize = 4 * MAX_BATCH;

/// A storage failure.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

macro_rules! impl_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> StoreError {
                StoreError(e.to_string())
            }
        }
    )*};
}
impl_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    std::io::Error
);

/// The built-in inventory.
pub fn default_inventory() -> Vec<Item> {
    [
        (1001, 50, "Blue widget"),
        (1002, 20, "Red gadget"),
        (1003, 5, "Gold sprocket"),
        (1004, 100, "Steel bolt (pack of 10)"),
        (1005, 1, "Antique gear"),
    ]
    .into_iter()
    .map(|(upc, units, name)| Item {
        upc,
        units,
        name: name.to_owned(),
    })
    .collect()
}

/// Parses an inventory file: one item a line, `<upc> <units> <name>`, blank lines and `#`
/// comments allowed. UPCs and units follow the protocol's rules ([`parse_upc`],
/// [`parse_units`], [`valid_name`]), so every item loaded can be listed and bought; the file
/// holds at most [`MAX_ITEMS`] items, the most a listing may announce.
///
/// # Errors
///
/// A message naming the first bad line, or a repeated UPC and the line that first gave it.
///
/// # Examples
///
/// ```
/// use ringmarket_inventory::store::parse_inventory;
///
/// let items = parse_inventory("# UPC units name\n1001 50 Blue widget\n").unwrap();
/// assert_eq!(items[0].name, "Blue widget");
/// let err = parse_inventory("1001 1 a\n+1002 1 b\n").unwrap_err();
/// assert!(err.to_string().starts_with("line 2: bad UPC"), "{err}");
/// ```
pub fn parse_inventory(text: &str) -> Result<Vec<Item>, StoreError> {
    let mut items: Vec<Item> = Vec::new();
    // UPC to the line that gave it.
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| StoreError(format!("line {}: {what}", n + 1));
        let mut parts = line.splitn(3, ' ');
        let upc = parts.next().unwrap_or("");
        let upc = parse_upc(upc).map_err(|_| {
            bad(&format!(
                "bad UPC {:?} (1 to {MAX_UPC_DIGITS} digits, no sign)",
                truncated(upc)
            ))
        })?;
        let units = parts.next().unwrap_or("");
        let units = parse_units(units).map_err(|_| {
            bad(&format!(
                "bad units {:?} (digits only, at most {})",
                truncated(units),
                u64::MAX
            ))
        })?;
        let name = parts.next().map(str::trim).unwrap_or("");
        if !valid_name(name) {
            return Err(bad("bad name (1 to 100 bytes, no control characters)"));
        }
        if let Some(first) = seen.insert(upc, n + 1) {
            return Err(bad(&format!("UPC {upc} repeats line {first}")));
        }
        if items.len() == MAX_ITEMS {
            return Err(bad(&format!(
                "more than {MAX_ITEMS} items, the most an inventory listing may hold"
            )));
        }
        items.push(Item {
            upc,
            units,
            name: name.to_owned(),
        });
    }
    if items.is_empty() {
        return Err(StoreError("the inventory holds no items".into()));
    }
    Ok(items)
}

/// At most 40 characters of `s`, for an error message.
fn truncated(s: &str) -> &str {
    s.char_indices().nth(40).map_or(s, |(end, _)| &s[..end])
}

/// The stored form of a token: its Blake2b-256 digest, so the database holds no usable
/// credential.
fn token_key(token: &Token) -> [u8; 32] {
    let mut hasher = Blake2b::<blake2::digest::consts::U32>::new();
    hasher.update(token.0);
    hasher.finalize().into()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The result of a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purchase {
    /// Bought and durable.
    Bought {
        /// Units left after the purchase.
        left: u64,
        /// The item's name.
        name: String,
    },
    /// Refused: nothing changed.
    Refused(ErrorCode, String),
}

enum Op {
    Buy {
        token: Token,
        upc: u64,
        quantity: u32,
        reply: oneshot::Sender<Result<Purchase, StoreError>>,
    },
    Login {
        token: Token,
        user: String,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Logout {
        token: Token,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// An operation in the ring, with the permit that reserved its slot.
struct Queued {
    op: Op,
    _slot: OwnedSemaphorePermit,
}

/// The open store: cheap to clone, shared by all connections.
#[derive(Clone)]
pub struct Store {
    db: Arc<Handle>,
    ops: mpmc::Producer<Queued>,
    /// One permit per free ring slot.
    slots: Arc<Semaphore>,
}

/// The writer thread; join it (after every [`Store`] clone is dropped) to be sure the last
/// commit is done.
#[derive(Debug)]
pub struct Writer(std::thread::JoinHandle<()>);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("free_slots", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Waits for the writer thread to finish its queue and exit.
    pub fn join(self) {
        let _ = self.0.join();
    }
}

/// What [`Store::open`] found.
#[derive(Debug, Clone, Copy)]
pub struct Opened {
    /// Items in the inventory.
    pub items: usize,
    /// Logins restored from the previous run.
    pub logins: usize,
    /// Whether the inventory was seeded now (a new data directory).
    pub seeded: bool,
}

impl Store {
    /// Opens (or creates) the store in `dir`, seeding the inventory with `seed` if the store is
    /// new, and starts the writer thread.
    ///
    /// # Errors
    ///
    /// When the directory or database cannot be created or opened (another server holding it
    /// open included).
    pub fn open(dir: &Path, seed: &[Item]) -> Result<(Store, Writer, Opened), StoreError> {
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError(format!(
                "cannot use {} as the data directory: it exists and is not a directory",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path: PathBuf = dir.join("inventory.redb");
        // redb answers some damaged files (a truncated one, for instance) with a panic rather
        // than an error: catch it and report the file as damaged.
        let (db, opened) = match catch_quietly(|| open_database(&path, seed)) {
            Ok(result) => result?,
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unreadable".into());
                return Err(StoreError(format!(
                    "cannot open {}: damaged ({what})",
                    path.display()
                )));
            }
        };
        let db = Arc::new(Handle::new(path, db));
        let (tx, rx) = mpmc::channel(QUEUE).map_err(|e| StoreError(e.to_string()))?;
        let writer_db = Arc::clone(&db);
        let handle = std::thread::Builder::new()
            .name("inventory-writer".into())
            .spawn(move || writer_loop(&writer_db, rx))?;
        let store = Store {
            db,
            ops: tx,
            slots: Arc::new(Semaphore::new(QUEUE)),
        };
        Ok((store, Writer(handle), opened))
    }

    /// Every item with its units, in UPC order, as of the last commit; `None` when the login
    /// of `token` no longer exists (it was logged out, perhaps on another connection).
    ///
    /// # Errors
    ///
    /// On a storage failure.
    pub fn inventory(&self, token: &Token) -> Result<Option<Vec<Item>>, StoreError> {
        // Held until the read is done, so that closing the database waits for it.
        let db = self.db.get()?;
        let read = db.begin_read()?;
        if read
            .open_table(LOGINS)?
            .get(token_key(token).as_slice())?
            .is_none()
        {
            return Ok(None);
        }
        let names = read.open_table(NAMES)?;
        let units = read.open_table(UNITS)?;
        let mut items = Vec::new();
        for entry in names.iter()? {
            let (upc, name) = entry?;
            let upc = upc.value();
            let left = units.get(upc)?.map_or(0, |v| v.value());
            items.push(Item {
                upc,
                units: left,
                name: name.value().to_owned(),
            });
        }
        Ok(Some(items))
    }

    /// The user a session token belongs to, if its login still exists.
    ///
    /// # Errors
    ///
    /// On a storage failure.
    pub fn session_user(&self, token: &Token) -> Result<Option<String>, StoreError> {
        // Held until the read is done, so that closing the database waits for it.
        let db = self.db.get()?;
        let read = db.begin_read()?;
        let logins = read.open_table(LOGINS)?;
        let user = logins
            .get(token_key(token).as_slice())?
            .map(|v| v.value().0.to_owned());
        Ok(user)
    }

    async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let closed = || StoreError("the store is closed".into());
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            op: make(reply),
            _slot: slot,
        };
        match self.ops.push(queued) {
            Ok(()) => {}
            Err(PushError::Disconnected(_)) => return Err(closed()),
            // Each operation in the ring holds one of `QUEUE` permits until the writer
            // pops it, so the ring always has room; should that fail, refuse cleanly.
            Err(PushError::Full(_)) => return Err(StoreError("the store queue is full".into())),
        }
        answer
            .await
            .map_err(|_| StoreError("the store writer stopped".into()))?
    }

    /// Buys `quantity` units of `upc` for the login of `token`; returns once the purchase is
    /// durable (or refused: `NotLoggedIn` when that login no longer exists).
    ///
    /// # Errors
    ///
    /// On a storage failure; nothing was bought then.
    pub async fn buy(&self, token: Token, upc: u64, quantity: u32) -> Result<Purchase, StoreError> {
        self.submit(|reply| Op::Buy {
            token,
            upc,
            quantity,
            reply,
        })
        .await
    }

    /// Records a login; returns once it is durable.
    ///
    /// # Errors
    ///
    /// On a storage failure.
    pub async fn login(&self, token: Token, user: String) -> Result<(), StoreError> {
        self.submit(|reply| Op::Login { token, user, reply }).await
    }

    /// Deletes a login record; returns once that is durable.
    ///
    /// # Errors
    ///
    /// On a storage failure.
    pub async fn logout(&self, token: Token) -> Result<(), StoreError> {
        self.submit(|reply| Op::Logout { token, reply }).await
    }
}

/// Opens (or creates) the database at `path` and seeds it with `seed` if it is new.
fn open_database(path: &Path, seed: &[Item]) -> Result<(Database, Opened), StoreError> {
    let db = Database::create(path)
        .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
    let mut seeded = false;
    let txn = db.begin_write()?;
    {
        let mut names = txn.open_table(NAMES)?;
        let mut units = txn.open_table(UNITS)?;
        txn.open_table(LOGINS)?;
        if names.is_empty()? {
            for item in seed {
                names.insert(item.upc, item.name.as_str())?;
                units.insert(item.upc, item.units)?;
            }
            seeded = true;
        }
    }
    txn.commit()?;
    let read = db.begin_read()?;
    let opened = Opened {
        items: read.open_table(NAMES)?.len()? as usize,
        logins: read.open_table(LOGINS)?.len()? as usize,
        seeded,
    };
    drop(read);
    Ok((db, opened))
}

/// Runs `f`, catching a panic in it without printing the panic message for this thread (panics
/// on other threads meanwhile are reported as usual).
pub(crate) fn catch_quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    // One at a time: each call restores the hook it found, which must not be another call's.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let previous = Arc::new(std::panic::take_hook());
    let me = std::thread::current().id();
    let others = Arc::clone(&previous);
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != me {
            others(info);
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    // Dropping the quiet hook drops its clone of `previous`.
    drop(std::panic::take_hook());
    match Arc::try_unwrap(previous) {
        Ok(hook) => std::panic::set_hook(hook),
        Err(shared) => std::panic::set_hook(Box::new(move |info| shared(info))),
    }
    result
}

enum Reply {
    Buy(
        oneshot::Sender<Result<Purchase, StoreError>>,
        Result<Purchase, StoreError>,
    ),
    Unit(
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    ),
}

fn writer_loop(db: &Handle, rx: mpmc::Consumer<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Ends once every `Store` clone is gone and the ring is drained.
    while let Ok(first) = rx.pop_wait() {
        batch.push(first.op);
        while batch.len() < MAX_BATCH {
            match rx.pop() {
                Ok(queued) => batch.push(queued.op),
                Err(_) => break,
            }
        }
        match db
            .for_write()
            .and_then(|current| apply(&current, &mut batch))
        {
            // Committed: every answer stands.
            Ok(replies) => {
                for reply in replies {
                    match reply {
                        Reply::Buy(tx, result) => drop(tx.send(result)),
                        Reply::Unit(tx, result) => drop(tx.send(result)),
                    }
                }
            }
            // Not committed: nothing in the batch happened.
            Err(e) => {
                for op in batch.drain(..) {
                    // The server's log adds the "storage failure" prefix.
                    let err = || StoreError(e.0.clone());
                    match op {
                        Op::Buy { reply, .. } => drop(reply.send(Err(err()))),
                        Op::Login { reply, .. } | Op::Logout { reply, .. } => {
                            drop(reply.send(Err(err())))
                        }
                    }
                }
                // redb refuses everything after an I/O error: a fresh handle comes with the
                // next write (see `handle`).
                db.close();
            }
        }
    }
}

/// Applies `batch` in one transaction and commits it durably. On success the batch is emptied
/// and the answers returned; on failure the batch is left for the caller to refuse.
fn apply(db: &Database, batch: &mut Vec<Op>) -> Result<Vec<Reply>, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate);
    // One entry per operation: a purchase's outcome, or `None` for a login or logout.
    let mut results: Vec<Option<Purchase>> = Vec::with_capacity(batch.len());
    {
        let names = txn.open_table(NAMES)?;
        let mut units = txn.open_table(UNITS)?;
        let mut logins = txn.open_table(LOGINS)?;
        for op in batch.iter() {
            match op {
                Op::Buy {
                    token,
                    upc,
                    quantity,
                    ..
                } => {
                    if logins.get(token_key(token).as_slice())?.is_none() {
                        results.push(Some(Purchase::Refused(
                            ErrorCode::NotLoggedIn,
                            "this login has ended; log in again".into(),
                        )));
                        continue;
                    }
                    let Some(name) = names.get(*upc)?.map(|v| v.value().to_owned()) else {
                        results.push(Some(Purchase::Refused(
                            ErrorCode::UnknownUpc,
                            format!("no item has UPC {upc}"),
                        )));
                        continue;
                    };
                    let have = units.get(*upc)?.map_or(0, |v| v.value());
                    let want = u64::from(*quantity);
                    if want > have {
                        results.push(Some(Purchase::Refused(
                            ErrorCode::InsufficientUnits,
                            format!("asked for {want}, {have} left"),
                        )));
                        continue;
                    }
                    units.insert(*upc, have - want)?;
                    results.push(Some(Purchase::Bought {
                        left: have - want,
                        name,
                    }));
                }
                Op::Login { token, user, .. } => {
                    logins.insert(token_key(token).as_slice(), (user.as_str(), now()))?;
                    results.push(None);
                }
                Op::Logout { token, .. } => {
                    logins.remove(token_key(token).as_slice())?;
                    results.push(None);
                }
            }
        }
    }
    txn.commit()?;
    Ok(batch
        .drain(..)
        .zip(results)
        .map(|(op, result)| match op {
            Op::Buy { reply, .. } => Reply::Buy(
                reply,
                result.ok_or_else(|| StoreError("purchase without an outcome".into())),
            ),
            Op::Login { reply, .. } | Op::Logout { reply, .. } => Reply::Unit(reply, Ok(())),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_files_parse_and_bad_ones_are_refused() {
        let items = parse_inventory("# c\n\n7 3 Seven things\n8 0 Eight\n").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].name, "Seven things");
        assert_eq!(items[1].units, 0);
        for bad in [
            "",
            "x 1 a",
            "1 -1 a",
            "1 +1 a",
            "1 1",
            "1 1 a\n1 2 b",
            "1 1 a\tb",
            "+1 1 a",
            "-1 1 a",
            "10000000000000000000 1 a",
        ] {
            assert!(parse_inventory(bad).is_err(), "{bad:?}");
        }
    }
}
