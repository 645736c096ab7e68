//! The live channel: `GET /api/ui/events`, server-sent events that tell an open page what changed on
//! this instance (by sync, ETAPI, another tab), so it redraws without a reload.
//!
//! Fed by the document's commit notifications ([`Document::subscribe`]). A burst is coalesced for
//! [`BATCH_WINDOW`] and read in one go, so a sync pulling 100,000 rows sends a handful of events;
//! a burst beyond [`MAX_BATCH_IDS`], or a stream that fell behind the broadcast, becomes one `reload`
//! ("reload everything you show"). Events:
//! * `changes` `{"by": componentId, "notes": [...], "parents": [...], "deleted": [...]}`: one per
//!   component that caused changes (a page skips its own);
//! * `reload` `{}`;
//! * `sync` `{"n": counter}`: the sync status changed (the page refetches it);
//! * `protected-started` / `protected-ended` `{}`: this login's protected session started or ended
//!   (unlocked in another tab, locked, logged out, timed out): the page shows protected notes anew;
//! * comments every [`HEARTBEAT`] keep proxies from closing an idle stream.
//!
//! The stream needs a session (the gate answers 401 without one) and ends when that session does
//! (logout, expiry) and when the server shuts down.
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::Stream;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use crate::auth::store::SessionStore;
use crate::auth::Session;
use crate::db::{live, Document};
use crate::sync::SyncState;

/// Changes committed within this time after the first one go out as one event.
pub const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// A burst touching more entity changes than this is announced as `reload`.
pub const MAX_BATCH_IDS: usize = 5_000;
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often a stream checks that its session has not expired (a logout is noticed at once).
const SESSION_RECHECK: Duration = Duration::from_secs(60);
/// Sync status changes come in bursts (one per pulled batch); pages refetch at most this often.
const SYNC_PULSE_GAP: Duration = Duration::from_millis(250);
/// How often a stream looks whether its login's protected session ended without an announcement
/// (its timeout passed); starts and ends on request are announced at once.
const PROTECTED_RECHECK: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct LiveState {
    pub document: Document,
    pub sync: Arc<SyncState>,
    pub sessions: SessionStore,
    pub protected: crate::protected::ProtectedSessions,
    pub protected_events: super::protected::ProtectedEvents,
}

pub fn routes(state: LiveState) -> Router {
    Router::new().route("/api/ui/events", get(events)).with_state(state)
}

#[derive(Serialize)]
struct ChangesEvent<'a> {
    by: &'a str,
    notes: Vec<String>,
    parents: Vec<String>,
    deleted: Vec<String>,
    revisions: Vec<String>,
}

async fn events(State(state): State<LiveState>, session: Session) -> Response {
    let (sender, receiver) = mpsc::channel::<Event>(16);
    let commits = state.document.subscribe();
    tokio::spawn(feed(state, session.id_hash().to_owned(), commits, sender));
    Sse::new(ReceiverStream(receiver)).keep_alive(KeepAlive::new().interval(HEARTBEAT)).into_response()
}

/// An `mpsc` receiver as a stream of events (the stream ends when [`feed`] drops its sender).
struct ReceiverStream(mpsc::Receiver<Event>);

impl Stream for ReceiverStream {
    type Item = Result<Event, Infallible>;
    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(Ok))
    }
}

fn reload_event() -> Event {
    Event::default().event("reload").data("{}")
}

