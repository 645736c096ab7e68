//! The history the UI shows: a note's revisions with what tells them apart (size, the instance that
//! wrote them, whether sync kept them from a conflict), the document's recent changes (Trilium's
//! `recent_changes.js`), and what an undelete would restore.
use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection};

use super::SqlResult;
use crate::entities::{self, Branch, Revision};

/// One revision with what the list shows beside its title and date.
#[derive(Debug, Clone)]
pub struct RevisionRow {
    pub revision: Revision,
    /// Bytes of the stored content (ciphertext for a protected revision).
    pub content_bytes: i64,
    /// The `instanceId` of the revision's `entity_changes` row: the instance that wrote it.
    pub instance_id: Option<String>,
    /// Sync kept this revision from a conflict's losing side (`canopy_sync_conflicts`).
    pub from_conflict: bool,
}

/// The revisions of a note, newest first.
pub fn revisions_of(conn: &Connection, note_id: &str) -> SqlResult<Vec<RevisionRow>> {
    let revisions: Vec<Revision> = entities::load_where(conn, "noteId = ?1 ORDER BY utcDateCreated DESC", [note_id])?;
    let mut stmt = conn.prepare_cached(
        "SELECT revisions.revisionId, COALESCE(LENGTH(CAST(blobs.content AS BLOB)), 0), entity_changes.instanceId
         FROM revisions
         LEFT JOIN blobs ON blobs.blobId = revisions.blobId
         LEFT JOIN entity_changes ON entity_changes.entityName = 'revisions' AND entity_changes.entityId = revisions.revisionId
         WHERE revisions.noteId = ?1",
    )?;
    let extras: HashMap<String, (i64, Option<String>)> = stmt
        .query_map([note_id], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))))?
        .collect::<Result<_, _>>()?;
    let conflicts = conflict_revision_ids(conn, note_id)?;
    Ok(revisions
        .into_iter()
        .map(|revision| {
            let (content_bytes, instance_id) = extras.get(&revision.revision_id).cloned().unwrap_or((0, None));
            let from_conflict = conflicts.contains(&revision.revision_id);
            RevisionRow { revision, content_bytes, instance_id, from_conflict }
        })
        .collect())
}

/// Revisions sync's conflict resolution kept for this note. The table is Canopy's own and exists only
/// once sync has resolved a conflict in this document.
fn conflict_revision_ids(conn: &Connection, note_id: &str) -> SqlResult<HashSet<String>> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'canopy_sync_conflicts')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(HashSet::new());
    }
    let mut stmt =
        conn.prepare_cached("SELECT revisionId FROM canopy_sync_conflicts WHERE noteId = ?1 AND revisionId IS NOT NULL")?;
    let ids = stmt.query_map([note_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(ids)
}

/// What happened to a note at a point of Recent changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A revision was taken: the note was edited (the title is the one it had then).
    Edited,
    Created,
    Deleted,
}

/// One point of Recent changes, with the note's current state.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    pub note_id: String,
    pub kind: ChangeKind,
    /// The title at that point (the revision's for an edit).
    pub title: String,
    pub current_title: String,
    pub is_protected: bool,
    pub is_deleted: bool,
    pub delete_id: Option<String>,
    pub utc_date: String,
    /// Local time with offset, as Trilium stores `dateCreated`/`dateModified`.
    pub date: String,
}

/// Trilium's Recent changes: every revision, every note's creation and every deleted note's deletion,
/// newest first, at most `limit`. Trilium's system notes (ids starting with `_`, the hidden subtree)
/// are left out: they are not the document's edits.
pub fn recent_changes(conn: &Connection, limit: usize) -> SqlResult<Vec<ChangeRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM (
             SELECT notes.noteId, 0 AS kind, revisions.title, notes.title, notes.isProtected, notes.isDeleted, notes.deleteId,
                    revisions.utcDateCreated AS utcDate, revisions.dateCreated
             FROM revisions JOIN notes USING (noteId)
           UNION ALL
             SELECT noteId, 1, title, title, isProtected, isDeleted, deleteId, utcDateCreated, dateCreated FROM notes
           UNION ALL
             SELECT noteId, 2, title, title, isProtected, isDeleted, deleteId, utcDateModified, dateModified FROM notes
             WHERE isDeleted = 1
         )
         WHERE substr(noteId, 1, 1) != '_'
         ORDER BY utcDate DESC
         LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([limit as i64], |r| {
            Ok(ChangeRow {
                note_id: r.get(0)?,
                kind: match r.get::<_, i64>(1)? {
                    0 => ChangeKind::Edited,
                    1 => ChangeKind::Created,
                    _ => ChangeKind::Deleted,
                },
                title: r.get(2)?,
                current_title: r.get(3)?,
                is_protected: r.get(4)?,
                is_deleted: r.get(5)?,
                delete_id: r.get(6)?,
                utc_date: r.get(7)?,
                date: r.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Trilium's `getUndeletedParentBranchIds`: the note's branches deleted with `delete_id` whose parent
/// note is alive, through which an undelete puts it back.
pub fn undeletable_parent_branches(conn: &Connection, note_id: &str, delete_id: &str) -> SqlResult<Vec<Branch>> {
    entities::load_where(
        conn,
        "noteId = ?1 AND isDeleted = 1 AND deleteId = ?2
         AND parentNoteId IN (SELECT noteId FROM notes WHERE isDeleted = 0)",
        params![note_id, delete_id],
    )
}
