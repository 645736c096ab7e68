//! Canopy: a Trilium-compatible note server. The binary (`main.rs`) only parses flags and calls [`start`].
pub mod auth;
mod background;
mod backups;
pub mod config;
pub mod data_dir;
pub mod db;
pub mod domain;
pub mod entities;
pub mod etapi;
pub mod hashing;
pub mod login_limit;
pub mod protected;
pub mod search;
pub mod sync;
mod tls;
pub mod ui;
pub mod web;
mod welcome;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::oneshot;

pub use data_dir::DataDir;
pub use db::Document;

pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Trilium's sync protocol version that Canopy speaks.
pub const SYNC_VERSION: u32 = 32;

/// What `start` needs beyond the data directory's own `config.ini`.
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    pub data_dir: PathBuf,
    /// The built front end (`pkg/canopy.js`, `pkg/canopy_bg.wasm`, `pkg/canopy.css`).
    pub site_root: PathBuf,
    /// Overrides `[Network]` (tests listen on port 0).
    pub listen: Option<SocketAddr>,
    /// Set up a new data directory as a client of this hub (`--sync-from-server`).
    pub sync_from_server: Option<SyncFromServer>,
    /// Start a new data directory as an empty hub that a client fills (`--wait-for-seed`).
    pub wait_for_seed: bool,
    /// Without a document (and without the options above or a configured sync server), serve the
    /// setup page ("new document" or "sync from a server") instead of making a document at once, as
    /// Trilium does. The binary asks for it; off, a new data directory gets a new document.
    pub offer_setup_page: bool,
}

#[derive(Clone)]
pub struct SyncFromServer {
    pub sync_server_host: String,
    pub password: String,
}

impl std::fmt::Debug for SyncFromServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncFromServer").field("sync_server_host", &self.sync_server_host).finish_non_exhaustive()
    }
}

