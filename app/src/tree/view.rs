//! The note tree: the server renders root's level, every expanded level and the path to the open
//! note; the browser loads other levels when they are opened. A row is one `<li>` with a few signals
//! and no request of its own, so a level of 1,000 children draws at once.
use leptos::ev;
use leptos::prelude::*;
use leptos::wasm_bindgen::JsCast;

use super::actions;
use super::api::{load_tree, reveal_note, DropPosition, TreeEntry};
use super::icons::icon_class;
use super::overlays::Overlays;
use super::store::{focus_branch, use_tree, Clip, Menu, RowHandle, TreeState};

#[component]
pub fn NoteTree() -> impl IntoView {
    let state = use_tree();
    let open = state.workspace.open_note;
    // The path of the note the page opened with; later navigation reveals notes one by one.
    let snapshot = Resource::new(|| (), move |_| load_tree(open.get_untracked()));
    Effect::new(move |previous: Option<Option<String>>| {
        let current = open.get();
        if let (Some(previous), Some(note_id)) = (previous, current.clone()) {
            if previous.as_ref() != Some(&note_id) && !row_shown(&note_id) {
                leptos::task::spawn_local(async move {
                    match reveal_note(note_id).await {
                        Ok(snapshot) => {
                            state.seed(snapshot);
                            scroll_to_selected();
                        }
                        Err(e) => state.error(format!("Could not show the note in the tree: {e}")),
                    }
                });
            }
        }
        current
    });
    // Once hydrated, the open note's row is in view (a deep note may sit far down a long tree).
    Effect::new(move |_| scroll_to_selected());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match snapshot.await {
                    Ok(snapshot) => {
                        state.seed(snapshot);
                        view! { <Level parent_note_id="root".to_string() top=true/> }.into_any()
                    }
                    Err(e) => view! { <p class="error">"Could not load the tree: " {e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
        <Overlays/>
    }
    .into_any()
}

/// "+ New note" in the tree's top bar: a text note at the end of root's children.
#[component]
pub fn NewNoteButton() -> impl IntoView {
    let state = use_tree();
    view! {
        <button class="new-note" title="New note" on:click=move |_| actions::create(state, None, "root".into(), None, "text")>
            <span class="bx bx-plus" aria-hidden="true"></span>
            <span class="label">" New note"</span>
        </button>
    }
}

/// Scrolls the tree so the highlighted row shows, if it does not already.
fn scroll_to_selected() {
    request_animation_frame(|| {
        let (Ok(Some(row)), Ok(Some(tree))) =
            (document().query_selector("nav.tree .tree-row.selected"), document().query_selector("nav.tree"))
        else {
            return;
        };
        let (r, t) = (row.get_bounding_client_rect(), tree.get_bounding_client_rect());
        if r.top() < t.top() || r.bottom() > t.bottom() {
            row.scroll_into_view_with_bool(false);
        }
    });
}

/// Whether a row of the note is in the page (its path is open).
fn row_shown(note_id: &str) -> bool {
    let selector = format!("nav.tree .tree-row[data-note-id=\"{}\"]", note_id.replace('"', ""));
    document().query_selector(&selector).ok().flatten().is_some()
}

#[component]
fn Level(parent_note_id: String, #[prop(optional)] top: bool) -> impl IntoView {
    let state = use_tree();
    let level = state.level(&parent_note_id);
    // Effects run only in the browser: a level not sent by the server loads when it is first shown.
    Effect::new(move |_| {
        if level.with_untracked(Option::is_none) {
            let parent_note_id = parent_note_id.clone();
            leptos::task::spawn_local(async move { state.reload(parent_note_id).await });
        }
    });
    view! {
        <ul class="tree-level" role=if top { "tree" } else { "group" }>
            {move || level.with(|l| match l {
                None => Some(view! { <li class="loading">"Loading…"</li> }.into_any()),
                Some(Err(e)) => Some(view! { <li class="error">{e.clone()}</li> }.into_any()),
                Some(Ok(list)) if list.is_empty() && top => {
                    Some(view! { <li class="hint">"No notes yet: “New note” makes one."</li> }.into_any())
                }
                Some(Ok(_)) => None,
            })}
            <For
                each=move || level.with(|l| match l { Some(Ok(list)) => list.clone(), _ => Vec::new() })
                key=|entry| entry.clone()
                children=move |entry| tree_item(state, entry)
            />
        </ul>
    }
}

fn tree_item(state: TreeState, entry: TreeEntry) -> AnyView {
    let expanded = RwSignal::new(entry.is_expanded);
    let row = RowHandle { entry: entry.clone(), expanded };
    let note_id = entry.note_id.clone();
    let branch_id = entry.branch_id.clone();
    let selected = {
        let note_id = note_id.clone();
        Memo::new(move |_| state.workspace.open_note.with(|o| o.as_deref() == Some(note_id.as_str())))
    };
    let renaming = {
        let branch_id = branch_id.clone();
        move || state.renaming.with(|r| r.as_deref() == Some(branch_id.as_str()))
    };
    let is_cut = {
        let branch_id = branch_id.clone();
        move || state.clip.with(|c| matches!(c, Some(Clip::Cut(e)) if e.branch_id == branch_id))
    };
    let toggle = entry.has_children.then(|| {
        let row = row.clone();
        view! {
            <button
                class="toggle"
                tabindex="-1"
                aria-label=format!("Expand {}", entry.title)
                aria-expanded=move || expanded.get().to_string()
                on:click=move |_| actions::set_expanded(state, &row, !row.expanded.get_untracked())
            >
                <span class="bx bx-chevron-right" aria-hidden="true"></span>
            </button>
        }
    });
    let prefix = entry.prefix.clone().map(|p| view! { <span class="prefix">{p}": "</span> });
    let clone_marker = entry.is_clone.then(|| {
        view! { <span class="marker clone-marker bx bx-duplicate" title="Cloned: this note has more than one parent" aria-label="clone"></span> }
    });
    let protected_marker = entry.is_protected.then(|| {
        view! { <span class="marker protected-marker bx bx-lock-alt" title="Protected note" aria-label="protected"></span> }
    });
    let title_part = {
        let entry = entry.clone();
        move || {
            if renaming() {
                rename_input(state, entry.clone()).into_any()
            } else {
                let start_rename = {
                    let branch_id = entry.branch_id.clone();
                    move |ev: ev::MouseEvent| {
                        ev.prevent_default();
                        state.renaming.set(Some(branch_id.clone()));
                    }
                };
                view! {
                    <a href=format!("/?note={}", entry.note_id) class="note-link" tabindex="-1" draggable="false" on:dblclick=start_rename>
                        {entry.title.clone()}
                    </a>
                }
                .into_any()
            }
        }
    };
    let on_keydown = {
        let row = row.clone();
        move |ev: ev::KeyboardEvent| row_key(state, &row, ev)
    };
    let on_contextmenu = {
        let row = row.clone();
        move |ev: ev::MouseEvent| {
            ev.prevent_default();
            state.menu.set(Some(Menu { row: row.clone(), x: ev.client_x() as f64, y: ev.client_y() as f64 }));
        }
    };
    let on_menu_button = {
        let row = row.clone();
        move |ev: ev::MouseEvent| {
            ev.stop_propagation();
            open_menu_at(state, &row, ev.current_target());
        }
    };
    let drag = drag_handlers(state, entry.clone());
    let children = {
        let note_id = note_id.clone();
        move || view! { <Level parent_note_id=note_id.clone()/> }
    };
    let item_note_id = note_id.clone();
    view! {
        <li class="tree-item" role="treeitem" data-note-id=item_note_id aria-selected=move || selected.get().to_string()>
            <div
                class="tree-row"
                class:selected=selected
                class:cut=is_cut
                tabindex=move || if selected.get() { "0" } else { "-1" }
                data-branch-id=branch_id
                data-note-id=note_id
                draggable="true"
                on:keydown=on_keydown
                on:contextmenu=on_contextmenu
                on:dragstart=drag.0
                on:dragover=drag.1
                on:drop=drag.2
                on:dragend=move |_| clear_drop(state)
            >
                {toggle.map(IntoAny::into_any).unwrap_or_else(|| view! { <span class="toggle-space"></span> }.into_any())}
                <span class=format!("tree-icon {}", icon_class(&entry)) aria-hidden="true"></span>
                {prefix}
                {title_part}
                {clone_marker}
                {protected_marker}
                <button class="row-menu" tabindex="-1" aria-label=format!("Actions for {}", entry.title) on:click=on_menu_button>
                    <span class="bx bx-dots-vertical-rounded" aria-hidden="true"></span>
                </button>
            </div>
            <Show when=move || expanded.get()>{children.clone()}</Show>
        </li>
    }
    .into_any()
}

/// The title as an input: Enter saves, Escape cancels, leaving the field saves what was typed.
fn rename_input(state: TreeState, entry: TreeEntry) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    // Enter or Escape already decided; the blur that follows must not save again.
    let decided = StoredValue::new(false);
    Effect::new(move |_| {
        if let Some(el) = input.get() {
            let _ = el.focus();
            el.select();
        }
    });
    let on_key = {
        let entry = entry.clone();
        move |ev: ev::KeyboardEvent| {
            ev.stop_propagation();
            match ev.key().as_str() {
                "Enter" => {
                    ev.prevent_default();
                    decided.set_value(true);
                    let title = input.get_untracked().map(|el| el.value()).unwrap_or_default();
                    actions::rename(state, entry.clone(), title);
                }
                "Escape" => {
                    ev.prevent_default();
                    decided.set_value(true);
                    state.renaming.set(None);
                    focus_branch(entry.branch_id.clone());
                }
                _ => {}
            }
        }
    };
    let on_blur = {
        let entry = entry.clone();
        move |_| {
            // Removing the field blurs it too; by then its state may be gone.
            if decided.try_get_value() == Some(false) {
                decided.set_value(true);
                let title = input.get_untracked().map(|el| el.value()).unwrap_or_default();
                actions::rename(state, entry.clone(), title);
            }
        }
    };
    view! {
        <input
            class="rename"
            node_ref=input
            aria-label="New title"
            value=entry.title.clone()
            on:keydown=on_key
            on:blur=on_blur
            on:click=|ev| ev.stop_propagation()
            on:dblclick=|ev| ev.stop_propagation()
        />
    }
}

fn row_key(state: TreeState, row: &RowHandle, ev: ev::KeyboardEvent) {
    let ctrl = ev.ctrl_key() || ev.meta_key();
    let Some(row_el) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) else { return };
    let entry = &row.entry;
    match (ev.key().as_str(), ctrl) {
        ("ArrowDown", false) => focus_relative(&row_el, 1),
        ("ArrowUp", false) => focus_relative(&row_el, -1),
        ("ArrowDown", true) => actions::reorder(state, entry.clone(), false),
        ("ArrowUp", true) => actions::reorder(state, entry.clone(), true),
        ("ArrowRight", false) => {
            if row.expanded.get_untracked() {
                focus_relative(&row_el, 1);
            } else {
                actions::set_expanded(state, row, true);
            }
        }
        ("ArrowLeft", false) => {
            if row.expanded.get_untracked() {
                actions::set_expanded(state, row, false);
            } else if let Some(parent_row) = parent_row(&row_el) {
                let _ = parent_row.focus();
            }
        }
        ("Enter", false) => state.open(&entry.note_id),
        ("F2", false) => state.renaming.set(Some(entry.branch_id.clone())),
        ("Delete", false) => actions::delete(state, entry.clone()),
        ("x" | "X", true) => {
            state.clip.set(Some(Clip::Cut(entry.clone())));
            state.tell(format!("Cut “{}”: Ctrl+V on another note moves it there.", entry.title), false, None);
        }
        ("c" | "C", true) => {
            state.clip.set(Some(Clip::Copy(entry.clone())));
            state.tell(format!("Copied “{}”: Ctrl+Shift+V on another note clones it there.", entry.title), false, None);
        }
        ("v" | "V", true) => actions::paste(state, row.clone(), ev.shift_key()),
        ("ContextMenu", _) | ("F10", false) if ev.key() == "ContextMenu" || ev.shift_key() => {
            open_menu_at(state, row, Some(row_el.into()));
        }
        _ => return,
    }
    ev.prevent_default();
}

