//! Recomputing entity hashes from the rows, to check that stored `entity_changes.hash`
//! values agree with the data (our own writes always must; Trilium's rows have known
//! exceptions, so for rows received from elsewhere the stored hash stays authoritative).

use rusqlite::Connection;

use super::entity_changes::{EntityChange, COLUMNS};
use super::SqlResult;
use crate::entities::{self, Attachment, Attribute, Blob, Branch, Entity, EtapiToken, Note, OptionRow, Revision};

/// The hash the current row would get, or `None` if the row does not exist or the
/// entity has no table (`note_reordering`).
pub fn recompute_hash(conn: &Connection, entity_name: &str, entity_id: &str) -> SqlResult<Option<String>> {
    Ok(recompute_change(conn, entity_name, entity_id)?.map(|(hash, _)| hash))
}

/// The hash and the change date (`utcDateChanged`) the current row would get, as [`recompute_hash`].
pub fn recompute_change(conn: &Connection, entity_name: &str, entity_id: &str) -> SqlResult<Option<(String, String)>> {
    fn h<E: Entity>(conn: &Connection, id: &str) -> SqlResult<Option<(String, String)>> {
        Ok(entities::load::<E>(conn, id)?.map(|e| (e.hash(), e.utc_date_changed().to_owned())))
    }
    match entity_name {
        "notes" => h::<Note>(conn, entity_id),
        "blobs" => h::<Blob>(conn, entity_id),
        "branches" => h::<Branch>(conn, entity_id),
        "attributes" => h::<Attribute>(conn, entity_id),
        "revisions" => h::<Revision>(conn, entity_id),
        "attachments" => h::<Attachment>(conn, entity_id),
        "options" => h::<OptionRow>(conn, entity_id),
        "etapi_tokens" => h::<EtapiToken>(conn, entity_id),
        _ => Ok(None),
    }
}

/// A stored change whose recomputed hash differs (or whose row is missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashMismatch {
    pub change: EntityChange,
    pub computed: Option<String>,
}

/// Every live (non-erased) entity change except `note_reordering` whose hash does not
/// equal the hash recomputed from its row.
pub fn hash_mismatches(conn: &Connection) -> SqlResult<Vec<HashMismatch>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM entity_changes WHERE isErased = 0 AND entityName != 'note_reordering' ORDER BY id"
    ))?;
    let changes: Vec<EntityChange> = stmt.query_map([], EntityChange::from_row)?.collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for change in changes {
        let computed = recompute_hash(conn, &change.entity_name, &change.entity_id)?;
        if computed.as_deref() != Some(change.hash.as_str()) {
            out.push(HashMismatch { change, computed });
        }
    }
    Ok(out)
}
