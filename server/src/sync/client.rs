//! The client engine: push → pull → push → finished → hash check against the hub, under one lock.
//!
//! Triggers: shortly after start, every 60 s, after local writes (debounced), on request ("sync now"),
//! and as soon as the hub has something new: against a Canopy hub by a long poll on
//! `/api/canopy/changes`; against a Trilium hub, which has no change notification, by asking
//! `/api/sync/changed` with the current cursor, adaptively ([`poll_interval`]: every second while
//! this instance or its hub is active, down to every 30 s after half an hour of quiet).
//!
//! A failed cycle is retried with backoff ([`Backoff`]): quickly while the hub is unreachable (so a
//! returning hub is noticed within a second), slowly when it refuses this instance. A lost connection
//! is logged once and its return once.
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::{watch, Mutex as AsyncMutex};

use super::apply::{apply_records, PeerMemory};
use super::check::{self, differing_sectors};
use super::wire::{ChangedResponse, CheckResponse, EntityChangeRecord, LoginRequest, LoginResponse, SetupStatus, UpdateRequest, WaitResponse};
use super::{ancestry, records, CycleSummary, HashCheckResult, SyncState};
use crate::db::{options, ChangeSource, DbError, Document, InstanceId, SqlResult};
use crate::hashing;

const PERIOD: Duration = Duration::from_secs(60);
/// Retries while the hub is unreachable: from the first to the last, doubling.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_LAST: Duration = Duration::from_secs(1);
/// Retries when the hub refuses this instance (versions, credentials): that takes a person to fix.
const RETRY_REFUSED: Duration = Duration::from_secs(60);
/// Retries after any other failure (an HTTP error of the hub, a local store failure).
const RETRY_OTHER: Duration = Duration::from_secs(5);
/// The long poll's wait on a Canopy hub.
const LONG_POLL: Duration = Duration::from_secs(30);
/// Local writes within this window share one cycle.
const WRITE_DEBOUNCE: Duration = Duration::from_millis(150);
/// Hash-check repair rounds before the failure is reported instead of retried.
const MAX_REPAIR_ROUNDS: u32 = 3;
/// Push/pull passes in one cycle while either side still has outstanding changes.
const MAX_PASSES: u32 = 10;
/// While the hub receives another client's push its hashes are a moment inside that push: the check
/// waits this long and looks again, up to `MAX_POSTPONES` times, then leaves it to the next cycle;
/// sooner, after `STALLED_POSTPONES`, if nothing arrived on the hub meanwhile (that push's client is
/// cut off or gone, and the hub ends it only when it has been silent for a while).
const POSTPONE_WAIT: Duration = Duration::from_millis(250);
const MAX_POSTPONES: u32 = 40;
const STALLED_POSTPONES: u32 = 12;
/// Pages fetched ahead of the one being applied while pulling.
const PULL_AHEAD_PAGES: usize = 6;
/// Pulled rows applied in one transaction at most (more when one page is larger).
const GROUP_ROWS: usize = 8_000;
/// Trilium pages request bodies at 1,000,000 characters.
const PAGE_CHARS: usize = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("No connection to sync server: {0}")]
    Connection(String),
    #[error("Request to {method} {url} failed, error: {status} {message}")]
    Http { method: Method, url: String, status: StatusCode, message: String },
    #[error("{0}")]
    Refused(String),
    #[error("{}", .0.storage_fault().map_or_else(|| .0.to_string(), |fault| format!("This instance could not store what it synced: {}", fault.message())))]
    Db(#[from] DbError),
}

/// How long to wait before the next cycle after failures; reset by a successful cycle.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The wait after one more failure of this kind.
    pub fn failed(&mut self, kind: super::FailureKind) -> Duration {
        use super::FailureKind;
        self.failures += 1;
        match kind {
            FailureKind::Unreachable => {
                let doubled = RETRY_FIRST.saturating_mul(1 << (self.failures - 1).min(8));
                doubled.min(RETRY_LAST)
            }
            FailureKind::Version | FailureKind::Credentials => RETRY_REFUSED,
            FailureKind::Other => RETRY_OTHER,
        }
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    pub fn failing(&self) -> bool {
        self.failures > 0
    }
}

/// How often to ask a hub without change notifications whether it has something new, after
/// `quiet` without activity here or there: never more than once a second.
pub fn poll_interval(quiet: Duration) -> Duration {
    let minutes = quiet.as_secs() / 60;
    Duration::from_secs(match minutes {
        0..2 => 1,
        2..10 => 3,
        10..30 => 10,
        _ => 30,
    })
}

/// What the log last said about the connection, so that a failure is logged once, not per retry.
#[derive(Debug, Default)]
struct Link {
    /// Since when the hub is unreachable (logged once when it started).
    lost_since: Option<Instant>,
    /// The last failure logged (other than unreachable), not logged again while it repeats.
    last_logged: Option<String>,
}

impl SyncError {
    /// A 401 on anything but the login: the hub no longer knows the session it gave out.
    pub fn session_lost(&self) -> bool {
        matches!(self, SyncError::Http { status, url, .. } if *status == StatusCode::UNAUTHORIZED && !url.contains("/api/login/"))
    }