/// How long a stop may take, from the signal to the exit.
pub const STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Folds the write-ahead log into the document and checks that it is empty; a reader that has not
/// let go yet (a task ending at the same moment) gets a few short retries.
async fn fold_wal(document: &Document) -> anyhow::Result<()> {
    let wal = std::path::PathBuf::from(format!("{}-wal", document.path().display()));
    let mut last = String::new();
    for _ in 0..20 {
        let doc = document.clone();
        match tokio::task::spawn_blocking(move || doc.fold_wal()).await? {
            Ok(true) if std::fs::metadata(&wal).map(|m| m.len() == 0).unwrap_or(true) => return Ok(()),
            Ok(_) => last = format!("{} is not empty yet", wal.display()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    anyhow::bail!(last)
}

/// A started instance; dropping it does not stop it, [`RunningInstance::stop`] does.
pub struct RunningInstance {
    pub addr: SocketAddr,
    /// Served over https (`[Network] https=true`).
    pub https: bool,
    pub data_dir: DataDir,
    pub document: Document,
    pub sync: Arc<sync::SyncState>,
    /// Starts, retargets and stops the client engine as the sync settings say.
    pub sync_engine: sync::engine::SyncEngine,
    /// The one-time token a client needs to send its document to this empty hub.
    pub seed_token: Option<String>,
    /// The full-text index beside the document (built or caught up in the background after start).
    pub search: search::SearchIndex,
    /// The unlocked protected sessions of this instance's browser sessions (the routes' `AppState.protected`).
    pub protected: protected::ProtectedSessions,
    /// Backup and search index tasks, stopped with the server.
    background: Vec<tokio::task::JoinHandle<()>>,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningInstance {
    pub fn url(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.addr)
    }

    /// The sync engine's client, when this instance is a client of a hub.
    pub fn client(&self) -> Option<Arc<sync::client::SyncClient>> {
        self.sync_engine.client()
    }

    /// Serves until `signal` completes (or the server fails), then stops within [`STOP_WITHIN`]:
    /// open long requests (hub long polls, the pages' event streams) end on the shared stop signal,
    /// the requests in flight finish, the sync client ends at its next await point (a batch being
    /// applied finishes, as one transaction with its cursor), and the write-ahead log is folded
    /// into `document.db` and checked. One line says how long it took.
    pub async fn serve_until(self, signal: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let RunningInstance { shutdown, mut task, background, document, sync, sync_engine, protected, .. } = self;
        let (result, started) = tokio::select! {
            result = &mut task => (result, std::time::Instant::now()),
            () = signal => {
                let started = std::time::Instant::now();
                sync.stop();
                let _ = shutdown.send(());
                // A request that does not end by itself (a slow client's upload) is cut.
                let result = match tokio::time::timeout(STOP_WITHIN.mul_f32(0.75), &mut task).await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::warn!("requests still open after {} ms are cut", STOP_WITHIN.mul_f32(0.75).as_millis());
                        task.abort();
                        Ok(Ok(()))
                    }
                };
                (result, started)
            }
        };
        sync.stop();
        sync_engine.stop().await;
        for handle in background {
            handle.abort();
        }
        // The keys go with the server, not with the last clone of its state.
        protected.lock_all();
        let folded = fold_wal(&document).await;
        let elapsed = started.elapsed().as_millis();
        match folded {
            Ok(()) => tracing::info!("stopped in {elapsed} ms (write-ahead log folded into {})", document.path().display()),
            Err(e) => tracing::warn!("stopped in {elapsed} ms, but the write-ahead log is not folded into the document: {e}"),
        }
        Ok(result??)
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.serve_until(std::future::ready(())).await
    }
}

/// Prepares the data directory, opens (or creates) the document and starts serving. With
/// [`StartOptions::offer_setup_page`] and no document yet, this waits until the setup page made one:
/// callers that need the address meanwhile use [`launch`].
pub async fn start(options: StartOptions) -> anyhow::Result<RunningInstance> {
    match launch(options).await? {
        Launch::Running(instance) => Ok(instance),
        Launch::AwaitingSetup(mut setup) => setup.finished().await,
    }
}

/// What [`launch`] started: a running instance, or the setup page of one without a document.
pub enum Launch {
    Running(RunningInstance),
    AwaitingSetup(SetupPhase),
}

/// An instance serving only its setup page (`/setup`) until somebody chooses "new document" or
/// "sync from a server" there; then the same server, on the same address, serves everything.
pub struct SetupPhase {
    pub addr: SocketAddr,
    pub https: bool,
    cancel: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<anyhow::Result<RunningInstance>>,
}

impl SetupPhase {
    pub fn url(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.addr)
    }

    /// The instance, once the setup page has made its document.
    pub async fn finished(&mut self) -> anyhow::Result<RunningInstance> {
        (&mut self.done).await.context("the setup task failed")?
    }

    /// Stops serving the setup page (nothing was created).
    pub async fn stop(mut self) {
        if let Some(cancel) = self.cancel.take() {
            let _ = cancel.send(());
        }
        let _ = self.finished().await;
    }
}

/// The choice made on the setup page, with the channel its answer goes back on.
pub(crate) struct SetupRequest {
    pub choice: SetupChoice,
    /// `Err` carries the message the page shows (the hub's refusal, say); the page stays.
    pub reply: oneshot::Sender<Result<(), String>>,
}

pub(crate) enum SetupChoice {
    NewDocument,
    SyncFromServer(SyncFromServer),
}

/// What every start reads before it opens a document.
struct Prepared {
    options: StartOptions,
    data_dir: DataDir,
    config: config::Config,
    instance_id: String,
}

