//! The sync status indicator of the tree pane's bar: Trilium's six states, a tooltip in words, and a
//! click that runs "sync now" and says how it went.
use leptos::prelude::*;

use super::api::{self, IndicatorState, SyncStatusView};
use super::use_sync_view;

fn icon(state: IndicatorState) -> &'static str {
    match state {
        IndicatorState::Unknown => "bx bx-question-mark",
        IndicatorState::ConnectedNoChanges => "bx bx-wifi",
        IndicatorState::ConnectedWithChanges => "bx bx-wifi-2",
        IndicatorState::DisconnectedNoChanges => "bx bx-wifi-off",
        IndicatorState::DisconnectedWithChanges => "bx bx-error-alt",
        IndicatorState::InProgress => "bx bx-loader-alt bx-spin",
        IndicatorState::SyncServer => "bx bx-server",
    }
}

/// The tooltip: the state, when the last sync finished, and what is pending (or, on a hub, who syncs).
fn tooltip(overview: &SyncStatusView, state: IndicatorState) -> String {
    let mut lines = vec![state.label().to_string()];
    match &overview.sync_server_host {
        Some(host) => {
            lines.push(format!("Sync server: {host}"));
            lines.push(match &overview.last_sync {
                Some(at) => format!("Last sync: {at}"),
                None => "No sync has finished since this instance started".into(),
            });
            lines.push(match overview.unpushed_changes {
                0 => "All local changes are synced".into(),
                1 => "1 local change not yet sent".into(),
                n => format!("{n} local changes not yet sent"),
            });
            if overview.outstanding_pull > 0 {
                lines.push(format!("{} changes still to receive", overview.outstanding_pull));
            }
            lines.push("Click to sync now".into());
        }
        None => {
            lines.push(match overview.clients_seen.len() {
                0 => "No client has synced since it started".into(),
                n => format!("{n} client(s) synced since it started:"),
            });
            for client in &overview.clients_seen {
                lines.push(format!("  instance {} at {}", client.instance_id, client.last_seen));
            }
        }
    }
    lines.join("\n")
}

#[component]
pub fn SyncIndicator() -> impl IntoView {
    let view = use_sync_view();
    let running = RwSignal::new(false);
    // The answer of the last "sync now", shown beside the indicator until the next click.
    let outcome: RwSignal<Option<(bool, String)>> = RwSignal::new(None);
    let run = move |_| {
        if running.get_untracked() {
            return;
        }
        running.set(true);
        outcome.set(None);
        leptos::task::spawn_local(async move {
            let result = api::sync_now().await;
            running.set(false);
            outcome.set(Some(match result {
                Ok(o) if o.success => (true, "Synced".into()),
                Ok(o) => (false, o.message),
                Err(e) => (false, e.to_string()),
            }));
            view.refetch();
        });
    };
    let fallback = || {
        view! {
            <span class="sync-indicator" data-state="unknown">
                <span class="bx bx-question-mark" aria-hidden="true"></span>
            </span>
        }
    };
    view! {
        <span class="sync-status">
        // The overview is awaited, not read: one resource read by `.get()` under two suspense
        // boundaries (here and the notices) can leave a server-rendered page unfinished for good.
        <Transition fallback=fallback>
            {move || Suspend::new(async move {
                match view.overview.await {
                    Ok(overview) => {
                        let state = if running.get() { IndicatorState::InProgress } else { overview.state };
                        let title = tooltip(&overview, state);
                        if overview.sync_server_host.is_none() {
                            view! {
                                <span class="sync-indicator" data-state=state.name() title=title.clone() aria-label=title>
                                    <span class=icon(state) aria-hidden="true"></span>
                                </span>
                            }
                            .into_any()
                        } else {
                            view! {
                                <button class="icon-button sync-indicator" data-state=state.name() title=title.clone()
                                    aria-label=title on:click=run>
                                    <span class=icon(state) aria-hidden="true"></span>
                                </button>
                            }
                            .into_any()
                        }
                    }
                    Err(e) => {
                        let title = format!("Sync status unavailable: {e}");
                        view! {
                            <span class="sync-indicator" data-state="unknown" title=title.clone() aria-label=title>
                                <span class="bx bx-question-mark" aria-hidden="true"></span>
                            </span>
                        }
                        .into_any()
                    }
                }
            })}
        </Transition>
        {move || outcome.get().map(|(ok, message)| view! {
            <span class="sync-outcome" class:failed=!ok role="status" title=message.clone()
                on:click=move |_| outcome.set(None)>{message.clone()}</span>
        })}
        </span>
    }
}
