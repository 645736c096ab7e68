//! The hash check after every sync, its repair steps, and the deep check that compares rows with
//! their `entity_changes`.
use crate::db::{consistency, consistency_checks, entity_changes, ChangeSource, DbError, Document, EntityChange, InstanceId, SqlResult, UnusedBlobs};

use super::wire::SectorHashes;

/// Sector hashes after purging unused blobs, and the newest synced change id (see
/// [`Document::hash_check_state`]).
pub fn local_hashes(document: &Document, instance_id: &InstanceId) -> SqlResult<(SectorHashes, i64)> {
    local_hashes_with(document, instance_id, || UnusedBlobs::Erase)
}

/// [`local_hashes`], keeping unused blobs if `unused` says so (a hub while another peer's push is
/// open); it is asked with the writer held.
pub fn local_hashes_with(
    document: &Document,
    instance_id: &InstanceId,
    unused: impl FnOnce() -> UnusedBlobs,
) -> SqlResult<(SectorHashes, i64)> {
    document.hash_check_state_with(&ChangeSource::new(instance_id), unused)
}

/// `(entityName, sector)` pairs whose hashes differ, including sectors only one side has.
pub fn differing_sectors(local: &SectorHashes, remote: &SectorHashes) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let names: std::collections::BTreeSet<&String> = local.keys().chain(remote.keys()).collect();
    for name in names {
        let empty = Default::default();
        let l = local.get(name).unwrap_or(&empty);
        let r = remote.get(name).unwrap_or(&empty);
        let sectors: std::collections::BTreeSet<&String> = l.keys().chain(r.keys()).collect();
        for sector in sectors {
            if l.get(sector) != r.get(sector) {
                out.push((name.clone(), sector.clone()));
            }
        }
    }
    out
}

/// `addEntityChangesForSector`: re-stamps every change of a sector so it is sent again; for blobs,
/// also the notes, attachments and revisions that use them. Returns how many were re-stamped.
pub fn requeue_sector(document: &Document, instance_id: &InstanceId, entity_name: &str, sector: &str) -> SqlResult<usize> {
    let clean = |s: &str| s.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let (entity_name, sector) = (clean(entity_name), clean(sector));
    if sector.is_empty() {
        return Err(DbError::Invalid("empty sector".into()));
    }
    document.write(&ChangeSource::new(instance_id).with_component("sync"), |tx| {
        let mut changes = select_changes(
            tx.conn(),
            "entityName = ?1 AND SUBSTR(entityId, 1, 1) = ?2",
            rusqlite::params![entity_name, sector],
        )?;
        if entity_name == "blobs" {
            for (table, pk) in [("notes", "noteId"), ("attachments", "attachmentId"), ("revisions", "revisionId")] {
                changes.extend(select_changes(
                    tx.conn(),
                    &format!(
                        "entityName = '{table}' AND entityId IN
                           (SELECT {pk} FROM {table} WHERE SUBSTR(blobId, 1, 1) = ?1)"
                    ),
                    [&sector],
                )?);
            }
        }
        let count = changes.len();
        for change in changes {
            entity_changes::restamp(tx, change)?;
        }
        Ok(count)
    })
}

