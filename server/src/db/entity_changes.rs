//! The `entity_changes` table: at most one row per entity, always its latest change.
//!
//! Writing uses `INSERT OR REPLACE`, so the unique (entityName, entityId) index drops
//! the old row and AUTOINCREMENT hands out a new, larger id: the id is the local sync
//! cursor, not a history.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{SqlResult, WriteTx};
use crate::hashing;

/// One `entity_changes` row (Trilium's column names on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityChange {
    pub id: Option<i64>,
    pub entity_name: String,
    pub entity_id: String,
    pub hash: String,
    #[serde(with = "crate::entities::int_bool")]
    pub is_erased: bool,
    pub change_id: String,
    pub component_id: String,
    pub instance_id: String,
    #[serde(with = "crate::entities::int_bool")]
    pub is_synced: bool,
    pub utc_date_changed: String,
}

pub const COLUMNS: &str =
    "id, entityName, entityId, hash, isErased, changeId, componentId, instanceId, isSynced, utcDateChanged";

impl EntityChange {
    pub fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(EntityChange {
            id: r.get("id")?,
            entity_name: r.get("entityName")?,
            entity_id: r.get("entityId")?,
            hash: r.get("hash")?,
            is_erased: r.get::<_, i64>("isErased")? != 0,
            change_id: r.get("changeId")?,
            component_id: r.get("componentId")?,
            instance_id: r.get("instanceId")?,
            is_synced: r.get::<_, i64>("isSynced")? != 0,
            utc_date_changed: r.get("utcDateChanged")?,
        })
    }
}

/// What a local write knows about its change; the rest is stamped by [`put`].
#[derive(Debug, Clone)]
pub struct NewChange<'a> {
    pub entity_name: &'a str,
    pub entity_id: &'a str,
    pub hash: String,
    pub is_erased: bool,
    pub is_synced: bool,
    pub utc_date_changed: String,
}

/// `putEntityChange` for a local change: new changeId, this transaction's componentId
/// and instanceId. Returns the new row id.
pub fn put(tx: &mut WriteTx<'_>, c: NewChange<'_>) -> SqlResult<i64> {
    let ec = EntityChange {
        id: None,
        entity_name: c.entity_name.to_owned(),
        entity_id: c.entity_id.to_owned(),
        hash: c.hash,
        is_erased: c.is_erased,
        change_id: hashing::random_string(12),
        component_id: tx.source().component_id.clone(),
        instance_id: tx.source().instance_id.0.clone(),
        is_synced: c.is_synced,
        utc_date_changed: c.utc_date_changed,
    };
    put_raw(tx, &ec)
}

/// Writes an entity change exactly as given (sync applies remote changes this way,
/// keeping their changeId); `id` is ignored and reassigned.
pub fn put_raw(tx: &mut WriteTx<'_>, ec: &EntityChange) -> SqlResult<i64> {
    tx.conn().prepare_cached(
        "INSERT OR REPLACE INTO entity_changes
           (entityName, entityId, hash, isErased, changeId, componentId, instanceId, isSynced, utcDateChanged)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
            ec.entity_name,
            ec.entity_id,
            ec.hash,
            ec.is_erased as i64,
            ec.change_id,
            ec.component_id,
            ec.instance_id,
            ec.is_synced as i64,
            ec.utc_date_changed
        ],
    )?;
    let id = tx.conn().last_insert_rowid();
    tx.record_written(id);
    Ok(id)
}

/// `putEntityChangeWithForcedChange` / `putEntityChangeForOtherInstances`: re-stamp an
/// existing change with a new id and changeId (and this instance), same hash and date
/// unless changed by the caller.
pub fn restamp(tx: &mut WriteTx<'_>, mut ec: EntityChange) -> SqlResult<i64> {
    ec.change_id = hashing::random_string(12);
    ec.instance_id = tx.source().instance_id.0.clone();
    if ec.component_id.is_empty() {
        ec.component_id = tx.source().component_id.clone();
    }
    put_raw(tx, &ec)
}

/// The virtual `note_reordering` change: children of `parent_note_id` were re-positioned
/// with plain SQL; the payload is read at send time, the hash is the literal `N/A`.
pub fn put_note_reordering(tx: &mut WriteTx<'_>, parent_note_id: &str) -> SqlResult<i64> {
    let now = tx.utc_now();
    put(
        tx,
        NewChange {
            entity_name: "note_reordering",
            entity_id: parent_note_id,
            hash: "N/A".into(),
            is_erased: false,
            is_synced: true,
            utc_date_changed: now,
        },
    )
}

/// Marks the changes of erased rows: `isErased=1`, `utcDateChanged=now`, new changeId,
/// hash unchanged (as Trilium does).
pub fn mark_erased(tx: &mut WriteTx<'_>, entity_name: &str, entity_id: &str) -> SqlResult<()> {
    if let Some(mut ec) = get(tx.conn(), entity_name, entity_id)? {
        ec.is_erased = true;
        ec.utc_date_changed = tx.utc_now();
        restamp(tx, ec)?;
    }
    Ok(())
}

pub fn get(conn: &Connection, entity_name: &str, entity_id: &str) -> SqlResult<Option<EntityChange>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM entity_changes WHERE entityName = ?1 AND entityId = ?2"))?
        .query_row(params![entity_name, entity_id], EntityChange::from_row)
        .optional()?)
}

pub fn get_by_id(conn: &Connection, id: i64) -> SqlResult<Option<EntityChange>> {
    Ok(conn
        .query_row(&format!("SELECT {COLUMNS} FROM entity_changes WHERE id = ?1"), [id], EntityChange::from_row)
        .optional()?)
}

pub fn max_id(conn: &Connection) -> SqlResult<i64> {
    Ok(conn.query_row("SELECT COALESCE(MAX(id), 0) FROM entity_changes", [], |r| r.get(0))?)
}

/// Sector hashes (`content_hash.getEntityHashes`, without the preceding unused-blob
/// purge, which is [`super::deletion::erase_unused_blobs`]): per entityName, per first
/// character of entityId, over synced rows except `note_reordering`, sorted by entityId
/// in UTF-16 code-unit order.
pub fn sector_hashes(conn: &Connection) -> SqlResult<BTreeMap<String, BTreeMap<String, String>>> {
    let mut stmt = conn.prepare(
        "SELECT entityName, entityId, hash, isErased FROM entity_changes
         WHERE isSynced = 1 AND entityName != 'note_reordering'",
    )?;
    let mut rows: Vec<(String, String, String, bool)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? != 0)))?
        .collect::<Result<_, _>>()?;
    rows.sort_by(|a, b| a.1.encode_utf16().cmp(b.1.encode_utf16()));

    let mut grouped: BTreeMap<String, BTreeMap<String, Vec<(String, bool)>>> = BTreeMap::new();
    for (name, id, hash, erased) in rows {
        // JS `entityId[0]` is one UTF-16 code unit; ids are ASCII in practice.
        let sector = id.chars().next().map(String::from).unwrap_or_default();
        grouped.entry(name).or_default().entry(sector).or_default().push((hash, erased));
    }
    Ok(grouped
        .into_iter()
        .map(|(name, sectors)| {
            let hashed = sectors
                .into_iter()
                .map(|(s, rows)| (s, hashing::sector_hash(rows.iter().map(|(h, e)| (h.as_str(), *e)))))
                .collect();
            (name, hashed)
        })
        .collect())
}