/// The listening server. Its router is set once the document is open; before that (the setup
/// page) it answers with `setup`.
struct Listening {
    addr: SocketAddr,
    https: bool,
    tls: bool,
    sessions: auth::store::SessionStore,
    full_router: Arc<std::sync::OnceLock<axum::Router>>,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Like [`start`], but returns at once with the setup page's address when the instance has no
/// document and [`StartOptions::offer_setup_page`] asks for the page.
pub async fn launch(options: StartOptions) -> anyhow::Result<Launch> {
    tracing::info!("Canopy {APP_VERSION} starting");
    let data_dir = DataDir::prepare(&options.data_dir)?;
    tracing::info!("data directory: {}", data_dir.path().display());
    let config = config::load_or_create(data_dir.path())?;
    let instance_id = data_dir.instance_id(hashing::random_id)?;
    let document_path = data_dir.document_path();
    // Every other way of starting without a document says what to make already.
    let configured_host = config.sync.server_host.as_deref().filter(|h| *h != "disabled");
    let needs_setup = options.offer_setup_page
        && !document_path.exists()
        && options.sync_from_server.is_none()
        && !options.wait_for_seed
        && configured_host.is_none();
    let prepared = Prepared { options, data_dir, config, instance_id };
    if !needs_setup {
        let document = open_document(&prepared.options, &prepared.config, &document_path, &prepared.instance_id).await?;
        let server = listen(&prepared, None).await?;
        return Ok(Launch::Running(assemble(prepared, server, document).await?));
    }
    let (choices, mut chosen) = tokio::sync::mpsc::channel::<SetupRequest>(4);
    let setup_router = ui::setup::setup_phase_router(ui::setup::SetupPhaseState {
        choices,
        site_root: prepared.options.site_root.clone(),
        trusted_proxy: prepared.config.trusted_reverse_proxy.clone(),
        tls: prepared.config.tls.is_some(),
    });
    let server = listen(&prepared, Some(setup_router)).await?;
    let (addr, https) = (server.addr, server.https);
    let url = format!("{}://{addr}", if https { "https" } else { "http" });
    tracing::info!("listening on {url}");
    tracing::warn!("no document yet: open {url}/setup to make a new document or to sync this instance from a server");
    let (cancel, mut cancelled) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        loop {
            let request = tokio::select! {
                request = chosen.recv() => request,
                _ = &mut cancelled => None,
            };
            let Some(SetupRequest { choice, reply }) = request else {
                let _ = server.shutdown.send(());
                let _ = server.task.await;
                anyhow::bail!("stopped before the instance was set up");
            };
            match create_document(&prepared, &document_path, choice).await {
                Ok(document) => {
                    let instance = assemble(prepared, server, document).await;
                    let _ = reply.send(instance.as_ref().map(|_| ()).map_err(|e| format!("{e:#}")));
                    return instance;
                }
                Err(e) => {
                    tracing::warn!("setup page: {e:#}");
                    let _ = reply.send(Err(format!("{e:#}")));
                }
            }
        }
    });
    Ok(Launch::AwaitingSetup(SetupPhase { addr, https, cancel: Some(cancel), done }))
}

/// The setup page's choice, made the way the command line makes it: a new document with welcome
/// notes, or the shell of a client of the hub (`--sync-from-server`), which the first sync fills.
async fn create_document(prepared: &Prepared, path: &std::path::Path, choice: SetupChoice) -> anyhow::Result<Document> {
    match choice {
        SetupChoice::NewDocument => {
            let (path, instance_id) = (path.to_path_buf(), prepared.instance_id.clone());
            tokio::task::spawn_blocking(move || new_document(&path, &instance_id)).await?
        }
        SetupChoice::SyncFromServer(setup) => {
            let options = StartOptions { sync_from_server: Some(setup), ..prepared.options.clone() };
            open_document(&options, &prepared.config, path, &prepared.instance_id).await
        }
    }
}

fn new_document(path: &std::path::Path, instance_id: &str) -> anyhow::Result<Document> {
    let document = Document::open_or_create(path, instance_id)?;
    welcome::add(&document, instance_id)?;
    tracing::info!("created a new document with welcome notes");
    Ok(document)
}

