//! The tree's port.
use app::error::AppError;
use app::tree::api::{ssr::TreePort, TreeEntry};

use super::{internal, PROTECTED_TITLE};
use crate::db::{tree_view, Document};

pub struct DocumentTree {
    pub document: Document,
}

impl TreePort for DocumentTree {
    fn children(&self, parent_note_id: &str) -> Result<Vec<TreeEntry>, AppError> {
        let rows = self
            .document
            .read(|conn| {
                if !tree_view::note_exists(conn, parent_note_id)? {
                    return Ok(None);
                }
                tree_view::children(conn, parent_note_id).map(Some)
            })
            .map_err(internal)?
            .ok_or_else(|| AppError::NotFound(format!("Note {parent_note_id} does not exist.")))?;
        Ok(rows
            .into_iter()
            .map(|row| TreeEntry {
                branch_id: row.branch_id,
                note_id: row.note_id,
                // A protected title is ciphertext until a protected session exists.
                title: if row.is_protected { PROTECTED_TITLE.to_string() } else { row.title },
                prefix: row.prefix,
                note_type: row.note_type,
                is_protected: row.is_protected,
                has_children: row.has_children,
            })
            .collect())
    }
}
