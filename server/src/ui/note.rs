//! The note pane's port: reads from the store, writes through the domain layer.
use std::collections::HashSet;
use std::sync::LazyLock;

use app::error::AppError;
use app::note::api::{ssr::NotePort, Crumb, NoteBody, NoteDetail, NoteHit, NoteSource};

use super::protected::shown_title;
use super::{domain_error, internal};
use crate::protected::DataKey;
use crate::db::{note_view, ChangeSource, Document, InstanceId};
use crate::domain::{self, notes};
use crate::entities::BlobContent;
use crate::etapi::content::encode_uri_component;

pub struct DocumentNotes {
    pub document: Document,
    pub instance_id: InstanceId,
    pub protected: crate::protected::ProtectedSessions,
}

impl DocumentNotes {
    fn source(&self) -> ChangeSource {
        super::ui_source(&self.instance_id)
    }

    /// The calling login's data key, if it has a protected session.
    fn key(&self) -> Option<DataKey> {
        super::protected::data_key(&self.protected)
    }

    /// The key for a write to `note_id`: asked for only when the note is protected, since asking
    /// counts as use of the protected session (saving an unprotected note must not keep it open).
    fn key_for(&self, note_id: &str) -> Option<DataKey> {
        super::protected::key_for_note(&self.document, &self.protected, note_id)
    }
}

impl NotePort for DocumentNotes {
    fn note(&self, note_id: &str) -> Result<Option<NoteDetail>, AppError> {
        let found = self
            .document
            .read(|conn| {
                let Some(row) = note_view::note(conn, note_id)? else { return Ok(None) };
                Ok(Some((row, note_view::ancestors(conn, note_id)?)))
            })
            .map_err(internal)?;
        let Some((row, ancestors)) = found else { return Ok(None) };
        let key = if row.is_protected || ancestors.iter().any(|p| p.is_protected) { self.key() } else { None };
        let key = key.as_ref();
        let shows_protected = row.is_protected || ancestors.iter().any(|p| p.is_protected);
        let title = shown_title(key, &row.note_id, row.is_protected, row.title);
        let body = match (row.is_protected, key) {
            (true, None) => NoteBody::Protected,
            _ if row.note_type == "image" => {
                NoteBody::Image { src: format!("api/images/{}/{}", row.note_id, encode_uri_component(&title)) }
            }
            (true, Some(key)) => {
                let stored = row.content.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
                let plain = key.decrypt(&stored).map_err(|e| {
                    tracing::warn!(note_id = %row.note_id, "a protected note's content does not decrypt: {e}");
                    AppError::Invalid(format!("The content of note {} does not decrypt with this document's key: {e}", row.note_id))
                })?;
                note_body(&row.note_type, Some(plain.as_slice()))
            }
            (false, _) => note_body(&row.note_type, row.content.as_deref()),
        };
        Ok(Some(NoteDetail {
            note_id: row.note_id,
            title,
            note_type: row.note_type,
            mime: row.mime,
            path: ancestors
                .into_iter()
                .map(|p| Crumb { title: shown_title(key, &p.note_id, p.is_protected, p.title), note_id: p.note_id })
                .collect(),
            body,
            shows_protected,
        }))
    }

    fn source(&self, note_id: &str) -> Result<NoteSource, AppError> {
        let (note, content) = self
            .document
            .read_with(|conn| {
                let note = notes::live_note(conn, note_id)?;
                let key = if note.is_protected { self.key() } else { None };
                Ok::<_, domain::DomainError>((note, notes::content(conn, note_id, key.as_ref())?))
            })
            .map_err(domain_error)?;
        if !matches!(note.note_type.as_str(), "text" | "code") {
            return Err(AppError::Invalid("Only text and code notes are edited here.".into()));
        }
        let content = match content {
            BlobContent::Text(text) => text,
            BlobContent::Binary(bytes) => String::from_utf8(bytes)
                .map_err(|_| AppError::Invalid("This note's content is not text and cannot be edited here.".into()))?,
            BlobContent::Null => String::new(),
        };
        Ok(NoteSource { content, blob_id: note.blob_id })
    }

    fn save(&self, note_id: &str, content: String, expected_blob_id: Option<String>) -> Result<Option<String>, AppError> {
        let key = self.key_for(note_id);
        let note = self
            .document
            .write_with(&self.source(), |tx| {
                notes::save_content(tx, note_id, BlobContent::Text(content), expected_blob_id.as_deref(), key.as_ref())
            })
            .map_err(domain_error)?;
        Ok(note.blob_id)
    }

