//! Attributes (labels and relations): create, read, patch, delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::error::EtapiResult;
use super::validate::{self, bool_of, int_of, js_string, parse_object, str_of, Check::*, Rules};
use super::wire::AttributeJson;
use super::{EtapiState, RawBody};
use crate::domain::attributes::{self, live_attribute};
use crate::domain::notes::live_note;
use crate::domain::DomainError;
use crate::entities::Attribute;
use crate::hashing;

pub fn routes() -> Router<EtapiState> {
    Router::new()
        .route("/attributes", post(create_attribute))
        .route("/attributes/{attribute_id}", get(get_attribute).patch(patch_attribute).delete(delete_attribute))
}

async fn get_attribute(State(state): State<EtapiState>, Path(id): Path<String>) -> EtapiResult<Json<AttributeJson>> {
    let a = state.read(move |conn| Ok(live_attribute(conn, &id)?)).await?;
    Ok(Json(AttributeJson::from(&a)))
}

const CREATE_RULES: Rules = &[
    ("attributeId", &[NotNull, IsValidEntityId]),
    ("noteId", &[Mandatory, NotNull, IsNoteId]),
    ("type", &[Mandatory, NotNull, IsAttributeType]),
    ("name", &[Mandatory, NotNull, IsString]),
    ("value", &[NotNull, IsString]),
    ("isInheritable", &[NotNull, IsBoolean]),
    ("position", &[NotNull, IsInteger]),
];

async fn create_attribute(State(state): State<EtapiState>, RawBody(body): RawBody) -> EtapiResult<Response> {
    let body = parse_object(&body)?;
    let attr = state
        .write(move |tx| {
            if body.get("type").and_then(|t| t.as_str()) == Some("relation") {
                let target = body.get("value").map(js_string).unwrap_or_else(|| "undefined".into());
                live_note(tx.conn(), &target)?;
            }
            validate::validate(tx.conn(), &body, CREATE_RULES)?;
            let attr = Attribute {
                attribute_id: str_of(&body, "attributeId").unwrap_or_else(hashing::new_entity_id),
                note_id: str_of(&body, "noteId").unwrap_or_default(),
                attr_type: str_of(&body, "type").unwrap_or_default(),
                name: str_of(&body, "name").unwrap_or_default(),
                value: str_of(&body, "value").unwrap_or_default(),
                position: 0,
                utc_date_modified: String::new(),
                is_deleted: false,
                delete_id: None,
                is_inheritable: bool_of(&body, "isInheritable").unwrap_or(false),
            };
            Ok(attributes::save(tx, attr, int_of(&body, "position"))?)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(AttributeJson::from(&attr))).into_response())
}

const PATCH_LABEL_RULES: Rules = &[("value", &[NotNull, IsString]), ("position", &[NotNull, IsInteger])];
const PATCH_RELATION_RULES: Rules = &[("position", &[NotNull, IsInteger])];

async fn patch_attribute(
    State(state): State<EtapiState>,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> EtapiResult<Json<AttributeJson>> {
    let body = parse_object(&body)?;
    let attr = state
        .write(move |tx| {
            let mut attr = live_attribute(tx.conn(), &id)?;
            if attr.attr_type == "relation" {
                // Trilium checks the new target first; a relation's value cannot be patched.
                if let Some(v) = body.get("value") {
                    live_note(tx.conn(), &js_string(v))?;
                }
                validate::validate(tx.conn(), &body, PATCH_RELATION_RULES)?;
            } else {
                validate::validate(tx.conn(), &body, PATCH_LABEL_RULES)?;
                if let Some(v) = str_of(&body, "value") {
                    attr.value = v;
                }
            }
            let position = int_of(&body, "position").unwrap_or(attr.position);
            Ok(attributes::save(tx, attr, Some(position))?)
        })
        .await?;
    Ok(Json(AttributeJson::from(&attr)))
}

async fn delete_attribute(State(state): State<EtapiState>, Path(id): Path<String>) -> EtapiResult<StatusCode> {
    state
        .write(move |tx| match attributes::delete(tx, &id) {
            // Deleting what is gone already is no error.
            Ok(()) | Err(DomainError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
