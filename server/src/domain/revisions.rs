//! Revisions of a note: list, read, restore, erase (Trilium's `routes/api/revisions.js`).
use rusqlite::Connection;

use super::notes::live_note;
use super::{DomainError, DomainResult};
use crate::db::history::{self, RevisionRow};
use crate::db::{deletion, revisions, WriteTx};
use crate::entities::{self, BlobContent, Note, Revision};
use crate::protected::DataKey;

/// The revisions of a live note, newest first.
pub fn list(conn: &Connection, note_id: &str) -> DomainResult<Vec<RevisionRow>> {
    live_note(conn, note_id)?;
    Ok(history::revisions_of(conn, note_id)?)
}

/// A revision, or `NotFound`.
pub fn get(conn: &Connection, revision_id: &str) -> DomainResult<Revision> {
    entities::load::<Revision>(conn, revision_id)?.ok_or_else(|| DomainError::not_found("revisions", revision_id))
}

/// A revision with its content, both in plaintext: for a protected revision the returned row's
/// `title` is the decrypted title (for showing, never for saving); `ProtectedLocked` without the key.
pub fn with_content(conn: &Connection, revision_id: &str, key: Option<&DataKey>) -> DomainResult<(Revision, BlobContent)> {
    let mut revision = get(conn, revision_id)?;
    let (title, content) = super::protected::revision_of(conn, &revision, key)?;
    revision.title = title;
    Ok((revision, content))
}

/// Trilium's `restoreRevision`: the note's current title and content become a revision first (so a
/// restore never loses text), then the revision's title, content and attachments replace them.
pub fn restore(tx: &mut WriteTx<'_>, revision_id: &str, key: Option<&DataKey>) -> DomainResult<Note> {
    tx.set_key(key);
    let revision = get(tx.conn(), revision_id)?;
    let note = live_note(tx.conn(), &revision.note_id)?;
    if (revision.is_protected || note.is_protected) && key.is_none() {
        return Err(DomainError::ProtectedLocked { note_id: note.note_id });
    }
    Ok(revisions::restore_revision(tx, revision_id)?)
}

/// Trilium's `eraseRevision`: the row is erased (not soft-deleted) and its entity change becomes an
/// erased tombstone, so sync erases it on every instance. Its blob goes with the next unused-blob sweep.
/// Returns the revision's note id.
pub fn erase(tx: &mut WriteTx<'_>, revision_id: &str) -> DomainResult<String> {
    let revision = get(tx.conn(), revision_id)?;
    deletion::erase_revisions(tx, &[revision.revision_id])?;
    Ok(revision.note_id)
}
