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

    /// The fault of the disk or file under the document behind this error, if that is what it is:
    /// not the request's fault, and something the person running Canopy can fix.
    pub fn storage_fault(&self) -> Option<StorageFault> {
        use rusqlite::ErrorCode;
        let code = match self {
            DbError::Sqlite(e) | DbError::Unreadable { source: e, .. } => e.sqlite_error_code()?,
            DbError::Io { .. } => return Some(StorageFault::Io),
            _ => return None,
        };
        match code {
            ErrorCode::DiskFull => Some(StorageFault::DiskFull),
            ErrorCode::ReadOnly => Some(StorageFault::ReadOnly),
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Some(StorageFault::Locked),
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Some(StorageFault::Corrupt),
            ErrorCode::SystemIoFailure | ErrorCode::CannotOpen => Some(StorageFault::Io),
            _ => None,
        }
    }
}

/// A fault of the storage under the document. Writes fail whole (each is one transaction), so
/// what was saved before stays, and writing works again once the fault is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    DiskFull,
    ReadOnly,
    Locked,
    Corrupt,
    Io,
}

impl StorageFault {
    /// What a person is told, in the UI, ETAPI answers, the sync status and the log.
    pub fn message(self) -> &'static str {
        match self {
            StorageFault::DiskFull => {
                "The disk that holds the document is full, so nothing was saved. What was saved before is kept; \
                 free some space and try again."
            }
            StorageFault::ReadOnly => {
                "The document cannot be written: its file or data directory is read-only, so nothing was saved. \
                 What was saved before is kept; make the data directory writable and try again."
            }
            StorageFault::Locked => {
                "The document is locked by another program (a second Canopy or Trilium on the same data \
                 directory, or a backup tool), so nothing was saved. Try again once it lets go."
            }
            StorageFault::Corrupt => {
                "The document file is damaged where this is kept (SQLite reports corruption), so it could not \
                 be read or saved; nothing was changed, and the rest of the document works as before. Stop \
                 Canopy and restore the latest backup from the data directory's backup folder."
            }
            StorageFault::Io => {
                "The disk reported an error reading or writing the document, so nothing was saved. What was \
                 saved before is kept; check the disk and try again."
            }
        }
    }

    /// The HTTP status of an answer that failed on it.
    pub fn http_status(self) -> u16 {
        match self {
            StorageFault::DiskFull => 507,
            StorageFault::ReadOnly | StorageFault::Locked => 503,
            StorageFault::Corrupt | StorageFault::Io => 500,
        }
    }
}
