//! The document store: one SQLite file in Trilium 0.63.7's format.
//!
//! * One writer connection behind a mutex; every write runs in one IMMEDIATE transaction
//!   through [`WriteTx`], which records the `entity_changes` ids it wrote. After commit
//!   those ids are broadcast to subscribers (sync, live UI).
//! * A small pool of read-only connections; in WAL mode readers never wait for the writer.

pub mod attachments;
pub mod attribute_view;
pub mod backup;
pub mod consistency;
pub mod consistency_checks;
pub mod entity_changes;
mod error;
pub mod graph;
pub mod init;
pub mod open;
pub mod options;
pub mod password;
pub mod protected;
pub mod peer_notes;
pub mod blob_users;
pub mod schema;
pub mod search_candidates;
pub mod search_view;
pub mod sessions;
pub mod sector_cache;
pub mod tree;
pub mod tree_rule;
pub mod tree_view;
pub mod note_view;
pub mod deletion;
pub mod revisions;
pub mod live;
pub mod history;
pub mod syncui;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::broadcast;

pub use entity_changes::EntityChange;
pub use error::{DbError, StorageFault};
pub use schema::TRILIUM_DB_VERSION;

use crate::hashing;

/// Id of this running instance, written into `entity_changes.instanceId`.
/// Trilium makes a new one per process; Canopy persists it in the data directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceId(pub String);

impl From<&str> for InstanceId {
    fn from(s: &str) -> Self {
        InstanceId(s.to_owned())
    }
}
impl From<String> for InstanceId {
    fn from(s: String) -> Self {
        InstanceId(s)
    }
}
impl From<&String> for InstanceId {
    fn from(s: &String) -> Self {
        InstanceId(s.clone())
    }
}
impl From<&InstanceId> for InstanceId {
    fn from(s: &InstanceId) -> Self {
        s.clone()
    }
}
impl std::fmt::Display for InstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl InstanceId {
    /// A fresh random id in Trilium's format (12 characters of `[0-9A-Za-z]`).
    pub fn generate() -> Self {
        InstanceId(hashing::random_string(12))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who causes a write: the instance, plus the UI component (Trilium's
/// `trilium-component-id` header; `"NA"` when unknown, `"etapi"` for ETAPI).
#[derive(Debug, Clone)]
pub struct ChangeSource {
    pub instance_id: InstanceId,
    pub component_id: String,
}

impl ChangeSource {
    pub fn new(instance_id: impl Into<InstanceId>) -> Self {
        ChangeSource { instance_id: instance_id.into(), component_id: "NA".into() }
    }
    pub fn with_component(mut self, component_id: impl Into<String>) -> Self {
        self.component_id = component_id.into();
        self
    }
}

/// Sent to subscribers after each committed write that touched `entity_changes`.
#[derive(Debug, Clone)]
pub struct CommittedChanges {
    /// `entity_changes.id` values written by the transaction, in write order.
    pub ids: Arc<Vec<i64>>,
}

pub type SqlResult<T> = Result<T, DbError>;

/// What the hash check does with blobs nothing uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnusedBlobs {
    /// Erase them first, as Trilium does (each side on its own, or the `blobs` sectors differ).
    Erase,
    /// Keep those whose entity change is newer than `changed_after`, erase the older ones: a push is
    /// open since then, and a blob it brought may be used by a row of its next batch. (Older unused
    /// blobs, such as the one an edit just replaced, go as usual: peers have erased theirs.)
    Keep { changed_after: i64 },
}

/// An open document. Cheap to clone (shared handle).
#[derive(Clone)]
pub struct Document {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    db_version: i64,
    events: broadcast::Sender<CommittedChanges>,
    sector_cache: Mutex<Option<sector_cache::Cache>>,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document").field("path", &self.inner.path).field("db_version", &self.inner.db_version).finish()
    }
}

impl Document {
    /// Opens the document at `path`, creating a new one (Trilium's `new-document`
    /// content) only if the file does not exist. `instance_id` stamps the
    /// `entity_changes` rows of a newly created document.
    pub fn open_or_create(path: &Path, instance_id: impl Into<InstanceId>) -> SqlResult<Document> {
        open::open_or_create(path, &instance_id.into())
    }

    /// Opens an existing document; never creates one.
    pub fn open_existing(path: &Path) -> SqlResult<Document> {
        open::open_existing(path)
    }

