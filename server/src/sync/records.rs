//! Turning `entity_changes` rows into wire records and wire records back into rows.
//!
//! Rows travel as JSON objects keyed by column name (`SELECT *`), so every column Trilium has,
//! including ones Canopy does not model, passes through unchanged. Blob content is base64.
use base64::Engine as _;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params_from_iter, Connection};
use serde_json::{Map, Value as Json};

use super::wire::EntityChangeRecord;
use crate::db::{DbError, EntityChange, SqlResult};

pub use crate::db::schema::SYNCED_TABLES;

pub const NOTE_REORDERING: &str = "note_reordering";

/// Rough byte budget per batch, as Trilium's ~1 MB; one bigger record still goes alone.
pub const BATCH_BYTES: usize = 1_000_000;
pub const BATCH_ROWS: usize = 1000;

pub fn primary_key(entity_name: &str) -> Option<&'static str> {
    SYNCED_TABLES.iter().find(|(t, _)| *t == entity_name).map(|(_, pk)| *pk)
}

/// The record for one change: the row as it is now (`None` if it is gone without a tombstone).
pub fn record_for(conn: &Connection, ec: &EntityChange) -> SqlResult<Option<EntityChangeRecord>> {
    let entity = if ec.is_erased {
        None
    } else if ec.entity_name == NOTE_REORDERING {
        Some(note_positions(conn, &ec.entity_id)?)
    } else {
        match load_row(conn, &ec.entity_name, &ec.entity_id)? {
            Some(row) => Some(row),
            None => return Ok(None),
        }
    };
    Ok(Some(EntityChangeRecord { entity_change: ec.clone(), entity, canopy_parent_hash: None }))
}

/// `{branchId: notePosition}` of the live children, read now (Trilium sends the current order too).
fn note_positions(conn: &Connection, parent_note_id: &str) -> SqlResult<Json> {
    let mut stmt =
        conn.prepare_cached("SELECT branchId, notePosition FROM branches WHERE parentNoteId = ?1 AND isDeleted = 0")?;
    let mut map = Map::new();
    let rows = stmt.query_map([parent_note_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (branch_id, position) = row?;
        map.insert(branch_id, Json::from(position));
    }
    Ok(Json::Object(map))
}

fn load_row(conn: &Connection, table: &str, id: &str) -> SqlResult<Option<Json>> {
    let pk = primary_key(table).ok_or_else(|| DbError::Invalid(format!("'{table}' is not a synced entity")))?;
    let mut stmt = conn.prepare_cached(&format!("SELECT * FROM {table} WHERE {pk} = ?1"))?;
    let names: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let mut rows = stmt.query([id])?;
    let Some(row) = rows.next()? else { return Ok(None) };
    let mut map = Map::new();
    for (i, name) in names.iter().enumerate() {
        let value = match row.get_ref(i)? {
            ValueRef::Null => Json::Null,
            ValueRef::Integer(n) => Json::from(n),
            ValueRef::Real(f) => Json::from(f),
            ValueRef::Text(t) if table == "blobs" && name == "content" => {
                Json::from(base64::engine::general_purpose::STANDARD.encode(t))
            }
            ValueRef::Text(t) => Json::from(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Json::from(base64::engine::general_purpose::STANDARD.encode(b)),
        };
        map.insert(name.clone(), value);
    }
    Ok(Some(Json::Object(map)))
}

/// Column names per table, looked up once per batch rather than once per row.
#[derive(Default)]
pub struct TableColumns(std::collections::HashMap<String, Vec<String>>);

impl TableColumns {
    fn get(&mut self, conn: &Connection, table: &str) -> SqlResult<&[String]> {
        if !self.0.contains_key(table) {
            let names = table_columns(conn, table)?;
            self.0.insert(table.to_owned(), names);
        }
        Ok(&self.0[table])
    }
}

/// Writes a received row as it is (`INSERT OR REPLACE` of the columns the table has).
pub fn store_row(conn: &Connection, table: &str, row: &Json) -> SqlResult<()> {
    store_row_with(conn, &mut TableColumns::default(), table, row)
}

pub fn store_row_with(conn: &Connection, columns: &mut TableColumns, table: &str, row: &Json) -> SqlResult<()> {
    let pk = primary_key(table).ok_or_else(|| DbError::Invalid(format!("'{table}' is not a synced entity")))?;
    let object = row.as_object().ok_or_else(|| DbError::Invalid(format!("{table} row is not a JSON object")))?;
    if !matches!(object.get(pk), Some(Json::String(_))) {
        return Err(DbError::Invalid(format!("{table} row has no {pk}")));
    }
    let columns = columns.get(conn, table)?;
    let mut names = Vec::new();
    let mut values = Vec::new();
    for (name, value) in object {
        if !columns.iter().any(|c| c == name) {
            continue; // a column a newer peer has and this schema does not
        }
        names.push(name.as_str());
        values.push(sql_value(table, name, value)?);
    }
    let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let sql = format!("INSERT OR REPLACE INTO {table} ({}) VALUES ({})", names.join(", "), placeholders.join(", "));
    match conn.prepare_cached(&sql)?.execute(params_from_iter(values)) {
        // A row the schema refuses (a NOT NULL column missing or null) is the sender's fault, and the
        // transaction it is in is rolled back: the peer is told what, nothing is stored.
        Err(rusqlite::Error::SqliteFailure(e, message)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
            let id = object.get(pk).and_then(Json::as_str).unwrap_or_default();
            Err(DbError::Invalid(format!("the {table} row {id} cannot be stored: {}", message.unwrap_or_else(|| e.to_string()))))
        }
        other => other.map(|_| ()).map_err(Into::into),
    }
}

pub fn delete_row(conn: &Connection, table: &str, id: &str) -> SqlResult<()> {
    let pk = primary_key(table).ok_or_else(|| DbError::Invalid(format!("'{table}' is not a synced entity")))?;
    conn.prepare_cached(&format!("DELETE FROM {table} WHERE {pk} = ?1"))?.execute([id])?;
    Ok(())
}

fn table_columns(conn: &Connection, table: &str) -> SqlResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
    let names = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

fn sql_value(table: &str, column: &str, value: &Json) -> SqlResult<Value> {
    Ok(match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Integer(*b as i64),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or_default()),
        },
        Json::String(s) if table == "blobs" && column == "content" => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| DbError::Invalid(format!("blob content is not base64: {e}")))?;
            // Text stays TEXT (readable, searchable); anything else is a BLOB. Hashes use the bytes either way.
            match String::from_utf8(bytes) {
                Ok(text) => Value::Text(text),
                Err(e) => Value::Blob(e.into_bytes()),
            }
        }
        Json::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    })
}

