//! Recent changes and undelete (Trilium's `routes/api/recent_changes.js` and `notes.undeleteNote`).
use rusqlite::Connection;

use super::{DomainError, DomainResult};
use crate::db::history::{self, ChangeRow};
use crate::db::{deletion, WriteTx};
use crate::entities::{self, Note};

/// Trilium's limit on the list.
pub const MAX_CHANGES: usize = 500;

/// A point of Recent changes, and for a deleted note whether undelete can put it back (one of the
/// parents it was deleted from is alive).
#[derive(Debug, Clone)]
pub struct RecentChange {
    pub change: ChangeRow,
    pub can_undelete: bool,
}

/// The document's recent changes, newest first, at most [`MAX_CHANGES`].
pub fn recent_changes(conn: &Connection) -> DomainResult<Vec<RecentChange>> {
    let rows = history::recent_changes(conn, MAX_CHANGES)?;
    rows.into_iter()
        .map(|change| {
            let can_undelete = match (&change.is_deleted, &change.delete_id) {
                (true, Some(delete_id)) => {
                    !history::undeletable_parent_branches(conn, &change.note_id, delete_id)?.is_empty()
                }
                _ => false,
            };
            Ok(RecentChange { change, can_undelete })
        })
        .collect()
}

/// Trilium's `undeleteNote`: the note comes back through every branch deleted with its `deleteId`
/// whose parent is alive, with the subtree, attributes and attachments that delete took along.
/// Refused when the note is not deleted, or when every parent it was deleted from is itself deleted
/// (that parent has to be undeleted first). Returns the parents it is back under.
pub fn undelete_note(tx: &mut WriteTx<'_>, note_id: &str) -> DomainResult<Vec<String>> {
    let note = entities::load::<Note>(tx.conn(), note_id)?.ok_or_else(|| DomainError::not_found("notes", note_id))?;
    if !note.is_deleted {
        return Err(DomainError::Invalid(format!("Note '{note_id}' is not deleted.")));
    }
    let delete_id = note.delete_id.clone().unwrap_or_default();
    let parents = history::undeletable_parent_branches(tx.conn(), note_id, &delete_id)?;
    if parents.is_empty() {
        return Err(DomainError::NotAllowed(format!(
            "'{}' cannot be undeleted: the note it was deleted from is itself deleted. Undelete that note first.",
            if note.is_protected { "[protected]" } else { note.title.as_str() }
        )));
    }
    deletion::undelete_note(tx, note_id)?;
    let mut parent_ids: Vec<String> = parents.into_iter().map(|b| b.parent_note_id).collect();
    parent_ids.dedup();
    Ok(parent_ids)
}
