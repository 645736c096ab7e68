//! The protected session's port: unlock, lock, status, protect and unprotect, the password and the
//! timeout. A protected session belongs to one login session (its key is
//! [`crate::auth::Session::id_hash`], which the request context carries as [`app::ssr::SessionKey`]);
//! the key material stays in [`ProtectedSessions`]. The other ports ask [`data_key`] for the calling
//! session's key to show and save protected notes.
use app::error::AppError;
use app::protected::api::{ssr::ProtectedPort, ProtectOutcome, ProtectedStatus, MIN_TIMEOUT_SECS};
use tokio::sync::broadcast;

use super::{domain_error, internal};
use crate::db::{self, ChangeSource, Document, InstanceId};
use crate::protected::{DataKey, ProtectedError, ProtectedSessions};

use crate::protected::DEFAULT_TIMEOUT_SECS;
const TIMEOUT_OPTION: &str = "protectedSessionTimeout";

/// Announces that a login's protected session started (its session key), so that the live channel
/// tells every tab of that login; ends come from [`ProtectedSessions::subscribe_ended`].
#[derive(Clone)]
pub struct ProtectedEvents(broadcast::Sender<String>);

impl ProtectedEvents {
    pub fn new() -> Self {
        ProtectedEvents(broadcast::channel(64).0)
    }

    pub fn subscribe_started(&self) -> broadcast::Receiver<String> {
        self.0.subscribe()
    }

    fn started(&self, session_key: &str) {
        // Nobody listening (no page open) is fine.
        let _ = self.0.send(session_key.to_owned());
    }
}

impl Default for ProtectedEvents {
    fn default() -> Self {
        Self::new()
    }
}

/// The calling login's data key, when it has a protected session (inside a port call). Asking counts
/// as use of the session, unless the page said nobody is at it (a refetch caused by a live event).
pub(crate) fn data_key(protected: &ProtectedSessions) -> Option<DataKey> {
    let key = app::ssr::session_key()?;
    if app::ssr::attended() {
        protected.key(&key)
    } else {
        protected.peek(&key)
    }
}

/// The calling login's data key, asked for only when something protected is to be shown: asking
/// counts as use of the protected session, and a tree reload with nothing protected in it must not
/// keep the session from timing out.
pub(crate) struct LazyKey<'a> {
    protected: &'a ProtectedSessions,
    key: std::cell::OnceCell<Option<DataKey>>,
}

impl<'a> LazyKey<'a> {
    pub fn new(protected: &'a ProtectedSessions) -> Self {
        LazyKey { protected, key: std::cell::OnceCell::new() }
    }

    pub fn get(&self) -> Option<&DataKey> {
        self.key.get_or_init(|| data_key(self.protected)).as_ref()
    }
}

/// The calling login's key for work on `note_id`, asked for only when that note is protected (or
/// cannot be read: the domain then names the problem).
pub(crate) fn key_for_note(document: &Document, protected: &ProtectedSessions, note_id: &str) -> Option<DataKey> {
    let is_protected = document.read_with(|conn| crate::domain::notes::live_note(conn, note_id)).map_or(true, |n| n.is_protected);
    if is_protected {
        data_key(protected)
    } else {
        None
    }
}

/// What the page shows as a note's title: a protected title decrypted with the login's key, or
/// "[protected]" without one (or when it does not decrypt, which the log names).
pub(crate) fn shown_title(key: Option<&DataKey>, note_id: &str, is_protected: bool, stored: String) -> String {
    if !is_protected {
        return stored;
    }
    crate::domain::protected::shown_title(note_id, &stored, true, key)
}

/// `protectedSessionTimeout` as stored, or Trilium's default for a missing or unreadable one.
pub fn stored_timeout(conn: &rusqlite::Connection) -> db::SqlResult<u64> {
    Ok(db::options::get_int(conn, TIMEOUT_OPTION)?
        .and_then(|secs| u64::try_from(secs).ok())
        .filter(|secs| *secs >= MIN_TIMEOUT_SECS)
        .unwrap_or(DEFAULT_TIMEOUT_SECS))
}

pub struct DocumentProtected {
    pub document: Document,
    pub instance_id: InstanceId,
    pub protected: ProtectedSessions,
    pub events: ProtectedEvents,
}

impl DocumentProtected {
    fn source(&self) -> ChangeSource {
        super::ui_source(&self.instance_id)
    }

