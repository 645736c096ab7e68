//! Revisions: snapshots taken before edits (at most once per
//! `revisionSnapshotTimeInterval`), on demand, and when restoring.

use chrono::Duration;
use rusqlite::{params, OptionalExtension};

use super::{deletion, options, tree, SqlResult, WriteTx};
use crate::entities::{self, Attachment, Blob, Note, Revision};
use crate::hashing;

/// `BNote.saveRevision`: snapshot of the note's current title/content; the note's
/// attachments are copied and owned by the revision, links rewritten to the copies.
/// A protected note's revision is protected too: its title and content encrypted with the
/// transaction's key (`ProtectedLocked` without one), hashed over the decrypted title.
pub fn save_revision(tx: &mut WriteTx<'_>, note: &Note) -> SqlResult<Revision> {
    let mut content = match &note.blob_id {
        Some(id) if note.is_protected => {
            let bytes = super::protected::blob_bytes(tx.conn(), id, true, tx.key(), ("notes", &note.note_id))?;
            crate::domain::notes::content_for(&note.note_type, &note.mime, bytes)
        }
        Some(id) => entities::get::<Blob>(tx.conn(), id)?.content,
        None => entities::BlobContent::Text(String::new()),
    };
    // A fresh ciphertext of the same title (Trilium encrypts the revision's title on save).
    let title = if note.is_protected {
        let key = super::protected::need_key(tx.key(), "notes", &note.note_id)?;
        key.encrypt(super::protected::decrypt_title(key, &note.title, "notes", &note.note_id)?.as_bytes())
    } else {
        note.title.clone()
    };
    let now_utc = tx.utc_now();
    let mut revision = Revision {
        revision_id: hashing::new_entity_id(),
        note_id: note.note_id.clone(),
        note_type: note.note_type.clone(),
        mime: note.mime.clone(),
        title,
        is_protected: note.is_protected,
        blob_id: None,
        utc_date_last_edited: note.utc_date_modified.clone(),
        utc_date_created: now_utc.clone(),
        utc_date_modified: now_utc,
        date_last_edited: note.date_modified.clone(),
        date_created: tx.local_now(),
    };
    super::protected::save_revision_row(tx, &revision)?;

    let attachments: Vec<Attachment> =
        entities::load_where(tx.conn(), "ownerId = ?1 AND isDeleted = 0 ORDER BY position", [&note.note_id])?;
    for att in attachments {
        let copy = copy_attachment(tx, &att, &revision.revision_id)?;
        if note.note_type == "text" {
            if let entities::BlobContent::Text(html) = &mut content {
                *html = html.replace(
                    &format!("attachments/{}", att.attachment_id),
                    &format!("attachments/{}", copy.attachment_id),
                );
            }
        }
    }

    revision.blob_id = Some(super::protected::save_blob(tx, content, revision.is_protected, ("revisions", &revision.revision_id))?);
    revision.utc_date_modified = tx.utc_now();
    super::protected::save_revision_row(tx, &revision)?;
    Ok(revision)
}

/// Copies an attachment to a new owner (same blob, new id), as `BAttachment.copy()` +
/// forced save.
fn copy_attachment(tx: &mut WriteTx<'_>, att: &Attachment, owner_id: &str) -> SqlResult<Attachment> {
    let copy = Attachment {
        attachment_id: hashing::new_entity_id(),
        owner_id: owner_id.to_owned(),
        date_modified: tx.local_now(),
        utc_date_modified: tx.utc_now(),
        utc_date_scheduled_for_erasure_since: None,
        is_deleted: false,
        delete_id: None,
        ..att.clone()
    };
    super::protected::save_attachment_row(tx, &copy)?;
    Ok(copy)
}

