//! Wire types and server functions for reading notes, and the note pane.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One child in the note tree: what the tree needs to draw a row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeEntry {
    pub branch_id: String,
    pub note_id: String,
    pub title: String,
    /// The branch prefix shown before the title of a clone ("Tokyo food: Ramen").
    pub prefix: Option<String>,
    pub note_type: String,
    pub is_protected: bool,
    pub has_children: bool,
}

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

/// Server-side access to the document; the server crate provides an implementation as context.
#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{NoteDetail, TreeEntry};
    use std::sync::Arc;

    pub trait NoteReader: Send + Sync + 'static {
        /// Live children of `parent_note_id` in tree order, or `None` if the parent does not exist.
        fn children(&self, parent_note_id: &str) -> Result<Option<Vec<TreeEntry>>, String>;
        fn note(&self, note_id: &str) -> Result<Option<NoteDetail>, String>;
    }

    #[derive(Clone)]
    pub struct Notes(pub Arc<dyn NoteReader>);

    pub fn notes() -> Result<Notes, leptos::prelude::ServerFnError> {
        leptos::prelude::use_context::<Notes>()
            .ok_or_else(|| leptos::prelude::ServerFnError::new("the note store is not available"))
    }
}

#[server(prefix = "/ui", endpoint = "children")]
pub async fn list_children(parent_note_id: String) -> Result<Vec<TreeEntry>, ServerFnError> {
    let notes = ssr::notes()?;
    match notes.0.children(&parent_note_id) {
        Ok(Some(children)) => Ok(children),
        Ok(None) => Err(ServerFnError::new(format!("note {parent_note_id} not found"))),
        Err(e) => Err(ServerFnError::new(e)),
    }
}

#[server(prefix = "/ui", endpoint = "note")]
pub async fn get_note(note_id: String) -> Result<Option<NoteDetail>, ServerFnError> {
    ssr::notes()?.0.note(&note_id).map_err(ServerFnError::new)
}

#[component]
pub fn NoteView(note_id: Memo<Option<String>>) -> impl IntoView {
    let note = Resource::new(
        move || note_id.get(),
        |id| async move {
            match id {
                Some(id) => get_note(id).await,
                None => Ok(None),
            }
        },
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match note.await {
                    Ok(Some(detail)) => render_note(detail).into_any(),
                    Ok(None) if note_id.get_untracked().is_some() => {
                        view! { <p class="error">"This note does not exist."</p> }.into_any()
                    }
                    Ok(None) => view! {
                        <p class="hint">"Choose a note in the tree to read it."</p>
                    }.into_any(),
                    Err(e) => view! { <p class="error">"Could not load the note: " {e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn render_note(detail: NoteDetail) -> impl IntoView {
    let body = match detail.body {
        NoteBody::Html(html) => view! { <div class="note-content" inner_html=html></div> }.into_any(),
        NoteBody::Text(text) => view! { <pre class="note-content code">{text}</pre> }.into_any(),
        NoteBody::Protected => view! {
            <p class="note-content protected">"This note is protected; protected sessions are not supported yet."</p>
        }.into_any(),
        NoteBody::Binary { bytes } => view! {
            <p class="note-content binary">{format!("{} note ({}), {bytes} bytes", detail.note_type, detail.mime)}</p>
        }.into_any(),
    };
    view! {
        <article class="note" data-note-id=detail.note_id>
            <h1 class="note-title">{detail.title}</h1>
            {body}
        </article>
    }
}