    fn status_of(&self, session_key: &str) -> Result<ProtectedStatus, AppError> {
        let (has_password, timeout_secs) = self
            .document
            .read(|conn| Ok((db::password::is_password_set(conn)?, stored_timeout(conn)?)))
            .map_err(internal)?;
        Ok(ProtectedStatus { unlocked: self.protected.is_unlocked(session_key), has_password, timeout_secs })
    }
}

/// A refused unlock in words the dialog shows.
fn unlock_error(e: ProtectedError) -> AppError {
    match e {
        ProtectedError::WrongPassword => AppError::Invalid("Wrong password: the protected session was not started.".into()),
        ProtectedError::NoPassword => {
            AppError::Invalid("This document has no password yet: set one under Options → Password first.".into())
        }
        ProtectedError::LoginEnded => AppError::NotAuthenticated,
        ProtectedError::TooManyAttempts => AppError::Forbidden(format!("{}", ProtectedError::TooManyAttempts)),
        other => {
            tracing::warn!("protected session not started: {other}");
            AppError::Invalid(format!("The protected session could not be started: {other}"))
        }
    }
}

impl ProtectedPort for DocumentProtected {
    fn status(&self, session_key: &str) -> Result<ProtectedStatus, AppError> {
        self.status_of(session_key)
    }

    fn unlock(&self, session_key: &str, password: &str) -> Result<ProtectedStatus, AppError> {
        if password.is_empty() {
            return Err(AppError::Invalid("Type the password.".into()));
        }
        self.protected.unlock(&self.document, session_key, password).map_err(unlock_error)?;
        self.events.started(session_key);
        self.status_of(session_key)
    }

    fn lock(&self, session_key: &str) -> Result<ProtectedStatus, AppError> {
        self.protected.lock(session_key);
        self.status_of(session_key)
    }

    fn set_protected(&self, session_key: &str, note_id: &str, protected: bool, subtree: bool) -> Result<ProtectOutcome, AppError> {
        let Some(key) = self.protected.key(session_key) else {
            return Err(AppError::Forbidden(
                "Enter the protected session first: protecting and unprotecting notes needs the password.".into(),
            ));
        };
        let changed = self
            .document
            .write_with(&self.source(), |tx| crate::domain::protected::set_protected(tx, note_id, protected, subtree, &key))
            .map_err(domain_error)?;
        tracing::info!(note_id, protected, subtree, notes = changed.notes, "protection changed from the UI");
        Ok(ProtectOutcome { changed: changed.notes })
    }

    fn change_password(&self, old: &str, new: &str) -> Result<ProtectedStatus, AppError> {
        if new.is_empty() {
            return Err(AppError::Invalid("The new password must not be empty.".into()));
        }
        let has_password = self.document.read(db::password::is_password_set).map_err(internal)?;
        if has_password {
            if old.is_empty() {
                return Err(AppError::Invalid("Type the old password.".into()));
            }
            // The old password is checked as unlocking checks it, so it shares unlock's limit.
            let session_key = app::ssr::session_key().unwrap_or_default();
            self.protected.check_attempts(&session_key).map_err(unlock_error)?;
            self.document
                .write_with(&self.source(), |tx| crate::domain::protected::change_password(tx, old, new))
                .map_err(|e| match e {
                    crate::domain::DomainError::Password(ProtectedError::WrongPassword) => {
                        self.protected.record_wrong_password(&session_key);
                        AppError::Invalid("The old password is wrong: the password was not changed.".into())
                    }
                    e => domain_error(e),
                })?;
            // As Trilium does: every protected session ends and unlocks again with the new password.
            self.protected.lock_all();
            tracing::info!("password changed from the options page; protected sessions ended");
        } else {
            self.document.write(&self.source(), |tx| db::password::set_password(tx, new)).map_err(internal)?;
            tracing::info!("first password set from the options page");
        }
        let session_key = app::ssr::session_key().unwrap_or_default();
        self.status_of(&session_key)
    }

    fn set_timeout(&self, session_key: &str, secs: u64) -> Result<ProtectedStatus, AppError> {
        if secs < MIN_TIMEOUT_SECS {
            return Err(AppError::Invalid(format!("The protected session timeout must be at least {MIN_TIMEOUT_SECS} seconds.")));
        }
        self.document.write(&self.source(), |tx| db::options::set(tx, TIMEOUT_OPTION, &secs.to_string()).map(drop)).map_err(internal)?;
        self.protected.set_timeout(secs);
        self.status_of(session_key)
    }
}
