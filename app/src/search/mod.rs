//! Search in the page: the quick-search box above the tree, the search page (`/search?q=`), the results
//! of a saved search in the note pane, and the "jump to note" dialog (Ctrl+J).
pub mod api;

use std::time::Duration;

use leptos::ev;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};

use api::{full_search, jump_titles, quick_search, save_search, saved_search, QuickResults, SearchHit, SearchResults, SnippetPart};
use crate::state::{use_workspace, NoteChange};

/// Typing pauses this long before a search is sent.
const DEBOUNCE: Duration = Duration::from_millis(120);

/// Where a note opens.
pub fn note_href(note_id: &str) -> String {
    format!("/?note={note_id}")
}

/// The search page for `query`.
pub fn search_href(query: &str) -> String {
    format!("/search?q={}", encode_query(query))
}

fn encode_query(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Runs `search` for what was typed once typing pauses; an answer to an older text is dropped.
#[derive(Clone, Copy)]
struct Debounced {
    generation: StoredValue<u64>,
}

impl Debounced {
    fn new() -> Self {
        Debounced { generation: StoredValue::new(0) }
    }

    /// Forgets whatever is in flight.
    fn cancel(&self) {
        self.generation.update_value(|g| *g += 1);
    }

    fn run<T, F, Fut>(&self, search: F, apply: impl Fn(T) + 'static)
    where
        T: 'static,
        F: FnOnce() -> Fut + 'static,
        Fut: std::future::Future<Output = T> + 'static,
    {
        self.cancel();
        let mine = self.generation.get_value();
        let generation = self.generation;
        set_timeout(
            move || {
                if generation.get_value() != mine {
                    return;
                }
                spawn_local(async move {
                    let answer = search().await;
                    if generation.get_value() == mine {
                        apply(answer);
                    }
                });
            },
            DEBOUNCE,
        );
    }
}

#[component]
fn Snippet(parts: Vec<SnippetPart>) -> impl IntoView {
    (!parts.is_empty()).then(|| {
        view! {
            <span class="hit-snippet">
                {parts.into_iter().map(|p| if p.marked {
                    view! { <mark>{p.text}</mark> }.into_any()
                } else {
                    view! { <span>{p.text}</span> }.into_any()
                }).collect_view()}
            </span>
        }
    })
}

/// One result: a link to the note with its path and snippet.
#[component]
fn Hit(hit: SearchHit, #[prop(optional)] active: Option<Signal<bool>>, #[prop(optional)] on_open: Option<Callback<()>>) -> impl IntoView {
    let SearchHit { note_id, title, path, snippet } = hit;
    let active = active.unwrap_or(Signal::stored(false));
    view! {
        <li class="search-hit" class:active=move || active.get() role="option" aria-selected=move || active.get().to_string()
            data-note-id=note_id.clone()>
            <a href=note_href(&note_id) on:click=move |_| if let Some(f) = on_open { f.run(()) }>
                <span class="hit-title">{title}</span>
                {(!path.is_empty()).then(|| view! { <span class="hit-path">{path}</span> })}
                <Snippet parts=snippet/>
            </a>
        </li>
    }
}

/// The box above the tree: title matches, then text matches with their snippets, while typing.
/// Arrow keys move through them, Enter opens one (or the search page), Escape closes the list.
#[component]
pub fn QuickSearch() -> impl IntoView {
    let text = RwSignal::new(String::new());
    let results = RwSignal::new(None::<QuickResults>);
    let error = RwSignal::new(None::<String>);
    let active = RwSignal::new(0usize);
    let debounced = Debounced::new();
    let navigate = use_navigate();

    let hits = move || {
        results.with(|r| r.as_ref().map(|r| r.titles.iter().chain(r.texts.iter()).cloned().collect::<Vec<_>>()).unwrap_or_default())
    };
    let close = move || {
        debounced.cancel();
        results.set(None);
        error.set(None);
    };
    let on_input = move |ev: ev::Event| {
        let value = event_target_value(&ev);
        text.set(value.clone());
        if value.trim().is_empty() {
            close();
            return;
        }
        debounced.run(
            move || quick_search(value),
            move |answer| match answer {
                Ok(found) => {
                    error.set(None);
                    active.set(0);
                    results.set(Some(found));
                }
                Err(e) => error.set(Some(e.to_string())),
            },
        );
    };
    let on_keydown = {
        let navigate = navigate.clone();
        move |ev: ev::KeyboardEvent| {
            let count = hits().len();
            match ev.key().as_str() {
                key @ ("ArrowDown" | "ArrowUp") if count > 0 => {
                    ev.prevent_default();
                    step_highlight(active, count, key == "ArrowDown");
                }
                "Enter" => {
                    ev.prevent_default();
                    let chosen = hits().get(active.get_untracked()).map(|h| h.note_id.clone());
                    match chosen {
                        Some(id) => {
                            close();
                            navigate(&note_href(&id), Default::default());
                        }
                        None if !text.get_untracked().trim().is_empty() => {
                            let query = text.get_untracked();
                            close();
                            navigate(&search_href(&query), Default::default());
                        }
                        None => {}
                    }
                }
                "Escape" => {
                    ev.prevent_default();
                    close();
                }
                _ => {}
            }
        }
    };
    let opened = Callback::new(move |_| close());
    let list = move || {
        let r = results.get()?;
        let titles_len = r.titles.len();
        let query = text.get_untracked();
        let group = move |hits: Vec<SearchHit>, offset: usize| {
            hits.into_iter()
                .enumerate()
                .map(|(i, hit)| {
                    let active = Signal::derive(move || active.get() == offset + i);
                    view! { <Hit hit active on_open=opened/> }
                })
                .collect_view()
        };
        let empty = r.titles.is_empty() && r.texts.is_empty();
        Some(view! {
            <div class="quick-results">
                {empty.then(|| view! { <p class="hint">"No note matches."</p> })}
                {(!r.titles.is_empty()).then(|| view! { <h3>"Titles"</h3> })}
                <ul class="quick-titles" role="listbox" aria-label="Notes whose title matches">{group(r.titles, 0)}</ul>
                {(!r.texts.is_empty()).then(|| view! { <h3>"In the text"</h3> })}
                <ul class="quick-texts" role="listbox" aria-label="Notes whose text matches">{group(r.texts, titles_len)}</ul>
                <a class="all-results" href=search_href(&query) on:click=move |_| close()>"All results…"</a>
            </div>
        })
    };
    view! {
        <div class="quick-search" role="search">
            <span class="bx bx-search" aria-hidden="true"></span>
            <input
                type="search"
                class="quick-search-input"
                placeholder="Search notes"
                aria-label="Quick search"
                autocomplete="off"
                prop:value=move || text.get()
                on:input=on_input
                on:keydown=on_keydown
            />
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {list}
        </div>
    }
}

#[component]
fn ResultList(results: SearchResults) -> impl IntoView {
    let SearchResults { total, hits, error, .. } = results;
    let shown = hits.len();
    view! {
        {error.map(|e| view! { <p class="error search-error" role="alert">{format!("The search does not parse: {e}")}</p> })}
        <p class="search-count" role="status">
            {match total {
                0 => "No note matches.".to_string(),
                1 => "1 note".to_string(),
                n if n > shown => format!("{n} notes, the first {shown} listed"),
                n => format!("{n} notes"),
            }}
        </p>
        <ul class="search-results">
            {hits.into_iter().map(|hit| view! { <Hit hit/> }).collect_view()}
        </ul>
    }
}

/// `/search?q=…`: Trilium's search language, results with paths and snippets, "Save this search".
#[component]
pub fn SearchPage() -> impl IntoView {
    let query = use_query_map();
    let q = Memo::new(move |_| query.read().get("q").unwrap_or_default());
    let found = Resource::new(
        move || q.get(),
        |q| async move { if q.trim().is_empty() { Ok(SearchResults::default()) } else { full_search(q).await } },
    );
    let workspace = use_workspace();
    let save_error = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let on_save = move |_| {
        let query = q.get_untracked();
        let navigate = navigate.clone();
        spawn_local(async move {
            match save_search(query).await {
                Ok(note_id) => {
                    save_error.set(None);
                    workspace.announce(NoteChange::ChildrenChanged { parent_note_id: "root".into() });
                    navigate(&note_href(&note_id), Default::default());
                }
                Err(e) => save_error.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <section class="search-page" aria-label="Search">
            <form class="search-form" method="get" action="/search">
                <input type="search" name="q" class="search-query" aria-label="Search"
                    placeholder="Words, #label, ~relation, note.title *= …" value=move || q.get()/>
                <button type="submit" class="button">"Search"</button>
                <button type="button" class="button save-search" disabled=move || q.with(|q| q.trim().is_empty()) on:click=on_save>
                    "Save this search"
                </button>
            </form>
            {move || save_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <Suspense fallback=|| view! { <p class="loading">"Searching…"</p> }>
                {move || Suspend::new(async move {
                    match found.await {
                        Ok(results) => view! { <ResultList results/> }.into_any(),
                        Err(e) => view! { <p class="error">"The search failed: " {e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The results of a saved search (a note of type `search`), shown in its note pane.
#[component]
pub fn SavedSearchResults(note_id: String) -> impl IntoView {
    let found = Resource::new(move || note_id.clone(), saved_search);
    view! {
        <section class="saved-search" aria-label="Search results">
            <Suspense fallback=|| view! { <p class="loading">"Searching…"</p> }>
                {move || Suspend::new(async move {
                    match found.await {
                        Ok(results) => {
                            let query = results.query.clone();
                            view! {
                                <p class="saved-query">"Search: " <code>{query.clone()}</code> " "
                                    <a href=search_href(&query)>"Open in the search page"</a></p>
                                <ResultList results/>
                            }.into_any()
                        }
                        Err(e) => view! { <p class="error">"The search failed: " {e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Ctrl+J: a dialog that finds notes by title over the whole document; arrows, Enter, Escape.
#[component]
pub fn JumpToNote() -> impl IntoView {
    let open = RwSignal::new(false);
    let text = RwSignal::new(String::new());
    let hits = RwSignal::new(Vec::<SearchHit>::new());
    let active = RwSignal::new(0usize);
    let debounced = Debounced::new();
    let input = NodeRef::<leptos::html::Input>::new();
    let navigate = use_navigate();
    let close = move || {
        debounced.cancel();
        open.set(false);
        text.set(String::new());
        hits.set(Vec::new());
    };
    let shortcut = window_event_listener(ev::keydown, move |ev| {
        if (ev.ctrl_key() || ev.meta_key()) && ev.key().eq_ignore_ascii_case("j") {
            ev.prevent_default();
            open.set(true);
        }
    });
    on_cleanup(move || shortcut.remove());
    Effect::new(move |_| {
        if open.get() {
            if let Some(el) = input.get() {
                let _ = el.focus();
            }
        }
    });
    let on_input = move |ev: ev::Event| {
        let value = event_target_value(&ev);
        text.set(value.clone());
        if value.trim().is_empty() {
            debounced.cancel();
            hits.set(Vec::new());
            return;
        }
        debounced.run(move || jump_titles(value), move |answer| {
            active.set(0);
            hits.set(answer.unwrap_or_default());
        });
    };
    let on_keydown = move |ev: ev::KeyboardEvent| {
        let count = hits.with(Vec::len);
        match ev.key().as_str() {
            key @ ("ArrowDown" | "ArrowUp") if count > 0 => {
                ev.prevent_default();
                step_highlight(active, count, key == "ArrowDown");
            }
            "Enter" => {
                ev.prevent_default();
                if let Some(id) = hits.with(|h| h.get(active.get_untracked()).map(|h| h.note_id.clone())) {
                    close();
                    navigate(&note_href(&id), Default::default());
                }
            }
            "Escape" => {
                ev.prevent_default();
                close();
            }
            _ => {}
        }
    };
    let opened = Callback::new(move |_| close());
    move || {
        open.get().then(|| {
            let on_keydown = on_keydown.clone();
            view! {
                <div class="jump-backdrop" on:click=move |_| close()></div>
                <div class="jump-dialog" role="dialog" aria-modal="true" aria-label="Jump to note">
                    <input node_ref=input type="search" class="jump-input" placeholder="Jump to a note by its title"
                        aria-label="Jump to note" autocomplete="off"
                        prop:value=move || text.get() on:input=on_input on:keydown=on_keydown/>
                    <ul class="jump-results" role="listbox" aria-label="Notes">
                        {move || hits.get().into_iter().enumerate().map(|(i, hit)| {
                            let active = Signal::derive(move || active.get() == i);
                            view! { <Hit hit active on_open=opened/> }
                        }).collect_view()}
                    </ul>
                    <p class="hint">"↑ ↓ to choose, Enter to open, Esc to close"</p>
                </div>
            }
        })
    }
}

/// Moves the highlighted entry of a result list of `count` (> 0) one down or up, wrapping around.
fn step_highlight(active: RwSignal<usize>, count: usize, down: bool) {
    active.update(|a| *a = if down { (*a + 1) % count } else { (*a + count - 1) % count });
}
