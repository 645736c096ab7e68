//! Notes: create, read, patch, delete, content, revisions, a note's attachments, and the
//! search endpoint `GET /notes` (the query language lives in [`super::search`]).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::content::content_response;
use super::error::{EtapiError, EtapiResult};
use super::graph::{self, note_json};
use super::validate::{self, bool_of, int_of, parse_object, str_of, Check::*, Rules};
use super::wire::{AttachmentJson, BranchJson, NoteJson, NoteWithBranch};
use super::{search, EtapiState, RawBody};
use crate::db::revisions;
use crate::domain::notes::{self as domain_notes, content_for, live_note, CreateNote, NoteChanges, Position};
use crate::domain::DomainError;
use crate::entities::{self, Attachment};

pub fn routes() -> Router<EtapiState> {
    Router::new()
        .route("/create-note", post(create_note))
        .route("/notes", get(search_notes))
        .route("/notes/{note_id}", get(get_note).patch(patch_note).delete(delete_note))
        .route("/notes/{note_id}/content", get(get_content).put(put_content))
        .route("/notes/{note_id}/revision", post(create_revision))
        .route("/notes/{note_id}/attachments", get(list_attachments))
}

const CREATE_RULES: Rules = &[
    ("parentNoteId", &[Mandatory, NotNull, IsNoteId]),
    ("title", &[NotNull, IsString]),
    ("type", &[Mandatory, NotNull, IsNoteType]),
    ("mime", &[NotNull, IsString]),
    ("content", &[Mandatory, NotNull, IsString]),
    ("notePosition", &[NotNull, IsInteger]),
    ("prefix", &[NotNull, IsString]),
    ("isExpanded", &[NotNull, IsBoolean]),
    ("noteId", &[NotNull, IsValidEntityId]),
    ("dateCreated", &[NotNull, IsString, IsLocalDateTime]),
    ("utcDateCreated", &[NotNull, IsString, IsUtcDateTime]),
];

