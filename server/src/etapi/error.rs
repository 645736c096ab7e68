//! The one ETAPI error type. Every failure leaves the server as Trilium's error JSON
//! `{"status": <http status>, "code": "<CODE>", "message": "<text>"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::db::DbError;
use crate::domain::DomainError;

/// Trilium's catch-all error code.
pub const GENERIC: &str = "GENERIC";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct EtapiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub type EtapiResult<T> = Result<T, EtapiError>;

impl EtapiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        EtapiError { status, code, message: message.into() }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn generic(message: impl Into<String>) -> Self {
        Self::bad_request(GENERIC, message)
    }
    pub fn not_authenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "NOT_AUTHENTICATED", "Not authenticated")
    }
    pub fn note_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOTE_NOT_FOUND", format!("Note '{id}' not found."))
    }
    pub fn branch_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "BRANCH_NOT_FOUND", format!("Branch '{id}' not found."))
    }
    pub fn attribute_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ATTRIBUTE_NOT_FOUND", format!("Attribute '{id}' not found."))
    }
    pub fn attachment_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ATTACHMENT_NOT_FOUND", format!("Attachment '{id}' not found."))
    }
    pub fn property_not_allowed(key: &str) -> Self {
        Self::bad_request("PROPERTY_NOT_ALLOWED", format!("Property '{key}' is not allowed for this method."))
    }
    pub fn validation(key: &str, problem: &str) -> Self {
        Self::bad_request("PROPERTY_VALIDATION_ERROR", format!("Validation failed on property '{key}': {problem}."))
    }
    pub fn note_protected(id: &str, what: &str) -> Self {
        Self::bad_request("NOTE_IS_PROTECTED", format!("Note '{id}' is protected and {what} through ETAPI."))
    }
    pub fn attachment_protected(id: &str, what: &str) -> Self {
        Self::bad_request("ATTACHMENT_IS_PROTECTED", format!("Attachment '{id}' is protected and {what} through ETAPI."))
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, GENERIC, message)
    }
}

impl From<DbError> for EtapiError {
    fn from(e: DbError) -> Self {
        match &e {
            DbError::NotFound { entity, id } => {
                let code = match *entity {
                    "notes" => "NOTE_NOT_FOUND",
                    "branches" => "BRANCH_NOT_FOUND",
                    "attributes" => "ATTRIBUTE_NOT_FOUND",
                    "attachments" => "ATTACHMENT_NOT_FOUND",
                    _ => GENERIC,
                };
                EtapiError::new(StatusCode::NOT_FOUND, code, format!("{entity} '{id}' not found."))
            }
            // Rule violations of the store (cycles, deleted parents, ...) are the caller's fault.
            DbError::Invalid(msg) => EtapiError::generic(msg.clone()),
            // ETAPI has no protected session. Where Trilium fails with a 500 by accident (e.g. a revision
            // of a protected note), its own 400 for protected notes is the clear answer.
            DbError::ProtectedLocked { entity: "attachments", id } => EtapiError::attachment_protected(id, "cannot be modified"),
            DbError::ProtectedLocked { id, .. } => EtapiError::note_protected(id, "cannot be modified"),
            _ => {
                tracing::error!("ETAPI request failed in the document store: {e}");
                match e.storage_fault() {
                    Some(fault) => EtapiError::new(
                        StatusCode::from_u16(fault.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                        GENERIC,
                        fault.message(),
                    ),
                    None => EtapiError::internal(e.to_string()),
                }
            }
        }
    }
}

impl From<DomainError> for EtapiError {
    /// Refusals of the domain layer are Trilium's 400 `GENERIC` with the domain's message; missing
    /// entities are Trilium's 404s.
    fn from(e: DomainError) -> Self {
        if let DomainError::Db(db) = e {
            return db.into();
        }
        if let DomainError::ProtectedLocked { note_id } = &e {
            return EtapiError::note_protected(note_id, "cannot be modified");
        }
        let (status, code) = match &e {
            DomainError::NotFound { kind, .. } => (
                StatusCode::NOT_FOUND,
                match *kind {
                    "notes" => "NOTE_NOT_FOUND",
                    "branches" => "BRANCH_NOT_FOUND",
                    "attributes" => "ATTRIBUTE_NOT_FOUND",
                    "attachments" => "ATTACHMENT_NOT_FOUND",
                    _ => GENERIC,
                },
            ),
            _ => (StatusCode::BAD_REQUEST, GENERIC),
        };
        EtapiError::new(status, code, e.user_message())
    }
}

impl IntoResponse for EtapiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": self.status.as_u16(),
            "code": self.code,
            "message": app::error::printable(&self.message),
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<rusqlite::Error> for EtapiError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::from(e).into()
    }
}
