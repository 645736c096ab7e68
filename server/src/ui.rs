//! Read queries behind the web UI's server functions (`app::notes::ssr::NoteReader`).
use app::notes::{ssr::NoteReader, NoteBody, NoteDetail, TreeEntry};
use rusqlite::{types::ValueRef, OptionalExtension};

use crate::db::Document;

/// The hidden subtree (`_hidden`) holds Trilium's system notes; like Trilium, the tree does not show it.
const HIDDEN_ROOT: &str = "_hidden";

pub struct DocumentNotes {
    pub document: Document,
}

impl NoteReader for DocumentNotes {
    fn children(&self, parent_note_id: &str) -> Result<Option<Vec<TreeEntry>>, String> {
        self.document
            .read(|conn| {
                let exists: Option<i64> = conn
                    .query_row("SELECT 1 FROM notes WHERE noteId = ?1 AND isDeleted = 0", [parent_note_id], |r| r.get(0))
                    .optional()?;
                if exists.is_none() {
                    return Ok(None);
                }
                let mut stmt = conn.prepare_cached(
                    "SELECT b.branchId, n.noteId, n.title, b.prefix, n.type, n.isProtected,
                            EXISTS(SELECT 1 FROM branches c WHERE c.parentNoteId = n.noteId AND c.isDeleted = 0)
                     FROM branches b JOIN notes n ON n.noteId = b.noteId
                     WHERE b.parentNoteId = ?1 AND b.isDeleted = 0 AND n.isDeleted = 0 AND n.noteId != ?2
                     ORDER BY b.notePosition, b.branchId",
                )?;
                let rows = stmt.query_map([parent_note_id, HIDDEN_ROOT], |r| {
                    let is_protected: bool = r.get(5)?;
                    Ok(TreeEntry {
                        branch_id: r.get(0)?,
                        note_id: r.get(1)?,
                        // A protected title is ciphertext until a protected session exists.
                        title: if is_protected { "[protected]".to_string() } else { r.get(2)? },
                        prefix: r.get(3)?,
                        note_type: r.get(4)?,
                        is_protected,
                        has_children: r.get(6)?,
                    })
                })?;
                Ok(Some(rows.collect::<Result<Vec<_>, _>>()?))
            })
            .map_err(|e| e.to_string())
    }

    fn note(&self, note_id: &str) -> Result<Option<NoteDetail>, String> {
        self.document
            .read(|conn| {
                Ok(conn
                    .query_row(
                    "SELECT n.noteId, n.title, n.type, n.mime, n.isProtected, b.content
                     FROM notes n LEFT JOIN blobs b ON b.blobId = n.blobId
                     WHERE n.noteId = ?1 AND n.isDeleted = 0",
                    [note_id],
                    |r| {
                        let is_protected: bool = r.get(4)?;
                        let note_type: String = r.get(2)?;
                        let body = if is_protected {
                            NoteBody::Protected
                        } else {
                            note_body(&note_type, r.get_ref(5)?)
                        };
                        Ok(NoteDetail {
                            note_id: r.get(0)?,
                            title: if is_protected { "[protected]".to_string() } else { r.get(1)? },
                            note_type,
                            mime: r.get(3)?,
                            body,
                        })
                    },
                )
                .optional()?)
            })
            .map_err(|e| e.to_string())
    }
}

fn note_body(note_type: &str, content: ValueRef<'_>) -> NoteBody {
    // Trilium stores blobs that arrived by sync as BLOBs even when they are text; the note type decides.
    let bytes = match content {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes,
        _ => return NoteBody::Text(String::new()),
    };
    let is_binary_type = matches!(note_type, "file" | "image");
    match std::str::from_utf8(bytes) {
        Ok(text) if note_type == "text" => {
            // Note HTML comes from other instances too: never let it run script in this page.
            NoteBody::Html(ammonia::clean(text))
        }
        Ok(text) if !is_binary_type => NoteBody::Text(text.to_owned()),
        _ => NoteBody::Binary { bytes: bytes.len() },
    }
}
