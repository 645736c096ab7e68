//! `recent_notes` rows. Not synced and without entity changes (Trilium stopped syncing
//! them in 2021), so they are written with a plain upsert.

use rusqlite::{params, Connection, Row};
use serde::{Deserialize, Serialize};

use crate::db::SqlResult;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentNote {
    pub note_id: String,
    pub note_path: String,
    pub utc_date_created: String,
}

impl RecentNote {
    pub fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RecentNote {
            note_id: r.get("noteId")?,
            note_path: r.get("notePath")?,
            utc_date_created: r.get("utcDateCreated")?,
        })
    }

    pub fn save(&self, conn: &Connection) -> SqlResult<()> {
        conn.execute(
            "INSERT OR REPLACE INTO recent_notes (noteId, notePath, utcDateCreated) VALUES (?1, ?2, ?3)",
            params![self.note_id, self.note_path, self.utc_date_created],
        )?;
        Ok(())
    }

    pub fn list(conn: &Connection) -> SqlResult<Vec<RecentNote>> {
        let mut stmt =
            conn.prepare("SELECT noteId, notePath, utcDateCreated FROM recent_notes ORDER BY utcDateCreated DESC")?;
        let rows = stmt.query_map([], RecentNote::from_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }
}
