//! The panel under the note title: owned attributes as chips (a click opens the detail editor), an
//! "add" box that takes Trilium's text syntax, and the inherited attributes apart, each with the note
//! it comes from.
use leptos::prelude::*;

use super::api::{add_attributes_text, get_attributes, AttributeChip, AttributeKind, InheritedChip, NoteAttributes};
use super::api::NoteHit;
use super::editor::{note_search, AttributeEditor, Draft};
use crate::error::AppError;
use crate::state::{NoteChange, Workspace};

/// The attributes of the open note, loaded by the note view beside the note itself (not by the panel,
/// which the server's render builds more than once: each build would load them again).
pub type LoadedAttributes = Resource<Result<Option<NoteAttributes>, AppError>>;

pub fn load_attributes(note_id: Memo<Option<String>>) -> LoadedAttributes {
    Resource::new(
        move || note_id.get(),
        |id| async move {
            match id {
                Some(id) => get_attributes(id).await.map(Some),
                None => Ok(None),
            }
        },
    )
}

#[component]
pub fn AttributePanel(loaded: LoadedAttributes) -> AnyView {
    view! {
        <section class="attributes" aria-label="Labels and relations">
            <Suspense fallback=|| view! { <p class="loading">"Loading attributes…"</p> }>
                {move || Suspend::new(async move {
                    match loaded.await {
                        Ok(Some(attributes)) => view! { <AttributeBody initial=attributes/> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(e) => view! {
                            <p class="error">"Could not load the attributes: " {e.to_string()}</p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
    .into_any()
}

/// The panel's state for one note, shared by the chips, the add box and the editor.
#[derive(Clone, Copy)]
pub(super) struct Panel {
    pub attributes: RwSignal<NoteAttributes>,
    /// The last refusal or failure, shown until the next successful change.
    pub error: RwSignal<Option<String>>,
    pub editing: RwSignal<Option<Draft>>,
    pub busy: RwSignal<bool>,
    /// Taken when the panel is built: the change handlers run in tasks, outside the reactive owner.
    workspace: Option<Workspace>,
}

impl Panel {
    pub fn note_id(&self) -> String {
        self.attributes.with_untracked(|a| a.note_id.clone())
    }

    /// Shows the outcome of a change, and tells the tree which of its levels the change affected.
    pub fn apply(&self, result: Result<NoteAttributes, AppError>) -> bool {
        self.busy.set(false);
        match result {
            Ok(attributes) => {
                if let Some(workspace) = self.workspace {
                    for parent_note_id in &attributes.tree_levels_changed {
                        workspace.announce(NoteChange::ChildrenChanged { parent_note_id: parent_note_id.clone() });
                    }
                }
                self.attributes.set(attributes);
                self.error.set(None);
                true
            }
            Err(e) => {
                self.error.set(Some(e.to_string()));
                false
            }
        }
    }
}

#[component]
fn AttributeBody(initial: NoteAttributes) -> AnyView {
    let panel = Panel {
        attributes: RwSignal::new(initial),
        error: RwSignal::new(None),
        editing: RwSignal::new(None),
        busy: RwSignal::new(false),
        workspace: use_context::<Workspace>(),
    };
    let text = RwSignal::new(String::new());
    // Typing `~name=@part of a title` offers notes; a pick puts `@noteId` in its place.
    let hits: RwSignal<Vec<NoteHit>> = RwSignal::new(Vec::new());
    let find = note_search(hits);
    let on_text = move |typed: String| {
        find(pending_target(&typed).map(|(_, query)| query.to_owned()).unwrap_or_default());
        text.set(typed);
    };
    let add_text = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let typed = text.get_untracked();
        panel.busy.set(true);
        leptos::task::spawn_local(async move {
            if panel.apply(add_attributes_text(panel.note_id(), typed).await) {
                text.set(String::new());
            }
        });
    };
    // Keyed by the whole chip: a value changed in place keeps its id but must be drawn anew.
    let owned = move || panel.attributes.with(|a| a.owned.clone());
    let inherited = move || panel.attributes.with(|a| a.inherited.clone());
    view! {
        <div class="attr-owned">
            <ul class="attr-chips" aria-label="Owned labels and relations">
                <For each=owned key=|chip| chip.clone() let:chip>
                    <li>{view! { <OwnedChip chip panel/> }.into_any()}</li>
                </For>
                <li>
                    <button
                        type="button"
                        class="attr-new"
                        title="Add a label or relation"
                        on:click=move |_| panel.editing.set(Some(Draft::new_label()))
                    >
                        "+ Add"
                    </button>
                </li>
            </ul>
            <form class="attr-text-form" on:submit=add_text>
                <input
                    class="attr-text"
                    type="text"
                    aria-label="Add attributes as text"
                    placeholder="#label=value  #label(inheritable)  ~relation=@noteId"
                    autocomplete="off"
                    spellcheck="false"
                    prop:value=move || text.get()
                    on:input=move |ev| on_text(event_target_value(&ev))
                />
                <button type="submit" disabled=move || panel.busy.get()>"Add"</button>
            </form>
            <ul class="attr-hits attr-text-hits" role="listbox" aria-label="Notes found">
                <For each=move || hits.get() key=|hit| hit.note_id.clone() let:hit>
                    {
                        let note_id = hit.note_id.clone();
                        let pick = move |_| {
                            text.update(|typed| {
                                if let Some((at, _)) = pending_target(typed) {
                                    typed.truncate(at);
                                    typed.push_str(&note_id);
                                    typed.push(' ');
                                }
                            });
                            hits.set(Vec::new());
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
        {move || panel.error.get().map(|message| view! { <p class="attr-error" role="alert">{message}</p> })}
        {move || panel.editing.get().map(|draft| view! { <AttributeEditor draft panel/> })}
        <Show when=move || panel.attributes.with(|a| !a.inherited.is_empty())>
            <div class="attr-inherited">
                <h3 class="attr-heading">"Inherited"</h3>
                <ul class="attr-chips" aria-label="Inherited labels and relations">
                    <For each=inherited key=|i| i.clone() let:inherited>
                        <li>{view! { <InheritedChipView inherited/> }.into_any()}</li>
                    </For>
                </ul>
            </div>
        </Show>
    }
    .into_any()
}

/// The relation target being typed at the end of `typed` (`… ~name=@part`): the byte index just after
/// its `@`, and the part typed so far.
fn pending_target(typed: &str) -> Option<(usize, &str)> {
    let token_start = typed.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let token = &typed[token_start..];
    let at = token.find("=@")? + 2;
    (token.starts_with('~') && at < token.len()).then(|| (token_start + at, &token[at..]))
}

/// `#name=value` or `~name → Target`, with the type as a hint for those who do not read the sigils.
fn chip_text(chip: &AttributeChip) -> AnyView {
    let (sigil, hint) = match chip.kind {
        AttributeKind::Label => ("#", "Label"),
        AttributeKind::Relation => ("~", "Relation"),
    };
    let value = match chip.kind {
        AttributeKind::Label if chip.value.is_empty() => None,
        AttributeKind::Label => Some(view! { <span class="attr-eq">"="</span><span class="attr-value">{chip.value.clone()}</span> }.into_any()),
        AttributeKind::Relation => None,
    };
    view! {
        <span class="attr-kind" aria-hidden="true" title=hint>{sigil}</span>
        <span class="attr-name">{chip.name.clone()}</span>
        {value}
        {chip.is_inheritable.then(|| view! {
            <span class="attr-inheritable" title="Inheritable: the note's descendants have it too">"inheritable"</span>
        })}
    }
    .into_any()
}

/// A relation's target as a link that opens it.
fn relation_target(chip: &AttributeChip) -> Option<AnyView> {
    (chip.kind == AttributeKind::Relation).then(|| {
        let title = chip.target_title.clone().unwrap_or_else(|| format!("missing note {}", chip.value));
        view! {
            <span class="attr-arrow" aria-hidden="true">"→"</span>
            <a class="attr-target" href=format!("/?note={}", chip.value)>{title}</a>
        }
        .into_any()
    })
}

#[component]
fn OwnedChip(chip: AttributeChip, panel: Panel) -> AnyView {
    let kind_class = match chip.kind {
        AttributeKind::Label => "attr-chip label",
        AttributeKind::Relation => "attr-chip relation",
    };
    let edit = {
        let chip = chip.clone();
        move |_| panel.editing.set(Some(Draft::of(&chip)))
    };
    let label = format!("Edit {} {}", if chip.kind == AttributeKind::Label { "label" } else { "relation" }, chip.name);
    view! {
        <span class=kind_class data-attribute-id=chip.attribute_id.clone() data-name=chip.name.clone()>
            <button type="button" class="attr-chip-main" aria-label=label on:click=edit>{chip_text(&chip)}</button>
            {relation_target(&chip)}
        </span>
    }
    .into_any()
}

#[component]
fn InheritedChipView(inherited: InheritedChip) -> AnyView {
    let chip = inherited.attribute;
    let kind_class = match chip.kind {
        AttributeKind::Label => "attr-chip label inherited",
        AttributeKind::Relation => "attr-chip relation inherited",
    };
    view! {
        <span class=kind_class data-attribute-id=chip.attribute_id.clone() data-name=chip.name.clone()>
            <span class="attr-chip-main">{chip_text(&chip)}</span>
            {relation_target(&chip)}
            <span class="attr-from">
                "from "
                <a href=format!("/?note={}", inherited.from_note_id)>{inherited.from_title}</a>
            </span>
        </span>
    }
    .into_any()
}
