//! The hub's memory of which version of each note every peer holds: `canopy_peer_notes`.
//!
//! A Trilium peer does not say what version an edit was based on. The hub knows what it sent the
//! peer and what the peer sent it; a pushed edit of the version the peer is known to hold is
//! sequential, anything else is concurrent (see `sync::apply`). Kept in `document.db` and written in
//! the transaction of the sync exchange that taught it, so a hub restart forgets nothing and a rolled
//! back batch teaches nothing. Trilium ignores tables it does not know.
use rusqlite::{params, Connection, OptionalExtension};

use super::SqlResult;

pub fn ensure_table(conn: &Connection) -> SqlResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS canopy_peer_notes (
             peerId TEXT NOT NULL,
             noteId TEXT NOT NULL,
             hash TEXT NOT NULL,
             PRIMARY KEY (peerId, noteId)
         ) WITHOUT ROWID",
    )?;
    Ok(())
}

/// The peer now holds `hash` of the note (`None`: the note was erased, the peer holds nothing).
/// Needs [`ensure_table`] in the same transaction.
pub fn remember(conn: &Connection, peer_id: &str, note_id: &str, hash: Option<&str>) -> SqlResult<()> {
    match hash {
        Some(hash) => conn
            .prepare_cached(
                "INSERT INTO canopy_peer_notes (peerId, noteId, hash) VALUES (?1, ?2, ?3)
                 ON CONFLICT (peerId, noteId) DO UPDATE SET hash = excluded.hash WHERE hash != excluded.hash",
            )?
            .execute(params![peer_id, note_id, hash])?,
        None => conn
            .prepare_cached("DELETE FROM canopy_peer_notes WHERE peerId = ?1 AND noteId = ?2")?
            .execute(params![peer_id, note_id])?,
    };
    Ok(())
}

/// The version of the note the peer is known to hold, if any. Needs [`ensure_table`] first.
pub fn held(conn: &Connection, peer_id: &str, note_id: &str) -> SqlResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT hash FROM canopy_peer_notes WHERE peerId = ?1 AND noteId = ?2")?
        .query_row(params![peer_id, note_id], |r| r.get(0))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_peer_and_forgets_erased_notes() {
        let conn = Connection::open_in_memory().unwrap();
        ensure_table(&conn).unwrap();
        assert_eq!(held(&conn, "p", "n").unwrap(), None);
        remember(&conn, "p", "n", Some("v1")).unwrap();
        remember(&conn, "q", "n", Some("w1")).unwrap();
        remember(&conn, "p", "n", Some("v2")).unwrap();
        assert_eq!(held(&conn, "p", "n").unwrap().as_deref(), Some("v2"));
        assert_eq!(held(&conn, "q", "n").unwrap().as_deref(), Some("w1"));
        remember(&conn, "p", "n", None).unwrap();
        assert_eq!(held(&conn, "p", "n").unwrap(), None);
    }
}
