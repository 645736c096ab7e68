//! `attributes` rows: labels and relations (a relation's `value` is the target noteId).

use rusqlite::types::Value;
use rusqlite::Row;
use serde::{Deserialize, Serialize};

use super::{bool_value, get_bool, int_bool, opt_text, Entity};
use crate::hashing::{entity_hash, HashPart};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub attribute_id: String,
    pub note_id: String,
    /// `label` or `relation`
    #[serde(rename = "type")]
    pub attr_type: String,
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub position: i64,
    pub utc_date_modified: String,
    #[serde(with = "int_bool", default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub delete_id: Option<String>,
    #[serde(with = "int_bool", default)]
    pub is_inheritable: bool,
}

impl Attribute {
    /// A new attribute with a fresh id, not yet saved; its position and date are the saver's to set.
    pub fn new(note_id: &str, attr_type: &str, name: &str, value: &str) -> Self {
        Attribute {
            attribute_id: crate::hashing::new_entity_id(),
            note_id: note_id.to_owned(),
            attr_type: attr_type.to_owned(),
            name: name.to_owned(),
            value: value.to_owned(),
            position: 0,
            utc_date_modified: String::new(),
            is_deleted: false,
            delete_id: None,
            is_inheritable: false,
        }
    }
}

impl Entity for Attribute {
    const ENTITY_NAME: &'static str = "attributes";
    const PRIMARY_KEY: &'static str = "attributeId";
    const COLUMNS: &'static [&'static str] = &[
        "attributeId", "noteId", "type", "name", "value", "position", "utcDateModified", "isDeleted",
        "deleteId", "isInheritable",
    ];

    fn entity_id(&self) -> &str {
        &self.attribute_id
    }

    fn values(&self) -> Vec<Value> {
        vec![
            self.attribute_id.clone().into(),
            self.note_id.clone().into(),
            self.attr_type.clone().into(),
            self.name.clone().into(),
            self.value.clone().into(),
            self.position.into(),
            self.utc_date_modified.clone().into(),
            bool_value(self.is_deleted),
            opt_text(&self.delete_id),
            bool_value(self.is_inheritable),
        ]
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Attribute {
            attribute_id: r.get("attributeId")?,
            note_id: r.get("noteId")?,
            attr_type: r.get("type")?,
            name: r.get("name")?,
            value: r.get::<_, Option<String>>("value")?.unwrap_or_default(),
            position: r.get("position")?,
            utc_date_modified: r.get("utcDateModified")?,
            is_deleted: get_bool(r, "isDeleted")?,
            delete_id: r.get("deleteId")?,
            is_inheritable: get_bool(r, "isInheritable")?,
        })
    }

    /// hashedProperties: attributeId, noteId, type, name, value, isInheritable (not position).
    fn hash(&self) -> String {
        entity_hash(
            &[
                (&self.attribute_id).into(),
                (&self.note_id).into(),
                (&self.attr_type).into(),
                (&self.name).into(),
                (&self.value).into(),
                HashPart::Bool(self.is_inheritable),
            ],
            self.is_deleted,
        )
    }

    fn utc_date_changed(&self) -> &str {
        &self.utc_date_modified
    }
}
