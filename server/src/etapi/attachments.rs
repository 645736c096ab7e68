//! Attachments (files owned by a note): create, read, patch, delete, binary content.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::content::content_response;
use super::error::{EtapiError, EtapiResult};
use super::validate::{self, int_of, parse_object, str_of, Check::*, Rules};
use super::wire::AttachmentJson;
use super::{EtapiState, RawBody};
use crate::db::attachments;
use crate::domain::attachments::{self as domain_attachments, content_for, live_attachment, AttachmentChanges, NewAttachment};
use crate::domain::notes::live_note;
use crate::domain::DomainError;
use crate::entities::{self, Blob, BlobContent};

pub fn routes() -> Router<EtapiState> {
    Router::new()
        .route("/attachments", post(create_attachment))
        .route(
            "/attachments/{attachment_id}",
            get(get_attachment).patch(patch_attachment).delete(delete_attachment),
        )
        .route("/attachments/{attachment_id}/content", get(get_content).put(put_content))
}

const CREATE_RULES: Rules = &[
    ("ownerId", &[Mandatory, NotNull, IsNoteId]),
    ("role", &[NotNull, IsString]),
    ("mime", &[NotNull, IsString]),
    ("title", &[NotNull, IsString]),
    ("position", &[NotNull, IsInteger]),
    ("content", &[IsString]),
];

async fn create_attachment(State(state): State<EtapiState>, RawBody(body): RawBody) -> EtapiResult<Response> {
    let body = parse_object(&body)?;
    let attachment = state
        .write(move |tx| {
            validate::validate(tx.conn(), &body, CREATE_RULES)?;
            let owner = live_note(tx.conn(), &str_of(&body, "ownerId").unwrap_or_default())?;
            let mime = str_of(&body, "mime").unwrap_or_default();
            let content = str_of(&body, "content").unwrap_or_default();
            let new = NewAttachment {
                role: str_of(&body, "role").unwrap_or_default(),
                content: content_for(&mime, content.into_bytes()),
                mime,
                title: str_of(&body, "title").unwrap_or_default(),
                position: int_of(&body, "position"),
            };
            Ok(domain_attachments::create(tx, &owner.note_id, new, None)?)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(AttachmentJson::fresh(&attachment))).into_response())
}

async fn get_attachment(State(state): State<EtapiState>, Path(id): Path<String>) -> EtapiResult<Json<AttachmentJson>> {
    let json = state
        .read(move |conn| {
            let a = live_attachment(conn, &id)?;
            Ok(AttachmentJson::read(&a, attachments::content_length(conn, &a)?))
        })
        .await?;
    Ok(Json(json))
}

const PATCH_RULES: Rules = &[
    ("role", &[NotNull, IsString]),
    ("mime", &[NotNull, IsString]),
    ("title", &[NotNull, IsString]),
    ("position", &[NotNull, IsInteger]),
];

async fn patch_attachment(
    State(state): State<EtapiState>,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> EtapiResult<Json<AttachmentJson>> {
    let body = parse_object(&body)?;
    let json = state
        .write(move |tx| {
            let a = live_attachment(tx.conn(), &id)?;
            if a.is_protected {
                return Err(EtapiError::attachment_protected(&id, "cannot be modified"));
            }
            validate::validate(tx.conn(), &body, PATCH_RULES)?;
            let changes = AttachmentChanges {
                role: str_of(&body, "role"),
                mime: str_of(&body, "mime"),
                title: str_of(&body, "title"),
                position: int_of(&body, "position"),
            };
            let a = domain_attachments::update(tx, &id, changes, None)?;
            Ok(AttachmentJson::read(&a, attachments::content_length(tx.conn(), &a)?))
        })
        .await?;
    Ok(Json(json))
}

async fn get_content(State(state): State<EtapiState>, Path(id): Path<String>) -> EtapiResult<Response> {
    let (a, content) = state
        .read(move |conn| {
            let a = live_attachment(conn, &id)?;
            if a.is_protected {
                return Err(EtapiError::attachment_protected(&id, "content cannot be read"));
            }
            let content = match &a.blob_id {
                Some(blob_id) => entities::load::<Blob>(conn, blob_id)?.map(|b| b.content).unwrap_or(BlobContent::Null),
                None => BlobContent::Null,
            };
            Ok((a, content))
        })
        .await?;
    Ok(content_response(content, &a.title, &a.role, &a.mime))
}

async fn put_content(
    State(state): State<EtapiState>,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> EtapiResult<StatusCode> {
    state
        .write(move |tx| {
            let a = live_attachment(tx.conn(), &id)?;
            if a.is_protected {
                return Err(EtapiError::attachment_protected(&id, "cannot be modified"));
            }
            domain_attachments::set_content(tx, &id, body.to_vec(), None)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_attachment(State(state): State<EtapiState>, Path(id): Path<String>) -> EtapiResult<StatusCode> {
    state
        .write(move |tx| match domain_attachments::delete(tx, &id, None) {
            // Deleting what is gone already is no error.
            Ok(()) | Err(DomainError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
