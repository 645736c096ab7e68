//! Wire types and server functions of the sync indicator and notices, and the port the server
//! implements for them.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Trilium's six states of the sync indicator, and what a hub shows instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndicatorState {
    /// No cycle has finished yet.
    Unknown,
    ConnectedNoChanges,
    ConnectedWithChanges,
    DisconnectedNoChanges,
    DisconnectedWithChanges,
    InProgress,
    /// This instance has no `syncServerHost`: it is the sync server others sync with.
    SyncServer,
}

impl IndicatorState {
    /// The state from the engine's status: `configured` (a sync server is set), a cycle running,
    /// cycles finished so far, the last login succeeded, a failure since, and local changes not pushed.
    pub fn from_status(configured: bool, in_progress: bool, completed_cycles: u64, connected: bool, failed: bool, unpushed: i64) -> Self {
        let changes = unpushed > 0;
        match () {
            _ if !configured => IndicatorState::SyncServer,
            _ if in_progress => IndicatorState::InProgress,
            _ if completed_cycles == 0 && !failed => IndicatorState::Unknown,
            _ if connected && changes => IndicatorState::ConnectedWithChanges,
            _ if connected => IndicatorState::ConnectedNoChanges,
            _ if changes => IndicatorState::DisconnectedWithChanges,
            _ => IndicatorState::DisconnectedNoChanges,
        }
    }

    /// The `data-state` of the indicator (stable names for styles and tests).
    pub fn name(self) -> &'static str {
        match self {
            IndicatorState::Unknown => "unknown",
            IndicatorState::ConnectedNoChanges => "connected",
            IndicatorState::ConnectedWithChanges => "connected-with-changes",
            IndicatorState::DisconnectedNoChanges => "disconnected",
            IndicatorState::DisconnectedWithChanges => "disconnected-with-changes",
            IndicatorState::InProgress => "in-progress",
            IndicatorState::SyncServer => "sync-server",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            IndicatorState::Unknown => "Sync status unknown",
            IndicatorState::ConnectedNoChanges => "Connected to the sync server",
            IndicatorState::ConnectedWithChanges => "Connected, with changes not yet synced",
            IndicatorState::DisconnectedNoChanges => "Not connected to the sync server",
            IndicatorState::DisconnectedWithChanges => "Not connected, with changes not yet synced",
            IndicatorState::InProgress => "Sync in progress",
            IndicatorState::SyncServer => "This instance is the sync server",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    Unreachable,
    Version,
    Credentials,
    Other,
}

/// The last failed cycle (cleared by the next one that succeeds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncFailure {
    pub kind: FailureKind,
    /// The engine's words, without the time.
    pub message: String,
    pub at: String,
}

/// A hash check that still failed after the bounded repair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashFailure {
    pub checked_at: String,
    /// `entityName/sector`.
    pub sectors: Vec<String>,
    pub repair_rounds: u32,
}

/// A concurrent edit that this instance's version lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictNotice {
    /// The row of `canopy_sync_conflicts` (what a dismissal remembers).
    pub id: i64,
    pub note_id: String,
    /// The note's title now (`[protected]` for a protected note), shown as text.
    pub note_title: String,
    pub winner_instance_id: Option<String>,
    /// The revision that keeps the losing version, if its content arrived.
    pub revision_id: Option<String>,
    pub detected_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSeen {
    pub instance_id: String,
    pub last_seen: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatusView {
    /// The hub this instance syncs with; `None` on the hub itself.
    pub sync_server_host: Option<String>,
    pub state: IndicatorState,
    /// When the last successful cycle finished.
    pub last_sync: Option<String>,
    /// Local changes not pushed yet.
    pub unpushed_changes: i64,
    /// Changes the hub still had for this instance after the last pull page.
    pub outstanding_pull: i64,
    pub failure: Option<SyncFailure>,
    pub hash_failure: Option<HashFailure>,
    /// Newest first.
    pub conflicts: Vec<ConflictNotice>,
    /// On a hub: clients that pulled since it started.
    pub clients_seen: Vec<ClientSeen>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncNowOutcome {
    pub success: bool,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeepCheckFinding {
    pub entity_name: String,
    pub entity_id: String,
    /// `false`: the row is gone while its change says it exists.
    pub row_present: bool,
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{DeepCheckFinding, SyncNowOutcome, SyncStatusView};
    use crate::error::AppError;
    use std::sync::Arc;

    /// The page's access to the sync engine's status and the document's conflict record.
    /// Calls run on the blocking pool ([`crate::ssr::run_blocking`]).
    pub trait SyncPort: Send + Sync + 'static {
        fn overview(&self) -> Result<SyncStatusView, AppError>;
        /// Runs one cycle now and waits for it.
        fn sync_now(&self) -> Result<SyncNowOutcome, AppError>;
        /// Rows of this instance whose data no longer matches their recorded change.
        fn deep_check(&self) -> Result<Vec<DeepCheckFinding>, AppError>;
    }

    #[derive(Clone)]
    pub struct SyncApi(pub Arc<dyn SyncPort>);
}

#[server(prefix = "/ui", endpoint = "sync_overview", client = crate::csrf::CsrfClient)]
pub async fn sync_overview() -> Result<SyncStatusView, AppError> {
    let sync = crate::ssr::port::<ssr::SyncApi>()?;
    crate::ssr::run_blocking(move || sync.0.overview()).await
}

#[server(prefix = "/ui", endpoint = "sync_now", client = crate::csrf::CsrfClient)]
pub async fn sync_now() -> Result<SyncNowOutcome, AppError> {
    let sync = crate::ssr::port::<ssr::SyncApi>()?;
    crate::ssr::run_blocking(move || sync.0.sync_now()).await
}

#[server(prefix = "/ui", endpoint = "sync_deep_check", client = crate::csrf::CsrfClient)]
pub async fn deep_check() -> Result<Vec<DeepCheckFinding>, AppError> {
    let sync = crate::ssr::port::<ssr::SyncApi>()?;
    crate::ssr::run_blocking(move || sync.0.deep_check()).await
}

#[cfg(test)]
mod tests {
    use super::IndicatorState::{self, *};

    #[test]
    fn the_status_maps_to_trilium_s_six_states() {
        let state = |in_progress, cycles, connected, failed, unpushed| {
            IndicatorState::from_status(true, in_progress, cycles, connected, failed, unpushed)
        };
        assert_eq!(state(false, 0, false, false, 0), Unknown);
        assert_eq!(state(false, 0, false, false, 3), Unknown, "before any cycle nothing is known");
        assert_eq!(state(true, 0, false, false, 0), InProgress);
        assert_eq!(state(true, 4, true, false, 2), InProgress);
        assert_eq!(state(false, 4, true, false, 0), ConnectedNoChanges);
        assert_eq!(state(false, 4, true, false, 1), ConnectedWithChanges);
        assert_eq!(state(false, 0, false, true, 0), DisconnectedNoChanges);
        assert_eq!(state(false, 4, false, true, 5), DisconnectedWithChanges);
        assert_eq!(IndicatorState::from_status(false, false, 0, false, false, 7), SyncServer);
    }
}
