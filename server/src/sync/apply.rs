//! Applying a batch of received changes, on the hub (pushes) and on a client (pulls) alike.
//!
//! Per row the newer `utcDateChanged` wins and ties go to the incoming change (Trilium's rule, so mixed
//! clusters converge). Beyond Trilium: when two versions of a note were edited concurrently
//! ([`super::ancestry`]), the losing title and content are kept as a revision of the note, whichever
//! side loses; the revision's id and dates derive from the losing version, so every instance that
//! discovers the same conflict writes the same revision.
use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use super::ancestry;
use super::records::{self, NOTE_REORDERING};
use super::wire::EntityChangeRecord;
use crate::db::tree_rule::{self, TreeRepair, TreeScope};
use crate::db::{blob_users, entity_changes, peer_notes, DbError, EntityChange, SqlResult, WriteTx};
use crate::entities::{self, Note, Revision};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    pub updated: usize,
    pub already_applied: usize,
    pub erased: usize,
    /// Incoming changes older than ours; ours was re-stamped so it goes back to the peer.
    pub kept_local: usize,
    pub conflicts: Vec<Conflict>,
    /// What the tree rule repaired after the batch ([`tree_rule`]).
    pub tree_repairs: Vec<TreeRepair>,
}

/// A concurrent edit of one note, resolved by date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    pub note_id: String,
    /// `true` when the incoming version won.
    pub incoming_won: bool,
    pub winner_date: String,
    pub loser_date: String,
    /// The revision that keeps the losing title and content (`None` if its content never arrived).
    pub revision_id: Option<String>,
    /// The instances that made the winning and the losing edit (as the changes that carried them name them).
    #[serde(default)]
    pub winner_instance_id: Option<String>,
    #[serde(default)]
    pub loser_instance_id: Option<String>,
}

/// What this instance knows of the versions the sending peer holds. A Trilium peer does not say what
/// an edit was based on; only proof that it held our version makes its edit sequential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMemory {
    /// A hub, with many peers: what each one holds is kept in `canopy_peer_notes` (what it sent, and
    /// what it took of what the hub sent), and this batch, in the same transaction, adds to it.
    PerPeer,
    /// A client, whose only peer is the hub: a version the hub sent is one the hub holds (the change
    /// carries the hub's instance id), which is all it needs to know.
    OnlyPeer,
}

