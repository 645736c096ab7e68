//! The note pane: breadcrumbs, the title (edited in place), attributes, and the body in its editor.
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::api::{get_note, rename_note, set_note_type, title_problem, Crumb, NoteBody, NoteDetail};
use crate::state::{use_workspace, NoteChange};

/// Where a save stands, shown next to the title.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaveStatus {
    /// Nothing edited since the note was loaded or saved.
    Clean,
    /// Edited; the save is due in a moment.
    Dirty,
    Saving,
    Saved,
    /// The reason; the text stays in the editor.
    Failed(String),
}

impl SaveStatus {
    fn label(&self) -> String {
        match self {
            SaveStatus::Clean => String::new(),
            SaveStatus::Dirty => "edited".into(),
            SaveStatus::Saving => "saving…".into(),
            SaveStatus::Saved => "saved".into(),
            SaveStatus::Failed(reason) => format!("not saved: {reason}"),
        }
    }

    fn state(&self) -> &'static str {
        match self {
            SaveStatus::Clean => "clean",
            SaveStatus::Dirty => "dirty",
            SaveStatus::Saving => "saving",
            SaveStatus::Saved => "saved",
            SaveStatus::Failed(_) => "failed",
        }
    }
}

#[component]
pub fn NoteView(note_id: Memo<Option<String>>) -> impl IntoView {
    let note = Resource::new(
        move || note_id.get(),
        |id| async move {
            match id {
                Some(id) => get_note(id).await,
                None => Ok(None),
            }
        },
    );
    // A change made elsewhere (a restored revision, another page, sync) is followed by the pane itself,
    // which refreshes in place and never over unsaved typing; it reloads through this when it must.
    // Made here, once, beside the note: the server's render builds the pane inside the `Suspend` more
    // than once (Suspense walks its children again to find nested loads), and a resource made in the
    // pane would be loaded again each time and would not be matched by the browser's hydration.
    let attributes = crate::attributes::load_attributes(note_id);
    let revisions = crate::history::load_revisions(note_id);
    let reload = Callback::new(move |_: ()| {
        note.refetch();
        attributes.refetch();
    });
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match note.await {
                    Ok(Some(detail)) => view! { <NotePane detail reload attributes revisions/> }.into_any(),
                    Ok(None) if note_id.get_untracked().is_some() => {
                        view! { <p class="error">"This note does not exist."</p> }.into_any()
                    }
                    Ok(None) => view! {
                        <p class="hint">"Choose a note in the tree to read it."</p>
                    }.into_any(),
                    Err(e) => view! { <p class="error">"Could not load the note: " {e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The note id a link in note HTML points to: Trilium's `#root/…/<noteId>` paths (reference links and
/// plain internal links alike), or Canopy's own `/?note=<noteId>`.
pub fn linked_note_id(href: &str) -> Option<&str> {
    let id = if let Some(path) = href.strip_prefix('#') {
        path.split(['?', '&']).next()?.rsplit('/').next()?
    } else {
        href.strip_prefix("/?note=")?.split('&').next()?
    };
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(id)
}

#[component]
fn NotePane(
    detail: NoteDetail,
    reload: Callback<()>,
    attributes: crate::attributes::LoadedAttributes,
    revisions: crate::history::LoadedRevisions,
) -> impl IntoView {
    let workspace = use_workspace();
    let NoteDetail { note_id, title, note_type, mime, path, body, shows_protected } = detail;
    // The protected session started or ended (here, in another tab, by timeout): shown anew.
    if let Some(protected) = crate::protected::use_protected() {
        Effect::new(move |previous: Option<u64>| {
            let generation = protected.generation.get();
            if shows_protected && previous.is_some_and(|p| p != generation) {
                reload.run(());
            }
            generation
        });
    }
    let status = RwSignal::new(SaveStatus::Clean);
    let crumbs = RwSignal::new(path);
    let mime = RwSignal::new(mime);
    workspace.on_change(move |change| {
        if let NoteChange::Renamed { note_id: renamed, title } = change {
            crumbs.update(|list| {
                for crumb in list.iter_mut().filter(|c| &c.note_id == renamed) {
                    crumb.title = title.clone();
                }
            });
        }
    });
    let title_editable = !matches!(body, NoteBody::Protected);
    let editable = matches!(body, NoteBody::Html(_) | NoteBody::Text(_)) && matches!(note_type.as_str(), "text" | "code");
    let host = NodeRef::<leptos::html::Div>::new();
    let editor_ready = RwSignal::new(false);
    let languages = RwSignal::new(vec![(mime.get_untracked(), mime.get_untracked())]);
    let type_error = RwSignal::new(None::<String>);
    let elsewhere = RwSignal::new(None::<String>);

    let navigate = use_navigate();
    #[cfg(feature = "hydrate")]
    let controller = editable.then(|| {
        let kind = if note_type == "code" { super::editing::Kind::Code } else { super::editing::Kind::Text };
        let navigate = navigate.clone();
        let open_note: std::rc::Rc<dyn Fn(String)> =
            std::rc::Rc::new(move |id: String| navigate(&format!("/?note={id}"), Default::default()));
        let pane = super::editing::Pane { mime, host, status, ready: editor_ready, languages, elsewhere };
        super::editing::Controller::start(note_id.clone(), kind, pane, open_note)
    });
    // Changed elsewhere (live channel): title and content refresh in place, never over unsaved typing.
    {
        let this_note = note_id.clone();
        let this_type = note_type.clone();
        let shown_title = RwSignal::new(title.clone());
        #[cfg(feature = "hydrate")]
        let controller = controller.clone();
        workspace.on_change(move |change| {
            match change {
                NoteChange::Renamed { note_id: id, title } if *id == this_note => shown_title.set(title.clone()),
                NoteChange::ContentChanged { note_id: id } | NoteChange::Deleted { note_id: id } if *id == this_note => {
                    let note_id = this_note.clone();
                    let note_type = this_type.clone();
                    #[cfg(feature = "hydrate")]
                    let controller = controller.clone();
                    leptos::task::spawn_local(async move {
                        let detail = match get_note(note_id.clone()).await {
                            Ok(Some(detail)) if detail.note_type == note_type => detail,
                            // Gone, or now another kind of note: show it anew.
                            Ok(_) => return reload.run(()),
                            Err(_) => return,
                        };
                        if detail.title != shown_title.get_untracked() {
                            workspace.announce(NoteChange::Renamed { note_id, title: detail.title });
                        }
                        #[cfg(feature = "hydrate")]
                        let updated = match &controller {
                            Some(c) => c.changed_elsewhere().await,
                            None => false,
                        };
                        #[cfg(not(feature = "hydrate"))]
                        let updated = false;
                        if !updated {
                            reload.run(());
                        }
                    });
                }
                _ => {}
            }
        });
    }
    let on_link_click = move |ev: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(anchor) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .and_then(|el| el.closest("a[href]").ok().flatten())
            else {
                return;
            };
            if let Some(id) = anchor.get_attribute("href").as_deref().and_then(linked_note_id) {
                ev.prevent_default();
                navigate(&format!("/?note={id}"), Default::default());
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&ev, &navigate);
    };

    let on_language = {
        let note_id = note_id.clone();
        #[cfg(feature = "hydrate")]
        let controller = controller.clone();
        move |ev: leptos::ev::Event| {
            let new_mime = event_target_value(&ev);
            let note_id = note_id.clone();
            #[cfg(feature = "hydrate")]
            if let Some(c) = &controller {
                c.set_mime(&new_mime);
            }
            leptos::task::spawn_local(async move {
                match set_note_type(note_id.clone(), "code".into(), new_mime.clone()).await {
                    Ok(()) => {
                        type_error.set(None);
                        mime.set(new_mime.clone());
                        workspace.announce(NoteChange::TypeChanged { note_id, note_type: "code".into(), mime: new_mime });
                    }
                    Err(e) => type_error.set(Some(e.to_string())),
                }
            });
        }
    };

    let on_type = {
        let note_id = note_id.clone();
        let current = note_type.clone();
        move |ev: leptos::ev::Event| {
            let new_type = event_target_value(&ev);
            if new_type == current {
                return;
            }
            if !matches!(status.get_untracked(), SaveStatus::Clean | SaveStatus::Saved) {
                type_error.set(Some("Wait until the note is saved before changing its type.".into()));
                return;
            }
            let new_mime = if new_type == "code" { "text/plain" } else { "text/html" }.to_string();
            let note_id = note_id.clone();
            leptos::task::spawn_local(async move {
                match set_note_type(note_id.clone(), new_type.clone(), new_mime.clone()).await {
                    Ok(()) => {
                        workspace.announce(NoteChange::TypeChanged { note_id, note_type: new_type, mime: new_mime });
                        reload.run(());
                    }
                    Err(e) => type_error.set(Some(e.to_string())),
                }
            });
        }
    };

    let type_chooser = editable.then(|| {
        let is_code = note_type == "code";
        view! {
            <label class="note-type">
                <span class="visually-hidden">"Note type"</span>
                <select aria-label="Note type" on:change=on_type>
                    <option value="text" selected=!is_code>"Text"</option>
                    <option value="code" selected=is_code>"Code"</option>
                </select>
            </label>
            {is_code.then(|| view! {
                <label class="note-language">
                    <span class="visually-hidden">"Language"</span>
                    <select aria-label="Language" on:change=on_language prop:value=move || mime.get()>
                        {move || languages.get().into_iter().map(|(m, label)| {
                            let selected = m == mime.get_untracked();
                            view! { <option value=m selected=selected>{label}</option> }
                        }).collect_view()}
                    </select>
                </label>
            })}
        }
        .into_any()
    });

    let body_view = match body {
        NoteBody::Html(html) => view! {
            <div class="note-body text" class:editing=move || editor_ready.get()>
                <div class="note-content ck-content read-view" inner_html=html on:click=on_link_click></div>
                <div class="editor-host" node_ref=host></div>
            </div>
        }
        .into_any(),
        NoteBody::Text(text) if editable => view! {
            <div class="note-body code" class:editing=move || editor_ready.get()>
                <pre class="note-content code read-view">{text}</pre>
                <div class="editor-host" node_ref=host></div>
            </div>
        }
        .into_any(),
        // A saved search lists its results instead of its (empty) content.
        NoteBody::Text(_) if note_type == "search" => {
            view! { <crate::search::SavedSearchResults note_id=note_id.clone()/> }.into_any()
        }
        NoteBody::Text(text) if text.trim().is_empty() => view! {
            <p class="note-content hint">{format!("This {note_type} note has no content of its own.")}</p>
        }
        .into_any(),
        NoteBody::Text(text) => view! { <pre class="note-content code">{text}</pre> }.into_any(),
        NoteBody::Image { src } => view! {
            <figure class="note-content image"><img src=src alt=title.clone()/></figure>
        }
        .into_any(),
        NoteBody::Protected => view! { <crate::protected::LockedNote/> }.into_any(),
        NoteBody::Binary { bytes } => view! {
            <p class="note-content binary">{format!("{} note ({}), {bytes} bytes", note_type, mime.get_untracked())}</p>
        }
        .into_any(),
    };

    let header = view! {
        <header class="note-header">
            <TitleEditor note_id=note_id.clone() title editable=title_editable/>
            {type_chooser}
            <crate::history::RevisionsButton note_id=note_id.clone()/>
            <span class="save-status" role="status" aria-live="polite" data-state=move || status.with(|s| s.state())>
                {move || status.with(SaveStatus::label)}
            </span>
        </header>
    }
    .into_any();
    view! {
        <article class="note" data-note-id=note_id.clone() data-note-type=note_type.clone()>
            <Breadcrumbs crumbs/>
            {header}
            {move || type_error.get().map(|e| view! { <p class="error note-type-error">{e}</p> })}
            {move || elsewhere.get().map(|message| view! {
                <p class="notice changed-elsewhere" role="status">
                    {message}
                    <button type="button" class="icon-button" aria-label="Dismiss" on:click=move |_| elsewhere.set(None)>
                        <span class="bx bx-x" aria-hidden="true"></span>
                    </button>
                </p>
            })}
            <crate::attributes::AttributePanel loaded=attributes/>
            <crate::history::RevisionsPanel note_id=note_id.clone() loaded=revisions/>
            {body_view}
        </article>
    }
}

#[component]
fn Breadcrumbs(crumbs: RwSignal<Vec<Crumb>>) -> impl IntoView {
    view! {
        <nav class="breadcrumbs" aria-label="Note path">
            <ol>
                {move || crumbs.get().into_iter().map(|crumb| view! {
                    <li><a href=format!("/?note={}", crumb.note_id)>{crumb.title}</a></li>
                }).collect_view()}
            </ol>
        </nav>
    }
}

/// The title, edited in place: saved when the field is left or Enter is pressed; Escape goes back to the
/// saved title. A title the server refuses stays in the field with the reason below it.
#[component]
fn TitleEditor(note_id: String, title: String, editable: bool) -> impl IntoView {
    let workspace = use_workspace();
    let text = RwSignal::new(title.clone());
    let saved = RwSignal::new(title);
    let error = RwSignal::new(None::<String>);
    {
        let note_id = note_id.clone();
        workspace.on_change(move |change| {
            if let NoteChange::Renamed { note_id: renamed, title } = change {
                if *renamed == note_id && saved.get_untracked() != *title {
                    saved.set(title.clone());
                    text.set(title.clone());
                }
            }
        });
    }
    let commit = move || {
        let title = text.get_untracked();
        if title == saved.get_untracked() {
            error.set(None);
            return;
        }
        if let Some(problem) = title_problem(&title) {
            error.set(Some(problem));
            return;
        }
        let note_id = note_id.clone();
        leptos::task::spawn_local(async move {
            match rename_note(note_id.clone(), title).await {
                Ok(stored) => {
                    error.set(None);
                    saved.set(stored.clone());
                    workspace.announce(NoteChange::Renamed { note_id, title: stored });
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let on_change = {
        let commit = commit.clone();
        move |_| commit()
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "Enter" => {
            ev.prevent_default();
            commit();
        }
        "Escape" => {
            text.set(saved.get_untracked());
            error.set(None);
        }
        _ => {}
    };
    view! {
        <div class="note-title-box">
            <input
                class="note-title"
                aria-label="Title"
                aria-invalid=move || error.with(Option::is_some).to_string()
                readonly=!editable
                value=saved.get_untracked()
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
                on:change=on_change
                on:keydown=on_keydown
            />
            {move || error.get().map(|e| view! { <p class="error title-error" role="alert">{e}</p> })}
        </div>
    }
    .into_any()
}
