//! Notes, content and branches: creating notes, editing title/content, moving and
//! ordering branches, the way Trilium's services do it (so the resulting rows and
//! entity changes match what Trilium would write).

use rusqlite::{params, Connection, OptionalExtension};

use super::entity_changes;
use super::{revisions, DbError, SqlResult, WriteTx};
use crate::entities::{self, Attribute, Blob, BlobContent, Branch, Note};

/// Parameters of [`create_note`].
#[derive(Debug, Clone)]
pub struct NewNote {
    pub parent_note_id: String,
    pub title: String,
    pub content: BlobContent,
    /// `text`, `code`, `file`, ...
    pub note_type: String,
    /// Derived from the type when `None` (text → text/html, code → text/plain).
    pub mime: Option<String>,
    /// Forces an id (Trilium allows this); random otherwise.
    pub note_id: Option<String>,
    pub prefix: Option<String>,
    /// After the last child when `None`.
    pub note_position: Option<i64>,
}

impl NewNote {
    pub fn text(parent_note_id: &str, title: &str, html: &str) -> Self {
        NewNote {
            parent_note_id: parent_note_id.into(),
            title: title.into(),
            content: BlobContent::Text(html.into()),
            note_type: "text".into(),
            mime: None,
            note_id: None,
            prefix: None,
            note_position: None,
        }
    }
}

/// `notes.createNewNote`: note row, its blob, a branch under the parent. The note is
/// saved first without a blob and then again with it, as Trilium does; only the last
/// entity change per entity survives anyway.
pub fn create_note(tx: &mut WriteTx<'_>, p: NewNote) -> SqlResult<(Note, Branch)> {
    let parent: Note = entities::get(tx.conn(), &p.parent_note_id)?;
    if parent.is_deleted {
        return Err(DbError::Invalid(format!("parent note '{}' is deleted", parent.note_id)));
    }
    let now_utc = tx.utc_now();
    let now_local = tx.local_now();
    let mut note = Note {
        note_id: p.note_id.unwrap_or_else(crate::hashing::new_entity_id),
        title: p.title,
        is_protected: false,
        mime: p.mime.unwrap_or_else(|| Note::default_mime(&p.note_type).to_owned()),
        note_type: p.note_type,
        blob_id: None,
        is_deleted: false,
        delete_id: None,
        date_created: now_local.clone(),
        date_modified: now_local,
        utc_date_created: now_utc.clone(),
        utc_date_modified: now_utc,
    };
    // The content first, so the note row and its change are written once, with their blob.
    note.blob_id = Some(super::protected::save_blob(tx, p.content, false, ("notes", &note.note_id))?);
    entities::save(tx, &note)?;
    let position = match p.note_position {
        Some(pos) => pos,
        None => next_child_position(tx.conn(), &parent.note_id)?,
    };
    let branch = Branch {
        branch_id: Branch::id_for(&parent.note_id, &note.note_id),
        note_id: note.note_id.clone(),
        parent_note_id: parent.note_id.clone(),
        note_position: position,
        prefix: p.prefix.filter(|s| !s.trim().is_empty()),
        is_expanded: false,
        is_deleted: false,
        delete_id: None,
        utc_date_modified: tx.utc_now(),
    };
    entities::save(tx, &branch)?;
    Ok((note, branch))
}

