//! The SQL of the full-text index: its own SQLite file beside `document.db` (never inside it, so that
//! the document stays a file Trilium opens and syncs unchanged), and the reads of the document that
//! feed it.
//!
//! The index holds one FTS5 row per searchable note, with the note's title, its own labels and the
//! plain text of its content, all already folded by [`crate::domain::search::normalize`]. The
//! trigram tokenizer makes a MATCH find any substring of three or more characters, which is what
//! Trilium's full-text search does (`*=*`), so the index can answer for the evaluator, not only
//! approximate it.
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension};

/// Bumped when the layout or the folding changes: an index of another version is rebuilt.
pub const SCHEMA_VERSION: &str = "2";

/// Opens (or creates) the index file with the settings every connection to it uses.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // A cache: a lost last transaction after a power cut is caught up again from the document.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A note that becomes protected leaves the index: its text must not stay behind in freed pages.
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(conn)
}

/// Whether the file is a sound SQLite database with this version's tables.
pub fn check(conn: &Connection) -> rusqlite::Result<bool> {
    let verdict: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if verdict != "ok" {
        return Ok(false);
    }
    let tables: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('meta', 'docs', 'notes_fts')",
        [],
        |r| r.get(0),
    )?;
    Ok(tables == 3 && meta(conn, "schemaVersion")?.as_deref() == Some(SCHEMA_VERSION))
}

/// Empties the index (dropping whatever an older version left) and creates the tables.
pub fn reset(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "DROP TABLE IF EXISTS notes_fts;
         DROP TABLE IF EXISTS docs;
         DROP TABLE IF EXISTS meta;
         CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE docs (rowid INTEGER PRIMARY KEY, noteId TEXT NOT NULL UNIQUE);
         CREATE VIRTUAL TABLE notes_fts USING fts5(title, attrs, body, tokenize = 'trigram');
         -- A removed row's words leave FTS5's segments at once, not at some later merge (version 2).
         INSERT INTO notes_fts (notes_fts, rank) VALUES ('secure-delete', 1);",
    )?;
    set_meta(conn, "schemaVersion", SCHEMA_VERSION)
}

pub fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()
}

pub fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])?;
    Ok(())
}

/// Puts a note's folded texts into the index, replacing what it had.
pub fn upsert(conn: &Connection, note_id: &str, title: &str, attrs: &str, body: &str) -> rusqlite::Result<()> {
    let _replaced = remove(conn, note_id)?;
    conn.prepare_cached("INSERT INTO docs (noteId) VALUES (?1)")?.execute([note_id])?;
    let rowid = conn.last_insert_rowid();
    conn.prepare_cached("INSERT INTO notes_fts (rowid, title, attrs, body) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![rowid, title, attrs, body])?;
    Ok(())
}

/// Takes a note out of the index; `true` if it was in it.
pub fn remove(conn: &Connection, note_id: &str) -> rusqlite::Result<bool> {
    let rowid: Option<i64> =
        conn.prepare_cached("SELECT rowid FROM docs WHERE noteId = ?1")?.query_row([note_id], |r| r.get(0)).optional()?;
    if let Some(rowid) = rowid {
        conn.prepare_cached("DELETE FROM notes_fts WHERE rowid = ?1")?.execute([rowid])?;
        conn.prepare_cached("DELETE FROM docs WHERE rowid = ?1")?.execute([rowid])?;
    }
    Ok(rowid.is_some())
}

/// Copies the write-ahead log into the file and empties it: the log still holds the pages as they
/// were before a removal. `false` when a search held part of it (the next removal tries again).
pub fn fold_wal(conn: &Connection) -> rusqlite::Result<bool> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    Ok(busy == 0)
}

pub fn indexed_count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM docs", [], |r| r.get(0))
}

/// A note id with its folded title.
pub type TitleRow = (String, String);