    /// The kind of failure, from the error and, for a hub's refusal, its words (Trilium's hub
    /// answers a version mismatch and wrong credentials both with a 400 and a message).
    pub fn kind(&self) -> super::FailureKind {
        use super::FailureKind;
        let mentions_version = |m: &str| m.contains("sync protocol version") || m.contains("Non-matching");
        match self {
            SyncError::Connection(_) => FailureKind::Unreachable,
            // A hub still starting answers 503 until its routes are set, and a reverse proxy in front
            // of a hub that is down answers 502/503/504: all mean "not there yet", not a failure to wait out.
            SyncError::Http { status, .. }
                if matches!(*status, StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT) =>
            {
                FailureKind::Unreachable
            }
            SyncError::Refused(m) if mentions_version(m) => FailureKind::Version,
            SyncError::Http { message, .. } if mentions_version(message) => FailureKind::Version,
            SyncError::Http { message, .. } if message.contains("credentials are incorrect") => FailureKind::Credentials,
            SyncError::Http { status, .. } if *status == StatusCode::UNAUTHORIZED => FailureKind::Credentials,
            _ => FailureKind::Other,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    pub sync_server_host: String,
    pub timeout: Duration,
    pub proxy: Option<String>,
    /// Sent with this document's seed to an empty hub (see `hub::receive_seed`).
    pub seed_token: Option<String>,
}

pub struct SyncClient {
    document: Document,
    instance_id: InstanceId,
    config: ClientConfig,
    state: Arc<SyncState>,
    http: reqwest::Client,
    /// One cycle at a time.
    lock: AsyncMutex<Session>,
    /// Set when the engine stops this client (retarget, shutdown); its tasks end at the next await.
    halted: watch::Sender<bool>,
    /// The hub has something new: a cycle at once, without the local writes' debounce.
    news: tokio::sync::Notify,
    link: std::sync::Mutex<Link>,
    /// The last sign of activity here or on the hub (a local write, a change moved): paces the polls
    /// of a hub without change notifications.
    active_at: std::sync::Mutex<Instant>,
}

struct PushBatch {
    records: Vec<EntityChangeRecord>,
    /// The last change looked at (those of the hub itself are looked at and left out).
    cursor: i64,
    previous: i64,
}

#[derive(Default)]
struct Session {
    cookie: Option<String>,
    hub_instance_id: Option<String>,
    announced: bool,
    /// Changes pulled that the consistency checks have not seen yet (a cycle that ended before it
    /// caught up with the hub, or found them not ready, leaves them to a later one).
    unchecked: usize,
    checks_pace: Arc<check::ChecksPace>,
}

impl SyncClient {
    pub fn new(document: Document, instance_id: InstanceId, config: ClientConfig, state: Arc<SyncState>) -> anyhow::Result<Arc<Self>> {
        let mut http = reqwest::Client::builder().timeout(config.timeout).connect_timeout(Duration::from_secs(10));
        match config.proxy.as_deref() {
            Some(proxy) if proxy != "noproxy" => http = http.proxy(reqwest::Proxy::all(proxy)?),
            _ => http = http.no_proxy(),
        }
        Ok(Arc::new(SyncClient {
            document,
            instance_id,
            config,
            state,
            http: http.build()?,
            lock: AsyncMutex::new(Session::default()),
            halted: watch::channel(false).0,
            news: tokio::sync::Notify::new(),
            link: Default::default(),
            active_at: std::sync::Mutex::new(Instant::now()),
        }))
    }

    pub fn host(&self) -> &str {
        &self.config.sync_server_host
    }

    /// Starts the engine's tasks; [`halt`](Self::halt) (or the instance's stop) ends them.
    pub fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let halting = |client: &Arc<Self>, work: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>| {
            let client = client.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = client.until_halted() => {}
                    () = work => {}
                }
            })
        };
        vec![
            halting(self, Box::pin(self.clone().run())),
            halting(self, Box::pin(self.clone().watch_local_writes())),
            halting(self, Box::pin(self.clone().watch_hub())),
        ]
    }

    /// Ends this client's tasks at their next await point: a write in flight finishes (a batch and
    /// its cursor are one transaction), a request in flight is dropped.
    pub(crate) fn halt(&self) {
        self.halted.send_replace(true);
    }

    /// The halted client's cycle may have been dropped mid-way: the status must not say "in progress".
    pub(crate) fn cycle_abandoned(&self) {
        if self.state.status().in_progress {
            self.state.update(|s| s.in_progress = false);
        }
    }

    async fn until_halted(&self) {
        let mut halted = self.halted.subscribe();
        tokio::select! {
            () = self.state.stopped() => {}
            _ = halted.wait_for(|h| *h) => {}
        }
    }

    fn touch(&self) {
        *self.active_at.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn quiet_for(&self) -> Duration {
        self.active_at.lock().unwrap_or_else(|p| p.into_inner()).elapsed()
    }

    async fn run(self: Arc<Self>) {
        let mut backoff = Backoff::default();
        loop {
            // A cycle that finished while this one waited for the lock ("sync now") did its work.
            let seen = *self.state.cycles.borrow();
            let fresh = {
                let _one_at_a_time = self.lock.lock().await;
                *self.state.cycles.borrow() != seen && self.state.status().last_error.is_none()
            };
            let outcome = if fresh { Ok(()) } else { self.logged_cycle().await.map(|_| ()) };
            match outcome {
                Ok(_) => backoff.succeeded(),
                Err((kind, _)) => {
                    // Local writes meanwhile wait for the retry: they are pushed by it.
                    tokio::time::sleep(backoff.failed(kind)).await;
                    continue;
                }
            }
            tokio::select! {
                _ = self.state.wake.notified() => tokio::time::sleep(WRITE_DEBOUNCE).await,
                _ = self.news.notified() => {}
                _ = tokio::time::sleep(PERIOD) => {}
            }
        }
    }

    /// Wakes the engine when a local write produced a change to push.
    async fn watch_local_writes(self: Arc<Self>) {
        let mut events = self.document.subscribe();
        loop {
            let ids = match events.recv().await {
                Ok(changes) => changes.ids,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    self.state.request_sync();
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let local = self.document.read(|conn| {
                let max = ids.iter().copied().max().unwrap_or(0);
                let min = ids.iter().copied().min().unwrap_or(0);
                Ok(conn.query_row(
                    "SELECT EXISTS(SELECT 1 FROM entity_changes WHERE id BETWEEN ?1 AND ?2 AND isSynced = 1 AND instanceId = ?3)",
                    rusqlite::params![min, max, self.instance_id.as_str()],
                    |r| r.get::<_, bool>(0),
                )?)
            });
            if local.unwrap_or(true) {
                self.touch();
                self.state.request_sync();
            }
        }
    }

    /// Learns of the hub's changes after every successful cycle: by a long poll on a Canopy hub, by
    /// asking `/api/sync/changed` on a hub without it (a Trilium hub answers 404 to the long poll).
    /// Any failure wakes the engine, whose cycle fails too while the hub is away and is retried with
    /// backoff; the next successful cycle renews the watch.
    async fn watch_hub(self: Arc<Self>) {
        let mut cycles = self.state.cycles.subscribe();
        let mut long_poll = true;
        let mut last_ask = Instant::now() - Duration::from_secs(1);
        loop {
            // Only watch with a fresh session and cursor, i.e. after a cycle.
            if cycles.changed().await.is_err() {
                return;
            }
            loop {
                let (cookie, after) = {
                    let session = self.lock.lock().await;
                    let after = self.document.read(|conn| options::get_int(conn, "lastSyncedPull")).ok().flatten().unwrap_or(0);
                    (session.cookie.clone(), after)
                };
                // No session: the last cycle failed and the engine retries.
                let Some(cookie) = cookie else { break };
                let news = if long_poll {
                    let url = format!(
                        "{}/api/canopy/changes?instanceId={}&after={after}&timeoutMs={}",
                        self.config.sync_server_host,
                        self.instance_id,
                        LONG_POLL.as_millis()
                    );
                    let response = self.http.get(&url).header("Cookie", &cookie).timeout(LONG_POLL + Duration::from_secs(15)).send().await;
                    match response {
                        Ok(r) if r.status() == StatusCode::NOT_FOUND => {
                            tracing::info!(
                                "the sync server has no change notifications (a Trilium server?); asking it for changes every {}–{} s",
                                poll_interval(Duration::ZERO).as_secs(),
                                poll_interval(Duration::MAX).as_secs()
                            );
                            long_poll = false;
                            continue;
                        }
                        Ok(r) if r.status().is_success() => match r.json::<WaitResponse>().await {
                            Ok(wait) => Some(wait.max_entity_change_id > after),
                            Err(_) => None,
                        },
                        _ => None,
                    }
                } else {
                    // Never more than one question a second, and none while a cycle runs (it pulls anyway).
                    let next = last_ask + poll_interval(self.quiet_for());
                    tokio::time::sleep_until(next.into()).await;
                    if self.state.status().in_progress {
                        break;
                    }
                    last_ask = Instant::now();
                    self.state.count_change_check();
                    let url = format!(
                        "{}/api/sync/changed?instanceId={}&lastEntityChangeId={after}&logMarkerId={}",
                        self.config.sync_server_host,
                        self.instance_id,
                        hashing::random_string(10)
                    );
                    let request = self.request_builder(Method::GET, &url, Some(&cookie), None, PageHeaders::single());
                    match request.send().await {
                        Ok(r) if r.status().is_success() => match r.json::<ChangedResponse>().await {
                            Ok(changed) => Some(!changed.entity_changes.is_empty()),
                            Err(_) => None,
                        },
                        _ => None,
                    }
                };
                match news {
                    Some(false) => continue,
                    Some(true) => {
                        self.touch();
                        self.news.notify_one();
                    }
                    // The hub went away or forgot the session: a cycle finds out which, and logs in again.
                    None => self.state.request_sync(),
                }
                break;
            }
        }
    }

    /// Runs one full cycle now (waiting for one in progress first) and reports its outcome.
    pub async fn sync_now(&self) -> Result<CycleSummary, String> {
        self.logged_cycle().await.map_err(|(_, message)| message)
    }

    /// One cycle under the lock, its outcome in the status and, once per change of the connection's
    /// state, in the log.
    async fn logged_cycle(&self) -> Result<CycleSummary, (super::FailureKind, String)> {
        self.state.until_adopted().await;
        let mut session = self.lock.lock().await;
        self.state.update(|s| s.in_progress = true);
        let mut result = self.cycle(&mut session).await;
        // The hub forgot the session between this cycle's login and a later request: it restarted
        // mid-cycle (sessions live in its memory). Logging in again is all it takes, once.
        if matches!(&result, Err(e) if e.session_lost()) {
            tracing::debug!("the sync server forgot this cycle's session; logging in again");
            result = self.cycle(&mut session).await;
        }
        let finished_at = hashing::utc_date_time_str(chrono::Utc::now());
        self.state.update(|s| {
            s.in_progress = false;
            match &result {
                Ok(summary) => {
                    s.connected = true;
                    s.completed_cycles += 1;
                    s.last_cycle = Some(summary.clone());
                    s.last_error = None;
                    s.last_error_kind = None;
                }
                Err(e) => {
                    s.last_error = Some(format!("{finished_at}: {e}"));
                    s.last_error_kind = Some(e.kind());
                    if matches!(e, SyncError::Connection(_) | SyncError::Refused(_)) {
                        s.connected = false;
                    }
                }
            }
        });
        self.log_outcome(&result);
        self.state.cycles.send_modify(|n| *n += 1);
        result.map_err(|e| (e.kind(), e.to_string()))
    }

    /// A lost connection is logged once (WARN) and its return once; another failure is logged
    /// (ERROR) when it differs from the last one logged. Repeats go to DEBUG.
    fn log_outcome(&self, result: &Result<CycleSummary, SyncError>) {
        let host = &self.config.sync_server_host;
        let mut link = self.link.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(_) => {
                if let Some(since) = link.lost_since.take() {
                    tracing::info!("the sync server {host} is reachable again (after {:.1} s); synced", since.elapsed().as_secs_f64());
                }
                link.last_logged = None;
            }
            Err(e) if e.kind() == super::FailureKind::Unreachable => {
                if link.lost_since.is_none() {
                    link.lost_since = Some(Instant::now());
                    tracing::warn!("lost the connection to the sync server: {e}; retrying every {} s at most", RETRY_LAST.as_secs());
                } else {
                    tracing::debug!("sync failed again: {e}");
                }
            }
            Err(e) => {
                let message = e.to_string();
                if link.last_logged.as_deref() == Some(message.as_str()) {
                    tracing::debug!("sync failed again: {message}");
                } else {
                    tracing::error!("sync failed: {message}");
                    link.last_logged = Some(message);
                }
            }
        }
    }

    /// The options page's "test sync", as Trilium's `testSync`: logs in to the hub exactly as a cycle
    /// does (version check, seed for an empty hub, the document secret), and reports the failure in
    /// the words a cycle would log.
    pub async fn test_login(&self) -> Result<(), String> {
        let mut session = Session::default();
        self.login(&mut session).await.map(|_| ()).map_err(|e| e.to_string())
    }

    async fn cycle(&self, session: &mut Session) -> Result<CycleSummary, SyncError> {
        let started = Instant::now();
        let hub_instance_id = self.login(session).await?;
        let (mut pushed, mut pulled) = (0, 0);
        let mut repair_rounds = 0;
        let mut passes: u32 = 0;
        let mut postponed = 0;
        // Postponements in a row while the hub's newest change stayed the same.
        let mut stalled = (0, None);
        let check = loop {
            passes += 1;
            pushed += self.push(session, &hub_instance_id).await?;
            let got = self.pull(session, &hub_instance_id).await?;
            session.unchecked += got;
            pulled += got;
            pushed += self.push(session, &hub_instance_id).await?;
            self.request::<()>(session, Method::POST, "/api/sync/finished", None).await?;
            let remote: CheckResponse = self.request(session, Method::GET, "/api/sync/check", None).await?.unwrap_or_else(empty_check);
            if remote.canopy_push_open {
                stalled = match stalled {
                    (n, Some(newest)) if newest == remote.max_entity_change_id => (n + 1, Some(newest)),
                    _ => (0, Some(remote.max_entity_change_id)),
                };
                if postponed >= MAX_POSTPONES || stalled.0 >= STALLED_POSTPONES {
                    tracing::info!("hash check left to the next cycle: the sync server is still receiving another push");
                    break None;
                }
                postponed += 1;
                passes = passes.saturating_sub(1);
                tokio::time::sleep(POSTPONE_WAIT).await;
                continue;
            }
            let (last_pull, outstanding_push) = self.outstanding(&hub_instance_id)?;
            let caught_up = last_pull >= remote.max_entity_change_id && !outstanding_push;
            if !caught_up && passes < MAX_PASSES {
                continue; // changes arrived meanwhile; check once both sides are quiet
            }
            if session.unchecked > 0 && caught_up && session.checks_pace.ready() {
                // What arrived may be damaged by the peer, or fine alone and broken together with ours.
                // Checked only now, holding all the hub holds with no push half-way through on it: a
                // state in the middle of another instance's push looks broken (a note whose branch is in
                // its next batch), and a fix made from it would be a real change everywhere.
                let (document, instance_id, pace) = (self.document.clone(), self.instance_id.clone(), session.checks_pace.clone());
                let fixed = crate::background::low_priority("consistency checks", move || pace.run(&document, &instance_id))
                    .await
                    .map_err(|e| SyncError::Refused(e.to_string()))??;
                session.unchecked = 0;
                if !fixed.is_empty() && passes < MAX_PASSES {
                    continue; // the fixes go to the hub before the hash check
                }
            }
            let (local, _) = check::local_hashes(&self.document, &self.instance_id)?;
            let failed = differing_sectors(&local, &remote.entity_hashes);
            if failed.is_empty() {
                tracing::info!("Content hash checks PASSED");
                break Some(HashCheckResult { checked_at: now(), passed: true, repair_rounds, failed_sectors: Vec::new() });
            }
            if passes < MAX_PASSES && self.outstanding(&hub_instance_id)?.1 {
                // A local write landed between the question and our own hashes: it is in ours and not
                // yet at the hub. It goes there first; this was no difference.
                continue;
            }
            for (entity, sector) in &failed {
                tracing::warn!(
                    "Content hash check for {entity} sector {sector} FAILED. Local is {:?}, remote is {:?}.",
                    local.get(entity).and_then(|s| s.get(sector)),
                    remote.entity_hashes.get(entity).and_then(|s| s.get(sector))
                );
            }
            let failed_sectors: Vec<String> = failed.iter().map(|(e, s)| format!("{e}/{s}")).collect();
            if repair_rounds >= MAX_REPAIR_ROUNDS {
                tracing::error!(
                    "sync hash check still fails after {MAX_REPAIR_ROUNDS} repair rounds: {}; the documents differ",
                    failed_sectors.join(", ")
                );
                break Some(HashCheckResult { checked_at: now(), passed: false, repair_rounds, failed_sectors });
            }
            repair_rounds += 1;
            self.state.update(|s| s.repair_rounds_total += 1);
            passes = 0;
            self.repair(session, &failed).await?;
        };
        if let Some(check) = check {
            self.state.update(|s| s.hash_check = Some(check));
        }
        self.finish_setup()?;
        let summary = CycleSummary {
            finished_at: now(),
            pushed,
            pulled,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        if pushed + pulled > 0 {
            self.touch();
        }
        tracing::info!(
            "sync with {}: pushed {pushed}, pulled {pulled}, {} ms",
            self.config.sync_server_host,
            summary.duration_ms
        );
        Ok(summary)
    }

    /// The first complete cycle of a new client makes its document usable, as in Trilium.
    fn finish_setup(&self) -> Result<(), SyncError> {
        let source = ChangeSource::new(&self.instance_id);
        let newly = self.document.write(&source, |tx| {
            if options::get(tx.conn(), "initialized")?.as_deref() == Some("true") {
                return Ok(false);
            }
            options::set(tx, "initialized", "true")?;
            Ok(true)
        })?;
        if newly {
            tracing::info!("the first sync finished: this instance is set up");
        }
        Ok(())
    }

    async fn login(&self, session: &mut Session) -> Result<String, SyncError> {
        session.cookie = None;
        let status: SetupStatus = self.request(session, Method::GET, "/api/setup/status", None).await?.ok_or_else(|| {
            SyncError::Refused("the sync server sent an empty answer to /api/setup/status".into())
        })?;
        if status.sync_version != crate::SYNC_VERSION as i64 {
            return Err(SyncError::Refused(format!(
                "Could not setup sync since local sync protocol version is {} while remote is {}. To fix this issue, \
                 use same Trilium version on all instances. {}",
                crate::SYNC_VERSION,
                status.sync_version,
                super::sync_version_advice(super::Side::Client, &status.sync_version.into())
            )));
        }
        if !status.schema_exists {
            self.send_seed(session).await?;
        }
        let secret = self
            .document
            .read(|conn| options::get(conn, "documentSecret"))?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                SyncError::Refused(
                    "this instance is not set up yet: run `canopy --sync-from-server <hub>` or POST \
                     /api/setup/sync-from-server with the hub's password"
                        .into(),
                )
            })?;
        let local_db_version = self.document.db_version();
        let url = format!("{}/api/login/sync", self.config.sync_server_host);
        let mut attempts = 0;
        let response = loop {
            let timestamp = super::hub::login_timestamp();
            let body = LoginRequest {
                hash: super::hub::login_hash(&secret, &timestamp),
                timestamp,
                sync_version: serde_json::json!(crate::SYNC_VERSION),
                canopy_db_version: Some(local_db_version),
            };
            let body = Some(serde_json::to_string(&body).unwrap_or_default());
            let response = self.send_with(Method::POST, &url, None, body, PageHeaders::single()).await?;
            // Another client on this address logged in within the same millisecond: a new timestamp.
            attempts += 1;
            if attempts < 3 && response.headers().contains_key(super::hub::LOGIN_USED_HEADER) {
                tokio::time::sleep(Duration::from_millis(2)).await;
                continue;
            }
            break response;
        };
        let cookie = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.split(';').next().filter(|pair| pair.starts_with("trilium.sid=")))
            .map(str::to_owned);
        let login: LoginResponse = Self::decode(Method::POST, &url, response).await?.ok_or_else(|| {
            SyncError::Refused("the sync server sent an empty login answer".into())
        })?;
        if let Some(remote) = login.canopy_db_version.filter(|v| *v != local_db_version) {
            return Err(SyncError::Refused(super::db_version_mismatch(local_db_version, remote)));
        }
        if login.instance_id == self.instance_id.as_str() {
            return Err(SyncError::Refused(format!(
                "Sync server has instance ID {} which is also local. This usually happens when the sync client is \
                 (mis)configured to sync with itself (URL points back to client) instead of the correct sync server.",
                login.instance_id
            )));
        }
        session.cookie = cookie;
        // A document copied from the hub can carry a cursor from the hub's own future: clamp it.
        let source = ChangeSource::new(&self.instance_id);
        self.document.write(&source, |tx| {
            let last_pull = options::get_int(tx.conn(), "lastSyncedPull")?.unwrap_or(0);
            if last_pull > login.max_entity_change_id {
                set_cursor(tx.conn(), "lastSyncedPull", login.max_entity_change_id)?;
            }
            let max_local: i64 = tx.conn().query_row("SELECT COALESCE(MAX(id), 0) FROM entity_changes", [], |r| r.get(0))?;
            if options::get_int(tx.conn(), "lastSyncedPush")?.unwrap_or(0) > max_local {
                set_cursor(tx.conn(), "lastSyncedPush", max_local)?;
            }
            Ok(())
        })?;
        if !session.announced {
            tracing::info!("Sync connection established with {}", self.config.sync_server_host);
            session.announced = true;
        }
        session.hub_instance_id = Some(login.instance_id.clone());
        Ok(login.instance_id)
    }

    /// `sendSeedToSyncServer`: gives an empty hub this document's identity, then starts both cursors
    /// over so the whole document is pushed.
    async fn send_seed(&self, session: &Session) -> Result<(), SyncError> {
        let Some(token) = self.config.seed_token.clone() else {
            return Err(SyncError::Refused(format!(
                "the sync server {} is empty: it takes this document only with the one-time seed token it printed \
                 when started with --wait-for-seed ([Sync] canopySeedToken or CANOPY_SEED_TOKEN)",
                self.config.sync_server_host
            )));
        };
        let seed = self.document.read(|conn| {
            let mut seed = Vec::new();
            for name in ["documentId", "documentSecret"] {
                let value = options::get(conn, name)?.unwrap_or_default();
                seed.push(serde_json::json!({ "name": name, "value": value, "isSynced": false }));
            }
            Ok(seed)
        })?;
        let body = serde_json::json!({ "options": seed, "syncVersion": crate::SYNC_VERSION, "canopySeedToken": token });
        self.request::<serde_json::Value>(session, Method::POST, "/api/setup/sync-seed", Some(body.to_string())).await?;
        self.document.write(&ChangeSource::new(&self.instance_id), |tx| {
            set_cursor(tx.conn(), "lastSyncedPush", 0)?;
            set_cursor(tx.conn(), "lastSyncedPull", 0)
        })?;
        tracing::info!("sent this document's seed to the empty sync server {}", self.config.sync_server_host);
        Ok(())
    }

    /// Sends local changes in batches; the cursor moves only after the hub accepted a batch. The next
    /// batch is read while one travels and the hub applies it.
    async fn push(&self, session: &Session, hub_instance_id: &str) -> Result<usize, SyncError> {
        let mut pushed = 0;
        let mut next = self.push_batch(None, hub_instance_id).await;
        loop {
            let PushBatch { records, cursor, previous } = next?;
            if records.is_empty() {
                if cursor > previous {
                    self.document.write(&ChangeSource::new(&self.instance_id), |tx| set_cursor(tx.conn(), "lastSyncedPush", cursor))?;
                }
                return Ok(pushed);
            }
            let body = serde_json::to_string(&UpdateRequest { entities: records.clone(), instance_id: self.instance_id.to_string() })
                .map_err(|e| SyncError::Refused(e.to_string()))?;
            let (sent, following) = tokio::join!(self.send_paged(session, &body), self.push_batch(Some(cursor), hub_instance_id));
            sent?;
            next = following;
            self.document.write(&ChangeSource::new(&self.instance_id), |tx| {
                ancestry::ensure_table(tx.conn())?;
                for record in &records {
                    let change = &record.entity_change;
                    if change.entity_name == "notes" && !change.is_erased {
                        ancestry::mark_exchanged(tx.conn(), &change.entity_id, &change.hash, record.canopy_parent_hash.as_deref())?;
                    }
                }
                set_cursor(tx.conn(), "lastSyncedPush", cursor)
            })?;
            pushed += records.len();
        }
    }

    /// The local changes after `after` (by default the push cursor) that go to the hub, with the
    /// versions they replace; a change appears once in the log, so reading a batch ahead of the one
    /// in flight reads nothing that batch's acceptance changes.
    async fn push_batch(&self, after: Option<i64>, hub_instance_id: &str) -> Result<PushBatch, SyncError> {
        let document = self.document.clone();
        let hub = hub_instance_id.to_owned();
        let batch = tokio::task::spawn_blocking(move || {
            document.read(|conn| {
                let previous = match after {
                    Some(after) => after,
                    None => options::get_int(conn, "lastSyncedPush")?.unwrap_or(0),
                };
                let has_ancestry = table_exists(conn, "canopy_note_sync")?;
                let (mut records, cursor) = records::batch_after(conn, previous, &hub)?;
                if has_ancestry {
                    for record in &mut records {
                        super::attach_parent(conn, record)?;
                    }
                }
                Ok(PushBatch { records, cursor, previous })
            })
        })
        .await
        .map_err(|e| SyncError::Refused(e.to_string()))??;
        Ok(batch)
    }

    /// Applies the hub's changes, pages and their cursor in one transaction. Fetching runs ahead of
    /// applying by up to [`PULL_AHEAD_PAGES`] pages (the cursor each asks from is in the page before),
    /// and the pages already fetched when a transaction starts go into it, up to [`GROUP_ROWS`] rows:
    /// each commit writes every B-tree page it touched to the log, so fewer, larger commits write far
    /// less. Nothing acknowledged is at stake: a crash loses only pulled changes, which the hub sends
    /// again from the cursor that was committed with the last applied ones.
    async fn pull(&self, session: &Session, hub_instance_id: &str) -> Result<usize, SyncError> {
        // Nothing comes in before the start-up checks have repaired what they find.
        self.state.until_maintained().await;
        self.state.pull_started();
        let first = self.document.read(|conn| options::get_int(conn, "lastSyncedPull"))?.unwrap_or(0);
        let (pages_tx, mut pages) = tokio::sync::mpsc::channel::<Result<(ChangedResponse, u128), SyncError>>(PULL_AHEAD_PAGES);
        let fetching = async move {
            let mut after = first;
            loop {
                let asked = Instant::now();
                let page = tokio::select! {
                    page = self.fetch_page(session, after) => page.map_err(|e| SyncError::Refused(e.to_string())).and_then(|r| r),
                    () = pages_tx.closed() => return,
                };
                let last = page.as_ref().map_or(true, |r| r.entity_changes.is_empty());
                if let Ok(r) = &page {
                    after = r.last_entity_change_id;
                }
                if pages_tx.send(page.map(|r| (r, asked.elapsed().as_millis()))).await.is_err() || last {
                    return;
                }
            }
        };
        let applying = async move {
            let mut pulled = 0;
            loop {
                let Some(page) = pages.recv().await else {
                    return Err(SyncError::Refused("the pull ended without its last page".into()));
                };
                let mut group = vec![page?];
                let mut rows = group[0].0.entity_changes.len();
                let mut failed = None;
                while rows > 0 && rows < GROUP_ROWS {
                    match pages.try_recv() {
                        Ok(Ok(page)) => {
                            let count = page.0.entity_changes.len();
                            group.push(page);
                            if count == 0 {
                                break;
                            }
                            rows += count;
                        }
                        Ok(Err(e)) => {
                            failed = Some(e);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let counts: Vec<(usize, i64)> =
                    group.iter().map(|(r, _)| (r.entity_changes.len(), r.outstanding_pull_count)).collect();
                let fetched_ms = group[0].1;
                let finished = counts.last().is_some_and(|(count, _)| *count == 0);
                let applying = Instant::now();
                let document = self.document.clone();
                let source = ChangeSource::new(&self.instance_id).with_component("sync");
                let hub = hub_instance_id.to_owned();
                let outcomes = tokio::task::spawn_blocking(move || {
                    document.write(&source, |tx| {
                        let mut outcomes = Vec::with_capacity(group.len());
                        for (response, _) in &group {
                            outcomes.push(apply_records(tx, &response.entity_changes, &hub, PeerMemory::OnlyPeer)?);
                        }
                        if let Some((response, _)) = group.last() {
                            set_cursor(tx.conn(), "lastSyncedPull", response.last_entity_change_id)?;
                        }
                        Ok(outcomes)
                    })
                })
                .await
                .map_err(|e| SyncError::Refused(e.to_string()))??;
                for (outcome, (count, outstanding)) in outcomes.iter().zip(&counts) {
                    self.state.record_conflicts(&outcome.conflicts);
                    self.state.update(|s| s.outstanding_pull_count = *outstanding);
                    self.state.record_pulled_page(*count, *outstanding);
                    pulled += outcome.updated + outcome.erased;
                }
                if rows > 0 {
                    tracing::info!(
                        "pulled {rows} changes ({} pages, the first in {fetched_ms} ms), applied them in {} ms, {} outstanding",
                        counts.len(),
                        applying.elapsed().as_millis(),
                        counts.last().map_or(0, |(_, outstanding)| *outstanding)
                    );
                }
                if let Some(e) = failed {
                    return Err(e);
                }
                if finished {
                    return Ok(pulled);
                }
            }
        };
        let ((), pulled) = tokio::join!(fetching, applying);
        pulled
    }

    /// Starts fetching the page of changes after `after`.
    fn fetch_page(&self, session: &Session, after: i64) -> tokio::task::JoinHandle<Result<ChangedResponse, SyncError>> {
        let url = format!(
            "{}/api/sync/changed?instanceId={}&lastEntityChangeId={after}&logMarkerId={}",
            self.config.sync_server_host,
            self.instance_id,
            hashing::random_string(10)
        );
        let request = self.request_builder(Method::GET, &url, session.cookie.as_deref(), None, PageHeaders::single());
        tokio::spawn(async move {
            let response = request.send().await.map_err(|e| SyncError::Connection(format!("{url}: {e}")))?;
            Self::decode::<ChangedResponse>(Method::GET, &url, response)
                .await?
                .ok_or_else(|| SyncError::Refused("the sync server sent an empty pull answer".into()))
        })
    }

    async fn repair(&self, session: &Session, failed: &[(String, String)]) -> Result<(), SyncError> {
        self.request::<()>(session, Method::POST, "/api/sync/check-entity-changes", None).await?;
        let repaired = check::repair_entity_changes(&self.document, &self.instance_id)?;
        if !repaired.is_empty() {
            tracing::warn!("entity change checks repaired: {}", repaired.join("; "));
        }
        for (entity, sector) in failed {
            check::requeue_sector(&self.document, &self.instance_id, entity, sector)?;
            self.request::<()>(session, Method::POST, &format!("/api/sync/queue-sector/{entity}/{sector}"), None).await?;
        }
        Ok(())
    }

    fn outstanding(&self, hub_instance_id: &str) -> SqlResult<(i64, bool)> {
        self.document.read(|conn| {
            let last_pull = options::get_int(conn, "lastSyncedPull")?.unwrap_or(0);
            let last_push = options::get_int(conn, "lastSyncedPush")?.unwrap_or(0);
            let pending: bool = conn.query_row(
                "SELECT EXISTS(SELECT 1 FROM entity_changes WHERE isSynced = 1 AND id > ?1 AND instanceId != ?2)",
                rusqlite::params![last_push, hub_instance_id],
                |r| r.get(0),
            )?;
            Ok((last_pull, pending))
        })
    }

    /// A push body, split into pages as Trilium's client does when it is long.
    async fn send_paged(&self, session: &Session, body: &str) -> Result<(), SyncError> {
        let url = format!("{}/api/sync/update?logMarkerId={}", self.config.sync_server_host, hashing::random_string(10));
        let pages = split_pages(body, PAGE_CHARS);
        let request_id = hashing::random_string(10);
        for (index, page) in pages.iter().enumerate() {
            let headers = PageHeaders { count: pages.len(), index, request_id: request_id.clone() };
            let response = self.send_with(Method::PUT, &url, session.cookie.as_deref(), Some(page.to_string()), headers).await?;
            Self::decode::<serde_json::Value>(Method::PUT, &url, response).await?;
        }
        Ok(())
    }

    async fn request<T: DeserializeOwned>(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Option<T>, SyncError> {
        let url = format!("{}{path}", self.config.sync_server_host);
        let response = self.send_with(method.clone(), &url, session.cookie.as_deref(), body, PageHeaders::single()).await?;
        Self::decode(method, &url, response).await
    }

    async fn send_with(
        &self,
        method: Method,
        url: &str,
        cookie: Option<&str>,
        body: Option<String>,
        page: PageHeaders,
    ) -> Result<reqwest::Response, SyncError> {
        self.request_builder(method, url, cookie, body, page)
            .send()
            .await
            .map_err(|e| SyncError::Connection(format!("{url}: {e}")))
    }

    /// A request with the headers Trilium's client sends on every sync request.
    fn request_builder(
        &self,
        method: Method,
        url: &str,
        cookie: Option<&str>,
        body: Option<String>,
        page: PageHeaders,
    ) -> reqwest::RequestBuilder {
        let content_type = if page.count > 1 { "text/plain" } else { "application/json" };
        let request = self
            .http
            .request(method, url)
            .header("Cookie", cookie.unwrap_or(""))
            .header("Content-Type", content_type)
            .header("pageCount", page.count.to_string())
            .header("pageIndex", page.index.to_string())
            .header("requestId", page.request_id);
        match body {
            Some(body) => request.body(body),
            None => request,
        }
    }

    async fn decode<T: DeserializeOwned>(method: Method, url: &str, response: reqwest::Response) -> Result<Option<T>, SyncError> {
        let status = response.status();
        let text = response.text().await.map_err(|e| SyncError::Connection(format!("{url}: {e}")))?;
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| text.chars().take(100).collect());
            return Err(SyncError::Http { method, url: url.to_owned(), status, message });
        }
        if text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| SyncError::Refused(format!("{method} {url} answered with unexpected JSON: {e}")))
    }
}

