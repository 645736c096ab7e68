//! Browser sessions that survive a restart: kept in `sessions.db` in the data directory.
//!
//! The cookie carries 32 random bytes; the store keeps only their SHA-256, so neither the file nor a
//! backup of it logs anybody in.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use rand::Rng;
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::db::sessions::{self, SessionRow};
use crate::db::DbError;

pub const FILE_NAME: &str = "sessions.db";
/// Trilium's session lifetime.
pub const DAY: Duration = Duration::from_secs(24 * 3600);
/// Trilium's "remember me".
pub const REMEMBER: Duration = Duration::from_secs(21 * 24 * 3600);
/// A session's expiry slides forward on use, but it is written at most this often.
const REFRESH_STEP: Duration = Duration::from_secs(5 * 60);

/// A random value of 32 bytes, URL-safe base64 (43 characters).
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    B64URL.encode(bytes)
}

fn hash_id(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn lifetime(remember: bool) -> Duration {
    if remember {
        REMEMBER
    } else {
        DAY
    }
}

/// A live session as the store knows it.
#[derive(Clone, Debug)]
pub struct StoredSession {
    pub id_hash: String,
    pub csrf_token: String,
    pub remember: bool,
    /// The expiry was moved forward by this lookup (a remembered cookie is sent again).
    pub refreshed: bool,
}

/// The sessions file. Every method does blocking SQLite work: call it off the async workers.
#[derive(Clone)]
pub struct SessionStore {
    conn: Arc<Mutex<Connection>>,
    /// Counts deleted sessions (logouts, password changes), so that open event streams recheck theirs.
    ended: Arc<tokio::sync::watch::Sender<u64>>,
}

impl SessionStore {
    /// Opens `sessions.db` in `data_dir`. A file that is not a sessions database is moved aside
    /// (sessions are disposable: everybody logs in again) rather than stopping the start.
    pub fn open(data_dir: &Path) -> Result<SessionStore, DbError> {
        let path = data_dir.join(FILE_NAME);
        let conn = match sessions::open(&path) {
            Ok(conn) => conn,
            Err(DbError::Sqlite(e)) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => {
                let aside = PathBuf::from(format!("{}.unreadable", path.display()));
                tracing::warn!("{} is not a sessions database; moved to {} and starting with no sessions", path.display(), aside.display());
                std::fs::rename(&path, &aside).map_err(|source| DbError::Io { path: path.clone(), source })?;
                sessions::open(&path)?
            }
            Err(e) => return Err(e),
        };
        let purged = sessions::purge_expired(&conn, now_ms())?;
        if purged > 0 {
            tracing::info!("removed {purged} expired sessions");
        }
        Ok(SessionStore { conn: Arc::new(Mutex::new(conn)), ended: Arc::new(tokio::sync::watch::channel(0).0) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session; returns the id for the cookie (never stored) and the session.
    pub fn create(&self, remember: bool) -> Result<(String, StoredSession), DbError> {
        let id = random_token();
        let now = now_ms();
        let row = SessionRow {
            id_hash: hash_id(&id),
            csrf_token: random_token(),
            remember,
            created_ms: now,
            expires_ms: now + lifetime(remember).as_millis() as i64,
        };
        let conn = self.conn();
        // Logins are rare: a good moment to forget the sessions nobody will use again.
        sessions::purge_expired(&conn, now)?;
        sessions::insert(&conn, &row)?;
        Ok((id, StoredSession { id_hash: row.id_hash, csrf_token: row.csrf_token, remember, refreshed: false }))
    }

    /// The live session with this cookie value, its expiry moved forward.
    pub fn lookup(&self, id: &str) -> Result<Option<StoredSession>, DbError> {
        let id_hash = hash_id(id);
        let now = now_ms();
        let conn = self.conn();
        let Some(row) = sessions::find_live(&conn, &id_hash, now)? else { return Ok(None) };
        let wanted = now + lifetime(row.remember).as_millis() as i64;
        let refreshed = wanted - row.expires_ms >= REFRESH_STEP.as_millis() as i64;
        if refreshed {
            sessions::set_expiry(&conn, &id_hash, wanted)?;
        }
        Ok(Some(StoredSession { id_hash, csrf_token: row.csrf_token, remember: row.remember, refreshed }))
    }

    pub fn delete(&self, id_hash: &str) -> Result<(), DbError> {
        sessions::delete(&self.conn(), id_hash)?;
        self.ended.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Whether the session with this id hash is still live; unlike [`lookup`](Self::lookup) it does
    /// not move the expiry (an open event stream is no use of the session).
    pub fn is_live(&self, id_hash: &str) -> Result<bool, DbError> {
        Ok(sessions::find_live(&self.conn(), id_hash, now_ms())?.is_some())
    }

    /// Moves whenever a session is deleted.
    pub fn ended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ended.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_only_their_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::open(dir.path()).unwrap();
        let (id, session) = store.create(false).unwrap();
        let (other, _) = store.create(true).unwrap();
        assert_ne!(id, other);
        assert_eq!(id.len(), 43);
        assert_eq!(session.id_hash, hash_id(&id));
        let looked_up = store.lookup(&id).unwrap().unwrap();
        assert_eq!(looked_up.csrf_token, session.csrf_token);
        assert!(!looked_up.refreshed, "a fresh session is not written again");
        assert!(store.lookup(&session.id_hash).unwrap().is_none(), "the stored hash is no cookie");
        let raw = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains(&id));
        store.delete(&session.id_hash).unwrap();
        assert!(store.lookup(&id).unwrap().is_none());
    }

    #[test]
    fn a_file_that_is_not_a_database_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), vec![7u8; 4096]).unwrap();
        let store = SessionStore::open(dir.path()).unwrap();
        assert!(store.create(false).is_ok());
        assert!(dir.path().join("sessions.db.unreadable").exists());
    }
}
