//! The instance's own view of sync, for its UI and for people: status, "sync now", conflicts and
//! the deep check. Until the UI has logins (next milestone) these answer only requests from this
//! machine.
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::client::SyncClient;
use super::{apply, check, SyncState};
use crate::db::Document;

#[derive(Clone)]
pub struct LocalApiState {
    pub document: Document,
    pub sync: Arc<SyncState>,
    pub client: Option<Arc<SyncClient>>,
}

pub fn router(state: LocalApiState) -> Router {
    Router::new()
        .route("/api/canopy/sync-status", get(status))
        .route("/api/sync/now", post(sync_now))
        .route("/api/canopy/deep-check", post(deep_check))
        .route_layer(middleware::from_fn(loopback_only))
        .with_state(state)
}

async fn loopback_only(request: Request, next: Next) -> Response {
    let local = request.extensions().get::<ConnectInfo<SocketAddr>>().is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback());
    if !local {
        return (StatusCode::FORBIDDEN, "This API answers requests from this machine only.").into_response();
    }
    next.run(request).await
}

async fn status(State(state): State<LocalApiState>) -> Response {
    let mut status = serde_json::to_value(state.sync.status()).unwrap_or_default();
    match state.document.read(|conn| apply::recorded_conflicts(conn, 100)) {
        Ok(conflicts) => status["conflicts"] = serde_json::Value::Array(conflicts),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
    Json(status).into_response()
}

/// Trilium's `POST /api/sync/now` answer: `{success, message?}`.
async fn sync_now(State(state): State<LocalApiState>) -> Json<serde_json::Value> {
    let Some(client) = state.client else {
        return Json(serde_json::json!({ "success": false, "errorCode": "NOT_CONFIGURED", "message": "Sync not configured" }));
    };
    Json(match client.sync_now().await {
        Ok(summary) => serde_json::json!({ "success": true, "summary": summary }),
        Err(message) => serde_json::json!({ "success": false, "message": message }),
    })
}

async fn deep_check(State(state): State<LocalApiState>) -> Response {
    let document = state.document.clone();
    match tokio::task::spawn_blocking(move || check::deep_check(&document)).await {
        Ok(Ok(findings)) => {
            for f in &findings {
                tracing::error!(
                    "deep check: {} {} no longer matches its entity change (stored hash {}, row hash {:?})",
                    f.entity_name,
                    f.entity_id,
                    f.stored_hash,
                    f.row_hash
                );
            }
            Json(serde_json::json!({ "passed": findings.is_empty(), "findings": findings })).into_response()
        }
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
