//! The note pane's port: reads from the store, writes through the domain layer.
use std::collections::HashSet;
use std::sync::LazyLock;

use app::error::AppError;
use app::note::api::{ssr::NotePort, Crumb, NoteBody, NoteDetail, NoteHit, NoteSource};

use super::{domain_error, internal, PROTECTED_TITLE};
use crate::db::{note_view, ChangeSource, Document, InstanceId};
use crate::domain::{self, notes};
use crate::entities::BlobContent;
use crate::etapi::content::encode_uri_component;

pub struct DocumentNotes {
    pub document: Document,
    pub instance_id: InstanceId,
}

impl DocumentNotes {
    fn source(&self) -> ChangeSource {
        super::ui_source(&self.instance_id)
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
        let title = if row.is_protected { PROTECTED_TITLE.to_string() } else { row.title };
        let body = if row.is_protected {
            NoteBody::Protected
        } else if row.note_type == "image" {
            NoteBody::Image { src: format!("api/images/{}/{}", row.note_id, encode_uri_component(&title)) }
        } else {
            note_body(&row.note_type, row.content.as_deref())
        };
        Ok(Some(NoteDetail {
            note_id: row.note_id,
            title,
            note_type: row.note_type,
            mime: row.mime,
            path: ancestors.into_iter().map(|p| Crumb { title: shown_title(&p), note_id: p.note_id }).collect(),
            body,
        }))
    }

    fn source(&self, note_id: &str) -> Result<NoteSource, AppError> {
        let (note, content) = self
            .document
            .read_with(|conn| Ok::<_, domain::DomainError>((notes::live_note(conn, note_id)?, notes::content(conn, note_id, None)?)))
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
        let note = self
            .document
            .write_with(&self.source(), |tx| {
                notes::save_content(tx, note_id, BlobContent::Text(content), expected_blob_id.as_deref(), None)
            })
            .map_err(domain_error)?;
        Ok(note.blob_id)
    }

    fn save_keeping_stored(&self, note_id: &str, content: String) -> Result<Option<String>, AppError> {
        let note = self
            .document
            .write_with(&self.source(), |tx| notes::save_content_keeping_stored(tx, note_id, BlobContent::Text(content), None))
            .map_err(domain_error)?;
        Ok(note.blob_id)
    }

    fn rename(&self, note_id: &str, title: &str) -> Result<String, AppError> {
        let note = self.document.write_with(&self.source(), |tx| notes::rename(tx, note_id, title, None)).map_err(domain_error)?;
        Ok(note.title)
    }

    fn set_type(&self, note_id: &str, note_type: &str, mime: &str) -> Result<(), AppError> {
        if !matches!(note_type, "text" | "code") {
            return Err(AppError::Invalid("A note can be made a text or a code note here.".into()));
        }
        let mime = Some(mime).filter(|m| !m.trim().is_empty());
        self.document.write_with(&self.source(), |tx| notes::set_type(tx, note_id, note_type, mime, None)).map_err(domain_error)?;
        Ok(())
    }

    fn search(&self, query: &str, limit: usize) -> Result<Vec<NoteHit>, AppError> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        self.document
            .read(|conn| {
                note_view::search_titles(conn, query, limit)?
                    .into_iter()
                    .map(|(note_id, title)| {
                        let path = note_view::ancestors(conn, &note_id)?
                            .iter()
                            .filter(|p| p.note_id != "root")
                            .map(shown_title)
                            .collect::<Vec<_>>()
                            .join(" / ");
                        Ok(NoteHit { note_id, title, path })
                    })
                    .collect()
            })
            .map_err(internal)
    }
}

fn shown_title(p: &note_view::PathNote) -> String {
    if p.is_protected {
        PROTECTED_TITLE.to_string()
    } else {
        p.title.clone()
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
