//! Server-side helpers for server functions (feature `ssr`).
use std::cell::RefCell;

use leptos::prelude::use_context;

use crate::error::AppError;

/// The calling page's component id (its `trilium-component-id` header), provided per request.
#[derive(Clone, Debug)]
pub struct ComponentId(pub String);

impl ComponentId {
    /// The header's value when it is a plausible id (letters, digits, `_`, `-`; at most 40).
    pub fn parse(value: &str) -> Option<ComponentId> {
        let ok = !value.is_empty() && value.len() <= 40 && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        ok.then(|| ComponentId(value.to_owned()))
    }
}

thread_local! {
    /// The component id of the port call running on this blocking thread.
    static CURRENT_COMPONENT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Inside a port call: the id of the page that made the request, if it sent one.
pub fn component_id() -> Option<String> {
    CURRENT_COMPONENT.with(|c| c.borrow().clone())
}

/// Runs a port call (SQLite work) on tokio's blocking pool, off the two async workers, and sets the
/// response status from the error, so a bad request answers 4xx rather than 500.
pub async fn run_blocking<T, F>(f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, AppError> + Send + 'static,
{
    let response = use_context::<leptos_axum::ResponseOptions>();
    let component = use_context::<ComponentId>().map(|c| c.0);
    let result = tokio::task::spawn_blocking(move || {
        CURRENT_COMPONENT.with(|c| *c.borrow_mut() = component);
        let result = f();
        CURRENT_COMPONENT.with(|c| *c.borrow_mut() = None);
        result
    })
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
