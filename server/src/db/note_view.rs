//! Read queries for the UI's note pane.
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
    /// The blob's bytes: Trilium stores text that arrived by sync as BLOB, so text and bytes alike.
    pub content: Option<Vec<u8>>,
}

pub fn note(conn: &Connection, note_id: &str) -> SqlResult<Option<NoteRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT n.noteId, n.title, n.type, n.mime, n.isProtected, b.content
             FROM notes n LEFT JOIN blobs b ON b.blobId = n.blobId
             WHERE n.noteId = ?1 AND n.isDeleted = 0",
        )?
        .query_row([note_id], |r| {
            let content = match r.get_ref(5)? {
                ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Some(bytes.to_vec()),
                _ => None,
            };
            Ok(NoteRow {
                note_id: r.get(0)?,
                title: r.get(1)?,
                note_type: r.get(2)?,
                mime: r.get(3)?,
                is_protected: r.get(4)?,
                content,
            })
        })
        .optional()?)
}
