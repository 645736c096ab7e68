//! What floats over the tree: the row menu (right click, ⋮, the menu key), the notice with "Undo",
//! and the "clone to…" dialog.
use leptos::ev;
use leptos::prelude::*;

use super::actions;
use super::api::{find_notes, NotePick, TreeEntry, CREATABLE_TYPES};
use super::store::{use_tree, Clip, Menu, TreeState};

#[component]
pub fn Overlays() -> impl IntoView {
    let state = use_tree();
    view! {
        {move || state.menu.get().map(|menu| row_menu(state, menu))}
        {move || state.cloning.get().map(|entry| clone_dialog(state, entry))}
        {move || state.notice.get().map(|notice| {
            let undo = notice.undo.clone().map(|(delete_id, parent)| view! {
                <button class="undo" on:click=move |_| actions::undo_delete(state, delete_id.clone(), parent.clone())>"Undo"</button>
            });
            view! {
                <div class="toast" class:error=notice.is_error role=if notice.is_error { "alert" } else { "status" }>
                    <span class="toast-message">{notice.message.clone()}</span>
                    {undo}
                    <button class="close" aria-label="Dismiss" on:click=move |_| state.notice.set(None)>"×"</button>
                </div>
            }
        })}
    }
}

fn row_menu(state: TreeState, menu: Menu) -> impl IntoView {
    let row = menu.row.clone();
    let entry = row.entry.clone();
    // Keep the menu on screen (it is about 15rem wide and 32rem high).
    let (width, height) = (window().inner_width().ok().and_then(|w| w.as_f64()), window().inner_height().ok().and_then(|h| h.as_f64()));
    let x = width.map_or(menu.x, |w| menu.x.min(w - 250.0).max(4.0));
    let y = height.map_or(menu.y, |h| menu.y.min(h - 520.0).max(4.0));
    let close = move || state.menu.set(None);
    let item = move |label: String, shortcut: &'static str, action: Box<dyn Fn()>| {
        view! {
            <button role="menuitem" class="menu-item" on:click=move |_| { close(); action(); }>
                <span>{label}</span>
                <kbd>{shortcut}</kbd>
            </button>
        }
    };
    let mut items = Vec::new();
    for (note_type, type_label) in CREATABLE_TYPES {
        let (row, entry) = (row.clone(), entry.clone());
        items.push(item(
            format!("New child note: {type_label}"),
            "",
            Box::new(move || actions::create(state, Some(row.clone()), entry.note_id.clone(), None, note_type)),
        ));
    }
    for (note_type, type_label) in CREATABLE_TYPES {
        let entry = entry.clone();
        items.push(item(
            format!("New sibling note: {type_label}"),
            "",
            Box::new(move || {
                actions::create(state, None, entry.parent_note_id.clone(), Some(entry.branch_id.clone()), note_type)
            }),
        ));
    }
    let e = entry.clone();
    items.push(item("Rename".into(), "F2", Box::new(move || state.renaming.set(Some(e.branch_id.clone())))));
    let e = entry.clone();
    items.push(item("Cut".into(), "Ctrl+X", Box::new(move || state.clip.set(Some(Clip::Cut(e.clone()))))));
    let e = entry.clone();
    items.push(item("Copy (to clone)".into(), "Ctrl+C", Box::new(move || state.clip.set(Some(Clip::Copy(e.clone()))))));
    let r = row.clone();
    items.push(item("Paste into".into(), "Ctrl+V", Box::new(move || actions::paste(state, r.clone(), false))));
    let r = row.clone();
    items.push(item("Paste as clone".into(), "Ctrl+Shift+V", Box::new(move || actions::paste(state, r.clone(), true))));
    let e = entry.clone();
    items.push(item("Clone to…".into(), "", Box::new(move || state.cloning.set(Some(e.clone())))));
    let e = entry.clone();
    items.push(item("Move up".into(), "Ctrl+↑", Box::new(move || actions::reorder(state, e.clone(), true))));
    let e = entry.clone();
    items.push(item("Move down".into(), "Ctrl+↓", Box::new(move || actions::reorder(state, e.clone(), false))));
    // Protection, as in Trilium's menu: the note alone or its whole subtree.
    let session = crate::protected::use_protected();
    for (label, protected, subtree) in if entry.is_protected {
        [("Unprotect note", false, false), ("Unprotect subtree", false, true)]
    } else {
        [("Protect note", true, false), ("Protect subtree", true, true)]
    } {
        let e = entry.clone();
        items.push(item(label.into(), "", Box::new(move || actions::protect(state, session, e.clone(), protected, subtree))));
    }
    let label = if entry.is_protected { "Protect subtree" } else { "Unprotect subtree" };
    let (e, protected) = (entry.clone(), !entry.is_protected);
    items.push(item(label.into(), "", Box::new(move || actions::protect(state, session, e.clone(), protected, true))));
    let e = entry.clone();
    items.push(item("Delete".into(), "Del", Box::new(move || actions::delete(state, e.clone()))));
    let menu_ref = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        if let Some(first) = menu_ref.get().and_then(|m| m.query_selector("button").ok().flatten()) {
            use leptos::wasm_bindgen::JsCast;
            if let Ok(first) = first.dyn_into::<web_sys::HtmlElement>() {
                let _ = first.focus();
            }
        }
    });
    let branch_id = entry.branch_id.clone();
    let on_key = move |ev: ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.prevent_default();
            close();
            super::store::focus_branch(branch_id.clone());
        }
    };
    view! {
        <div class="menu-backdrop" on:click=move |_| close() on:contextmenu=move |ev| { ev.prevent_default(); close(); }></div>
        <div
            class="context-menu"
            role="menu"
            node_ref=menu_ref
            aria-label=format!("Actions for {}", entry.title)
            style=format!("left: {x}px; top: {y}px")
            on:keydown=on_key
        >
            {items}
        </div>
    }
}

