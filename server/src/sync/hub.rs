//! The hub side of sync: Trilium's sync endpoints, answered as Trilium 0.63.7 answers them
//! (paths, bodies, status codes, messages, the `trilium-max-entity-change-id` header).
//! Every instance serves them; a client is simply an instance that also runs [`super::client`].
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::error::printable;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;

use super::apply::{apply_records, PeerMemory};
use super::wire::{self, ChangedResponse, CheckResponse, LoginRequest, LoginResponse, SetupStatus, UpdateRequest};
use super::{ancestry, check, records, SyncState};
use crate::auth::client_ip::ClientIp;
use crate::db::{self, options, password, peer_notes, ChangeSource, Document, InstanceId};
use crate::hashing;

/// Trilium's session lifetime.
const SESSION_TTL: Duration = Duration::from_secs(24 * 3600);
/// Unfinished multi-page pushes are dropped after this long, as in Trilium.
const PARTIAL_TTL: Duration = Duration::from_secs(20 * 60);
/// What all unfinished multi-page pushes together may hold in memory: a batch of a push with the
/// largest attachments fits many times over, a peer sending pages without end does not.
const PARTIAL_MAX_BYTES: usize = 512 * 1024 * 1024;
const CLOCK_TOLERANCE_MS: i64 = 5 * 60 * 1000;

#[derive(Clone)]
pub struct HubState {
    pub document: Document,
    pub instance_id: InstanceId,
    pub sync: Arc<SyncState>,
    sessions: Arc<Mutex<HashMap<String, Instant>>>,
    /// Accepted sync logins by client address and timestamp, until the timestamp leaves the clock
    /// window: a login holds no nonce, so without this a copy of one opens sessions for ten minutes.
    used_logins: Arc<Mutex<HashMap<(IpAddr, String), Instant>>>,
    partial_pushes: Arc<Mutex<HashMap<String, (Instant, String)>>>,
    /// Set while this instance is an empty hub waiting for a client's document; used once.
    seed_token: Arc<Mutex<Option<String>>>,
    /// Per client instance: (cursor, outstanding changes) after its last pull page.
    pull_progress: Arc<Mutex<HashMap<String, (i64, i64)>>>,
    /// The seed needs the password: guessing it is limited like every login.
    login_limiter: Arc<crate::login_limit::LoginLimiter>,
    /// A push changed rows since the consistency checks last ran.
    checks_due: Arc<AtomicBool>,
    checks_pace: Arc<check::ChecksPace>,
}

impl HubState {
    pub fn new(
        document: Document,
        instance_id: InstanceId,
        sync: Arc<SyncState>,
        seed_token: Option<String>,
        login_limiter: Arc<crate::login_limit::LoginLimiter>,
    ) -> Self {
        HubState {
            document,
            instance_id,
            sync,
            sessions: Default::default(),
            used_logins: Default::default(),
            partial_pushes: Default::default(),
            seed_token: Arc::new(Mutex::new(seed_token)),
            pull_progress: Default::default(),
            login_limiter,
            checks_due: Default::default(),
            checks_pace: Default::default(),
        }
    }
}

/// An error answered as Trilium answers it.
#[derive(Debug)]
pub enum HubError {
    /// `{"message": ...}` JSON, as `apiResultHandler` sends `[status, {message}]`.
    Json(StatusCode, String),
    /// `text/plain`, as the auth middlewares send.
    Text(StatusCode, String),
    /// Any other JSON body.
    Raw(StatusCode, serde_json::Value),
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        match self {
            HubError::Json(status, message) => (status, Json(wire::ErrorBody { message: printable(&message) })).into_response(),
            HubError::Text(status, message) => (status, [(header::CONTENT_TYPE, "text/plain")], printable(&message)).into_response(),
            HubError::Raw(status, body) => (status, Json(body)).into_response(),
        }
    }
}

