//! The tree rule: after any batch of changes, every live note (but `root`) hangs under a live parent
//! through a live branch, and no live branch belongs to a deleted or missing note or parent.
//!
//! Concurrent deletes and edits break this without any single instance doing anything wrong: one
//! instance deletes a subtree (its branches and notes) while another edits a note inside it; the
//! edit is newer, so that note wins alive while its branches stay deleted. The rule repairs it the
//! way the edit meant it: the note goes back where it was.
//!
//! * A live note without a live branch under a live parent gets one back: among its branches, one
//!   whose parent is alive comes first, then the most recently changed (`utcDateModified`, then
//!   `branchId`); it is undeleted, and if its parent is deleted that parent is revived the same way,
//!   up the chain. A branch that would close a cycle, or hang under a search note, is never chosen;
//!   with no usable branch the note goes under `root` with the prefix `recovered`, as Trilium's
//!   consistency check does. Undeleting a branch also undeletes what its delete took from the note
//!   (owned attributes and attachments with the same `deleteId`).
//! * A live branch whose note or parent is deleted or missing (and which the first part did not
//!   need) is deleted; missing counts only on the whole document, since within a batch the note may
//!   still be on its way.
//! * A live attribute of a deleted note, where the delete is newer than the attribute (one instance
//!   labels a note while another deletes it), is deleted with the note, as Trilium's consistency
//!   checks do (same deleteId, so undeleting the note brings it back). An attribute newer than the
//!   delete may be the half of an undelete whose note is still on its way, and is left to the
//!   consistency checks that run on the whole document.
//!
//! Every instance that sees the same rows makes the same repair: no random ids, and each repaired
//! row's `utcDateModified` is derived from the rows involved (1 ms after the newest of them), so the
//! repair wins over the delete it undoes under newer-wins, and two instances that made it on their
//! own hold identical rows and identical `entity_changes` hashes and dates (nothing ping-pongs).
use std::collections::BTreeSet;

use rusqlite::{params, Connection, OptionalExtension};

use super::{protected, tree, SqlResult, WriteTx};
use crate::entities::{self, Attachment, Attribute, Branch, Note};
use crate::hashing;

/// Which notes and branches to look at.
#[derive(Debug, Clone, Copy)]
pub enum TreeScope<'a> {
    /// The whole document (the consistency checks).
    All,
    /// What a batch changed: its notes, branches and attributes (the rule adds their neighbours: the
    /// notes of the branches, the children and attributes of deleted notes). Indexed lookups only.
    Touched { notes: &'a [String], branches: &'a [String], attributes: &'a [String] },
}

/// One repair the rule made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeRepair {
    pub note_id: String,
    pub what: String,
}

/// What it takes to put a note back in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evidence {
    /// Only a note (or branch) changed after the delete that took its place: an edit that won over
    /// a concurrent delete. A batch may end between a delete's branches and its notes (the next one
    /// brings the note's own delete), and such a note, older than the delete, is left to the
    /// consistency checks that run once the whole pull is in.
    NewerThanTheDelete,
    /// Any live note out of the tree (the consistency checks, on a complete document).
    Any,
}

/// The one note without a parent, and where notes without a place go.
const ROOT: &str = "root";
/// Trilium's prefix for a branch it creates under `root` to recover a note.
const RECOVERED_PREFIX: &str = "recovered";

/// Applies the tree rule to `scope`; logs and returns each repair.
pub fn keep_whole(tx: &mut WriteTx<'_>, scope: TreeScope<'_>) -> SqlResult<Vec<TreeRepair>> {
    let (notes, branches, evidence) = match scope {
        TreeScope::All => (unattached_notes(tx.conn())?, dead_branches(tx.conn())?, Evidence::Any),
        TreeScope::Touched { notes, branches, .. } => {
            let (notes, branches) = neighbourhood(tx.conn(), notes, branches)?;
            (notes, branches, Evidence::NewerThanTheDelete)
        }
    };
    let mut repairs = Vec::new();
    for note_id in &notes {
        attach(tx, note_id, evidence, &mut Vec::new(), &mut repairs)?;
    }
    for branch_id in &branches {
        settle_dead_branch(tx, branch_id, evidence, &mut repairs)?;
    }
    // After the notes' repairs: a note brought back keeps its attributes. The whole document's
    // attributes are the consistency checks' (`parts_of_deleted_notes`), which make the same fix.
    if let TreeScope::Touched { notes, attributes, .. } = scope {
        for attribute_id in attributes_outliving_their_delete(tx.conn(), notes, attributes)? {
            delete_with_its_note(tx, &attribute_id, &mut repairs)?;
        }
    }
    for repair in &repairs {
        tracing::warn!("tree rule: note {}: {}", repair.note_id, repair.what);
    }
    Ok(repairs)
}