/// Chooses a parent by title and an optional prefix, then clones the note there.
fn clone_dialog(state: TreeState, entry: TreeEntry) -> impl IntoView {
    let picks: RwSignal<Vec<NotePick>> = RwSignal::new(Vec::new());
    let chosen: RwSignal<Option<NotePick>> = RwSignal::new(None);
    let prefix = RwSignal::new(String::new());
    let searches = StoredValue::new(0u64);
    let search = move |ev: ev::Event| {
        let query = event_target_value(&ev);
        let n = searches.get_value() + 1;
        searches.set_value(n);
        leptos::task::spawn_local(async move {
            let found = find_notes(query).await;
            // An older search that answers late must not replace a newer one.
            if searches.get_value() == n {
                match found {
                    Ok(found) => picks.set(found),
                    Err(e) => state.error(format!("Could not search: {e}")),
                }
            }
        });
    };
    let close = move || state.cloning.set(None);
    let submit = {
        let entry = entry.clone();
        move |ev: ev::SubmitEvent| {
            ev.prevent_default();
            if let Some(parent) = chosen.get_untracked() {
                let prefix = Some(prefix.get_untracked()).filter(|p| !p.trim().is_empty());
                close();
                actions::clone_into(state, entry.clone(), parent.note_id, prefix);
            }
        }
    };
    view! {
        <div class="dialog-backdrop" on:click=move |_| close()></div>
        <form class="dialog clone-dialog" role="dialog" aria-label="Clone to" on:submit=submit
            on:keydown=move |ev: ev::KeyboardEvent| if ev.key() == "Escape" { close() }>
            <h2>"Clone “" {entry.title.clone()} "” to…"</h2>
            <input type="search" class="clone-search" placeholder="Find the new parent by title" autofocus on:input=search/>
            <ul class="picks">
                <For each=move || picks.get() key=|p| p.note_id.clone() let:pick>
                    {
                        let id = pick.note_id.clone();
                        let is_chosen = move || chosen.with(|c| c.as_ref().is_some_and(|c| c.note_id == id));
                        let title = pick.title.clone();
                        view! {
                            <li>
                                <button type="button" class="pick" class:chosen=is_chosen on:click=move |_| chosen.set(Some(pick.clone()))>
                                    {title}
                                </button>
                            </li>
                        }
                    }
                </For>
            </ul>
            <label class="field">
                "Prefix (optional)"
                <input class="clone-prefix" prop:value=move || prefix.get() on:input=move |ev| prefix.set(event_target_value(&ev))/>
            </label>
            <div class="dialog-buttons">
                <button type="button" on:click=move |_| close()>"Cancel"</button>
                <button type="submit" class="primary" disabled=move || chosen.with(Option::is_none)>"Clone"</button>
            </div>
        </form>
    }
}