/// Sends the stream's events until the page goes away, its session ends or the server stops.
async fn feed(state: LiveState, id_hash: String, mut commits: broadcast::Receiver<crate::db::CommittedChanges>, out: mpsc::Sender<Event>) {
    // A graceful shutdown waits for open responses: the stream ends when the instance stops.
    let sync_state = state.sync.clone();
    let stopped = sync_state.stopped();
    tokio::pin!(stopped);
    let mut ended = state.sessions.ended();
    let mut sync = state.sync.subscribe_changes();
    sync.mark_unchanged();
    if sync_state.is_stopping() {
        return;
    }
    let mut recheck = tokio::time::interval(SESSION_RECHECK);
    recheck.tick().await;
    let mut started = state.protected_events.subscribe_started();
    let mut protected_ended = state.protected.subscribe_ended();
    let mut protected_recheck = tokio::time::interval(PROTECTED_RECHECK);
    protected_recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unlocked = state.protected.is_unlocked(&id_hash);
    loop {
        let event = tokio::select! {
            _ = out.closed() => return,
            () = &mut stopped => return,
            _ = ended.changed() => {
                if !session_live(&state.sessions, &id_hash).await {
                    return;
                }
                continue;
            }
            _ = recheck.tick() => {
                if !session_live(&state.sessions, &id_hash).await {
                    return;
                }
                continue;
            }
            // Every start, end or tick compares this login's state with what the page was told last,
            // so a page hears each change once, whichever way it came.
            _ = started.recv() => match protected_event(&state, &id_hash, &mut unlocked) {
                Some(event) => vec![event],
                None => continue,
            },
            _ = protected_ended.recv() => match protected_event(&state, &id_hash, &mut unlocked) {
                Some(event) => vec![event],
                None => continue,
            },
            _ = protected_recheck.tick() => match protected_event(&state, &id_hash, &mut unlocked) {
                Some(event) => vec![event],
                None => continue,
            },
            changed = sync.changed() => {
                if changed.is_err() {
                    continue;
                }
                tokio::time::sleep(SYNC_PULSE_GAP).await;
                let n = *sync.borrow_and_update();
                vec![Event::default().event("sync").data(format!("{{\"n\":{n}}}"))]
            }
            first = commits.recv() => match first {
                Ok(first) => batch(&state.document, &mut commits, first.ids.to_vec()).await,
                Err(broadcast::error::RecvError::Lagged(_)) => vec![reload_event()],
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        for e in event {
            if out.send(e).await.is_err() {
                return;
            }
        }
    }
}

/// The event for a change of the login's protected session since the page was last told, if any.
fn protected_event(state: &LiveState, id_hash: &str, told_unlocked: &mut bool) -> Option<Event> {
    let now = state.protected.is_unlocked(id_hash);
    if now == *told_unlocked {
        return None;
    }
    *told_unlocked = now;
    Some(Event::default().event(if now { "protected-started" } else { "protected-ended" }).data("{}"))
}

async fn session_live(sessions: &SessionStore, id_hash: &str) -> bool {
    let sessions = sessions.clone();
    let id_hash = id_hash.to_owned();
    tokio::task::spawn_blocking(move || sessions.is_live(&id_hash)).await.ok().and_then(Result::ok).unwrap_or(false)
}

/// Collects what else commits within [`BATCH_WINDOW`] of `ids` and turns it into events.
async fn batch(document: &Document, commits: &mut broadcast::Receiver<crate::db::CommittedChanges>, mut ids: Vec<i64>) -> Vec<Event> {
    let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
    loop {
        match tokio::time::timeout_at(deadline, commits.recv()).await {
            Err(_) => break,
            Ok(Ok(more)) => ids.extend_from_slice(&more.ids),
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => return vec![reload_event()],
            Ok(Err(broadcast::error::RecvError::Closed)) => break,
        }
        if ids.len() > MAX_BATCH_IDS {
            // Whatever else is in flight is covered by the reload too.
            while commits.try_recv().is_ok() {}
            return vec![reload_event()];
        }
    }
    if ids.len() > MAX_BATCH_IDS {
        return vec![reload_event()];
    }
    let document = document.clone();
    let pages = match tokio::task::spawn_blocking(move || document.read(|conn| live::page_changes(conn, &ids))).await {
        Ok(Ok(pages)) => pages,
        Ok(Err(e)) => {
            tracing::warn!("live events: could not read the changes: {e}");
            return vec![reload_event()];
        }
        Err(_) => return vec![reload_event()],
    };
    pages
        .iter()
        .filter_map(|(by, page)| {
            let data = ChangesEvent {
                by,
                notes: page.notes.iter().cloned().collect(),
                parents: page.parents.iter().cloned().collect(),
                deleted: page.deleted.iter().cloned().collect(),
                revisions: page.revisions.iter().cloned().collect(),
            };
            Event::default().event("changes").json_data(&data).ok()
        })
        .collect()
}
