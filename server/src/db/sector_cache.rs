//! The hash check's inputs kept current instead of recomputed from every row at each check.
//!
//! Trilium rehashes all `entity_changes` rows and looks at every blob for every hash check (about a
//! second per cycle at 100,000 notes). Here the writer connection carries TEMP triggers that note
//! which (entityName, sector) a write touched and which blobs may have lost their last user; a check
//! rehashes only those sectors and looks only at those blobs. Writes from outside this process cannot
//! fire our TEMP triggers, but they change `PRAGMA data_version` of the writer connection, and then
//! everything is recomputed.
use std::collections::BTreeMap;

use rusqlite::Connection;

use super::entity_changes;
use super::SqlResult;
use crate::hashing;

pub type SectorHashes = BTreeMap<String, BTreeMap<String, String>>;

pub struct Cache {
    data_version: i64,
    hashes: SectorHashes,
}

/// Installs the dirty-sector log on the writer connection (TEMP: nothing is added to the document).
/// (`INSERT OR IGNORE` would not do inside these triggers: the conflict clause of the statement that
/// fires a trigger overrides the trigger's own, so an upsert would turn IGNORE into ABORT.)
pub fn install(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS canopy_dirty_sectors (
             entityName TEXT NOT NULL, sector TEXT NOT NULL, PRIMARY KEY (entityName, sector)
         ) WITHOUT ROWID;
         CREATE TEMP TRIGGER IF NOT EXISTS canopy_dirty_on_insert AFTER INSERT ON main.entity_changes BEGIN
             INSERT INTO canopy_dirty_sectors SELECT NEW.entityName, substr(NEW.entityId, 1, 1)
                 WHERE NOT EXISTS (SELECT 1 FROM canopy_dirty_sectors
                                   WHERE entityName = NEW.entityName AND sector = substr(NEW.entityId, 1, 1));
         END;
         CREATE TEMP TRIGGER IF NOT EXISTS canopy_dirty_on_update AFTER UPDATE ON main.entity_changes BEGIN
             INSERT INTO canopy_dirty_sectors SELECT OLD.entityName, substr(OLD.entityId, 1, 1)
                 WHERE NOT EXISTS (SELECT 1 FROM canopy_dirty_sectors
                                   WHERE entityName = OLD.entityName AND sector = substr(OLD.entityId, 1, 1));
             INSERT INTO canopy_dirty_sectors SELECT NEW.entityName, substr(NEW.entityId, 1, 1)
                 WHERE NOT EXISTS (SELECT 1 FROM canopy_dirty_sectors
                                   WHERE entityName = NEW.entityName AND sector = substr(NEW.entityId, 1, 1));
         END;
         CREATE TEMP TRIGGER IF NOT EXISTS canopy_dirty_on_delete AFTER DELETE ON main.entity_changes BEGIN
             INSERT INTO canopy_dirty_sectors SELECT OLD.entityName, substr(OLD.entityId, 1, 1)
                 WHERE NOT EXISTS (SELECT 1 FROM canopy_dirty_sectors
                                   WHERE entityName = OLD.entityName AND sector = substr(OLD.entityId, 1, 1));
         END;
         CREATE TEMP TABLE IF NOT EXISTS canopy_blob_candidates (blobId TEXT PRIMARY KEY) WITHOUT ROWID;
         CREATE TEMP TRIGGER IF NOT EXISTS canopy_blob_on_insert AFTER INSERT ON main.blobs BEGIN
             INSERT INTO canopy_blob_candidates SELECT NEW.blobId
                 WHERE NOT EXISTS (SELECT 1 FROM canopy_blob_candidates WHERE blobId = NEW.blobId);
         END;",
    )?;
    // A blob can lose its last user when a note, attachment or revision changes its blobId, is
    // deleted, or is replaced whole (sync's INSERT OR REPLACE, which fires no UPDATE or DELETE trigger).
    for (table, pk) in [("notes", "noteId"), ("attachments", "attachmentId"), ("revisions", "revisionId")] {
        conn.execute_batch(&format!(
            "CREATE TEMP TRIGGER IF NOT EXISTS canopy_blob_{table}_update AFTER UPDATE OF blobId ON main.{table} BEGIN
                 INSERT INTO canopy_blob_candidates SELECT OLD.blobId WHERE OLD.blobId IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM canopy_blob_candidates WHERE blobId = OLD.blobId);
             END;
             CREATE TEMP TRIGGER IF NOT EXISTS canopy_blob_{table}_delete AFTER DELETE ON main.{table} BEGIN
                 INSERT INTO canopy_blob_candidates SELECT OLD.blobId WHERE OLD.blobId IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM canopy_blob_candidates WHERE blobId = OLD.blobId);
             END;
             CREATE TEMP TRIGGER IF NOT EXISTS canopy_blob_{table}_replace BEFORE INSERT ON main.{table} BEGIN
                 INSERT INTO canopy_blob_candidates
                     SELECT t.blobId FROM main.{table} t WHERE t.{pk} = NEW.{pk} AND t.blobId IS NOT NULL
                         AND NOT EXISTS (SELECT 1 FROM canopy_blob_candidates c WHERE c.blobId = t.blobId);
             END;"
        ))?;
    }
    Ok(())
}