fn open_menu_at(state: TreeState, row: &RowHandle, target: Option<web_sys::EventTarget>) {
    let rect = target.and_then(|t| t.dyn_into::<web_sys::Element>().ok()).map(|el| el.get_bounding_client_rect());
    let (x, y) = rect.map(|r| (r.right() - 8.0, r.bottom())).unwrap_or((40.0, 40.0));
    state.menu.set(Some(Menu { row: row.clone(), x, y }));
}

/// Focuses the row `step` rows below (or above) in what the tree shows.
fn focus_relative(row: &web_sys::HtmlElement, step: i32) {
    let Ok(rows) = document().query_selector_all("nav.tree .tree-row") else { return };
    let current = (0..rows.length()).find(|&i| rows.item(i).is_some_and(|n| n.is_same_node(Some(row))));
    let Some(current) = current else { return };
    let next = current as i64 + step as i64;
    if next < 0 || next >= rows.length() as i64 {
        return;
    }
    if let Some(el) = rows.item(next as u32).and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = el.focus();
    }
}

/// The row of the parent note (row → li → ul → li → row).
fn parent_row(row: &web_sys::HtmlElement) -> Option<web_sys::HtmlElement> {
    let li = row.parent_element()?.parent_element()?.parent_element()?;
    li.query_selector(":scope > .tree-row").ok().flatten()?.dyn_into().ok()
}