/// Applies `records` from the peer `peer_instance_id` in one transaction (the caller's).
pub fn apply_records(
    tx: &mut WriteTx<'_>,
    records: &[EntityChangeRecord],
    peer_instance_id: &str,
    memory: PeerMemory,
) -> SqlResult<ApplyOutcome> {
    ancestry::ensure_table(tx.conn())?;
    if memory == PeerMemory::PerPeer {
        peer_notes::ensure_table(tx.conn())?;
    }
    let mut outcome = ApplyOutcome::default();
    let mut losers: Vec<(Note, Note, bool, [String; 2])> = Vec::new(); // (winner, loser, incoming won, their instances)
    let mut columns = records::TableColumns::default();
    // The revisions this batch brings: a hub that resolved a conflict against our version sends the
    // revision keeping it along with the winner.
    let batch_revisions: HashMap<&str, Option<&str>> = records
        .iter()
        .filter(|r| r.entity_change.entity_name == "revisions")
        .map(|r| {
            let modified = r.entity.as_ref().and_then(|row| row.get("utcDateModified")).and_then(|v| v.as_str());
            (r.entity_change.entity_id.as_str(), modified)
        })
        .collect();
    for record in records {
        let remote = &record.entity_change;
        if change_known(tx, &remote.change_id)? {
            if memory == PeerMemory::PerPeer {
                remember_held(tx, peer_instance_id, remote)?;
            }
            outcome.already_applied += 1;
            continue;
        }
        if remote.entity_name == NOTE_REORDERING {
            apply_reordering(tx, record, peer_instance_id)?;
            outcome.updated += 1;
            continue;
        }
        let Some(pk) = records::primary_key(&remote.entity_name) else {
            return Err(DbError::Invalid(format!("unknown entity '{}' in sync batch", remote.entity_name)));
        };
        if remote.entity_id.is_empty() || remote.entity_id.chars().any(char::is_control) {
            return Err(DbError::Invalid(format!("a {} change has an empty id or control characters in it", remote.entity_name)));
        }
        // The row is stored under its own key: one that is not the change's would leave the change
        // describing a row that does not exist and the row without a change.
        if let Some(key) = record.entity.as_ref().and_then(|row| row.get(pk)) {
            if key.as_str() != Some(remote.entity_id.as_str()) {
                return Err(DbError::Invalid(format!(
                    "the {} change for {} carries a row whose {pk} is {}",
                    remote.entity_name, remote.entity_id, key
                )));
            }
        }
        let local = entity_changes::get(tx.conn(), &remote.entity_name, &remote.entity_id)?;
        let remote_wins = local.as_ref().is_none_or(|l| l.utc_date_changed <= remote.utc_date_changed);
        // The version a Trilium peer's edit was based on, where known (it does not say).
        let mut inferred_parent = None;
        if let Some(local) = &local {
            let (concurrent, base) =
                concurrent_note_edit(tx, record, local, remote_wins, peer_instance_id, memory, &batch_revisions)?;
            inferred_parent = base;
            if let Some((winner, loser)) = concurrent {
                let (remote_instance, local_instance) = (remote.instance_id.clone(), local.instance_id.clone());
                let instances = if remote_wins { [remote_instance, local_instance] } else { [local_instance, remote_instance] };
                losers.push((winner, loser, remote_wins, instances));
            }
        }
        if memory == PeerMemory::PerPeer {
            remember_held(tx, peer_instance_id, remote)?;
        }
        if remote_wins {
            if remote.is_erased {
                records::delete_row(tx.conn(), &remote.entity_name, &remote.entity_id)?;
                outcome.erased += 1;
            } else if let Some(row) = &record.entity {
                records::store_row_with(tx.conn(), &mut columns, &remote.entity_name, row)?;
                outcome.updated += 1;
            } else {
                // The peer has the change but not the row (its own consistency problem). Taking the
                // change without the row would hide that; leaving both out lets the hash check show it.
                tracing::error!("{} {} arrived without its row; not applied", remote.entity_name, remote.entity_id);
                continue;
            }
            let differs = local.as_ref().is_none_or(|l| {
                l.utc_date_changed < remote.utc_date_changed || l.hash != remote.hash || l.is_erased != remote.is_erased
            });
            if differs {
                let mut stored = remote.clone();
                stored.instance_id = peer_instance_id.to_owned();
                entity_changes::put_raw(tx, &stored)?;
            }
            if remote.entity_name == "notes" {
                // A parent inferred for a Trilium peer's edit goes on with the version, so the other
                // peers (Canopy clients) see it as the sequential edit it is, not as a conflict.
                ancestry::mark_exchanged(
                    tx.conn(),
                    &remote.entity_id,
                    &remote.hash,
                    record.canopy_parent_hash.as_deref().or(inferred_parent.as_deref()),
                )?;
            }
        } else if let Some(local) = local {
            // A blob's id is its content, so two rows of one blob differ only in their dates: one made
            // again after being dropped as unused (a note protected and unprotected) meets the older
            // row, whose hash is the same. The newer goes back too, or the two would keep differing.
            let same_blob_made_again = remote.entity_name == "blobs" && local.utc_date_changed != remote.utc_date_changed;
            if local.hash != remote.hash || local.is_erased != remote.is_erased || same_blob_made_again {
                entity_changes::restamp(tx, local)?;
                outcome.kept_local += 1;
            }
        }
    }
    for (winner, loser, incoming_won, instances) in losers {
        outcome.conflicts.push(keep_loser(tx, &winner, &loser, incoming_won, instances)?);
    }
    // Concurrent deletes and edits can each be right and still leave a note out of the tree, or a
    // label on a deleted note.
    let touched = |entity: &str| -> Vec<String> {
        records.iter().filter(|r| r.entity_change.entity_name == entity).map(|r| r.entity_change.entity_id.clone()).collect()
    };
    let (notes, branches, attributes) = (touched("notes"), touched("branches"), touched("attributes"));
    outcome.tree_repairs = tree_rule::keep_whole(tx, TreeScope::Touched { notes: &notes, branches: &branches, attributes: &attributes })?;
    Ok(outcome)
}

/// Whatever this instance does with it, the peer holds the version of a note it sent.
fn remember_held(tx: &WriteTx<'_>, peer_instance_id: &str, change: &EntityChange) -> SqlResult<()> {
    if change.entity_name == "notes" {
        let held = (!change.is_erased).then_some(change.hash.as_str());
        peer_notes::remember(tx.conn(), peer_instance_id, &change.entity_id, held)?;
    }
    Ok(())
}

