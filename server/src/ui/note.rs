//! The note pane's port.
use app::error::AppError;
use app::note::api::{ssr::NotePort, NoteBody, NoteDetail};

use super::internal;
use crate::db::{note_view, Document};

pub struct DocumentNotes {
    pub document: Document,
}

impl NotePort for DocumentNotes {
    fn note(&self, note_id: &str) -> Result<Option<NoteDetail>, AppError> {
        let Some(row) = self.document.read(|conn| note_view::note(conn, note_id)).map_err(internal)? else {
            return Ok(None);
        };
        let body = if row.is_protected { NoteBody::Protected } else { note_body(&row.note_type, row.content.as_deref()) };
        Ok(Some(NoteDetail {
            note_id: row.note_id,
            title: if row.is_protected { "[protected]".to_string() } else { row.title },
            note_type: row.note_type,
            mime: row.mime,
            body,
        }))
    }
}

fn note_body(note_type: &str, content: Option<&[u8]>) -> NoteBody {
    let Some(bytes) = content else { return NoteBody::Text(String::new()) };
    let is_binary_type = matches!(note_type, "file" | "image");
    match std::str::from_utf8(bytes) {
        // Note HTML comes from other instances too: never let it run script in this page.
        Ok(text) if note_type == "text" => NoteBody::Html(ammonia::clean(text)),
        Ok(text) if !is_binary_type => NoteBody::Text(text.to_owned()),
        _ => NoteBody::Binary { bytes: bytes.len() },
    }
}
