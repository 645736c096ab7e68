//! Canopy: a Trilium-compatible note server. The binary (`main.rs`) only parses flags and calls [`start`].
pub mod config;
pub mod data_dir;
pub mod db;
pub mod entities;
pub mod etapi;
pub mod hashing;
mod ui;
pub mod web;
mod welcome;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use tokio::sync::oneshot;

pub use data_dir::DataDir;
pub use db::Document;

pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Trilium's sync protocol version that Canopy speaks.
pub const SYNC_VERSION: u32 = 32;

/// What `start` needs beyond the data directory's own `config.ini`.
#[derive(Clone, Debug)]
pub struct StartOptions {
    pub data_dir: PathBuf,
    /// The built front end (`pkg/canopy.js`, `pkg/canopy_bg.wasm`, `pkg/canopy.css`).
    pub site_root: PathBuf,
    /// Overrides `[Network]` (tests listen on port 0).
    pub listen: Option<SocketAddr>,
}

/// A started instance; dropping it does not stop it, [`RunningInstance::stop`] does.
pub struct RunningInstance {
    pub addr: SocketAddr,
    pub data_dir: DataDir,
    pub document: Document,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningInstance {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves until `signal` completes (or the server fails), then finishes requests in flight.
    pub async fn serve_until(self, signal: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let RunningInstance { shutdown, mut task, .. } = self;
        tokio::select! {
            result = &mut task => return Ok(result??),
            () = signal => {}
        }
        let _ = shutdown.send(());
        Ok(task.await??)
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.serve_until(std::future::ready(())).await
    }
}

/// Prepares the data directory, opens (or creates) the document and starts serving.
pub async fn start(options: StartOptions) -> anyhow::Result<RunningInstance> {
    tracing::info!("Canopy {APP_VERSION} starting");
    let data_dir = DataDir::prepare(&options.data_dir)?;
    tracing::info!("data directory: {}", data_dir.path().display());
    let config = config::load_or_create(data_dir.path())?;
    let instance_id = data_dir.instance_id(hashing::random_id)?;
    let document_path = data_dir.document_path();
    let is_new = !document_path.exists();
    let document = Document::open_or_create(&document_path, &instance_id)?;
    if is_new {
        welcome::add(&document, &instance_id)?;
        tracing::info!("created a new document with welcome notes");
    }
    tracing::info!(
        "document: {} (database version {}, sync protocol version {SYNC_VERSION}, instance {instance_id})",
        document_path.display(),
        document.db_version()
    );
    if !options.site_root.join("pkg").join(format!("{}.js", web::OUTPUT_NAME)).exists() {
        tracing::warn!(
            "front end not found in {}: pages render but do not hydrate (build it with `make build`)",
            options.site_root.display()
        );
    }
    let addr = options.listen.unwrap_or(SocketAddr::new(config.host, config.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    let router = web::router(&options.site_root, document.clone());
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!("listening on http://{addr}");
    Ok(RunningInstance { addr, data_dir, document, shutdown, task })
}
