//! Logins for the browser: sessions, the one gate every request passes, and CSRF.
//!
//! [`gate`] runs in front of every route. It works out who is asking ([`client_ip::ClientInfo`]),
//! resolves the session cookie into a [`Session`] in the request's extensions, and decides by path:
//! * routes Trilium peers and scripts call with credentials of their own (sync with its sync login,
//!   setup with the password, ETAPI with its tokens) and static files pass untouched;
//! * pages need a session, else 303 to `/login?next=...`;
//! * server functions (`/ui/*`) and every other `/api/*` route need a session, else 401; the local
//!   sync API also takes an ETAPI token in `Authorization`;
//! * every state-changing call that a session cookie authorizes needs `X-CSRF-Token` equal to the
//!   session's token, else 403 (a cookie rides along on forged requests; the token cannot).
pub mod client_ip;
pub(crate) mod pages;
pub mod store;

use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use subtle::ConstantTimeEq;

use app::error::AppError;

use crate::db::{DbError, Document, InstanceId};
use crate::login_limit::LoginLimiter;
use client_ip::{ClientInfo, TrustedProxy};
use store::{SessionStore, StoredSession};

/// The header every state-changing call from the page carries (the value of the page's
/// `<meta name="csrf-token">`).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// What a call without a session gets, as Trilium answers it.
pub const NOT_LOGGED_IN: &str = "Logged in session not found";
pub const CSRF_REFUSED: &str = "Missing or wrong CSRF token: reload the page.";

/// How this instance authenticates browsers.
#[derive(Clone, Debug, Default)]
pub struct AuthSettings {
    /// `[General] noAuthentication`: every page gets a session without a password.
    pub no_authentication: bool,
    /// Canopy serves TLS itself.
    pub tls: bool,
    pub trusted_proxy: TrustedProxy,
}

/// What the gate and the login pages share.
#[derive(Clone)]
pub struct AuthState {
    pub store: SessionStore,
    pub document: Document,
    pub instance_id: InstanceId,
    pub login_limiter: Arc<LoginLimiter>,
    pub settings: Arc<AuthSettings>,
    /// Protected sessions belong to browser sessions: logout ends them.
    pub protected: crate::protected::ProtectedSessions,
    /// One name per data directory: two instances on one host (a hub and a client, say) are
    /// different sites for the browser only by port, and cookies ignore ports.
    cookie_name: Arc<str>,
}

impl AuthState {
    pub fn new(
        store: SessionStore,
        document: Document,
        instance_id: InstanceId,
        login_limiter: Arc<LoginLimiter>,
        settings: AuthSettings,
    ) -> Self {
        let cookie_name = format!("canopy.sid.{instance_id}").into();
        let logins = store.clone();
        // A store that cannot answer ends the protected session: the key must not outlive its login.
        let protected = crate::protected::ProtectedSessions::with_login_check(move |id_hash| logins.is_live(id_hash).unwrap_or(false));
        AuthState {
            store,
            document,
            instance_id,
            login_limiter,
            settings: Arc::new(settings),
            protected,
            cookie_name,
        }
    }

    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// A `Set-Cookie` value for a session id. No `Max-Age` without "remember me": the cookie ends
    /// with the browser, as Trilium's does, while the store ends the session after a day unused.
    /// SameSite=Lax rather than Strict: Strict would drop the cookie when a link from elsewhere
    /// (a chat, a mail) opens a note, sending a logged-in user to the login page; what Strict
    /// would add against forged requests the CSRF token already gives.
    fn session_cookie(&self, id: &str, remember: bool, secure: bool) -> HeaderValue {
        let max_age = if remember { format!("; Max-Age={}", store::REMEMBER.as_secs()) } else { String::new() };
        let secure = if secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!("{}={id}; Path=/; HttpOnly; SameSite=Lax{max_age}{secure}", self.cookie_name))
            .expect("cookie names and ids are ASCII")
    }

    fn cleared_cookie(&self, secure: bool) -> HeaderValue {
        let secure = if secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}", self.cookie_name))
            .expect("cookie names are ASCII")
    }

    /// The session id the request's cookie carries, if any.
    fn cookie_value<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == &*self.cookie_name)
            .map(|(_, value)| value)
            .filter(|value| !value.is_empty())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SessionStore) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, DbError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .unwrap_or_else(|e| Err(DbError::Invalid(format!("session store task failed: {e}"))))
    }
}

