//! Protected notes in the domain: reading them with the data key, protecting and unprotecting notes
//! (or subtrees), changing the password, and searching protected notes in memory (Trilium's
//! `notes.protectNoteRecursively`, `revisions.protectRevisions`, `password.changePassword`).
//!
//! Every write goes through the store's one write path with the key set on the transaction, so the
//! rows, blob ids and entity-change hashes are the ones Trilium writes in a protected session.

use rusqlite::Connection;

use super::notes::{content_for, live_note};
use super::search::{normalize, strip_tags};
use super::{DomainError, DomainResult};
use crate::db::{password, protected as store, tree, WriteTx};
use crate::entities::{self, Attachment, BlobContent, Note, Revision};
use crate::protected::{DataKey, ProtectedError};

/// What the tree and lists show for a protected title without a protected session (Trilium's word).
pub const LOCKED_TITLE: &str = "[protected]";

/// A note's title in plaintext; `ProtectedLocked` for a protected note without a key,
/// `Undecryptable` when its ciphertext is damaged.
pub fn title_of(note: &Note, key: Option<&DataKey>) -> DomainResult<String> {
    if note.is_protected && key.is_none() {
        return Err(DomainError::ProtectedLocked { note_id: note.note_id.clone() });
    }
    Ok(store::note_title(note, key)?)
}

/// A title as a view shows it: plaintext, or [`LOCKED_TITLE`] for a protected title without a key
/// (or one that does not decrypt, which is logged).
pub fn shown_title(note_id: &str, stored_title: &str, is_protected: bool, key: Option<&DataKey>) -> String {
    if !is_protected {
        return stored_title.to_owned();
    }
    match key.map(|k| k.decrypt_string(stored_title)) {
        Some(Ok(title)) => title,
        Some(Err(e)) => {
            tracing::warn!("the title of protected note '{note_id}' does not decrypt: {e}");
            LOCKED_TITLE.to_owned()
        }
        None => LOCKED_TITLE.to_owned(),
    }
}

/// A note's content in plaintext (`BlobContent::Null` when it has none yet).
pub fn content_of(conn: &Connection, note: &Note, key: Option<&DataKey>) -> DomainResult<BlobContent> {
    if note.is_protected && key.is_none() {
        return Err(DomainError::ProtectedLocked { note_id: note.note_id.clone() });
    }
    match &note.blob_id {
        None => Ok(BlobContent::Null),
        Some(blob_id) => {
            let bytes = store::blob_bytes(conn, blob_id, note.is_protected, key, ("notes", &note.note_id))?;
            Ok(content_for(&note.note_type, &note.mime, bytes))
        }
    }
}

/// A revision's title and content in plaintext.
pub fn revision_of(conn: &Connection, revision: &Revision, key: Option<&DataKey>) -> DomainResult<(String, BlobContent)> {
    if revision.is_protected && key.is_none() {
        return Err(DomainError::ProtectedLocked { note_id: revision.note_id.clone() });
    }
    let title = if revision.is_protected {
        store::decrypt_title(key.expect("checked above"), &revision.title, "revisions", &revision.revision_id)?
    } else {
        revision.title.clone()
    };
    let content = match &revision.blob_id {
        None => BlobContent::Null,
        Some(blob_id) => {
            let bytes = store::blob_bytes(conn, blob_id, revision.is_protected, key, ("revisions", &revision.revision_id))?;
            content_for(&revision.note_type, &revision.mime, bytes)
        }
    };
    Ok((title, content))
}

/// An attachment's title and content in plaintext.
pub fn attachment_of(conn: &Connection, a: &Attachment, key: Option<&DataKey>) -> DomainResult<(String, BlobContent)> {
    if a.is_protected && key.is_none() {
        return Err(DomainError::ProtectedLocked { note_id: a.owner_id.clone() });
    }
    let title = if a.is_protected {
        store::decrypt_title(key.expect("checked above"), &a.title, "attachments", &a.attachment_id)?
    } else {
        a.title.clone()
    };
    let content = match &a.blob_id {
        None => BlobContent::Null,
        Some(blob_id) => {
            let bytes = store::blob_bytes(conn, blob_id, a.is_protected, key, ("attachments", &a.attachment_id))?;
            super::attachments::content_for(&a.mime, bytes)
        }
    };
    Ok((title, content))
}

/// How many rows [`set_protected`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtectChanges {
    pub notes: usize,
    pub revisions: usize,
    pub attachments: usize,
}

/// `protectNoteRecursively`: protects (or unprotects) the note, and with `subtree` every note below
/// it: title and content are encrypted (decrypted), and so are the note's revisions and attachments.
/// Rows already in the wanted state are left alone. Any row that does not decrypt stops it all with
/// `Undecryptable` naming it; the caller's transaction then rolls back and nothing is written.
pub fn set_protected(tx: &mut WriteTx<'_>, note_id: &str, protected: bool, subtree: bool, key: &DataKey) -> DomainResult<ProtectChanges> {
    tx.set_key(Some(key));
    live_note(tx.conn(), note_id)?;
    let mut changes = ProtectChanges::default();
    let mut todo = vec![note_id.to_owned()];
    let mut seen = std::collections::HashSet::new();
    while let Some(id) = todo.pop() {
        // A clone is reached once per parent; it is protected once.
        if !seen.insert(id.clone()) {
            continue;
        }
        protect_note(tx, &id, protected, key, &mut changes)?;
        if subtree {
            todo.extend(tree::child_note_ids(tx.conn(), &id)?);
        }
    }
    Ok(changes)
}

