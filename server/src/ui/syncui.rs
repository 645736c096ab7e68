//! The sync indicator's and notices' port: the engine's status ([`SyncState::status`]), the conflict
//! record and the deep check.
use std::sync::Arc;

use app::error::AppError;
use app::sync::api::{
    self, ClientSeen, ConflictNotice, DeepCheckFinding, HashFailure, IndicatorState, SyncFailure, SyncNowOutcome, SyncStatusView,
};

use super::{internal, PROTECTED_TITLE};
use crate::db::{syncui, Document, InstanceId};
use crate::sync::engine::SyncEngine;
use crate::sync::{apply, check, FailureKind, SyncState};

/// Conflicts looked at for notices (newest first).
const CONFLICTS_SHOWN: i64 = 50;

pub struct DocumentSync {
    pub document: Document,
    pub instance_id: InstanceId,
    pub sync: Arc<SyncState>,
    pub engine: SyncEngine,
}

fn kind(kind: Option<FailureKind>) -> api::FailureKind {
    match kind {
        Some(FailureKind::Unreachable) => api::FailureKind::Unreachable,
        Some(FailureKind::Version) => api::FailureKind::Version,
        Some(FailureKind::Credentials) => api::FailureKind::Credentials,
        Some(FailureKind::Other) | None => api::FailureKind::Other,
    }
}

/// `last_error` is "<time>: <message>" (see the client engine).
fn split_error(error: &str) -> (String, String) {
    match error.split_once(": ") {
        Some((at, message)) if at.len() == 24 && at.ends_with('Z') => (at.to_owned(), message.to_owned()),
        _ => (String::new(), error.to_owned()),
    }
}

impl api::ssr::SyncPort for DocumentSync {
    fn overview(&self) -> Result<SyncStatusView, AppError> {
        let status = self.sync.status();
        let me = self.instance_id.as_str();
        let (unpushed, conflicts) = self
            .document
            .read(|conn| {
                let unpushed = if status.sync_server_host.is_some() { syncui::unpushed_change_count(conn, me)? } else { 0 };
                let mut conflicts = Vec::new();
                // Only the edits that lost here and were made here are "yours".
                for c in apply::recorded_conflicts(conn, CONFLICTS_SHOWN)? {
                    if c.incoming_won != Some(true) || c.loser_instance_id.as_deref() != Some(me) {
                        continue;
                    }
                    let title = match syncui::note_title(conn, &c.note_id)? {
                        Some((_, true)) => PROTECTED_TITLE.to_owned(),
                        Some((title, false)) => title,
                        None => format!("(deleted note {})", c.note_id),
                    };
                    conflicts.push(ConflictNotice {
                        id: c.id,
                        note_id: c.note_id,
                        note_title: title,
                        winner_instance_id: c.winner_instance_id,
                        revision_id: c.revision_id,
                        detected_at: c.utc_date_detected,
                    });
                }
                Ok((unpushed, conflicts))
            })
            .map_err(internal)?;
        let state = IndicatorState::from_status(
            status.sync_server_host.is_some(),
            status.in_progress,
            status.completed_cycles,
            status.connected,
            status.last_error.is_some(),
            unpushed,
        );
        let failure = status.last_error.as_deref().map(|error| {
            let (at, message) = split_error(error);
            SyncFailure { kind: kind(status.last_error_kind), message, at }
        });
        let hash_failure = status.hash_check.filter(|h| !h.passed).map(|h| HashFailure {
            checked_at: h.checked_at,
            sectors: h.failed_sectors,
            repair_rounds: h.repair_rounds,
        });
        Ok(SyncStatusView {
            sync_server_host: status.sync_server_host,
            state,
            last_sync: status.last_cycle.map(|c| c.finished_at),
            unpushed_changes: unpushed,
            outstanding_pull: status.outstanding_pull_count,
            failure,
            hash_failure,
            conflicts,
            clients_seen: status
                .clients_seen
                .into_iter()
                .map(|c| ClientSeen { instance_id: c.instance_id, last_seen: c.last_seen })
                .collect(),
        })
    }

    fn sync_now(&self) -> Result<SyncNowOutcome, AppError> {
        let Some(client) = self.engine.client() else {
            return Err(AppError::Invalid("This instance has no sync server to sync with.".into()));
        };
        // The port runs on the blocking pool: wait for the cycle there.
        let result = tokio::runtime::Handle::current().block_on(client.sync_now());
        Ok(match result {
            Ok(summary) => SyncNowOutcome {
                success: true,
                message: format!("pushed {}, pulled {}, {} ms", summary.pushed, summary.pulled, summary.duration_ms),
            },
            Err(message) => SyncNowOutcome { success: false, message },
        })
    }

    fn deep_check(&self) -> Result<Vec<DeepCheckFinding>, AppError> {
        check::run_consistency_checks(&self.document, self.engine.instance_id()).map_err(internal)?;
        let findings = check::deep_check(&self.document).map_err(internal)?;
        Ok(findings
            .into_iter()
            .map(|f| DeepCheckFinding { entity_name: f.entity_name, entity_id: f.entity_id, row_present: f.row_hash.is_some() })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_time_is_split_off_the_last_error() {
        assert_eq!(
            super::split_error("2026-12-02 03:16:52.123Z: No connection to sync server: x"),
            ("2026-12-02 03:16:52.123Z".to_owned(), "No connection to sync server: x".to_owned())
        );
        assert_eq!(super::split_error("odd: text"), (String::new(), "odd: text".to_owned()));
    }
}