/// A logged-in browser. The gate puts it into the request's extensions; handlers take it as an
/// extractor (a handler that requires one answers 401 without it).
#[derive(Clone)]
pub struct Session {
    /// The token the page must send back with every state-changing call.
    pub csrf_token: String,
    id_hash: String,
}

/// Never prints the token: a debug log line must not hand it out.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    /// Whether `given` is this session's CSRF token (compared in constant time).
    /// The stored session's key (the hash of the cookie's id), to check later that it still exists.
    pub fn id_hash(&self) -> &str {
        &self.id_hash
    }

    pub fn csrf_matches(&self, given: &str) -> bool {
        !given.is_empty() && bool::from(given.as_bytes().ct_eq(self.csrf_token.as_bytes()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Session>().cloned().ok_or_else(not_logged_in)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Session {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Session>().cloned())
    }
}

fn not_logged_in() -> Response {
    (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], NOT_LOGGED_IN).into_response()
}

fn csrf_refused() -> Response {
    (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], CSRF_REFUSED).into_response()
}

/// A refused call, in the form its caller reads: server functions decode [`AppError`] from the body
/// (so the page says "log in again" rather than "could not reach the server", and a save does not
/// retry forever); every other call gets plain text, as Trilium answers.
fn refused_call(path: &str, error: AppError) -> Response {
    if path == "/ui" || path.starts_with("/ui/") {
        let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::FORBIDDEN);
        let body = serde_json::to_string(&error).unwrap_or_default();
        return (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    match error {
        AppError::NotAuthenticated => not_logged_in(),
        _ => csrf_refused(),
    }
}

fn internal_error(e: impl std::fmt::Display) -> Response {
    tracing::error!("session store: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, "The session store failed; see the server log.").into_response()
}

/// What a path needs, decided in one place so that it can be read and tested as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Credentials of its own (sync, setup, ETAPI) or none needed (static files, health check).
    Open,
    /// The login pages: the session is looked up, not required.
    Login,
    /// A page: without a session, to the login page.
    Page,
    /// A server function or API call: without a session, 401.
    Call,
    /// The local sync API: a session or an ETAPI token.
    LocalApi,
}

fn access(path: &str) -> Access {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    match path {
        "/login" | "/set-password" | "/logout" => Access::Login,
        "/api/canopy/sync-status" | "/api/sync/now" | "/api/canopy/deep-check" => Access::LocalApi,
        // Trilium peers: the sync login and the hub's long poll (which checks the sync session).
        "/api/health-check" | "/api/login/sync" | "/api/canopy/changes" | "/favicon.svg" => Access::Open,
        // Before any login exists: the setup page (which only redirects once there is a document) and
        // the first sync's progress.
        "/setup" | "/setup/progress" => Access::Open,
        _ if under("/api/sync") || under("/api/setup") || under("/etapi") || under("/pkg") => Access::Open,
        _ if under("/api") || under("/ui") => Access::Call,
        _ => Access::Page,
    }
}

/// Methods that change nothing and so need no CSRF token.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn given_csrf(headers: &HeaderMap) -> &str {
    headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The one gate in front of every route (see the module comment).
pub async fn gate(State(auth): State<AuthState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
        .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let info = ClientInfo::of(&auth.settings.trusted_proxy, auth.settings.tls, peer, request.headers());
    let secure = info.secure;
    request.extensions_mut().insert(info);
    let access = access(request.uri().path());
    if access == Access::Open {
        return next.run(request).await;
    }
    if access == Access::LocalApi && request.headers().contains_key(header::AUTHORIZATION) {
        return match etapi_token_valid(&auth, request.headers()).await {
            Ok(true) => next.run(request).await,
            Ok(false) => (StatusCode::UNAUTHORIZED, "Token not found").into_response(),
            Err(e) => internal_error(e),
        };
    }
    let stored = match auth.cookie_value(request.headers()).map(str::to_owned) {
        Some(id) => match auth.blocking(move |store| store.lookup(&id)).await {
            Ok(stored) => stored,
            Err(e) => return internal_error(e),
        },
        None => None,
    };
    let mut new_cookie = None;
    let stored = match stored {
        Some(stored) => {
            if stored.refreshed && stored.remember {
                new_cookie = Some(auth.session_cookie(auth.cookie_value(request.headers()).unwrap_or_default(), true, secure));
            }
            Some(stored)
        }
        // Without authentication a page still gets a session: the CSRF token needs one. A browser
        // session's cookie is enough (the next one is made as silently), and the row lasts a day.
        None if auth.settings.no_authentication && access == Access::Page => {
            match auth.blocking(|store| store.create(false)).await {
                Ok((id, stored)) => {
                    new_cookie = Some(auth.session_cookie(&id, false, secure));
                    Some(stored)
                }
                Err(e) => return internal_error(e),
            }
        }
        None => None,
    };
    let session = stored.map(|StoredSession { id_hash, csrf_token, .. }| Session { csrf_token, id_hash });
    match (&session, access) {
        (None, Access::Page) => {
            let wanted = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
            return Redirect::to(&pages::login_url(wanted)).into_response();
        }
        (None, Access::Call) => return refused_call(request.uri().path(), AppError::NotAuthenticated),
        // Without authentication the page still has its session; a POST without one is another site's.
        (None, Access::LocalApi) if !auth.settings.no_authentication || !is_safe(request.method()) => {
            return not_logged_in()
        }
        (Some(session), Access::Call | Access::LocalApi)
            if !is_safe(request.method()) && !session.csrf_matches(given_csrf(request.headers())) =>
        {
            tracing::warn!("{} {} refused: missing or wrong CSRF token", request.method(), request.uri().path());
            return refused_call(request.uri().path(), AppError::Forbidden(CSRF_REFUSED.into()));
        }
        _ => {}
    }
    if let Some(session) = session {
        request.extensions_mut().insert(session);
    }
    let mut response = next.run(request).await;
    // A login or logout sets its own cookie; re-sending the old session's would undo it.
    if let Some(cookie) = new_cookie.filter(|_| !response.headers().contains_key(header::SET_COOKIE)) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if matches!(access, Access::Page | Access::Login) && is_html {
        // Pages carry the session's CSRF token and note content: never cached, never framed. (Static
        // files behind the session, such as the icon font, may still be cached.)
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static("frame-ancestors 'none'"));
    }
    response
}

