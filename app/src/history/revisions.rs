//! The revisions panel of the open note, opened by `/?note=<noteId>&revision=<revisionId>` (the
//! "Revisions" button opens it on the newest): the list, and the chosen revision's diff against the
//! note's current text or its preview, with restore, delete and download.
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use super::api::{
    delete_revision, download_url, list_revisions, open_revision, restore_revision, DiffChange, DiffChunk, RevisionItem,
    RevisionPreview, RevisionView,
};
use crate::state::{NoteChange, Workspace};

/// What `revision=` holds when the panel should open on the newest revision.
const NEWEST: &str = "latest";

/// The revision the URL asks for: `None` when the panel is closed.
fn requested_revision() -> Memo<Option<String>> {
    let query = use_query_map();
    Memo::new(move |_| query.read().get("revision"))
}

fn note_url(note_id: &str, revision: Option<&str>) -> String {
    match revision {
        Some(revision) => format!("/?note={note_id}&revision={revision}"),
        None => format!("/?note={note_id}"),
    }
}

/// The "Revisions" button of the note header: opens the panel, or closes it when open.
#[component]
pub fn RevisionsButton(note_id: String) -> AnyView {
    let requested = requested_revision();
    let open = move || requested.with(Option::is_some);
    let href = move || note_url(&note_id, (!open()).then_some(NEWEST));
    view! {
        <a class="icon-button text-button revisions-button" href=href aria-expanded=move || open().to_string()
            title="Revisions of this note">
            <span class="bx bx-history" aria-hidden="true"></span>
            <span>"Revisions"</span>
        </a>
    }
    .into_any()
}

type Loaded<T> = Resource<Result<T, crate::error::AppError>>;

/// What the panel shows, loaded by the note view beside the note (see [`load_revisions`]).
#[derive(Clone, Copy)]
pub struct LoadedRevisions {
    requested: Memo<Option<String>>,
    /// Bumped to reload both (a restore, a delete, a revision written elsewhere).
    list_version: RwSignal<u32>,
    list: Loaded<Vec<RevisionItem>>,
    opened: Loaded<Option<RevisionView>>,
}

/// The open note's revisions list and shown revision, while the URL names one (nothing is asked of
/// the server otherwise). Made by the note view outside its `Suspend`, never inside the panel: a
/// resource made inside a `Suspend` exists on the server only after what it waits for resolved and is
/// not matched by the browser's hydration (a page opened on `revision=` failed to hydrate), and the
/// server's render builds the pane more than once, which would load them again each time.
pub fn load_revisions(note_id: Memo<Option<String>>) -> LoadedRevisions {
    let requested = requested_revision();
    let list_version = RwSignal::new(0u32);
    let list = Resource::new(
        move || (note_id.get(), requested.with(Option::is_some), list_version.get()),
        |(note_id, open, _)| async move {
            match note_id {
                Some(note_id) if open => list_revisions(note_id).await,
                _ => Ok(Vec::new()),
            }
        },
    );
    let opened = Resource::new(
        move || (note_id.get(), requested.get(), list_version.get()),
        |(note_id, revision_id, _)| async move {
            match (note_id, revision_id) {
                (Some(note_id), Some(revision_id)) => open_revision(note_id, Some(revision_id).filter(|r| r != NEWEST)).await,
                _ => Ok(None),
            }
        },
    );
    LoadedRevisions { requested, list_version, list, opened }
}

/// The panel, shown while the URL names a revision.
#[component]
pub fn RevisionsPanel(note_id: String, loaded: LoadedRevisions) -> AnyView {
    let requested = loaded.requested;
    view! {
        <Show when=move || requested.with(Option::is_some)>
            <RevisionsSection note_id=note_id.clone() loaded/>
        </Show>
    }
    .into_any()
}

