//! Wire types and server functions of protected sessions, and the port the server implements for
//! them. The session a call belongs to is the browser's login session ([`crate::ssr::session_key`]):
//! a protected session is opened for one login, in all of its tabs, as in Trilium.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Trilium's lower bound for `protectedSessionTimeout`: a shorter session would end while typing.
pub const MIN_TIMEOUT_SECS: u64 = 10;

/// Where this login's protected session stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedStatus {
    /// A protected session is open: protected notes show and edit.
    pub unlocked: bool,
    /// The document has a password (without one nothing can be protected).
    pub has_password: bool,
    /// `protectedSessionTimeout`: the session ends after this many seconds without use.
    pub timeout_secs: u64,
}

/// What a protect or unprotect did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectOutcome {
    /// Notes whose protection changed (the note itself and, for a subtree, its descendants).
    pub changed: usize,
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{ProtectOutcome, ProtectedStatus};
    use crate::error::AppError;
    use std::sync::Arc;

    /// Protected sessions and protecting notes. `session_key` identifies the login (never the cookie
    /// itself). Calls run on the blocking pool.
    pub trait ProtectedPort: Send + Sync + 'static {
        fn status(&self, session_key: &str) -> Result<ProtectedStatus, AppError>;
        /// Opens the protected session; a wrong password is `Invalid` with a message saying so, and
        /// writes nothing.
        fn unlock(&self, session_key: &str, password: &str) -> Result<ProtectedStatus, AppError>;
        fn lock(&self, session_key: &str) -> Result<ProtectedStatus, AppError>;
        /// Protects or unprotects `note_id` (with `subtree`, every note under it too); needs an open
        /// protected session.
        fn set_protected(&self, session_key: &str, note_id: &str, protected: bool, subtree: bool) -> Result<ProtectOutcome, AppError>;
        /// Changes the document's password (re-wrapping the data key); without a password yet,
        /// `old` is ignored and `new` becomes the first one.
        fn change_password(&self, old: &str, new: &str) -> Result<ProtectedStatus, AppError>;
        /// Stores `protectedSessionTimeout` (at least [`super::MIN_TIMEOUT_SECS`]) and applies it.
        fn set_timeout(&self, session_key: &str, secs: u64) -> Result<ProtectedStatus, AppError>;
    }

    #[derive(Clone)]
    pub struct Protected(pub Arc<dyn ProtectedPort>);
}

#[cfg(feature = "ssr")]
fn port_and_key() -> Result<(ssr::Protected, String), AppError> {
    let port = crate::ssr::port::<ssr::Protected>()?;
    let key = crate::ssr::session_key().ok_or(AppError::NotAuthenticated)?;
    Ok((port, key))
}

#[server(prefix = "/ui", endpoint = "protected/status", client = crate::csrf::CsrfClient)]
pub async fn get_protected_status() -> Result<ProtectedStatus, AppError> {
    let (port, key) = port_and_key()?;
    crate::ssr::run_blocking(move || port.0.status(&key)).await
}

#[server(prefix = "/ui", endpoint = "protected/unlock", client = crate::csrf::CsrfClient)]
pub async fn unlock(password: String) -> Result<ProtectedStatus, AppError> {
    let (port, key) = port_and_key()?;
    crate::ssr::run_blocking(move || port.0.unlock(&key, &password)).await
}

#[server(prefix = "/ui", endpoint = "protected/lock", client = crate::csrf::CsrfClient)]
pub async fn lock() -> Result<ProtectedStatus, AppError> {
    let (port, key) = port_and_key()?;
    crate::ssr::run_blocking(move || port.0.lock(&key)).await
}

#[server(prefix = "/ui", endpoint = "protected/set", client = crate::csrf::CsrfClient)]
pub async fn set_protected(note_id: String, protected: bool, subtree: bool) -> Result<ProtectOutcome, AppError> {
    let (port, key) = port_and_key()?;
    crate::ssr::run_blocking(move || port.0.set_protected(&key, &note_id, protected, subtree)).await
}

#[server(prefix = "/ui", endpoint = "protected/change_password", client = crate::csrf::CsrfClient)]
pub async fn change_password(old_password: String, new_password: String) -> Result<ProtectedStatus, AppError> {
    let (port, _) = port_and_key()?;
    crate::ssr::run_blocking(move || port.0.change_password(&old_password, &new_password)).await
}

#[server(prefix = "/ui", endpoint = "protected/timeout", client = crate::csrf::CsrfClient)]
pub async fn set_timeout(seconds: String) -> Result<ProtectedStatus, AppError> {
    let (port, key) = port_and_key()?;
    // Parsed inside the call, so that a refusal answers 400 like every other.
    crate::ssr::run_blocking(move || port.0.set_timeout(&key, parse_timeout(&seconds)?)).await
}

/// The timeout as typed on the options page: whole seconds, at least [`MIN_TIMEOUT_SECS`].
pub fn parse_timeout(text: &str) -> Result<u64, AppError> {
    let secs: u64 = text
        .trim()
        .parse()
        .map_err(|_| AppError::Invalid(format!("The protected session timeout must be a whole number of seconds, not '{}'.", text.trim())))?;
    if secs < MIN_TIMEOUT_SECS {
        return Err(AppError::Invalid(format!("The protected session timeout must be at least {MIN_TIMEOUT_SECS} seconds.")));
    }
    Ok(secs)
}

/// Whether a new password may be set; the message says why not (the server checks the same).
pub fn new_password_problem(new: &str, repeated: &str) -> Option<String> {
    if new.is_empty() {
        Some("The new password must not be empty.".into())
    } else if new != repeated {
        Some("The new passwords do not match.".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_is_whole_seconds_of_at_least_ten() {
        assert_eq!(parse_timeout(" 600 "), Ok(600));
        assert_eq!(parse_timeout("10"), Ok(10));
        assert!(matches!(parse_timeout("9"), Err(AppError::Invalid(m)) if m.contains("at least 10")));
        assert!(matches!(parse_timeout("ten"), Err(AppError::Invalid(m)) if m.contains("whole number")));
        assert!(parse_timeout("-5").is_err());
    }

    #[test]
    fn a_new_password_must_be_given_twice_alike() {
        assert!(new_password_problem("", "").is_some());
        assert!(new_password_problem("a", "b").unwrap().contains("match"));
        assert_eq!(new_password_problem("same", "same"), None);
    }
}
