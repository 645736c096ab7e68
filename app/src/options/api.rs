//! Wire types and server functions of the sync options, and the port the server implements for them.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One sync setting: the document's option, and the value from `config.ini` (or the environment)
/// that wins over it, as in Trilium.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSetting {
    pub option: String,
    pub config: Option<String>,
}

impl SyncSetting {
    /// What the sync engine uses.
    pub fn effective(&self) -> &str {
        self.config.as_deref().unwrap_or(&self.option)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncOptions {
    /// `syncServerHost`
    pub host: SyncSetting,
    /// `syncServerTimeout`, milliseconds
    pub timeout_ms: SyncSetting,
    /// `syncProxy`
    pub proxy: SyncSetting,
    /// The hub the running sync engine talks to (`None`: no engine runs). A save retargets the
    /// engine at once; they differ only when the saved host cannot be used.
    pub engine_host: Option<String>,
}

/// A save: `None` leaves a setting alone (the page sends none for one that `config.ini` decides).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncOptionsUpdate {
    pub host: Option<String>,
    pub timeout_ms: Option<String>,
    pub proxy: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncTestOutcome {
    pub success: bool,
    pub message: String,
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{SyncOptions, SyncOptionsUpdate, SyncTestOutcome};
    use crate::error::AppError;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    /// The sync options' access to the document and the sync engine.
    pub trait SyncOptionsPort: Send + Sync + 'static {
        fn read(&self) -> Result<SyncOptions, AppError>;
        /// Validates, then stores; `Invalid` names the field and the problem.
        fn save(&self, update: SyncOptionsUpdate) -> Result<SyncOptions, AppError>;
        /// Logs in to the configured hub as the sync engine does.
        fn test(&self) -> Pin<Box<dyn Future<Output = SyncTestOutcome> + Send>>;
    }

    #[derive(Clone)]
    pub struct SyncOptionsService(pub Arc<dyn SyncOptionsPort>);
}

#[server(prefix = "/ui", endpoint = "sync_options", client = crate::csrf::CsrfClient)]
pub async fn get_sync_options() -> Result<SyncOptions, AppError> {
    let port = crate::ssr::port::<ssr::SyncOptionsService>()?;
    crate::ssr::run_blocking(move || port.0.read()).await
}

#[server(prefix = "/ui", endpoint = "save_sync_options", client = crate::csrf::CsrfClient)]
/// `cleared` names the fields emptied on the page (`host,proxy`): a form sends an empty text as no
/// value at all, which would leave the setting as it was.
pub async fn save_sync_options(
    host: Option<String>,
    timeout_ms: Option<String>,
    proxy: Option<String>,
    cleared: Option<String>,
) -> Result<SyncOptions, AppError> {
    let port = crate::ssr::port::<ssr::SyncOptionsService>()?;
    let cleared = cleared.unwrap_or_default();
    let emptied = |name: &str, value: Option<String>| {
        if cleared.split(',').any(|c| c.trim() == name) {
            Some(String::new())
        } else {
            value
        }
    };
    let update = SyncOptionsUpdate { host: emptied("host", host), timeout_ms: emptied("timeout_ms", timeout_ms), proxy: emptied("proxy", proxy) };
    crate::ssr::run_blocking(move || port.0.save(update)).await
}

#[server(prefix = "/ui", endpoint = "test_sync", client = crate::csrf::CsrfClient)]
pub async fn test_sync() -> Result<SyncTestOutcome, AppError> {
    let port = crate::ssr::port::<ssr::SyncOptionsService>()?;
    Ok(port.0.test().await)
}