/// Notes whose row matches the FTS5 `query`, at most `limit`, in index order (no ranking: ranking
/// would read every match, and a typed prefix matches tens of thousands at 100,000 notes), and only
/// those found before `deadline`: a word in every text and no title (or the reverse) makes FTS5 walk
/// a whole doclist to find nothing, and the quick-search box must answer while the person types.
pub fn matching_titles(conn: &Connection, query: &str, limit: usize, deadline: Instant) -> rusqlite::Result<Vec<TitleRow>> {
    until(conn, deadline, "SELECT d.noteId, f.title FROM notes_fts f JOIN docs d ON d.rowid = f.rowid WHERE notes_fts MATCH ?1 LIMIT ?2", query, limit, |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

/// A note id with its folded title, labels and text.
pub type TextRow = (String, String, String, String);

/// Like [`matching_titles`], with the labels and texts.
pub fn matching_texts(conn: &Connection, query: &str, limit: usize, deadline: Instant) -> rusqlite::Result<Vec<TextRow>> {
    until(
        conn,
        deadline,
        "SELECT d.noteId, f.title, f.attrs, f.body FROM notes_fts f JOIN docs d ON d.rowid = f.rowid WHERE notes_fts MATCH ?1 LIMIT ?2",
        query,
        limit,
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
}

/// The rows of `sql` (with the MATCH query and a limit) that come before `deadline`.
fn until<T>(
    conn: &Connection,
    deadline: Instant,
    sql: &str,
    query: &str,
    limit: usize,
    row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    conn.progress_handler(2_000, Some(move || Instant::now() > deadline));
    let mut found = Vec::new();
    let result = (|| {
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params![query, limit as i64])?;
        while let Some(r) = rows.next()? {
            found.push(row(r)?);
        }
        Ok(())
    })();
    conn.progress_handler(0, None::<fn() -> bool>);
    match result {
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::OperationInterrupted => Ok(found),
        other => other.map(|()| found),
    }
}

/// Every note whose row matches `query`.
pub fn all_matching(conn: &Connection, query: &str) -> rusqlite::Result<HashSet<String>> {
    conn.prepare_cached("SELECT d.noteId FROM notes_fts f JOIN docs d ON d.rowid = f.rowid WHERE notes_fts MATCH ?1")?
        .query_map([query], |r| r.get(0))?
        .collect()
}

// ------------------------------------------------------------ reads of the document

/// The document's `documentId` option: which document an index belongs to.
pub fn document_id(doc: &Connection) -> rusqlite::Result<Option<String>> {
    doc.query_row("SELECT value FROM options WHERE name = 'documentId'", [], |r| r.get(0)).optional()
}

pub fn newest_change_id(doc: &Connection) -> rusqlite::Result<i64> {
    doc.query_row("SELECT COALESCE(MAX(id), 0) FROM entity_changes", [], |r| r.get(0))
}

/// `(entityName, entityId)` of the changes after `after`, the first `limit` of them, with the id of the last.
pub fn changes_after(doc: &Connection, after: i64, limit: usize) -> rusqlite::Result<Vec<(i64, String, String)>> {
    doc.prepare_cached("SELECT id, entityName, entityId FROM entity_changes WHERE id > ?1 ORDER BY id LIMIT ?2")?
        .query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect()
}

pub fn notes_with_blob(doc: &Connection, blob_id: &str) -> rusqlite::Result<Vec<String>> {
    doc.prepare_cached("SELECT noteId FROM notes WHERE blobId = ?1")?.query_map([blob_id], |r| r.get(0))?.collect()
}

pub fn note_of_attribute(doc: &Connection, attribute_id: &str) -> rusqlite::Result<Option<String>> {
    doc.prepare_cached("SELECT noteId FROM attributes WHERE attributeId = ?1")?
        .query_row([attribute_id], |r| r.get(0))
        .optional()
}

/// A note as the index takes it in, before folding.
pub struct SourceNote {
    pub note_id: String,
    pub title: String,
    pub note_type: String,
    /// Its own live labels, `(name, value)`.
    pub labels: Vec<(String, String)>,
    /// The content as text (lossy); `None` when there is none or the type has no searchable content.
    pub content: Option<String>,
}

const SOURCE_COLUMNS: &str = "SELECT n.noteId, n.title, n.type, b.content FROM notes n LEFT JOIN blobs b ON b.blobId = n.blobId";

fn source_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SourceNote> {
    let note_type: String = r.get(2)?;
    // As Trilium's full-text search: only text, code and mermaid notes have searchable content, read
    // lossily (a blob may hold bytes that are not UTF-8; they must not hide the rest).
    let searchable = matches!(note_type.as_str(), "text" | "code" | "mermaid");
    let content = match r.get_ref(3)? {
        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) if searchable => {
            Some(String::from_utf8_lossy(t).into_owned())
        }
        _ => None,
    };
    Ok(SourceNote { note_id: r.get(0)?, title: r.get(1)?, note_type, labels: Vec::new(), content })
}

fn labels_of(doc: &Connection, note_id: &str) -> rusqlite::Result<Vec<(String, String)>> {
    doc.prepare_cached(
        "SELECT name, value FROM attributes WHERE noteId = ?1 AND type = 'label' AND isDeleted = 0 ORDER BY position, rowid",
    )?
    .query_map([note_id], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// The note if it belongs in the index: live and not protected (its content and title are ciphertext).
pub fn source_note(doc: &Connection, note_id: &str) -> rusqlite::Result<Option<SourceNote>> {
    let note = doc
        .prepare_cached(&format!("{SOURCE_COLUMNS} WHERE n.noteId = ?1 AND n.isDeleted = 0 AND n.isProtected = 0"))?
        .query_row([note_id], source_row)
        .optional()?;
    match note {
        Some(mut note) => {
            note.labels = labels_of(doc, note_id)?;
            Ok(Some(note))
        }
        None => Ok(None),
    }
}

pub fn source_note_count(doc: &Connection) -> rusqlite::Result<i64> {
    doc.query_row("SELECT COUNT(*) FROM notes WHERE isDeleted = 0 AND isProtected = 0", [], |r| r.get(0))
}

/// Calls `f` with every note that belongs in the index.
pub fn each_source_note(doc: &Connection, mut f: impl FnMut(SourceNote) -> rusqlite::Result<()>) -> rusqlite::Result<()> {
    let mut labels: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut stmt = doc.prepare(
        "SELECT noteId, name, value FROM attributes WHERE type = 'label' AND isDeleted = 0 ORDER BY noteId, position, rowid",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        labels.entry(r.get(0)?).or_default().push((r.get(1)?, r.get(2)?));
    }
    let mut stmt = doc.prepare(&format!("{SOURCE_COLUMNS} WHERE n.isDeleted = 0 AND n.isProtected = 0"))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let mut note = source_row(r)?;
        note.labels = labels.remove(&note.note_id).unwrap_or_default();
        f(note)?;
    }
    Ok(())
}
