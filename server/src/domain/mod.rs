//! The operations every front end shares (web UI and ETAPI): creating, renaming, retyping, saving
//! and deleting notes; moving, cloning and deleting branches; labels and relations; pasted images.
//!
//! Each write takes the caller's [`WriteTx`](crate::db::WriteTx), so one request can combine several
//! operations in one transaction, and each read takes a plain [`rusqlite::Connection`]. The rules are
//! Trilium 0.63.7's (its services, not its HTTP layer): front ends only translate wire formats and map
//! [`DomainError`] to their own error type. SQL stays in the store (`db/`, `entities/`).
//!
//! A caller runs an operation in its own transaction, off the async workers, e.g.
//! `document.write_with(&source, |tx| domain::notes::rename(tx, note_id, title))` or
//! `document.read_with(|conn| domain::attributes::inherited(conn, note_id))` inside `spawn_blocking`.

pub mod attachments;
pub mod attributes;
pub mod branches;
pub mod links;
pub mod notes;
pub mod protected;
pub mod search;
pub mod recent_changes;
pub mod revisions;
mod templates;
mod sorting;

use crate::db::DbError;

/// Why a domain operation refused or failed. Nothing was written when it returns one (the caller's
/// transaction rolls back).
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// A live entity of this table (`notes`, `branches`, `attributes`, `attachments`) is missing.
    #[error("{kind} '{id}' not found")]
    NotFound { kind: &'static str, id: String },
    /// Bad input (an empty attribute name, an unknown note type, ...).
    #[error("{0}")]
    Invalid(String),
    /// A valid request that Trilium's rules forbid (delete root, move a note into its own subtree, ...).
    #[error("{0}")]
    NotAllowed(String),
    /// The entity changed since the caller loaded it.
    #[error("{0}")]
    Stale(String),
    /// A refusal about a protected entity that is no [`ProtectedLocked`](Self::ProtectedLocked).
    #[error("{0}")]
    Protected(String),
    /// The note is protected and the caller has no protected session (no data key).
    #[error("Note '{note_id}' is protected: enter the protected session to read or change it.")]
    ProtectedLocked { note_id: String },
    /// A protected title or content does not decrypt with the data key (damaged data).
    #[error("The {what} of {kind} '{id}' could not be decrypted ({reason}); nothing was changed.")]
    Undecryptable { kind: &'static str, id: String, what: &'static str, reason: String },
    /// Entering the protected session or changing the password failed (wrong password, ...).
    #[error(transparent)]
    Password(crate::protected::ProtectedError),
    /// The store failed (I/O, SQLite).
    #[error(transparent)]
    Db(DbError),
}

pub type DomainResult<T> = Result<T, DomainError>;

impl DomainError {
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        DomainError::NotFound { kind, id: id.into() }
    }

    /// What a front end may show a user: the refusal's own words, or for a store failure a fixed sentence
    /// (its details, which may contain database text, belong in the server log).
    pub fn user_message(&self) -> String {
        match self {
            DomainError::NotFound { kind, id } => {
                let what = match *kind {
                    "notes" => "Note",
                    "branches" => "Branch",
                    "attributes" => "Attribute",
                    "attachments" => "Attachment",
                    "deletions" => "Deletion",
                    "revisions" => "Revision",
                    other => other,
                };
                format!("{what} '{id}' not found.")
            }
            DomainError::Invalid(m) | DomainError::NotAllowed(m) | DomainError::Stale(m) | DomainError::Protected(m) => m.clone(),
            DomainError::ProtectedLocked { .. } | DomainError::Undecryptable { .. } => self.to_string(),
            DomainError::Password(crate::protected::ProtectedError::Db(e)) | DomainError::Db(e) => match e.storage_fault() {
                Some(fault) => fault.message().into(),
                None => "The document could not be read or written; see the server log.".into(),
            },
            DomainError::Password(e) => e.to_string(),
        }
    }
}

impl From<DbError> for DomainError {
    /// The store's own "not found" and rule violations keep their meaning; the rest is a store failure.
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound { entity, id } => DomainError::NotFound { kind: entity, id },
            DbError::Invalid(message) => DomainError::Invalid(message),
            // A revision or attachment of a locked protected note names the note it belongs to in
            // the UI; the store only knows its own id, which is what it names.
            DbError::ProtectedLocked { id, .. } => DomainError::ProtectedLocked { note_id: id },
            DbError::Undecryptable { entity, id, what, reason } => DomainError::Undecryptable { kind: entity, id, what, reason },
            e => DomainError::Db(e),
        }
    }
}

impl From<crate::protected::ProtectedError> for DomainError {
    fn from(e: crate::protected::ProtectedError) -> Self {
        match e {
            crate::protected::ProtectedError::Db(e) => e.into(),
            e => DomainError::Password(e),
        }
    }
}

impl From<rusqlite::Error> for DomainError {
    fn from(e: rusqlite::Error) -> Self {
        DomainError::Db(e.into())
    }
}