const DROP_CLASSES: [&str; 3] = ["drop-before", "drop-into", "drop-after"];

fn drop_class(position: DropPosition) -> &'static str {
    match position {
        DropPosition::Before => DROP_CLASSES[0],
        DropPosition::Into => DROP_CLASSES[1],
        DropPosition::After => DROP_CLASSES[2],
    }
}

/// Removes the drop indicator and forgets the drag.
fn clear_drop(state: TreeState) {
    state.dragging.set_value(None);
    if let Some((branch_id, _)) = state.drop_hint.try_update_value(Option::take).flatten() {
        let selector = format!(".tree-row[data-branch-id=\"{}\"]", branch_id.replace('"', ""));
        if let Ok(Some(el)) = document().query_selector(&selector) {
            for class in DROP_CLASSES {
                let _ = el.class_list().remove_1(class);
            }
        }
    }
}

/// The row under the pointer and where on it: the top quarter is "before", the bottom quarter "after".
fn drop_position(ev: &ev::DragEvent) -> Option<(web_sys::Element, DropPosition)> {
    let el = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok())?;
    let rect = el.get_bounding_client_rect();
    let y = ev.client_y() as f64 - rect.top();
    let position = if y < rect.height() * 0.25 {
        DropPosition::Before
    } else if y > rect.height() * 0.75 {
        DropPosition::After
    } else {
        DropPosition::Into
    };
    Some((el, position))
}

