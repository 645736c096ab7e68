//! `/recent-changes`: the document's recent edits, creations and deletions (Trilium's Recent changes),
//! by day, newest first, each linking to its note; a deleted note offers "Undelete".
use leptos::prelude::*;

use super::api::{recent_changes, undelete_note, ChangeKind, RecentChange};
use crate::state::{NoteChange, Workspace};

/// The icon button of the tree pane's bar.
#[component]
pub fn RecentChangesButton() -> impl IntoView {
    view! {
        <a class="icon-button recent-changes-button" href="/recent-changes" title="Recent changes" aria-label="Recent changes">
            <span class="bx bx-history" aria-hidden="true"></span>
        </a>
    }
}

/// The page, inside the same layout as the notes (the tree stays).
#[component]
pub fn RecentChangesPage() -> impl IntoView {
    provide_context(Workspace::new(Memo::new(|_| None)));
    view! {
        <crate::layout::Layout>
            <RecentChanges/>
        </crate::layout::Layout>
    }
}

#[component]
fn RecentChanges() -> AnyView {
    let version = RwSignal::new(0u32);
    let changes = Resource::new(move || version.get(), |_| recent_changes());
    let workspace = use_context::<Workspace>();
    let message = RwSignal::new(None::<(bool, String)>);
    let busy = RwSignal::new(false);
    let undelete = Callback::new(move |(note_id, title): (String, String)| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match undelete_note(note_id).await {
                Ok(parents) => {
                    if let Some(workspace) = workspace {
                        for parent_note_id in parents {
                            workspace.announce(NoteChange::ChildrenChanged { parent_note_id });
                        }
                    }
                    message.set(Some((false, format!("“{title}” is back in the tree, with what was deleted with it."))));
                    version.update(|v| *v += 1);
                }
                Err(e) => message.set(Some((true, e.to_string()))),
            }
            busy.set(false);
        });
    });
    view! {
        <section class="recent-changes" aria-labelledby="recent-changes-heading">
            <h1 id="recent-changes-heading">"Recent changes"</h1>
            {move || message.get().map(|(is_error, text)| view! {
                <p class=if is_error { "error" } else { "notice" } role=if is_error { "alert" } else { "status" }>{text}</p>
            })}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match changes.await {
                        Ok(list) if list.is_empty() => view! { <p class="hint">"Nothing has changed yet."</p> }.into_any(),
                        Ok(list) => by_day(list, undelete, busy),
                        Err(e) => view! { <p class="error">"Could not load the recent changes: " {e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
    .into_any()
}

/// Days in the order of the (newest first) list, each with its changes.
fn by_day(list: Vec<RecentChange>, undelete: Callback<(String, String)>, busy: RwSignal<bool>) -> AnyView {
    let mut days: Vec<(String, Vec<RecentChange>)> = Vec::new();
    for change in list {
        match days.last_mut() {
            Some((day, changes)) if *day == change.day => changes.push(change),
            _ => days.push((change.day.clone(), vec![change])),
        }
    }
    days.into_iter()
        .map(|(day, changes)| {
            view! {
                <section class="change-day">
                    <h2><time datetime=day.clone()>{day.clone()}</time></h2>
                    <ul class="change-list">
                        {changes.into_iter().map(|c| change_entry(c, undelete, busy)).collect_view()}
                    </ul>
                </section>
            }
        })
        .collect_view()
        .into_any()
}

fn change_entry(change: RecentChange, undelete: Callback<(String, String)>, busy: RwSignal<bool>) -> AnyView {
    let RecentChange { note_id, kind, title, current_title, time, is_deleted, can_undelete, .. } = change;
    let (kind_name, kind_label) = match kind {
        ChangeKind::Edited => ("edited", "edited"),
        ChangeKind::Created => ("created", "created"),
        ChangeKind::Deleted => ("deleted", "deleted"),
    };
    let renamed = (current_title != title).then(|| view! { <span class="change-now">{format!("now “{current_title}”")}</span> });
    let title_view = if is_deleted {
        view! { <span class="change-title deleted" title="Deleted">{title.clone()}</span> }.into_any()
    } else {
        view! { <a class="change-title" href=format!("/?note={note_id}")>{title.clone()}</a> }.into_any()
    };
    // One "Undelete" per deleted note: on its deletion.
    let action = (is_deleted && kind == ChangeKind::Deleted).then(|| {
        if can_undelete {
            let note_id = note_id.clone();
            let title = current_title.clone();
            view! {
                <button type="button" class="undelete" disabled=move || busy.get()
                    on:click=move |_| undelete.run((note_id.clone(), title.clone()))>"Undelete"</button>
            }
            .into_any()
        } else {
            view! {
                <span class="hint cannot-undelete">"Cannot be undeleted here: the note it was in is deleted too; undelete that first."</span>
            }
            .into_any()
        }
    });
    view! {
        <li class="change" data-kind=kind_name data-note-id=note_id.clone()>
            <time class="change-time">{time}</time>
            <span class="change-kind">{kind_label}</span>
            {title_view}
            {renamed}
            {action}
        </li>
    }
    .into_any()
}
