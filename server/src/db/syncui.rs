//! What the sync indicator and notices read from the document.
use rusqlite::{Connection, OptionalExtension};

use super::{options, SqlResult};

/// Changes made on this instance that the client engine has not pushed yet: synced changes after
/// the push cursor that this instance wrote (what it pulled from the hub is never pushed back).
pub fn unpushed_change_count(conn: &Connection, instance_id: &str) -> SqlResult<i64> {
    let last_push = options::get_int(conn, "lastSyncedPush")?.unwrap_or(0);
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM entity_changes WHERE isSynced = 1 AND id > ?1 AND instanceId = ?2",
        rusqlite::params![last_push, instance_id],
        |r| r.get(0),
    )?)
}

/// A note's title and whether it is protected (its title then is ciphertext), or `None` if it is gone.
pub fn note_title(conn: &Connection, note_id: &str) -> SqlResult<Option<(String, bool)>> {
    Ok(conn
        .query_row("SELECT title, isProtected FROM notes WHERE noteId = ?1", [note_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? != 0))
        })
        .optional()?)
}
