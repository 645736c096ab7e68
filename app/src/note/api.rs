//! Wire types and server functions of the note pane, and the port the server implements for them.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What the note pane shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteDetail {
    pub note_id: String,
    pub title: String,
    pub note_type: String,
    pub mime: String,
    pub body: NoteBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoteBody {
    /// Text-note HTML, already sanitized by the server.
    Html(String),
    /// Code and other plain-text notes.
    Text(String),
    /// Encrypted; readable only in a protected session (not yet supported).
    Protected,
    /// Binary content (files, images): only its size is shown.
    Binary { bytes: usize },
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::NoteDetail;
    use crate::error::AppError;
    use std::sync::Arc;

    /// The note pane's access to the document. Calls run on the blocking pool ([`crate::ssr::run_blocking`]).
    pub trait NotePort: Send + Sync + 'static {
        /// A live note, or `None`.
        fn note(&self, note_id: &str) -> Result<Option<NoteDetail>, AppError>;
    }

    #[derive(Clone)]
    pub struct Notes(pub Arc<dyn NotePort>);
}

#[server(prefix = "/ui", endpoint = "note", client = crate::csrf::CsrfClient)]
pub async fn get_note(note_id: String) -> Result<Option<NoteDetail>, AppError> {
    let notes = crate::ssr::port::<ssr::Notes>()?;
    crate::ssr::run_blocking(move || notes.0.note(&note_id)).await
}
