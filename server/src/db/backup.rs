//! Daily/weekly/monthly backups in `<data_dir>/backup/`, made with SQLite's online backup
//! into a temporary file that is then renamed, so a backup file is always complete.

use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OpenFlags};

use super::{DbError, SqlResult};

/// Which backup, its file name and how old the previous one may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
}

impl Period {
    pub const ALL: [Period; 3] = [Period::Daily, Period::Weekly, Period::Monthly];

    pub fn file_name(self) -> &'static str {
        match self {
            Period::Daily => "backup-daily.db",
            Period::Weekly => "backup-weekly.db",
            Period::Monthly => "backup-monthly.db",
        }
    }

    fn max_age(self) -> Duration {
        match self {
            Period::Daily => Duration::days(1),
            Period::Weekly => Duration::days(7),
            Period::Monthly => Duration::days(30),
        }
    }
}

pub fn backup_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("backup")
}

/// Copies the live document `source` to `dest` (temp name, then rename).
pub fn backup_to(source: &Path, dest: &Path) -> SqlResult<()> {
    let io = |e| DbError::Io { path: dest.to_owned(), source: e };
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut tmp_name = dest.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dest.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    {
        let src = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        let mut dst = Connection::open(&tmp)?;
        {
            let backup = rusqlite::backup::Backup::new(&src, &mut dst)?;
            backup.run_to_completion(256, StdDuration::from_millis(5), None)?;
        }
        // A backup is a single self-contained file: no WAL beside it.
        dst.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    }
    // On the disk before it takes the backup's name, and the name on the disk after: a power cut
    // leaves the old backup or the whole new one, never an empty file under the name.
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, dest).map_err(io)?;
    if let Some(dir) = dest.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

/// Makes each backup whose file is missing or older than its period (by file mtime,
/// compared to `now`). Returns the periods backed up. The document is expected at
/// `<data_dir>/document.db`.
pub fn backup_if_due(data_dir: &Path, now: DateTime<Utc>) -> SqlResult<Vec<Period>> {
    let source = data_dir.join("document.db");
    let dir = backup_dir(data_dir);
    let mut done = Vec::new();
    for period in Period::ALL {
        let dest = dir.join(period.file_name());
        let due = match std::fs::metadata(&dest).and_then(|m| m.modified()) {
            Ok(modified) => {
                let modified: DateTime<Utc> = modified.into();
                now - modified >= period.max_age()
            }
            Err(_) => true,
        };
        if due {
            backup_to(&source, &dest)?;
            done.push(period);
        }
    }
    Ok(done)
}