    fn save_keeping_stored(&self, note_id: &str, content: String) -> Result<Option<String>, AppError> {
        let key = self.key_for(note_id);
        let note = self
            .document
            .write_with(&self.source(), |tx| notes::save_content_keeping_stored(tx, note_id, BlobContent::Text(content), key.as_ref()))
            .map_err(domain_error)?;
        Ok(note.blob_id)
    }

    fn rename(&self, note_id: &str, title: &str) -> Result<String, AppError> {
        let key = self.key_for(note_id);
        self.document.write_with(&self.source(), |tx| notes::rename(tx, note_id, title, key.as_ref())).map_err(domain_error)?;
        // The stored title is ciphertext for a protected note: the page gets what it shows.
        Ok(title.to_string())
    }

    fn set_type(&self, note_id: &str, note_type: &str, mime: &str) -> Result<(), AppError> {
        if !matches!(note_type, "text" | "code") {
            return Err(AppError::Invalid("A note can be made a text or a code note here.".into()));
        }
        let mime = Some(mime).filter(|m| !m.trim().is_empty());
        let key = self.key_for(note_id);
        self.document.write_with(&self.source(), |tx| notes::set_type(tx, note_id, note_type, mime, key.as_ref())).map_err(domain_error)?;
        Ok(())
    }

    fn search(&self, query: &str, limit: usize) -> Result<Vec<NoteHit>, AppError> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.key();
        let key = key.as_ref();
        self.document
            .read(|conn| {
                note_view::search_titles(conn, query, limit)?
                    .into_iter()
                    .map(|(note_id, title)| {
                        let path = note_view::ancestors(conn, &note_id)?
                            .iter()
                            .filter(|p| p.note_id != "root")
                            .map(|p| shown_title(key, &p.note_id, p.is_protected, p.title.clone()))
                            .collect::<Vec<_>>()
                            .join(" / ");
                        Ok(NoteHit { note_id, title, path })
                    })
                    .collect()
            })
            .map_err(internal)
    }
}

fn note_body(note_type: &str, content: Option<&[u8]>) -> NoteBody {
    let Some(bytes) = content else { return NoteBody::Text(String::new()) };
    match std::str::from_utf8(bytes) {
        Ok(text) if note_type == "text" => NoteBody::Html(sanitize_for_display(text)),
        Ok(text) if note_type != "file" => NoteBody::Text(text.to_owned()),
        _ => NoteBody::Binary { bytes: bytes.len() },
    }
}

/// CSS properties Trilium's editor writes (table and column widths, image sizes and alignment, text
/// colours and alignment, indentation). Ammonia parses each declaration and keeps only these.
const STYLE_PROPERTIES: &[&str] = &[
    "width", "height", "min-width", "max-width", "text-align", "vertical-align", "float", "color",
    "background-color", "border", "border-color", "border-style", "border-width", "margin-left", "margin-right",
    "padding-left", "font-size", "font-weight", "font-style", "text-decoration", "aspect-ratio", "list-style-type",
];

static DISPLAY_SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        // Figures (tables, images), included notes, to-do list checkboxes, highlights.
        .add_tags(["figure", "figcaption", "section", "input", "label", "mark", "s", "u", "colgroup", "col", "kbd", "details", "summary", "abbr"])
        // Classes carry Trilium's meaning (reference-link, include-note, math-tex, language-*,
        // todo-list, image-style-*); data-* carries included notes' ids and box sizes.
        .add_generic_attributes(["class", "style", "title", "lang", "dir"])
        .add_generic_attribute_prefixes(["data-"])
        .filter_style_properties(STYLE_PROPERTIES.iter().copied().collect::<HashSet<_>>())
        .add_tag_attributes("img", ["width", "height", "loading"])
        .add_tag_attributes("input", ["type", "checked"])
        .add_tag_attributes("col", ["span", "width"])
        .add_tag_attributes("ol", ["start", "reversed", "type"])
        .add_tag_attributes("td", ["colspan", "rowspan"])
        .add_tag_attributes("th", ["colspan", "rowspan", "scope"])
        // The display is read-only: checkboxes may show their state but never become form inputs.
        .set_tag_attribute_value("input", "disabled", "disabled")
        .attribute_filter(|element, attribute, value| match (element, attribute) {
            ("input", "type") if value != "checkbox" => None,
            _ => Some(value.into()),
        });
    builder
});

/// HTML of a text note as the page shows it before the editor takes over: what Trilium's editor writes
/// stays (reference links, included notes, math, tables with their widths, code blocks with their
/// language, to-do lists), while script, event handlers and `javascript:` URLs go, since note HTML also
/// arrives from other instances. The editor never sees this: it loads the stored HTML ([`NoteSource`]).
pub fn sanitize_for_display(html: &str) -> String {
    DISPLAY_SANITIZER.clean(html).to_string()
}