/// `date` plus one millisecond (Trilium's format); unchanged if it does not parse.
pub fn one_ms_after(date: &str) -> String {
    shifted(date, 1)
}

/// `date` minus one millisecond, as [`one_ms_after`].
pub fn one_ms_before(date: &str) -> String {
    shifted(date, -1)
}

fn shifted(date: &str, ms: i64) -> String {
    match hashing::parse_utc_date_time(date) {
        Some(t) => hashing::utc_date_time_str(t + chrono::Duration::milliseconds(ms)),
        None => date.to_owned(),
    }
}

fn newest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a >= b {
        a
    } else {
        b
    }
}

fn column(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> SqlResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let v = stmt.query_map(p, |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(v)
}

fn unattached_notes(conn: &Connection) -> SqlResult<BTreeSet<String>> {
    Ok(column(
        conn,
        "SELECT n.noteId FROM notes n WHERE n.isDeleted = 0 AND n.noteId != 'root' AND NOT EXISTS (
             SELECT 1 FROM branches b JOIN notes p ON p.noteId = b.parentNoteId
             WHERE b.noteId = n.noteId AND b.isDeleted = 0 AND p.isDeleted = 0)",
        [],
    )?
    .into_iter()
    .collect())
}

fn dead_branches(conn: &Connection) -> SqlResult<BTreeSet<String>> {
    Ok(column(
        conn,
        "SELECT b.branchId FROM branches b
           LEFT JOIN notes n ON n.noteId = b.noteId
           LEFT JOIN notes p ON p.noteId = b.parentNoteId
         WHERE b.isDeleted = 0 AND b.noteId != 'root'
           AND (n.noteId IS NULL OR n.isDeleted = 1 OR p.noteId IS NULL OR p.isDeleted = 1)",
        [],
    )?
    .into_iter()
    .collect())
}

/// The notes that may have lost their place and the branches that may have lost their note or
/// parent, around what a batch touched, narrowed to those that did: a few queries per 500 ids, so a
/// 1,000-row page of a first full sync pays little.
fn neighbourhood(conn: &Connection, notes: &[String], branches: &[String]) -> SqlResult<(BTreeSet<String>, BTreeSet<String>)> {
    let mut check_notes: BTreeSet<String> = notes.iter().cloned().collect();
    let mut check_branches: BTreeSet<String> = branches.iter().cloned().collect();
    check_notes.extend(each_chunk(conn, "SELECT noteId FROM branches WHERE branchId IN ({ids})", branches)?);
    let live = each_chunk(conn, "SELECT noteId FROM notes WHERE isDeleted = 0 AND noteId IN ({ids})", notes)?;
    let gone: Vec<String> = notes.iter().filter(|id| !live.contains(*id)).cloned().collect();
    // A deleted (or erased) note: its own live branches die, its children may need it back.
    check_branches.extend(each_chunk(conn, "SELECT branchId FROM branches WHERE isDeleted = 0 AND noteId IN ({ids})", &gone)?);
    check_branches.extend(each_chunk(conn, "SELECT branchId FROM branches WHERE isDeleted = 0 AND parentNoteId IN ({ids})", &gone)?);
    check_notes.extend(each_chunk(conn, "SELECT noteId FROM branches WHERE isDeleted = 0 AND parentNoteId IN ({ids})", &gone)?);
    let check_notes: Vec<String> = check_notes.into_iter().collect();
    let check_branches: Vec<String> = check_branches.into_iter().collect();
    Ok((
        each_chunk(
            conn,
            "SELECT n.noteId FROM notes n WHERE n.noteId IN ({ids}) AND n.isDeleted = 0 AND n.noteId != 'root' AND NOT EXISTS (
                 SELECT 1 FROM branches b JOIN notes p ON p.noteId = b.parentNoteId
                 WHERE b.noteId = n.noteId AND b.isDeleted = 0 AND p.isDeleted = 0)",
            &check_notes,
        )?,
        each_chunk(
            conn,
            "SELECT b.branchId FROM branches b
               LEFT JOIN notes n ON n.noteId = b.noteId
               LEFT JOIN notes p ON p.noteId = b.parentNoteId
             WHERE b.branchId IN ({ids}) AND b.isDeleted = 0 AND b.noteId != 'root'
               AND (n.noteId IS NULL OR n.isDeleted = 1 OR p.noteId IS NULL OR p.isDeleted = 1)",
            &check_branches,
        )?,
    ))
}