impl From<db::DbError> for HubError {
    fn from(e: db::DbError) -> Self {
        match e {
            db::DbError::Invalid(message) => HubError::Json(StatusCode::BAD_REQUEST, message),
            other => {
                tracing::error!("sync request failed: {other}");
                if let Some(fault) = other.storage_fault() {
                    let status = StatusCode::from_u16(fault.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    return HubError::Json(status, format!("On the sync server: {}", fault.message()));
                }
                HubError::Json(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
            }
        }
    }
}

type HubResult<T> = Result<T, HubError>;

pub fn router(state: HubState) -> Router {
    let authenticated = Router::new()
        .route("/api/sync/changed", get(changed))
        .route("/api/sync/update", put(update))
        .route("/api/sync/finished", post(finished))
        .route("/api/sync/check", get(check_hashes))
        .route("/api/sync/queue-sector/{entity_name}/{sector}", post(queue_sector))
        .route("/api/sync/check-entity-changes", post(check_entity_changes))
        .route("/api/canopy/changes", get(wait_for_changes))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_session));
    Router::new()
        .route("/api/login/sync", post(login))
        .route("/api/setup/status", get(setup_status))
        .route("/api/setup/sync-seed", get(sync_seed).post(receive_seed))
        .route("/api/sync/stats", get(stats))
        .merge(authenticated)
        .layer(middleware::from_fn_with_state(state.clone(), max_change_id_header))
        .route_layer(middleware::from_fn_with_state(state.clone(), after_maintenance))
        .with_state(state)
}

/// Peers wait while the start-up maintenance repairs the document (seconds at most, once).
async fn after_maintenance(State(state): State<HubState>, request: Request, next: Next) -> Response {
    state.sync.until_maintained().await;
    next.run(request).await
}

/// Every answer carries the newest change id, as Trilium's `apiResultHandler` adds it.
async fn max_change_id_header(State(state): State<HubState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Ok(max) = state.document.read(|conn| Ok(db::entity_changes::max_id(conn)?)) {
        response.headers_mut().insert("trilium-max-entity-change-id", HeaderValue::from(max));
    }
    response
}

async fn require_session(State(state): State<HubState>, request: Request, next: Next) -> Response {
    let token = session_token(request.headers());
    let valid = token.is_some_and(|token| {
        let mut sessions = state.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, expires| *expires > Instant::now());
        sessions.contains_key(&token)
    });
    if !valid {
        return HubError::Text(StatusCode::UNAUTHORIZED, "Logged in session not found".into()).into_response();
    }
    next.run(request).await
}

/// Trilium clients send back the whole `Set-Cookie` string (attributes included) as `Cookie`.
fn session_token(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|cookies| {
        cookies.split(';').map(str::trim).find_map(|pair| pair.strip_prefix("trilium.sid=")).map(str::to_owned)
    })
}

