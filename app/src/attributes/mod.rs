//! A note's labels and relations, owned and inherited.
use leptos::prelude::*;

/// Shown in the note pane under the title; filled in by the attributes feature.
#[component]
pub fn AttributePanel(note_id: Signal<String>) -> impl IntoView {
    let _ = note_id;
}
