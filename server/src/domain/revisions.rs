//! Revisions of a note: list, read, restore, erase (Trilium's `routes/api/revisions.js`).
use rusqlite::Connection;

use super::notes::live_note;
use super::{DomainError, DomainResult};
use crate::db::history::{self, RevisionRow};
use crate::db::{deletion, revisions, WriteTx};
use crate::entities::{self, Blob, BlobContent, Note, Revision};

/// The revisions of a live note, newest first.
pub fn list(conn: &Connection, note_id: &str) -> DomainResult<Vec<RevisionRow>> {
    live_note(conn, note_id)?;
    Ok(history::revisions_of(conn, note_id)?)
}

/// A revision, or `NotFound`.
pub fn get(conn: &Connection, revision_id: &str) -> DomainResult<Revision> {
    entities::load::<Revision>(conn, revision_id)?.ok_or_else(|| DomainError::not_found("revisions", revision_id))
}

/// A revision with its content; `Protected` for a revision of a protected note (ciphertext).
pub fn with_content(conn: &Connection, revision_id: &str) -> DomainResult<(Revision, BlobContent)> {
    let revision = get(conn, revision_id)?;
    if revision.is_protected {
        return Err(DomainError::Protected(format!(
            "Revision '{revision_id}' is protected and its content cannot be read without a protected session."
        )));
    }
    let content = match &revision.blob_id {
        Some(blob_id) => entities::get::<Blob>(conn, blob_id)?.content,
        None => BlobContent::Null,
    };
    Ok((revision, content))
}

/// Trilium's `restoreRevision`: the note's current title and content become a revision first (so a
/// restore never loses text), then the revision's title, content and attachments replace them.
pub fn restore(tx: &mut WriteTx<'_>, revision_id: &str) -> DomainResult<Note> {
    let revision = get(tx.conn(), revision_id)?;
    let note = live_note(tx.conn(), &revision.note_id)?;
    if revision.is_protected || note.is_protected {
        return Err(DomainError::Protected("A protected note's revisions can be restored only in a protected session.".into()));
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
