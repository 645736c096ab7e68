//! Daily, weekly and monthly backups of the document, as Trilium keeps them (`[General] noBackup`
//! switches them off). The work is `db::backup`; this only schedules it.
use std::path::PathBuf;
use std::time::Duration;

use crate::db::backup;

/// First look shortly after start, then hourly; each backup is made when its file is older than its period.
pub fn spawn(data_dir: PathBuf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut delay = Duration::from_secs(60);
        loop {
            tokio::time::sleep(delay).await;
            delay = Duration::from_secs(3600);
            let dir = data_dir.clone();
            match tokio::task::spawn_blocking(move || backup::backup_if_due(&dir, chrono::Utc::now())).await {
                Ok(Ok(done)) if !done.is_empty() => {
                    tracing::info!("backed up the document: {}", done.iter().map(|p| p.file_name()).collect::<Vec<_>>().join(", "))
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!("backup failed: {e}"),
                Err(e) => tracing::error!("backup task failed: {e}"),
            }
        }
    })
}