async fn login(State(state): State<HubState>, ClientIp(client): ClientIp, body: Bytes) -> HubResult<Response> {
    let request: LoginRequest = serde_json::from_slice(&body)
        .map_err(|e| HubError::Json(StatusCode::BAD_REQUEST, format!("Invalid sync login request: {e}")))?;
    let in_sync = hashing::parse_utc_date_time(&request.timestamp)
        .is_some_and(|t| (chrono::Utc::now() - t).num_milliseconds().abs() <= CLOCK_TOLERANCE_MS);
    if !in_sync {
        return Err(HubError::Json(
            StatusCode::UNAUTHORIZED,
            "Auth request time is out of sync, please check that both client and server have correct time. \
             The difference between clocks has to be smaller than 5 minutes."
                .into(),
        ));
    }
    if request.sync_version != serde_json::json!(crate::SYNC_VERSION) {
        return Err(HubError::Json(
            StatusCode::BAD_REQUEST,
            format!(
                "Non-matching sync versions, local is version {}, remote is {}. It is recommended to run same \
                 version of Trilium on both sides of sync. {}",
                crate::SYNC_VERSION,
                request.sync_version,
                super::sync_version_advice(super::Side::Hub, &request.sync_version)
            ),
        ));
    }
    let local_db_version = state.document.db_version();
    if let Some(remote) = request.canopy_db_version.filter(|v| *v != local_db_version) {
        return Err(HubError::Json(StatusCode::BAD_REQUEST, super::db_version_mismatch(local_db_version, remote)));
    }
    let secret = state
        .document
        .read(|conn| options::get(conn, "documentSecret"))?
        .ok_or_else(|| HubError::Json(StatusCode::INTERNAL_SERVER_ERROR, "DB schema does not exist, can't sync.".into()))?;
    if !hmac_matches(&secret, &request.timestamp, &request.hash) {
        return Err(HubError::Json(
            StatusCode::BAD_REQUEST,
            "Sync login credentials are incorrect. It looks like you're trying to sync two different initialized \
             documents which is not possible."
                .into(),
        ));
    }
    if !first_use_of(&state, client, &request.timestamp) {
        tracing::warn!(%client, timestamp = %request.timestamp, "a sync login was sent again; refused");
        let body = wire::ErrorBody { message: "This sync login was already used; a login needs a new timestamp.".into() };
        return Ok((StatusCode::UNAUTHORIZED, [(LOGIN_USED_HEADER, "true")], Json(body)).into_response());
    }
    let token = format!("s%3A{}", hashing::random_string(32));
    state.sessions.lock().unwrap_or_else(|p| p.into_inner()).insert(token.clone(), Instant::now() + SESSION_TTL);
    let max_entity_change_id = state.document.read(|conn| {
        Ok(conn.query_row("SELECT COALESCE(MAX(id), 0) FROM entity_changes WHERE isSynced = 1", [], |r| r.get(0))?)
    })?;
    let expires = (chrono::Utc::now() + chrono::Duration::from_std(SESSION_TTL).unwrap_or_default())
        .format("%a, %d %b %Y %H:%M:%S GMT");
    let cookie = format!("trilium.sid={token}; Path=/; Expires={expires}; HttpOnly");
    let body = LoginResponse {
        instance_id: state.instance_id.to_string(),
        max_entity_change_id,
        canopy_db_version: Some(local_db_version),
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Marks the refusal of a login already used, so a Canopy client whose timestamp met another
/// client's on the same address (the same millisecond) logs in again at once.
pub const LOGIN_USED_HEADER: &str = "canopy-login-used";

/// Records a verified login; false when this address sent it before. Keyed by address, not only by
/// timestamp: two clients on different machines logging in within the same millisecond send the
/// same body, and neither is refused. A timestamp up to the tolerance ahead of the clock stays valid
/// for twice the tolerance, so it is kept that long.
fn first_use_of(state: &HubState, client: IpAddr, timestamp: &str) -> bool {
    let keep = Duration::from_millis(2 * CLOCK_TOLERANCE_MS as u64);
    let now = Instant::now();
    let mut used = state.used_logins.lock().unwrap_or_else(|p| p.into_inner());
    used.retain(|_, at| now.duration_since(*at) < keep);
    used.insert((client, timestamp.to_owned()), now).is_none()
}

/// The timestamp of a new sync login: now, or a millisecond after this process's last one, so two
/// logins from one process never carry the same body.
pub fn login_timestamp() -> String {
    static LAST: Mutex<Option<chrono::DateTime<chrono::Utc>>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let now = chrono::Utc::now();
    let next = match *last {
        Some(previous) if now <= previous + chrono::Duration::milliseconds(1) => previous + chrono::Duration::milliseconds(1),
        _ => now,
    };
    *last = Some(next);
    hashing::utc_date_time_str(next)
}

/// `base64(HMAC-SHA256(key = documentSecret as stored, msg = timestamp))`, compared in constant time.
pub fn login_hash(document_secret: &str, timestamp: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(document_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn hmac_matches(document_secret: &str, timestamp: &str, given: &str) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(given) else { return false };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(document_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    mac.verify_slice(&given).is_ok()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangedQuery {
    instance_id: String,
    last_entity_change_id: String,
}

async fn changed(
    State(state): State<HubState>,
    headers: HeaderMap,
    Query(query): Query<ChangedQuery>,
) -> HubResult<Json<ChangedResponse>> {
    if let Some(token) = session_token(&headers) {
        state.sync.push_ended(&token, Some(&query.instance_id));
    }
    let after: i64 = query.last_entity_change_id.trim().parse().map_err(|_| {
        HubError::Json(StatusCode::BAD_REQUEST, format!("lastEntityChangeId '{}' is not a number", query.last_entity_change_id))
    })?;
    let source = ChangeSource::new(&state.instance_id).with_component("sync");
    let response = state.document.write(&source, |tx| {
        ancestry::ensure_table(tx.conn())?;
        peer_notes::ensure_table(tx.conn())?;
        // Asking from `after`, the peer shows it committed the pages before.
        peer_notes::confirm_sent(tx.conn(), &query.instance_id, after)?;
        let (mut entity_changes, last_entity_change_id) = records::batch_after(tx.conn(), after, &query.instance_id)?;
        for record in &mut entity_changes {
            super::attach_parent(tx.conn(), record)?;
            // From now on a peer knows this version: later local edits derive from it.
            let change = &record.entity_change;
            if change.entity_name == "notes" && !change.is_erased {
                ancestry::mark_exchanged(tx.conn(), &change.entity_id, &change.hash, record.canopy_parent_hash.as_deref())?;
            }
            // And this peer holds it once it asks from a cursor past it (kept across restarts).
            if let (true, Some(id)) = (change.entity_name == "notes", change.id) {
                let hash = (!change.is_erased).then_some(change.hash.as_str());
                peer_notes::sent(tx.conn(), &query.instance_id, &change.entity_id, hash, id)?;
            }
        }
        // Counting the whole tail for every page would make a first sync quadratic: count once, then
        // count down page by page; an empty page (the end) is counted exactly again.
        let previous = state.pull_progress.lock().unwrap_or_else(|p| p.into_inner()).get(&query.instance_id).copied();
        // A blob sent along with its note from outside the page's range is not one of its changes.
        let in_range = entity_changes
            .iter()
            .filter(|r| r.entity_change.id.is_some_and(|id| id > after && id <= last_entity_change_id))
            .count();
        let outstanding_pull_count = match previous {
            Some((cursor, outstanding)) if cursor == after && !entity_changes.is_empty() => (outstanding - in_range as i64).max(0),
            _ => tx.conn().query_row(
                "SELECT COUNT(*) FROM entity_changes WHERE isSynced = 1 AND instanceId != ?1 AND id > ?2",
                rusqlite::params![query.instance_id, last_entity_change_id],
                |r| r.get(0),
            )?,
        };
        Ok(ChangedResponse { entity_changes, last_entity_change_id, outstanding_pull_count })
    })?;
    state
        .pull_progress
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(query.instance_id.clone(), (response.last_entity_change_id, response.outstanding_pull_count));
    state.sync.saw_client(&query.instance_id, hashing::utc_date_time_str(chrono::Utc::now()));
    Ok(Json(response))
}

async fn update(State(state): State<HubState>, headers: HeaderMap, body: Bytes) -> HubResult<StatusCode> {
    // Open from its first page on: its blobs may come a batch before the rows that use them.
    let session = session_token(&headers);
    if let Some(token) = &session {
        state.sync.push_batch(token, || state.document.read(|conn| Ok(db::entity_changes::max_id(conn)?)).unwrap_or(0));
    }
    let header_number = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<usize>().ok());
    let page_count = header_number("pageCount").unwrap_or(1);
    let page_index = header_number("pageIndex").unwrap_or(0);
    let body = String::from_utf8(body.to_vec())
        .map_err(|_| HubError::Json(StatusCode::BAD_REQUEST, "sync update body is not UTF-8".into()))?;
    let payload = if page_count > 1 {
        let request_id = headers
            .get("requestId")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| HubError::Json(StatusCode::BAD_REQUEST, "multi-page sync update without requestId".into()))?
            .to_owned();
        if page_index >= page_count {
            return Err(HubError::Json(
                StatusCode::BAD_REQUEST,
                format!("multi-page sync update {request_id}: page index {page_index} is not below its page count {page_count}"),
            ));
        }
        let mut partial = state.partial_pushes.lock().unwrap_or_else(|p| p.into_inner());
        partial.retain(|_, (started, _)| started.elapsed() < PARTIAL_TTL);
        if page_index == 0 {
            partial.insert(request_id.clone(), (Instant::now(), String::new()));
        }
        let held: usize = partial.values().map(|(_, so_far)| so_far.len()).sum();
        if held + body.len() > PARTIAL_MAX_BYTES {
            partial.remove(&request_id);
            return Err(HubError::Json(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("multi-page sync update {request_id} is too large: unfinished pushes may hold {PARTIAL_MAX_BYTES} bytes in all"),
            ));
        }
        let Some((_, so_far)) = partial.get_mut(&request_id) else {
            return Err(HubError::Json(
                StatusCode::BAD_REQUEST,
                format!(
                    "Partial request {request_id}, page {} of {page_count} of pages does not have expected record.",
                    page_index + 1
                ),
            ));
        };
        so_far.push_str(&body);
        if page_index + 1 < page_count {
            return Ok(StatusCode::NO_CONTENT);
        }
        partial.remove(&request_id).map(|(_, payload)| payload).unwrap_or_default()
    } else {
        body
    };
    let request: UpdateRequest = serde_json::from_str(&payload)
        .map_err(|e| HubError::Json(StatusCode::BAD_REQUEST, format!("Invalid sync update body: {e}")))?;
    if let Some(token) = &session {
        state.sync.push_came_from(token, &request.instance_id);
    }
    let source = ChangeSource::new(&state.instance_id).with_component("sync");
    let outcome =
        state.document.write(&source, |tx| apply_records(tx, &request.entities, &request.instance_id, PeerMemory::PerPeer));
    if let Some(token) = &session {
        state.sync.push_applied(token);
    }
    let outcome = outcome?;
    tracing::info!(
        "sync push from {}: {} updated, {} already applied, {} erased, {} kept local, {} conflicts",
        request.instance_id,
        outcome.updated,
        outcome.already_applied,
        outcome.erased,
        outcome.kept_local,
        outcome.conflicts.len()
    );
    state.sync.record_conflicts(&outcome.conflicts);
    if outcome.updated + outcome.erased > 0 {
        state.checks_due.store(true, Ordering::Relaxed);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn finished(State(state): State<HubState>, headers: HeaderMap) -> HubResult<StatusCode> {
    if let Some(token) = session_token(&headers) {
        state.sync.push_ended(&token, None);
    }
    let source = ChangeSource::new(&state.instance_id);
    state.document.write(&source, |tx| {
        if options::get(tx.conn(), "initialized")?.as_deref() != Some("true") {
            options::set(tx, "initialized", "true")?;
        }
        Ok(())
    })?;
    // A push, fine alone, may break the tree together with what the hub had (the tree rule repairs
    // what it can within a batch). Run as a client runs them after a pull, but never while another
    // push is open: its next batch may bring what completes it. The client's hash check that follows
    // sees the fixes and pulls them.
    if state.sync.unused_blobs(None) == db::UnusedBlobs::Erase && state.checks_pace.ready() && state.checks_due.swap(false, Ordering::Relaxed) {
        let (document, instance_id, pace) = (state.document.clone(), state.instance_id.clone(), state.checks_pace.clone());
        let ran = crate::background::low_priority("consistency checks", move || pace.run(&document, &instance_id)).await;
        let failure = match ran {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = failure {
            state.checks_due.store(true, Ordering::Relaxed); // tried again at the end of the next cycle
            tracing::error!("consistency checks after a push failed: {e}");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn check_hashes(State(state): State<HubState>, headers: HeaderMap) -> HubResult<Json<CheckResponse>> {
    let session = session_token(&headers);
    if let Some(token) = &session {
        state.sync.push_ended(token, None);
    }
    // Never erase a blob that another peer's open push has brought before the row that uses it.
    // Decided with the writer held: a batch applied before has marked its push open first.
    let mut canopy_push_open = false;
    let (entity_hashes, max_entity_change_id) = check::local_hashes_with(&state.document, &state.instance_id, || {
        let unused = state.sync.unused_blobs(session.as_deref());
        canopy_push_open = unused != db::UnusedBlobs::Erase;
        unused
    })?;
    Ok(Json(CheckResponse { entity_hashes, max_entity_change_id, canopy_push_open }))
}

async fn queue_sector(
    State(state): State<HubState>,
    Path((entity_name, sector)): Path<(String, String)>,
) -> HubResult<StatusCode> {
    let count = check::requeue_sector(&state.document, &state.instance_id, &entity_name, &sector)?;
    tracing::info!("queued sector {sector} of '{entity_name}' ({count} entities) for sync");
    Ok(StatusCode::NO_CONTENT)
}

async fn check_entity_changes(State(state): State<HubState>) -> HubResult<StatusCode> {
    let report = check::repair_entity_changes(&state.document, &state.instance_id)?;
    if !report.is_empty() {
        tracing::warn!("entity change checks repaired: {}", report.join("; "));
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn setup_status(State(state): State<HubState>) -> HubResult<Json<SetupStatus>> {
    let (is_initialized, has_seed) = state.document.read(|conn| {
        Ok((
            options::get(conn, "initialized")?.as_deref() == Some("true"),
            options::get(conn, "documentSecret")?.is_some_and(|s| !s.is_empty()),
        ))
    })?;
    // A shell still waiting for its seed has no document to sync with yet.
    Ok(Json(SetupStatus { is_initialized, schema_exists: has_seed, sync_version: crate::SYNC_VERSION as i64 }))
}

async fn stats(State(state): State<HubState>) -> HubResult<Json<serde_json::Value>> {
    let initialized = state.document.read(|conn| Ok(options::get(conn, "initialized")?.as_deref() == Some("true")))?;
    Ok(Json(serde_json::json!({
        "initialized": initialized,
        "outstandingPullCount": state.sync.status().outstanding_pull_count,
    })))
}

/// The seed (`documentId`, `documentSecret`) for a new client; requires the password in `trilium-cred`.
async fn sync_seed(
    State(state): State<HubState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
) -> HubResult<Response> {
    if !state.login_limiter.allows(&client) {
        return Err(HubError::Text(StatusCode::TOO_MANY_REQUESTS, crate::login_limit::MESSAGE.into()));
    }
    let cred = headers.get("trilium-cred").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD.decode(cred).unwrap_or_default();
    let decoded = String::from_utf8_lossy(&decoded);
    let password = decoded.split_once(':').map(|(_, p)| p).unwrap_or("");
    let document = state.document.clone();
    let password = password.to_owned();
    // scrypt is deliberately slow: keep it off the async workers.
    let checked = tokio::task::spawn_blocking(move || -> db::SqlResult<Result<serde_json::Value, HubError>> {
        document.read(|conn| {
            if options::get(conn, "initialized")?.as_deref() != Some("true") {
                return Ok(Err(HubError::Text(StatusCode::BAD_REQUEST, "Database is not initialized yet.".into())));
            }
            if !password::is_password_set(conn)? {
                return Ok(Err(HubError::Text(
                    StatusCode::BAD_REQUEST,
                    "Password has not been set yet. Please set a password and repeat the action".into(),
                )));
            }
            if !password::verify_password(conn, &password)? {
                return Ok(Err(HubError::Text(StatusCode::UNAUTHORIZED, "Incorrect password".into())));
            }
            let mut seed = Vec::new();
            for name in ["documentId", "documentSecret"] {
                let row = conn.query_row(
                    "SELECT name, value, isSynced, utcDateModified FROM options WHERE name = ?1",
                    [name],
                    |r| {
                        Ok(serde_json::json!({
                            "name": r.get::<_, String>(0)?,
                            "value": r.get::<_, String>(1)?,
                            "isSynced": r.get::<_, i64>(2)? != 0,
                            "utcDateModified": r.get::<_, String>(3)?,
                        }))
                    },
                )?;
                seed.push(row);
            }
            Ok(Ok(serde_json::json!({ "options": seed, "syncVersion": crate::SYNC_VERSION })))
        })
    })
    .await
    .map_err(|e| HubError::Json(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    if matches!(checked, Err(HubError::Text(StatusCode::UNAUTHORIZED, _))) {
        state.login_limiter.record_failure(&client);
        tracing::warn!("wrong password for the sync seed from {client}");
    }
    let seed = checked?;
    tracing::info!("served the sync seed");
    Ok(Json(seed).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitQuery {
    instance_id: String,
    after: i64,
    timeout_ms: Option<u64>,
}

/// Canopy-only: answers as soon as there is a change after `after` that did not come from the caller,
/// or after `timeoutMs` (at most 60 s). Lets clients pull within a second instead of a minute.
async fn wait_for_changes(State(state): State<HubState>, Query(query): Query<WaitQuery>) -> HubResult<Json<wire::WaitResponse>> {
    let timeout = Duration::from_millis(query.timeout_ms.unwrap_or(30_000).min(60_000));
    let mut events = state.document.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let newest = state.document.read(|conn| {
            Ok(conn.query_row(
                "SELECT COALESCE(MAX(id), 0) FROM entity_changes WHERE isSynced = 1 AND id > ?1 AND instanceId != ?2",
                rusqlite::params![query.after, query.instance_id],
                |r| r.get::<_, i64>(0),
            )?)
        })?;
        if newest > 0 {
            return Ok(Json(wire::WaitResponse { max_entity_change_id: newest }));
        }
        let nothing_new = Json(wire::WaitResponse { max_entity_change_id: query.after });
        tokio::select! {
            // A graceful shutdown waits for open responses: answer "nothing new" at once.
            () = state.sync.stopped() => return Ok(nothing_new),
            received = tokio::time::timeout_at(deadline, events.recv()) => match received {
                Err(_) | Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return Ok(nothing_new),
                Ok(_) => continue, // a commit (or a lagged receiver): look again
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeedRequest {
    options: Vec<crate::db::init::SeedOption>,
    sync_version: serde_json::Value,
    #[serde(default)]
    canopy_seed_token: Option<String>,
}

/// `POST /api/setup/sync-seed`: a client sends its document's seed to this empty hub. Trilium accepts
/// it from anyone; Canopy wants the one-time token this hub printed at start.
async fn receive_seed(State(state): State<HubState>, headers: HeaderMap, body: Bytes) -> HubResult<StatusCode> {
    let request: SeedRequest = serde_json::from_slice(&body)
        .map_err(|e| HubError::Json(StatusCode::BAD_REQUEST, format!("Invalid sync seed: {e}")))?;
    if request.sync_version != serde_json::json!(crate::SYNC_VERSION) {
        let message = format!(
            "Could not setup sync since local sync protocol version is {} while remote is {}. To fix this issue, use \
             same Trilium version on all instances. {}",
            crate::SYNC_VERSION,
            request.sync_version,
            super::sync_version_advice(super::Side::Hub, &request.sync_version)
        );
        // Trilium answers this one as `{error}`.
        return Err(HubError::Raw(StatusCode::BAD_REQUEST, serde_json::json!({ "error": message })));
    }
    let given = request
        .canopy_seed_token
        .or_else(|| headers.get("canopy-seed-token").and_then(|v| v.to_str().ok()).map(str::to_owned));
    {
        let mut expected = state.seed_token.lock().unwrap_or_else(|p| p.into_inner());
        match (expected.as_deref(), given.as_deref()) {
            (None, _) => return Err(HubError::Json(StatusCode::BAD_REQUEST, "DB is already initialized.".into())),
            (Some(expected), Some(given)) if bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.as_bytes())) => {}
            _ => {
                return Err(HubError::Json(
                    StatusCode::UNAUTHORIZED,
                    "This empty sync server accepts a document only with the one-time seed token printed in its log."
                        .into(),
                ))
            }
        }
        *expected = None;
    }
    state.document.write(&ChangeSource::new(&state.instance_id), |tx| crate::db::init::store_seed(tx, &request.options))?;
    tracing::info!("received a client's sync seed; its document arrives with its first push");
    Ok(StatusCode::NO_CONTENT)
}
