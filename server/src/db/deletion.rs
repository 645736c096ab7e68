//! Soft delete, undelete and erase (Trilium's `deleteBranch`, `undeleteNote`, `erase.js`).
//!
//! Soft delete sets `isDeleted=1` plus a shared `deleteId`, a new `utcDateModified`, and
//! hashes with `|deleted`. Erase removes rows physically and turns their entity changes
//! into `isErased=1` tombstones. Unused blobs vanish without a tombstone.

use chrono::Duration;
use rusqlite::{params, params_from_iter, Connection};

use super::entity_changes;
use super::{options, DbError, SqlResult, WriteTx};
use crate::entities::{self, Attachment, Attribute, Branch, Note};
use crate::hashing;

/// Parents whose branches never keep a note alive (`BBranch.isWeak`).
const WEAK_PARENTS: &[&str] = &["_share", "_lbBookmarks"];

pub(crate) fn mark_branch_deleted(tx: &mut WriteTx<'_>, mut b: Branch, delete_id: Option<&str>) -> SqlResult<()> {
    b.is_deleted = true;
    b.delete_id = delete_id.map(str::to_owned);
    b.utc_date_modified = tx.utc_now();
    entities::save(tx, &b)?;
    Ok(())
}

fn mark_note_deleted(tx: &mut WriteTx<'_>, mut n: Note, delete_id: &str) -> SqlResult<()> {
    n.is_deleted = true;
    n.delete_id = Some(delete_id.to_owned());
    n.utc_date_modified = tx.utc_now();
    n.date_modified = tx.local_now();
    super::protected::save_note_row(tx, &n)?;
    Ok(())
}

fn mark_attribute_deleted(tx: &mut WriteTx<'_>, mut a: Attribute, delete_id: Option<&str>) -> SqlResult<()> {
    a.is_deleted = true;
    a.delete_id = delete_id.map(str::to_owned);
    a.utc_date_modified = tx.utc_now();
    entities::save(tx, &a)?;
    Ok(())
}

pub(crate) fn mark_attachment_deleted(tx: &mut WriteTx<'_>, mut a: Attachment, delete_id: Option<&str>) -> SqlResult<()> {
    a.is_deleted = true;
    a.delete_id = delete_id.map(str::to_owned);
    a.utc_date_modified = tx.utc_now();
    a.date_modified = tx.local_now();
    super::protected::save_attachment_row(tx, &a)?;
    Ok(())
}

/// Trilium's deleteIds are `randomString(10)`.
pub fn new_delete_id() -> String {
    hashing::random_string(10)
}

/// `BBranch.deleteBranch`: deletes the branch; if it was the note's last strong parent
/// branch, cascades to weak branches, child branches (recursively), owned attributes,
/// relations targeting the note, attachments and the note. Returns whether the note
/// itself was deleted.
pub fn delete_branch(tx: &mut WriteTx<'_>, branch_id: &str, delete_id: &str) -> SqlResult<bool> {
    let branch: Branch = entities::get(tx.conn(), branch_id)?;
    if branch.note_id == "root" {
        return Err(DbError::Invalid("cannot delete the root note".into()));
    }
    if branch.is_deleted {
        return Ok(false);
    }
    let note_id = branch.note_id.clone();
    mark_branch_deleted(tx, branch, Some(delete_id))?;

    let parents: Vec<Branch> = entities::load_where(tx.conn(), "noteId = ?1 AND isDeleted = 0", [&note_id])?;
    if parents.iter().any(|b| !WEAK_PARENTS.contains(&b.parent_note_id.as_str())) {
        return Ok(false);
    }
    for weak in parents {
        mark_branch_deleted(tx, weak, Some(delete_id))?;
    }
    let children: Vec<Branch> = entities::load_where(tx.conn(), "parentNoteId = ?1 AND isDeleted = 0", [&note_id])?;
    for child in children {
        delete_branch(tx, &child.branch_id, delete_id)?;
    }
    let owned: Vec<Attribute> = entities::load_where(tx.conn(), "noteId = ?1 AND isDeleted = 0", [&note_id])?;
    for a in owned {
        mark_attribute_deleted(tx, a, Some(delete_id))?;
    }
    let targeting: Vec<Attribute> =
        entities::load_where(tx.conn(), "type = 'relation' AND value = ?1 AND isDeleted = 0", [&note_id])?;
    for a in targeting {
        mark_attribute_deleted(tx, a, Some(delete_id))?;
    }
    let attachments: Vec<Attachment> = entities::load_where(tx.conn(), "ownerId = ?1 AND isDeleted = 0", [&note_id])?;
    for a in attachments {
        mark_attachment_deleted(tx, a, Some(delete_id))?;
    }
    let note: Note = entities::get(tx.conn(), &note_id)?;
    mark_note_deleted(tx, note, delete_id)?;
    Ok(true)
}

