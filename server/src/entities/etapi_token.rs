//! `etapi_tokens` rows: hashed ETAPI tokens.

use rusqlite::types::Value;
use rusqlite::Row;
use serde::{Deserialize, Serialize};

use super::{bool_value, get_bool, int_bool, Entity};
use crate::hashing::{entity_hash, HashPart};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EtapiToken {
    pub etapi_token_id: String,
    pub name: String,
    pub token_hash: String,
    pub utc_date_created: String,
    pub utc_date_modified: String,
    #[serde(with = "int_bool", default)]
    pub is_deleted: bool,
}

impl EtapiToken {
    /// Every live token.
    pub fn live(conn: &rusqlite::Connection) -> crate::db::SqlResult<Vec<EtapiToken>> {
        super::load_where(conn, "isDeleted = 0", [])
    }
}

impl Entity for EtapiToken {
    const ENTITY_NAME: &'static str = "etapi_tokens";
    const PRIMARY_KEY: &'static str = "etapiTokenId";
    const COLUMNS: &'static [&'static str] =
        &["etapiTokenId", "name", "tokenHash", "utcDateCreated", "utcDateModified", "isDeleted"];

    fn entity_id(&self) -> &str {
        &self.etapi_token_id
    }

    fn values(&self) -> Vec<Value> {
        vec![
            self.etapi_token_id.clone().into(),
            self.name.clone().into(),
            self.token_hash.clone().into(),
            self.utc_date_created.clone().into(),
            self.utc_date_modified.clone().into(),
            bool_value(self.is_deleted),
        ]
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(EtapiToken {
            etapi_token_id: r.get("etapiTokenId")?,
            name: r.get("name")?,
            token_hash: r.get("tokenHash")?,
            utc_date_created: r.get("utcDateCreated")?,
            utc_date_modified: r.get("utcDateModified")?,
            is_deleted: get_bool(r, "isDeleted")?,
        })
    }

    /// hashedProperties: etapiTokenId, name, tokenHash, utcDateCreated, utcDateModified,
    /// isDeleted (and, like every entity, `|deleted` when deleted).
    fn hash(&self) -> String {
        entity_hash(
            &[
                (&self.etapi_token_id).into(),
                (&self.name).into(),
                (&self.token_hash).into(),
                (&self.utc_date_created).into(),
                (&self.utc_date_modified).into(),
                HashPart::Bool(self.is_deleted),
            ],
            self.is_deleted,
        )
    }

    fn utc_date_changed(&self) -> &str {
        &self.utc_date_modified
    }
}