async fn etapi_token_valid(auth: &AuthState, headers: &HeaderMap) -> Result<bool, DbError> {
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let document = auth.document.clone();
    tokio::task::spawn_blocking(move || {
        document.read(|conn| {
            crate::etapi::auth::authenticate(conn, &header).map(|token| token.is_some()).map_err(|e| DbError::Invalid(e.to_string()))
        })
    })
    .await
    .unwrap_or_else(|e| Err(DbError::Invalid(e.to_string())))
}

/// The largest body `/login`, `/set-password` and `/logout` accept (a password form).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// `/login`, `/set-password` and `/logout`.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AuthState: axum::extract::FromRef<S>,
{
    pages::routes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_has_the_access_it_should() {
        let cases = [
            ("/", Access::Page),
            ("/?note=abc", Access::Page),
            ("/anything", Access::Page),
            ("/login", Access::Login),
            ("/set-password", Access::Login),
            ("/logout", Access::Login),
            ("/ui/children", Access::Call),
            ("/ui", Access::Call),
            ("/api/ui/notes/x", Access::Call),
            ("/api/ui/events", Access::Call),
            ("/api/attachments/a/image/x.png", Access::Call),
            ("/api/images/n/x.png", Access::Call),
            ("/api/canopy/sync-status", Access::LocalApi),
            ("/api/sync/now", Access::LocalApi),
            ("/api/canopy/deep-check", Access::LocalApi),
            ("/api/canopy/changes", Access::Open),
            ("/api/canopy/other", Access::Call),
            ("/api/login/sync", Access::Open),
            ("/api/sync/changed", Access::Open),
            ("/api/sync/update", Access::Open),
            ("/api/sync/queue-sector/notes/ab", Access::Open),
            ("/api/setup/sync-seed", Access::Open),
            ("/api/setup/status", Access::Open),
            ("/api/health-check", Access::Open),
            ("/etapi/notes", Access::Open),
            ("/pkg/canopy.js", Access::Open),
            ("/pkgx", Access::Page),
            ("/favicon.svg", Access::Open),
            ("/api/syncx", Access::Call),
            ("/setup", Access::Open),
            ("/setup/progress", Access::Open),
            ("/api/setup/progress", Access::Open),
            ("/setup/other", Access::Page),
            ("/options/sync", Access::Page),
        ];
        for (path, expected) in cases {
            assert_eq!(access(path.split('?').next().unwrap()), expected, "{path}");
        }
    }
}