/// `notes.saveRevisionIfNeeded`: before an edit, snapshot unless the note is a file or
/// image, has `#disableVersioning`, already has a revision younger than the interval,
/// or is itself younger than the interval.
pub fn save_revision_if_needed(tx: &mut WriteTx<'_>, note: &Note) -> SqlResult<Option<Revision>> {
    // Without a protected session a protected note cannot change, so it needs no revision.
    if note.note_type == "file" || note.note_type == "image" || (note.is_protected && tx.key().is_none()) {
        return Ok(None);
    }
    // Trilium's `isLabelTruthy`: the first such label in effect, owned or inherited (from an
    // ancestor's inheritable label or a template), unless its value is `false`.
    let disabled = super::graph::Graph::new(tx.conn())
        .attributes(&note.note_id)?
        .into_iter()
        .find(|a| a.attr_type == "label" && a.name == "disableVersioning")
        .map(|a| a.value);
    if disabled.is_some_and(|v| v != "false") {
        return Ok(None);
    }
    let interval = options::get_int(tx.conn(), "revisionSnapshotTimeInterval")?.unwrap_or(600);
    let now = tx.now();
    let cutoff = hashing::utc_date_time_str(now - Duration::seconds(interval));
    let recent: Option<String> = tx
        .conn()
        .query_row(
            "SELECT revisionId FROM revisions WHERE noteId = ?1 AND utcDateCreated >= ?2",
            params![note.note_id, cutoff],
            |r| r.get(0),
        )
        .optional()?;
    let created = hashing::parse_utc_date_time(&note.utc_date_created).unwrap_or(now);
    if recent.is_none() && now - created >= Duration::seconds(interval) {
        return save_revision(tx, note).map(Some);
    }
    Ok(None)
}

/// `POST /api/revisions/:id/restore`: snapshot the current state, mark the note's
/// attachments deleted, copy the revision's attachments back, then set title and content.
pub fn restore_revision(tx: &mut WriteTx<'_>, revision_id: &str) -> SqlResult<Note> {
    let revision: Revision = entities::get(tx.conn(), revision_id)?;
    let mut note: Note = entities::get(tx.conn(), &revision.note_id)?;
    save_revision(tx, &note)?;

    let current: Vec<Attachment> = entities::load_where(tx.conn(), "ownerId = ?1 AND isDeleted = 0", [&note.note_id])?;
    for att in current {
        deletion::mark_attachment_deleted(tx, att, None)?;
    }
    let owner = ("revisions", revision_id);
    let mut content = match &revision.blob_id {
        Some(id) if revision.is_protected => {
            let bytes = super::protected::blob_bytes(tx.conn(), id, true, tx.key(), owner)?;
            crate::domain::notes::content_for(&note.note_type, &note.mime, bytes)
        }
        Some(id) => entities::get::<Blob>(tx.conn(), id)?.content,
        None => entities::BlobContent::Text(String::new()),
    };
    let plain_title = if revision.is_protected {
        super::protected::decrypt_title(super::protected::need_key(tx.key(), "revisions", revision_id)?, &revision.title, "revisions", revision_id)?
    } else {
        revision.title.clone()
    };
    let rev_atts: Vec<Attachment> = entities::load_where(tx.conn(), "ownerId = ?1 AND isDeleted = 0", [revision_id])?;
    for att in rev_atts {
        let copy = copy_attachment(tx, &att, &note.note_id)?;
        if let entities::BlobContent::Text(html) = &mut content {
            *html = html.replace(&format!("attachments/{}", att.attachment_id), &format!("attachments/{}", copy.attachment_id));
        }
    }
    note.title = if note.is_protected {
        super::protected::need_key(tx.key(), "notes", &note.note_id)?.encrypt(plain_title.as_bytes())
    } else {
        plain_title
    };
    let blob_id = super::protected::save_blob(tx, content, note.is_protected, ("notes", &note.note_id))?;
    let old = note.blob_id.replace(blob_id);
    // forceSave: the note is saved even when the content blob is unchanged (the title may differ).
    tree::save_note(tx, &mut note)?;
    if let Some(old) = old {
        if Some(&old) != note.blob_id.as_ref() {
            tree::delete_blob_if_unused(tx.conn(), &old)?;
        }
    }
    Ok(note)
}

/// Revisions of a note, newest first.
pub fn list(conn: &rusqlite::Connection, note_id: &str) -> SqlResult<Vec<Revision>> {
    entities::load_where(conn, "noteId = ?1 ORDER BY utcDateCreated DESC", [note_id])
}
