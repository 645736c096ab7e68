//! The instance's own view of sync, for its UI and for people: status, "sync now", conflicts and
//! the deep check. They need a session (and its CSRF token to change anything) or an ETAPI token:
//! [`crate::auth::gate`] checks that in front of them.
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::engine::SyncEngine;
use super::{apply, check, SyncState};
use crate::db::Document;

#[derive(Clone)]
pub struct LocalApiState {
    pub document: Document,
    pub sync: Arc<SyncState>,
    pub engine: SyncEngine,
}

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    LocalApiState: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/api/canopy/sync-status", get(status))
        .route("/api/sync/now", post(sync_now))
        .route("/api/canopy/deep-check", post(deep_check))
}

async fn status(State(state): State<LocalApiState>) -> Response {
    let mut status = serde_json::to_value(state.sync.status()).unwrap_or_default();
    match state.document.read(|conn| apply::recorded_conflicts(conn, 100)) {
        Ok(conflicts) => status["conflicts"] = serde_json::to_value(conflicts).unwrap_or_default(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
    Json(status).into_response()
}

/// Trilium's `POST /api/sync/now` answer: `{success, message?}`.
async fn sync_now(State(state): State<LocalApiState>) -> Json<serde_json::Value> {
    let Some(client) = state.engine.client() else {
        return Json(serde_json::json!({ "success": false, "errorCode": "NOT_CONFIGURED", "message": "Sync not configured" }));
    };
    Json(match client.sync_now().await {
        Ok(summary) => serde_json::json!({ "success": true, "summary": summary }),
        Err(message) => serde_json::json!({ "success": false, "message": message }),
    })
}

async fn deep_check(State(state): State<LocalApiState>) -> Response {
    let (document, instance_id) = (state.document.clone(), state.engine.instance_id().clone());
    let checked = tokio::task::spawn_blocking(move || {
        let fixed = check::run_consistency_checks(&document, &instance_id)?;
        Ok::<_, crate::db::DbError>((fixed, check::deep_check(&document)?))
    });
    match checked.await {
        Ok(Ok((fixed, findings))) => {
            Json(serde_json::json!({ "passed": findings.is_empty(), "findings": findings, "fixed": fixed })).into_response()
        }
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
