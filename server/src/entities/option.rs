//! `options` rows. Only rows with `isSynced = 1` take part in sync; the others still get
//! entity changes (with isSynced 0) so the local UI hears about them.

use rusqlite::types::Value;
use rusqlite::Row;
use serde::{Deserialize, Serialize};

use super::{bool_value, get_bool, int_bool, Entity};
use crate::hashing::entity_hash;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionRow {
    pub name: String,
    pub value: String,
    #[serde(with = "int_bool")]
    pub is_synced: bool,
    pub utc_date_modified: String,
}

impl Entity for OptionRow {
    const ENTITY_NAME: &'static str = "options";
    const PRIMARY_KEY: &'static str = "name";
    const COLUMNS: &'static [&'static str] = &["name", "value", "isSynced", "utcDateModified"];

    fn entity_id(&self) -> &str {
        &self.name
    }

    fn values(&self) -> Vec<Value> {
        vec![
            self.name.clone().into(),
            self.value.clone().into(),
            bool_value(self.is_synced),
            self.utc_date_modified.clone().into(),
        ]
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        // Trilium binds JS numbers, so some values are stored as REAL; read them as text.
        let value = match r.get_ref("value")? {
            rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
            rusqlite::types::ValueRef::Integer(i) => i.to_string(),
            rusqlite::types::ValueRef::Real(f) => format!("{f:?}"),
            rusqlite::types::ValueRef::Null => String::new(),
            rusqlite::types::ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
        };
        Ok(OptionRow {
            name: r.get("name")?,
            value,
            is_synced: get_bool(r, "isSynced")?,
            utc_date_modified: r.get("utcDateModified")?,
        })
    }

    /// hashedProperties: name, value.
    fn hash(&self) -> String {
        entity_hash(&[(&self.name).into(), (&self.value).into()], false)
    }

    fn utc_date_changed(&self) -> &str {
        &self.utc_date_modified
    }

    fn is_synced(&self) -> bool {
        self.is_synced
    }
}
