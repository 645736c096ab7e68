//! The note pane: the open note's title and content.
use leptos::prelude::*;

use super::api::{get_note, NoteBody, NoteDetail};

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
    // TEMPORARY (attrs branch): the note helper mounts the panel in its own view; drop this on merge.
    let attribute_note = Signal::stored(detail.note_id.clone());
    view! {
        <article class="note" data-note-id=detail.note_id>
            <h1 class="note-title">{detail.title}</h1>
            <crate::attributes::AttributePanel note_id=attribute_note/>
            {body}
        </article>
    }
}