#[component]
fn RevisionsSection(note_id: String, loaded: LoadedRevisions) -> AnyView {
    let LoadedRevisions { requested, list_version, list, opened } = loaded;
    // Live: a revision written elsewhere (ETAPI, sync, another tab, this page's own save) or a new
    // text to compare against reloads the list and the shown revision.
    if let Some(workspace) = use_context::<Workspace>() {
        let this_note = note_id.clone();
        workspace.on_change(move |change| match change {
            NoteChange::RevisionsChanged { note_id } | NoteChange::ContentChanged { note_id } if *note_id == this_note => {
                list_version.update(|v| *v += 1)
            }
            _ => {}
        });
    }
    let close = note_url(&note_id, None);
    view! {
        <section class="revisions" aria-label="Revisions">
            <header class="revisions-bar">
                <h2>"Revisions"</h2>
                <a class="icon-button" href=close title="Close the revisions" aria-label="Close the revisions">
                    <span class="bx bx-x" aria-hidden="true"></span>
                </a>
            </header>
            <Suspense fallback=|| view! { <p class="loading">"Loading revisions…"</p> }>
                {move || {
                    let note_id = note_id.clone();
                    Suspend::new(async move {
                        match list.await {
                            Ok(items) if items.is_empty() => view! {
                                <p class="hint">"This note has no revisions yet. One is taken before an edit at most every few minutes, and before a restore."</p>
                            }.into_any(),
                            Ok(items) => view! { <RevisionsBody note_id items requested list_version opened/> }.into_any(),
                            Err(e) => view! { <p class="error">"Could not load the revisions: " {e.to_string()}</p> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
    }
    .into_any()
}

#[component]
fn RevisionsBody(
    note_id: String,
    items: Vec<RevisionItem>,
    requested: Memo<Option<String>>,
    list_version: RwSignal<u32>,
    opened: Loaded<Option<RevisionView>>,
) -> AnyView {
    let ids: Vec<String> = items.iter().map(|i| i.revision_id.clone()).collect();
    let newest = ids.first().cloned();
    let selected = Memo::new(move |_| {
        requested.get().filter(|id| ids.contains(id)).or_else(|| newest.clone())
    });
    let selected_item = {
        let items = items.clone();
        Memo::new(move |_| selected.get().and_then(|id| items.iter().find(|i| i.revision_id == id).cloned()))
    };
    let entries = items
        .into_iter()
        .map(|item| {
            let id = item.revision_id.clone();
            let is_selected = {
                let id = id.clone();
                move || selected.with(|s| s.as_deref() == Some(id.as_str()))
            };
            let size = format_bytes(item.bytes);
            let row_selected = is_selected.clone();
            view! {
                <li class="revision-entry" data-revision-id=id.clone() class:selected=row_selected
                    class:conflict=item.from_conflict>
                    <a href=note_url(&note_id, Some(&id)) aria-current=move || is_selected().then_some("true")>
                        <span class="revision-when">
                            <span class="revision-relative">{item.relative}</span>
                            <time class="revision-date">{item.date_created.get(..19).unwrap_or_default().to_string()}</time>
                        </span>
                        <span class="revision-title">{item.title}</span>
                        <span class="revision-meta">
                            <span class="revision-size">{size}</span>
                            <span class="revision-instance" class:own=item.own_instance title="The instance that wrote it">
                                {item.instance}
                            </span>
                            {item.from_conflict.then(|| view! {
                                <span class="revision-conflict" title="Sync kept this version when a newer edit from another instance won a conflict">
                                    "kept from a sync conflict"
                                </span>
                            })}
                            {item.is_protected.then(|| view! { <span class="revision-protected">"protected"</span> })}
                        </span>
                    </a>
                </li>
            }
        })
        .collect_view();
    view! {
        <div class="revisions-body">
            <ol class="revision-list" aria-label="Revisions, newest first">{entries}</ol>
            {move || selected_item.get().map(|item| view! {
                <RevisionDetail item list_version opened/>
            })}
        </div>
    }
    .into_any()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shown {
    Diff,
    Preview,
}

#[component]
fn RevisionDetail(
    item: RevisionItem,
    list_version: RwSignal<u32>,
    opened: Loaded<Option<RevisionView>>,
) -> AnyView {
    let workspace = use_context::<Workspace>();
    let navigate = use_navigate();
    let revision_id = item.revision_id.clone();
    let shown = RwSignal::new(Shown::Diff);
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<(bool, String)>);

    let on_restore = {
        let revision_id = revision_id.clone();
        move |_| {
            let revision_id = revision_id.clone();
            busy.set(true);
            leptos::task::spawn_local(async move {
                match restore_revision(revision_id).await {
                    Ok(note_id) => {
                        busy.set(false);
                        message.set(Some((false, "Restored. The text it replaced is now the newest revision.".into())));
                        list_version.update(|v| *v += 1);
                        if let Some(workspace) = workspace {
                            workspace.announce(NoteChange::ContentChanged { note_id });
                        }
                    }
                    Err(e) => {
                        busy.set(false);
                        message.set(Some((true, e.to_string())));
                    }
                }
            });
        }
    };
    let on_delete = {
        let revision_id = revision_id.clone();
        move |_| {
            if !confirm("Delete this revision? It is erased here and, through sync, on every instance.") {
                return;
            }
            let revision_id = revision_id.clone();
            let navigate = navigate.clone();
            busy.set(true);
            leptos::task::spawn_local(async move {
                match delete_revision(revision_id).await {
                    Ok(note_id) => {
                        busy.set(false);
                        navigate(&note_url(&note_id, Some(NEWEST)), Default::default());
                        list_version.update(|v| *v += 1);
                    }
                    Err(e) => {
                        busy.set(false);
                        message.set(Some((true, e.to_string())));
                    }
                }
            });
        }
    };
    let can_read = !item.is_protected;
    let shown_id = revision_id.clone();
    view! {
        <div class="revision-detail" data-revision-id=revision_id.clone()>
            <div class="revision-actions">
                {can_read.then(|| view! {
                    <div class="segmented" role="group" aria-label="Show">
                        <button type="button" aria-pressed=move || (shown.get() == Shown::Diff).to_string()
                            on:click=move |_| shown.set(Shown::Diff)>"Changes"</button>
                        <button type="button" aria-pressed=move || (shown.get() == Shown::Preview).to_string()
                            on:click=move |_| shown.set(Shown::Preview)>"Preview"</button>
                    </div>
                })}
                <span class="spacer"></span>
                <button type="button" class="restore-revision" disabled=move || busy.get() || !can_read on:click=on_restore
                    title="Saves the current text as a revision first, then restores this one">"Restore"</button>
                <a class="button download-revision" href=download_url(&revision_id) download="">"Download"</a>
                <button type="button" class="danger delete-revision" disabled=move || busy.get() on:click=on_delete>"Delete"</button>
            </div>
            {move || message.get().map(|(is_error, text)| view! {
                <p class=if is_error { "error" } else { "notice" } role=if is_error { "alert" } else { "status" }>{text}</p>
            })}
            <Suspense fallback=|| view! { <p class="loading">"Loading the revision…"</p> }>
                {move || {
                    let shown_id = shown_id.clone();
                    Suspend::new(async move {
                        match opened.await {
                            Ok(Some(view)) if view.revision_id == shown_id => view! { <RevisionContent view shown/> }.into_any(),
                            // The list and the shown revision are read apart: a revision deleted or added
                            // between the two reads shows this until the next reload of both.
                            Ok(_) => view! { <p class="loading">"Loading the revision…"</p> }.into_any(),
                            Err(e) => view! { <p class="error">"Could not load the revision: " {e.to_string()}</p> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </div>
    }
    .into_any()
}

#[component]
fn RevisionContent(view: RevisionView, shown: RwSignal<Shown>) -> AnyView {
    let RevisionView { preview, diff, code, .. } = view;
    if matches!(preview, RevisionPreview::Protected) {
        return view! {
            <p class="revision-protected-note">"This revision is protected: it is neither shown nor compared without a protected session."</p>
        }
        .into_any();
    }
    let preview_view = match preview {
        // Sanitized by the server (`sanitize_for_display`).
        RevisionPreview::Html(html) => view! { <div class="revision-preview note-content ck-content" inner_html=html></div> }.into_any(),
        RevisionPreview::Text(text) => view! { <pre class="revision-preview note-content code">{text}</pre> }.into_any(),
        RevisionPreview::Binary { bytes } => view! {
            <p class="revision-preview hint">{format!("Binary content, {}: download it to open it.", format_bytes(bytes as i64))}</p>
        }.into_any(),
        RevisionPreview::Protected => ().into_any(),
    };
    let diff_view = match diff {
        None => view! { <p class="hint">"There is no text to compare."</p> }.into_any(),
        Some(chunks) if chunks.iter().all(|c| c.change == DiffChange::Same) => view! {
            <p class="hint revision-same">"This revision's text is the same as the note's now."</p>
        }.into_any(),
        Some(chunks) => diff_view(chunks, code),
    };
    view! {
        <div class="revision-shown" data-shown=move || if shown.get() == Shown::Diff { "diff" } else { "preview" }>
            <div class="revision-diff-box" hidden=move || shown.get() != Shown::Diff>{diff_view}</div>
            <div class="revision-preview-box" hidden=move || shown.get() != Shown::Preview>{preview_view}</div>
        </div>
    }
    .into_any()
}

/// The diff as text runs: words removed since the revision struck through, words added since
/// underlined; every run rendered as text, so the note's markup never reaches the page through it.
fn diff_view(chunks: Vec<DiffChunk>, code: bool) -> AnyView {
    let (added, removed) = chunks.iter().fold((0usize, 0usize), |(a, r), c| match c.change {
        DiffChange::Added => (a + c.text.split_whitespace().count(), r),
        DiffChange::Removed => (a, r + c.text.split_whitespace().count()),
        DiffChange::Same => (a, r),
    });
    let runs = chunks
        .into_iter()
        .map(|chunk| match chunk.change {
            DiffChange::Same => view! { <span>{chunk.text}</span> }.into_any(),
            DiffChange::Added => view! { <ins title="In the note now, not in this revision">{chunk.text}</ins> }.into_any(),
            DiffChange::Removed => view! { <del title="In this revision, not in the note now">{chunk.text}</del> }.into_any(),
        })
        .collect_view();
    view! {
        <p class="revision-diff-legend">
            {format!("Since this revision: {added} words added, {removed} removed. ")}
            <ins>"added"</ins>" "<del>"removed"</del>
        </p>
        <div class="revision-diff" class:code=code>{runs}</div>
    }
    .into_any()
}

fn format_bytes(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// The browser's confirm dialog (always "no" on the server, where nothing clicks).
fn confirm(question: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        window().confirm_with_message(question).unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = question;
        false
    }
}
