//! Attributes (labels and relations): create, read, patch, delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::Connection;

use super::error::{EtapiError, EtapiResult};
use super::graph::Graph;
use super::notes::get_and_check_note;
use super::validate::{self, bool_of, int_of, js_string, parse_object, str_of, Check::*, Rules};
use super::wire::AttributeJson;
use super::{EtapiState, RawBody};
use crate::db::WriteTx;
use crate::entities::{self, Attribute};
use crate::hashing;

pub fn routes() -> Router<EtapiState> {
    Router::new()
        .route("/attributes", post(create_attribute))
        .route("/attributes/{attribute_id}", get(get_attribute).patch(patch_attribute).delete(delete_attribute))
}

fn live_attribute(conn: &Connection, id: &str) -> EtapiResult<Option<Attribute>> {
    Ok(entities::load::<Attribute>(conn, id)?.filter(|a| !a.is_deleted))
}

fn get_and_check_attribute(conn: &Connection, id: &str) -> EtapiResult<Attribute> {
    live_attribute(conn, id)?.ok_or_else(|| EtapiError::attribute_not_found(id))
}

/// `sanitizeAttributeName`: anything but letters, digits, `_` and `:` becomes `_`.
pub fn sanitize_name(name: &str) -> String {
    name.chars().map(|c| if c.is_alphanumeric() || c == '_' || c == ':' { c } else { '_' }).collect()
}

/// `BAttribute.beforeSaving` + save: sanitized name, value never null, position after
/// the largest position among the note's (owned and inherited) attributes.
pub fn save_attribute(tx: &mut WriteTx<'_>, mut attr: Attribute, position: Option<i64>) -> EtapiResult<Attribute> {
    if attr.name.trim().is_empty() {
        return Err(EtapiError::generic(format!(
            "Invalid empty name in attribute '{}' of note '{}'",
            attr.attribute_id, attr.note_id
        )));
    }
    if attr.attr_type == "relation" {
        get_and_check_note(tx.conn(), &attr.value).map_err(|_| {
            EtapiError::generic(format!(
                "Cannot save relation '{}' of note '{}' since it targets not existing note '{}'.",
                attr.name, attr.note_id, attr.value
            ))
        })?;
    }
    attr.name = sanitize_name(&attr.name);
    attr.position = match position {
        Some(p) => p,
        None => {
            let mut g = Graph::new(tx.conn());
            g.attributes(&attr.note_id)?.iter().map(|a| a.position).fold(0, i64::max) + 10
        }
    };
    attr.utc_date_modified = tx.utc_now();
    entities::save(tx, &attr)?;
    Ok(attr)
}

async fn get_attribute(State(state): State<EtapiState>, Path(id): Path<String>) -> EtapiResult<Json<AttributeJson>> {
    let a = state.read(|conn| get_and_check_attribute(conn, &id))?;
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
    let attr = state.write(|tx| {
        if body.get("type").and_then(|t| t.as_str()) == Some("relation") {
            let target = body.get("value").map(js_string).unwrap_or_else(|| "undefined".into());
            get_and_check_note(tx.conn(), &target)?;
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
        save_attribute(tx, attr, int_of(&body, "position"))
    })?;
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
    let attr = state.write(|tx| {
        let mut attr = get_and_check_attribute(tx.conn(), &id)?;
        if attr.attr_type == "relation" {
            // Trilium checks the new target first; a relation's value cannot be patched.
            if let Some(v) = body.get("value") {
                get_and_check_note(tx.conn(), &js_string(v))?;
            }
            validate::validate(tx.conn(), &body, PATCH_RELATION_RULES)?;
        } else {
            validate::validate(tx.conn(), &body, PATCH_LABEL_RULES)?;
            if let Some(v) = str_of(&body, "value") {
                attr.value = v;
            }
        }
        let position = int_of(&body, "position").unwrap_or(attr.position);
        save_attribute(tx, attr, Some(position))
    })?;
    Ok(Json(AttributeJson::from(&attr)))
}

async fn delete_attribute(State(state): State<EtapiState>, Path(id): Path<String>) -> EtapiResult<StatusCode> {
    state.write(|tx| {
        if let Some(mut attr) = live_attribute(tx.conn(), &id)? {
            attr.is_deleted = true;
            attr.delete_id = None;
            attr.utc_date_modified = tx.utc_now();
            entities::save(tx, &attr)?;
        }
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}
