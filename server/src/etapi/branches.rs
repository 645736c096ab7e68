//! Branches (a note's placement under a parent): create (or update the existing
//! placement), read, patch, delete, and `refresh-note-ordering`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::error::EtapiResult;
use super::validate::{self, bool_of, int_of, parse_object, str_of, Check::*, Rules};
use super::wire::BranchJson;
use super::{EtapiState, RawBody};
use crate::db::{entity_changes, tree};
use crate::domain::branches::{self, live_branch};
use crate::domain::notes::live_note;
use crate::domain::DomainError;
use crate::entities::{self, Branch};

pub fn routes() -> Router<EtapiState> {
    Router::new()
        .route("/branches", post(create_branch))
        .route("/branches/{branch_id}", get(get_branch).patch(patch_branch).delete(delete_branch))
        .route("/refresh-note-ordering/{parent_note_id}", post(refresh_note_ordering))
}

async fn get_branch(State(state): State<EtapiState>, Path(branch_id): Path<String>) -> EtapiResult<Json<BranchJson>> {
    let b = state.read(move |conn| Ok(live_branch(conn, &branch_id)?)).await?;
    Ok(Json(BranchJson::from(&b)))
}

const CREATE_RULES: Rules = &[
    ("noteId", &[Mandatory, NotNull, IsNoteId]),
    ("parentNoteId", &[Mandatory, NotNull, IsNoteId]),
    ("notePosition", &[NotNull, IsInteger]),
    ("prefix", &[IsString]),
    ("isExpanded", &[NotNull, IsBoolean]),
];

async fn create_branch(State(state): State<EtapiState>, RawBody(body): RawBody) -> EtapiResult<Response> {
    let body = parse_object(&body)?;
    let (created, branch) = state
        .write(move |tx| {
            validate::validate(tx.conn(), &body, CREATE_RULES)?;
            let note_id = str_of(&body, "noteId").unwrap_or_default();
            let parent_id = str_of(&body, "parentNoteId").unwrap_or_default();
            let existing = entities::load::<Branch>(tx.conn(), &Branch::id_for(&parent_id, &note_id))?.filter(|b| !b.is_deleted);
            let created = existing.is_none();
            let mut branch = match existing {
                Some(b) => b,
                None => branches::clone_note(tx, &note_id, &parent_id, None)?,
            };
            // Like Trilium, an existing placement takes over all three values (absent = default).
            branch.note_position = match int_of(&body, "notePosition") {
                Some(p) => p,
                None if created => branch.note_position,
                None => tree::next_child_position(tx.conn(), &parent_id)?,
            };
            branch.prefix = str_of(&body, "prefix");
            branch.is_expanded = bool_of(&body, "isExpanded").unwrap_or(false);
            tree::save_branch(tx, &mut branch)?;
            branches::sort_children_if_needed(tx, &branch.parent_note_id)?;
            Ok((created, live_branch(tx.conn(), &branch.branch_id)?))
        })
        .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(BranchJson::from(&branch))).into_response())
}

const PATCH_RULES: Rules =
    &[("notePosition", &[NotNull, IsInteger]), ("prefix", &[IsString]), ("isExpanded", &[NotNull, IsBoolean])];

async fn patch_branch(
    State(state): State<EtapiState>,
    Path(branch_id): Path<String>,
    RawBody(body): RawBody,
) -> EtapiResult<Json<BranchJson>> {
    let body = parse_object(&body)?;
    let branch = state
        .write(move |tx| {
            let mut branch = live_branch(tx.conn(), &branch_id)?;
            validate::validate(tx.conn(), &body, PATCH_RULES)?;
            if let Some(p) = int_of(&body, "notePosition") {
                branch.note_position = p;
            }
            if body.contains_key("prefix") {
                branch.prefix = str_of(&body, "prefix");
            }
            if let Some(e) = bool_of(&body, "isExpanded") {
                branch.is_expanded = e;
            }
            tree::save_branch(tx, &mut branch)?;
            branches::sort_children_if_needed(tx, &branch.parent_note_id)?;
            Ok(live_branch(tx.conn(), &branch.branch_id)?)
        })
        .await?;
    Ok(Json(BranchJson::from(&branch)))
}

async fn delete_branch(State(state): State<EtapiState>, Path(branch_id): Path<String>) -> EtapiResult<StatusCode> {
    state
        .write(move |tx| match branches::delete_branch(tx, &branch_id) {
            // Deleting what is gone already is no error.
            Ok(_) | Err(DomainError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn refresh_note_ordering(
    State(state): State<EtapiState>,
    Path(parent_note_id): Path<String>,
) -> EtapiResult<StatusCode> {
    state
        .write(move |tx| {
            live_note(tx.conn(), &parent_note_id)?;
            entity_changes::put_note_reordering(tx, &parent_note_id)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