async fn create_note(State(state): State<EtapiState>, RawBody(body): RawBody) -> EtapiResult<Response> {
    let body = parse_object(&body)?;
    let created = state
        .write(move |tx| {
            validate::validate(tx.conn(), &body, CREATE_RULES)?;
            let note_type = str_of(&body, "type").unwrap_or_default();
            let mime = str_of(&body, "mime")
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| entities::Note::default_mime(&note_type).to_owned());
            let content = str_of(&body, "content").unwrap_or_default();
            let (mut note, mut branch) = domain_notes::create_note(
                tx,
                CreateNote {
                    parent_note_id: str_of(&body, "parentNoteId").unwrap_or_default(),
                    title: str_of(&body, "title").unwrap_or_else(|| "new note".to_owned()),
                    content: content_for(&note_type, &mime, content.into_bytes()),
                    note_type,
                    mime: Some(mime),
                    note_id: str_of(&body, "noteId"),
                    prefix: str_of(&body, "prefix"),
                    position: int_of(&body, "notePosition").map_or(Position::Last, Position::Index),
                },
                // ETAPI has no protected session: its notes are never protected (as in Trilium).
                None,
            )?;
            let date_created = str_of(&body, "dateCreated").filter(|s| !s.is_empty());
            let utc_date_created = str_of(&body, "utcDateCreated").filter(|s| !s.is_empty());
            if date_created.is_some() || utc_date_created.is_some() {
                note.date_created = date_created.unwrap_or(note.date_created);
                note.utc_date_created = utc_date_created.unwrap_or(note.utc_date_created);
                entities::save(tx, &note)?;
            }
            if bool_of(&body, "isExpanded") == Some(true) {
                branch.is_expanded = true;
                entities::save(tx, &branch)?;
            }
            Ok(NoteWithBranch { note: note_json(tx.conn(), &note.note_id)?, branch: BranchJson::from(&branch) })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn get_note(State(state): State<EtapiState>, Path(note_id): Path<String>) -> EtapiResult<Json<NoteJson>> {
    Ok(Json(state.read(move |conn| note_json(conn, &note_id)).await?))
}

const PATCH_RULES: Rules = &[
    ("title", &[NotNull, IsString]),
    ("type", &[NotNull, IsString]),
    ("mime", &[NotNull, IsString]),
    ("dateCreated", &[NotNull, IsString, IsLocalDateTime]),
    ("utcDateCreated", &[NotNull, IsString, IsUtcDateTime]),
];

async fn patch_note(
    State(state): State<EtapiState>,
    Path(note_id): Path<String>,
    RawBody(body): RawBody,
) -> EtapiResult<Json<NoteJson>> {
    let body = parse_object(&body)?;
    let json = state
        .write(move |tx| {
            let note = live_note(tx.conn(), &note_id)?;
            if note.is_protected {
                return Err(EtapiError::note_protected(&note_id, "cannot be modified"));
            }
            validate::validate(tx.conn(), &body, PATCH_RULES)?;
            let changes = NoteChanges {
                title: str_of(&body, "title"),
                note_type: str_of(&body, "type"),
                mime: str_of(&body, "mime"),
                date_created: str_of(&body, "dateCreated").filter(|s| !s.is_empty()),
                utc_date_created: str_of(&body, "utcDateCreated").filter(|s| !s.is_empty()),
            };
            domain_notes::update_properties(tx, &note_id, changes)?;
            note_json(tx.conn(), &note_id)
        })
        .await?;
    Ok(Json(json))
}

async fn delete_note(State(state): State<EtapiState>, Path(note_id): Path<String>) -> EtapiResult<StatusCode> {
    state
        .write(move |tx| match domain_notes::delete_note(tx, &note_id, None) {
            // Deleting what is gone already is no error.
            Ok(_) | Err(DomainError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_content(State(state): State<EtapiState>, Path(note_id): Path<String>) -> EtapiResult<Response> {
    let (note, content) = state
        .read(move |conn| {
            let note = live_note(conn, &note_id)?;
            if note.is_protected {
                return Err(EtapiError::note_protected(&note_id, "content cannot be read"));
            }
            let content = domain_notes::content(conn, &note_id, None)?;
            Ok((note, content))
        })
        .await?;
    Ok(content_response(content, &note.title, &note.note_type, &note.mime))
}

async fn put_content(
    State(state): State<EtapiState>,
    Path(note_id): Path<String>,
    RawBody(body): RawBody,
) -> EtapiResult<StatusCode> {
    state
        .write(move |tx| {
            let note = live_note(tx.conn(), &note_id)?;
            if note.is_protected {
                return Err(EtapiError::note_protected(&note_id, "cannot be modified"));
            }
            domain_notes::set_content(tx, &note_id, content_for(&note.note_type, &note.mime, body.to_vec()), None)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_revision(State(state): State<EtapiState>, Path(note_id): Path<String>) -> EtapiResult<StatusCode> {
    state
        .write(move |tx| {
            let note = live_note(tx.conn(), &note_id)?;
            revisions::save_revision(tx, &note)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_attachments(
    State(state): State<EtapiState>,
    Path(note_id): Path<String>,
) -> EtapiResult<Json<Vec<AttachmentJson>>> {
    let list = state
        .read(move |conn| {
            live_note(conn, &note_id)?;
            let rows: Vec<Attachment> = crate::db::attachments::list(conn, &note_id)?;
            rows.iter()
                .map(|a| Ok(AttachmentJson::read(a, crate::db::attachments::content_length(conn, a)?)))
                .collect::<EtapiResult<Vec<_>>>()
        })
        .await?;
    Ok(Json(list))
}

async fn search_notes(
    State(state): State<EtapiState>,
    Query(params): Query<Vec<(String, String)>>,
) -> EtapiResult<Json<super::wire::SearchResponse>> {
    let params = search::params_from_query(&params)?;
    let debug_info = params.debug.then(|| search::debug_info(&params));
    let index = state.search.clone();
    let results = state
        .read(move |conn| {
            let (mut g, ids) = crate::domain::search::run_narrowed(conn, &params, &index)?;
            ids.iter()
                .map(|id| {
                    let note = g.note(id)?.ok_or_else(|| EtapiError::note_not_found(id))?;
                    graph::map_note(&mut g, &note)
                })
                .collect::<EtapiResult<Vec<_>>>()
        })
        .await?;
    Ok(Json(super::wire::SearchResponse { results, debug_info }))
}
