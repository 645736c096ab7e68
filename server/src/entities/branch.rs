//! `branches` rows: the placement of a note under a parent (`branchId` = `parent_child`).

use rusqlite::types::Value;
use rusqlite::Row;
use serde::{Deserialize, Serialize};

use super::{bool_value, get_bool, int_bool, opt_text, Entity};
use crate::hashing::entity_hash;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Branch {
    pub branch_id: String,
    pub note_id: String,
    pub parent_note_id: String,
    pub note_position: i64,
    pub prefix: Option<String>,
    #[serde(with = "int_bool", default)]
    pub is_expanded: bool,
    #[serde(with = "int_bool", default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub delete_id: Option<String>,
    pub utc_date_modified: String,
}

impl Branch {
    /// Trilium derives branch ids from the pair, so clones never duplicate across devices.
    pub fn id_for(parent_note_id: &str, note_id: &str) -> String {
        format!("{parent_note_id}_{note_id}")
    }
}

impl Entity for Branch {
    const ENTITY_NAME: &'static str = "branches";
    const PRIMARY_KEY: &'static str = "branchId";
    const COLUMNS: &'static [&'static str] = &[
        "branchId", "noteId", "parentNoteId", "notePosition", "prefix", "isExpanded", "isDeleted",
        "deleteId", "utcDateModified",
    ];

    fn entity_id(&self) -> &str {
        &self.branch_id
    }

    fn values(&self) -> Vec<Value> {
        vec![
            self.branch_id.clone().into(),
            self.note_id.clone().into(),
            self.parent_note_id.clone().into(),
            self.note_position.into(),
            opt_text(&self.prefix),
            bool_value(self.is_expanded),
            bool_value(self.is_deleted),
            opt_text(&self.delete_id),
            self.utc_date_modified.clone().into(),
        ]
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Branch {
            branch_id: r.get("branchId")?,
            note_id: r.get("noteId")?,
            parent_note_id: r.get("parentNoteId")?,
            note_position: r.get("notePosition")?,
            prefix: r.get("prefix")?,
            is_expanded: get_bool(r, "isExpanded")?,
            is_deleted: get_bool(r, "isDeleted")?,
            delete_id: r.get("deleteId")?,
            utc_date_modified: r.get("utcDateModified")?,
        })
    }

    /// hashedProperties: branchId, noteId, parentNoteId, prefix (not position/expanded).
    fn hash(&self) -> String {
        entity_hash(
            &[(&self.branch_id).into(), (&self.note_id).into(), (&self.parent_note_id).into(), (&self.prefix).into()],
            self.is_deleted,
        )
    }

    fn utc_date_changed(&self) -> &str {
        &self.utc_date_modified
    }
}