/// Live attributes older than the delete of their (deleted) note, among the touched attributes and
/// those of the touched notes.
fn attributes_outliving_their_delete(conn: &Connection, notes: &[String], attributes: &[String]) -> SqlResult<BTreeSet<String>> {
    let select = |by: &str| {
        format!(
            "SELECT a.attributeId FROM attributes a JOIN notes n ON n.noteId = a.noteId
             WHERE {by} IN ({{ids}}) AND a.isDeleted = 0 AND n.isDeleted = 1 AND a.utcDateModified <= n.utcDateModified"
        )
    };
    let mut out = each_chunk(conn, &select("a.attributeId"), attributes)?;
    out.extend(each_chunk(conn, &select("a.noteId"), notes)?);
    Ok(out)
}

/// Deletes a live attribute of a deleted note as Trilium's consistency checks would.
fn delete_with_its_note(tx: &mut WriteTx<'_>, attribute_id: &str, repairs: &mut Vec<TreeRepair>) -> SqlResult<()> {
    let attribute: Attribute = entities::get(tx.conn(), attribute_id)?;
    let note: Note = entities::get(tx.conn(), &attribute.note_id)?;
    repairs.push(TreeRepair {
        note_id: note.note_id.clone(),
        what: format!("its attribute {} was deleted with it: the note's delete is newer", attribute.attribute_id),
    });
    delete_attribute(tx, attribute, Some(&note))
}

/// Deletes an attribute; `cause` is the deleted note that takes it along (its deleteId, and 1 ms
/// after the newer of the two).
pub(super) fn delete_attribute(tx: &mut WriteTx<'_>, mut attribute: Attribute, cause: Option<&Note>) -> SqlResult<()> {
    let date = match cause {
        Some(note) => newest(&note.utc_date_modified, &attribute.utc_date_modified).to_owned(),
        None => attribute.utc_date_modified.clone(),
    };
    attribute.is_deleted = true;
    attribute.delete_id = cause.and_then(|n| n.delete_id.clone());
    attribute.utc_date_modified = one_ms_after(&date);
    entities::save(tx, &attribute)?;
    Ok(())
}

/// Runs `sql` (its `{ids}` replaced by placeholders) over `ids` in chunks; the first column of every row.
fn each_chunk(conn: &Connection, sql: &str, ids: &[String]) -> SqlResult<BTreeSet<String>> {
    const CHUNK: usize = 500;
    let mut out = BTreeSet::new();
    for chunk in ids.chunks(CHUNK) {
        let placeholders = vec!["?"; chunk.len()].join(",");
        let mut stmt = conn.prepare_cached(&sql.replace("{ids}", &placeholders))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(chunk), |r| r.get::<_, String>(0))?;
        for row in rows {
            out.insert(row?);
        }
    }
    Ok(out)
}

