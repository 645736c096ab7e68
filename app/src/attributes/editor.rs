//! The detail editor of one label or relation: name, value (or target note, picked by title),
//! inheritable; save, delete, cancel (Escape).
use leptos::prelude::*;

use super::api::{add_attribute, delete_attribute, find_target_notes, update_attribute, AttributeChip, AttributeKind, NoteHit};
use super::panel::Panel;

/// What the editor starts from: an existing attribute, or a new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// `None` for a new attribute.
    pub attribute_id: Option<String>,
    pub kind: AttributeKind,
    pub name: String,
    pub value: String,
    pub target_title: Option<String>,
    pub is_inheritable: bool,
}

impl Draft {
    pub fn new_label() -> Self {
        Draft {
            attribute_id: None,
            kind: AttributeKind::Label,
            name: String::new(),
            value: String::new(),
            target_title: None,
            is_inheritable: false,
        }
    }

    pub fn of(chip: &AttributeChip) -> Self {
        Draft {
            attribute_id: Some(chip.attribute_id.clone()),
            kind: chip.kind,
            name: chip.name.clone(),
            value: chip.value.clone(),
            target_title: chip.target_title.clone(),
            is_inheritable: chip.is_inheritable,
        }
    }
}

#[component]
pub fn AttributeEditor(draft: Draft, panel: Panel) -> AnyView {
    let attribute_id = draft.attribute_id.clone();
    let is_new = attribute_id.is_none();
    let kind = RwSignal::new(draft.kind);
    let name = RwSignal::new(draft.name);
    // A label's value; a relation's target note id.
    let value = RwSignal::new(draft.value);
    let target_title = RwSignal::new(draft.target_title);
    let is_inheritable = RwSignal::new(draft.is_inheritable);

    let save = {
        let attribute_id = attribute_id.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let (kind, name, value, inheritable) =
                (kind.get_untracked(), name.get_untracked(), value.get_untracked(), is_inheritable.get_untracked());
            let note_id = panel.note_id();
            let attribute_id = attribute_id.clone();
            panel.busy.set(true);
            leptos::task::spawn_local(async move {
                let result = match attribute_id {
                    None => add_attribute(note_id, kind, name, value, inheritable).await,
                    Some(id) => update_attribute(note_id, id, name, value, inheritable).await,
                };
                if panel.apply(result) {
                    panel.editing.set(None);
                }
            });
        }
    };
    let delete = {
        let attribute_id = attribute_id.clone();
        move |_| {
            let Some(id) = attribute_id.clone() else { return };
            let note_id = panel.note_id();
            panel.busy.set(true);
            leptos::task::spawn_local(async move {
                if panel.apply(delete_attribute(note_id, id).await) {
                    panel.editing.set(None);
                }
            });
        }
    };
    let cancel = move || {
        panel.editing.set(None);
        panel.error.set(None);
    };
    let heading = move || match (is_new, kind.get()) {
        (true, _) => "New label or relation",
        (false, AttributeKind::Label) => "Label",
        (false, AttributeKind::Relation) => "Relation",
    };
    let kind_choice = is_new.then(|| {
        view! {
            <div class="attr-kind-choice" role="radiogroup" aria-label="Type">
                <label>
                    <input type="radio" name="attr-kind" value="label"
                        prop:checked=move || kind.get() == AttributeKind::Label
                        on:change=move |_| kind.set(AttributeKind::Label)/>
                    " Label "<span class="attr-hint">"#name=value"</span>
                </label>
                <label>
                    <input type="radio" name="attr-kind" value="relation"
                        prop:checked=move || kind.get() == AttributeKind::Relation
                        on:change=move |_| { kind.set(AttributeKind::Relation); value.set(String::new()); }/>
                    " Relation "<span class="attr-hint">"~name → note"</span>
                </label>
            </div>
        }
    });
    view! {
        <form
            class="attr-editor"
            aria-label="Attribute detail"
            on:submit=save
            on:keydown=move |ev| if ev.key() == "Escape" { cancel() }
        >
            <h3 class="attr-heading">{heading}</h3>
            {kind_choice}
            <label class="attr-field">
                <span>"Name"</span>
                <input class="attr-name-input" type="text" autocomplete="off" spellcheck="false" required
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))/>
            </label>
            <Show
                when=move || kind.get() == AttributeKind::Label
                fallback=move || view! { <NotePicker value target_title/> }
            >
                <label class="attr-field">
                    <span>"Value"</span>
                    <input class="attr-value-input" type="text" autocomplete="off"
                        prop:value=move || value.get()
                        on:input=move |ev| value.set(event_target_value(&ev))/>
                </label>
            </Show>
            <label class="attr-check">
                <input class="attr-inheritable-input" type="checkbox"
                    prop:checked=move || is_inheritable.get()
                    on:change=move |ev| is_inheritable.set(event_target_checked(&ev))/>
                " Inheritable "<span class="attr-hint">"(the note's descendants have it too)"</span>
            </label>
            <div class="attr-actions">
                <button type="submit" class="primary" disabled=move || panel.busy.get()>"Save"</button>
                <button type="button" on:click=move |_| cancel()>"Cancel"</button>
                {(!is_new).then(|| view! {
                    <button type="button" class="danger" disabled=move || panel.busy.get() on:click=delete>"Delete"</button>
                })}
            </div>
        </form>
    }
    .into_any()
}

