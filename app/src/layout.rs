//! The page layout: the tree pane (resizable, collapsible; a drawer at phone width) and the note pane.
use leptos::ev;
use leptos::prelude::*;
use leptos_meta::Stylesheet;

use crate::state::use_workspace;
use crate::tree::{provide_tree, NewNoteButton, NoteTree};

const WIDTH_KEY: &str = "canopy.treeWidth";
const COLLAPSED_KEY: &str = "canopy.treeCollapsed";
const MIN_WIDTH: i32 = 180;
const MAX_WIDTH: i32 = 640;

fn stored(key: &str) -> Option<String> {
    window().local_storage().ok().flatten()?.get_item(key).ok().flatten()
}

fn store(key: &str, value: &str) {
    if let Some(storage) = window().local_storage().ok().flatten() {
        let _ = storage.set_item(key, value);
    }
}

/// Ctrl+\ shows or hides the tree (Ctrl+B is bold in the editor).
fn is_toggle_shortcut(ev: &ev::KeyboardEvent) -> bool {
    (ev.ctrl_key() || ev.meta_key()) && ev.key() == "\\"
}

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    // Effects only run in the browser: the attribute turns true once the wasm has hydrated the page.
    let hydrated = RwSignal::new(false);
    provide_tree();
    crate::protected::provide_protected();
    // Every page in the layout is live; the sync indicator follows the pulse the channel bumps.
    if use_context::<crate::state::SyncPulse>().is_none() {
        provide_context(crate::state::SyncPulse::new());
    }
    crate::sync::provide_sync_view();
    let workspace = use_workspace();
    let width: RwSignal<Option<i32>> = RwSignal::new(None);
    let collapsed = RwSignal::new(false);
    let drawer_open = RwSignal::new(false);
    let resizing = RwSignal::new(false);
    Effect::new(move |_| {
        width.set(stored(WIDTH_KEY).and_then(|w| w.parse().ok()).map(|w: i32| w.clamp(MIN_WIDTH, MAX_WIDTH)));
        collapsed.set(stored(COLLAPSED_KEY).as_deref() == Some("true"));
        hydrated.set(true);
    });
    // Choosing a note closes the drawer.
    Effect::new(move |_| {
        workspace.open_note.track();
        drawer_open.set(false);
    });
    let toggle_collapsed = move || {
        let now = !collapsed.get_untracked();
        collapsed.set(now);
        store(COLLAPSED_KEY, &now.to_string());
    };
    let shortcut = window_event_listener(ev::keydown, move |ev| {
        if is_toggle_shortcut(&ev) {
            ev.prevent_default();
            toggle_collapsed();
        }
    });
    on_cleanup(move || shortcut.remove());

    let on_pointerdown = move |ev: ev::PointerEvent| {
        use leptos::wasm_bindgen::JsCast;
        if let Some(handle) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
            let _ = handle.set_pointer_capture(ev.pointer_id());
        }
        ev.prevent_default();
        resizing.set(true);
    };
    let on_pointermove = move |ev: ev::PointerEvent| {
        if resizing.get_untracked() {
            width.set(Some(ev.client_x().clamp(MIN_WIDTH, MAX_WIDTH)));
        }
    };
    let on_pointerup = move |_: ev::PointerEvent| {
        if resizing.get_untracked() {
            resizing.set(false);
            if let Some(w) = width.get_untracked() {
                store(WIDTH_KEY, &w.to_string());
            }
        }
    };
    let style = move || width.get().map(|w| format!("--tree-width: {w}px"));
    view! {
        // Served by this instance: the tree's icons and Trilium's `#iconClass` names.
        <Stylesheet id="boxicons" href="/vendor/boxicons/css/boxicons.min.css"/>
        <div
            class="layout"
            class:tree-collapsed=collapsed
            class:drawer-open=drawer_open
            class:resizing=resizing
            style=style
            data-hydrated=move || hydrated.get().to_string()
        >
            <aside class="tree-pane" aria-label="Notes">
                <header class="pane-bar">
                    <a class="brand" href="/" aria-label="Canopy home">
                        <img src="/favicon.svg" alt="" width="20" height="20"/>
                        <span>"Canopy"</span>
                    </a>
                    <NewNoteButton/>
                    <crate::history::RecentChangesButton/>
                    <crate::sync::SyncIndicator/>
                    <crate::protected::LockButton/>
                    <a class="icon-button options-link" href="/options/sync" title="Options" aria-label="Options">
                        <span class="bx bx-cog" aria-hidden="true"></span>
                    </a>
                    <LogoutButton/>
                    <button class="icon-button collapse-tree" title="Hide the tree (Ctrl+\\)" aria-label="Hide the tree"
                        on:click=move |_| toggle_collapsed()>
                        <span class="bx bx-chevrons-left" aria-hidden="true"></span>
                    </button>
                    <button class="icon-button close-drawer" aria-label="Close the tree" on:click=move |_| drawer_open.set(false)>
                        <span class="bx bx-x" aria-hidden="true"></span>
                    </button>
                </header>
                <crate::search::QuickSearch/>
                <nav class="tree" aria-label="Note tree">
                    {view! { <NoteTree/> }.into_any()}
                </nav>
                <div
                    class="resize-handle"
                    role="separator"
                    aria-orientation="vertical"
                    aria-label="Resize the tree"
                    on:pointerdown=on_pointerdown
                    on:pointermove=on_pointermove
                    on:pointerup=on_pointerup
                    on:dblclick=move |_| { width.set(None); store(WIDTH_KEY, ""); }
                ></div>
            </aside>
            <div class="drawer-backdrop" on:click=move |_| drawer_open.set(false)></div>
            <main class="note-pane">
                <crate::sync::SyncNotices/>
                <div class="note-bar">
                    <button class="icon-button open-drawer" aria-label="Open the tree" on:click=move |_| drawer_open.set(true)>
                        <span class="bx bx-menu" aria-hidden="true"></span>
                    </button>
                    <button class="icon-button show-tree" title="Show the tree (Ctrl+\\)" aria-label="Show the tree"
                        on:click=move |_| toggle_collapsed()>
                        <span class="bx bx-chevrons-right" aria-hidden="true"></span>
                    </button>
                </div>
                {children()}
            </main>
            <crate::live::LiveChannel/>
            <crate::search::JumpToNote/>
            // Outside the tree pane: on a phone that pane is a moved drawer, which would move the dialog too.
            <crate::protected::PasswordDialog/>
        </div>
    }
    .into_any()
}

/// Ends the session (`POST /logout` with the session's CSRF token, as a plain form, so it works before
/// hydration too: the server renders the token into the field, the page refreshes it from its meta tag).
#[component]
fn LogoutButton() -> impl IntoView {
    let token = RwSignal::new(use_context::<crate::csrf::CsrfToken>().map(|t| t.0).unwrap_or_default());
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(current) = crate::csrf::token() {
            token.set(current);
        }
    });
    view! {
        <form class="logout" method="post" action="/logout">
            <input type="hidden" name="csrf_token" value=move || token.get()/>
            <button type="submit" class="icon-button" title="Log out" aria-label="Log out">
                <span class="bx bx-log-out" aria-hidden="true"></span>
            </button>
        </form>
    }
}
