//! Wire types and server functions of the note pane, and the port the server implements for them.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The longest title the page lets through (`domain::notes::MAX_TITLE_CHARS` on the server, checked
/// there too): a title is one line of the tree and of the note's heading.
pub const MAX_TITLE_CHARS: usize = 1000;

/// What the note pane shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteDetail {
    pub note_id: String,
    pub title: String,
    pub note_type: String,
    pub mime: String,
    /// From the root down to the note's parent: the breadcrumbs above the note.
    pub path: Vec<Crumb>,
    pub body: NoteBody,
    /// The note or one of its ancestors is protected: the pane reloads when the protected session
    /// starts or ends (its title, path or content show differently then).
    pub shows_protected: bool,
}

/// One ancestor in a note's path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crumb {
    pub note_id: String,
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoteBody {
    /// Text-note HTML, sanitized for display by the server (the editor loads [`NoteSource`] instead).
    Html(String),
    /// Code and other plain-text notes.
    Text(String),
    /// An image note: shown from `api/images/<noteId>/<title>`.
    Image { src: String },
    /// Encrypted, and this login has no protected session: the pane offers to unlock.
    Protected,
    /// Binary content (files): only its size is shown.
    Binary { bytes: usize },
}

/// A note's content exactly as stored, for the editor, with the blob it came from: a save names that
/// blob so that a note changed elsewhere in the meantime is refused as stale rather than overwritten.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteSource {
    pub content: String,
    pub blob_id: Option<String>,
}

/// A note found by title for an internal link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteHit {
    pub note_id: String,
    pub title: String,
    /// The titles of its ancestors, "Fixture Notebook / Engineering".
    pub path: String,
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{NoteDetail, NoteHit, NoteSource};
    use crate::error::AppError;
    use std::sync::Arc;

    /// The note pane's access to the document. Calls run on the blocking pool ([`crate::ssr::run_blocking`]).
    pub trait NotePort: Send + Sync + 'static {
        /// A live note, or `None`.
        fn note(&self, note_id: &str) -> Result<Option<NoteDetail>, AppError>;
        /// The stored content of a text or code note, unchanged.
        fn source(&self, note_id: &str) -> Result<NoteSource, AppError>;
        /// The editor's save; `Stale` when the note's blob is no longer `expected_blob_id`. Returns the new blob id.
        fn save(&self, note_id: &str, content: String, expected_blob_id: Option<String>) -> Result<Option<String>, AppError>;
        /// The editor's save after the note changed elsewhere: the stored version goes to the note's
        /// revisions, then `content` is written. Returns the new blob id.
        fn save_keeping_stored(&self, note_id: &str, content: String) -> Result<Option<String>, AppError>;
        /// Returns the title as stored.
        fn rename(&self, note_id: &str, title: &str) -> Result<String, AppError>;
        fn set_type(&self, note_id: &str, note_type: &str, mime: &str) -> Result<(), AppError>;
        /// Live notes whose title contains `query`, best first, at most `limit`.
        fn search(&self, query: &str, limit: usize) -> Result<Vec<NoteHit>, AppError>;
    }

    #[derive(Clone)]
    pub struct Notes(pub Arc<dyn NotePort>);
}

#[server(prefix = "/ui", endpoint = "note", client = crate::csrf::CsrfClient)]
pub async fn get_note(note_id: String) -> Result<Option<NoteDetail>, AppError> {
    let notes = crate::ssr::port::<ssr::Notes>()?;
    crate::ssr::run_blocking(move || notes.0.note(&note_id)).await
}

#[server(prefix = "/ui", endpoint = "note_source", client = crate::csrf::CsrfClient)]
pub async fn load_source(note_id: String) -> Result<NoteSource, AppError> {
    let notes = crate::ssr::port::<ssr::Notes>()?;
    crate::ssr::run_blocking(move || notes.0.source(&note_id)).await
}

#[server(prefix = "/ui", endpoint = "save_note", client = crate::csrf::CsrfClient)]
pub async fn save_note(note_id: String, content: String, expected_blob_id: Option<String>) -> Result<Option<String>, AppError> {
    let notes = crate::ssr::port::<ssr::Notes>()?;
    crate::ssr::run_blocking(move || notes.0.save(&note_id, content, expected_blob_id)).await
}

#[server(prefix = "/ui", endpoint = "save_note_keeping_stored", client = crate::csrf::CsrfClient)]
pub async fn save_note_keeping_stored(note_id: String, content: String) -> Result<Option<String>, AppError> {
    let notes = crate::ssr::port::<ssr::Notes>()?;
    crate::ssr::run_blocking(move || notes.0.save_keeping_stored(&note_id, content)).await
}

#[server(prefix = "/ui", endpoint = "rename_note", client = crate::csrf::CsrfClient)]
pub async fn rename_note(note_id: String, title: String) -> Result<String, AppError> {
    let notes = crate::ssr::port::<ssr::Notes>()?;
    crate::ssr::run_blocking(move || notes.0.rename(&note_id, &title)).await
}

#[server(prefix = "/ui", endpoint = "set_note_type", client = crate::csrf::CsrfClient)]
pub async fn set_note_type(note_id: String, note_type: String, mime: String) -> Result<(), AppError> {
    let notes = crate::ssr::port::<ssr::Notes>()?;
    crate::ssr::run_blocking(move || notes.0.set_type(&note_id, &note_type, &mime)).await
}

#[server(prefix = "/ui", endpoint = "search_notes", client = crate::csrf::CsrfClient)]
pub async fn search_notes(query: String) -> Result<Vec<NoteHit>, AppError> {
    crate::search::api::query_within_limit(&query)?;
    let notes = crate::ssr::port::<ssr::Notes>()?;
    crate::ssr::run_blocking(move || notes.0.search(&query, 15)).await
}

/// Whether a title may be saved; the message says why not (the server checks the same).
pub fn title_problem(title: &str) -> Option<String> {
    if title.trim().is_empty() {
        Some("The title must not be empty.".into())
    } else if title.chars().count() > MAX_TITLE_CHARS {
        Some(format!("The title is longer than {MAX_TITLE_CHARS} characters."))
    } else {
        None
    }
}
