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
    format!(
        "Non-matching database versions, local is version {local}, remote is {remote}. Run the same database \
         version on both sides of sync."
    )
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
    /// See [`SyncStatus::change_checks`]; counted apart so that a check does not move `changes`.
    change_checks: std::sync::atomic::AtomicU64,
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
            change_checks: Default::default(),
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