/// Binds the address and serves: `setup` until [`assemble`] sets the full router.
async fn listen(prepared: &Prepared, setup: Option<axum::Router>) -> anyhow::Result<Listening> {
    let Prepared { options, data_dir, config, .. } = prepared;
    if !options.site_root.join("pkg").join(format!("{}.js", web::OUTPUT_NAME)).exists() {
        tracing::warn!(
            "front end not found in {}: pages render but do not hydrate (build it with `make build`)",
            options.site_root.display()
        );
    }
    // Before listening: a bad certificate stops the start with one line.
    let tls = config.tls.as_ref().map(|tls| tls::server_config(tls, data_dir.path())).transpose()?;
    let sessions = auth::store::SessionStore::open(data_dir.path())
        .with_context(|| format!("cannot open {}", data_dir.path().join(auth::store::FILE_NAME).display()))?;
    let addr = options.listen.unwrap_or(SocketAddr::new(config.host, config.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    let full_router = Arc::new(std::sync::OnceLock::<axum::Router>::new());
    let router = switching_router(full_router.clone(), setup);
    let (shutdown, stopped) = oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    let https = tls.is_some();
    let task = match tls {
        Some(tls) => {
            use axum::serve::ListenerExt;
            // `tap_io` gives the TLS listener axum's `ConnectInfo<SocketAddr>`.
            let listener = tls::TlsListener::new(listener, tls)?.tap_io(|_| {});
            tokio::spawn(async move {
                axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                    .with_graceful_shutdown(stopped)
                    .await
            })
        }
        None => tokio::spawn(async move {
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(stopped)
                .await
        }),
    };
    Ok(Listening { addr, https, tls: https, sessions, full_router, shutdown, task })
}

/// One router in front of the server's life: the setup page's until the document exists, then the
/// full one, without a second listener (the page's next request reaches the new router).
fn switching_router(full: Arc<std::sync::OnceLock<axum::Router>>, setup: Option<axum::Router>) -> axum::Router {
    use axum::response::IntoResponse;
    use tower::ServiceExt;
    axum::Router::new().fallback_service(tower::service_fn(move |request: axum::extract::Request| {
        let router = full.get().cloned().or_else(|| setup.clone());
        async move {
            match router {
                Some(router) => router.oneshot(request).await,
                None => Ok(axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()),
            }
        }
    }))
}

/// Starts what runs beside the server (backups, the sync engine) and gives the server its routes.
async fn assemble(prepared: Prepared, server: Listening, document: Document) -> anyhow::Result<RunningInstance> {
    let Prepared { options, data_dir, config, instance_id } = prepared;
    tracing::info!(
        "document: {} (database version {}, sync protocol version {SYNC_VERSION}, instance {instance_id})",
        data_dir.document_path().display(),
        document.db_version()
    );
    if config.no_authentication {
        tracing::warn!("[General] noAuthentication is on: anybody who reaches this instance can read and change every note");
    }
    let client_config = sync_client_config(&config.sync, &document)?;
    let sync_state = Arc::new(sync::SyncState::new(client_config.as_ref().map(|c| c.sync_server_host.clone())));
    let mut background = vec![spawn_start_up_maintenance(&document, &instance_id, &sync_state)];
    let sync_engine = sync::engine::SyncEngine::new(document.clone(), db::InstanceId::from(&instance_id), config.sync.clone(), sync_state.clone());
    let is_client = sync_engine.reconfigure().await?.is_some();
    let seed_token = awaited_seed_token(&document, is_client)?;
    if config.no_backup {
        tracing::info!("backups are off ([General] noBackup)");
    } else {
        background.push(backups::spawn(data_dir.path().to_path_buf()));
    }
    let login_limiter = Arc::new(login_limit::LoginLimiter::default());
    let hub = sync::hub::HubState::new(
        document.clone(),
        db::InstanceId::from(&instance_id),
        sync_state.clone(),
        seed_token.clone(),
        login_limiter.clone(),
    );
    let local_api = sync::local_api::LocalApiState { document: document.clone(), sync: sync_state.clone(), engine: sync_engine.clone() };
    let setup = sync::setup::SetupState {
        document: document.clone(),
        instance_id: db::InstanceId::from(&instance_id),
        sync: sync_state.clone(),
        sync_server_host: sync_state.status().sync_server_host,
    };
    let auth = auth::AuthState::new(
        server.sessions.clone(),
        document.clone(),
        db::InstanceId::from(&instance_id),
        login_limiter,
        auth::AuthSettings {
            no_authentication: config.no_authentication,
            tls: server.tls,
            trusted_proxy: config.trusted_reverse_proxy.clone(),
        },
    );
    if config.trusted_reverse_proxy != auth::client_ip::TrustedProxy::None {
        tracing::info!("trusted reverse proxy: {:?}", config.trusted_reverse_proxy);
    }
    let search_index = search::SearchIndex::new(document.clone(), data_dir.path());
    background.push(search_index.spawn());
    let protected = auth.protected.clone();
    background.push(protected.spawn_sweeper(document.clone()));
    let live = ui::live::LiveState {
        document: document.clone(),
        sync: sync_state.clone(),
        sessions: auth.store.clone(),
        protected: protected.clone(),
        protected_events: ui::protected::ProtectedEvents::new(),
    };
    let router = web::router(web::AppState {
        leptos_options: web::leptos_options(&options.site_root),
        document: document.clone(),
        hub,
        local_api,
        setup,
        auth,
        live,
        search: search_index.clone(),
        sync_config: config.sync.clone(),
        protected: protected.clone(),
        sync_engine: sync_engine.clone(),
    });
    if server.full_router.set(router).is_err() {
        anyhow::bail!("the server's routes were set twice");
    }
    let Listening { addr, https, shutdown, task, .. } = server;
    tracing::info!("listening on {}://{addr}", if https { "https" } else { "http" });
    // Pages are served meanwhile; whoever started the instance gets it repaired.
    sync_state.until_maintained().await;
    Ok(RunningInstance {
        addr,
        https,
        data_dir,
        document,
        sync: sync_state,
        sync_engine,
        seed_token,
        search: search_index,
        protected,
        background,
        shutdown,
        task,
    })
}

/// Repairs before anything syncs in, beside serving: at 100,000 notes they take seconds, and the pages
/// need none of them. The hub's sync and a client's pull wait for them
/// ([`sync::SyncState::until_maintained`]), and so does [`start`]'s return; a client's push waits only
/// for the adoption ([`sync::SyncState::until_adopted`]), so what was written while it was stopped
/// travels while the checks read (they take the writer only to fix something).
/// First what a copied document's notes were when the copy was made (before this instance's own
/// edits make them its versions), then what a crash, an older version or another tool left broken.
fn spawn_start_up_maintenance(document: &Document, instance_id: &str, sync_state: &Arc<sync::SyncState>) -> tokio::task::JoinHandle<()> {
    sync_state.maintenance_started();
    let (document, instance_id, sync_state) = (document.clone(), db::InstanceId::from(instance_id), sync_state.clone());
    tokio::spawn(async move {
        let work = {
            let (document, instance_id, sync_state) = (document.clone(), instance_id.clone(), sync_state.clone());
            background::low_priority("start-up checks", move || {
                let adopted = document.write(&db::ChangeSource::new(&instance_id), |tx| {
                    sync::ancestry::adopt_versions_of_others(tx.conn(), instance_id.as_str())
                })?;
                if adopted > 0 {
                    tracing::info!("sync ancestry: adopted the versions of {adopted} notes made by other instances");
                }
                sync_state.adoption_done();
                sync::check::run_consistency_checks(&document, &instance_id).map(|_| ())
            })
        };
        match work.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("start-up maintenance failed: {e}"),
            Err(e) => tracing::error!("start-up maintenance stopped: {e}"),
        }
        sync_state.maintenance_done();
    })
}

/// The hub to sync with: `config.ini`/environment first (where `disabled` switches sync off), then the
/// document's `syncServerHost` option, as in Trilium.
pub(crate) fn sync_client_config(config: &config::SyncConfig, document: &Document) -> anyhow::Result<Option<sync::client::ClientConfig>> {
    let option = |name: &str| -> anyhow::Result<Option<String>> {
        Ok(document.read(|conn| db::options::get(conn, name))?.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
    };
    let host = match config.server_host.clone() {
        Some(host) => host,
        None => match option("syncServerHost")? {
            Some(host) => host.trim_end_matches('/').to_owned(),
            None => return Ok(None),
        },
    };
    if host == "disabled" {
        return Ok(None);
    }
    let timeout = match config.timeout {
        Some(timeout) => timeout,
        None => option("syncServerTimeout")?
            .and_then(|v| db::schema::parse_int_lenient(&v))
            .filter(|ms| *ms > 0)
            .map(|ms| std::time::Duration::from_millis(ms as u64))
            .unwrap_or(config::DEFAULT_SYNC_TIMEOUT),
    };
    let proxy = match config.proxy.clone() {
        Some(proxy) => Some(proxy),
        None => option("syncProxy")?,
    };
    Ok(Some(sync::client::ClientConfig { sync_server_host: host, timeout, proxy, seed_token: config.seed_token.clone() }))
}

/// Opens the document, or makes one: a new document with welcome notes; with `--sync-from-server`, the
/// shell of a client that the first sync fills; with a sync server configured but no document, a
/// shell waiting for `POST /api/setup/sync-from-server`.
async fn open_document(
    options: &StartOptions,
    config: &config::Config,
    path: &std::path::Path,
    instance_id: &str,
) -> anyhow::Result<Document> {
    let configured_host = config.sync.server_host.clone().filter(|h| h != "disabled");
    if path.exists() {
        let document = Document::open_existing(path)?;
        if let Some(setup) = &options.sync_from_server {
            let initialized = document.read(|c| Ok(db::options::get(c, "initialized")?.as_deref() == Some("true")))?;
            anyhow::ensure!(
                !initialized,
                "{} is already a document; --sync-from-server {} needs a new data directory",
                path.display(),
                setup.sync_server_host
            );
            tracing::info!("resuming the first sync with {}", setup.sync_server_host);
        }
        return Ok(document);
    }
    if let Some(setup) = &options.sync_from_server {
        let host = setup.sync_server_host.trim_end_matches('/');
        let proxy = config.sync.proxy.as_deref();
        let seed = sync::setup::fetch_seed(host, proxy, &setup.password).await.map_err(anyhow::Error::msg)?;
        let document = db::open::create_for_sync(path, &instance_id.into(), &seed, host, proxy.unwrap_or(""))?;
        tracing::info!("set up as a client of {host}; the first sync pulls the document");
        return Ok(document);
    }
    if options.wait_for_seed {
        let document = db::open::create_for_sync(path, &instance_id.into(), &[], "", "")?;
        tracing::info!("created an empty document that waits for a client to send it its document");
        return Ok(document);
    }
    if let Some(host) = configured_host {
        let document = db::open::create_for_sync(path, &instance_id.into(), &[], &host, "")?;
        tracing::warn!(
            "no document yet and a sync server is configured: set this instance up with \
             `canopy --sync-from-server {host}` or POST /api/setup/sync-from-server with the hub's password"
        );
        return Ok(document);
    }
    new_document(path, instance_id)
}

/// An empty hub (no seed, not a client) accepts a client's document only with a one-time token that it
/// prints here: Trilium lets whoever comes first seed an empty server; Canopy does not.
fn awaited_seed_token(document: &Document, is_client: bool) -> anyhow::Result<Option<String>> {
    let has_seed = document.read(|c| Ok(db::options::get(c, "documentSecret")?.is_some_and(|s| !s.is_empty())))?;
    if has_seed || is_client {
        return Ok(None);
    }
    let token = hashing::random_string(20);
    tracing::warn!(
        "this instance is empty and waits for a client's document; give that client the one-time seed token {token} \
         ([Sync] canopySeedToken in its config.ini, or CANOPY_SEED_TOKEN)"
    );
    Ok(Some(token))
}

/// Sets the password of the document in `data_dir`. A document that has one already keeps it unless
/// `old_password` is given and right: then the password changes as on the options page (the data key
/// re-wrapped, protected notes stay readable). A data directory without a document gets a new one
/// first (the setup page's "new document").
pub fn set_password(data_dir: &std::path::Path, password: &str, old_password: Option<&str>) -> anyhow::Result<()> {
    let data_dir = DataDir::prepare(data_dir)?;
    let config = config::load_or_create(data_dir.path())?;
    let instance_id = data_dir.instance_id(hashing::random_id)?;
    let path = data_dir.document_path();
    let document = if path.exists() {
        Document::open_existing(&path)?
    } else {
        // A client's document comes from its hub, with the hub's password.
        anyhow::ensure!(
            config.sync.server_host.as_deref().is_none_or(|h| h == "disabled"),
            "{} does not exist yet and config.ini names a sync server: set this instance up from it (--sync-from-server)",
            path.display()
        );
        new_document(&path, &instance_id)?
    };
    let changed = document.write_with(&db::ChangeSource::new(&instance_id), |tx| -> Result<bool, domain::DomainError> {
        if !db::password::is_password_set(tx.conn())? {
            db::password::set_password(tx, password)?;
            return Ok(false);
        }
        match old_password {
            Some(old) => domain::protected::change_password(tx, old, password).map(|()| true),
            None => Err(domain::DomainError::Db(db::DbError::PasswordAlreadySet)),
        }
    });
    match changed {
        Ok(changed) => {
            document.checkpoint()?;
            if changed {
                tracing::info!("the document's password was changed (the same data key, wrapped by the new password)");
            }
            Ok(())
        }
        Err(domain::DomainError::Db(db::DbError::PasswordAlreadySet)) => {
            anyhow::bail!("the document already has a password; to change it, give the current one in CANOPY_OLD_PASSWORD")
        }
        Err(e @ domain::DomainError::Db(_)) => Err(e.into()),
        Err(e) => anyhow::bail!("the password was not changed: {}", e.user_message()),
    }
}