/// The changes after `after_id` that a peer should get, as records, at most [`BATCH_ROWS`] rows and
/// about [`BATCH_BYTES`]. `skip_instance` drops the peer's own changes (echo suppression). A note's
/// record is preceded by its blob's ([`content_to_send_along`]), whatever that change's id or instance.
/// Returns the records and the id of the last change looked at.
pub fn batch_after(
    conn: &Connection,
    after_id: i64,
    skip_instance: &str,
) -> SqlResult<(Vec<EntityChangeRecord>, i64)> {
    let mut cursor = after_id;
    loop {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {} FROM entity_changes WHERE isSynced = 1 AND id > ?1 ORDER BY id LIMIT {BATCH_ROWS}",
            crate::db::entity_changes::COLUMNS
        ))?;
        let changes = stmt.query_map([cursor], EntityChange::from_row)?.collect::<Result<Vec<_>, _>>()?;
        if changes.is_empty() {
            return Ok((Vec::new(), cursor));
        }
        let mut records = Vec::new();
        let mut bytes = 0usize;
        let mut blobs_sent = std::collections::HashSet::new();
        for ec in &changes {
            let id = ec.id.unwrap_or(cursor);
            if bytes >= BATCH_BYTES {
                break;
            }
            cursor = id;
            if ec.instance_id == skip_instance || (ec.entity_name == "blobs" && blobs_sent.contains(&ec.entity_id)) {
                continue;
            }
            match record_for(conn, ec)? {
                Some(record) => {
                    if let Some(blob) = content_to_send_along(conn, &record, &mut blobs_sent)? {
                        bytes += blob.entity.as_ref().map_or(0, approximate_size) + 200;
                        records.push(blob);
                    }
                    bytes += record.entity.as_ref().map_or(0, approximate_size) + 200;
                    records.push(record);
                }
                None => tracing::warn!(
                    "entity change {} of {} {} has no row; not sent (the hash check will show it)",
                    id,
                    ec.entity_name,
                    ec.entity_id
                ),
            }
        }
        if !records.is_empty() {
            return Ok((records, cursor));
        }
    }
}

/// A note version goes with its content, even when the content's own change was sent long ago or
/// came from the peer: the peer may have erased that blob since (it overwrote the content itself,
/// while this side only renamed the note, say), and if this version loses a conflict there, its
/// content is what the revision keeping it needs. Once per blob and batch; `sent` tracks them.
fn content_to_send_along(
    conn: &Connection,
    record: &EntityChangeRecord,
    sent: &mut std::collections::HashSet<String>,
) -> SqlResult<Option<EntityChangeRecord>> {
    let change = &record.entity_change;
    if change.entity_name == "blobs" {
        sent.insert(change.entity_id.clone());
        return Ok(None);
    }
    if change.entity_name != "notes" {
        return Ok(None);
    }
    let Some(blob_id) = record.entity.as_ref().and_then(|row| row.get("blobId")).and_then(Json::as_str) else {
        return Ok(None);
    };
    if !sent.insert(blob_id.to_owned()) {
        return Ok(None);
    }
    match crate::db::entity_changes::get(conn, "blobs", blob_id)? {
        Some(blob_change) if blob_change.is_synced && !blob_change.is_erased => record_for(conn, &blob_change),
        _ => Ok(None),
    }
}

fn approximate_size(value: &Json) -> usize {
    match value {
        Json::String(s) => s.len() + 2,
        Json::Object(map) => map.iter().map(|(k, v)| k.len() + 4 + approximate_size(v)).sum(),
        Json::Array(items) => items.iter().map(approximate_size).sum(),
        _ => 8,
    }
}
