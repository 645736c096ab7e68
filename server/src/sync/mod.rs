//! Star-topology sync, wire-compatible with Trilium's sync protocol 32.
//!
//! Every instance serves the hub endpoints ([`hub`]); an instance with a sync server configured also
//! runs the client engine ([`client`]) against it. Received batches are applied by [`apply`], records
//! built by [`records`], and every cycle ends with the hash check of [`check`].
pub mod ancestry;
pub mod apply;
pub mod check;
pub mod client;
pub mod engine;
pub mod hub;
pub mod local_api;
pub mod records;
pub mod setup;
pub mod wire;

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};

use crate::db::SqlResult;
use apply::Conflict;
use wire::EntityChangeRecord;

pub fn db_version_mismatch(local: i64, remote: i64) -> String {
    let advice = version_advice(remote > local, "database version", remote);
    format!(
        "Non-matching database versions, local is version {local}, remote is {remote}. Run the same database \
         version on both sides of sync. {advice}"
    )
}

/// Which side of the wire this instance is when it refuses a peer's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// This instance is the sync server; the peer is a client.
    Hub,
    /// This instance is a client; the peer is its sync server.
    Client,
}

/// What to tell a user whose peer speaks another sync protocol: both versions, what this instance
/// speaks, and what to do (Trilium's own message names the versions only).
pub fn sync_version_advice(this: Side, remote: &serde_json::Value) -> String {
    let (me, peer) = match this {
        Side::Hub => ("This hub", "the client"),
        Side::Client => ("This client", "the sync server"),
    };
    let speaks = format!(
        "{me} speaks Trilium 0.63 / TriliumNext up to 0.90.4 (sync protocol {}, database version {});",
        crate::SYNC_VERSION,
        crate::db::TRILIUM_DB_VERSION
    );
    match remote.as_i64() {
        Some(v) if v > crate::SYNC_VERSION as i64 => format!(
            "{speaks} {peer} speaks sync protocol {v}, a newer TriliumNext. Sync it with a server of its own \
             version, or use Trilium 0.63.x or TriliumNext 0.90.4 or older on both sides."
        ),
        Some(v) => format!(
            "{speaks} {peer} speaks sync protocol {v}, an older Trilium. Upgrade it to Trilium 0.63.7 (or TriliumNext \
             0.90.4 or older)."
        ),
        None => format!("{speaks} {peer} sent the sync protocol version {remote}, which is not a number."),
    }
}

fn version_advice(newer: bool, what: &str, remote: i64) -> String {
    let speaks = format!(
        "This instance speaks Trilium 0.63 / TriliumNext up to 0.90.4 (sync protocol {}, {what} {}); the other side \
         has {what} {remote},",
        crate::SYNC_VERSION,
        crate::db::TRILIUM_DB_VERSION
    );
    if newer {
        format!("{speaks} a newer one: run Trilium 0.63.x or TriliumNext 0.90.4 or older there, or a Canopy of that version here.")
    } else {
        format!("{speaks} an older one: upgrade it to Trilium 0.63.7.")
    }
}

/// Adds the Canopy-only parent hash to a note record about to be sent.
pub(crate) fn attach_parent(conn: &rusqlite::Connection, record: &mut EntityChangeRecord) -> SqlResult<()> {
    let change = &record.entity_change;
    if change.entity_name == "notes" && !change.is_erased {
        record.canopy_parent_hash = ancestry::parent_of(conn, &change.entity_id, &change.hash)?;
    }
    Ok(())
}

/// What the instance's own API shows about sync.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// The hub this instance syncs with; `None` on a hub.
    pub sync_server_host: Option<String>,
    /// The last login to the hub succeeded.
    pub connected: bool,
    pub in_progress: bool,
    pub completed_cycles: u64,
    pub last_cycle: Option<CycleSummary>,
    /// The last failure, kept until a cycle succeeds.
    pub last_error: Option<String>,
    /// What kind of failure `last_error` is, so the page can say what to do about it.
    #[serde(default)]
    pub last_error_kind: Option<FailureKind>,
    pub hash_check: Option<HashCheckResult>,
    /// Repair rounds run since the start, over all cycles.
    pub repair_rounds_total: u64,
    pub outstanding_pull_count: i64,
    /// Conflicts resolved since the start (all of them are also in `canopy_sync_conflicts`).
    pub recent_conflicts: Vec<Conflict>,
    /// Questions "anything new?" asked of a hub without change notifications (a Trilium hub) since
    /// the start: at most one a second.
    #[serde(default)]
    pub change_checks: u64,
    /// On a hub: the client instances that pulled since the start, with the time of their last pull.
    #[serde(default)]
    pub clients_seen: Vec<ClientSeen>,
}

