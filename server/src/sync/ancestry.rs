//! Which version of a note an edit was based on: how Canopy tells concurrent edits from sequential ones.
//!
//! Per note we remember the hash of the version last exchanged with a peer (`syncedHash`) and the
//! version that one was based on (`parentHash`). A version's parent is then:
//! - `parentHash` if the note is still at `syncedHash` (nothing changed locally since), else
//! - `syncedHash` (local edits since the last exchange all derive from what the peers last saw).
//!
//! A received version whose parent is our current version, or our current version whose parent is
//! the received one, is a sequential edit. Anything else is concurrent, and the losing side's title
//! and content are kept as a revision. The table lives in `document.db` so it commits atomically with
//! the rows it describes; Trilium ignores tables it does not know.
use rusqlite::{params, Connection, OptionalExtension};

use crate::db::SqlResult;

pub fn ensure_table(conn: &Connection) -> SqlResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS canopy_note_sync (
             noteId TEXT PRIMARY KEY NOT NULL,
             syncedHash TEXT NOT NULL,
             parentHash TEXT
         )",
    )?;
    Ok(())
}

/// The parent of the note's current version (`current_hash`), if known.
pub fn parent_of(conn: &Connection, note_id: &str, current_hash: &str) -> SqlResult<Option<String>> {
    let row: Option<(String, Option<String>)> = conn
        .prepare_cached("SELECT syncedHash, parentHash FROM canopy_note_sync WHERE noteId = ?1")?
        .query_row([note_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(synced, parent)| if synced == current_hash { parent } else { Some(synced) }))
}

/// The version of the note last exchanged with a peer, if any.
pub fn synced_hash(conn: &Connection, note_id: &str) -> SqlResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT syncedHash FROM canopy_note_sync WHERE noteId = ?1")?
        .query_row([note_id], |r| r.get(0))
        .optional()?)
}

/// Records that `hash` (based on `parent`) is now known to a peer.
pub fn mark_exchanged(conn: &Connection, note_id: &str, hash: &str, parent: Option<&str>) -> SqlResult<()> {
    conn.prepare_cached(
        "INSERT INTO canopy_note_sync (noteId, syncedHash, parentHash) VALUES (?1, ?2, ?3)
         ON CONFLICT (noteId) DO UPDATE SET syncedHash = excluded.syncedHash, parentHash = excluded.parentHash
         WHERE canopy_note_sync.syncedHash != excluded.syncedHash",
    )?
    .execute(params![note_id, hash, parent])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_follows_local_edits_since_the_last_exchange() {
        let conn = Connection::open_in_memory().unwrap();
        ensure_table(&conn).unwrap();
        assert_eq!(parent_of(&conn, "n", "v1").unwrap(), None);
        mark_exchanged(&conn, "n", "v1", Some("v0")).unwrap();
        assert_eq!(parent_of(&conn, "n", "v1").unwrap().as_deref(), Some("v0"));
        // Two local edits since: both derive from v1, the version the peers know.
        assert_eq!(parent_of(&conn, "n", "v3").unwrap().as_deref(), Some("v1"));
        // Marking the same version again keeps its parent.
        mark_exchanged(&conn, "n", "v1", None).unwrap();
        assert_eq!(parent_of(&conn, "n", "v1").unwrap().as_deref(), Some("v0"));
    }
}
