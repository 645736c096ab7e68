//! Setting up a new, empty instance as a client of a hub ("sync from server"): fetch the seed with
//! the hub's password, keep it in the document, and let the first sync pull everything.
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;

use super::SyncState;
use crate::db::init::{store_seed, SeedOption};
use crate::db::{options, ChangeSource, Document, InstanceId};

/// Trilium allows the seed request 30 s.
const SEED_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct SeedResponse {
    options: Vec<SeedOption>,
    #[serde(rename = "syncVersion")]
    sync_version: serde_json::Value,
}

/// `GET <hub>/api/setup/sync-seed` with the password, as Trilium's client asks for it.
pub async fn fetch_seed(sync_server_host: &str, proxy: Option<&str>, password: &str) -> Result<Vec<SeedOption>, String> {
    let mut http = reqwest::Client::builder().timeout(SEED_TIMEOUT);
    http = match proxy {
        Some(proxy) if !proxy.is_empty() && proxy != "noproxy" => http.proxy(reqwest::Proxy::all(proxy).map_err(|e| e.to_string())?),
        _ => http.no_proxy(),
    };
    let http = http.build().map_err(|e| e.to_string())?;
    let url = format!("{}/api/setup/sync-seed", sync_server_host.trim_end_matches('/'));
    let cred = base64::engine::general_purpose::STANDARD.encode(format!("dummy:{password}"));
    let response = http
        .get(&url)
        .header("trilium-cred", cred)
        .send()
        .await
        .map_err(|e| format!("No connection to sync server {sync_server_host}: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or(text);
        return Err(format!("the sync server refused the seed request: {status} {message}"));
    }
    let seed: SeedResponse = serde_json::from_str(&text).map_err(|e| format!("unexpected seed answer: {e}"))?;
    if seed.sync_version != serde_json::json!(crate::SYNC_VERSION) {
        return Err(format!(
            "Could not setup sync since local sync protocol version is {} while remote is {}. To fix this issue, use \
             same Trilium version on all instances. {}",
            crate::SYNC_VERSION,
            seed.sync_version,
            super::sync_version_advice(super::Side::Client, &seed.sync_version)
        ));
    }
    Ok(seed.options)
}

#[derive(Clone)]
pub struct SetupState {
    pub document: Document,
    pub instance_id: InstanceId,
    pub sync: std::sync::Arc<SyncState>,
    /// The hub this instance was configured for (`config.ini`, environment or document).
    pub sync_server_host: Option<String>,
}

pub fn router(state: SetupState) -> Router {
    Router::new().route("/api/setup/sync-from-server", post(sync_from_server)).with_state(state)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SyncFromServerRequest {
    sync_server_host: String,
    #[serde(default)]
    sync_proxy: Option<String>,
    password: String,
}

/// Trilium's `POST /api/setup/sync-from-server`: answers `{result: "success"}` once the seed is
/// stored; the pull runs in the background (progress: `GET /api/sync/stats`).
async fn sync_from_server(State(state): State<SetupState>, body: axum::body::Bytes) -> Json<serde_json::Value> {
    let failure = |error: String| Json(serde_json::json!({ "result": "failure", "error": error }));
    let request: SyncFromServerRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return failure(format!("invalid request: {e}")),
    };
    let initialized = state.document.read(|c| Ok(options::get(c, "initialized")?.as_deref() == Some("true")));
    match initialized {
        Ok(false) => {}
        Ok(true) => return failure("DB is already initialized.".into()),
        Err(e) => return failure(e.to_string()),
    }
    let host = request.sync_server_host.trim().trim_end_matches('/').to_owned();
    match &state.sync_server_host {
        Some(configured) if *configured == host => {}
        Some(configured) => {
            return failure(format!("this instance is configured to sync with {configured}, not {host}"));
        }
        None => return failure("no sync server is configured for this instance (set [Sync] syncServerHost)".into()),
    }
    let seed = match fetch_seed(&host, request.sync_proxy.as_deref(), &request.password).await {
        Ok(seed) => seed,
        Err(e) => {
            tracing::error!("sync setup failed: {e}");
            return failure(e);
        }
    };
    let stored = state.document.write(&ChangeSource::new(&state.instance_id), |tx| {
        store_seed(tx, &seed)?;
        options::set(tx, "syncServerHost", &host)?;
        Ok(())
    });
    if let Err(e) = stored {
        return failure(e.to_string());
    }
    tracing::info!("received the sync seed from {host}; pulling the document");
    state.sync.request_sync();
    Json(serde_json::json!({ "result": "success" }))
}