fn select_changes(conn: &rusqlite::Connection, where_sql: &str, params: impl rusqlite::Params) -> SqlResult<Vec<EntityChange>> {
    let mut stmt = conn.prepare(&format!("SELECT {} FROM entity_changes WHERE {where_sql}", entity_changes::COLUMNS))?;
    let rows = stmt.query_map(params, EntityChange::from_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// `runEntityChangesChecks`: a live change without its row is dropped; a row without a change gets
/// one (with its recomputed hash) so it syncs. Returns what was repaired.
pub fn repair_entity_changes(document: &Document, instance_id: &InstanceId) -> SqlResult<Vec<String>> {
    document.write(&ChangeSource::new(instance_id).with_component("sync"), consistency_checks::fix_entity_changes)
}

/// Trilium's consistency checks with their fixes ([`consistency_checks::run_all`]), in one transaction:
/// at start-up, after a sync that pulled changes (paced by [`ChecksPace`]), and before the deep check.
/// They read on a snapshot and take the writer only when they found something to fix
/// ([`Document::write_if_needed`]): holding it for seconds would stop every push and edit meanwhile.
pub fn run_consistency_checks(document: &Document, instance_id: &InstanceId) -> SqlResult<Vec<String>> {
    let started = std::time::Instant::now();
    let fixed = document.write_if_needed(&ChangeSource::new(instance_id).with_component("consistency"), consistency_checks::run_all)?;
    tracing::info!(
        "consistency checks: {} in {} ms",
        if fixed.is_empty() { "no issues".to_owned() } else { format!("{} issues fixed", fixed.len()) },
        started.elapsed().as_millis()
    );
    Ok(fixed)
}

/// When the consistency checks may run again after a sync. They read the whole document (about 3 s
/// at 100,000 notes), and in a busy cluster every cycle pulls or pushes something: after a run that
/// took `t` they wait `10 t`, so they take a tenth of the time at most and a single edit travels
/// without them. A sync that finds them not ready leaves them due for a later one.
#[derive(Debug, Default)]
pub struct ChecksPace {
    next: std::sync::Mutex<Option<std::time::Instant>>,
}

impl ChecksPace {
    const SPACING: u32 = 10;

    pub fn ready(&self) -> bool {
        self.next.lock().unwrap_or_else(|e| e.into_inner()).is_none_or(|next| std::time::Instant::now() >= next)
    }

    /// [`run_consistency_checks`], timed for the next [`ready`](Self::ready).
    pub fn run(&self, document: &Document, instance_id: &InstanceId) -> SqlResult<Vec<String>> {
        let started = std::time::Instant::now();
        let outcome = run_consistency_checks(document, instance_id);
        *self.next.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now() + started.elapsed() * Self::SPACING);
        outcome
    }
}

/// One row that no longer matches its `entity_changes` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeepCheckFinding {
    pub entity_name: String,
    pub entity_id: String,
    pub stored_hash: String,
    /// `None` when the row is missing.
    pub row_hash: Option<String>,
}

/// Beyond Trilium's check (which compares `entity_changes` only): recomputes every row's hash and
/// names the rows whose data no longer matches (each also as an error in the log). Protected rows (hashed by Trilium over their
/// decrypted titles) and Trilium's numeric `dbVersion` option cannot be recomputed and are skipped.
pub fn deep_check(document: &Document) -> SqlResult<Vec<DeepCheckFinding>> {
    document.read(|conn| {
        let mismatches = consistency::hash_mismatches(conn)?;
        let mut findings = Vec::new();
        for m in mismatches {
            let change = m.change;
            let protected = matches!(change.entity_name.as_str(), "notes" | "revisions" | "attachments")
                && conn
                    .query_row(
                        &format!(
                            "SELECT isProtected FROM {} WHERE {} = ?1",
                            change.entity_name,
                            match change.entity_name.as_str() {
                                "notes" => "noteId",
                                "revisions" => "revisionId",
                                _ => "attachmentId",
                            }
                        ),
                        [&change.entity_id],
                        |r| r.get::<_, i64>(0),
                    )
                    .unwrap_or(0)
                    != 0;
            let trilium_quirk = match change.entity_name.as_str() {
                // Trilium hashed this option from the JS number (`228`), the row holds `'228.0'`.
                "options" => change.entity_id == "dbVersion",
                // An attachment created in a running Trilium hashes its unset erasure date as `undefined`.
                "attachments" => attachment_hash_with_undefined_schedule(conn, &change.entity_id)?.as_deref()
                    == Some(change.hash.as_str()),
                _ => false,
            };
            if protected || !change.is_synced || trilium_quirk {
                continue;
            }
            tracing::error!(
                "deep check: {} {} no longer matches its entity change (stored hash {}, row hash {:?})",
                change.entity_name,
                change.entity_id,
                change.hash,
                m.computed
            );
            findings.push(DeepCheckFinding {
                entity_name: change.entity_name,
                entity_id: change.entity_id,
                stored_hash: change.hash,
                row_hash: m.computed,
            });
        }
        Ok(findings)
    })
}

fn attachment_hash_with_undefined_schedule(conn: &rusqlite::Connection, id: &str) -> SqlResult<Option<String>> {
    use crate::hashing::{entity_hash, HashPart};
    let Some(a) = crate::entities::load::<crate::entities::Attachment>(conn, id)? else { return Ok(None) };
    if a.utc_date_scheduled_for_erasure_since.is_some() {
        return Ok(None);
    }
    Ok(Some(entity_hash(
        &[
            (&a.attachment_id).into(),
            (&a.owner_id).into(),
            (&a.role).into(),
            (&a.mime).into(),
            (&a.title).into(),
            (&a.blob_id).into(),
            HashPart::Str("undefined"),
        ],
        a.is_deleted,
    )))
}
