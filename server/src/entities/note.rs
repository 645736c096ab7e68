//! `notes` rows. Content lives in a blob referenced by `blobId`.

use rusqlite::types::Value;
use rusqlite::Row;
use serde::{Deserialize, Serialize};

use super::{bool_value, get_bool, int_bool, opt_text, Entity};
use crate::hashing::{entity_hash, HashPart};

/// Note types Trilium 0.63.7 knows, in its order (`note_types.js`).
pub const NOTE_TYPES: &[&str] = &[
    "text", "code", "render", "file", "image", "search", "relationMap", "book", "noteMap", "mermaid", "canvas",
    "webView", "launcher", "doc", "contentWidget",
];

impl Note {
    /// The mime Trilium gives a note of this type when none is given (`getDefaultMimeForNoteType`).
    pub fn default_mime(note_type: &str) -> &'static str {
        match note_type {
            "text" => "text/html",
            "code" | "mermaid" => "text/plain",
            "file" => "application/octet-stream",
            "relationMap" | "canvas" => "application/json",
            _ => "",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub note_id: String,
    /// Ciphertext (base64) when `is_protected`.
    pub title: String,
    #[serde(with = "int_bool")]
    pub is_protected: bool,
    /// text, code, file, image, search, relationMap, book, noteMap, mermaid, webView, shortcut, doc, contentWidget, launcher, canvas
    #[serde(rename = "type")]
    pub note_type: String,
    pub mime: String,
    pub blob_id: Option<String>,
    #[serde(with = "int_bool", default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub delete_id: Option<String>,
    pub date_created: String,
    pub date_modified: String,
    pub utc_date_created: String,
    pub utc_date_modified: String,
}

impl Entity for Note {
    const ENTITY_NAME: &'static str = "notes";
    const PRIMARY_KEY: &'static str = "noteId";
    const COLUMNS: &'static [&'static str] = &[
        "noteId", "title", "isProtected", "type", "mime", "blobId", "isDeleted", "deleteId",
        "dateCreated", "dateModified", "utcDateCreated", "utcDateModified",
    ];

    fn entity_id(&self) -> &str {
        &self.note_id
    }

    fn values(&self) -> Vec<Value> {
        vec![
            self.note_id.clone().into(),
            self.title.clone().into(),
            bool_value(self.is_protected),
            self.note_type.clone().into(),
            self.mime.clone().into(),
            opt_text(&self.blob_id),
            bool_value(self.is_deleted),
            opt_text(&self.delete_id),
            self.date_created.clone().into(),
            self.date_modified.clone().into(),
            self.utc_date_created.clone().into(),
            self.utc_date_modified.clone().into(),
        ]
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Note {
            note_id: r.get("noteId")?,
            title: r.get("title")?,
            is_protected: get_bool(r, "isProtected")?,
            note_type: r.get("type")?,
            mime: r.get("mime")?,
            blob_id: r.get("blobId")?,
            is_deleted: get_bool(r, "isDeleted")?,
            delete_id: r.get("deleteId")?,
            date_created: r.get("dateCreated")?,
            date_modified: r.get("dateModified")?,
            utc_date_created: r.get("utcDateCreated")?,
            utc_date_modified: r.get("utcDateModified")?,
        })
    }

    /// hashedProperties: noteId, title, isProtected, type, mime, blobId. Trilium hashes the
    /// decrypted title of a protected note, so for those the result only matches when
    /// `title` holds the plaintext.
    fn hash(&self) -> String {
        entity_hash(
            &[
                (&self.note_id).into(),
                (&self.title).into(),
                HashPart::Bool(self.is_protected),
                (&self.note_type).into(),
                (&self.mime).into(),
                (&self.blob_id).into(),
            ],
            self.is_deleted,
        )
    }

    fn utc_date_changed(&self) -> &str {
        &self.utc_date_modified
    }
}
