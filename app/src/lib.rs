//! Canopy's web UI: components and server functions shared by the server (SSR) and the browser (hydrate).
#![recursion_limit = "256"]

pub mod attributes;
pub mod csrf;
pub mod editor;
pub mod error;
pub mod history;
pub mod layout;
pub mod live;
pub mod note;
pub mod search;
pub mod options;
pub mod protected;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod state;
pub mod sync;
pub mod tree;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    hooks::use_query_map,
    SsrMode, StaticSegment,
};

/// The HTML document around the app; rendered only on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let csrf_token = use_context::<csrf::CsrfToken>().map(|token| token.0).unwrap_or_default();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="csrf-token" content=csrf_token/>
                <HydrationScripts options/>
                <MetaTags/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="canopy" href="/pkg/canopy.css"/>
        <Title text="Canopy"/>
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                <Route path=StaticSegment("") view=NotesPage ssr=SsrMode::Async/>
                <Route path=StaticSegment("search") view=SearchPage ssr=SsrMode::Async/>
                <Route path=StaticSegment("recent-changes") view=history::RecentChangesPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("options"), StaticSegment("sync")) view=SyncOptionsPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("options"), StaticSegment("password")) view=PasswordOptionsPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}

/// The full search page (`/search?q=…`) beside the tree; no note is open.
#[component]
fn SearchPage() -> impl IntoView {
    provide_context(state::Workspace::new(Memo::new(|_| None)));
    view! {
        <layout::Layout>
            <search::SearchPage/>
        </layout::Layout>
    }
}

/// The tree on the left, the selected note (`?note=<noteId>`) on the right.
/// Rendered whole on the server (`SsrMode::Async`), so the page is complete even before the wasm runs.
#[component]
fn NotesPage() -> impl IntoView {
    let query = use_query_map();
    let selected = Memo::new(move |_| query.read().get("note"));
    provide_context(state::Workspace::new(selected));
    provide_context(state::SyncPulse::new());
    view! {
        <layout::Layout>
            <note::NoteView note_id=selected/>
        </layout::Layout>
    }
}

/// `/options/sync` beside the tree, with no note open.
#[component]
fn SyncOptionsPage() -> impl IntoView {
    provide_context(state::Workspace::new(Memo::new(|_| None)));
    view! {
        <layout::Layout>
            <options::SyncOptionsPage/>
        </layout::Layout>
    }
}

/// `/options/password` beside the tree: the password and the protected session's timeout.
#[component]
fn PasswordOptionsPage() -> impl IntoView {
    provide_context(state::Workspace::new(Memo::new(|_| None)));
    view! {
        <layout::Layout>
            <options::PasswordOptionsPage/>
        </layout::Layout>
    }
}
