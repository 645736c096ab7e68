//! Protected notes: the data key and the protected sessions that hold it.
//!
//! Trilium keeps one random data key per document, wrapped (encrypted) by a key derived from the
//! password (option `encryptedDataKey`, salt `passwordDerivedKeySalt`); protected titles and blobs are
//! encrypted with the data key ([`crypto`]). Entering a protected session checks the password against
//! `passwordVerificationHash`, unwraps the data key and keeps it in memory only, per browser session,
//! until the session ends: on demand, on logout, or after `protectedSessionTimeout` seconds without use.

pub mod crypto;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use zeroize::Zeroizing;

use crate::db::{options, password, DbError, Document};
use crate::login_limit::FailureLimiter;

pub use crypto::DecryptError;

/// The document's data key, unwrapped: the 16 bytes Trilium's AES uses. Wiped from memory when the
/// last copy is dropped; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey(Zeroizing<[u8; 16]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// The key from the unwrapped `encryptedDataKey` (Trilium's `pad`: its first 16 bytes).
    pub fn from_unwrapped(bytes: &[u8]) -> DataKey {
        DataKey(Zeroizing::new(crypto::pad16(bytes)))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// `protectedSessionService.encrypt`: base64 ciphertext as stored in titles and blobs.
    pub fn encrypt(&self, plain: &[u8]) -> String {
        crypto::encrypt(&self.0[..], plain)
    }

    /// `protectedSessionService.decrypt`, with Trilium's recovery of values stored unencrypted.
    pub fn decrypt(&self, stored: &str) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        crypto::decrypt(&self.0[..], stored)
    }

    /// `decryptString`: UTF-8 (lossy, as Node's `toString`).
    pub fn decrypt_string(&self, stored: &str) -> Result<String, DecryptError> {
        self.decrypt(stored).map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// Why a protected session could not start, or the password could not change.
#[derive(Debug, thiserror::Error)]
pub enum ProtectedError {
    #[error("The password is wrong.")]
    WrongPassword,
    #[error("This document has no password yet; set one first.")]
    NoPassword,
    /// The login that asked ended (logout, expiry) while the password was being checked.
    #[error("The login ended; log in again.")]
    LoginEnded,
    #[error("Too many wrong passwords; try again in a few minutes.")]
    TooManyAttempts,
    /// The password checks out against `passwordVerificationHash`, but the wrapped data key does not
    /// decrypt with it: the options are damaged or half-synced.
    #[error("The document's protected-notes key ({what}) is damaged: {reason}. Nothing was changed.")]
    Corrupt { what: &'static str, reason: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Checks the password and unwraps the data key (`passwordEncryptionService.getDataKey`).
pub fn unlock_key(conn: &Connection, password: &str) -> Result<DataKey, ProtectedError> {
    let bytes = unwrap_data_key(conn, password)?;
    Ok(DataKey::from_unwrapped(&bytes))
}

/// The unwrapped `encryptedDataKey` as it is (Trilium's 24-character token text), for re-wrapping.
pub(crate) fn unwrap_data_key(conn: &Connection, password: &str) -> Result<Zeroizing<Vec<u8>>, ProtectedError> {
    if !password::is_password_set(conn)? {
        return Err(ProtectedError::NoPassword);
    }
    if !password::verify_password(conn, password)? {
        return Err(ProtectedError::WrongPassword);
    }
    let salt = options::get(conn, "passwordDerivedKeySalt")?.unwrap_or_default();
    let wrapped = options::get(conn, "encryptedDataKey")?.unwrap_or_default();
    if wrapped.is_empty() {
        return Err(ProtectedError::Corrupt { what: "encryptedDataKey", reason: "it is empty".into() });
    }
    let derived = crypto::scrypt_hash(password, &salt);
    let bytes = crypto::decrypt_strict(&derived[..], &wrapped)
        .map_err(|e| ProtectedError::Corrupt { what: "encryptedDataKey", reason: e.to_string() })?;
    if bytes.is_empty() {
        return Err(ProtectedError::Corrupt { what: "encryptedDataKey", reason: "it holds no key".into() });
    }
    Ok(bytes)
}

/// Trilium's default `protectedSessionTimeout` (seconds).
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;
/// How often the sweeper ends idle sessions (and re-reads the option).
pub const SWEEP_EVERY: Duration = Duration::from_secs(5);

struct Unlocked {
    key: DataKey,
    last_used: Instant,
}

/// Whether the login with this session key still exists.
type LoginCheck = dyn Fn(&str) -> bool + Send + Sync;

struct Inner {
    sessions: Mutex<HashMap<String, Unlocked>>,
    timeout_secs: AtomicU64,
    ended: tokio::sync::broadcast::Sender<String>,
    login_is_live: Box<LoginCheck>,
    /// Wrong passwords per login: the unlock dialog must not be a way to guess the password.
    wrong_passwords: FailureLimiter<String>,
}

/// The protected sessions of one instance, keyed by the browser session's key
/// ([`crate::auth::Session::id_hash`]). Unlike Trilium's one process-wide session, each browser
/// login unlocks on its own.
#[derive(Clone)]
pub struct ProtectedSessions {
    inner: Arc<Inner>,
}

impl Default for ProtectedSessions {
    fn default() -> Self {
        ProtectedSessions::new()
    }
}

impl ProtectedSessions {
    /// Sessions whose logins never end by themselves (they still end by [`lock`](Self::lock)).
    pub fn new() -> ProtectedSessions {
        ProtectedSessions::with_login_check(|_| true)
    }

    /// Sessions that end with their login: `login_is_live` answers whether the login with a session
    /// key still exists (it may block briefly: it is asked off the async workers).
    pub fn with_login_check(login_is_live: impl Fn(&str) -> bool + Send + Sync + 'static) -> ProtectedSessions {
        ProtectedSessions {
            inner: Arc::new(Inner {
                sessions: Mutex::new(HashMap::new()),
                timeout_secs: AtomicU64::new(DEFAULT_TIMEOUT_SECS),
                ended: tokio::sync::broadcast::channel(64).0,
                login_is_live: Box::new(login_is_live),
                wrong_passwords: FailureLimiter::default(),
            }),
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Unlocked>> {
        // A panic elsewhere while holding the lock leaves a plain map behind: keep using it.
        self.inner.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.inner.timeout_secs.load(Ordering::Relaxed))
    }

    /// Enters the protected session: checks the password, unwraps the data key, keeps it for this
    /// browser session. Runs scrypt twice (tens of milliseconds): call it off the async workers.
    /// Refused after [`MAX_FAILURES`](crate::login_limit::MAX_FAILURES) wrong passwords of this
    /// login in a window; and when the login ended meanwhile, no key is kept for it.
    pub fn unlock(&self, document: &Document, session_key: &str, password: &str) -> Result<(), ProtectedError> {
        self.check_attempts(session_key)?;
        let key = match document.read_with(|conn| unlock_key(conn, password)) {
            Ok(key) => key,
            Err(e) => {
                if matches!(e, ProtectedError::WrongPassword) {
                    self.record_wrong_password(session_key);
                }
                return Err(e);
            }
        };
        // scrypt took a while: a logout in the meantime has already ended this login's session.
        if !(self.inner.login_is_live)(session_key) {
            return Err(ProtectedError::LoginEnded);
        }
        self.sessions().insert(session_key.to_owned(), Unlocked { key, last_used: Instant::now() });
        tracing::info!("protected session started");
        Ok(())
    }

    /// `TooManyAttempts` while this login has used up its wrong passwords (unlock and password
    /// change share them).
    pub fn check_attempts(&self, session_key: &str) -> Result<(), ProtectedError> {
        if self.inner.wrong_passwords.allows(&session_key.to_owned()) {
            Ok(())
        } else {
            tracing::warn!("protected-session password refused: too many wrong passwords from one login");
            Err(ProtectedError::TooManyAttempts)
        }
    }

    pub fn record_wrong_password(&self, session_key: &str) {
        self.inner.wrong_passwords.record_failure(&session_key.to_owned());
    }

    /// Ends the protected session of this browser session (if any); the key is wiped.
    pub fn lock(&self, session_key: &str) {
        if self.sessions().remove(session_key).is_some() {
            tracing::info!("protected session ended");
            let _ = self.inner.ended.send(session_key.to_owned());
        }
    }

    /// The data key while the session is unlocked and not idle past the timeout; counts as use.
    pub fn key(&self, session_key: &str) -> Option<DataKey> {
        let timeout = self.timeout();
        let mut sessions = self.sessions();
        let entry = sessions.get_mut(session_key)?;
        if entry.last_used.elapsed() > timeout {
            drop(sessions);
            self.lock(session_key);
            return None;
        }
        entry.last_used = Instant::now();
        Some(entry.key.clone())
    }

    /// The data key while the session is unlocked and not idle past the timeout, without counting as
    /// use (what a page shows while nobody is at it).
    pub fn peek(&self, session_key: &str) -> Option<DataKey> {
        let timeout = self.timeout();
        let sessions = self.sessions();
        sessions.get(session_key).filter(|e| e.last_used.elapsed() <= timeout).map(|e| e.key.clone())
    }

    pub fn is_unlocked(&self, session_key: &str) -> bool {
        let timeout = self.timeout();
        self.sessions().get(session_key).is_some_and(|e| e.last_used.elapsed() <= timeout)
    }

    /// Counts as use (Trilium's `touchProtectedSession`), so the timeout starts again.
    pub fn touch(&self, session_key: &str) {
        if let Some(e) = self.sessions().get_mut(session_key) {
            e.last_used = Instant::now();
        }
    }

    /// Seconds of inactivity after which a protected session ends (option `protectedSessionTimeout`).
    pub fn set_timeout(&self, secs: u64) {
        self.inner.timeout_secs.store(secs, Ordering::Relaxed);
    }

    /// The session keys of protected sessions as they end (by [`lock`](Self::lock), timeout or logout).
    pub fn subscribe_ended(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.inner.ended.subscribe()
    }

    /// Ends every protected session idle longer than the timeout, or whose login ended (expired,
    /// or replaced by a new login): its key is wiped then, not only at the timeout. Asks the login
    /// check, so it may block briefly.
    pub fn sweep(&self) {
        let timeout = self.timeout();
        let open: Vec<(String, bool)> =
            self.sessions().iter().map(|(k, e)| (k.clone(), e.last_used.elapsed() > timeout)).collect();
        for (key, idle) in open {
            if idle || !(self.inner.login_is_live)(&key) {
                self.lock(&key);
            }
        }
    }

    /// Ends every protected session (the password changed elsewhere, the instance stops, ...).
    pub fn lock_all(&self) {
        let keys: Vec<String> = self.sessions().keys().cloned().collect();
        for key in keys {
            self.lock(&key);
        }
    }

    /// The sweeper: every [`SWEEP_EVERY`], follows the option `protectedSessionTimeout` when it
    /// changed (a synced option: another instance may change it) and ends idle sessions.
    pub fn spawn_sweeper(&self, document: Document) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut seen: Option<Option<i64>> = None;
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tick.tick().await;
                let doc = document.clone();
                let option = tokio::task::spawn_blocking(move || doc.read(|c| options::get_int(c, "protectedSessionTimeout")))
                    .await
                    .ok()
                    .and_then(Result::ok);
                if let Some(value) = option {
                    if seen != Some(value) {
                        seen = Some(value);
                        this.set_timeout(value.filter(|v| *v > 0).map_or(DEFAULT_TIMEOUT_SECS, |v| v as u64));
                    }
                }
                let sweeper = this.clone();
                let _ = tokio::task::spawn_blocking(move || sweeper.sweep()).await;
            }
        })
    }
}
