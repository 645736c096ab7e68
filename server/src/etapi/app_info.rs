//! `GET /app-info` and `PUT /backup/{name}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};

use super::error::{EtapiError, EtapiResult};
use super::wire::AppInfo;
use super::EtapiState;
use crate::db::{backup, TRILIUM_DB_VERSION};

pub fn routes() -> Router<EtapiState> {
    Router::new().route("/app-info", get(app_info)).route("/backup/{backup_name}", put(backup_now))
}

/// Trilium's `CLIPPER_PROTOCOL_VERSION`.
pub const CLIPPER_PROTOCOL_VERSION: &str = "1.0";

pub fn app_info_for(state: &EtapiState) -> AppInfo {
    AppInfo {
        app_version: crate::APP_VERSION.to_owned(),
        db_version: TRILIUM_DB_VERSION,
        // Trilium reports Node's version here; Canopy has no Node.
        node_version: format!("canopy-{}", crate::APP_VERSION),
        sync_version: crate::SYNC_VERSION,
        build_date: option_env!("CANOPY_BUILD_DATE").unwrap_or("").to_owned(),
        build_revision: option_env!("CANOPY_BUILD_REVISION").unwrap_or("").to_owned(),
        data_directory: state.data_dir().to_string_lossy().into_owned(),
        clipper_protocol_version: CLIPPER_PROTOCOL_VERSION.to_owned(),
        utc_date_time: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    }
}

async fn app_info(State(state): State<EtapiState>) -> Json<AppInfo> {
    Json(app_info_for(&state))
}

/// `backupNow(name)`: an online copy of the document as `backup/backup-<name>.db`.
async fn backup_now(State(state): State<EtapiState>, Path(name): Path<String>) -> EtapiResult<StatusCode> {
    // The name becomes part of a file name: keep it to letters, digits, `_` and `-`.
    let ok = (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(EtapiError::generic(format!("Invalid backup name '{name}'.")));
    }
    let source = state.document.path().to_path_buf();
    let dest = backup::backup_dir(&state.data_dir()).join(format!("backup-{name}.db"));
    tokio::task::spawn_blocking(move || {
        backup::backup_to(&source, &dest).map_err(EtapiError::from)
    })
    .await
    .map_err(|e| EtapiError::internal(e.to_string()))??;
    Ok(StatusCode::NO_CONTENT)
}
