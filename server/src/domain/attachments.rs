//! Attachments of notes (`BNote.saveAttachment`, `BAttachment`); pasted images are stored as
//! Trilium 0.63 stores them (`routes/api/attachments.js` `uploadAttachment`, `services/image.js`).

use rusqlite::Connection;

use super::notes::live_note;
use super::{DomainError, DomainResult};
use crate::db::{attachments, deletion, WriteTx};
use crate::entities::{self, Attachment, BlobContent};
use crate::protected::DataKey;

/// Parameters of [`create`].
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// `image` or `file`.
    pub role: String,
    pub mime: String,
    pub title: String,
    /// 10 when `None` (what Trilium 0.63.7 stores, see [`attachments::NewAttachment::position`]).
    pub position: Option<i64>,
    pub content: BlobContent,
}

/// What [`update`] changes (`None`: left as it is).
#[derive(Debug, Clone, Default)]
pub struct AttachmentChanges {
    pub role: Option<String>,
    pub mime: Option<String>,
    pub title: Option<String>,
    pub position: Option<i64>,
}

/// Mime types Trilium's upload stores as an image attachment (anything else is a file attachment).
pub const IMAGE_MIMES: &[&str] = &["image/png", "image/jpg", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"];

/// Bytes as an attachment of this mime stores them (text or binary, Trilium's `hasStringContent`).
pub fn content_for(mime: &str, bytes: Vec<u8>) -> BlobContent {
    super::notes::content_for("", mime, bytes)
}

/// A live (not deleted) attachment, or `NotFound`.
pub fn live_attachment(conn: &Connection, attachment_id: &str) -> DomainResult<Attachment> {
    entities::load::<Attachment>(conn, attachment_id)?
        .filter(|a| !a.is_deleted)
        .ok_or_else(|| DomainError::not_found("attachments", attachment_id))
}

/// A new attachment of a live, unprotected note (`role`, `mime` and `title` must not be blank, as
/// Trilium's entity requires).
/// An attachment of a protected note is protected (needs the key).
pub fn create(tx: &mut WriteTx<'_>, owner_id: &str, a: NewAttachment, key: Option<&DataKey>) -> DomainResult<Attachment> {
    tx.set_key(key);
    let owner = live_note(tx.conn(), owner_id)?;
    if owner.is_protected && key.is_none() {
        return Err(DomainError::ProtectedLocked { note_id: owner_id.to_owned() });
    }
    for (field, value) in [("role", &a.role), ("mime", &a.mime), ("title", &a.title)] {
        if value.trim().is_empty() {
            return Err(DomainError::Invalid(format!("'{field}' must be given to initialize a Attachment entity")));
        }
    }
    Ok(attachments::create_attachment(
        tx,
        attachments::NewAttachment {
            attachment_id: None,
            owner_id: owner.note_id,
            role: a.role,
            mime: a.mime,
            title: a.title,
            content: a.content,
            position: a.position,
        },
    )?)
}

/// Changes role, mime, title or position (a forced save: fresh modification dates).
pub fn update(tx: &mut WriteTx<'_>, attachment_id: &str, changes: AttachmentChanges, key: Option<&DataKey>) -> DomainResult<Attachment> {
    let mut a = writable(tx, attachment_id, key)?;
    if let Some(v) = changes.role {
        a.role = v;
    }
    if let Some(v) = changes.mime {
        a.mime = v;
    }
    if let Some(v) = changes.title {
        a.title = match key {
            Some(key) if a.is_protected => key.encrypt(v.as_bytes()),
            _ => v,
        };
    }
    if let Some(v) = changes.position {
        a.position = v;
    }
    a.date_modified = tx.local_now();
    a.utc_date_modified = tx.utc_now();
    crate::db::protected::save_attachment_row(tx, &a)?;
    Ok(a)
}

/// Replaces the content (text or binary by the attachment's mime); the old blob goes when unused.
pub fn set_content(tx: &mut WriteTx<'_>, attachment_id: &str, bytes: Vec<u8>, key: Option<&DataKey>) -> DomainResult<Attachment> {
    let a = writable(tx, attachment_id, key)?;
    Ok(attachments::set_attachment_content(tx, attachment_id, content_for(&a.mime, bytes))?)
}

/// Marks the attachment deleted (no deleteId, like Trilium's delete of one attachment).
pub fn delete(tx: &mut WriteTx<'_>, attachment_id: &str, key: Option<&DataKey>) -> DomainResult<()> {
    tx.set_key(key);
    let a = live_attachment(tx.conn(), attachment_id)?;
    Ok(deletion::mark_attachment_deleted(tx, a, None)?)
}

/// A live attachment that may change: unprotected, or protected with the key (set on the transaction).
fn writable(tx: &mut WriteTx<'_>, attachment_id: &str, key: Option<&DataKey>) -> DomainResult<Attachment> {
    tx.set_key(key);
    let a = live_attachment(tx.conn(), attachment_id)?;
    if a.is_protected && key.is_none() {
        return Err(DomainError::ProtectedLocked { note_id: a.owner_id });
    }
    Ok(a)
}

/// An image pasted or uploaded into a text note: an attachment of the note with role `image`, as Trilium
/// 0.63's upload does (`saveImageToAttachment`): the title is the sanitized file name (`image` when the
/// name is longer than 40 characters) with the image's extension added when it has none; the mime comes
/// from the image's bytes. Images are stored as given (Trilium may shrink them with `compressImages`).
/// The note's HTML then references it as `api/attachments/<attachmentId>/image/<title>`.
pub fn create_image_attachment(
    tx: &mut WriteTx<'_>,
    note_id: &str,
    file_name: &str,
    mime: &str,
    bytes: Vec<u8>,
    key: Option<&DataKey>,
) -> DomainResult<Attachment> {
    if !IMAGE_MIMES.contains(&mime) {
        return Err(DomainError::Invalid(format!("'{mime}' is not an image type Trilium stores as an image attachment.")));
    }
    if bytes.is_empty() {
        return Err(DomainError::Invalid("The image is empty.".into()));
    }
    let mut original = if file_name.chars().count() > 40 { "image".to_owned() } else { file_name.to_owned() };
    let ext = image_extension(&bytes);
    if !original.contains('.') {
        original = format!("{original}.{ext}");
    }
    let image_mime = format!("image/{}", if ext == "svg" { "svg+xml" } else { ext });
    let content = content_for(&image_mime, bytes);
    create(
        tx,
        note_id,
        NewAttachment { role: "image".into(), mime: image_mime, title: sanitize_filename(&original), position: None, content },
        key,
    )
}

/// `getImageType`: the image format by its bytes (SVG by its markup), JPEG when unknown.
fn image_extension(bytes: &[u8]) -> &'static str {
    let head = &bytes[..bytes.len().min(12)];
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        "png"
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        "gif"
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        "webp"
    } else if head.starts_with(b"BM") {
        "bmp"
    } else if head.starts_with(b"\xff\xd8\xff") {
        "jpg"
    } else if is_svg(bytes) {
        "svg"
    } else {
        "jpg"
    }
}

fn is_svg(bytes: &[u8]) -> bool {
    let start = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_ascii_lowercase();
    start.contains("<svg")
}

/// The npm `sanitize-filename` Trilium uses: no path separators, control or reserved characters, no
/// trailing dots or spaces, not a Windows device name, at most 255 bytes.
pub fn sanitize_filename(name: &str) -> String {
    let cleaned: String = name.chars().filter(|c| !c.is_control() && !"/\\?<>:*|\"".contains(*c)).collect();
    let cleaned = if cleaned.chars().all(|c| c == '.') { String::new() } else { cleaned };
    let mut cleaned = cleaned.trim_end_matches(['.', ' ']).to_owned();
    let stem = cleaned.split('.').next().unwrap_or("").to_ascii_uppercase();
    let reserved = ["CON", "PRN", "AUX", "NUL"].contains(&stem.as_str())
        || (stem.len() == 4 && (stem.starts_with("COM") || stem.starts_with("LPT")) && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        cleaned.clear();
    }
    while cleaned.len() > 255 {
        cleaned.pop();
    }
    cleaned
}
