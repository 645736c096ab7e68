//! The browser sessions' table, in `sessions.db` beside `document.db` (never inside it: users copy
//! `document.db` to make clients, and a copied session must not log anybody in elsewhere).
//!
//! A row is keyed by the SHA-256 of the session id, so the file alone logs nobody in.
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::SqlResult;

/// Bumped when the table changes; an older file is simply recreated (sessions are disposable).
const SCHEMA_VERSION: i64 = 1;

/// One stored session. Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub id_hash: String,
    pub csrf_token: String,
    pub remember: bool,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// Opens (creating if needed) the sessions file and its table.
pub fn open(path: &Path) -> SqlResult<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != SCHEMA_VERSION {
        conn.execute_batch("DROP TABLE IF EXISTS sessions")?;
    }
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS sessions (
             idHash TEXT PRIMARY KEY NOT NULL,
             csrfToken TEXT NOT NULL,
             remember INTEGER NOT NULL,
             createdMs INTEGER NOT NULL,
             expiresMs INTEGER NOT NULL
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expiresMs);",
    )?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(conn)
}

pub fn insert(conn: &Connection, row: &SessionRow) -> SqlResult<()> {
    conn.prepare_cached("INSERT INTO sessions (idHash, csrfToken, remember, createdMs, expiresMs) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![row.id_hash, row.csrf_token, row.remember, row.created_ms, row.expires_ms])?;
    Ok(())
}

/// The session with this id hash, if it has not expired at `now_ms`.
pub fn find_live(conn: &Connection, id_hash: &str, now_ms: i64) -> SqlResult<Option<SessionRow>> {
    Ok(conn
        .prepare_cached("SELECT idHash, csrfToken, remember, createdMs, expiresMs FROM sessions WHERE idHash = ?1 AND expiresMs > ?2")?
        .query_row(params![id_hash, now_ms], |r| {
            Ok(SessionRow {
                id_hash: r.get(0)?,
                csrf_token: r.get(1)?,
                remember: r.get(2)?,
                created_ms: r.get(3)?,
                expires_ms: r.get(4)?,
            })
        })
        .optional()?)
}

pub fn set_expiry(conn: &Connection, id_hash: &str, expires_ms: i64) -> SqlResult<()> {
    conn.prepare_cached("UPDATE sessions SET expiresMs = ?2 WHERE idHash = ?1")?.execute(params![id_hash, expires_ms])?;
    Ok(())
}

pub fn delete(conn: &Connection, id_hash: &str) -> SqlResult<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE idHash = ?1")?.execute([id_hash])?;
    Ok(())
}

/// Removes every session expired at `now_ms`; returns how many.
pub fn purge_expired(conn: &Connection, now_ms: i64) -> SqlResult<usize> {
    Ok(conn.prepare_cached("DELETE FROM sessions WHERE expiresMs <= ?1")?.execute([now_ms])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_expire_and_are_purged() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("sessions.db")).unwrap();
        let row = SessionRow { id_hash: "h".into(), csrf_token: "t".into(), remember: true, created_ms: 0, expires_ms: 100 };
        insert(&conn, &row).unwrap();
        assert_eq!(find_live(&conn, "h", 99).unwrap(), Some(row));
        assert_eq!(find_live(&conn, "h", 100).unwrap(), None);
        set_expiry(&conn, "h", 200).unwrap();
        assert!(find_live(&conn, "h", 150).unwrap().is_some());
        assert_eq!(purge_expired(&conn, 150).unwrap(), 0);
        assert_eq!(purge_expired(&conn, 200).unwrap(), 1);
        drop(conn);
        // Reopening keeps the table (and would recreate an older one).
        let conn = open(&dir.path().join("sessions.db")).unwrap();
        assert_eq!(find_live(&conn, "h", 0).unwrap(), None);
    }
}