/// `getNewNotePosition`: 10 after the largest position among the parent's live children
/// (or 10 before the smallest with `#newNotesOnTop`), ignoring `_hidden`, which sits at a
/// huge position to stay last. The label counts owned or inherited (`isLabelTruthy`).
pub fn next_child_position(conn: &Connection, parent_note_id: &str) -> SqlResult<i64> {
    let on_top = super::graph::Graph::new(conn)
        .attributes(parent_note_id)?
        .into_iter()
        .find(|a| a.attr_type == "label" && a.name == "newNotesOnTop")
        .is_some_and(|l| l.value != "false");
    // Read from the end of `schema::CANOPY_INDEXES`'s position index: one row, however many children.
    let order = if on_top { "ASC" } else { "DESC" };
    let edge: i64 = conn
        .prepare_cached(&format!(
            "SELECT notePosition FROM branches
             WHERE parentNoteId = ?1 AND isDeleted = 0 AND noteId != '_hidden'
             ORDER BY notePosition {order} LIMIT 1"
        ))?
        .query_row([parent_note_id], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    // Trilium folds 0 into the min/max, so positions never cross 0 from the wrong side.
    Ok(if on_top { edge.min(0) - 10 } else { edge.max(0) + 10 })
}

/// Saves a note with Trilium's `beforeSaving`: dateModified/utcDateModified = now.
pub fn save_note(tx: &mut WriteTx<'_>, note: &mut Note) -> SqlResult<i64> {
    note.date_modified = tx.local_now();
    note.utc_date_modified = tx.utc_now();
    super::protected::save_note_row(tx, note)
}

/// Deletes a blob (row and entity change, no tombstone) if nothing references it.
pub fn delete_blob_if_unused(conn: &Connection, blob_id: &str) -> SqlResult<bool> {
    if super::blob_users::is_used(conn, blob_id)? {
        return Ok(false);
    }
    conn.execute("DELETE FROM blobs WHERE blobId = ?1", [blob_id])?;
    conn.execute("DELETE FROM entity_changes WHERE entityName = 'blobs' AND entityId = ?1", [blob_id])?;
    Ok(true)
}

/// `_setContent` for a note: new blob if needed, note saved only if its blobId changed,
/// old blob dropped when unused. A protected note's content is encrypted with the transaction's key
/// (`ProtectedLocked` without one).
pub fn set_note_content(tx: &mut WriteTx<'_>, note: &mut Note, content: BlobContent) -> SqlResult<()> {
    let new_blob_id = super::protected::save_blob(tx, content, note.is_protected, ("notes", &note.note_id))?;
    let old = note.blob_id.clone();
    if old.as_deref() != Some(new_blob_id.as_str()) {
        note.blob_id = Some(new_blob_id);
        save_note(tx, note)?;
        if let Some(old) = old {
            delete_blob_if_unused(tx.conn(), &old)?;
        }
    }
    Ok(())
}

/// `PUT /api/notes/:id/data`: automatic pre-edit revision if due, then the new content.
pub fn update_note_content(tx: &mut WriteTx<'_>, note_id: &str, content: BlobContent) -> SqlResult<Note> {
    let mut note: Note = entities::get(tx.conn(), note_id)?;
    revisions::save_revision_if_needed(tx, &note)?;
    set_note_content(tx, &mut note, content)?;
    Ok(note)
}

/// `changeTitle`: automatic pre-edit revision if due, then the title.
pub fn update_note_title(tx: &mut WriteTx<'_>, note_id: &str, title: &str) -> SqlResult<Note> {
    let mut note: Note = entities::get(tx.conn(), note_id)?;
    let key = if note.is_protected { Some(super::protected::need_key(tx.key(), "notes", note_id)?.clone()) } else { None };
    revisions::save_revision_if_needed(tx, &note)?;
    note.title = match &key {
        Some(key) => key.encrypt(title.as_bytes()),
        None => title.to_owned(),
    };
    save_note(tx, &mut note)?;
    Ok(note)
}

/// Reads a note's content blob.
pub fn note_content(conn: &Connection, note_id: &str) -> SqlResult<BlobContent> {
    let note: Note = entities::get(conn, note_id)?;
    let blob_id = note.blob_id.ok_or_else(|| DbError::not_found("blobs", format!("(note {note_id})")))?;
    Ok(entities::get::<Blob>(conn, &blob_id)?.content)
}

/// Saves a branch with Trilium's `beforeSaving` (utcDateModified = now, blank prefix → NULL).
pub fn save_branch(tx: &mut WriteTx<'_>, branch: &mut Branch) -> SqlResult<i64> {
    branch.branch_id = Branch::id_for(&branch.parent_note_id, &branch.note_id);
    if branch.prefix.as_deref().map(|p| p.trim().is_empty()).unwrap_or(false) {
        branch.prefix = None;
    }
    branch.utc_date_modified = tx.utc_now();
    entities::save(tx, branch)
}

/// Is `ancestor` an ancestor of (or equal to) `note_id` through live branches?
pub fn is_ancestor(conn: &Connection, ancestor: &str, note_id: &str) -> SqlResult<bool> {
    let found: Option<i64> = conn
        .query_row(
            "WITH RECURSIVE up(id) AS (SELECT ?2 UNION SELECT b.parentNoteId FROM branches b JOIN up ON b.noteId = up.id WHERE b.isDeleted = 0)
             SELECT 1 FROM up WHERE id = ?1 LIMIT 1",
            params![ancestor, note_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(found.is_some())
}

/// Notes whose place in the tree is fixed (`validateParentChild`).
const UNMOVABLE_NOTES: &[&str] = &["root", "_hidden", "_share", "_lbRoot", "_lbAvailableLaunchers", "_lbVisibleLaunchers"];

/// `treeService.validateParentChild`: what forbids a branch of `child_note_id` under `parent_note_id`
/// (`moving`: the branch being moved, which may stay where it is), in Trilium's words; `None` if allowed.
pub fn parent_child_problem(
    conn: &Connection,
    parent_note_id: &str,
    child_note_id: &str,
    moving: Option<&str>,
) -> SqlResult<Option<String>> {
    if UNMOVABLE_NOTES.contains(&child_note_id) {
        return Ok(Some("Cannot change this note's location.".into()));
    }
    if parent_note_id == "none" {
        return Ok(Some("Cannot move anything into 'none' parent.".into()));
    }
    let existing = Branch::id_for(parent_note_id, child_note_id);
    if moving != Some(existing.as_str()) && entities::load::<Branch>(conn, &existing)?.is_some_and(|b| !b.is_deleted) {
        let title = |id: &str| -> SqlResult<String> { Ok(entities::load::<Note>(conn, id)?.map(|n| n.title).unwrap_or_default()) };
        return Ok(Some(format!(
            "Note \"{}\" note already exists in the \"{}\".",
            title(child_note_id)?,
            title(parent_note_id)?
        )));
    }
    if is_ancestor(conn, child_note_id, parent_note_id)? {
        return Ok(Some("Moving/cloning note here would create cycle.".into()));
    }
    if parent_note_id != "_lbBookmarks" && entities::load::<Note>(conn, parent_note_id)?.is_some_and(|n| n.note_type == "launcher") {
        return Ok(Some("Launcher note cannot have any children.".into()));
    }
    Ok(None)
}

fn validate_parent_child(conn: &Connection, parent_note_id: &str, child_note_id: &str, moving: Option<&str>) -> SqlResult<()> {
    match parent_child_problem(conn, parent_note_id, child_note_id, moving)? {
        Some(problem) => Err(DbError::Invalid(problem)),
        None => Ok(()),
    }
}

/// `BBranch.beforeSaving` for a branch without a position: 10 after the largest position among the
/// parent's live children (at least 0), `_hidden` left out.
pub fn appended_child_position(conn: &Connection, parent_note_id: &str) -> SqlResult<i64> {
    let max: i64 = conn.query_row(
        "SELECT COALESCE(MAX(notePosition), 0) FROM branches WHERE parentNoteId = ?1 AND isDeleted = 0 AND noteId != '_hidden'",
        [parent_note_id],
        |r| r.get(0),
    )?;
    Ok(max.max(0) + 10)
}

/// `moveBranchToNote`'s position: 10 after the largest live position (`_hidden` included), 0 for
/// an empty parent.
fn moved_in_position(conn: &Connection, parent_note_id: &str) -> SqlResult<i64> {
    let max: Option<i64> = conn.query_row(
        "SELECT MAX(notePosition) FROM branches WHERE parentNoteId = ?1 AND isDeleted = 0",
        [parent_note_id],
        |r| r.get(0),
    )?;
    Ok(max.map_or(0, |m| m + 10))
}

/// Places `note_id` under another parent too (a clone): new branch after the last child.
pub fn clone_to_parent(tx: &mut WriteTx<'_>, note_id: &str, parent_note_id: &str, prefix: Option<&str>) -> SqlResult<Branch> {
    entities::get::<Note>(tx.conn(), note_id)?;
    entities::get::<Note>(tx.conn(), parent_note_id)?;
    validate_parent_child(tx.conn(), parent_note_id, note_id, None)?;
    let mut branch = Branch {
        branch_id: String::new(),
        note_id: note_id.into(),
        parent_note_id: parent_note_id.into(),
        note_position: appended_child_position(tx.conn(), parent_note_id)?,
        prefix: prefix.map(str::to_owned),
        is_expanded: false,
        is_deleted: false,
        delete_id: None,
        utc_date_modified: String::new(),
    };
    save_branch(tx, &mut branch)?;
    Ok(branch)
}

/// `moveBranchToNote`: moves a branch under another parent (after its last child). Branch ids
/// derive from the parent, so this creates a new branch and marks the old one deleted, as Trilium does.
pub fn move_to_parent(tx: &mut WriteTx<'_>, branch_id: &str, new_parent_note_id: &str) -> SqlResult<Branch> {
    let old: Branch = entities::get(tx.conn(), branch_id)?;
    if old.parent_note_id == new_parent_note_id {
        return Ok(old);
    }
    entities::get::<Note>(tx.conn(), new_parent_note_id)?;
    validate_parent_child(tx.conn(), new_parent_note_id, &old.note_id, Some(branch_id))?;
    let position = moved_in_position(tx.conn(), new_parent_note_id)?;
    let new = relocate(tx, old, new_parent_note_id, position)?;
    Ok(new)
}

/// Clone of `old` under `parent` at `position`, old branch marked deleted (no deleteId).
fn relocate(tx: &mut WriteTx<'_>, old: Branch, parent: &str, position: i64) -> SqlResult<Branch> {
    let mut new = Branch {
        parent_note_id: parent.into(),
        note_position: position,
        is_deleted: false,
        delete_id: None,
        ..old.clone()
    };
    save_branch(tx, &mut new)?;
    super::deletion::mark_branch_deleted(tx, old, None)?;
    Ok(new)
}

/// `moveBranchBeforeNote`: shift siblings at/after the target down by 10 with plain SQL
/// (no entity changes, dates untouched), put the branch at the target's old position,
/// then one `note_reordering` change for the parent.
pub fn move_before(tx: &mut WriteTx<'_>, branch_id: &str, before_branch_id: &str) -> SqlResult<Branch> {
    let before: Branch = entities::get(tx.conn(), before_branch_id)?;
    move_relative(tx, branch_id, &before.parent_note_id, before.note_position, ">=", before.note_position)
}

/// `moveBranchAfterNote`: shift siblings after the target by 10, take target + 10.
pub fn move_after(tx: &mut WriteTx<'_>, branch_id: &str, after_branch_id: &str) -> SqlResult<Branch> {
    let after: Branch = entities::get(tx.conn(), after_branch_id)?;
    move_relative(tx, branch_id, &after.parent_note_id, after.note_position, ">", after.note_position + 10)
}

fn move_relative(
    tx: &mut WriteTx<'_>,
    branch_id: &str,
    parent: &str,
    pivot: i64,
    cmp: &str,
    new_position: i64,
) -> SqlResult<Branch> {
    let mut branch: Branch = entities::get(tx.conn(), branch_id)?;
    validate_parent_child(tx.conn(), parent, &branch.note_id, Some(branch_id))?;
    shift_siblings(tx.conn(), parent, cmp, pivot)?;
    let result = if branch.parent_note_id == parent {
        branch.note_position = new_position;
        save_branch(tx, &mut branch)?;
        branch
    } else {
        relocate(tx, branch, parent, new_position)?
    };
    entity_changes::put_note_reordering(tx, parent)?;
    Ok(result)
}

/// Makes room after `pivot`: live children of `parent` at a position `cmp` (`>` or `>=`) `pivot` move
/// 10 down, with plain SQL (no entity changes, dates untouched: Trilium leaves them so that other
/// changes win a conflict, and positions are not hashed).
fn shift_siblings(conn: &Connection, parent: &str, cmp: &str, pivot: i64) -> SqlResult<()> {
    conn.execute(
        &format!(
            "UPDATE branches SET notePosition = notePosition + 10
             WHERE parentNoteId = ?1 AND notePosition {cmp} ?2 AND isDeleted = 0"
        ),
        params![parent, pivot],
    )?;
    Ok(())
}

/// `createNewNoteWithTarget(after)`: children of `parent` after `pivot` move 10 down (see
/// [`shift_siblings`]); the caller writes the `note_reordering` change.
pub fn shift_positions_after(tx: &mut WriteTx<'_>, parent: &str, pivot: i64) -> SqlResult<()> {
    shift_siblings(tx.conn(), parent, ">", pivot)
}

/// Gives children of `parent` new positions with plain SQL (as Trilium's sort does: positions are not
/// hashed), plus one `note_reordering` change when anything moved.
pub fn set_child_positions(tx: &mut WriteTx<'_>, parent: &str, positions: &[(String, i64)]) -> SqlResult<()> {
    for (branch_id, position) in positions {
        tx.conn().execute(
            "UPDATE branches SET notePosition = ?1 WHERE branchId = ?2 AND parentNoteId = ?3",
            params![position, branch_id, parent],
        )?;
    }
    if !positions.is_empty() {
        entity_changes::put_note_reordering(tx, parent)?;
    }
    Ok(())
}

/// Sets positions of a parent's children in the given order (10, 20, ...), plain SQL
/// plus one `note_reordering` change, like Trilium's sort.
pub fn reorder_children(tx: &mut WriteTx<'_>, parent_note_id: &str, branch_ids_in_order: &[&str]) -> SqlResult<()> {
    for (i, id) in branch_ids_in_order.iter().enumerate() {
        let n = tx.conn().execute(
            "UPDATE branches SET notePosition = ?1 WHERE branchId = ?2 AND parentNoteId = ?3",
            params![(i as i64 + 1) * 10, id, parent_note_id],
        )?;
        if n == 0 {
            return Err(DbError::not_found("branches", *id));
        }
    }
    entity_changes::put_note_reordering(tx, parent_note_id)?;
    Ok(())
}

/// `setExpanded`: plain SQL, no entity change ("we don't sync expanded").
pub fn set_expanded(conn: &Connection, branch_id: &str, expanded: bool) -> SqlResult<()> {
    conn.execute("UPDATE branches SET isExpanded = ?1 WHERE branchId = ?2", params![expanded as i64, branch_id])?;
    Ok(())
}

/// Live parent branches of a note.
pub fn parent_branches(conn: &Connection, note_id: &str) -> SqlResult<Vec<Branch>> {
    entities::load_where(conn, "noteId = ?1 AND isDeleted = 0 ORDER BY notePosition, branchId", [note_id])
}

/// The note's oldest live parent branch (Trilium's "first" one, e.g. the one an export starts from).
pub fn first_parent_branch(conn: &Connection, note_id: &str) -> SqlResult<Option<Branch>> {
    Ok(entities::load_where(conn, "noteId = ?1 AND isDeleted = 0 ORDER BY rowid LIMIT 1", [note_id])?.pop())
}

/// The note's live attributes in position order.
pub fn owned_attributes(conn: &Connection, note_id: &str) -> SqlResult<Vec<Attribute>> {
    entities::load_where(conn, "noteId = ?1 AND isDeleted = 0 ORDER BY position, attributeId", [note_id])
}

/// Live labels called `name`, oldest first.
pub fn labels_named(conn: &Connection, name: &str) -> SqlResult<Vec<Attribute>> {
    entities::load_where(conn, "type = 'label' AND name = ?1 AND isDeleted = 0 ORDER BY rowid", [name])
}

/// A blob's content as text (SQLite's `CAST(content AS TEXT)`), `None` if there is no such blob.
pub fn blob_text(conn: &Connection, blob_id: &str) -> SqlResult<Option<String>> {
    // Lossy: a blob may hold any bytes (an image put through ETAPI, a note written by another tool),
    // and nothing that reads text for searching may fail on them.
    Ok(conn
        .query_row("SELECT content FROM blobs WHERE blobId = ?1", [blob_id], |r| {
            Ok(match r.get_ref(0)? {
                rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                    Some(String::from_utf8_lossy(b).into_owned())
                }
                _ => None,
            })
        })
        .optional()?
        .flatten())
}

/// The blob's content length in bytes (0 when missing).
pub fn blob_size(conn: &Connection, blob_id: &str) -> SqlResult<i64> {
    Ok(conn
        .query_row("SELECT LENGTH(CAST(content AS BLOB)) FROM blobs WHERE blobId = ?1", [blob_id], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten()
        .unwrap_or(0))
}

/// Live children of a note in tree order.
pub fn child_branches(conn: &Connection, parent_note_id: &str) -> SqlResult<Vec<Branch>> {
    entities::load_where(conn, "parentNoteId = ?1 AND isDeleted = 0 ORDER BY notePosition, branchId", [parent_note_id])
}

/// Every live (non-deleted) note.
pub fn live_notes(conn: &Connection) -> SqlResult<Vec<Note>> {
    entities::load_where(conn, "isDeleted = 0 ORDER BY noteId", [])
}

/// The notes of a parent's live branches, in position order (`getChildNotes`).
pub fn child_note_ids(conn: &Connection, parent_note_id: &str) -> SqlResult<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT noteId FROM branches WHERE parentNoteId = ?1 AND isDeleted = 0 ORDER BY notePosition")?;
    let ids = stmt.query_map([parent_note_id], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(ids)
}
