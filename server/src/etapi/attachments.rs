//! Attachments (files owned by a note): create, read, patch, delete, binary content.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::{Connection, OptionalExtension};

use super::error::{EtapiError, EtapiResult};
use super::notes::{content_response, get_and_check_note, is_string_note};
use super::validate::{self, int_of, parse_object, str_of, Check::*, Rules};
use super::wire::AttachmentJson;
use super::{EtapiState, RawBody};
use crate::db::{deletion, tree, WriteTx};
use crate::entities::{self, Attachment, Blob, BlobContent};
use crate::hashing;

pub fn routes() -> Router<EtapiState> {
    Router::new()
        .route("/attachments", post(create_attachment))
        .route(
            "/attachments/{attachment_id}",
            get(get_attachment).patch(patch_attachment).delete(delete_attachment),
        )
        .route("/attachments/{attachment_id}/content", get(get_content).put(put_content))
}

/// SQLite `LENGTH(content)` of the attachment's blob (characters for text, bytes for binary).
pub fn content_length(conn: &Connection, a: &Attachment) -> EtapiResult<Option<i64>> {
    let Some(blob_id) = &a.blob_id else { return Ok(None) };
    Ok(conn
        .query_row("SELECT LENGTH(content) FROM blobs WHERE blobId = ?1", [blob_id], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}

fn live_attachment(conn: &Connection, id: &str) -> EtapiResult<Option<Attachment>> {
    Ok(entities::load::<Attachment>(conn, id)?.filter(|a| !a.is_deleted))
}

fn get_and_check_attachment(conn: &Connection, id: &str) -> EtapiResult<Attachment> {
    live_attachment(conn, id)?.ok_or_else(|| EtapiError::attachment_not_found(id))
}

fn attachment_content(mime: &str, bytes: Vec<u8>) -> BlobContent {
    if is_string_note("", mime) {
        BlobContent::Text(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    } else {
        BlobContent::Binary(bytes)
    }
}

/// `BAttachment.setContent(…, {forceSave})`: new blob, attachment saved with fresh dates,
/// the old blob dropped if nothing else uses it.
fn set_content(tx: &mut WriteTx<'_>, a: &mut Attachment, content: BlobContent) -> EtapiResult<()> {
    let old = a.blob_id.clone();
    a.blob_id = Some(tree::save_blob(tx, content)?);
    save(tx, a)?;
    if let Some(old) = old.filter(|o| Some(o) != a.blob_id.as_ref()) {
        tree::delete_blob_if_unused(tx.conn(), &old)?;
    }
    Ok(())
}

fn save(tx: &mut WriteTx<'_>, a: &mut Attachment) -> EtapiResult<()> {
    a.date_modified = tx.local_now();
    a.utc_date_modified = tx.utc_now();
    entities::save(tx, a)?;
    Ok(())
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
    let attachment = state.write(|tx| {
        validate::validate(tx.conn(), &body, CREATE_RULES)?;
        let owner = get_and_check_note(tx.conn(), &str_of(&body, "ownerId").unwrap_or_default())?;
        for field in ["role", "mime", "title"] {
            if str_of(&body, field).is_none_or(|v| v.trim().is_empty()) {
                return Err(EtapiError::generic(format!("'{field}' must be given to initialize a Attachment entity")));
            }
        }
        let mime = str_of(&body, "mime").unwrap_or_default();
        let content = str_of(&body, "content").unwrap_or_default();
        let mut a = Attachment {
            attachment_id: hashing::new_entity_id(),
            owner_id: owner.note_id.clone(),
            role: str_of(&body, "role").unwrap_or_default(),
            mime: mime.clone(),
            title: str_of(&body, "title").unwrap_or_default(),
            is_protected: owner.is_protected,
            // Trilium's default: its "max sibling position" query never matches, so 10.
            position: int_of(&body, "position").unwrap_or(10),
            blob_id: None,
            date_modified: String::new(),
            utc_date_modified: String::new(),
            utc_date_scheduled_for_erasure_since: None,
            is_deleted: false,
            delete_id: None,
        };
        set_content(tx, &mut a, attachment_content(&mime, content.into_bytes()))?;
        Ok(a)
    })?;
    Ok((StatusCode::CREATED, Json(AttachmentJson::fresh(&attachment))).into_response())
}

async fn get_attachment(State(state): State<EtapiState>, Path(id): Path<String>) -> EtapiResult<Json<AttachmentJson>> {
    let json = state.read(|conn| {
        let a = get_and_check_attachment(conn, &id)?;
        Ok(AttachmentJson::read(&a, content_length(conn, &a)?))
    })?;
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
    let json = state.write(|tx| {
        let mut a = get_and_check_attachment(tx.conn(), &id)?;
        if a.is_protected {
            return Err(EtapiError::attachment_protected(&id, "cannot be modified"));
        }
        validate::validate(tx.conn(), &body, PATCH_RULES)?;
        if let Some(v) = str_of(&body, "role") {
            a.role = v;
        }
        if let Some(v) = str_of(&body, "mime") {
            a.mime = v;
        }
        if let Some(v) = str_of(&body, "title") {
            a.title = v;
        }
        if let Some(v) = int_of(&body, "position") {
            a.position = v;
        }
        save(tx, &mut a)?;
        Ok(AttachmentJson::read(&a, content_length(tx.conn(), &a)?))
    })?;
    Ok(Json(json))
}

async fn get_content(State(state): State<EtapiState>, Path(id): Path<String>) -> EtapiResult<Response> {
    let (a, content) = state.read(|conn| {
        let a = get_and_check_attachment(conn, &id)?;
        if a.is_protected {
            return Err(EtapiError::attachment_protected(&id, "content cannot be read"));
        }
        let content = match &a.blob_id {
            Some(blob_id) => entities::load::<Blob>(conn, blob_id)?.map(|b| b.content).unwrap_or(BlobContent::Null),
            None => BlobContent::Null,
        };
        Ok((a, content))
    })?;
    Ok(content_response(content, &a.title, &a.role, &a.mime))
}

async fn put_content(
    State(state): State<EtapiState>,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> EtapiResult<StatusCode> {
    state.write(|tx| {
        let mut a = get_and_check_attachment(tx.conn(), &id)?;
        if a.is_protected {
            return Err(EtapiError::attachment_protected(&id, "cannot be modified"));
        }
        let content = attachment_content(&a.mime, body.to_vec());
        set_content(tx, &mut a, content)
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_attachment(State(state): State<EtapiState>, Path(id): Path<String>) -> EtapiResult<StatusCode> {
    state.write(|tx| {
        if let Some(a) = live_attachment(tx.conn(), &id)? {
            deletion::mark_attachment_deleted(tx, a, None)?;
        }
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}
