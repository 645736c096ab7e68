//! The sync engine's owner: which hub the client engine ([`super::client`]) talks to, if any.
//!
//! The hub comes from `config.ini` (which wins) or the document's `syncServerHost` option. Saving that
//! option on the options page calls [`SyncEngine::reconfigure`]: the running client is stopped at its
//! next await point (a batch being applied finishes; its transaction holds the batch and its cursor)
//! and one for the new settings is started, or none when the field was cleared. No restart needed.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::client::{ClientConfig, SyncClient};
use super::SyncState;
use crate::config::SyncConfig;
use crate::db::{Document, InstanceId};

/// A halted client's tasks get this long to reach an await point before they are aborted.
const HALT_GRACE: Duration = Duration::from_millis(1500);

#[derive(Clone)]
pub struct SyncEngine(Arc<Inner>);

struct Inner {
    document: Document,
    instance_id: InstanceId,
    /// `config.ini` and the environment, as read at start.
    config: SyncConfig,
    state: Arc<SyncState>,
    /// One reconfiguration at a time (stopping a client awaits its tasks).
    changing: tokio::sync::Mutex<()>,
    current: Mutex<Option<Running>>,
}

struct Running {
    client: Arc<SyncClient>,
    config: ClientConfig,
    tasks: Vec<JoinHandle<()>>,
}

impl SyncEngine {
    pub fn new(document: Document, instance_id: InstanceId, config: SyncConfig, state: Arc<SyncState>) -> Self {
        SyncEngine(Arc::new(Inner {
            document,
            instance_id,
            config,
            state,
            changing: tokio::sync::Mutex::new(()),
            current: Mutex::new(None),
        }))
    }

    /// This instance's id (what its own writes are stamped with).
    pub fn instance_id(&self) -> &InstanceId {
        &self.0.instance_id
    }

    /// The running client, if this instance syncs with a hub.
    pub fn client(&self) -> Option<Arc<SyncClient>> {
        self.0.current.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|r| r.client.clone())
    }

    /// Reads the settings again and starts, retargets or stops the client to match them; does nothing
    /// when they did not change. Returns the hub the engine now talks to.
    pub async fn reconfigure(&self) -> anyhow::Result<Option<String>> {
        let inner = &self.0;
        let _one_at_a_time = inner.changing.lock().await;
        let wanted = crate::sync_client_config(&inner.config, &inner.document)?;
        let old = {
            let mut current = inner.current.lock().unwrap_or_else(|p| p.into_inner());
            if current.as_ref().map(|r| &r.config) == wanted.as_ref() {
                return Ok(wanted.map(|c| c.sync_server_host));
            }
            current.take()
        };
        if let Some(old) = old {
            halt(old, true).await;
        }
        inner.state.set_host(wanted.as_ref().map(|c| c.sync_server_host.clone()));
        let Some(config) = wanted else {
            return Ok(None);
        };
        if inner.state.is_stopping() {
            return Ok(None);
        }
        tracing::info!("syncing with the sync server {}", config.sync_server_host);
        let client = SyncClient::new(inner.document.clone(), inner.instance_id.clone(), config.clone(), inner.state.clone())?;
        let tasks = client.spawn();
        let host = config.sync_server_host.clone();
        *inner.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(Running { client, config, tasks });
        Ok(Some(host))
    }

    /// Stops the client (at shutdown): its tasks end at their next await point.
    pub async fn stop(&self) {
        let _one_at_a_time = self.0.changing.lock().await;
        let old = self.0.current.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(old) = old {
            halt(old, false).await;
        }
    }
}

/// `announce`: a retarget says so; a shutdown has its own single line.
async fn halt(running: Running, announce: bool) {
    let Running { client, config, tasks } = running;
    client.halt();
    for mut task in tasks {
        if tokio::time::timeout(HALT_GRACE, &mut task).await.is_err() {
            task.abort();
        }
    }
    client.cycle_abandoned();
    if announce {
        tracing::info!("stopped syncing with {}", config.sync_server_host);
    }
}
