//! `revisions` rows: snapshots of a note's title and content. Never soft-deleted, only erased.

use rusqlite::types::Value;
use rusqlite::Row;
use serde::{Deserialize, Serialize};

use super::{bool_value, get_bool, int_bool, opt_text, Entity};
use crate::hashing::{entity_hash, HashPart};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    pub revision_id: String,
    pub note_id: String,
    #[serde(rename = "type")]
    pub note_type: String,
    pub mime: String,
    pub title: String,
    #[serde(with = "int_bool")]
    pub is_protected: bool,
    pub blob_id: Option<String>,
    pub utc_date_last_edited: String,
    pub utc_date_created: String,
    pub utc_date_modified: String,
    pub date_last_edited: String,
    pub date_created: String,
}

impl Entity for Revision {
    const ENTITY_NAME: &'static str = "revisions";
    const PRIMARY_KEY: &'static str = "revisionId";
    const COLUMNS: &'static [&'static str] = &[
        "revisionId", "noteId", "type", "mime", "title", "isProtected", "blobId", "utcDateLastEdited",
        "utcDateCreated", "utcDateModified", "dateLastEdited", "dateCreated",
    ];

    fn entity_id(&self) -> &str {
        &self.revision_id
    }

    fn values(&self) -> Vec<Value> {
        vec![
            self.revision_id.clone().into(),
            self.note_id.clone().into(),
            self.note_type.clone().into(),
            self.mime.clone().into(),
            self.title.clone().into(),
            bool_value(self.is_protected),
            opt_text(&self.blob_id),
            self.utc_date_last_edited.clone().into(),
            self.utc_date_created.clone().into(),
            self.utc_date_modified.clone().into(),
            self.date_last_edited.clone().into(),
            self.date_created.clone().into(),
        ]
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Revision {
            revision_id: r.get("revisionId")?,
            note_id: r.get("noteId")?,
            note_type: r.get("type")?,
            mime: r.get("mime")?,
            title: r.get("title")?,
            is_protected: get_bool(r, "isProtected")?,
            blob_id: r.get("blobId")?,
            utc_date_last_edited: r.get("utcDateLastEdited")?,
            utc_date_created: r.get("utcDateCreated")?,
            utc_date_modified: r.get("utcDateModified")?,
            date_last_edited: r.get("dateLastEdited")?,
            date_created: r.get("dateCreated")?,
        })
    }

    /// hashedProperties: revisionId, noteId, title, isProtected, dateLastEdited, dateCreated,
    /// utcDateLastEdited, utcDateCreated, utcDateModified, blobId.
    fn hash(&self) -> String {
        entity_hash(
            &[
                (&self.revision_id).into(),
                (&self.note_id).into(),
                (&self.title).into(),
                HashPart::Bool(self.is_protected),
                (&self.date_last_edited).into(),
                (&self.date_created).into(),
                (&self.utc_date_last_edited).into(),
                (&self.utc_date_created).into(),
                (&self.utc_date_modified).into(),
                (&self.blob_id).into(),
            ],
            false,
        )
    }

    fn utc_date_changed(&self) -> &str {
        &self.utc_date_modified
    }
}
