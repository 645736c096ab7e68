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

/// The calling login session's key (`auth::Session::id_hash`, never the cookie), provided per request:
/// a protected session belongs to it.
#[derive(Clone)]
pub struct SessionKey(pub String);

/// Never prints the key.
impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// Whether a person is at the calling page (its `x-canopy-attended` header; see
/// [`crate::live::ATTENDED_HEADER`]), provided per request. Only an explicit "0" says nobody is.
#[derive(Clone, Copy, Debug)]
pub struct Attended(pub bool);

impl Attended {
    pub fn parse(value: &str) -> Attended {
        Attended(value.trim() != "0")
    }
}

thread_local! {
    /// Whether a person is at the page that made the port call running on this blocking thread.
    static CURRENT_ATTENDED: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
    /// The component id of the port call running on this blocking thread.
    static CURRENT_COMPONENT: RefCell<Option<String>> = const { RefCell::new(None) };
    /// The session key of the port call running on this blocking thread.
    static CURRENT_SESSION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The login session of the request: inside a port call (on the blocking pool) the one that made the
/// call, else the request's context. `None` for a caller without a session.
pub fn session_key() -> Option<String> {
    CURRENT_SESSION.with(|c| c.borrow().clone()).or_else(|| use_context::<SessionKey>().map(|k| k.0))
}

/// Inside a port call: `false` when the page said nobody is at it (a refetch a live event caused),
/// so what the call reads is no use of the protected session.
pub fn attended() -> bool {
    CURRENT_ATTENDED.with(std::cell::Cell::get)
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
    let session = use_context::<SessionKey>().map(|k| k.0);
    let attended = use_context::<Attended>().is_none_or(|a| a.0);
    let result = tokio::task::spawn_blocking(move || {
        CURRENT_COMPONENT.with(|c| *c.borrow_mut() = component);
        CURRENT_SESSION.with(|c| *c.borrow_mut() = session);
        CURRENT_ATTENDED.with(|c| c.set(attended));
        let result = f();
        CURRENT_COMPONENT.with(|c| *c.borrow_mut() = None);
        CURRENT_SESSION.with(|c| *c.borrow_mut() = None);
        CURRENT_ATTENDED.with(|c| c.set(true));
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