    pub(crate) fn from_parts(path: PathBuf, writer: Connection, db_version: i64) -> Self {
        let (events, _) = broadcast::channel(1024);
        let inner = Inner {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            db_version,
            events,
            sector_cache: Mutex::new(None),
        };
        Document { inner: Arc::new(inner) }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// `options.dbVersion` as found at open time (228).
    pub fn db_version(&self) -> i64 {
        self.inner.db_version
    }

    /// Subscribe to committed writes.
    /// What the sync hash check compares: unused blobs are erased first (each side does it on its
    /// own, as Trilium does, or the `blobs` sectors differ), then the sector hashes, kept current
    /// incrementally, and the newest synced change id.
    pub fn hash_check_state(&self, source: &ChangeSource) -> SqlResult<(sector_cache::SectorHashes, i64)> {
        self.hash_check_state_with(source, || UnusedBlobs::Erase)
    }

    /// [`hash_check_state`](Self::hash_check_state), erasing unused blobs or keeping them (while a
    /// push is being received: a blob may arrive a batch before the row that uses it). `unused` is
    /// asked once the writer is held, so no batch can be applied between the answer and the sweep.
    pub fn hash_check_state_with(
        &self,
        source: &ChangeSource,
        unused: impl FnOnce() -> UnusedBlobs,
    ) -> SqlResult<(sector_cache::SectorHashes, i64)> {
        self.write(source, |tx| {
            let mut cache = self.inner.sector_cache.lock().unwrap_or_else(|e| e.into_inner());
            let keep_after = match unused() {
                UnusedBlobs::Erase => None,
                UnusedBlobs::Keep { changed_after } => Some(changed_after),
            };
            {
                let erased = sector_cache::erase_unused_blobs(tx.conn(), &cache, keep_after)?;
                if !erased.is_empty() {
                    tracing::info!("erased {} unused blobs", erased.len());
                }
            }
            let hashes = sector_cache::current(tx.conn(), &mut cache)?;
            let max: i64 = tx
                .conn()
                .query_row("SELECT COALESCE(MAX(id), 0) FROM entity_changes WHERE isSynced = 1", [], |r| r.get(0))?;
            Ok((hashes, max))
        })
    }

    /// Folds the WAL into `document.db`, so that the file alone is the whole document (users copy it
    /// to make a client). Called on shutdown.
    pub fn checkpoint(&self) -> SqlResult<()> {
        let conn = self.inner.writer.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Folds the write-ahead log into the database and truncates it; `false` when a reader still
    /// held part of it (SQLite's "busy"), so the caller may try again.
    pub fn fold_wal(&self) -> SqlResult<bool> {
        let conn = self.inner.writer.lock().unwrap_or_else(|e| e.into_inner());
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        Ok(busy == 0)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CommittedChanges> {
        self.inner.events.subscribe()
    }

    /// Runs `f` on a read-only connection; never blocks on the writer.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> SqlResult<T>) -> SqlResult<T> {
        self.read_with(f)
    }

    /// Like [`read`](Self::read) for a closure with its own error type (the domain layer's, ETAPI's).
    pub fn read_with<T, E: From<DbError>>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E> {
        // A panic inside another reader cannot leave a pooled connection inconsistent.
        let conn = self.inner.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => open::reader_connection(&self.inner.path)?,
        };
        let result = f(&conn);
        if let Ok(mut pool) = self.inner.readers.lock() {
            if pool.len() < 8 {
                pool.push(conn);
            }
        }
        result
    }

    /// Runs `f` in one write transaction; commits if it returns Ok, then notifies
    /// subscribers with the entity change ids written.
    pub fn write<T>(&self, source: &ChangeSource, f: impl FnOnce(&mut WriteTx<'_>) -> SqlResult<T>) -> SqlResult<T> {
        self.write_at_with(source, None, f)
    }

    /// Like [`write`](Self::write) with a fixed "now" (tests, imports).
    pub fn write_at<T>(
        &self,
        source: &ChangeSource,
        now: Option<DateTime<Utc>>,
        f: impl FnOnce(&mut WriteTx<'_>) -> SqlResult<T>,
    ) -> SqlResult<T> {
        self.write_at_with(source, now, f)
    }

    /// Like [`write`](Self::write) for a closure with its own error type (the domain layer's, ETAPI's);
    /// an `Err` rolls the transaction back.
    pub fn write_with<T, E: From<DbError>>(
        &self,
        source: &ChangeSource,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.write_at_with(source, None, f)
    }

    /// Like [`write`](Self::write) for work that usually finds nothing to write (the consistency
    /// checks: seconds of reading at 100,000 notes): `f` runs first on a read-only snapshot, without
    /// the writer, so sync and edits go on meanwhile. Only if it tried to write (a read-only
    /// connection refuses, and `f` fails) or failed otherwise does it run again, holding the writer.
    pub fn write_if_needed<T>(&self, source: &ChangeSource, f: impl Fn(&mut WriteTx<'_>) -> SqlResult<T>) -> SqlResult<T> {
        // A connection of its own with SQLite's default page cache, closed afterwards: reading the
        // whole document would fill a pooled reader's 16 MiB, kept for as long as the process runs.
        let mut conn = open::reader_connection(&self.inner.path)?;
        conn.pragma_update(None, "cache_size", -2000)?;
        let outcome = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let mut wtx = WriteTx { tx, source: source.clone(), now: None, written: Vec::new(), key: None };
            let value = f(&mut wtx)?;
            // Dropping the transaction rolls it back; nothing was written on this connection.
            Ok::<_, DbError>((value, wtx.written.is_empty()))
        })();
        drop(conn);
        match outcome {
            Ok((value, true)) => Ok(value),
            Ok((_, false)) => self.write(source, f),
            Err(e) => {
                tracing::debug!("on a read-only snapshot: {e}; again, holding the writer");
                self.write(source, f)
            }
        }
    }

    /// [`write_with`](Self::write_with) with a fixed "now" (tests).
    pub fn write_at_with<T, E: From<DbError>>(
        &self,
        source: &ChangeSource,
        now: Option<DateTime<Utc>>,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        // A panicking writer closure drops its transaction (rollback), so the connection
        // is still sound: recover from poisoning instead of failing every later write.
        let mut conn = self.inner.writer.lock().unwrap_or_else(|e| e.into_inner());
        let (value, ids) = run_write(&mut conn, source, now, f)?;
        drop(conn);
        if !ids.is_empty() {
            // No receivers is fine: nobody is listening yet.
            let _ = self.inner.events.send(CommittedChanges { ids: Arc::new(ids) });
        }
        Ok(value)
    }
}

/// Runs a write transaction on a raw connection (also used while creating a document).
pub(crate) fn run_write<T, E: From<DbError>>(
    conn: &mut Connection,
    source: &ChangeSource,
    now: Option<DateTime<Utc>>,
    f: impl FnOnce(&mut WriteTx<'_>) -> Result<T, E>,
) -> Result<(T, Vec<i64>), E> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(DbError::from)?;
    let mut wtx = WriteTx { tx, source: source.clone(), now, written: Vec::new(), key: None };
    let value = f(&mut wtx)?;
    let WriteTx { tx, written, .. } = wtx;
    tx.commit().map_err(DbError::from)?;
    Ok((value, written))
}

/// An open write transaction plus the context needed to stamp entity changes.
pub struct WriteTx<'c> {
    tx: rusqlite::Transaction<'c>,
    source: ChangeSource,
    now: Option<DateTime<Utc>>,
    written: Vec<i64>,
    /// The protected session this transaction writes in (Trilium's process-wide data key): protected
    /// titles and blobs are encrypted with it and protected rows hash their decrypted titles.
    key: Option<crate::protected::DataKey>,
}

impl<'c> WriteTx<'c> {
    /// Writes from here on run in this protected session (`None`: none, protected rows refuse).
    pub fn set_key(&mut self, key: Option<&crate::protected::DataKey>) {
        self.key = key.cloned();
    }
    pub fn key(&self) -> Option<&crate::protected::DataKey> {
        self.key.as_ref()
    }
    pub fn conn(&self) -> &Connection {
        &self.tx
    }
    pub fn source(&self) -> &ChangeSource {
        &self.source
    }
    /// Current time (fixed if the transaction was started with one).
    pub fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }
    /// `YYYY-MM-DD HH:MM:SS.sssZ`
    pub fn utc_now(&self) -> String {
        hashing::utc_date_time_str(self.now())
    }
    /// `YYYY-MM-DD HH:MM:SS.sss+HHMM` in the server's time zone.
    pub fn local_now(&self) -> String {
        hashing::local_date_time_str(self.now())
    }
    /// Entity change ids written so far in this transaction.
    pub fn written_ids(&self) -> &[i64] {
        &self.written
    }
    pub(crate) fn record_written(&mut self, id: i64) {
        self.written.push(id);
    }
}

/// Opens a plain connection with Canopy's per-connection settings.
pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // rusqlite keeps 16 prepared statements; the write path and the sync apply use more than that,
    // and a statement prepared again costs more than running it.
    conn.set_prepared_statement_cache_capacity(128);
    // SQLite's default page cache is 2 MB; a 100,000-note document is hundreds of MB, and B-tree
    // work per row grows with every page that has to come back from the OS. 16 MB per connection
    // is allocated only as it is used.
    conn.pragma_update(None, "cache_size", -16384)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// The writer's own settings: every write goes through it, and each new row lands at a random place
/// in Trilium's indexes (ids are random), so its cache holds the pages those indexes are made of.
pub(crate) fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "cache_size", -32768)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    Ok(())
}

/// Pages in the write-ahead log before a commit folds it into the document (SQLite's default is
/// 1,000): each fold writes every page changed since the last one, and with random ids most index
/// pages change between two folds, so fewer folds write the same pages fewer times.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

pub(crate) fn read_only_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI
}
