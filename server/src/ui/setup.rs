//! The setup page of an instance without a document (`/setup`: "new document" or "sync from a
//! server", as Trilium's setup page offers), and the first full sync's progress (`/setup/progress`,
//! polling `GET /api/setup/progress` every second). Plain server-rendered forms like the login pages:
//! they are used before any session (or document, or password) exists.
use std::path::PathBuf;

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::auth::client_ip::{ClientInfo, TrustedProxy};
use crate::auth::pages::{page, same_origin};
use crate::db::options;
use crate::etapi::content::escape_html as escape;
use crate::sync::setup::SetupState;
use crate::sync::PullProgress;
use crate::{SetupChoice, SetupRequest, SyncFromServer};

/// What the setup page's routes need while the instance has no document.
#[derive(Clone)]
pub(crate) struct SetupPhaseState {
    /// To the task in [`crate::launch`] that makes the document.
    pub choices: mpsc::Sender<SetupRequest>,
    pub site_root: PathBuf,
    pub trusted_proxy: TrustedProxy,
    pub tls: bool,
}

/// Everything an instance without a document serves: the setup page, its stylesheet and Trilium's
/// setup status; every other page leads to `/setup`, every other call gets 503.
pub(crate) fn setup_phase_router(state: SetupPhaseState) -> Router {
    Router::new()
        .route("/setup", get(setup_page))
        .route("/setup/new-document", post(new_document))
        .route("/setup/sync-from-server", post(sync_from_server))
        .route("/api/health-check", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        .route(
            "/api/setup/status",
            get(|| async { Json(serde_json::json!({ "isInitialized": false, "schemaExists": false, "syncVersion": crate::SYNC_VERSION })) }),
        )
        .route("/pkg/canopy.css", get(stylesheet))
        .route("/favicon.svg", get(favicon))
        .fallback(not_set_up)
        // As every page behind the gate: never framed (a framed "create" button could be clicked blind).
        .layer(axum::middleware::map_response(|mut response: Response| async move {
            response.headers_mut().insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
            response
        }))
        .with_state(state)
}

async fn not_set_up(request: Request) -> Response {
    let path = request.uri().path();
    let is_call = path.starts_with("/api/") || path.starts_with("/ui/") || path.starts_with("/etapi/") || path == "/etapi";
    if request.method() == axum::http::Method::GET && !is_call {
        return Redirect::to("/setup").into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "This instance has no document yet: set it up at /setup.",
    )
        .into_response()
}

async fn site_file(state: &SetupPhaseState, relative: &str, content_type: &'static str) -> Response {
    match tokio::fs::read(state.site_root.join(relative)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn stylesheet(State(state): State<SetupPhaseState>) -> Response {
    site_file(&state, "pkg/canopy.css", "text/css").await
}

async fn favicon(State(state): State<SetupPhaseState>) -> Response {
    site_file(&state, "favicon.svg", "image/svg+xml").await
}

fn error_line(error: Option<&str>) -> String {
    error.map(|e| format!(r#"<p class="auth-error" role="alert">{}</p>"#, escape(&app::error::printable(e)))).unwrap_or_default()
}

fn setup_form(status: StatusCode, host: &str, error: Option<&str>) -> Response {
    let body = format!(
        r#"<h2 class="auth-title">Set up Canopy</h2>
<p class="auth-hint">This instance has no document yet. Start a new one, or get the document of a sync server (hub) you already use.</p>
{error}<form class="auth-form setup-choice" method="post" action="/setup/new-document">
<h3 class="setup-heading">New document</h3>
<p class="auth-hint">An empty document with a few welcome notes; you choose its password next.</p>
<button class="auth-submit" type="submit">Create a new document</button>
</form>
<form class="auth-form setup-choice" method="post" action="/setup/sync-from-server">
<h3 class="setup-heading">Sync from a server</h3>
<p class="auth-hint">This instance becomes a client of the server and pulls its whole document. Log in afterwards with the server's password.</p>
<label class="auth-field"><span>Server address</span>
<input type="url" name="sync_server_host" placeholder="https://notes.example.com" value="{host}" required></label>
<label class="auth-field"><span>Password of the server</span>
<input type="password" name="password" autocomplete="current-password" required></label>
<button class="auth-submit" type="submit">Sync from the server</button>
</form>"#,
        error = error_line(error),
        host = escape(host),
    );
    page(status, "Set up", &body)
}

async fn setup_page() -> Response {
    setup_form(StatusCode::OK, "", None)
}

fn client_info(state: &SetupPhaseState, peer: std::net::SocketAddr, headers: &HeaderMap) -> ClientInfo {
    ClientInfo::of(&state.trusted_proxy, state.tls, peer, headers)
}

fn cross_site() -> Response {
    tracing::warn!("a setup form posted from another site was refused");
    page(StatusCode::FORBIDDEN, "Refused", r#"<h2 class="auth-title">Refused</h2><p class="auth-hint">This form was sent from another site.</p>"#)
}

/// Hands the choice to the task that makes the document; `Err` is the message for the page.
async fn choose(state: &SetupPhaseState, choice: SetupChoice) -> Result<(), Option<String>> {
    let (reply, answer) = oneshot::channel();
    // A closed channel: somebody else's choice was made meanwhile.
    state.choices.send(SetupRequest { choice, reply }).await.map_err(|_| None)?;
    answer.await.map_err(|_| None)?.map_err(Some)
}

async fn new_document(
    State(state): State<SetupPhaseState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !same_origin(&headers, &client_info(&state, peer, &headers)) {
        return cross_site();
    }
    match choose(&state, SetupChoice::NewDocument).await {
        Ok(()) => Redirect::to("/set-password").into_response(),
        Err(None) => Redirect::to("/").into_response(),
        Err(Some(message)) => setup_form(StatusCode::INTERNAL_SERVER_ERROR, "", Some(&message)),
    }
}

#[derive(Deserialize, Default)]
struct SyncForm {
    #[serde(default)]
    sync_server_host: String,
    #[serde(default)]
    password: String,
}

async fn sync_from_server(
    State(state): State<SetupPhaseState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<SyncForm>, FormRejection>,
) -> Response {
    if !same_origin(&headers, &client_info(&state, peer, &headers)) {
        return cross_site();
    }
    let Ok(Form(form)) = form else {
        return setup_form(StatusCode::BAD_REQUEST, "", Some("The form was not sent completely; try again."));
    };
    let host = match super::sync_options::checked_url(&form.sync_server_host, "The server address") {
        Ok(host) => host,
        Err(message) => return setup_form(StatusCode::BAD_REQUEST, &form.sync_server_host, Some(&message)),
    };
    if form.password.is_empty() {
        return setup_form(StatusCode::BAD_REQUEST, &host, Some("Enter the password of the server."));
    }
    let choice = SetupChoice::SyncFromServer(SyncFromServer { sync_server_host: host.clone(), password: form.password });
    match choose(&state, choice).await {
        Ok(()) => Redirect::to("/setup/progress").into_response(),
        Err(None) => Redirect::to("/").into_response(),
        // The server's refusal (wrong password, other version) or that it cannot be reached.
        Err(Some(message)) => setup_form(StatusCode::BAD_REQUEST, &host, Some(&message)),
    }
}

/// `/setup` and the progress page once the instance has its document.
pub fn routes(state: SetupState) -> Router {
    Router::new()
        .route("/setup", get(setup_done))
        .route("/setup/progress", get(progress_page))
        .route("/api/setup/progress", get(progress))
        .with_state(state)
}

fn initialized(state: &SetupState) -> bool {
    state.document.read(|c| Ok(options::get(c, "initialized")?.as_deref() == Some("true"))).unwrap_or(false)
}

async fn setup_done(State(state): State<SetupState>) -> Redirect {
    Redirect::to(if initialized(&state) { "/" } else { "/setup/progress" })
}

/// The first full sync's progress, pre-login: only counts, and only until the document is set up.
#[derive(Serialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
struct Progress {
    initialized: bool,
    /// `None`: an empty hub waiting for a client's document.
    sync_server_host: Option<String>,
    pulled: u64,
    /// `pulled` plus what the hub still has (its `outstandingPullCount`).
    total: u64,
    /// Estimated from the pace so far; `None` before the first page or once nothing is left.
    seconds_left: Option<u64>,
    last_error: Option<String>,
}

async fn progress(State(state): State<SetupState>) -> Response {
    let mut response = if initialized(&state) {
        Json(Progress { initialized: true, ..Default::default() }).into_response()
    } else {
        let status = state.sync.status();
        let pull = state.sync.pull_progress();
        let (total, seconds_left) = estimate(&pull);
        Json(Progress {
            initialized: false,
            sync_server_host: status.sync_server_host,
            pulled: pull.pulled,
            total,
            seconds_left,
            last_error: status.last_error,
        })
        .into_response()
    };
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// The hub's total (pulled plus outstanding) and the seconds left at the pace so far.
fn estimate(pull: &PullProgress) -> (u64, Option<u64>) {
    let outstanding = pull.outstanding.max(0) as u64;
    let seconds_left = (pull.pulled > 0 && outstanding > 0)
        .then(|| (pull.elapsed_ms.saturating_mul(outstanding)).div_ceil(pull.pulled.saturating_mul(1000)));
    (pull.pulled + outstanding, seconds_left)
}

async fn progress_page(State(state): State<SetupState>) -> Response {
    if initialized(&state) {
        return Redirect::to("/").into_response();
    }
    let body = format!(
        r#"<h2 class="auth-title">First sync</h2>
<p class="auth-hint" id="setup-server">{server}</p>
<progress class="setup-progress" id="setup-bar"></progress>
<p class="setup-count" id="setup-count" aria-live="polite">Waiting for the first changes…</p>
<p class="setup-eta" id="setup-eta"></p>
<p class="auth-error" id="setup-error" role="alert" hidden></p>
<noscript><meta http-equiv="refresh" content="2"></noscript>
<script>{PROGRESS_SCRIPT}</script>"#,
        server = match state.sync.status().sync_server_host {
            Some(host) => format!("Pulling the document from {}.", escape(&host)),
            None => "This instance waits for a client to send it its document (its log has the one-time seed token).".into(),
        },
    );
    page(StatusCode::OK, "First sync", &body)
}

/// Polls `/api/setup/progress` every second; once the document is set up, goes to `/` (the login).
const PROGRESS_SCRIPT: &str = r#"
(() => {
  const el = (id) => document.getElementById(id);
  const duration = (s) => s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
  async function tick() {
    try {
      const p = await (await fetch('/api/setup/progress', { cache: 'no-store' })).json();
      if (p.initialized) {
        el('setup-count').textContent = 'The first sync is done.';
        el('setup-eta').textContent = '';
        location.replace('/');
        return;
      }
      const bar = el('setup-bar');
      if (p.total > 0) {
        bar.max = p.total;
        bar.value = p.pulled;
        el('setup-count').textContent = `${p.pulled.toLocaleString('en')} of ${p.total.toLocaleString('en')} changes pulled (${Math.floor(100 * p.pulled / p.total)} %)`;
      }
      el('setup-eta').textContent = p.secondsLeft == null ? '' : `About ${duration(p.secondsLeft)} left`;
      el('setup-error').hidden = !p.lastError;
      el('setup-error').textContent = p.lastError ?? '';
    } catch (e) {
      el('setup-count').textContent = 'Waiting for the server…';
    }
    setTimeout(tick, 1000);
  }
  tick();
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_follows_the_pace_so_far() {
        let at = |pulled, outstanding, elapsed_ms| estimate(&PullProgress { pulled, outstanding, elapsed_ms });
        assert_eq!(at(0, 0, 0), (0, None), "nothing pulled yet: no estimate");
        assert_eq!(at(0, 500, 100), (500, None));
        assert_eq!(at(1000, 3000, 2000), (4000, Some(6)), "3,000 left at 500 per second");
        assert_eq!(at(1000, 1, 2000), (1001, Some(1)), "rounded up, never 0 while something is left");
        assert_eq!(at(4000, 0, 8000), (4000, None), "done");
        assert_eq!(at(10, -1, 5), (10, None), "a nonsensical count from the hub counts as none");
    }
}
