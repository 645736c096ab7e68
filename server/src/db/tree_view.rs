//! Read queries for the UI's note tree.
use rusqlite::{Connection, OptionalExtension};

use super::SqlResult;

/// The hidden subtree (`_hidden`) holds Trilium's system notes; like Trilium, the tree does not show it.
pub const HIDDEN_ROOT: &str = "_hidden";

/// One live child branch with what a tree row shows.
#[derive(Debug, Clone)]
pub struct ChildRow {
    pub branch_id: String,
    pub note_id: String,
    /// Ciphertext when `is_protected`.
    pub title: String,
    pub prefix: Option<String>,
    pub note_type: String,
    pub is_protected: bool,
    pub has_children: bool,
}

pub fn note_exists(conn: &Connection, note_id: &str) -> SqlResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM notes WHERE noteId = ?1 AND isDeleted = 0")?
        .query_row([note_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Live children of `parent_note_id` in tree order, without the hidden subtree.
pub fn children(conn: &Connection, parent_note_id: &str) -> SqlResult<Vec<ChildRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.branchId, n.noteId, n.title, b.prefix, n.type, n.isProtected,
                EXISTS(SELECT 1 FROM branches c WHERE c.parentNoteId = n.noteId AND c.isDeleted = 0)
         FROM branches b JOIN notes n ON n.noteId = b.noteId
         WHERE b.parentNoteId = ?1 AND b.isDeleted = 0 AND n.isDeleted = 0 AND n.noteId != ?2
         ORDER BY b.notePosition, b.branchId",
    )?;
    let rows = stmt.query_map([parent_note_id, HIDDEN_ROOT], |r| {
        Ok(ChildRow {
            branch_id: r.get(0)?,
            note_id: r.get(1)?,
            title: r.get(2)?,
            prefix: r.get(3)?,
            note_type: r.get(4)?,
            is_protected: r.get(5)?,
            has_children: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
