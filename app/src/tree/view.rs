//! The note tree: rendered on the server to the first level, expanded in the browser on demand.
use super::api::{list_children, TreeEntry};
use leptos::prelude::*;

#[component]
pub fn NoteTree(selected: Memo<Option<String>>) -> impl IntoView {
    let roots = Resource::new(|| (), |_| list_children("root".to_string()));
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match roots.await {
                    Ok(children) => view! {
                        <ul class="tree-level" role="tree">
                            {children.into_iter().map(|entry| view! { <TreeItem entry selected/> }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <p class="error">"Could not load the tree: " {e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Children are fetched the first time a row is expanded, then kept.
#[component]
fn TreeItem(entry: TreeEntry, selected: Memo<Option<String>>) -> AnyView {
    let expanded = RwSignal::new(false);
    let children: RwSignal<Option<Result<Vec<TreeEntry>, String>>> = RwSignal::new(None);
    let note_id = entry.note_id.clone();
    let toggle = {
        let note_id = note_id.clone();
        move |_| {
            let open = !expanded.get_untracked();
            expanded.set(open);
            if open && children.with_untracked(|c| !matches!(c, Some(Ok(_)))) {
                let note_id = note_id.clone();
                leptos::task::spawn_local(async move {
                    let loaded = list_children(note_id).await.map_err(|e| e.to_string());
                    children.set(Some(loaded));
                });
            }
        }
    };
    let is_selected = {
        let note_id = note_id.clone();
        move || selected.get().as_deref() == Some(note_id.as_str())
    };
    let label = match &entry.prefix {
        Some(prefix) if !prefix.is_empty() => format!("{prefix}: {}", entry.title),
        _ => entry.title.clone(),
    };
    let toggle_button = entry.has_children.then(|| {
        view! {
            <button
                class="toggle"
                aria-label=format!("Expand {}", entry.title)
                aria-expanded=move || expanded.get().to_string()
                on:click=toggle
            >
                {move || if expanded.get() { "▾" } else { "▸" }}
            </button>
        }
    });
    view! {
        <li class="tree-item" role="treeitem" data-note-id=note_id.clone()>
            <div class="tree-row" class:selected=is_selected>
                {toggle_button}
                <a href=format!("/?note={note_id}") class="note-link">{label}</a>
            </div>
            <Show when=move || expanded.get()>
                {move || match children.get() {
                    None => view! { <p class="loading">"Loading…"</p> }.into_any(),
                    Some(Ok(list)) => view! {
                        <ul class="tree-level" role="group">
                            {list.into_iter().map(|entry| view! { <TreeItem entry selected/> }).collect_view()}
                        </ul>
                    }.into_any(),
                    Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                }}
            </Show>
        </li>
    }
    .into_any()
}