/// `protectNote`: the note, then its revisions, then its attachments (each re-encrypted by a forced
/// save of its content).
fn protect_note(tx: &mut WriteTx<'_>, note_id: &str, protected: bool, key: &DataKey, changes: &mut ProtectChanges) -> DomainResult<()> {
    let mut note = live_note(tx.conn(), note_id)?;
    if note.is_protected != protected {
        let title = store::note_title(&note, Some(key))?;
        let content = content_of(tx.conn(), &note, Some(key))?;
        note.is_protected = protected;
        note.title = if protected { key.encrypt(title.as_bytes()) } else { title };
        let new_blob = store::save_blob(tx, non_null(content), protected, ("notes", note_id))?;
        let old = note.blob_id.replace(new_blob.clone());
        tree::save_note(tx, &mut note)?;
        drop_old_blob(tx, old, &new_blob)?;
        changes.notes += 1;
    }
    let revisions: Vec<Revision> = entities::load_where(tx.conn(), "noteId = ?1", [note_id])?;
    for mut r in revisions {
        if r.is_protected != protected {
            let (title, content) = revision_of(tx.conn(), &r, Some(key))?;
            r.is_protected = protected;
            r.title = if protected { key.encrypt(title.as_bytes()) } else { title };
            let new_blob = store::save_blob(tx, non_null(content), protected, ("revisions", &r.revision_id))?;
            let old = r.blob_id.replace(new_blob.clone());
            r.utc_date_modified = tx.utc_now();
            store::save_revision_row(tx, &r)?;
            drop_old_blob(tx, old, &new_blob)?;
            changes.revisions += 1;
        }
        changes.attachments += protect_attachments(tx, &r.revision_id, protected, key)?;
    }
    changes.attachments += protect_attachments(tx, note_id, protected, key)?;
    Ok(())
}

fn protect_attachments(tx: &mut WriteTx<'_>, owner_id: &str, protected: bool, key: &DataKey) -> DomainResult<usize> {
    let attachments: Vec<Attachment> = entities::load_where(tx.conn(), "ownerId = ?1 AND isDeleted = 0", [owner_id])?;
    let mut changed = 0;
    for mut a in attachments {
        if a.is_protected == protected {
            continue;
        }
        let (title, content) = attachment_of(tx.conn(), &a, Some(key))?;
        a.is_protected = protected;
        a.title = if protected { key.encrypt(title.as_bytes()) } else { title };
        let new_blob = store::save_blob(tx, non_null(content), protected, ("attachments", &a.attachment_id))?;
        let old = a.blob_id.replace(new_blob.clone());
        a.date_modified = tx.local_now();
        a.utc_date_modified = tx.utc_now();
        store::save_attachment_row(tx, &a)?;
        drop_old_blob(tx, old, &new_blob)?;
        changed += 1;
    }
    Ok(changed)
}

/// Trilium stores empty text for content that was never set (`getContent` gives "").
fn non_null(content: BlobContent) -> BlobContent {
    match content {
        BlobContent::Null => BlobContent::Text(String::new()),
        c => c,
    }
}

fn drop_old_blob(tx: &mut WriteTx<'_>, old: Option<String>, new: &str) -> DomainResult<()> {
    if let Some(old) = old.filter(|o| o != new) {
        tree::delete_blob_if_unused(tx.conn(), &old)?;
    }
    Ok(())
}

/// `password.changePassword`: checks the old password, then wraps the same data key with the new
/// one (new salts). Protected notes are untouched and stay readable with the new password on every
/// synced instance (the options sync); ETAPI tokens, sync and browser sessions keep working.
pub fn change_password(tx: &mut WriteTx<'_>, old: &str, new: &str) -> DomainResult<()> {
    if new.is_empty() {
        return Err(DomainError::Invalid("The new password must not be empty.".into()));
    }
    let unwrapped = crate::protected::unwrap_data_key(tx.conn(), old).map_err(|e| match e {
        ProtectedError::WrongPassword => DomainError::Password(ProtectedError::WrongPassword),
        e => e.into(),
    })?;
    password::rewrap_data_key(tx, &unwrapped, new)?;
    Ok(())
}

/// A protected note that matches a search, with its decrypted title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedMatch {
    pub note_id: String,
    pub title: String,
}

/// Searches the live protected notes, decrypted in memory only (they are never in the full-text
/// index): every word of `query` must occur, folded as the search folds it, in the title or the content
/// (text notes by their text without markup). Notes that do not decrypt are skipped (and logged).
pub fn search(conn: &Connection, key: &DataKey, query: &str) -> DomainResult<Vec<ProtectedMatch>> {
    let words: Vec<String> = query.split_whitespace().map(normalize).collect();
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let notes: Vec<Note> = entities::load_where(conn, "isProtected = 1 AND isDeleted = 0 ORDER BY noteId", [])?;
    let mut found = Vec::new();
    for note in notes {
        let (title, content) = match (title_of(&note, Some(key)), content_of(conn, &note, Some(key))) {
            (Ok(t), Ok(c)) => (t, c),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("protected note '{}' skipped in search: {e}", note.note_id);
                continue;
            }
        };
        let mut text = content.to_text();
        if note.note_type == "text" {
            text = strip_tags(&text);
        }
        let haystack = format!("{}\n{}", normalize(&title), normalize(&text));
        if words.iter().all(|w| haystack.contains(w.as_str())) {
            found.push(ProtectedMatch { note_id: note.note_id, title });
        }
    }
    Ok(found)
}