/// Why the last cycle failed, as far as the page has to tell things apart.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum FailureKind {
    /// The hub did not answer (address wrong, hub down, network).
    Unreachable,
    /// The hub speaks another sync protocol or database version.
    Version,
    /// The hub refused this document's secret: another document, or the password changed.
    Credentials,
    /// Anything else (an HTTP error of the hub, a local store failure).
    Other,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClientSeen {
    pub instance_id: String,
    pub last_seen: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CycleSummary {
    pub finished_at: String,
    pub pushed: usize,
    pub pulled: usize,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HashCheckResult {
    pub checked_at: String,
    pub passed: bool,
    /// Repair rounds this check needed (0 when it passed at once).
    pub repair_rounds: u32,
    /// `entityName/sector` still differing after the last round (empty when passed).
    pub failed_sectors: Vec<String>,
}

/// Shared between the client engine, the hub routes and the local API.
#[derive(Debug)]
pub struct SyncState {
    status: Mutex<SyncStatus>,
    /// Wakes the client engine: a local write, "sync now", or the hub's notification.
    pub(crate) wake: Notify,
    /// Counts finished cycles (successful or not), so callers can wait for the next one.
    pub(crate) cycles: watch::Sender<u64>,
    /// Counts updates of the status, so open pages refetch it when it moves.
    changes: watch::Sender<u64>,
    /// Changes pulled since the first pulled page: the first full sync's progress.
    pull: Mutex<Option<PullCounter>>,
    /// Turns true once when the instance stops: long polls, event streams and the client engine end on it.
    stopping: watch::Sender<bool>,
    /// On a hub: the sync sessions whose push is open (a batch arrived and the session has not
    /// pulled, finished or checked since), by session.
    open_pushes: Mutex<std::collections::HashMap<String, OpenPush>>,
    /// See [`SyncStatus::change_checks`]; counted apart so that a check does not move `changes`.
    change_checks: std::sync::atomic::AtomicU64,
    /// False while the start-up maintenance (ancestry adoption, consistency checks) runs: the hub
    /// serves no sync and a client pulls nothing before what it repairs has been repaired.
    maintained: watch::Sender<bool>,
    /// False until the maintenance's first part (ancestry adoption) is done: a client pushes only
    /// after it, since a push marks the versions it sends as exchanged.
    adopted: watch::Sender<bool>,
}

/// A push whose client went silent for this long (crashed, cut off) is over: it no longer holds unused
/// blobs nor other peers' hash checks. A live push is never this quiet: it sends pages of at most a
/// megabyte one after another, and the time the hub takes to apply one does not count.
const OPEN_PUSH_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// A push a hub is receiving.
#[derive(Debug)]
struct OpenPush {
    /// When its last batch came.
    last_batch: std::time::Instant,
    /// The newest change id before its first batch.
    changed_after: i64,
    /// The pushing instance, once a batch has been read.
    instance_id: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct PullCounter {
    started: std::time::Instant,
    pulled: u64,
    outstanding: i64,
}

/// How far this instance has pulled since it started: what the setup page shows during the first
/// full sync (changes pulled out of the hub's total, from the hub's `outstandingPullCount`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PullProgress {
    pub pulled: u64,
    /// What the hub still has after the last page it sent.
    pub outstanding: i64,
    /// Since the first page arrived.
    pub elapsed_ms: u64,
}

impl SyncState {
    pub fn new(sync_server_host: Option<String>) -> Self {
        let status = SyncStatus { sync_server_host, ..Default::default() };
        SyncState {
            status: Mutex::new(status),
            wake: Notify::new(),
            cycles: watch::channel(0).0,
            changes: watch::channel(0).0,
            pull: Mutex::new(None),
            stopping: watch::channel(false).0,
            open_pushes: Mutex::new(Default::default()),
            change_checks: Default::default(),
            maintained: watch::channel(true).0,
            adopted: watch::channel(true).0,
        }
    }

    /// The start-up maintenance runs from now until [`maintenance_done`](Self::maintenance_done).
    pub(crate) fn maintenance_started(&self) {
        self.adopted.send_replace(false);
        self.maintained.send_replace(false);
    }

    /// The ancestry adoption is done; the consistency checks may still run.
    pub(crate) fn adoption_done(&self) {
        self.adopted.send_replace(true);
    }

    pub(crate) fn maintenance_done(&self) {
        self.adopted.send_replace(true);
        self.maintained.send_replace(true);
    }

    /// Returns once the start-up maintenance's ancestry adoption is done.
    pub(crate) async fn until_adopted(&self) {
        let mut adopted = self.adopted.subscribe();
        let _ = adopted.wait_for(|done| *done).await;
    }

    /// Returns once no start-up maintenance is running.
    pub(crate) async fn until_maintained(&self) {
        let mut maintained = self.maintained.subscribe();
        let _ = maintained.wait_for(|done| *done).await;
    }

    /// A batch of the push of sync session `session` is about to be applied: its push is open.
    /// `newest_change` is the newest change id now (read before the batch is applied): what was there
    /// before the push cannot have come with it.
    pub(crate) fn push_batch(&self, session: &str, newest_change: impl FnOnce() -> i64) {
        let mut open = self.open_pushes.lock().unwrap_or_else(|p| p.into_inner());
        match open.get_mut(session) {
            Some(push) => push.last_batch = std::time::Instant::now(),
            None => {
                let push = OpenPush { last_batch: std::time::Instant::now(), changed_after: newest_change(), instance_id: None };
                open.insert(session.to_owned(), push);
            }
        }
    }

    /// A batch of session `session` has been applied: its silence starts now, not when it came.
    pub(crate) fn push_applied(&self, session: &str) {
        let mut open = self.open_pushes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(push) = open.get_mut(session) {
            push.last_batch = std::time::Instant::now();
        }
    }

    /// The batch of session `session` came from `instance_id`. An instance runs one cycle at a time,
    /// so a push of it under another session is over: that session's client was killed or cut off
    /// half-way, and its open push would otherwise hold every other peer's hash check until it expires.
    /// This push goes on from where that one stopped (a blob acknowledged there may be used by a row
    /// that comes now), so it keeps what came since the older one began.
    pub(crate) fn push_came_from(&self, session: &str, instance_id: &str) {
        let mut open = self.open_pushes.lock().unwrap_or_else(|p| p.into_inner());
        let stale = |other: &String, push: &OpenPush| other != session && push.instance_id.as_deref() == Some(instance_id);
        let stale_since = open.iter().filter(|(other, push)| stale(other, push)).map(|(_, push)| push.changed_after).min();
        open.retain(|other, push| !stale(other, push));
        if let Some(push) = open.get_mut(session) {
            push.instance_id = Some(instance_id.to_owned());
            push.changed_after = stale_since.map_or(push.changed_after, |since| since.min(push.changed_after));
        }
    }

    /// Session `session` (of `instance_id`, where the request says) pulls, finishes or checks:
    /// whatever it pushed has all arrived, and so has whatever that instance pushed before.
    pub(crate) fn push_ended(&self, session: &str, instance_id: Option<&str>) {
        let mut open = self.open_pushes.lock().unwrap_or_else(|p| p.into_inner());
        open.remove(session);
        if let Some(instance_id) = instance_id {
            open.retain(|_, push| push.instance_id.as_deref() != Some(instance_id));
        }
    }

    /// What a hash check (or any sweep of unused blobs) may do now, for the session `except` (its own
    /// push has ended): while another peer's push is open, a blob may have arrived a batch before the
    /// row that uses it, so unused blobs that came since the oldest open push began are kept.
    pub fn unused_blobs(&self, except: Option<&str>) -> crate::db::UnusedBlobs {
        let mut open = self.open_pushes.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, push| push.last_batch.elapsed() < OPEN_PUSH_TTL);
        let oldest = open.iter().filter(|(session, _)| Some(session.as_str()) != except).map(|(_, push)| push.changed_after).min();
        match oldest {
            Some(changed_after) => crate::db::UnusedBlobs::Keep { changed_after },
            None => crate::db::UnusedBlobs::Erase,
        }
    }

    /// Tells everything waiting on [`stopped`](Self::stopped) that the instance stops.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Completes once the instance stops (at once if it already does): open long requests select on it,
    /// since a graceful shutdown waits for every open response.
    pub async fn stopped(&self) {
        let mut stopping = self.stopping.subscribe();
        // The flag only ever turns true; a closed channel cannot happen while `self` lives.
        let _ = stopping.wait_for(|s| *s).await;
    }

    /// Starts the clock of the pull's pace, once: the first page's wait counts too.
    pub(crate) fn pull_started(&self) {
        let mut pull = self.pull.lock().unwrap_or_else(|p| p.into_inner());
        pull.get_or_insert(PullCounter { started: std::time::Instant::now(), pulled: 0, outstanding: 0 });
    }

    /// Counts one pulled page of `count` changes, after which the hub has `outstanding` more.
    pub(crate) fn record_pulled_page(&self, count: usize, outstanding: i64) {
        let mut pull = self.pull.lock().unwrap_or_else(|p| p.into_inner());
        let counter = pull.get_or_insert(PullCounter { started: std::time::Instant::now(), pulled: 0, outstanding });
        counter.pulled += count as u64;
        counter.outstanding = outstanding;
    }

    pub fn pull_progress(&self) -> PullProgress {
        match *self.pull.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(c) => PullProgress { pulled: c.pulled, outstanding: c.outstanding, elapsed_ms: c.started.elapsed().as_millis() as u64 },
            None => PullProgress::default(),
        }
    }

    pub fn status(&self) -> SyncStatus {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner()).clone();
        status.change_checks = self.change_checks.load(std::sync::atomic::Ordering::Relaxed);
        status
    }

    pub(crate) fn count_change_check(&self) {
        self.change_checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut SyncStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
        self.changes.send_modify(|n| *n += 1);
    }

    /// Moves after every change of the status.
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(crate) fn record_conflicts(&self, conflicts: &[Conflict]) {
        if conflicts.is_empty() {
            return;
        }
        self.update(|s| {
            s.recent_conflicts.extend_from_slice(conflicts);
            let excess = s.recent_conflicts.len().saturating_sub(100);
            s.recent_conflicts.drain(..excess);
        });
    }

    /// A client pulled from this hub.
    pub(crate) fn saw_client(&self, instance_id: &str, at: String) {
        self.update(|s| {
            s.clients_seen.retain(|c| c.instance_id != instance_id);
            s.clients_seen.push(ClientSeen { instance_id: instance_id.to_owned(), last_seen: at });
        });
    }

    /// Points the status at another hub (or none) when the sync engine is retargeted.
    pub(crate) fn set_host(&self, host: Option<String>) {
        self.update(|s| {
            if s.sync_server_host != host {
                *s = SyncStatus { sync_server_host: host, clients_seen: std::mem::take(&mut s.clients_seen), ..Default::default() };
            }
        });
    }

    /// Asks the client engine for a cycle now.
    pub fn request_sync(&self) {
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::SyncState;
    use crate::db::UnusedBlobs;

    /// A batch of `session` from `instance_id`, arriving when the newest change id was `newest`.
    fn batch(state: &SyncState, session: &str, instance_id: &str, newest: i64) {
        state.push_batch(session, || newest);
        state.push_came_from(session, instance_id);
        state.push_applied(session);
    }

    #[test]
    fn a_new_session_of_the_same_instance_ends_its_killed_push_and_keeps_what_that_one_brought() {
        let hub = SyncState::new(None);
        batch(&hub, "before-the-kill", "client-a", 10);
        batch(&hub, "after-the-restart", "client-a", 20);
        // Nothing else is open for the restarted client's own check: the old push no longer holds it.
        assert_eq!(hub.unused_blobs(Some("after-the-restart")), UnusedBlobs::Erase);
        // A blob acknowledged in the killed push may be used by a row of the new one: kept from 10 on.
        assert_eq!(hub.unused_blobs(None), UnusedBlobs::Keep { changed_after: 10 });
    }

    #[test]
    fn another_instances_open_push_holds_a_check_until_that_instance_pulls() {
        let hub = SyncState::new(None);
        batch(&hub, "a-session", "client-a", 10);
        batch(&hub, "b-session", "client-b", 30);
        assert_eq!(hub.unused_blobs(Some("a-session")), UnusedBlobs::Keep { changed_after: 30 });
        // Client B pulls under a new session (its old one was cut off): its push is over.
        hub.push_ended("b-new-session", Some("client-b"));
        assert_eq!(hub.unused_blobs(Some("a-session")), UnusedBlobs::Erase);
        assert_eq!(hub.unused_blobs(None), UnusedBlobs::Keep { changed_after: 10 });
        hub.push_ended("a-session", None);
        assert_eq!(hub.unused_blobs(None), UnusedBlobs::Erase);
    }
}