/// Whether the note has a live branch under a live parent note.
fn is_attached(conn: &Connection, note_id: &str) -> SqlResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM branches b JOIN notes p ON p.noteId = b.parentNoteId
             WHERE b.noteId = ?1 AND b.isDeleted = 0 AND p.isDeleted = 0 LIMIT 1",
        )?
        .query_row([note_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Makes a live note attached again (see the module doc); `chain` holds the notes below it that
/// wait for it, so no revival goes round in a circle.
fn attach(
    tx: &mut WriteTx<'_>,
    note_id: &str,
    evidence: Evidence,
    chain: &mut Vec<String>,
    repairs: &mut Vec<TreeRepair>,
) -> SqlResult<()> {
    let Some(note) = entities::load::<Note>(tx.conn(), note_id)? else { return Ok(()) };
    if note.is_deleted || note.note_id == ROOT || is_attached(tx.conn(), note_id)? {
        return Ok(());
    }
    let candidates: Vec<Branch> = entities::load_where(
        tx.conn(),
        "noteId = ?1 AND parentNoteId != ?1 AND parentNoteId IN (SELECT noteId FROM notes)
         ORDER BY (SELECT isDeleted FROM notes WHERE noteId = branches.parentNoteId), utcDateModified DESC, branchId",
        [note_id],
    )?;
    let mut chosen = None;
    for branch in candidates {
        let parent: Note = entities::get(tx.conn(), &branch.parent_note_id)?;
        let newer = |than: &str| newest(&note.utc_date_modified, &branch.utc_date_modified) > than;
        let wins = evidence == Evidence::Any
            || ((!branch.is_deleted || note.utc_date_modified > branch.utc_date_modified)
                && (!parent.is_deleted || newer(&parent.utc_date_modified)));
        let usable = wins
            && parent.note_type != "search"
            && !chain.contains(&parent.note_id)
            && !tree::is_ancestor(tx.conn(), note_id, &parent.note_id)?
            // A protected note's hash needs its decrypted title, so only a protected session revives one.
            && !(parent.is_deleted && parent.is_protected && tx.key().is_none());
        if usable {
            chosen = Some((branch, parent));
            break;
        }
    }
    let Some((mut branch, parent)) = chosen else {
        return match evidence {
            Evidence::Any => attach_under_root(tx, &note, repairs),
            Evidence::NewerThanTheDelete => Ok(()),
        };
    };
    if branch.is_deleted {
        let delete_id = branch.delete_id.clone();
        branch.is_deleted = false;
        branch.utc_date_modified = one_ms_after(&branch.utc_date_modified);
        entities::save(tx, &branch)?;
        repairs.push(TreeRepair {
            note_id: note_id.to_owned(),
            what: format!("had no live branch; its branch {} under {} was restored", branch.branch_id, parent.note_id),
        });
        if let Some(delete_id) = delete_id {
            restore_parts(tx, note_id, &delete_id, repairs)?;
        }
    }
    if parent.is_deleted {
        revive_note(tx, parent.clone(), repairs)?;
        chain.push(note_id.to_owned());
        attach(tx, &parent.note_id, evidence, chain, repairs)?;
        chain.pop();
    }
    Ok(())
}

/// Undeletes a note (no other change), and what its delete took from it.
fn revive_note(tx: &mut WriteTx<'_>, mut note: Note, repairs: &mut Vec<TreeRepair>) -> SqlResult<()> {
    note.is_deleted = false;
    note.utc_date_modified = one_ms_after(&note.utc_date_modified);
    protected::save_note_row(tx, &note)?;
    repairs.push(TreeRepair {
        note_id: note.note_id.clone(),
        what: "was deleted, but a newer change keeps a note in its place; it was restored".into(),
    });
    if let Some(delete_id) = note.delete_id.clone() {
        restore_parts(tx, &note.note_id, &delete_id, repairs)?;
    }
    Ok(())
}

/// Undeletes the note's own attributes and attachments that the delete `delete_id` took along.
fn restore_parts(tx: &mut WriteTx<'_>, note_id: &str, delete_id: &str, repairs: &mut Vec<TreeRepair>) -> SqlResult<()> {
    let attributes: Vec<Attribute> = entities::load_where(
        tx.conn(),
        "noteId = ?1 AND isDeleted = 1 AND deleteId = ?2 ORDER BY attributeId",
        params![note_id, delete_id],
    )?;
    for mut attribute in attributes {
        attribute.is_deleted = false;
        attribute.utc_date_modified = one_ms_after(&attribute.utc_date_modified);
        entities::save(tx, &attribute)?;
        repairs.push(TreeRepair { note_id: note_id.to_owned(), what: format!("its attribute {} was restored", attribute.attribute_id) });
    }
    let attachments: Vec<Attachment> = entities::load_where(
        tx.conn(),
        "ownerId = ?1 AND isDeleted = 1 AND deleteId = ?2 ORDER BY attachmentId",
        params![note_id, delete_id],
    )?;
    for mut attachment in attachments {
        if attachment.is_protected && tx.key().is_none() {
            continue;
        }
        attachment.is_deleted = false;
        attachment.utc_date_modified = one_ms_after(&attachment.utc_date_modified);
        protected::save_attachment_row(tx, &attachment)?;
        repairs.push(TreeRepair { note_id: note_id.to_owned(), what: format!("its attachment {} was restored", attachment.attachment_id) });
    }
    Ok(())
}

/// Trilium's fallback: a branch under `root` with the prefix `recovered`, at the top.
fn attach_under_root(tx: &mut WriteTx<'_>, note: &Note, repairs: &mut Vec<TreeRepair>) -> SqlResult<()> {
    let branch_id = Branch::id_for(ROOT, &note.note_id);
    let existing = entities::load::<Branch>(tx.conn(), &branch_id)?;
    let date = match &existing {
        Some(b) => one_ms_after(newest(&b.utc_date_modified, &note.utc_date_modified)),
        None => one_ms_after(&note.utc_date_modified),
    };
    let branch = Branch {
        branch_id,
        note_id: note.note_id.clone(),
        parent_note_id: ROOT.into(),
        // Positions are not hashed and each instance may hold other siblings: a fixed one keeps rows equal.
        note_position: 0,
        prefix: Some(RECOVERED_PREFIX.into()),
        is_expanded: false,
        is_deleted: false,
        delete_id: existing.and_then(|b| b.delete_id),
        utc_date_modified: date,
    };
    entities::save(tx, &branch)?;
    repairs.push(TreeRepair {
        note_id: note.note_id.clone(),
        what: format!("had no live branch and no place to go back to; it was put under root as '{RECOVERED_PREFIX}'"),
    });
    Ok(())
}

/// A live branch whose note or parent is deleted or missing: a branch newer than its note's delete
/// (a clone or a move that won over it) brings the note back; otherwise the branch is deleted.
fn settle_dead_branch(tx: &mut WriteTx<'_>, branch_id: &str, evidence: Evidence, repairs: &mut Vec<TreeRepair>) -> SqlResult<()> {
    let Some(mut branch) = entities::load::<Branch>(tx.conn(), branch_id)? else { return Ok(()) };
    if branch.is_deleted || branch.note_id == ROOT {
        return Ok(());
    }
    let note = entities::load::<Note>(tx.conn(), &branch.note_id)?;
    if let Some(note) = note.as_ref().filter(|n| n.is_deleted) {
        let revivable = !(note.is_protected && tx.key().is_none());
        if branch.utc_date_modified > note.utc_date_modified && revivable {
            let note_id = note.note_id.clone();
            revive_note(tx, note.clone(), repairs)?;
            return attach(tx, &note_id, evidence, &mut Vec::new(), repairs);
        }
    }
    let parent = entities::load::<Note>(tx.conn(), &branch.parent_note_id)?;
    if evidence == Evidence::NewerThanTheDelete && (note.is_none() || parent.is_none()) {
        // Within a pull or a push, a branch can come a batch before its note or its parent (a note
        // changed after its children were made comes later in the log): missing is not yet broken.
        return Ok(());
    }
    let (cause, why) = match (&note, &parent) {
        (None, _) => (None, "its note is missing"),
        (Some(n), _) if n.is_deleted => (Some(n), "its note is deleted"),
        (_, None) => (None, "its parent note is missing"),
        (_, Some(p)) if p.is_deleted => (Some(p), "its parent note is deleted"),
        _ => return Ok(()),
    };
    branch.is_deleted = true;
    branch.delete_id = cause.and_then(|n| n.delete_id.clone());
    branch.utc_date_modified =
        one_ms_after(cause.map_or(branch.utc_date_modified.as_str(), |n| newest(&branch.utc_date_modified, &n.utc_date_modified)));
    entities::save(tx, &branch)?;
    repairs.push(TreeRepair {
        note_id: branch.note_id.clone(),
        what: format!("branch {} under {} was deleted: {why}", branch.branch_id, branch.parent_note_id),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tree::NewNote;
    use crate::db::{ChangeSource, Document};

    /// Rows and change fingerprints (hash, date) of the tree tables, for comparing two documents.
    fn tree_state(document: &Document) -> Vec<String> {
        document
            .read(|conn| {
                let mut out = column(
                    conn,
                    "SELECT 'note ' || noteId || ' ' || isDeleted || ' ' || IFNULL(deleteId, '-') || ' ' || utcDateModified FROM notes
                     UNION ALL SELECT 'branch ' || branchId || ' ' || isDeleted || ' ' || IFNULL(deleteId, '-') || ' ' ||
                         notePosition || ' ' || IFNULL(prefix, '-') || ' ' || utcDateModified FROM branches
                     UNION ALL SELECT 'attribute ' || attributeId || ' ' || isDeleted || ' ' || utcDateModified FROM attributes
                     UNION ALL SELECT 'change ' || entityName || ' ' || entityId || ' ' || hash || ' ' || utcDateChanged
                         FROM entity_changes WHERE entityName IN ('notes', 'branches', 'attributes')",
                    [],
                )?;
                out.sort();
                Ok(out)
            })
            .unwrap()
    }

    /// The delete-vs-edit race as it arrives: the parent `P` and the child `C` deleted with their
    /// branches (and C's label), but C's edited row won, alive.
    fn break_tree(document: &Document, parent: &str, child: &str) {
        let conn = rusqlite::Connection::open(document.path()).unwrap();
        conn.execute_batch(&format!(
            "UPDATE notes SET isDeleted = 1, deleteId = 'race', utcDateModified = '2026-01-01 10:00:00.000Z' WHERE noteId = '{parent}';
             UPDATE branches SET isDeleted = 1, deleteId = 'race', utcDateModified = '2026-01-01 10:00:00.000Z'
                 WHERE noteId IN ('{parent}', '{child}');
             UPDATE attributes SET isDeleted = 1, deleteId = 'race', utcDateModified = '2026-01-01 10:00:00.000Z'
                 WHERE noteId = '{child}';
             UPDATE notes SET utcDateModified = '2026-01-01 10:00:05.000Z' WHERE noteId = '{child}';"
        ))
        .unwrap();
    }

    #[test]
    fn two_instances_make_the_same_repair_from_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let first = Document::open_or_create(&dir.path().join("a.db"), "instanceA").unwrap();
        let source_a = ChangeSource::new("instanceA");
        let (parent, child) = first
            .write(&source_a, |tx| {
                let parent = tree::create_note(tx, NewNote::text("root", "Parent", "<p>p</p>"))?.0.note_id;
                let child = tree::create_note(tx, NewNote::text(&parent, "Child", "<p>c</p>"))?.0.note_id;
                let mut label = Attribute::new(&child, "label", "status", "kept");
                label.utc_date_modified = tx.utc_now();
                entities::save(tx, &label)?;
                Ok((parent, child))
            })
            .unwrap();
        first.checkpoint().unwrap();
        crate::db::backup::backup_to(first.path(), &dir.path().join("b.db")).unwrap();
        let second = Document::open_existing(&dir.path().join("b.db")).unwrap();
        break_tree(&first, &parent, &child);
        break_tree(&second, &parent, &child);
        assert_eq!(tree_state(&first), tree_state(&second), "the same broken state on both");

        // Different instances, different clocks, one looking at the whole document, one at a batch.
        let a_repairs = first
            .write_at(&source_a, Some(chrono::Utc::now()), |tx| keep_whole(tx, TreeScope::All))
            .unwrap();
        let later = chrono::Utc::now() + chrono::Duration::hours(3);
        let touched = [child.clone()];
        let b_repairs = second
            .write_at(&ChangeSource::new("instanceB"), Some(later), |tx| {
                keep_whole(tx, TreeScope::Touched { notes: &touched, branches: &[], attributes: &[] })
            })
            .unwrap();
        assert_eq!(a_repairs, b_repairs);
        assert!(!a_repairs.is_empty());
        assert_eq!(tree_state(&first), tree_state(&second), "both repaired alike");

        let (branch, parent_note) = first
            .read(|conn| {
                Ok((
                    entities::get::<Branch>(conn, &Branch::id_for(&parent, &child))?,
                    entities::get::<Note>(conn, &parent)?,
                ))
            })
            .unwrap();
        assert!(!branch.is_deleted, "the child's branch is back");
        assert_eq!(branch.utc_date_modified, "2026-01-01 10:00:00.001Z", "1 ms after the delete it undoes");
        assert!(!parent_note.is_deleted, "the parent is back, so the child is in the tree");
        let (attached, labels) = first
            .read(|conn| {
                Ok((
                    is_attached(conn, &parent)? && is_attached(conn, &child)?,
                    entities::load_where::<Attribute>(conn, "noteId = ?1", [&child])?,
                ))
            })
            .unwrap();
        assert!(attached);
        assert!(labels.iter().all(|a| !a.is_deleted), "what the delete took from the child is back: {labels:?}");
        // Nothing left to do: the rule is idempotent.
        assert!(first.write(&source_a, |tx| keep_whole(tx, TreeScope::All)).unwrap().is_empty());
    }
}