fn change_known(tx: &WriteTx<'_>, change_id: &str) -> SqlResult<bool> {
    Ok(tx
        .conn()
        .prepare_cached("SELECT 1 FROM entity_changes WHERE changeId = ?1")?
        .query_row([change_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Child positions are applied whatever their date (Trilium does the same).
fn apply_reordering(tx: &mut WriteTx<'_>, record: &EntityChangeRecord, peer_instance_id: &str) -> SqlResult<()> {
    if let Some(serde_json::Value::Object(positions)) = &record.entity {
        for (branch_id, position) in positions {
            let position = position
                .as_i64()
                .ok_or_else(|| DbError::Invalid(format!("notePosition of {branch_id} is not a number")))?;
            // Only live branches: the map holds the sender's live children, and one deleted here
            // meanwhile keeps the position its deletion was synced with (else a stale map moves it
            // here but nowhere else, and positions are not hashed, so no check would see it).
            tx.conn().execute(
                "UPDATE branches SET notePosition = ?1 WHERE branchId = ?2 AND isDeleted = 0",
                params![position, branch_id],
            )?;
        }
    }
    let mut stored = record.entity_change.clone();
    stored.instance_id = peer_instance_id.to_owned();
    entity_changes::put_raw(tx, &stored)?;
    Ok(())
}

/// For a note changed on both sides, decides whether the edits were concurrent and, if so, returns
/// (winner, loser) as note rows; and, for a Trilium peer's edit, the hash of the version it was based
/// on where the hub knows it.
fn concurrent_note_edit(
    tx: &WriteTx<'_>,
    record: &EntityChangeRecord,
    local: &EntityChange,
    remote_wins: bool,
    peer_instance_id: &str,
    memory: PeerMemory,
    batch_revisions: &HashMap<&str, Option<&str>>,
) -> SqlResult<(Option<(Note, Note)>, Option<String>)> {
    let remote = &record.entity_change;
    if remote.entity_name != "notes" || local.is_erased || remote.is_erased || local.hash == remote.hash {
        return Ok((None, None));
    }
    let conn = tx.conn();
    // On a client of a Canopy hub (its records carry parent hashes): if the hub already held our
    // version (exchanged, not edited since), whatever it sends now came after ours there. Had the two
    // been concurrent, the hub resolved it and sends the revision keeping ours with the winner (the
    // conflict is then ours to see too, below). Otherwise it is sequential even when the parent hash
    // cannot show it, because we missed versions in between (a peer edited twice while we were not
    // pulling).
    if memory == PeerMemory::OnlyPeer
        && record.canopy_parent_hash.is_some()
        && ancestry::synced_hash(conn, &local.entity_id)?.as_deref() == Some(local.hash.as_str())
    {
        // A version the hub sent (not one we made) has no edit of ours to lose: nothing to see,
        // even if a revision of the same title and text exists from another conflict.
        if local.instance_id == peer_instance_id {
            return Ok((None, None));
        }
        let ours_kept = match entities::load::<Note>(conn, &local.entity_id)? {
            Some(ours) => {
                // The conflict revision of our version, not of another with the same title and text
                // (its id says only those): it carries our version's date.
                let id = conflict_revision_id(&ours.note_id, ours.blob_id.as_deref(), &ours.title);
                let ours_date = Some(ours.utc_date_modified.as_str());
                match batch_revisions.get(id.as_str()) {
                    Some(date) => *date == ours_date,
                    None => entities::load::<Revision>(conn, &id)?.is_some_and(|r| Some(r.utc_date_modified.as_str()) == ours_date),
                }
            }
            None => false,
        };
        if !ours_kept {
            return Ok((None, None));
        }
    }
    // The version the hub knows this peer holds (it sent it, or took it from the hub).
    let held = match memory {
        PeerMemory::PerPeer => peer_notes::held(conn, peer_instance_id, &local.entity_id)?,
        PeerMemory::OnlyPeer => None,
    };
    // An old version coming back: the hub took it from this peer (or the peer took it from the hub)
    // before, and resolved it against what it held then; its current version came after. A push
    // whose answer the peer never recorded (killed in between, Canopy or Trilium) is sent again.
    if !remote_wins && held.as_deref() == Some(remote.hash.as_str()) {
        return Ok((None, None));
    }
    // What a Trilium peer's edit was based on, where the hub knows it.
    let mut base = None;
    let sequential = match &record.canopy_parent_hash {
        // The incoming version was edited from ours. Only a newer change can be: if ours is newer,
        // it is a later version that returned to the state the incoming one was edited from (a
        // delete after a delete and an undelete), and the incoming edit is concurrent with it.
        Some(parent) if *parent == local.hash && remote_wins => true,
        // Ours was edited from the incoming one (it is an old version coming back). Only an older
        // change can be that: a hash names a state, not a version, and a newer change may return to
        // an earlier state (an undelete brings back the hash from before the delete) from elsewhere.
        _ if !remote_wins && ancestry::parent_of(conn, &local.entity_id, &local.hash)?.as_deref() == Some(remote.hash.as_str()) => true,
        // A Canopy peer names the last version it knows the hub took; a push the hub took but whose
        // answer the peer never recorded (either was killed in between) leaves it a version behind.
        // The hub knows better: if the peer held our version, its newer edit was made from it.
        Some(_) => remote_wins && held.as_deref() == Some(local.hash.as_str()),
        // A Trilium peer does not say what it edited from. Only proof that it held our version (it
        // sent it, or we sent it to it) makes the edit sequential; anything else keeps the loser.
        None => {
            // The peer held our version, so that is what it edited; but, as above, only a newer
            // change can have been made from ours: an older one was made from an earlier version in
            // the same state (ours returned to it, a delete undone), and is concurrent with ours.
            let made_from_ours =
                local.instance_id == peer_instance_id || (remote_wins && held.as_deref() == Some(local.hash.as_str()));
            if made_from_ours {
                return Ok((None, Some(local.hash.clone())));
            }
            // Concurrent; what it edited is the version it held, which goes on with its edit, so that
            // a Canopy client holding that version sees the edit as the sequential one it is there.
            base = held;
            false
        }
    };
    if sequential {
        return Ok((None, None));
    }
    let Some(local_note) = entities::load::<Note>(conn, &local.entity_id)? else { return Ok((None, base)) };
    let Some(row) = &record.entity else { return Ok((None, base)) };
    let remote_note: Note = serde_json::from_value(row.clone())
        .map_err(|e| DbError::Invalid(format!("note {} in sync batch: {e}", remote.entity_id)))?;
    if local_note.title == remote_note.title && local_note.blob_id == remote_note.blob_id {
        return Ok((None, base)); // only metadata differs; nothing a person wrote is lost
    }
    Ok((Some(if remote_wins { (remote_note, local_note) } else { (local_note, remote_note) }), base))
}

/// Saves the losing version as a revision (same id and dates on every instance) and logs the conflict.
fn keep_loser(
    tx: &mut WriteTx<'_>,
    winner: &Note,
    loser: &Note,
    incoming_won: bool,
    [winner_instance_id, loser_instance_id]: [String; 2],
) -> SqlResult<Conflict> {
    let revision_id = conflict_revision_id(&loser.note_id, loser.blob_id.as_deref(), &loser.title);
    let blob_present = match &loser.blob_id {
        Some(blob_id) => tx
            .conn()
            .query_row("SELECT 1 FROM blobs WHERE blobId = ?1", [blob_id], |_| Ok(()))
            .optional()?
            .is_some(),
        None => true,
    };
    let kept = if !blob_present {
        tracing::error!(
            "sync conflict on note {}: the losing content (blob {:?}) never arrived, so it cannot be kept",
            loser.note_id,
            loser.blob_id
        );
        None
    } else {
        if entities::load::<Revision>(tx.conn(), &revision_id)?.is_none() {
            // The losing text is often an old blob that the peers (the one whose edit won above all)
            // have already erased, its change behind their cursors: send it again with the revision.
            if let Some(blob_id) = &loser.blob_id {
                blob_users::reannounce(tx, blob_id)?;
            }
            let revision = Revision {
                revision_id: revision_id.clone(),
                note_id: loser.note_id.clone(),
                note_type: loser.note_type.clone(),
                mime: loser.mime.clone(),
                title: loser.title.clone(),
                is_protected: loser.is_protected,
                blob_id: loser.blob_id.clone(),
                utc_date_last_edited: loser.utc_date_modified.clone(),
                utc_date_created: loser.utc_date_modified.clone(),
                utc_date_modified: loser.utc_date_modified.clone(),
                date_last_edited: loser.date_modified.clone(),
                date_created: loser.date_modified.clone(),
            };
            entities::save(tx, &revision)?;
        }
        Some(revision_id)
    };
    let conflict = Conflict {
        note_id: loser.note_id.clone(),
        incoming_won,
        winner_date: winner.utc_date_modified.clone(),
        loser_date: loser.utc_date_modified.clone(),
        revision_id: kept,
        winner_instance_id: Some(winner_instance_id).filter(|id| !id.is_empty()),
        loser_instance_id: Some(loser_instance_id).filter(|id| !id.is_empty()),
    };
    record_conflict(tx, &conflict)?;
    tracing::warn!(
        "sync conflict on note {}: the version of {} won over the one of {}; the losing text is kept in revision {}",
        conflict.note_id,
        conflict.winner_date,
        conflict.loser_date,
        conflict.revision_id.as_deref().unwrap_or("(none)")
    );
    Ok(conflict)
}

/// 12 characters of `[0-9A-Za-z]` derived from the losing version.
fn conflict_revision_id(note_id: &str, blob_id: Option<&str>, title: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let digest = Sha256::digest(format!("canopy-conflict|{note_id}|{}|{title}", blob_id.unwrap_or("")));
    digest.iter().take(12).map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char).collect()
}

pub fn ensure_conflict_table(conn: &rusqlite::Connection) -> SqlResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS canopy_sync_conflicts (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             noteId TEXT NOT NULL,
             winnerDate TEXT NOT NULL,
             loserDate TEXT NOT NULL,
             revisionId TEXT,
             utcDateDetected TEXT NOT NULL
         )",
    )?;
    // Added later: rows written before have NULL there (the winner unknown, the side unknown).
    for (column, definition) in [("winnerInstanceId", "TEXT"), ("loserInstanceId", "TEXT"), ("incomingWon", "INTEGER")] {
        let present: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM pragma_table_info('canopy_sync_conflicts') WHERE name = ?1)",
            [column],
            |r| r.get(0),
        )?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE canopy_sync_conflicts ADD COLUMN {column} {definition}"))?;
        }
    }
    Ok(())
}

