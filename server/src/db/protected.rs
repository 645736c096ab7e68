//! Protected rows in the store: titles and blobs encrypted with the data key of the transaction's
//! protected session ([`WriteTx::key`]), hashed as Trilium hashes them.
//!
//! Trilium keeps a protected note's title decrypted in memory once a protected session exists, so its
//! entity hash covers the decrypted title (the fixture README lists this quirk), while the row holds
//! the ciphertext. Without a protected session its memory holds the ciphertext, and that is hashed.
//! Blob ids of protected content are `hashedBlobId(prefix + plaintext)`; the blob's own hash covers
//! the stored ciphertext.

use rusqlite::Connection;

use super::{DbError, SqlResult, WriteTx};
use crate::entities::{self, Attachment, Blob, BlobContent, Note, Revision};
use crate::protected::DataKey;

/// The key a protected row needs, or `ProtectedLocked`.
pub fn need_key<'k>(key: Option<&'k DataKey>, entity: &'static str, id: &str) -> SqlResult<&'k DataKey> {
    key.ok_or_else(|| DbError::ProtectedLocked { entity, id: id.to_owned() })
}

/// Decrypts a stored protected title.
pub fn decrypt_title(key: &DataKey, stored: &str, entity: &'static str, id: &str) -> SqlResult<String> {
    key.decrypt_string(stored).map_err(|e| DbError::Undecryptable { entity, id: id.to_owned(), what: "title", reason: e.to_string() })
}

/// A note's title in plaintext: as stored when unprotected, decrypted with the key otherwise.
pub fn note_title(note: &Note, key: Option<&DataKey>) -> SqlResult<String> {
    if !note.is_protected {
        return Ok(note.title.clone());
    }
    decrypt_title(need_key(key, "notes", &note.note_id)?, &note.title, "notes", &note.note_id)
}

/// The entity hash Trilium stores for this note row (see the module doc).
pub fn note_hash(note: &Note, key: Option<&DataKey>) -> SqlResult<String> {
    use crate::entities::Entity;
    match key {
        Some(key) if note.is_protected => {
            let title = decrypt_title(key, &note.title, "notes", &note.note_id)?;
            Ok(Note { title, ..note.clone() }.hash())
        }
        _ => Ok(note.hash()),
    }
}

/// The entity hash Trilium stores for this revision row.
pub fn revision_hash(revision: &Revision, key: Option<&DataKey>) -> SqlResult<String> {
    use crate::entities::Entity;
    match key {
        Some(key) if revision.is_protected => {
            let title = decrypt_title(key, &revision.title, "revisions", &revision.revision_id)?;
            Ok(Revision { title, ..revision.clone() }.hash())
        }
        _ => Ok(revision.hash()),
    }
}

/// The entity hash Trilium stores for this attachment row.
pub fn attachment_hash(a: &Attachment, key: Option<&DataKey>) -> SqlResult<String> {
    use crate::entities::Entity;
    match key {
        Some(key) if a.is_protected => {
            let title = decrypt_title(key, &a.title, "attachments", &a.attachment_id)?;
            Ok(Attachment { title, ..a.clone() }.hash())
        }
        _ => Ok(a.hash()),
    }
}

/// Saves an attachment row with its Trilium hash.
pub fn save_attachment_row(tx: &mut WriteTx<'_>, a: &Attachment) -> SqlResult<i64> {
    let hash = attachment_hash(a, tx.key())?;
    entities::save_hashed(tx, a, hash)
}

/// Saves a note row (no date changes) with its Trilium hash.
pub fn save_note_row(tx: &mut WriteTx<'_>, note: &Note) -> SqlResult<i64> {
    let hash = note_hash(note, tx.key())?;
    entities::save_hashed(tx, note, hash)
}

/// Saves a revision row with its Trilium hash.
pub fn save_revision_row(tx: &mut WriteTx<'_>, revision: &Revision) -> SqlResult<i64> {
    let hash = revision_hash(revision, tx.key())?;
    entities::save_hashed(tx, revision, hash)
}

/// Stores content as a blob: plain, or (`protected`) encrypted with the transaction's key under
/// Trilium's prefixed blob id. Inserted with its entity change only if new. Returns the blobId.
pub fn save_blob(tx: &mut WriteTx<'_>, content: BlobContent, protected: bool, owner: (&'static str, &str)) -> SqlResult<String> {
    let plain = content.as_bytes().unwrap_or_default();
    let blob_id = Blob::id_for(plain, protected);
    if entities::load::<Blob>(tx.conn(), &blob_id)?.is_none() {
        let stored = if protected {
            BlobContent::Text(need_key(tx.key(), owner.0, owner.1)?.encrypt(plain))
        } else {
            content
        };
        let blob = Blob { blob_id: blob_id.clone(), content: stored, date_modified: tx.local_now(), utc_date_modified: tx.utc_now() };
        entities::save(tx, &blob)?;
    } else {
        // Same content as a blob nothing uses any more: peers may have erased theirs.
        super::blob_users::reannounce_if_unused(tx, &blob_id)?;
    }
    Ok(blob_id)
}

/// The plaintext bytes of a blob: as stored, or decrypted when the owner is protected.
/// `owner`: (table, id) of the note, revision or attachment, named in errors.
pub fn blob_bytes(conn: &Connection, blob_id: &str, protected: bool, key: Option<&DataKey>, owner: (&'static str, &str)) -> SqlResult<Vec<u8>> {
    let blob = entities::get::<Blob>(conn, blob_id)?;
    if !protected {
        return Ok(blob.content.as_bytes().unwrap_or_default().to_vec());
    }
    let key = need_key(key, owner.0, owner.1)?;
    match &blob.content {
        // Trilium turns a NULL protected blob into empty content.
        BlobContent::Null => Ok(Vec::new()),
        stored => key.decrypt(&stored.to_text()).map(|b| b.to_vec()).map_err(|e| DbError::Undecryptable {
            entity: owner.0,
            id: owner.1.to_owned(),
            what: "content",
            reason: e.to_string(),
        }),
    }
}
