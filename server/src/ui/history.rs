//! Revisions and Recent changes for the page: the port its server functions call, the diff of a
//! revision against the note's current text, and the download of a revision.
use std::collections::HashSet;
use std::sync::LazyLock;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use app::error::AppError;
use app::history::api::{
    ssr::HistoryPort, ChangeKind, DiffChange, DiffChunk, RecentChange, RevisionItem, RevisionPreview, RevisionView,
};

use super::note::sanitize_for_display;
use super::protected::shown_title;
use super::domain_error;
use crate::protected::DataKey;
use crate::db::history::ChangeKind as StoredKind;
use crate::db::{ChangeSource, Document, InstanceId};
use crate::domain::{self, recent_changes, revisions, DomainError};
use crate::entities::BlobContent;
use crate::etapi::content::{disposition_for, download_file_name};
use crate::hashing;

pub struct DocumentHistory {
    pub document: Document,
    pub instance_id: InstanceId,
    pub protected: crate::protected::ProtectedSessions,
}

impl DocumentHistory {
    fn source(&self) -> ChangeSource {
        ChangeSource::new(&self.instance_id)
    }

    /// The calling login's data key, if it has a protected session.
    fn key(&self) -> Option<DataKey> {
        super::protected::data_key(&self.protected)
    }
}

impl HistoryPort for DocumentHistory {
    fn revisions(&self, note_id: &str) -> Result<Vec<RevisionItem>, AppError> {
        let rows = self.document.read_with(|conn| revisions::list(conn, note_id)).map_err(domain_error)?;
        let key = if rows.iter().any(|row| row.revision.is_protected) { self.key() } else { None };
        let now = chrono::Utc::now();
        let own = self.instance_id.to_string();
        Ok(rows
            .into_iter()
            .map(|row| {
                let r = row.revision;
                let own_instance = row.instance_id.as_deref() == Some(own.as_str());
                let instance = match row.instance_id {
                    _ if own_instance => "this instance".to_string(),
                    Some(id) => id,
                    None => "unknown".to_string(),
                };
                let relative = hashing::parse_utc_date_time(&r.utc_date_created)
                    .map(|at| relative_time(now.signed_duration_since(at)))
                    .unwrap_or_default();
                RevisionItem {
                    title: shown_title(key.as_ref(), &r.revision_id, r.is_protected, r.title),
                    revision_id: r.revision_id,
                    note_type: r.note_type,
                    mime: r.mime,
                    date_created: r.date_created,
                    relative,
                    bytes: row.content_bytes,
                    instance,
                    own_instance,
                    from_conflict: row.from_conflict,
                    is_protected: r.is_protected,
                }
            })
            .collect())
    }

