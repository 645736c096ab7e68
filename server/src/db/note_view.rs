//! Read queries for the UI's note pane: the note, its path, and the title search of the link dialog.
use rusqlite::{types::ValueRef, Connection, OptionalExtension};

use super::SqlResult;

/// A live note with its content as stored.
#[derive(Debug, Clone)]
pub struct NoteRow {
    pub note_id: String,
    /// Ciphertext when `is_protected`.
    pub title: String,
    pub note_type: String,
    pub mime: String,
    pub is_protected: bool,
    pub blob_id: Option<String>,
    /// The blob's bytes: Trilium stores text that arrived by sync as BLOB, so text and bytes alike.
    pub content: Option<Vec<u8>>,
}

pub fn note(conn: &Connection, note_id: &str) -> SqlResult<Option<NoteRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT n.noteId, n.title, n.type, n.mime, n.isProtected, n.blobId, b.content
             FROM notes n LEFT JOIN blobs b ON b.blobId = n.blobId
             WHERE n.noteId = ?1 AND n.isDeleted = 0",
        )?
        .query_row([note_id], |r| {
            let content = match r.get_ref(6)? {
                ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Some(bytes.to_vec()),
                _ => None,
            };
            Ok(NoteRow {
                note_id: r.get(0)?,
                title: r.get(1)?,
                note_type: r.get(2)?,
                mime: r.get(3)?,
                is_protected: r.get(4)?,
                blob_id: r.get(5)?,
                content,
            })
        })
        .optional()?)
}

/// A note on a path: id, title (ciphertext when protected), protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathNote {
    pub note_id: String,
    pub title: String,
    pub is_protected: bool,
}

/// Deepest a path is followed; Trilium's trees are far shallower, and a cycle must not loop.
const MAX_DEPTH: usize = 100;

/// The ancestors of a note from root down to its parent, along one parent per level: a live branch
/// outside Trilium's hidden subtree when there is one (then by branchId, so the choice is stable).
pub fn ancestors(conn: &Connection, note_id: &str) -> SqlResult<Vec<PathNote>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.noteId, p.title, p.isProtected
         FROM branches b JOIN notes p ON p.noteId = b.parentNoteId
         WHERE b.noteId = ?1 AND b.isDeleted = 0 AND p.isDeleted = 0
         ORDER BY (b.parentNoteId LIKE '\\_%' ESCAPE '\\'), b.branchId
         LIMIT 1",
    )?;
    let mut path: Vec<PathNote> = Vec::new();
    let mut current = note_id.to_owned();
    while current != "root" && path.len() < MAX_DEPTH {
        let Some(parent) = stmt
            .query_row([&current], |r| Ok(PathNote { note_id: r.get(0)?, title: r.get(1)?, is_protected: r.get(2)? }))
            .optional()?
        else {
            break;
        };
        if parent.note_id == note_id || path.iter().any(|p| p.note_id == parent.note_id) {
            break;
        }
        current = parent.note_id.clone();
        path.push(parent);
    }
    path.reverse();
    Ok(path)
}

/// Live, unprotected notes outside the hidden subtree whose title contains `query` (case-insensitive for
/// ASCII, as SQLite's LIKE): titles starting with it first, then the others, at most `limit`. Two scans
/// that stop at `limit` rather than one that sorts every match, so a one-letter query stays fast on a
/// large document.
pub fn search_titles(conn: &Connection, query: &str, limit: usize) -> SqlResult<Vec<(String, String)>> {
    let escaped: String = query.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    let limit = limit as i64;
    let mut hits: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT noteId, title FROM notes
             WHERE isDeleted = 0 AND isProtected = 0 AND noteId NOT LIKE '\\_%' ESCAPE '\\'
               AND title LIKE ?1 ESCAPE '\\'
             LIMIT ?2",
        )?
        .query_map(rusqlite::params![format!("{escaped}%"), limit], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let rest = limit - hits.len() as i64;
    if rest > 0 {
        let more: Vec<(String, String)> = conn
            .prepare_cached(
                "SELECT noteId, title FROM notes
                 WHERE isDeleted = 0 AND isProtected = 0 AND noteId NOT LIKE '\\_%' ESCAPE '\\'
                   AND title LIKE ?1 ESCAPE '\\' AND title NOT LIKE ?2 ESCAPE '\\'
                 LIMIT ?3",
            )?
            .query_map(rusqlite::params![format!("%{escaped}%"), format!("{escaped}%"), rest], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        hits.extend(more);
    }
    Ok(hits)
}

/// An image note's bytes and mime, if the note is a live image note with content.
pub fn image_note(conn: &Connection, note_id: &str) -> SqlResult<Option<(String, Vec<u8>)>> {
    Ok(conn
        .prepare_cached(
            "SELECT n.mime, b.content FROM notes n JOIN blobs b ON b.blobId = n.blobId
             WHERE n.noteId = ?1 AND n.isDeleted = 0 AND n.isProtected = 0 AND n.type = 'image'",
        )?
        .query_row([note_id], |r| {
            let bytes = match r.get_ref(1)? {
                ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.to_vec(),
                _ => Vec::new(),
            };
            Ok((r.get(0)?, bytes))
        })
        .optional()?)
}
