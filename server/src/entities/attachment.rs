//! `attachments` rows: files/images owned by a note or a revision (`ownerId`).

use rusqlite::types::Value;
use rusqlite::Row;
use serde::{Deserialize, Serialize};

use super::{bool_value, get_bool, int_bool, opt_text, Entity};
use crate::hashing::entity_hash;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub attachment_id: String,
    pub owner_id: String,
    pub role: String,
    pub mime: String,
    pub title: String,
    #[serde(with = "int_bool", default)]
    pub is_protected: bool,
    #[serde(default)]
    pub position: i64,
    pub blob_id: Option<String>,
    pub date_modified: String,
    pub utc_date_modified: String,
    #[serde(default)]
    pub utc_date_scheduled_for_erasure_since: Option<String>,
    #[serde(with = "int_bool", default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub delete_id: Option<String>,
}

impl Entity for Attachment {
    const ENTITY_NAME: &'static str = "attachments";
    const PRIMARY_KEY: &'static str = "attachmentId";
    const COLUMNS: &'static [&'static str] = &[
        "attachmentId", "ownerId", "role", "mime", "title", "isProtected", "position", "blobId",
        "dateModified", "utcDateModified", "utcDateScheduledForErasureSince", "isDeleted", "deleteId",
    ];

    fn entity_id(&self) -> &str {
        &self.attachment_id
    }

    fn values(&self) -> Vec<Value> {
        vec![
            self.attachment_id.clone().into(),
            self.owner_id.clone().into(),
            self.role.clone().into(),
            self.mime.clone().into(),
            self.title.clone().into(),
            bool_value(self.is_protected),
            self.position.into(),
            opt_text(&self.blob_id),
            self.date_modified.clone().into(),
            self.utc_date_modified.clone().into(),
            opt_text(&self.utc_date_scheduled_for_erasure_since),
            bool_value(self.is_deleted),
            opt_text(&self.delete_id),
        ]
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Attachment {
            attachment_id: r.get("attachmentId")?,
            owner_id: r.get("ownerId")?,
            role: r.get("role")?,
            mime: r.get("mime")?,
            title: r.get("title")?,
            is_protected: get_bool(r, "isProtected")?,
            position: r.get("position")?,
            blob_id: r.get("blobId")?,
            date_modified: r.get("dateModified")?,
            utc_date_modified: r.get("utcDateModified")?,
            utc_date_scheduled_for_erasure_since: r.get("utcDateScheduledForErasureSince")?,
            is_deleted: get_bool(r, "isDeleted")?,
            delete_id: r.get("deleteId")?,
        })
    }

    /// hashedProperties: attachmentId, ownerId, role, mime, title, blobId,
    /// utcDateScheduledForErasureSince. Canopy hashes a NULL schedule as `null` (a row
    /// loaded from the DB); Trilium's freshly created attachments hashed `undefined`.
    fn hash(&self) -> String {
        entity_hash(
            &[
                (&self.attachment_id).into(),
                (&self.owner_id).into(),
                (&self.role).into(),
                (&self.mime).into(),
                (&self.title).into(),
                (&self.blob_id).into(),
                (&self.utc_date_scheduled_for_erasure_since).into(),
            ],
            self.is_deleted,
        )
    }

    fn utc_date_changed(&self) -> &str {
        &self.utc_date_modified
    }
}
