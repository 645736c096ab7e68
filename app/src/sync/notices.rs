//! The notices at the top of the note pane: what went wrong with sync and what to do, each shown
//! until it is dismissed. Dismissals are remembered per browser in localStorage (`canopy.syncDismissed`),
//! by a key naming the notice (a conflict by its row id), so a dismissed notice stays away after a
//! reload while a new failure of another kind shows again.
use leptos::prelude::*;

use super::api::{self, ConflictNotice, FailureKind, HashFailure, SyncFailure};
use super::use_sync_view;

const DISMISSED_KEY: &str = "canopy.syncDismissed";

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

fn load_dismissed() -> Vec<String> {
    storage()
        .and_then(|s| s.get_item(DISMISSED_KEY).ok().flatten())
        .map(|v| v.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn save_dismissed(keys: &[String]) {
    if let Some(s) = storage() {
        // The newest 200 are enough: conflict ids only grow.
        let start = keys.len().saturating_sub(200);
        let _ = s.set_item(DISMISSED_KEY, &keys[start..].join("\n"));
    }
}

fn failure_key(f: &SyncFailure) -> String {
    format!("failure:{:?}:{}", f.kind, f.message)
}

fn hash_key(h: &HashFailure) -> String {
    format!("hash:{}", h.sectors.join(","))
}

fn conflict_key(c: &ConflictNotice) -> String {
    format!("conflict:{}", c.id)
}

/// What happened and what to do, in words, for a failed cycle against `host`.
fn failure_text(failure: &SyncFailure, host: &str) -> (String, String) {
    match failure.kind {
        FailureKind::Unreachable => (
            format!("Sync failed: the sync server at {host} cannot be reached."),
            format!(
                "Check that it is running and that its address is right. Canopy keeps trying by itself; the indicator \
                 runs a sync at once. ({})",
                failure.message
            ),
        ),
        FailureKind::Version => (
            format!("Sync refused: the sync server at {host} runs another version. {}", failure.message),
            "Run the same Canopy or Trilium version (the same sync protocol and database version) on every instance."
                .into(),
        ),
        FailureKind::Credentials => (
            format!("Sync failed: the sync server at {host} did not accept this instance's credentials."),
            format!(
                "This instance and the server hold different documents, or the server's document was replaced. Set this \
                 instance up again from the server (sync from server, with the server's password). ({})",
                failure.message
            ),
        ),
        FailureKind::Other => (
            format!("Sync failed: {}", failure.message),
            "The server's log has the details; the indicator runs a sync again.".into(),
        ),
    }
}

#[component]
pub fn SyncNotices() -> impl IntoView {
    let view = use_sync_view();
    let dismissed: RwSignal<Vec<String>> = RwSignal::new(Vec::new());
    Effect::new(move |_| dismissed.set(load_dismissed()));
    // A failure stays shown after sync works again, until dismissed (it is then marked as over).
    let last_failure: RwSignal<Option<(SyncFailure, String)>> = RwSignal::new(None);
    Effect::new(move |_| {
        if let Some(Ok(overview)) = view.overview.get() {
            if let (Some(failure), Some(host)) = (overview.failure, overview.sync_server_host) {
                last_failure.set(Some((failure, host)));
            }
        }
    });
    // A conflict found while the page is open changed its note under the page: whoever shows the
    // note reloads it (the first answer is what the page loaded with, so it announces nothing).
    let workspace = use_context::<crate::state::Workspace>();
    let known_conflicts: StoredValue<Option<Vec<i64>>> = StoredValue::new(None);
    Effect::new(move |_| {
        let Some(Ok(overview)) = view.overview.get() else { return };
        let ids: Vec<i64> = overview.conflicts.iter().map(|c| c.id).collect();
        if let (Some(known), Some(workspace)) = (known_conflicts.get_value(), workspace) {
            for c in overview.conflicts.iter().filter(|c| !known.contains(&c.id)) {
                workspace.announce(crate::state::NoteChange::ContentChanged { note_id: c.note_id.clone() });
            }
        }
        known_conflicts.set_value(Some(ids));
    });
    let dismiss = move |key: String| {
        dismissed.update(|keys| keys.push(key));
        save_dismissed(&dismissed.get_untracked());
    };
    // The deep check's state lives here: the notices are rebuilt on every status refetch.
    let deep_check = DeepCheckState { report: RwSignal::new(None), running: RwSignal::new(false) };
    let is_dismissed = move |key: &str| dismissed.with(|keys| keys.iter().any(|k| k == key));

    view! {
        // Awaited, not read: see the indicator, which reads the same resource.
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let overview = view.overview.await.ok()?;
                let host = overview.sync_server_host.clone().unwrap_or_default();
                let failure = overview
                    .failure
                    .clone()
                    .map(|f| (f, host.clone(), false))
                    .or_else(|| last_failure.get().map(|(f, h)| (f, h, true)))
                    .filter(|(f, _, _)| !is_dismissed(&failure_key(f)));
                let hash = overview.hash_failure.clone().filter(|h| !is_dismissed(&hash_key(h)));
                let conflicts: Vec<ConflictNotice> =
                    overview.conflicts.iter().filter(|c| !is_dismissed(&conflict_key(c))).cloned().collect();
                if failure.is_none() && hash.is_none() && conflicts.is_empty() {
                    return None;
                }
                Some(view! {
                    <section class="sync-notices" aria-label="Sync notices">
                        {failure.map(|(f, host, over)| {
                            let (what, todo) = failure_text(&f, &host);
                            let key = failure_key(&f);
                            view! {
                                <div class="sync-notice failure" data-kind=format!("{:?}", f.kind).to_lowercase() role="alert">
                                    <p class="what">{what}</p>
                                    <p class="todo">{todo}</p>
                                    {over.then(|| view! { <p class="over">"Sync has worked again since."</p> })}
                                    <p class="when">{format!("At {}", f.at)}</p>
                                    <DismissButton on_dismiss=move || dismiss(key.clone())/>
                                </div>
                            }
                        })}
                        {hash.map(|h| {
                            let key = hash_key(&h);
                            view! { <HashNotice failure=h host=host.clone() deep_check on_dismiss=move || dismiss(key.clone())/> }
                        })}
                        {conflicts.into_iter().map(|c| {
                            let key = conflict_key(&c);
                            view! { <ConflictItem conflict=c on_dismiss=move || dismiss(key.clone())/> }
                        }).collect_view()}
                    </section>
                })
            })}
        </Transition>
    }
}