/// A relation's target: type part of a title, pick one of the notes found.
#[component]
fn NotePicker(value: RwSignal<String>, target_title: RwSignal<Option<String>>) -> AnyView {
    let query = RwSignal::new(target_title.get_untracked().unwrap_or_default());
    let hits: RwSignal<Vec<NoteHit>> = RwSignal::new(Vec::new());
    let find = note_search(hits);
    let search = move |text: String| {
        query.set(text.clone());
        find(text);
    };
    let chosen = move || match (value.get(), target_title.get()) {
        (id, _) if id.is_empty() => "No note chosen yet.".to_string(),
        (id, Some(title)) => format!("Target: {title} ({id})"),
        (id, None) => format!("Target: {id}"),
    };
    view! {
        <div class="attr-field attr-picker">
            <label>
                <span>"Target note"</span>
                <input class="attr-target-input" type="search" autocomplete="off" placeholder="Type part of a title"
                    prop:value=move || query.get()
                    on:input=move |ev| search(event_target_value(&ev))/>
            </label>
            <p class="attr-chosen">{chosen}</p>
            <ul class="attr-hits" role="listbox" aria-label="Notes found">
                <For each=move || hits.get() key=|hit| hit.note_id.clone() let:hit>
                    {
                        let pick = {
                            let hit = hit.clone();
                            move |_| {
                                value.set(hit.note_id.clone());
                                target_title.set(Some(hit.title.clone()));
                                query.set(hit.title.clone());
                                hits.set(Vec::new());
                            }
                        };
                        view! {
                            <li role="option">
                                <button type="button" class="attr-hit" data-note-id=hit.note_id.clone() on:click=pick>
                                    <span class="attr-hit-title">{hit.title.clone()}</span>
                                    {hit.parent_title.clone().map(|p| view! { <span class="attr-hint">" in " {p}</span> })}
                                </button>
                            </li>
                        }
                    }
                </For>
            </ul>
        </div>
    }
    .into_any()
}

/// Title search for a picker: each call asks the server, and only the newest question's answer is
/// put into `hits` (answers may arrive out of order).
pub(super) fn note_search(hits: RwSignal<Vec<NoteHit>>) -> impl Fn(String) + Copy + 'static {
    let asked = StoredValue::new(0u64);
    move |text: String| {
        let n = asked.get_value() + 1;
        asked.set_value(n);
        if text.trim().is_empty() {
            hits.set(Vec::new());
            return;
        }
        leptos::task::spawn_local(async move {
            let found = find_target_notes(text).await.unwrap_or_default();
            if asked.get_value() == n {
                hits.set(found);
            }
        });
    }
}
