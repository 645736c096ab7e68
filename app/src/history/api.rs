//! Wire types and server functions of revisions and Recent changes, and the port the server implements.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One entry of a note's revisions list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionItem {
    pub revision_id: String,
    /// The note's title when the revision was taken (`[protected]` for a protected note).
    pub title: String,
    pub note_type: String,
    pub mime: String,
    /// Local time with its offset, as stored (`2026-12-02 03:16:52.123+0100`).
    pub date_created: String,
    /// "5 minutes ago", computed by the server when it answered.
    pub relative: String,
    pub bytes: i64,
    /// "this instance", the id of the instance that wrote it, or "unknown".
    pub instance: String,
    pub own_instance: bool,
    /// Sync kept it from the losing side of a conflict.
    pub from_conflict: bool,
    pub is_protected: bool,
}

/// How a revision's content is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevisionPreview {
    /// Text-note HTML, sanitized for display by the server.
    Html(String),
    /// Code and other plain text.
    Text(String),
    /// Ciphertext: neither previewed nor diffed.
    Protected,
    /// Binary content (files, images): only its size.
    Binary { bytes: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiffChange {
    Same,
    /// In the note now, not in the revision.
    Added,
    /// In the revision, not in the note now (restoring brings it back).
    Removed,
}

/// A run of text of the diff; rendered as text (never as HTML), so it cannot carry markup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffChunk {
    pub change: DiffChange,
    pub text: String,
}

/// A revision opened in the panel: its preview and its diff against the note's current text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionView {
    pub revision_id: String,
    pub preview: RevisionPreview,
    /// `None` when there is nothing to diff (protected, binary).
    pub diff: Option<Vec<DiffChunk>>,
    /// The diff is over text: a code note's lines, or a text note's words with formatting stripped.
    pub code: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    Edited,
    Created,
    Deleted,
}

/// One point of Recent changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentChange {
    pub note_id: String,
    pub kind: ChangeKind,
    /// The title at that point; the note's current title when it differs follows.
    pub title: String,
    pub current_title: String,
    /// `YYYY-MM-DD` of the change, local to the instance that made it (the list is grouped by it).
    pub day: String,
    /// `HH:MM:SS` of the change.
    pub time: String,
    /// The note is deleted now.
    pub is_deleted: bool,
    pub can_undelete: bool,
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{RecentChange, RevisionItem, RevisionView};
    use crate::error::AppError;
    use std::sync::Arc;

    /// Revisions and Recent changes. Calls run on the blocking pool ([`crate::ssr::run_blocking`]).
    pub trait HistoryPort: Send + Sync + 'static {
        fn revisions(&self, note_id: &str) -> Result<Vec<RevisionItem>, AppError>;
        fn revision(&self, revision_id: &str) -> Result<RevisionView, AppError>;
        /// Saves the note's current state as a revision, then restores this one. Returns the note id.
        fn restore(&self, revision_id: &str) -> Result<String, AppError>;
        /// Erases the revision. Returns the note id.
        fn delete(&self, revision_id: &str) -> Result<String, AppError>;
        fn recent_changes(&self) -> Result<Vec<RecentChange>, AppError>;
        /// Returns the parents the note is back under.
        fn undelete(&self, note_id: &str) -> Result<Vec<String>, AppError>;
    }

    #[derive(Clone)]
    pub struct History(pub Arc<dyn HistoryPort>);
}

#[server(prefix = "/ui", endpoint = "revisions", client = crate::csrf::CsrfClient)]
pub async fn list_revisions(note_id: String) -> Result<Vec<RevisionItem>, AppError> {
    let history = crate::ssr::port::<ssr::History>()?;
    crate::ssr::run_blocking(move || history.0.revisions(&note_id)).await
}

/// The revision the panel shows for `revision_id` (the URL's `revision=`): that one when it is one of
/// the note's, else the newest (as "latest" asks); `None` when the note has none. The panel loads it
/// beside the list, not from within the list's render, so the server's render and the browser's
/// hydration create the same resources in the same order.
#[server(prefix = "/ui", endpoint = "revision/open", client = crate::csrf::CsrfClient)]
pub async fn open_revision(note_id: String, revision_id: Option<String>) -> Result<Option<RevisionView>, AppError> {
    let history = crate::ssr::port::<ssr::History>()?;
    crate::ssr::run_blocking(move || {
        let items = history.0.revisions(&note_id)?;
        let chosen = revision_id
            .and_then(|wanted| items.iter().find(|i| i.revision_id == wanted))
            .or_else(|| items.first());
        chosen.map(|item| history.0.revision(&item.revision_id)).transpose()
    })
    .await
}

#[server(prefix = "/ui", endpoint = "revision/restore", client = crate::csrf::CsrfClient)]
pub async fn restore_revision(revision_id: String) -> Result<String, AppError> {
    let history = crate::ssr::port::<ssr::History>()?;
    crate::ssr::run_blocking(move || history.0.restore(&revision_id)).await
}

#[server(prefix = "/ui", endpoint = "revision/delete", client = crate::csrf::CsrfClient)]
pub async fn delete_revision(revision_id: String) -> Result<String, AppError> {
    let history = crate::ssr::port::<ssr::History>()?;
    crate::ssr::run_blocking(move || history.0.delete(&revision_id)).await
}

#[server(prefix = "/ui", endpoint = "recent_changes", client = crate::csrf::CsrfClient)]
pub async fn recent_changes() -> Result<Vec<RecentChange>, AppError> {
    let history = crate::ssr::port::<ssr::History>()?;
    crate::ssr::run_blocking(move || history.0.recent_changes()).await
}

#[server(prefix = "/ui", endpoint = "undelete", client = crate::csrf::CsrfClient)]
pub async fn undelete_note(note_id: String) -> Result<Vec<String>, AppError> {
    let history = crate::ssr::port::<ssr::History>()?;
    crate::ssr::run_blocking(move || history.0.undelete(&note_id)).await
}

/// Where the download of a revision is served (behind the session, like every route).
pub fn download_url(revision_id: &str) -> String {
    format!("/api/ui/revisions/{revision_id}/download")
}