fn record_conflict(tx: &mut WriteTx<'_>, conflict: &Conflict) -> SqlResult<()> {
    ensure_conflict_table(tx.conn())?;
    let now = tx.utc_now();
    tx.conn().execute(
        "INSERT INTO canopy_sync_conflicts
             (noteId, winnerDate, loserDate, revisionId, utcDateDetected, winnerInstanceId, loserInstanceId, incomingWon)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            conflict.note_id,
            conflict.winner_date,
            conflict.loser_date,
            conflict.revision_id,
            now,
            conflict.winner_instance_id,
            conflict.loser_instance_id,
            conflict.incoming_won
        ],
    )?;
    Ok(())
}

/// One row of `canopy_sync_conflicts`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedConflict {
    pub id: i64,
    pub note_id: String,
    pub winner_date: String,
    pub loser_date: String,
    pub revision_id: Option<String>,
    pub utc_date_detected: String,
    /// `None` (also the next two) for rows recorded before Canopy kept it.
    pub winner_instance_id: Option<String>,
    pub loser_instance_id: Option<String>,
    /// `Some(true)`: the version this instance held lost to the one that arrived.
    pub incoming_won: Option<bool>,
}

/// The conflicts recorded on this instance, newest first.
pub fn recorded_conflicts(conn: &rusqlite::Connection, limit: i64) -> SqlResult<Vec<RecordedConflict>> {
    let exists: Option<i64> = conn
        .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'canopy_sync_conflicts'", [], |r| r.get(0))
        .optional()?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    // A table an older Canopy made lacks the later columns (reads run on read-only connections,
    // so they are not added here but by the next conflict written).
    let has_winner: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM pragma_table_info('canopy_sync_conflicts') WHERE name = 'winnerInstanceId')",
        [],
        |r| r.get(0),
    )?;
    let later = if has_winner { "winnerInstanceId, loserInstanceId, incomingWon" } else { "NULL, NULL, NULL" };
    let mut stmt = conn.prepare(&format!(
        "SELECT id, noteId, winnerDate, loserDate, revisionId, utcDateDetected, {later} FROM canopy_sync_conflicts
         ORDER BY id DESC LIMIT ?1"
    ))?;
    let rows = stmt
        .query_map([limit], |r| {
            Ok(RecordedConflict {
                id: r.get(0)?,
                note_id: r.get(1)?,
                winner_date: r.get(2)?,
                loser_date: r.get(3)?,
                revision_id: r.get(4)?,
                utc_date_detected: r.get(5)?,
                winner_instance_id: r.get(6)?,
                loser_instance_id: r.get(7)?,
                incoming_won: r.get(8)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
