//! The full-text index: a cache of every searchable note's title, labels and plain text in its own
//! file (`search-index.db`) beside the document, kept current from the document's committed writes.
//!
//! The index records the newest `entity_changes.id` it has taken in and the document's `documentId`.
//! At start it catches up from there, or rebuilds itself when its file is missing, corrupt, of another
//! version or another document, or ahead of the document (a restored backup). After that one task
//! follows [`Document::subscribe`]: every write (the UI's, ETAPI's, sync's apply) wakes it and it
//! takes in the changes after its mark, so a lagging receiver loses nothing. It runs beside the
//! writes, never inside them: an index failure is logged and the index rebuilt, and until it is ready
//! again searches read the document instead.
pub mod store;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::db::Document;
use crate::domain::search::{normalize, strip_tags};

pub const FILE_NAME: &str = "search-index.db";

/// More changes than this behind: rebuilding is cheaper than catching up one note at a time.
const REBUILD_AFTER_CHANGES: i64 = 200_000;
/// Changes read from the document per catch-up step.
const CATCH_UP_BATCH: usize = 5_000;
/// Notes written per transaction of a rebuild, and how often it logs progress.
const BUILD_BATCH: usize = 10_000;
/// The least time between two catch-ups, so a burst of writes waits this long at most for the index
/// (a change after a quiet time is taken in at once).
const FOLLOW_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// Why the index could not do its work. Logged; searches fall back to the document meanwhile.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index: {0}")]
    Index(#[from] rusqlite::Error),
    #[error("search index: reading the document: {0}")]
    Document(#[from] crate::db::DbError),
}

type IndexResult<T> = Result<T, IndexError>;

/// A shared handle; cheap to clone.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    document: Document,
    /// The indexer's connection; only the indexing task writes.
    writer: Mutex<Option<Connection>>,
    /// The searches' connection (WAL: it reads while the writer writes).
    reader: Mutex<Option<Connection>>,
    ready: AtomicBool,
    /// The newest `entity_changes.id` the index has taken in.
    covered: AtomicI64,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("path", &self.inner.path).field("ready", &self.is_ready()).finish()
    }
}

