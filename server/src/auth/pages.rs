//! `/login`, `/set-password` and `/logout`: plain server-rendered forms that work without JavaScript.
//!
//! The forms are posted before a session exists, so a CSRF token cannot protect them; a cross-site
//! post (which would log the victim into the attacker's instance, or set the password of a new one)
//! is refused by its `Origin` (or `Referer`) instead. Browsers send `Origin` with every form post;
//! clients that send neither are not browsers, and so not a CSRF vector.
use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::client_ip::{ClientInfo, ClientIp};
use super::{AuthState, Session};
use crate::db::{options, password, ChangeSource, DbError};
use crate::etapi::content::escape_html as escape;
use crate::login_limit;

/// Trilium's shortest password.
const MIN_PASSWORD_CHARS: usize = 4;

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AuthState: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/set-password", get(set_password_page).post(set_password))
        .route("/logout", post(logout))
}

/// Where to go after logging in: only a path on this site (`/...`, never `//host` or `/\host`,
/// which browsers read as another site), else `/`.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(next)
            if next.starts_with('/')
                && !next.starts_with("//")
                && !next.contains('\\')
                && !next.chars().any(char::is_control)
                && !next.starts_with("/login")
                && !next.starts_with("/set-password")
                && !next.starts_with("/logout") =>
        {
            next
        }
        _ => "/",
    }
}

fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/login`, remembering the page the user wanted (`next`).
pub fn login_url(wanted: &str) -> String {
    with_next("/login", wanted)
}

fn with_next(page: &str, next: &str) -> String {
    match safe_next(Some(next)) {
        "/" => page.to_owned(),
        next => format!("{page}?next={}", encode_component(next)),
    }
}

/// Whether the post comes from a page of this site.
pub(crate) fn same_origin(headers: &HeaderMap, info: &ClientInfo) -> bool {
    let source = headers.get(header::ORIGIN).or_else(|| headers.get(header::REFERER));
    let Some(source) = source else { return true };
    let Ok(source) = source.to_str() else { return false };
    let authority = source
        .strip_prefix("https://")
        .or_else(|| source.strip_prefix("http://"))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase());
    // `Origin: null` (sandboxed frames, some redirects) has no authority and is refused too.
    matches!((authority, &info.host), (Some(a), Some(host)) if !a.is_empty() && a == *host)
}

/// One page of the login flow. `body` is trusted HTML built here.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Canopy</title>
<link rel="stylesheet" href="/pkg/canopy.css">
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
</head>
<body class="auth-page">
<main class="auth-card">
<h1 class="auth-brand">Canopy</h1>
{body}
</main>
</body>
</html>
"#,
        title = escape(title)
    );
    // A login page must never come back from a cache with somebody's error or next page.
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

fn error_line(error: Option<&str>) -> String {
    error.map(|e| format!(r#"<p class="auth-error" role="alert">{}</p>"#, escape(e))).unwrap_or_default()
}

fn login_form(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let body = format!(
        r#"<h2 class="auth-title">Log in</h2>
{error}<form class="auth-form" method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label class="auth-field"><span>Password</span>
<input type="password" name="password" autocomplete="current-password" required autofocus></label>
<label class="auth-check"><input type="checkbox" name="remember_me" value="1"> Remember me</label>
<button class="auth-submit" type="submit">Log in</button>
</form>"#,
        error = error_line(error),
        next = escape(next)
    );
    page(status, "Log in", &body)
}

fn set_password_form(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let body = format!(
        r#"<h2 class="auth-title">Set a password</h2>
<p class="auth-hint">This document has no password yet. Choose one: it protects this page, ETAPI logins and setting up sync clients.</p>
{error}<form class="auth-form" method="post" action="/set-password">
<input type="hidden" name="next" value="{next}">
<label class="auth-field"><span>Password</span>
<input type="password" name="password" autocomplete="new-password" minlength="{MIN_PASSWORD_CHARS}" required autofocus></label>
<label class="auth-field"><span>Repeat the password</span>
<input type="password" name="password_repeat" autocomplete="new-password" minlength="{MIN_PASSWORD_CHARS}" required></label>
<button class="auth-submit" type="submit">Set password</button>
</form>"#,
        error = error_line(error),
        next = escape(next)
    );
    page(status, "Set a password", &body)
}

fn message(status: StatusCode, title: &str, text: &str) -> Response {
    page(status, title, &format!(r#"<h2 class="auth-title">{}</h2><p class="auth-hint">{}</p>"#, escape(title), escape(text)))
}

fn failure(e: impl std::fmt::Display) -> Response {
    tracing::error!("login page: {e}");
    message(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "The server could not complete this; its log says why.")
}

fn cross_site() -> Response {
    tracing::warn!("a login form posted from another site was refused");
    message(StatusCode::FORBIDDEN, "Refused", "This form was sent from another site.")
}

/// Where the document stands, read off the async workers.
#[derive(Clone, Copy)]
enum DocumentState {
    /// Waiting for its first sync (a new client, or an empty hub waiting for a client's document): the
    /// password arrives with the document, so none may be set here.
    NotReady,
    NoPassword,
    Ready,
}

async fn document_state(auth: &AuthState) -> Result<DocumentState, DbError> {
    let document = auth.document.clone();
    tokio::task::spawn_blocking(move || {
        document.read(|conn| {
            if options::get(conn, "initialized")?.as_deref() != Some("true") {
                return Ok(DocumentState::NotReady);
            }
            Ok(if password::is_password_set(conn)? { DocumentState::Ready } else { DocumentState::NoPassword })
        })
    })
    .await
    .unwrap_or_else(|e| Err(DbError::Invalid(e.to_string())))
}

fn not_ready() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Not ready yet",
        r#"<h2 class="auth-title">Not ready yet</h2>
<p class="auth-hint">This instance has no document of its own yet: it is waiting for its first sync. Log in when that is done, with the password of the document it receives.</p>
<p class="auth-hint"><a href="/setup/progress">See how far the first sync is</a></p>"#,
    )
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(State(auth): State<AuthState>, session: Option<Session>, Query(query): Query<NextQuery>) -> Response {
    let next = safe_next(query.next.as_deref()).to_owned();
    if session.is_some() || auth.settings.no_authentication {
        return Redirect::to(&next).into_response();
    }
    match document_state(&auth).await {
        Ok(DocumentState::NotReady) => not_ready(),
        Ok(DocumentState::NoPassword) => Redirect::to(&with_next("/set-password", &next)).into_response(),
        Ok(DocumentState::Ready) => login_form(StatusCode::OK, &next, None),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize, Default)]
struct LoginForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    remember_me: Option<String>,
    #[serde(default)]
    next: Option<String>,
}

async fn login(
    State(auth): State<AuthState>,
    ClientIp(ip): ClientIp,
    Extension(info): Extension<ClientInfo>,
    headers: HeaderMap,
    old: Option<Session>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    if !same_origin(&headers, &info) {
        return cross_site();
    }
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            let (status, message) = form_refused(&rejection);
            return login_form(status, "/", Some(message));
        }
    };
    let next = safe_next(form.next.as_deref()).to_owned();
    if !auth.login_limiter.allows(&ip) {
        return login_form(StatusCode::TOO_MANY_REQUESTS, &next, Some(login_limit::MESSAGE));
    }
    let document = auth.document.clone();
    let password = form.password;
    // scrypt takes a while: keep it off the async workers.
    let verified = tokio::task::spawn_blocking(move || {
        Ok::<_, DbError>(!password.is_empty() && document.read(|conn| password::verify_password(conn, &password))?)
    })
    .await;
    match verified {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            auth.login_limiter.record_failure(&ip);
            tracing::warn!("wrong password on the login page from {ip}");
            return login_form(StatusCode::UNAUTHORIZED, &next, Some("Wrong password."));
        }
        Ok(Err(e)) => return failure(e),
        Err(e) => return failure(e),
    }
    start_session(&auth, old, form.remember_me.is_some(), info.secure, &next).await
}

/// A new session (never the one the browser came with, so a planted id cannot be logged in) and a
/// redirect to `next`.
async fn start_session(auth: &AuthState, old: Option<Session>, remember: bool, secure: bool, next: &str) -> Response {
    let created = auth
        .blocking(move |store| {
            if let Some(old) = old {
                store.delete(&old.id_hash)?;
            }
            store.create(remember)
        })
        .await;
    match created {
        Ok((id, _)) => {
            let mut response = Redirect::to(next).into_response();
            response.headers_mut().insert(header::SET_COOKIE, auth.session_cookie(&id, remember, secure));
            response
        }
        Err(e) => failure(e),
    }
}

async fn set_password_page(State(auth): State<AuthState>, Query(query): Query<NextQuery>) -> Response {
    let next = safe_next(query.next.as_deref()).to_owned();
    match document_state(&auth).await {
        Ok(DocumentState::NotReady) => not_ready(),
        Ok(DocumentState::NoPassword) => set_password_form(StatusCode::OK, &next, None),
        Ok(DocumentState::Ready) => Redirect::to(&login_url(&next)).into_response(),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize, Default)]
struct SetPasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_repeat: String,
    #[serde(default)]
    next: Option<String>,
}

async fn set_password(
    State(auth): State<AuthState>,
    Extension(info): Extension<ClientInfo>,
    headers: HeaderMap,
    old: Option<Session>,
    form: Result<Form<SetPasswordForm>, FormRejection>,
) -> Response {
    if !same_origin(&headers, &info) {
        return cross_site();
    }
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            let (status, message) = form_refused(&rejection);
            return set_password_form(status, "/", Some(message));
        }
    };
    let next = safe_next(form.next.as_deref()).to_owned();
    match document_state(&auth).await {
        Ok(DocumentState::NoPassword) => {}
        Ok(DocumentState::NotReady) => return not_ready(),
        Ok(DocumentState::Ready) => return Redirect::to(&login_url(&next)).into_response(),
        Err(e) => return failure(e),
    }
    // Trilium trims both and wants at least 4 characters.
    let (password, repeat) = (form.password.trim().to_owned(), form.password_repeat.trim());
    let error = if password != repeat {
        Some("The two passwords are not the same.")
    } else if password.chars().count() < MIN_PASSWORD_CHARS {
        Some("The password must be at least 4 characters long.")
    } else {
        None
    };
    if let Some(error) = error {
        return set_password_form(StatusCode::BAD_REQUEST, &next, Some(error));
    }
    let document = auth.document.clone();
    let source = ChangeSource::new(&auth.instance_id);
    let stored = tokio::task::spawn_blocking(move || document.write(&source, |tx| password::set_password(tx, &password))).await;
    match stored {
        Ok(Ok(())) => {
            tracing::info!("the document's password was set on the set-password page");
            start_session(&auth, old, false, info.secure, &next).await
        }
        // Somebody else was quicker: their password stands, log in with it.
        Ok(Err(DbError::PasswordAlreadySet)) => Redirect::to(&login_url(&next)).into_response(),
        Ok(Err(e)) => failure(e),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize, Default)]
struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// Ends the session. The token comes in `X-CSRF-Token` (from scripts) or as the form field
/// `csrf_token` (a plain logout form in the page).
/// What the page says about a form it could not read: too large (the limit is 64 KiB), or broken.
fn form_refused(rejection: &FormRejection) -> (StatusCode, &'static str) {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        (StatusCode::PAYLOAD_TOO_LARGE, "The form is larger than the 64 KiB this page takes; nothing was done.")
    } else {
        (StatusCode::BAD_REQUEST, "The form was not sent completely; try again.")
    }
}

async fn logout(
    State(auth): State<AuthState>,
    Extension(info): Extension<ClientInfo>,
    session: Option<Session>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Response {
    let Some(session) = session else { return Redirect::to("/login").into_response() };
    let given = match headers.get(super::CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        Some(header) => header.to_owned(),
        None => form.map(|Form(f)| f.csrf_token).unwrap_or_default(),
    };
    if !session.csrf_matches(&given) {
        return super::csrf_refused();
    }
    let id_hash = session.id_hash.clone();
    auth.protected.lock(&id_hash);
    if let Err(e) = auth.blocking(move |store| store.delete(&id_hash)).await {
        return failure(e);
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, auth.cleared_cookie(info.secure));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/?note=abc")), "/?note=abc");
        for bad in ["//evil.example/", "/\\evil.example", "https://evil.example/", "evil", "/login", "/x\ny", ""] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
        assert_eq!(login_url("/?note=a&b=c d"), "/login?next=/%3Fnote%3Da%26b%3Dc%20d");
        assert_eq!(login_url("/"), "/login");
    }

    #[test]
    fn only_this_host_is_the_same_origin() {
        let info = ClientInfo { ip: [127, 0, 0, 1].into(), secure: false, host: Some("notes.example:8080".into()) };
        let with = |name: header::HeaderName, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(name, value.parse().unwrap());
            h
        };
        assert!(same_origin(&HeaderMap::new(), &info));
        assert!(same_origin(&with(header::ORIGIN, "http://notes.example:8080"), &info));
        assert!(same_origin(&with(header::ORIGIN, "https://NOTES.example:8080"), &info));
        assert!(!same_origin(&with(header::ORIGIN, "http://evil.example"), &info));
        assert!(!same_origin(&with(header::ORIGIN, "http://notes.example:8080.evil.example"), &info));
        assert!(!same_origin(&with(header::ORIGIN, "null"), &info));
        assert!(same_origin(&with(header::REFERER, "http://notes.example:8080/login?next=/"), &info));
        assert!(!same_origin(&with(header::REFERER, "http://evil.example/notes.example:8080"), &info));
    }
}
