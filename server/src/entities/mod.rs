//! Trilium's entities as plain structs with Trilium's column names, and the single write
//! path: [`save`] upserts the row and replaces its `entity_changes` row in the same
//! transaction.

mod attachment;
mod attribute;
mod blob;
mod branch;
mod etapi_token;
mod note;
mod option;
mod recent_note;
mod revision;

pub use attachment::Attachment;
pub use attribute::Attribute;
pub use blob::{Blob, BlobContent};
pub use branch::Branch;
pub use etapi_token::EtapiToken;
pub use note::{Note, NOTE_TYPES};
pub use option::OptionRow;
pub use recent_note::RecentNote;
pub use revision::Revision;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row};

use crate::db::entity_changes::{self, NewChange};
use crate::db::{SqlResult, WriteTx};

/// A row of one of Trilium's synced tables.
pub trait Entity: Sized {
    /// Table name == `entity_changes.entityName`.
    const ENTITY_NAME: &'static str;
    const PRIMARY_KEY: &'static str;
    /// Columns written by [`save`]; the first is the primary key.
    const COLUMNS: &'static [&'static str];

    fn entity_id(&self) -> &str;
    /// Values in `COLUMNS` order.
    fn values(&self) -> Vec<Value>;
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;
    /// Trilium's entity hash for the row as it is now (incl. `|deleted`).
    fn hash(&self) -> String;
    /// `getUtcDateChanged()`: the date copied into `entity_changes.utcDateChanged`.
    fn utc_date_changed(&self) -> &str;
    fn is_synced(&self) -> bool {
        true
    }
}

/// Loads one row by primary key.
pub fn load<E: Entity>(conn: &Connection, id: &str) -> SqlResult<Option<E>> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {} = ?1",
        E::COLUMNS.join(", "),
        E::ENTITY_NAME,
        E::PRIMARY_KEY
    );
    Ok(conn.prepare_cached(&sql)?.query_row([id], E::from_row).optional()?)
}

/// Loads one row or fails with `NotFound`.
pub fn get<E: Entity>(conn: &Connection, id: &str) -> SqlResult<E> {
    load(conn, id)?.ok_or_else(|| crate::db::DbError::not_found(E::ENTITY_NAME, id))
}

/// Loads all rows matching a `WHERE` clause (trusted SQL, bound parameters).
pub fn load_where<E: Entity>(conn: &Connection, where_sql: &str, params: impl rusqlite::Params) -> SqlResult<Vec<E>> {
    let sql = format!("SELECT {} FROM {} WHERE {}", E::COLUMNS.join(", "), E::ENTITY_NAME, where_sql);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params, E::from_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Writes the row only (insert or update all columns); no entity change.
pub fn upsert_row<E: Entity>(conn: &Connection, e: &E) -> SqlResult<()> {
    let cols = E::COLUMNS;
    let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
    let updates: Vec<String> = cols[1..].iter().map(|c| format!("{c} = excluded.{c}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
        E::ENTITY_NAME,
        cols.join(", "),
        placeholders.join(", "),
        E::PRIMARY_KEY,
        updates.join(", ")
    );
    conn.prepare_cached(&sql)?.execute(rusqlite::params_from_iter(e.values()))?;
    Ok(())
}

/// The one write path: upsert the row and replace its entity change (new id, new
/// changeId, this transaction's componentId/instanceId, hash of the row, its change
/// date). Returns the entity change id.
pub fn save<E: Entity>(tx: &mut WriteTx<'_>, e: &E) -> SqlResult<i64> {
    save_hashed(tx, e, e.hash())
}

/// [`save`] with the hash given: a protected note or revision hashes its decrypted title, as
/// Trilium's does within a protected session, while the row holds the ciphertext.
pub fn save_hashed<E: Entity>(tx: &mut WriteTx<'_>, e: &E, hash: String) -> SqlResult<i64> {
    upsert_row(tx.conn(), e)?;
    entity_changes::put(
        tx,
        NewChange {
            entity_name: E::ENTITY_NAME,
            entity_id: e.entity_id(),
            hash,
            is_erased: false,
            is_synced: e.is_synced(),
            utc_date_changed: e.utc_date_changed().to_owned(),
        },
    )
}

pub(crate) fn bool_value(b: bool) -> Value {
    Value::Integer(b as i64)
}

pub(crate) fn opt_text(s: &Option<String>) -> Value {
    match s {
        Some(s) => Value::Text(s.clone()),
        None => Value::Null,
    }
}

pub(crate) fn get_bool(row: &Row<'_>, col: &str) -> rusqlite::Result<bool> {
    Ok(row.get::<_, Option<i64>>(col)?.unwrap_or(0) != 0)
}

/// Trilium's rows carry 0/1 integers on the wire; accept booleans too.
pub mod int_bool {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(*v as i64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum IntOrBool {
            I(i64),
            B(bool),
            N(()),
        }
        Ok(match IntOrBool::deserialize(d)? {
            IntOrBool::I(i) => i != 0,
            IntOrBool::B(b) => b,
            IntOrBool::N(_) => false,
        })
    }
}
