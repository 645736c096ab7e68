//! The sync options' port: `syncServerHost`, `syncServerTimeout` and `syncProxy` in the document's
//! options table (not synced), `config.ini`'s `[Sync]` winning over them, and "test sync".
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use app::error::AppError;
use app::options::api::{ssr::SyncOptionsPort, SyncOptions, SyncOptionsUpdate, SyncSetting, SyncTestOutcome};

use super::internal;
use crate::config::SyncConfig;
use crate::db::{options, ChangeSource, Document, InstanceId};
use crate::sync::SyncState;

/// The longest timeout the page accepts: a day.
const MAX_TIMEOUT_MS: u64 = 86_400_000;

pub struct DocumentSyncOptions {
    pub document: Document,
    pub instance_id: InstanceId,
    /// `config.ini` and the environment, as read at start.
    pub config: SyncConfig,
    pub sync: Arc<SyncState>,
    /// Saving takes effect at once: the engine starts, retargets or stops its client.
    pub engine: crate::sync::engine::SyncEngine,
}

/// A hub or proxy address as the sync engine can use it: an http or https URL with a host,
/// without the trailing `/`. `what` names the field in the message.
pub fn checked_url(text: &str, what: &str) -> Result<String, String> {
    let text = text.trim();
    let url = reqwest::Url::parse(text).map_err(|e| format!("{what} '{text}' is not a URL ({e}); write it as https://host:port"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{what} '{text}' must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{what} '{text}' names no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{what} '{text}' must not have a query or fragment"));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

fn checked_timeout(text: &str) -> Result<String, String> {
    let text = text.trim();
    match text.parse::<u64>() {
        Ok(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => Ok(ms.to_string()),
        _ => Err(format!("The timeout '{text}' must be a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS}")),
    }
}

impl DocumentSyncOptions {
    fn setting(&self, conn: &rusqlite::Connection, name: &str, config: Option<String>) -> crate::db::SqlResult<SyncSetting> {
        Ok(SyncSetting { option: options::get(conn, name)?.unwrap_or_default(), config })
    }
}

impl SyncOptionsPort for DocumentSyncOptions {
    fn read(&self) -> Result<SyncOptions, AppError> {
        let config = &self.config;
        let (host, timeout_ms, proxy) = self
            .document
            .read(|conn| {
                Ok((
                    self.setting(conn, "syncServerHost", config.server_host.clone())?,
                    self.setting(conn, "syncServerTimeout", config.timeout.map(|t| t.as_millis().to_string()))?,
                    self.setting(conn, "syncProxy", config.proxy.clone())?,
                ))
            })
            .map_err(internal)?;
        Ok(SyncOptions { host, timeout_ms, proxy, engine_host: self.sync.status().sync_server_host })
    }

    fn save(&self, update: SyncOptionsUpdate) -> Result<SyncOptions, AppError> {
        // A value config.ini decides is not stored: the page shows it read-only and sends none.
        let host = update.host.filter(|_| self.config.server_host.is_none());
        let timeout = update.timeout_ms.filter(|_| self.config.timeout.is_none());
        let proxy = update.proxy.filter(|_| self.config.proxy.is_none());
        let host = host
            .map(|h| if h.trim().is_empty() { Ok(String::new()) } else { checked_url(&h, "The server address") })
            .transpose()
            .map_err(AppError::Invalid)?;
        let timeout = timeout.map(|t| checked_timeout(&t)).transpose().map_err(AppError::Invalid)?;
        let proxy = proxy
            .map(|p| if p.trim().is_empty() { Ok(String::new()) } else { checked_url(&p, "The proxy") })
            .transpose()
            .map_err(AppError::Invalid)?;
        self.document
            .write(&ChangeSource::new(&self.instance_id), |tx| {
                for (name, value) in [("syncServerHost", host), ("syncServerTimeout", timeout), ("syncProxy", proxy)] {
                    if let Some(value) = value {
                        // Keeps the option's isSynced (false for these three, as Trilium makes them).
                        options::set(tx, name, &value)?;
                    }
                }
                Ok(())
            })
            .map_err(internal)?;
        tracing::info!("sync options saved on the options page");
        // The port runs on the blocking pool: wait there for the engine to follow the new settings.
        if let Err(e) = tokio::runtime::Handle::current().block_on(self.engine.reconfigure()) {
            return Err(AppError::Invalid(format!("Saved, but the sync engine cannot use the settings: {e:#}")));
        }
        self.read()
    }

    fn test(&self) -> Pin<Box<dyn Future<Output = SyncTestOutcome> + Send>> {
        let (document, instance_id, config, sync) = (self.document.clone(), self.instance_id.clone(), self.config.clone(), self.sync.clone());
        Box::pin(async move {
            let failure = |message: String| SyncTestOutcome { success: false, message };
            let client_config = match crate::sync_client_config(&config, &document) {
                Ok(Some(client_config)) => client_config,
                Ok(None) => return failure("No sync server is set: enter its address and save first.".into()),
                Err(e) => return failure(format!("The sync settings cannot be read: {e:#}")),
            };
            let host = client_config.sync_server_host.clone();
            // A client of its own for the test: the engine's state (status, cursors' session) stays as it is.
            let probe_state = Arc::new(SyncState::new(Some(host.clone())));
            let client = match crate::sync::client::SyncClient::new(document, instance_id, client_config, probe_state) {
                Ok(client) => client,
                Err(e) => return failure(format!("Cannot connect to {host}: {e:#}")),
            };
            match client.test_login().await {
                Ok(()) => {
                    tracing::info!("test sync: logged in to {host}");
                    // As in Trilium: a working connection is used at once.
                    sync.request_sync();
                    SyncTestOutcome { success: true, message: format!("Logged in to the sync server {host}: sync works.") }
                }
                Err(e) => {
                    tracing::warn!("test sync with {host} failed: {e}");
                    failure(format!("Sync with {host} failed: {e}"))
                }
            }
        })
    }
}
