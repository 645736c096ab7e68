//! Errors of the document store.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot access document file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an SQLite database (corrupt or some other kind of file)")]
    NotSqlite { path: PathBuf },
    #[error("{path} is an SQLite database but not a Trilium/Canopy document (no options.dbVersion)")]
    NotTrilium { path: PathBuf },
    #[error(
        "{path} has database version {found}, newer than the version {supported} this Canopy supports; \
         upgrade Canopy (the file was left untouched)"
    )]
    TooNew { path: PathBuf, found: i64, supported: i64 },
    #[error(
        "{path} has database version {found}, older than {supported}; open it once with \
         Trilium 0.63.x to migrate it (the file was left untouched)"
    )]
    TooOld { path: PathBuf, found: i64, supported: i64 },
    #[error("{path} could not be read as a document: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("schema migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{entity} '{id}' not found")]
    NotFound { entity: &'static str, id: String },
    #[error("invalid operation: {0}")]
    Invalid(String),
    #[error("the document already has a password")]
    PasswordAlreadySet,
    /// A protected row was to be read or written without the data key (no protected session).
    #[error("{entity} '{id}' is protected: unlock the protected session first")]
    ProtectedLocked { entity: &'static str, id: String },
    /// A protected title or blob does not decrypt with the data key (damaged or foreign data).
    #[error("the {what} of {entity} '{id}' could not be decrypted: {reason}")]
    Undecryptable { entity: &'static str, id: String, what: &'static str, reason: String },
}

impl DbError {
    pub fn not_found(entity: &'static str, id: impl Into<String>) -> Self {
        DbError::NotFound { entity, id: id.into() }
    }
}
