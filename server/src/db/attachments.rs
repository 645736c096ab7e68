//! Attachments of notes (and revisions): create, replace content, list.

use super::{deletion, tree, DbError, SqlResult, WriteTx};
use crate::entities::{self, Attachment, Blob, BlobContent, Note};
use crate::hashing;

/// Parameters of [`create_attachment`].
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// Forces an id (imports keep their mapping); random otherwise.
    pub attachment_id: Option<String>,
    pub owner_id: String,
    /// `file` or `image`
    pub role: String,
    pub mime: String,
    pub title: String,
    pub content: BlobContent,
    /// Trilium 0.63.7 effectively always stores 10 when none is given: its default looks
    /// up `MAX(position)` for an unset owner field. Position is not hashed.
    pub position: Option<i64>,
}

/// `BNote.saveAttachment` for a new attachment: blob, then the row (forced save).
pub fn create_attachment(tx: &mut WriteTx<'_>, p: NewAttachment) -> SqlResult<Attachment> {
    // An attachment of a protected note is protected (Trilium's `saveAttachment` copies the flag):
    // title and content encrypted with the transaction's key.
    let owner: Option<Note> = entities::load(tx.conn(), &p.owner_id)?;
    let is_protected = match owner {
        Some(owner) => owner.is_protected,
        None => entities::get::<crate::entities::Revision>(tx.conn(), &p.owner_id)?.is_protected,
    };
    let attachment_id = p.attachment_id.unwrap_or_else(hashing::new_entity_id);
    let title = if is_protected {
        super::protected::need_key(tx.key(), "attachments", &attachment_id)?.encrypt(p.title.as_bytes())
    } else {
        p.title
    };
    let blob_id = super::protected::save_blob(tx, p.content, is_protected, ("attachments", &attachment_id))?;
    let att = Attachment {
        attachment_id,
        owner_id: p.owner_id,
        role: p.role,
        mime: p.mime,
        title,
        is_protected,
        position: p.position.unwrap_or(10),
        blob_id: Some(blob_id),
        date_modified: tx.local_now(),
        utc_date_modified: tx.utc_now(),
        utc_date_scheduled_for_erasure_since: None,
        is_deleted: false,
        delete_id: None,
    };
    super::protected::save_attachment_row(tx, &att)?;
    Ok(att)
}

/// Replaces an attachment's content (forced save; the old blob goes if now unused).
pub fn set_attachment_content(tx: &mut WriteTx<'_>, attachment_id: &str, content: BlobContent) -> SqlResult<Attachment> {
    let mut att: Attachment = entities::get(tx.conn(), attachment_id)?;
    let new_blob = super::protected::save_blob(tx, content, att.is_protected, ("attachments", attachment_id))?;
    let old = att.blob_id.replace(new_blob.clone());
    att.date_modified = tx.local_now();
    att.utc_date_modified = tx.utc_now();
    super::protected::save_attachment_row(tx, &att)?;
    if let Some(old) = old.filter(|o| *o != new_blob) {
        tree::delete_blob_if_unused(tx.conn(), &old)?;
    }
    Ok(att)
}

/// Soft-deletes one attachment (no deleteId, like the UI's delete).
pub fn delete_attachment(tx: &mut WriteTx<'_>, attachment_id: &str) -> SqlResult<()> {
    let att: Attachment = entities::get(tx.conn(), attachment_id)?;
    deletion::mark_attachment_deleted(tx, att, None)
}

/// Live attachments of an owner in position order.
pub fn list(conn: &rusqlite::Connection, owner_id: &str) -> SqlResult<Vec<Attachment>> {
    entities::load_where(conn, "ownerId = ?1 AND isDeleted = 0 ORDER BY position, attachmentId", [owner_id])
}

/// The content of an attachment.
pub fn content(conn: &rusqlite::Connection, attachment_id: &str) -> SqlResult<BlobContent> {
    let att: Attachment = entities::get(conn, attachment_id)?;
    let blob_id = att.blob_id.ok_or_else(|| DbError::not_found("blobs", format!("(attachment {attachment_id})")))?;
    Ok(entities::get::<Blob>(conn, &blob_id)?.content)
}

/// SQLite `LENGTH(content)` of the attachment's blob (characters for text, bytes for binary).
pub fn content_length(conn: &rusqlite::Connection, a: &Attachment) -> SqlResult<Option<i64>> {
    use rusqlite::OptionalExtension;
    let Some(blob_id) = &a.blob_id else { return Ok(None) };
    Ok(conn
        .query_row("SELECT LENGTH(content) FROM blobs WHERE blobId = ?1", [blob_id], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}
