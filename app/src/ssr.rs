//! Server-side helpers for server functions (feature `ssr`).
use leptos::prelude::use_context;

use crate::error::AppError;

/// Runs a port call (SQLite work) on tokio's blocking pool, off the two async workers, and sets the
/// response status from the error, so a bad request answers 4xx rather than 500.
pub async fn run_blocking<T, F>(f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, AppError> + Send + 'static,
{
    let response = use_context::<leptos_axum::ResponseOptions>();
    let result = tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(AppError::Server("The server failed while handling this request.".into())));
    if let (Err(e), Some(response)) = (&result, response) {
        if let Ok(status) = http::StatusCode::from_u16(e.status()) {
            response.set_status(status);
        }
    }
    result
}

/// A port from the context the server provides, or a server error if it is missing.
pub fn port<P: Clone + Send + Sync + 'static>() -> Result<P, AppError> {
    use_context::<P>().ok_or_else(|| AppError::Server("The note store is not available.".into()))
}