/// `BNote.deleteNote`: deletes every parent branch under one deleteId (returned).
pub fn delete_note(tx: &mut WriteTx<'_>, note_id: &str) -> SqlResult<String> {
    let note: Note = entities::get(tx.conn(), note_id)?;
    let delete_id = new_delete_id();
    if note.is_deleted {
        return Ok(note.delete_id.unwrap_or(delete_id));
    }
    let parents: Vec<Branch> = entities::load_where(tx.conn(), "noteId = ?1 AND isDeleted = 0", [note_id])?;
    for b in parents {
        delete_branch(tx, &b.branch_id, &delete_id)?;
    }
    Ok(delete_id)
}

/// `notes.undeleteNote`: restores the note through every parent branch deleted with the
/// same deleteId whose parent is alive; cascades to what that deleteId took along.
/// Returns false if there was no live parent to restore into.
pub fn undelete_note(tx: &mut WriteTx<'_>, note_id: &str) -> SqlResult<bool> {
    let note: Note = entities::get(tx.conn(), note_id)?;
    if !note.is_deleted {
        return Ok(false);
    }
    let delete_id = note.delete_id.clone().unwrap_or_default();
    let mut stmt = tx.conn().prepare(
        "SELECT branches.branchId FROM branches JOIN notes AS parentNote ON parentNote.noteId = branches.parentNoteId
         WHERE branches.noteId = ?1 AND branches.isDeleted = 1 AND branches.deleteId = ?2 AND parentNote.isDeleted = 0",
    )?;
    let ids: Vec<String> = stmt.query_map(params![note_id, delete_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    drop(stmt);
    for id in &ids {
        undelete_branch(tx, id, &delete_id)?;
    }
    Ok(!ids.is_empty())
}

/// Undoes one delete operation: every branch deleted with `delete_id` whose parent note is alive is
/// restored with what it took along (as [`undelete_note`] does per note). Returns how many such
/// branches there were.
pub fn undo_delete(tx: &mut WriteTx<'_>, delete_id: &str) -> SqlResult<usize> {
    let branches = restorable_branches(tx.conn(), delete_id)?;
    for branch in &branches {
        undelete_branch(tx, &branch.branch_id, delete_id)?;
    }
    Ok(branches.len())
}

/// The branches deleted with `delete_id` whose parent note is alive: what [`undo_delete`] restores.
pub fn restorable_branches(conn: &Connection, delete_id: &str) -> SqlResult<Vec<Branch>> {
    entities::load_where(
        conn,
        "isDeleted = 1 AND deleteId = ?1 AND parentNoteId IN (SELECT noteId FROM notes WHERE isDeleted = 0)",
        [delete_id],
    )
}

fn undelete_branch(tx: &mut WriteTx<'_>, branch_id: &str, delete_id: &str) -> SqlResult<()> {
    let mut branch: Branch = entities::get(tx.conn(), branch_id)?;
    if !branch.is_deleted {
        return Ok(());
    }
    let mut note: Note = entities::get(tx.conn(), &branch.note_id)?;
    if note.is_deleted && note.delete_id.as_deref() != Some(delete_id) {
        return Ok(());
    }
    // Saved like a fresh entity: isDeleted 0, new utcDateModified, deleteId left as is.
    branch.is_deleted = false;
    super::tree::save_branch(tx, &mut branch)?;
    if !(note.is_deleted && note.delete_id.as_deref() == Some(delete_id)) {
        return Ok(());
    }
    note.is_deleted = false;
    super::tree::save_note(tx, &mut note)?;

    let attrs: Vec<Attribute> = entities::load_where(
        tx.conn(),
        "isDeleted = 1 AND deleteId = ?1 AND (noteId = ?2 OR (type = 'relation' AND value = ?2))",
        params![delete_id, note.note_id],
    )?;
    for mut a in attrs {
        a.is_deleted = false;
        a.utc_date_modified = tx.utc_now();
        entities::save(tx, &a)?;
    }
    let atts: Vec<Attachment> =
        entities::load_where(tx.conn(), "isDeleted = 1 AND deleteId = ?1 AND ownerId = ?2", params![delete_id, note.note_id])?;
    for mut a in atts {
        a.is_deleted = false;
        a.date_modified = tx.local_now();
        a.utc_date_modified = tx.utc_now();
        entities::save(tx, &a)?;
    }
    let children: Vec<Branch> = entities::load_where(
        tx.conn(),
        "isDeleted = 1 AND deleteId = ?1 AND parentNoteId = ?2",
        params![delete_id, note.note_id],
    )?;
    for child in children {
        undelete_branch(tx, &child.branch_id, delete_id)?;
    }
    Ok(())
}

fn column(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> SqlResult<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let v = stmt.query_map(p, |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(v)
}

/// Deletes rows by primary key and turns their entity changes into tombstones.
fn erase_rows(tx: &mut WriteTx<'_>, table: &str, pk: &str, ids: &[String]) -> SqlResult<()> {
    for id in ids {
        tx.conn().execute(&format!("DELETE FROM {table} WHERE {pk} = ?1"), [id])?;
        entity_changes::mark_erased(tx, table, id)?;
    }
    Ok(())
}

/// `eraseNotes`: the notes plus all their branches, attributes and revisions.
pub fn erase_notes(tx: &mut WriteTx<'_>, note_ids: &[String]) -> SqlResult<()> {
    if note_ids.is_empty() {
        return Ok(());
    }
    erase_rows(tx, "notes", "noteId", note_ids)?;
    let in_list = vec!["?"; note_ids.len()].join(",");
    let branches = column(tx.conn(), &format!("SELECT branchId FROM branches WHERE noteId IN ({in_list})"), params_from_iter(note_ids))?;
    erase_rows(tx, "branches", "branchId", &branches)?;
    let attrs = column(tx.conn(), &format!("SELECT attributeId FROM attributes WHERE noteId IN ({in_list})"), params_from_iter(note_ids))?;
    erase_rows(tx, "attributes", "attributeId", &attrs)?;
    let revs = column(tx.conn(), &format!("SELECT revisionId FROM revisions WHERE noteId IN ({in_list})"), params_from_iter(note_ids))?;
    erase_rows(tx, "revisions", "revisionId", &revs)?;
    Ok(())
}

/// Erases revisions (they are never soft-deleted).
pub fn erase_revisions(tx: &mut WriteTx<'_>, revision_ids: &[String]) -> SqlResult<()> {
    erase_rows(tx, "revisions", "revisionId", revision_ids)
}

/// `eraseAttachments`.
pub fn erase_attachments(tx: &mut WriteTx<'_>, attachment_ids: &[String]) -> SqlResult<()> {
    erase_rows(tx, "attachments", "attachmentId", attachment_ids)
}

/// `eraseUnusedBlobs`: blobs referenced by no note, attachment or revision are deleted
/// together with their entity change (no tombstone). Run before computing sector hashes.
pub fn erase_unused_blobs(conn: &Connection) -> SqlResult<Vec<String>> {
    erase_unused_blobs_in(conn, "SELECT blobId FROM blobs")
}

/// Like [`erase_unused_blobs`], looking only at the blobs `candidates_sql` selects.
pub(crate) fn erase_unused_blobs_in(conn: &Connection, candidates_sql: &str) -> SqlResult<Vec<String>> {
    let ids = column(
        conn,
        &format!(
            "SELECT blobs.blobId FROM blobs
             LEFT JOIN notes ON notes.blobId = blobs.blobId
             LEFT JOIN attachments ON attachments.blobId = blobs.blobId
             LEFT JOIN revisions ON revisions.blobId = blobs.blobId
             WHERE blobs.blobId IN ({candidates_sql})
               AND notes.noteId IS NULL AND attachments.attachmentId IS NULL AND revisions.revisionId IS NULL"
        ),
        [],
    )?;
    for id in &ids {
        conn.execute("DELETE FROM blobs WHERE blobId = ?1", [id])?;
        conn.execute("DELETE FROM entity_changes WHERE entityName = 'blobs' AND entityId = ?1", [id])?;
    }
    Ok(ids)
}

/// `eraseDeletedEntities`: erases soft-deleted notes, branches, attributes and attachments
/// whose `utcDateModified` is at least `after_seconds` old (option
/// `eraseEntitiesAfterTimeInSeconds` when `None`), then unused blobs.
pub fn erase_deleted_entities(tx: &mut WriteTx<'_>, after_seconds: Option<i64>) -> SqlResult<()> {
    let secs = match after_seconds {
        Some(s) => s,
        None => options::get_int(tx.conn(), "eraseEntitiesAfterTimeInSeconds")?.unwrap_or(604_800),
    };
    let cutoff = hashing::utc_date_time_str(tx.now() - Duration::seconds(secs));
    let q = |t: &str, pk: &str| format!("SELECT {pk} FROM {t} WHERE isDeleted = 1 AND utcDateModified <= ?1");
    let notes = column(tx.conn(), &q("notes", "noteId"), [&cutoff])?;
    erase_notes(tx, &notes)?;
    for (t, pk) in [("branches", "branchId"), ("attributes", "attributeId"), ("attachments", "attachmentId")] {
        let ids = column(tx.conn(), &q(t, pk), [&cutoff])?;
        erase_rows(tx, t, pk, &ids)?;
    }
    erase_unused_blobs(tx.conn())?;
    Ok(())
}

/// `eraseNotesWithDeleteId`: erase everything one delete operation soft-deleted.
pub fn erase_with_delete_id(tx: &mut WriteTx<'_>, delete_id: &str) -> SqlResult<()> {
    let q = |t: &str, pk: &str| format!("SELECT {pk} FROM {t} WHERE isDeleted = 1 AND deleteId = ?1");
    let notes = column(tx.conn(), &q("notes", "noteId"), [delete_id])?;
    erase_notes(tx, &notes)?;
    for (t, pk) in [("branches", "branchId"), ("attributes", "attributeId"), ("attachments", "attachmentId")] {
        let ids = column(tx.conn(), &q(t, pk), [delete_id])?;
        erase_rows(tx, t, pk, &ids)?;
    }
    erase_unused_blobs(tx.conn())?;
    Ok(())
}

/// `eraseScheduledAttachments`: attachments scheduled for erasure longer than
/// `eraseUnusedAttachmentsAfterSeconds` ago.
pub fn erase_scheduled_attachments(tx: &mut WriteTx<'_>, after_seconds: Option<i64>) -> SqlResult<()> {
    let secs = match after_seconds {
        Some(s) => s,
        None => options::get_int(tx.conn(), "eraseUnusedAttachmentsAfterSeconds")?.unwrap_or(2_592_000),
    };
    let cutoff = hashing::utc_date_time_str(tx.now() - Duration::seconds(secs));
    let ids = column(tx.conn(), "SELECT attachmentId FROM attachments WHERE utcDateScheduledForErasureSince < ?1", [&cutoff])?;
    erase_rows(tx, "attachments", "attachmentId", &ids)
}
