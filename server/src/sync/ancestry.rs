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
//!
//! Every note version this instance did not make itself is one a peer holds (or held): it came by
//! sync, or with a copy of the hub's document. The first two are recorded as they are exchanged; the
//! copy's are adopted at start ([`adopt_versions_of_others`]), so a client made from a copy knows
//! what its first edit of each note was based on, and that its version is the hub's.
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

/// Records the current version of every note that has no row yet and that another instance made
/// as exchanged (see the module comment). Once per instance and document: later versions of others
/// are recorded as they arrive, and a copy's new instance adopts again. Returns how many were adopted.
pub fn adopt_versions_of_others(conn: &Connection, own_instance_id: &str) -> SqlResult<usize> {
    ensure_table(conn)?;
    conn.execute_batch("CREATE TABLE IF NOT EXISTS canopy_ancestry_adopted (instanceId TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID")?;
    if conn.execute("INSERT OR IGNORE INTO canopy_ancestry_adopted (instanceId) VALUES (?1)", [own_instance_id])? == 0 {
        return Ok(0);
    }
    Ok(conn.execute(
        "INSERT INTO canopy_note_sync (noteId, syncedHash, parentHash)
         SELECT entityId, hash, NULL FROM entity_changes
         WHERE entityName = 'notes' AND isErased = 0 AND instanceId != ?1
           AND NOT EXISTS (SELECT 1 FROM canopy_note_sync s WHERE s.noteId = entity_changes.entityId)",
        [own_instance_id],
    )?)
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

    #[test]
    fn versions_made_elsewhere_are_adopted_and_known_ones_kept() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE entity_changes (entityName TEXT, entityId TEXT, hash TEXT, isErased INT, instanceId TEXT);
             INSERT INTO entity_changes VALUES ('notes', 'copied', 'c1', 0, 'hub'), ('notes', 'mine', 'm1', 0, 'me'),
                 ('notes', 'known', 'k2', 0, 'hub'), ('notes', 'erased', 'e1', 1, 'hub'), ('blobs', 'b', 'b1', 0, 'hub');",
        )
        .unwrap();
        ensure_table(&conn).unwrap();
        mark_exchanged(&conn, "known", "k1", None).unwrap();
        assert_eq!(adopt_versions_of_others(&conn, "me").unwrap(), 1);
        assert_eq!(synced_hash(&conn, "copied").unwrap().as_deref(), Some("c1"));
        // A local edit of the copied note derives from the hub's version.
        assert_eq!(parent_of(&conn, "copied", "c2").unwrap().as_deref(), Some("c1"));
        assert_eq!(synced_hash(&conn, "mine").unwrap(), None, "our own edit is no peer's");
        assert_eq!(synced_hash(&conn, "known").unwrap().as_deref(), Some("k1"), "a known row stays");
        assert_eq!(synced_hash(&conn, "erased").unwrap(), None);
        conn.execute("DELETE FROM canopy_note_sync WHERE noteId = 'copied'", []).unwrap();
        assert_eq!(adopt_versions_of_others(&conn, "me").unwrap(), 0, "once per instance");
        assert_eq!(adopt_versions_of_others(&conn, "my copy").unwrap(), 2, "and again in a copy");
    }
}
