//! Who uses a blob, and announcing a blob again so that no row reaches a peer without its blob.
//!
//! Every instance erases the blobs it no longer uses before its hash check (Trilium's
//! `eraseUnusedBlobs`), dropping their entity changes. A row written later that points at such a
//! blob again (a conflict revision keeping old text above all) would reach a peer that erased the
//! blob while the blob's own change lies behind that peer's cursor: the peer holds the row, not the
//! blob, and its hash check fails until a repair round re-sends the sector. Re-announcing the blob
//! with a fresh entity change, in the transaction that writes the row, sends both together.
use rusqlite::{Connection, OptionalExtension};

use super::{entity_changes, SqlResult, WriteTx};

/// Whether any note, attachment or revision uses the blob.
pub fn is_used(conn: &Connection, blob_id: &str) -> SqlResult<bool> {
    let used: Option<i64> = conn
        .prepare_cached(
            "SELECT 1 FROM notes WHERE blobId = ?1
             UNION ALL SELECT 1 FROM attachments WHERE blobId = ?1
             UNION ALL SELECT 1 FROM revisions WHERE blobId = ?1 LIMIT 1",
        )?
        .query_row([blob_id], |r| r.get(0))
        .optional()?;
    Ok(used.is_some())
}

/// Gives the blob's entity change a new id (and change id, this instance), so every peer pulls the
/// blob again whatever its cursor. Returns `false` if the blob or its change is not here.
pub fn reannounce(tx: &mut WriteTx<'_>, blob_id: &str) -> SqlResult<bool> {
    let present: Option<i64> = tx
        .conn()
        .prepare_cached("SELECT 1 FROM blobs WHERE blobId = ?1")?
        .query_row([blob_id], |r| r.get(0))
        .optional()?;
    if present.is_none() {
        return Ok(false);
    }
    match entity_changes::get(tx.conn(), "blobs", blob_id)? {
        Some(change) if !change.is_erased => {
            entity_changes::restamp(tx, change)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Before a new row starts using an existing blob: if nothing uses it now, peers may have erased it,
/// so it is announced again.
pub fn reannounce_if_unused(tx: &mut WriteTx<'_>, blob_id: &str) -> SqlResult<bool> {
    if is_used(tx.conn(), blob_id)? {
        return Ok(false);
    }
    reannounce(tx, blob_id)
}