/// `eraseUnusedBlobs` before a hash check: only the candidate blobs while `cache` is valid, else all.
/// With `keep_changed_after`, unused blobs whose entity change is newer stay (and stay candidates).
pub fn erase_unused_blobs(conn: &Connection, cache: &Option<Cache>, keep_changed_after: Option<i64>) -> SqlResult<Vec<String>> {
    let data_version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
    let from_candidates = matches!(cache, Some(c) if c.data_version == data_version);
    let candidates = if from_candidates { "SELECT blobId FROM temp.canopy_blob_candidates" } else { "SELECT blobId FROM blobs" };
    let candidates = match keep_changed_after {
        None => candidates.to_owned(),
        Some(after) => format!(
            "{candidates} EXCEPT SELECT entityId FROM entity_changes WHERE entityName = 'blobs' AND id > {after}"
        ),
    };
    let erased = super::deletion::erase_unused_blobs_in(conn, &candidates)?;
    if keep_changed_after.is_none() {
        conn.execute("DELETE FROM temp.canopy_blob_candidates", [])?;
    }
    Ok(erased)
}

/// The current sector hashes, equal to [`entity_changes::sector_hashes`], updating `cache`.
/// `conn` must be the writer connection inside a write transaction.
pub fn current(conn: &Connection, cache: &mut Option<Cache>) -> SqlResult<SectorHashes> {
    let data_version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
    let dirty: Vec<(String, String)> = {
        let mut stmt = conn.prepare_cached("SELECT entityName, sector FROM temp.canopy_dirty_sectors")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
        rows
    };
    conn.execute("DELETE FROM temp.canopy_dirty_sectors", [])?;
    match cache {
        Some(c) if c.data_version == data_version => {
            for (entity_name, sector) in dirty {
                let hash = sector_hash(conn, &entity_name, &sector)?;
                let sectors = c.hashes.entry(entity_name.clone()).or_default();
                match hash {
                    Some(hash) => {
                        sectors.insert(sector, hash);
                    }
                    None => {
                        sectors.remove(&sector);
                        if sectors.is_empty() {
                            c.hashes.remove(&entity_name);
                        }
                    }
                }
            }
        }
        _ => *cache = Some(Cache { data_version, hashes: entity_changes::sector_hashes(conn)? }),
    }
    Ok(cache.as_ref().map(|c| c.hashes.clone()).unwrap_or_default())
}

/// One sector's hash, or `None` if it has no synced rows. Reads only that sector through the
/// (entityName, entityId) index.
fn sector_hash(conn: &Connection, entity_name: &str, sector: &str) -> SqlResult<Option<String>> {
    if entity_name == "note_reordering" {
        return Ok(None);
    }
    let Some(first) = sector.chars().next() else { return Ok(None) };
    let upper = char::from_u32(first as u32 + 1).map(String::from).unwrap_or_else(|| "\u{10FFFF}".repeat(2));
    let mut stmt = conn.prepare_cached(
        "SELECT entityId, hash, isErased FROM entity_changes
         WHERE entityName = ?1 AND entityId >= ?2 AND entityId < ?3 AND isSynced = 1",
    )?;
    let mut rows: Vec<(String, String, bool)> = stmt
        .query_map(rusqlite::params![entity_name, sector, upper], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0)))?
        .collect::<Result<_, _>>()?;
    if rows.is_empty() {
        return Ok(None);
    }
    rows.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    Ok(Some(hashing::sector_hash(rows.iter().map(|(_, h, e)| (h.as_str(), *e)))))
}
