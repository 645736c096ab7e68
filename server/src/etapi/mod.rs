//! ETAPI: Trilium's REST API for scripts, under `/etapi`, wire-compatible with Trilium
//! 0.63.7 (same paths, bodies, status codes and error codes).
//!
//! Every route except `POST /auth/login` and the OpenAPI document requires a token
//! (see [`auth`]). Every write goes through [`Document::write`] with component `etapi`.

pub mod app_info;
pub mod attachments;
pub mod attributes;
pub mod auth;
pub mod branches;
pub mod content;
pub mod error;
pub mod export;
pub mod graph;
pub mod import;
pub mod notes;
pub mod search;
pub mod special_notes;
pub mod spec;
pub mod validate;
pub mod wire;

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::StatusCode;
use axum::Router;
use rusqlite::Connection;

use crate::db::{ChangeSource, Document, InstanceId, WriteTx};
pub use error::{EtapiError, EtapiResult};

/// Largest request body ETAPI accepts; larger ones get 413 (Trilium's limit is 500 MB).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// What every ETAPI handler gets.
#[derive(Clone)]
pub struct EtapiState {
    pub document: Document,
    pub instance_id: InstanceId,
    pub login_limiter: std::sync::Arc<crate::login_limit::LoginLimiter>,
    /// The full-text index that `GET /notes?search=` consults when it is current.
    pub search: crate::search::SearchIndex,
}

impl EtapiState {
    fn source(&self) -> ChangeSource {
        ChangeSource::new(&self.instance_id).with_component("etapi")
    }

    /// Runs `f` on a read connection, on a blocking thread (never on the async workers).
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> EtapiResult<T> + Send + 'static,
    ) -> EtapiResult<T> {
        let document = self.document.clone();
        blocking(move || document.read_with(f)).await
    }

    /// One write transaction on a blocking thread; an `Err` from `f` rolls everything back.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut WriteTx<'_>) -> EtapiResult<T> + Send + 'static,
    ) -> EtapiResult<T> {
        let document = self.document.clone();
        let source = self.source();
        blocking(move || document.write_with(&source, f)).await
    }

    /// The data directory (the document lives at `<data dir>/document.db`).
    pub fn data_dir(&self) -> PathBuf {
        self.document.path().parent().map(PathBuf::from).unwrap_or_default()
    }
}

/// Runs database work on tokio's blocking pool; a panic in it is a 500.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> EtapiResult<T> + Send + 'static) -> EtapiResult<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!("ETAPI database work failed: {e}");
        Err(EtapiError::internal("The request failed on the server."))
    })
}

/// The request body as bytes; a too-large or unreadable body is an ETAPI error.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = EtapiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(rejection) => {
                let status = rejection.status();
                let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "PAYLOAD_TOO_LARGE" } else { error::GENERIC };
                Err(EtapiError::new(status, code, rejection.body_text()))
            }
        }
    }
}

/// All ETAPI routes, relative to `/etapi`.
pub fn router(
    document: Document,
    instance_id: InstanceId,
    login_limiter: std::sync::Arc<crate::login_limit::LoginLimiter>,
    search: crate::search::SearchIndex,
) -> Router {
    let state = EtapiState { document, instance_id, login_limiter, search };
    let protected = Router::new()
        .merge(auth::routes())
        .merge(app_info::routes())
        .merge(notes::routes())
        .merge(branches::routes())
        .merge(attributes::routes())
        .merge(attachments::routes())
        .merge(export::routes())
        .merge(import::routes())
        .merge(special_notes::routes())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .merge(protected)
        .merge(auth::public_routes())
        .merge(spec::routes())
        .fallback(|| async { EtapiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Unknown ETAPI endpoint.") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
