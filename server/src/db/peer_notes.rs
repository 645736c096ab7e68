//! The hub's memory of which version of each note every peer holds: `canopy_peer_notes`.
//!
//! A Trilium peer does not say what version an edit was based on. The hub knows what the peer sent it
//! and what the peer took of what it sent; a pushed edit of the version the peer is known to hold is
//! sequential, anything else is concurrent (see `sync::apply`). Kept in `document.db` and written in
//! the transaction of the sync exchange that taught it, so a hub restart forgets nothing and a rolled
//! back batch teaches nothing. Trilium ignores tables it does not know.
//!
//! What the hub sends in a pull page is only *sent* (`canopy_peer_notes_sent`) until the peer asks for
//! the next page from a cursor past it: a peer moves its cursor in the transaction that applies the
//! page, so that is the proof it holds the versions. A page lost on the way, or one the peer did not
//! commit (it was killed), teaches nothing, and the peer's edit of the version it still holds is
//! then seen as concurrent, keeping the hub's version in a revision, instead of overwriting it. (A
//! Canopy client fetches pages ahead of applying them, so its cursor proves less; but it says what
//! each edit was based on, and this memory is asked only when an edit does not say.)
use rusqlite::{params, Connection, OptionalExtension};

use super::SqlResult;

pub fn ensure_table(conn: &Connection) -> SqlResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS canopy_peer_notes (
             peerId TEXT NOT NULL,
             noteId TEXT NOT NULL,
             hash TEXT NOT NULL,
             PRIMARY KEY (peerId, noteId)
         ) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS canopy_peer_notes_sent (
             peerId TEXT NOT NULL,
             noteId TEXT NOT NULL,
             hash TEXT,
             changeId INTEGER NOT NULL,
             PRIMARY KEY (peerId, noteId)
         ) WITHOUT ROWID",
    )?;
    Ok(())
}

/// The hub sent the peer `hash` of the note (`None`: its erasure) as the change `entity_change_id`;
/// it holds it once [`confirm_sent`] sees its cursor past that change.
pub fn sent(conn: &Connection, peer_id: &str, note_id: &str, hash: Option<&str>, entity_change_id: i64) -> SqlResult<()> {
    conn.prepare_cached(
        "INSERT INTO canopy_peer_notes_sent (peerId, noteId, hash, changeId) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (peerId, noteId) DO UPDATE SET hash = excluded.hash, changeId = excluded.changeId",
    )?
    .execute(params![peer_id, note_id, hash, entity_change_id])?;
    Ok(())
}

/// The peer pulls from `cursor`: it committed every page up to there, so what was sent up to there
/// it holds.
pub fn confirm_sent(conn: &Connection, peer_id: &str, cursor: i64) -> SqlResult<()> {
    let confirmed: Vec<(String, Option<String>)> = conn
        .prepare_cached("SELECT noteId, hash FROM canopy_peer_notes_sent WHERE peerId = ?1 AND changeId <= ?2")?
        .query_map(params![peer_id, cursor], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if confirmed.is_empty() {
        return Ok(());
    }
    for (note_id, hash) in &confirmed {
        remember(conn, peer_id, note_id, hash.as_deref())?;
    }
    conn.prepare_cached("DELETE FROM canopy_peer_notes_sent WHERE peerId = ?1 AND changeId <= ?2")?.execute(params![peer_id, cursor])?;
    Ok(())
}

/// The peer holds `hash` of the note: it sent it, or took it (`None`: the note was erased, the peer
/// holds nothing).
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

    #[test]
    fn a_sent_version_is_held_once_the_cursor_passes_it() {
        let conn = Connection::open_in_memory().unwrap();
        ensure_table(&conn).unwrap();
        remember(&conn, "p", "n", Some("v1")).unwrap();
        sent(&conn, "p", "n", Some("v2"), 10).unwrap();
        sent(&conn, "p", "m", Some("w1"), 12).unwrap();
        confirm_sent(&conn, "p", 9).unwrap();
        assert_eq!(held(&conn, "p", "n").unwrap().as_deref(), Some("v1"), "a page not taken yet teaches nothing");
        confirm_sent(&conn, "q", 20).unwrap();
        assert_eq!(held(&conn, "p", "n").unwrap().as_deref(), Some("v1"), "another peer's cursor is not this one's");
        confirm_sent(&conn, "p", 10).unwrap();
        assert_eq!(held(&conn, "p", "n").unwrap().as_deref(), Some("v2"));
        assert_eq!(held(&conn, "p", "m").unwrap(), None);
        sent(&conn, "p", "n", None, 15).unwrap();
        confirm_sent(&conn, "p", 20).unwrap();
        assert_eq!(held(&conn, "p", "n").unwrap(), None, "an erasure taken");
        assert_eq!(held(&conn, "p", "m").unwrap().as_deref(), Some("w1"));
    }
}