/// dragstart, dragover and drop of a row. The indicator is a class set on the one row under the
/// pointer (not a signal every row watches), so dragging over 1,000 rows stays cheap.
#[allow(clippy::type_complexity)]
fn drag_handlers(
    state: TreeState,
    entry: TreeEntry,
) -> (impl Fn(ev::DragEvent) + 'static, impl Fn(ev::DragEvent) + 'static, impl Fn(ev::DragEvent) + 'static) {
    let start = {
        let entry = entry.clone();
        move |ev: ev::DragEvent| {
            if let Some(dt) = ev.data_transfer() {
                let _ = dt.set_data("text/plain", &entry.note_id);
                dt.set_effect_allowed("move");
            }
            state.menu.set(None);
            state.dragging.set_value(Some(entry.clone()));
        }
    };
    let over = {
        let entry = entry.clone();
        move |ev: ev::DragEvent| {
            let dragged = state.dragging.with_value(|d| d.as_ref().map(|d| d.branch_id.clone()));
            if dragged.is_none() || dragged.as_deref() == Some(entry.branch_id.as_str()) {
                return;
            }
            let Some((el, position)) = drop_position(&ev) else { return };
            ev.prevent_default();
            let unchanged = state.drop_hint.with_value(|h| h.as_ref().is_some_and(|(b, p)| *b == entry.branch_id && *p == position));
            if unchanged {
                return;
            }
            let dragging = state.dragging.get_value();
            clear_drop(state);
            state.dragging.set_value(dragging);
            let _ = el.class_list().add_1(drop_class(position));
            state.drop_hint.set_value(Some((entry.branch_id.clone(), position)));
        }
    };
    let drop = move |ev: ev::DragEvent| {
        ev.prevent_default();
        let dragged = state.dragging.get_value();
        // From the drop itself: a short drag may drop before any dragover reached this row.
        let position = drop_position(&ev).map(|(_, p)| p);
        clear_drop(state);
        if let (Some(dragged), Some(position)) = (dragged, position) {
            if dragged.branch_id != entry.branch_id {
                actions::move_to(state, dragged, position, entry.clone());
            }
        }
    };
    (start, over, drop)
}
