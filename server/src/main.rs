use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Canopy: a self-hosted note server that syncs with Trilium Notes.
///
/// Listening address and sync settings are read from `config.ini` in the data directory.
#[derive(Parser)]
#[command(name = "canopy", version)]
struct Cli {
    /// The data directory (document.db, config.ini, backup/). Default: ~/trilium-data.
    #[arg(long, env = "TRILIUM_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The built front end. Default: `site` beside the binary's directory (target/site for a cargo build).
    #[arg(long, env = "CANOPY_SITE_ROOT")]
    site_root: Option<PathBuf>,
    /// Set up a new data directory as a client of this sync server (hub), e.g. http://hub:8080.
    /// Asks for the hub's password (or reads CANOPY_SYNC_PASSWORD), then pulls the whole document.
    #[arg(long, value_name = "URL", conflicts_with = "wait_for_seed")]
    sync_from_server: Option<String>,
    /// Start a new data directory as an empty sync server (hub) that receives its document from the
    /// first client; prints the one-time token that client needs.
    #[arg(long)]
    wait_for_seed: bool,
    /// Set the document's password (for the web UI's login, ETAPI logins, sync setup and protected notes) and exit.
    /// Asks for it, or reads CANOPY_PASSWORD. A document that has one already is refused unless the current password
    /// is in CANOPY_OLD_PASSWORD: then the password changes (protected notes stay readable with the new one).
    #[arg(long, conflicts_with_all = ["sync_from_server", "wait_for_seed"])]
    set_password: bool,
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(serve()),
        Err(e) => {
            eprintln!("canopy: no async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// glibc gives threads that allocate at the same time arenas of their own (up to 8 per core), and
/// memory freed into one stays there: in a first full sync of 100,000 notes on 2 cores that was a
/// sixth of the client's peak memory (198 MiB, 167 MiB with this; the README's Performance
/// section). One arena per core keeps the threads from waiting on each other. Set before any
/// thread starts.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        // SAFETY: mallopt only sets an allocator parameter, and no other thread exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX));
        }
    }
}

async fn serve() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the file, the key and the problem are in the error chain.
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = canopy::DataDir::resolve(cli.data_dir)?;
    if cli.set_password {
        let password = read_secret("CANOPY_PASSWORD", "New password for the document")?;
        let old_password = std::env::var("CANOPY_OLD_PASSWORD").ok().filter(|p| !p.is_empty());
        canopy::set_password(&data_dir, &password, old_password.as_deref())?;
        tracing::info!("the document's password is set");
        return Ok(());
    }
    let site_root = match cli.site_root {
        Some(path) => path,
        None => default_site_root()?,
    };
    let sync_from_server = match cli.sync_from_server {
        Some(url) => Some(canopy::SyncFromServer {
            sync_server_host: url,
            password: read_secret("CANOPY_SYNC_PASSWORD", "Password of the sync server")?,
        }),
        None => None,
    };
    // Signal handlers first: a SIGTERM right after "listening on" must still shut down cleanly
    // (folding the WAL into document.db), not kill the process.
    let mut shutdown = Box::pin(shutdown_signal()?);
    let launched = canopy::launch(canopy::StartOptions {
        data_dir,
        site_root,
        listen: None,
        sync_from_server,
        wait_for_seed: cli.wait_for_seed,
        offer_setup_page: true,
    })
    .await?;
    let instance = match launched {
        canopy::Launch::Running(instance) => instance,
        // No document yet: the setup page makes one, or a signal ends the wait.
        canopy::Launch::AwaitingSetup(mut setup) => tokio::select! {
            instance = setup.finished() => instance?,
            () = &mut shutdown => {
                tracing::info!("shutting down");
                setup.stop().await;
                return Ok(());
            }
        },
    };
    instance
        .serve_until(async {
            shutdown.await;
            tracing::info!("shutting down");
        })
        .await
}

/// A password from the environment variable `var`, or one line from standard input.
fn read_secret(var: &str, prompt: &str) -> anyhow::Result<String> {
    if let Ok(secret) = std::env::var(var) {
        return Ok(secret);
    }
    eprint!("{prompt}: ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let secret = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!secret.is_empty(), "no password given (set {var} or type it)");
    Ok(secret)
}

fn default_site_root() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target_dir = exe.parent().and_then(|p| p.parent()).unwrap_or(exe.as_path());
    Ok(target_dir.join("site"))
}

/// Completes on SIGINT or SIGTERM; the handlers are in place when this returns.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
