//! ETAPI wire types: the JSON bodies ETAPI sends, field for field as Trilium 0.63.7's
//! `etapi/mappers.js` produces them (camelCase, booleans as JSON booleans).

use serde::{Deserialize, Serialize};

use crate::entities::{Attachment, Attribute, Branch, Note};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteJson {
    pub note_id: String,
    pub is_protected: bool,
    pub title: String,
    #[serde(rename = "type")]
    pub note_type: String,
    pub mime: String,
    pub blob_id: Option<String>,
    pub date_created: String,
    pub date_modified: String,
    pub utc_date_created: String,
    pub utc_date_modified: String,
    pub parent_note_ids: Vec<String>,
    pub child_note_ids: Vec<String>,
    pub parent_branch_ids: Vec<String>,
    pub child_branch_ids: Vec<String>,
    /// Owned and inherited attributes (Trilium's `note.getAttributes()`).
    pub attributes: Vec<AttributeJson>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BranchJson {
    pub branch_id: String,
    pub note_id: String,
    pub parent_note_id: String,
    pub prefix: Option<String>,
    pub note_position: i64,
    pub is_expanded: bool,
    pub utc_date_modified: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeJson {
    pub attribute_id: String,
    pub note_id: String,
    #[serde(rename = "type")]
    pub attr_type: String,
    pub name: String,
    pub value: String,
    pub position: i64,
    pub is_inheritable: bool,
    pub utc_date_modified: String,
}

/// An attachment. Trilium leaves `utcDateScheduledForErasureSince` and `contentLength`
/// out of the answer to `POST /attachments` (they are unset on a fresh entity), so both
/// are skipped when `None`; read answers always carry them (`Some(None)` = JSON null).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentJson {
    pub attachment_id: String,
    pub owner_id: String,
    pub role: String,
    pub mime: String,
    pub title: String,
    pub position: i64,
    pub blob_id: Option<String>,
    pub date_modified: String,
    pub utc_date_modified: String,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub utc_date_scheduled_for_erasure_since: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_length: Option<i64>,
}

/// `Some(None)` ↔ JSON null, `None` ↔ absent.
mod nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<Option<String>>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref().and_then(|x| x.as_ref()).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::<String>::deserialize(d)?))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteWithBranch {
    pub note: NoteJson,
    pub branch: BranchJson,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResponse {
    pub results: Vec<NoteJson>,
    #[serde(rename = "debugInfo", default, skip_serializing_if = "Option::is_none")]
    pub debug_info: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub token_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    pub auth_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub app_version: String,
    pub db_version: i64,
    pub node_version: String,
    pub sync_version: u32,
    pub build_date: String,
    pub build_revision: String,
    pub data_directory: String,
    pub clipper_protocol_version: String,
    pub utc_date_time: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorJson {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl From<&Branch> for BranchJson {
    fn from(b: &Branch) -> Self {
        BranchJson {
            branch_id: b.branch_id.clone(),
            note_id: b.note_id.clone(),
            parent_note_id: b.parent_note_id.clone(),
            prefix: b.prefix.clone(),
            note_position: b.note_position,
            is_expanded: b.is_expanded,
            utc_date_modified: b.utc_date_modified.clone(),
        }
    }
}

impl From<&Attribute> for AttributeJson {
    fn from(a: &Attribute) -> Self {
        AttributeJson {
            attribute_id: a.attribute_id.clone(),
            note_id: a.note_id.clone(),
            attr_type: a.attr_type.clone(),
            name: a.name.clone(),
            value: a.value.clone(),
            position: a.position,
            is_inheritable: a.is_inheritable,
            utc_date_modified: a.utc_date_modified.clone(),
        }
    }
}

impl AttachmentJson {
    /// As read back from the database (`contentLength` = SQLite `LENGTH(content)`).
    pub fn read(a: &Attachment, content_length: Option<i64>) -> Self {
        AttachmentJson {
            utc_date_scheduled_for_erasure_since: Some(a.utc_date_scheduled_for_erasure_since.clone()),
            content_length: Some(content_length.unwrap_or(0)),
            ..Self::fresh(a)
        }
    }
    /// As Trilium answers right after creating it (the two unset fields absent).
    pub fn fresh(a: &Attachment) -> Self {
        AttachmentJson {
            attachment_id: a.attachment_id.clone(),
            owner_id: a.owner_id.clone(),
            role: a.role.clone(),
            mime: a.mime.clone(),
            title: a.title.clone(),
            position: a.position,
            blob_id: a.blob_id.clone(),
            date_modified: a.date_modified.clone(),
            utc_date_modified: a.utc_date_modified.clone(),
            utc_date_scheduled_for_erasure_since: None,
            content_length: None,
        }
    }
}

impl NoteJson {
    /// The note's own columns; tree and attribute fields are filled by [`super::graph`].
    pub fn bare(n: &Note) -> Self {
        NoteJson {
            note_id: n.note_id.clone(),
            is_protected: n.is_protected,
            title: n.title.clone(),
            note_type: n.note_type.clone(),
            mime: n.mime.clone(),
            blob_id: n.blob_id.clone(),
            date_created: n.date_created.clone(),
            date_modified: n.date_modified.clone(),
            utc_date_created: n.utc_date_created.clone(),
            utc_date_modified: n.utc_date_modified.clone(),
            parent_note_ids: Vec::new(),
            child_note_ids: Vec::new(),
            parent_branch_ids: Vec::new(),
            child_branch_ids: Vec::new(),
            attributes: Vec::new(),
        }
    }
}