    fn revision(&self, revision_id: &str) -> Result<RevisionView, AppError> {
        let protected = self.document.read_with(|conn| revisions::get(conn, revision_id)).map_err(domain_error)?.is_protected;
        let key = self.key();
        if protected && key.is_none() {
            return Ok(RevisionView { revision_id: revision_id.into(), preview: RevisionPreview::Protected, diff: None, code: false });
        }
        let (revision, content, current) = self
            .document
            .read_with(|conn| {
                let (revision, content) = revisions::with_content(conn, revision_id, key.as_ref())?;
                // The note may be protected since (or deleted): then there is nothing readable to diff against.
                let current = match domain::notes::content(conn, &revision.note_id, key.as_ref()) {
                    Ok(current) => Some(current),
                    Err(DomainError::Protected(_) | DomainError::ProtectedLocked { .. } | DomainError::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                };
                Ok::<_, DomainError>((revision, content, current))
            })
            .map_err(domain_error)?;
        let is_text_note = revision.note_type == "text";
        let readable = |content: &BlobContent| match content {
            BlobContent::Text(text) => Some(text.clone()),
            BlobContent::Null => Some(String::new()),
            BlobContent::Binary(bytes) => String::from_utf8(bytes.clone()).ok(),
        };
        let old_text = readable(&content).filter(|_| !matches!(revision.note_type.as_str(), "file" | "image"));
        let preview = match &old_text {
            Some(html) if is_text_note => RevisionPreview::Html(sanitize_for_display(html)),
            Some(text) => RevisionPreview::Text(text.clone()),
            None => RevisionPreview::Binary { bytes: content.as_bytes().map_or(0, <[u8]>::len) },
        };
        let diff = old_text.zip(current.as_ref().and_then(readable)).map(|(old, new)| {
            if is_text_note {
                diff_chunks(&html_text(&old), &html_text(&new))
            } else {
                diff_chunks(&old, &new)
            }
        });
        Ok(RevisionView { revision_id: revision.revision_id, preview, diff, code: !is_text_note })
    }

    fn restore(&self, revision_id: &str) -> Result<String, AppError> {
        let key = self.key();
        let note = self.document.write_with(&self.source(), |tx| revisions::restore(tx, revision_id, key.as_ref())).map_err(domain_error)?;
        tracing::info!(revision_id, note_id = %note.note_id, "revision restored from the UI");
        Ok(note.note_id)
    }

    fn delete(&self, revision_id: &str) -> Result<String, AppError> {
        let note_id = self.document.write_with(&self.source(), |tx| revisions::erase(tx, revision_id)).map_err(domain_error)?;
        tracing::info!(revision_id, note_id, "revision erased from the UI");
        Ok(note_id)
    }

    fn recent_changes(&self) -> Result<Vec<RecentChange>, AppError> {
        let changes = self.document.read_with(recent_changes::recent_changes).map_err(domain_error)?;
        let key = if changes.iter().any(|c| c.change.is_protected) { self.key() } else { None };
        Ok(changes
            .into_iter()
            .map(|c| {
                let row = c.change;
                let title = shown_title(key.as_ref(), &row.note_id, row.is_protected, row.title);
                let current_title = shown_title(key.as_ref(), &row.note_id, row.is_protected, row.current_title);
                RecentChange {
                    note_id: row.note_id,
                    kind: match row.kind {
                        StoredKind::Edited => ChangeKind::Edited,
                        StoredKind::Created => ChangeKind::Created,
                        StoredKind::Deleted => ChangeKind::Deleted,
                    },
                    title,
                    current_title,
                    day: row.date.get(..10).unwrap_or_default().to_string(),
                    time: row.date.get(11..19).unwrap_or_default().to_string(),
                    is_deleted: row.is_deleted,
                    can_undelete: c.can_undelete,
                }
            })
            .collect())
    }

    fn undelete(&self, note_id: &str) -> Result<Vec<String>, AppError> {
        let parents =
            self.document.write_with(&self.source(), |tx| recent_changes::undelete_note(tx, note_id)).map_err(domain_error)?;
        tracing::info!(note_id, ?parents, "note undeleted from the UI");
        Ok(parents)
    }
}

/// "3 minutes ago", "2 days ago".
fn relative_time(age: chrono::TimeDelta) -> String {
    let seconds = age.num_seconds().max(0);
    let (count, unit) = match seconds {
        0..=59 => return "just now".into(),
        60..=3599 => (seconds / 60, "minute"),
        3600..=86_399 => (seconds / 3600, "hour"),
        86_400..=2_591_999 => (seconds / 86_400, "day"),
        2_592_000..=31_535_999 => (seconds / 2_592_000, "month"),
        _ => (seconds / 31_536_000, "year"),
    };
    format!("{count} {unit}{} ago", if count == 1 { "" } else { "s" })
}

/// Past this, the diff gives up looking for the smallest difference and shows a coarser one.
const DIFF_TIME_LIMIT: Duration = Duration::from_millis(500);

/// Words (and the whitespace between them) that the revision `old` and the current text `new` share,
/// that only `new` has (added since), and that only `old` has (removed since), merged into runs.
pub fn diff_chunks(old: &str, new: &str) -> Vec<DiffChunk> {
    let diff = similar::TextDiff::configure().timeout(DIFF_TIME_LIMIT).diff_words(old, new);
    let mut chunks: Vec<DiffChunk> = Vec::new();
    for change in diff.iter_all_changes() {
        let kind = match change.tag() {
            similar::ChangeTag::Equal => DiffChange::Same,
            similar::ChangeTag::Insert => DiffChange::Added,
            similar::ChangeTag::Delete => DiffChange::Removed,
        };
        match chunks.last_mut() {
            Some(last) if last.change == kind => last.text.push_str(change.value()),
            _ => chunks.push(DiffChunk { change: kind, text: change.value().to_string() }),
        }
    }
    chunks
}

/// Drops every tag and what script and style elements contain; text stays (entity-escaped).
static TEXT_ONLY: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::empty();
    builder.clean_content_tags(HashSet::from(["script", "style", "template"]));
    builder
});