struct PageHeaders {
    count: usize,
    index: usize,
    request_id: String,
}

impl PageHeaders {
    fn single() -> Self {
        PageHeaders { count: 1, index: 0, request_id: hashing::random_string(10) }
    }
}

/// Cursors are non-synced options written without an entity change, as Trilium does: a change for
/// them would itself be a change to push.
fn set_cursor(conn: &rusqlite::Connection, name: &str, value: i64) -> SqlResult<()> {
    conn.execute("UPDATE options SET value = ?1 WHERE name = ?2", rusqlite::params![value.to_string(), name])?;
    Ok(())
}

fn table_exists(conn: &rusqlite::Connection, name: &str) -> SqlResult<bool> {
    Ok(conn.query_row("SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)", [name], |r| r.get(0))?)
}

fn split_pages(body: &str, page_chars: usize) -> Vec<&str> {
    let mut pages = Vec::new();
    let mut rest = body;
    while rest.chars().count() > page_chars {
        let cut = rest.char_indices().nth(page_chars).map(|(i, _)| i).unwrap_or(rest.len());
        pages.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    pages.push(rest);
    pages
}

fn empty_check() -> CheckResponse {
    CheckResponse { entity_hashes: Default::default(), max_entity_change_id: 0, canopy_push_open: false }
}

fn now() -> String {
    hashing::utc_date_time_str(chrono::Utc::now())
}

#[cfg(test)]
mod tests {
    use super::{split_pages, SyncError};
    use crate::sync::FailureKind;
    use reqwest::{Method, StatusCode};

    #[test]
    fn pages_split_on_character_boundaries() {
        assert_eq!(split_pages("abc", 10), vec!["abc"]);
        assert_eq!(split_pages("äbcdé", 2), vec!["äb", "cd", "é"]);
        assert_eq!(split_pages("", 2), vec![""]);
    }

    #[test]
    fn a_hub_not_there_yet_is_unreachable_and_its_own_errors_are_not() {
        let http = |status| SyncError::Http { method: Method::GET, url: "http://hub/api/sync/changed".into(), status, message: String::new() };
        for status in [StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT] {
            assert_eq!(http(status).kind(), FailureKind::Unreachable, "{status}");
        }
        assert_eq!(http(StatusCode::INTERNAL_SERVER_ERROR).kind(), FailureKind::Other);
        assert_eq!(http(StatusCode::UNAUTHORIZED).kind(), FailureKind::Credentials);
        assert!(http(StatusCode::UNAUTHORIZED).session_lost(), "a 401 after the login: log in again");
        let login = SyncError::Http { method: Method::POST, url: "http://hub/api/login/sync".into(), status: StatusCode::UNAUTHORIZED, message: String::new() };
        assert!(!login.session_lost(), "the login itself refused");
    }
}