#[component]
fn DismissButton(on_dismiss: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    view! {
        <button class="icon-button dismiss" title="Dismiss" aria-label="Dismiss" on:click=move |_| on_dismiss()>
            <span class="bx bx-x" aria-hidden="true"></span>
        </button>
    }
}

#[derive(Clone, Copy)]
struct DeepCheckState {
    /// `None` until run; then the findings or the error.
    report: RwSignal<Option<Result<Vec<api::DeepCheckFinding>, String>>>,
    running: RwSignal<bool>,
}

#[component]
fn HashNotice(
    failure: HashFailure,
    host: String,
    deep_check: DeepCheckState,
    on_dismiss: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    let DeepCheckState { report, running } = deep_check;
    let run = move |_| {
        running.set(true);
        leptos::task::spawn_local(async move {
            let result = api::deep_check().await.map_err(|e| e.to_string());
            running.set(false);
            report.set(Some(result));
        });
    };
    let sectors = failure.sectors.join(", ");
    let host_for_report = host.clone();
    view! {
        <div class="sync-notice hash-check" role="alert">
            <p class="what">{format!(
                "The hash check after sync still fails for {sectors} after {} repair round(s): this instance's document \
                 and the one on the sync server ({host}) differ there.",
                failure.repair_rounds
            )}</p>
            <p class="todo">"Run the deep check to find rows whose data no longer matches their recorded change (a document \
                changed behind Canopy's back); restore the damaged side from a backup or sync it again from the other."</p>
            <p class="when">{format!("Checked at {}", failure.checked_at)}</p>
            <button class="deep-check" on:click=run disabled=move || running.get()>
                {move || if running.get() { "Checking…" } else { "Run the deep check" }}
            </button>
            {move || report.get().map(|r| match r {
                Ok(findings) if findings.is_empty() => view! {
                    <p class="deep-check-report" data-findings="0">{format!(
                        "The deep check found no damaged rows on this instance: the difference is on the sync server \
                         ({host_for_report}). Run the deep check there."
                    )}</p>
                }.into_any(),
                Ok(findings) => { let count = findings.len(); view! {
                    <div class="deep-check-report" data-findings=count.to_string()>
                        <p>{format!("The deep check found {count} row(s) on this instance that no longer match their recorded change:")}</p>
                        <ul>
                            {findings.into_iter().map(|f| view! {
                                <li>{format!("{} {}{}", f.entity_name, f.entity_id, if f.row_present { "" } else { " (row missing)" })}</li>
                            }).collect_view()}
                        </ul>
                    </div>
                }.into_any() }
                Err(e) => view! { <p class="deep-check-report failed">{format!("The deep check failed: {e}")}</p> }.into_any(),
            })}
            <DismissButton on_dismiss/>
        </div>
    }
}

#[component]
fn ConflictItem(conflict: ConflictNotice, on_dismiss: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let from = match &conflict.winner_instance_id {
        Some(id) => format!("instance {id}"),
        None => "another instance".into(),
    };
    let link = conflict
        .revision_id
        .as_ref()
        .map(|rev| format!("/?note={}&revision={}", encode(&conflict.note_id), encode(rev)));
    view! {
        <div class="sync-notice conflict" data-note-id=conflict.note_id.clone() role="status">
            <p class="what">
                "Your edit of " <strong class="conflict-note">{conflict.note_title.clone()}</strong>
                {format!(" was replaced by a newer one from {from}; ")}
                {if link.is_some() { "your version is kept in its revisions." } else {
                    "your version's content never arrived here, so it could not be kept." }}
            </p>
            {link.map(|href| view! { <a class="open-revision" href=href>"Open your version"</a> })}
            <p class="when">{format!("Detected at {}", conflict.detected_at)}</p>
            <DismissButton on_dismiss/>
        </div>
    }
}

/// Ids are `[0-9A-Za-z_]` in practice; anything else is percent-encoded for the query string.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}