static BLOCK_END: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)</(p|div|li|h[1-6]|tr|blockquote|pre|figure|figcaption|table|ul|ol|section)\s*>|<br\s*/?>").unwrap()
});
static CELL_END: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(r"(?i)</t[dh]\s*>").unwrap());
static BLANK_LINES: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(r"\n[ \t]*\n(?:[ \t]*\n)+").unwrap());

/// A text note's words as plain text, one line per paragraph, list item or table row, for the diff.
pub fn html_text(html: &str) -> String {
    let spaced = BLOCK_END.replace_all(html, "$0\n");
    let spaced = CELL_END.replace_all(&spaced, "$0 ");
    let text = TEXT_ONLY.clean(&spaced).to_string();
    // The serializer escapes only these in text; `&amp;` last, so "&amp;lt;" stays "&lt;".
    let text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u{a0}").replace("&amp;", "&");
    BLANK_LINES.replace_all(text.trim(), "\n\n").into_owned()
}

/// `GET /api/ui/revisions/<revisionId>/download`, behind the session like every route.
pub fn routes(document: Document) -> Router {
    Router::new().route("/api/ui/revisions/{revision_id}/download", get(download)).with_state(document)
}

/// Trilium's `downloadRevision`: the content as a file named after the title at that time and the
/// revision's date (`Title-20261202_031652.html`), with the revision's mime.
async fn download(State(document): State<Document>, Path(revision_id): Path<String>) -> Response {
    let found = tokio::task::spawn_blocking(move || document.read_with(|conn| revisions::with_content(conn, &revision_id, None)))
        .await
        .unwrap_or_else(|_| Err(DomainError::Db(crate::db::DbError::Invalid("the download failed".into()))));
    let (revision, content) = match found {
        Ok(found) => found,
        Err(e) => {
            let e = domain_error(e);
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, Json(serde_json::json!({ "message": e.to_string() }))).into_response();
        }
    };
    let file_name = revision_file_name(&revision.title, &revision.note_type, &revision.mime, &revision.date_created);
    let mime = if revision.mime.is_empty() { "application/octet-stream" } else { revision.mime.as_str() };
    let (content_type, bytes) = match content {
        BlobContent::Text(text) => (format!("{mime}; charset=utf-8"), text.into_bytes()),
        BlobContent::Binary(bytes) => (mime.to_owned(), bytes),
        BlobContent::Null => (mime.to_owned(), Vec::new()),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (header::CONTENT_DISPOSITION, disposition_for(&file_name)),
        (header::CONTENT_TYPE, content_type),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
        // Opened rather than saved, a revision's HTML or SVG must not run script in this origin.
        (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; sandbox".into()),
        (header::CACHE_CONTROL, "private, no-store".into()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (StatusCode::OK, headers, bytes).into_response()
}

/// Trilium's `getRevisionFilename`: the download name with the revision's local date and time
/// (digits only) before the extension.
pub fn revision_file_name(title: &str, note_type: &str, mime: &str, date_created: &str) -> String {
    let name = download_file_name(title, note_type, mime);
    let date: String =
        date_created.chars().take(19).map(|c| if c == ' ' { '_' } else { c }).filter(|c| c.is_ascii_digit() || *c == '_').collect();
    match name.rfind('.').filter(|&dot| dot > 0) {
        Some(dot) => format!("{}-{date}{}", &name[..dot], &name[dot..]),
        None => format!("{name}-{date}"),
    }
}
