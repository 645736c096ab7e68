//! `blobs` rows: content-addressed note/revision/attachment content. Text content is
//! stored as TEXT, binary as BLOB, protected content as base64 ciphertext TEXT.

use rusqlite::types::{Value, ValueRef};
use rusqlite::Row;

use super::Entity;
use crate::hashing;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobContent {
    Text(String),
    Binary(Vec<u8>),
    Null,
}

impl BlobContent {
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            BlobContent::Text(s) => Some(s.as_bytes()),
            BlobContent::Binary(b) => Some(b),
            BlobContent::Null => None,
        }
    }

    /// The content as text (binary decoded lossily, like Node's `Buffer.toString()`).
    pub fn to_text(&self) -> String {
        self.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub blob_id: String,
    pub content: BlobContent,
    pub date_modified: String,
    pub utc_date_modified: String,
}

impl Blob {
    /// `utils.hashedBlobId` over the plaintext, with Trilium's marker prefix for protected
    /// content so encrypted and plain copies never share a blob.
    pub fn id_for(plaintext: &[u8], is_protected: bool) -> String {
        if is_protected {
            let mut v = hashing::PROTECTED_BLOB_ID_PREFIX.as_bytes().to_vec();
            v.extend_from_slice(plaintext);
            hashing::hashed_blob_id(&v)
        } else {
            hashing::hashed_blob_id(plaintext)
        }
    }
}

impl Entity for Blob {
    const ENTITY_NAME: &'static str = "blobs";
    const PRIMARY_KEY: &'static str = "blobId";
    const COLUMNS: &'static [&'static str] = &["blobId", "content", "dateModified", "utcDateModified"];

    fn entity_id(&self) -> &str {
        &self.blob_id
    }

    fn values(&self) -> Vec<Value> {
        let content = match &self.content {
            BlobContent::Text(s) => Value::Text(s.clone()),
            BlobContent::Binary(b) => Value::Blob(b.clone()),
            BlobContent::Null => Value::Null,
        };
        vec![self.blob_id.clone().into(), content, self.date_modified.clone().into(), self.utc_date_modified.clone().into()]
    }

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let content = match r.get_ref("content")? {
            ValueRef::Text(t) => BlobContent::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => BlobContent::Binary(b.to_vec()),
            ValueRef::Null => BlobContent::Null,
            ValueRef::Integer(i) => BlobContent::Text(i.to_string()),
            ValueRef::Real(f) => BlobContent::Text(f.to_string()),
        };
        Ok(Blob {
            blob_id: r.get("blobId")?,
            content,
            date_modified: r.get("dateModified")?,
            utc_date_modified: r.get("utcDateModified")?,
        })
    }

    /// `sha1_b64(blobId + "|" + content)`, untruncated.
    fn hash(&self) -> String {
        hashing::blob_content_hash(&self.blob_id, self.content.as_bytes())
    }

    fn utc_date_changed(&self) -> &str {
        &self.utc_date_modified
    }
}
