//! Images in notes, as Trilium 0.63's note HTML references them (relative URLs, so they resolve from the
//! page at `/`): `api/attachments/<attachmentId>/image/<fileName>` for images pasted into text notes and
//! `api/images/<noteId>/<fileName>` for image notes; and the upload of a pasted image, stored as an
//! attachment of the note through the domain layer (so it syncs like any attachment). The file name in
//! the GET paths is only for people and browsers; the id finds the image, as in Trilium.
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::domain_error;
use crate::auth::Session;
use crate::protected::ProtectedSessions;
use crate::db::{note_view, ChangeSource, Document, InstanceId};
use crate::domain::{self, DomainError};
use crate::etapi::content::encode_uri_component;
use app::error::AppError;

/// Trilium's default upload limit is far larger, but a pasted image beyond this is a mistake.
const MAX_IMAGE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone)]
struct FilesState {
    document: Document,
    instance_id: InstanceId,
    /// A protected note's images are encrypted: read and stored with the login's key.
    protected: ProtectedSessions,
}

/// The image routes; the session middleware puts them behind a login (and the upload behind CSRF).
pub fn routes(document: Document, instance_id: InstanceId, protected: ProtectedSessions) -> Router {
    Router::new()
        .route("/api/attachments/{attachment_id}/image/{file_name}", get(attachment_image))
        .route("/api/images/{note_id}/{file_name}", get(note_image))
        .route("/api/ui/notes/{note_id}/images", post(upload_image).layer(DefaultBodyLimit::max(MAX_IMAGE_BYTES)))
        .with_state(FilesState { document, instance_id, protected })
}

async fn attachment_image(
    State(state): State<FilesState>,
    session: Option<Session>,
    Path((attachment_id, _file_name)): Path<(String, String)>,
) -> Response {
    // An image shows inside a note the page already opened (which counted as use of the protected
    // session); the browser fetching it again when the note re-renders is not a person's use.
    let key = session.and_then(|s| state.protected.peek(s.id_hash()));
    let found = blocking(move || {
        state.document.read_with(|conn| {
            let attachment = domain::attachments::live_attachment(conn, &attachment_id)?;
            // Without the protected session a protected image is as if it were not there.
            if attachment.role != "image" || (attachment.is_protected && key.is_none()) {
                return Err(DomainError::not_found("attachments", attachment_id));
            }
            let (_, content) = domain::protected::attachment_of(conn, &attachment, key.as_ref())?;
            Ok((attachment.mime, content.as_bytes().map(<[u8]>::to_vec).unwrap_or_default()))
        })
    })
    .await;
    match found {
        Ok((mime, bytes)) => image_response(&mime, bytes),
        Err(e) => error_response(domain_error(e)),
    }
}

async fn note_image(State(state): State<FilesState>, Path((note_id, _file_name)): Path<(String, String)>) -> Response {
    let lookup_id = note_id.clone();
    let found = blocking(move || state.document.read(|conn| note_view::image_note(conn, &lookup_id)).map_err(DomainError::from)).await;
    match found {
        Ok(Some((mime, bytes))) => image_response(&mime, bytes),
        Ok(None) => error_response(AppError::NotFound(format!("Image note '{note_id}' does not exist."))),
        Err(e) => error_response(domain_error(e)),
    }
}

#[derive(Deserialize)]
struct UploadQuery {
    /// The pasted file's name (`image.png` when the browser gives none).
    name: Option<String>,
}

/// The body is the image's bytes, its `Content-Type` the image's mime.
async fn upload_image(
    State(state): State<FilesState>,
    session: Option<Session>,
    Path(note_id): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mime = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let name = query.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "image".into());
    // Into a protected note the image goes encrypted; without the protected session, not at all.
    let key = session.and_then(|s| state.protected.key(s.id_hash()));
    let stored = blocking(move || {
        let source = ChangeSource::new(&state.instance_id);
        state.document.write_with(&source, |tx| {
            domain::attachments::create_image_attachment(tx, &note_id, &name, &mime, body.to_vec(), key.as_ref())
        })
    })
    .await;
    match stored {
        Ok(attachment) => Json(serde_json::json!({
            "src": format!("api/attachments/{}/image/{}", attachment.attachment_id, encode_uri_component(&attachment.title)),
            "attachmentId": attachment.attachment_id,
        }))
        .into_response(),
        Err(e) => error_response(domain_error(e)),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, DomainError> + Send + 'static) -> Result<T, DomainError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(DomainError::Db(crate::db::DbError::Invalid("the image request failed".into()))))
}

fn image_response(mime: &str, bytes: Vec<u8>) -> Response {
    let content_type = HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            // An SVG opened on its own must not run script in this origin.
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox")),
            // A protected note's image is plaintext here: nothing may keep it after the session locks.
            (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
        ],
        bytes,
    )
        .into_response()
}

fn error_response(e: AppError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(serde_json::json!({ "message": e.to_string() }))).into_response()
}
