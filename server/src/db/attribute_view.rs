//! Read queries for the UI's attribute panel: titles of the notes attributes point at or come from,
//! the note's parents, and the title search of the relation target picker.
use rusqlite::{Connection, OptionalExtension};

use super::SqlResult;

/// A live note's title as stored (ciphertext when `is_protected`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTitle {
    pub title: String,
    pub is_protected: bool,
}

/// The title of a live note, or `None` if it does not exist or is deleted.
pub fn title(conn: &Connection, note_id: &str) -> SqlResult<Option<StoredTitle>> {
    Ok(conn
        .prepare_cached("SELECT title, isProtected FROM notes WHERE noteId = ?1 AND isDeleted = 0")?
        .query_row([note_id], |r| Ok(StoredTitle { title: r.get(0)?, is_protected: r.get(1)? }))
        .optional()?)
}

/// Parents of the note through its live branches.
pub fn parent_ids(conn: &Connection, note_id: &str) -> SqlResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT parentNoteId FROM branches WHERE noteId = ?1 AND isDeleted = 0 ORDER BY parentNoteId",
    )?;
    let ids = stmt.query_map([note_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(ids)
}

/// One note found by [`find_by_title`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleHit {
    pub note_id: String,
    pub title: String,
    /// The first live parent's title, unless that parent is protected (its title is ciphertext).
    pub parent_title: Option<String>,
}

/// Live, unprotected notes outside the hidden subtree whose title contains `query` (ASCII letters
/// without regard to case, as SQLite's LIKE), or whose id is `query`; title prefixes first, then
/// shorter titles. A plain scan of `notes` (no index helps a "contains" match): at 100,000 notes some
/// tens of milliseconds, the most for a query that matches nearly every title.
pub fn find_by_title(conn: &Connection, query: &str, limit: usize) -> SqlResult<Vec<TitleHit>> {
    let escaped: String = query
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    // Trilium's hidden subtree (`_hidden` and everything in it) uses ids that start with `_`.
    let mut stmt = conn.prepare_cached(
        r"SELECT noteId, title FROM notes
         WHERE isDeleted = 0 AND isProtected = 0 AND substr(noteId, 1, 1) != '_'
           AND (title LIKE ?1 ESCAPE '\' OR noteId = ?3)
         ORDER BY noteId = ?3 DESC, title LIKE ?2 ESCAPE '\' DESC, length(title), title, noteId
         LIMIT ?4",
    )?;
    let found: Vec<(String, String)> = stmt
        .query_map(rusqlite::params![format!("%{escaped}%"), format!("{escaped}%"), query, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    // Parents only for the few hits kept: a broad query matches most of the document.
    let mut parent = conn.prepare_cached(
        "SELECT CASE WHEN p.isProtected THEN NULL ELSE p.title END
         FROM branches b JOIN notes p ON p.noteId = b.parentNoteId
         WHERE b.noteId = ?1 AND b.isDeleted = 0 AND p.isDeleted = 0
         ORDER BY b.notePosition, b.branchId LIMIT 1",
    )?;
    found
        .into_iter()
        .map(|(note_id, title)| {
            let parent_title = parent.query_row([&note_id], |r| r.get(0)).optional()?.flatten();
            Ok(TitleHit { note_id, title, parent_title })
        })
        .collect()
}