impl SearchIndex {
    /// The index of `document` at `<data_dir>/search-index.db`; nothing is read until [`spawn`](Self::spawn).
    pub fn new(document: Document, data_dir: &Path) -> Self {
        SearchIndex {
            inner: Arc::new(Inner {
                path: data_dir.join(FILE_NAME),
                document,
                writer: Mutex::new(None),
                reader: Mutex::new(None),
                ready: AtomicBool::new(false),
                covered: AtomicI64::new(0),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Opens, checks and catches up (or rebuilds) the index, then follows the document's writes.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        // Subscribed before the first catch-up, so no write between the two is missed.
        let mut changes = self.inner.document.subscribe();
        let index = self.clone();
        tokio::spawn(async move {
            let mut prepared = false;
            loop {
                if !prepared && index.document_in_use() {
                    let first = index.clone();
                    let _ = crate::background::low_priority("search index", move || first.prepare()).await;
                    prepared = true;
                }
                match changes.recv().await {
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
                // Everything queued is covered by one catch-up from the mark.
                while matches!(changes.try_recv(), Ok(_) | Err(TryRecvError::Lagged(_))) {}
                if prepared {
                    let step = index.clone();
                    let _ = crate::background::low_priority("search index", move || step.follow()).await;
                    // A burst of writes (a script over ETAPI, an import) is taken in a few catch-ups
                    // instead of one per commit: each costs an index transaction and an FTS flush,
                    // which on two cores came out of the writes' own time.
                    tokio::time::sleep(FOLLOW_PAUSE).await;
                }
            }
        })
    }

    /// Whether the document is set up. A new client's first sync fills it page by page; following
    /// that would take a core from the sync for work a single build afterwards does in less time.
    fn document_in_use(&self) -> bool {
        self.inner
            .document
            .read(|c| crate::db::options::get(c, "initialized"))
            .map_or(true, |v| v.as_deref() != Some("false"))
    }

    /// Whether searches may use the index (built and current as of its last catch-up).
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// The newest `entity_changes.id` the index has taken in.
    pub fn covered_change_id(&self) -> i64 {
        self.inner.covered.load(Ordering::Acquire)
    }

    /// Ready and not behind the document's newest change: an answer from it is exact.
    pub fn is_current(&self) -> bool {
        self.is_ready()
            && self
                .inner
                .document
                .read(|c| Ok(store::newest_change_id(c)?))
                .is_ok_and(|newest| newest <= self.covered_change_id())
    }

    fn prepare(&self) {
        if let Err(e) = self.open_and_catch_up() {
            tracing::warn!("{e}; rebuilding it from scratch");
            if let Err(e) = self.rebuild_from_scratch() {
                tracing::error!("{e}; searches read the document instead");
            }
        }
    }

    fn follow(&self) {
        if let Err(e) = self.catch_up() {
            tracing::warn!("{e}; rebuilding it from scratch");
            self.inner.ready.store(false, Ordering::Release);
            if let Err(e) = self.rebuild_from_scratch() {
                tracing::error!("{e}; searches read the document instead");
            }
        }
    }

    fn open_and_catch_up(&self) -> IndexResult<()> {
        let existed = self.inner.path.exists();
        let conn = store::open(&self.inner.path)?;
        let sound = existed && store::check(&conn)?;
        let (document_id, newest) =
            self.inner.document.read(|c| Ok((store::document_id(c)?, store::newest_change_id(c)?)))?;
        let covered = if sound { store::meta(&conn, "coveredChangeId")?.and_then(|v| v.parse::<i64>().ok()) } else { None };
        let same_document = sound && store::meta(&conn, "documentId")?.unwrap_or_default() == document_id.unwrap_or_default();
        *lock(&self.inner.writer) = Some(conn);
        match covered {
            _ if !existed => tracing::info!("search index: {} does not exist yet", self.inner.path.display()),
            None => tracing::warn!("search index: {} is unreadable or of another version", self.inner.path.display()),
            Some(_) if !same_document => tracing::warn!("search index: belongs to another document"),
            Some(c) if c > newest => tracing::warn!("search index: ahead of the document (change {c} of {newest})"),
            Some(c) if newest - c > REBUILD_AFTER_CHANGES => tracing::info!("search index: {} changes behind", newest - c),
            Some(c) => {
                self.inner.covered.store(c, Ordering::Release);
                self.catch_up()?;
                let count = lock(&self.inner.writer).as_ref().map(store::indexed_count).transpose()?.unwrap_or(0);
                tracing::info!("search index: current at change {} ({} notes)", self.covered_change_id(), thousands(count));
                return Ok(());
            }
        }
        self.rebuild()
    }

    /// Deletes the file (it may be corrupt) and builds a new one.
    fn rebuild_from_scratch(&self) -> IndexResult<()> {
        self.inner.ready.store(false, Ordering::Release);
        *lock(&self.inner.writer) = None;
        *lock(&self.inner.reader) = None;
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.inner.path.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(&path);
        }
        *lock(&self.inner.writer) = Some(store::open(&self.inner.path)?);
        self.rebuild()
    }

    /// Builds the whole index from the document, logging progress.
    fn rebuild(&self) -> IndexResult<()> {
        self.inner.ready.store(false, Ordering::Release);
        let started = Instant::now();
        let guard = lock(&self.inner.writer);
        let conn = guard.as_ref().ok_or_else(|| IndexError::Index(rusqlite::Error::InvalidQuery))?;
        store::reset(conn)?;
        // The mark is read first: what is written during the build is caught up afterwards (again).
        let (document_id, newest, total) = self.inner.document.read(|c| {
            Ok((store::document_id(c)?, store::newest_change_id(c)?, store::source_note_count(c)?))
        })?;
        tracing::info!("search index: building for {} notes", thousands(total));
        let mut done = 0usize;
        conn.execute_batch("BEGIN")?;
        let built = self.inner.document.read_with(|doc| -> IndexResult<()> {
            store::each_source_note(doc, |note| {
                put(conn, &note)?;
                done += 1;
                if done % BUILD_BATCH == 0 {
                    conn.execute_batch("COMMIT; BEGIN")?;
                    tracing::info!("search index: built {} of {} notes", thousands(done as i64), thousands(total));
                }
                Ok(())
            })?;
            Ok(())
        });
        if built.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        built?;
        store::set_meta(conn, "documentId", document_id.as_deref().unwrap_or(""))?;
        store::set_meta(conn, "coveredChangeId", &newest.to_string())?;
        conn.execute_batch("COMMIT")?;
        self.inner.covered.store(newest, Ordering::Release);
        drop(guard);
        tracing::info!(
            "search index: built {} of {} notes in {:.1} s",
            thousands(done as i64),
            thousands(total),
            started.elapsed().as_secs_f64()
        );
        self.catch_up()
    }

    /// Takes in the changes after the mark: each note they touch is indexed again (or removed).
    fn catch_up(&self) -> IndexResult<()> {
        let mut guard = lock(&self.inner.writer);
        let Some(conn) = guard.as_mut() else { return Ok(()) };
        let (document_id, newest) = self.inner.document.read(|c| Ok((store::document_id(c)?, store::newest_change_id(c)?)))?;
        let covered = self.covered_change_id();
        if store::meta(conn, "documentId")?.unwrap_or_default() != document_id.unwrap_or_default() || covered > newest {
            // Sync set this instance up as a client of another document, or the file was replaced.
            drop(guard);
            tracing::info!("search index: the document changed identity; rebuilding");
            return self.rebuild();
        }
        let mut mark = covered;
        loop {
            let changes = self.inner.document.read(|c| Ok(store::changes_after(c, mark, CATCH_UP_BATCH)?))?;
            let Some(last) = changes.last().map(|c| c.0) else { break };
            let affected: BTreeSet<String> = self.inner.document.read(|doc| {
                let mut notes = BTreeSet::new();
                for (_, entity, id) in &changes {
                    match entity.as_str() {
                        "notes" => {
                            notes.insert(id.clone());
                        }
                        "blobs" => notes.extend(store::notes_with_blob(doc, id)?),
                        "attributes" => notes.extend(store::note_of_attribute(doc, id)?),
                        _ => {}
                    }
                }
                Ok(notes)
            })?;
            let sources = self.inner.document.read(|doc| {
                affected.iter().map(|id| Ok((id.clone(), store::source_note(doc, id)?))).collect::<Result<Vec<_>, crate::db::DbError>>()
            })?;
            let tx = conn.transaction()?;
            let mut removed = false;
            for (note_id, source) in &sources {
                match source {
                    Some(note) => put(&tx, note)?,
                    None => removed |= store::remove(&tx, note_id)?,
                }
            }
            store::set_meta(&tx, "coveredChangeId", &last.to_string())?;
            tx.commit()?;
            // A note that became protected must leave no readable copy behind: secure delete wipes it
            // from the file's pages, and this wipes the log's older copies of those pages.
            if removed && !store::fold_wal(conn)? {
                tracing::debug!("search index: a search held the log; it is emptied at the next removal");
            }
            mark = last;
            self.inner.covered.store(last, Ordering::Release);
        }
        self.inner.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Runs `f` on the searches' connection; `None` while the index is not ready or when it fails.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<T> {
        if !self.is_ready() {
            return None;
        }
        let mut guard = lock(&self.inner.reader);
        if guard.is_none() {
            *guard = store::open(&self.inner.path).map_err(|e| tracing::warn!("search index: cannot open: {e}")).ok();
        }
        let conn = guard.as_ref()?;
        match f(conn) {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::warn!("search index: query failed: {e}");
                *guard = None;
                None
            }
        }
    }

    /// Notes whose title, labels or text contain every token (folded), when the index can tell
    /// exactly: ready, current, and each token at least three characters (the trigram's length).
    pub fn notes_containing_all(&self, tokens: &[String], columns: Columns) -> Option<HashSet<String>> {
        let query = fts_query(tokens, columns)?;
        if !self.is_current() {
            return None;
        }
        self.with_reader(|c| store::all_matching(c, &query))
    }

    /// Up to `limit` notes whose folded title contains every token, as many as are found in `budget`;
    /// `None` when the index cannot tell.
    pub fn title_candidates(&self, tokens: &[String], limit: usize, budget: std::time::Duration) -> Option<Vec<store::TitleRow>> {
        let query = fts_query(tokens, Columns::Title)?;
        let deadline = Instant::now() + budget;
        self.with_reader(|c| store::matching_titles(c, &query, limit, deadline))
    }

    /// Up to `limit` notes whose labels or text contain every token, as many as are found in `budget`.
    pub fn text_candidates(&self, tokens: &[String], limit: usize, budget: std::time::Duration) -> Option<Vec<store::TextRow>> {
        let query = fts_query(tokens, Columns::Text)?;
        let deadline = Instant::now() + budget;
        self.with_reader(|c| store::matching_texts(c, &query, limit, deadline))
    }
}

/// Protected notes matching `query`, decrypted in memory with the protected session's key. They are
/// never in this index (their titles and text are ciphertext on disk, and must not be put in plaintext
/// beside it), so a search within a protected session adds these to what the index finds.
pub fn protected_matches(
    document: &Document,
    key: &crate::protected::DataKey,
    query: &str,
) -> Result<Vec<crate::domain::protected::ProtectedMatch>, crate::domain::DomainError> {
    document.read_with(|conn| crate::domain::protected::search(conn, key, query))
}

/// Which columns a token must be found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columns {
    Title,
    /// The note's own labels (`#name=value`).
    Labels,
    /// Labels and content.
    Text,
    /// Title, labels and content.
    Any,
}

/// An FTS5 query that every token (folded, as phrases) must match; `None` when a token is shorter than
/// the trigram and the index cannot answer for it.
pub fn fts_query(tokens: &[String], columns: Columns) -> Option<String> {
    if tokens.is_empty() || tokens.iter().any(|t| t.chars().count() < 3) {
        return None;
    }
    let filter = match columns {
        Columns::Title => "title : ",
        Columns::Labels => "attrs : ",
        Columns::Text => "{attrs body} : ",
        Columns::Any => "",
    };
    Some(tokens.iter().map(|t| format!("{filter}\"{}\"", normalize(t).replace('"', "\"\""))).collect::<Vec<_>>().join(" AND "))
}

/// The folded texts of a note as the index holds them: what the evaluator compares against.
pub fn folded(note: &store::SourceNote) -> (String, String, String) {
    let attrs = note
        .labels
        .iter()
        .map(|(name, value)| if value.is_empty() { format!("#{name}") } else { format!("#{name}={value}") })
        .collect::<Vec<_>>()
        .join(" ");
    let body = match &note.content {
        Some(text) if note.note_type == "text" => strip_tags(text),
        Some(text) => text.clone(),
        None => String::new(),
    };
    (normalize(&note.title), normalize(&attrs), normalize(&body))
}

fn put(conn: &Connection, note: &store::SourceNote) -> rusqlite::Result<()> {
    let (title, attrs, body) = folded(note);
    store::upsert(conn, &note.note_id, &title, &attrs, &body)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `40000` as `40,000`, for the log.
fn thousands(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_need_trigram_long_tokens() {
        assert_eq!(fts_query(&["Ramen".into()], Columns::Title).as_deref(), Some("title : \"ramen\""));
        assert_eq!(fts_query(&["a\"bc".into(), "Dé".into()], Columns::Any), None);
        assert_eq!(fts_query(&["a\"bc".into()], Columns::Text).as_deref(), Some("{attrs body} : \"a\"\"bc\""));
        assert_eq!(thousands(40_000), "40,000");
        assert_eq!(thousands(100), "100");
    }
}
