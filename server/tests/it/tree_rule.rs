//! The tree rule and Trilium's consistency checks on real instances: a delete racing an edit leaves
//! the edited note in the tree everywhere, and damage of every kind Trilium's checks fix is fixed
//! alike on two instances.
use std::path::Path;
use std::time::Duration;

use canopy::db::{deletion, ChangeSource, Document};
use canopy::entities::{self, Attribute, Blob, BlobContent, Branch, Note, Revision};

use crate::cluster::{cluster, Node};

fn strings(document: &Document, sql: &str) -> Vec<String> {
    document
        .read(|conn| {
            let mut stmt = conn.prepare(sql)?;
            let mut rows = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            rows.sort();
            Ok(rows)
        })
        .unwrap()
}

/// Live notes (but root) without a live branch under a live parent, and live branches whose note
/// or parent is deleted or missing.
fn broken_tree(document: &Document) -> (Vec<String>, Vec<String>) {
    let orphans = strings(
        document,
        "SELECT n.noteId FROM notes n WHERE n.isDeleted = 0 AND n.noteId != 'root' AND NOT EXISTS (
             SELECT 1 FROM branches b JOIN notes p ON p.noteId = b.parentNoteId
             WHERE b.noteId = n.noteId AND b.isDeleted = 0 AND p.isDeleted = 0)",
    );
    let dead = strings(
        document,
        "SELECT b.branchId FROM branches b
           LEFT JOIN notes n ON n.noteId = b.noteId LEFT JOIN notes p ON p.noteId = b.parentNoteId
         WHERE b.isDeleted = 0 AND b.noteId != 'root'
           AND (n.noteId IS NULL OR n.isDeleted = 1 OR p.noteId IS NULL OR p.isDeleted = 1)",
    );
    (orphans, dead)
}

/// The synced rows that matter here, with their change fingerprints (hash, date; an erasure's date
/// is each instance's own moment).
fn rows(document: &Document) -> Vec<String> {
    strings(
        document,
        "SELECT 'note ' || noteId || '|' || title || '|' || type || '|' || IFNULL(blobId, '-') || '|' || isDeleted || '|' ||
                IFNULL(deleteId, '-') || '|' || utcDateModified FROM notes
         UNION ALL SELECT 'branch ' || branchId || '|' || noteId || '|' || parentNoteId || '|' || isDeleted || '|' ||
                IFNULL(deleteId, '-') || '|' || IFNULL(prefix, '-') || '|' || notePosition || '|' || utcDateModified FROM branches
         UNION ALL SELECT 'attribute ' || attributeId || '|' || type || '|' || name || '|' || value || '|' || isDeleted || '|' ||
                IFNULL(deleteId, '-') || '|' || utcDateModified FROM attributes
         UNION ALL SELECT 'revision ' || revisionId FROM revisions
         UNION ALL SELECT 'change ' || entityName || '|' || entityId || '|' || hash || '|' || isErased || '|' ||
                CASE isErased WHEN 1 THEN '' ELSE utcDateChanged END
             FROM entity_changes WHERE entityName IN ('notes', 'branches', 'attributes', 'revisions', 'blobs')",
    )
}

fn live_branch(node: &Node, branch_id: &str) -> bool {
    node.document().read(|c| entities::load::<Branch>(c, branch_id)).unwrap().is_some_and(|b| !b.is_deleted)
}

/// Client `a` deletes a parent (the cascade takes its subtree) while offline; the hub edits a child's
/// content later. The edit wins the note row; without the tree rule the child would be alive in no
/// tree on all three instances.
#[tokio::test(flavor = "multi_thread")]
async fn an_edit_racing_the_delete_of_its_parent_stays_in_the_tree_everywhere() {
    let (hub, mut a, b) = cluster().await;
    let parent = a.create_note("root", "Parent", "<p>parent</p>");
    let child = a.create_note(&parent, "Child", "<p>v1</p>");
    let sibling = a.create_note(&parent, "Sibling", "<p>nobody edits this</p>");
    a.sync().await;
    b.sync().await;

    a.stop().await;
    {
        let document = Document::open_existing(&a.data_dir().join("document.db")).unwrap();
        document.write(&ChangeSource::new(a.instance_id()), |tx| deletion::delete_note(tx, &parent)).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    hub.set_content(&child, "<p>edited on the hub, after the delete</p>");
    a.restart().await;
    a.sync().await;
    b.sync().await;
    a.sync().await;
    b.sync().await;

    for (name, node) in [("hub", &hub), ("a", &a), ("b", &b)] {
        assert_eq!(broken_tree(node.document()), (vec![], vec![]), "{name}: no orphan, no dead branch");
        let note = node.note(&child).unwrap();
        assert!(!note.is_deleted, "{name}: the edited child is alive");
        assert_eq!(node.content(&child).as_deref(), Some("<p>edited on the hub, after the delete</p>"), "{name}");
        assert!(live_branch(node, &Branch::id_for(&parent, &child)), "{name}: the child is back where it was");
        assert!(live_branch(node, &Branch::id_for("root", &parent)), "{name}: and so is its parent");
        assert!(node.note(&sibling).unwrap().is_deleted, "{name}: the delete stands for what nobody edited");
    }
    assert_eq!(rows(a.document()), rows(hub.document()), "a and the hub hold the same rows");
    assert_eq!(rows(b.document()), rows(hub.document()), "b and the hub hold the same rows");
    let hashes = hub.sector_hashes();
    assert_eq!(a.sector_hashes(), hashes);
    assert_eq!(b.sector_hashes(), hashes);
}

/// The ids of the notes `damage` breaks.
struct Damaged {
    orphan: String,
    deleted: String,
    deleted_label: String,
    revived: String,
    cloned: String,
    gone_parent: String,
    relation: String,
    contentless: String,
    odd_type: String,
    odd_attribute: String,
    badly_named: String,
    duplicated: String,
    cycle_top: String,
    cycle_bottom: String,
    search: String,
    found: String,
    revision: String,
}

const BROKEN_AT: &str = "2026-06-01 12:00:00.000Z";
const BEFORE_BROKEN: &str = "2026-05-01 12:00:00.000Z";

fn prepare(hub: &Node) -> Damaged {
    let note = |parent: &str, title: &str| hub.create_note(parent, title, &format!("<p>{title}</p>"));
    let source = ChangeSource::new(hub.instance_id());
    let orphan = note("root", "Orphan");
    let deleted = note("root", "Deleted");
    let revived = note("root", "Revived");
    let gone_parent = note("root", "Gone parent");
    let cloned = note("root", "Cloned");
    let contentless = note("root", "Contentless");
    let odd_type = note("root", "Odd type");
    let duplicated = note("root", "Duplicated");
    let cycle_top = note("root", "Cycle top");
    let cycle_bottom = note(&cycle_top, "Cycle bottom");
    let search = note("root", "Search");
    let found = note(&search, "Found");
    let (deleted_label, relation, odd_attribute, badly_named, revision) = hub
        .document()
        .write(&source, |tx| {
            canopy::db::tree::clone_to_parent(tx, &cloned, &gone_parent, None)?;
            let mut ids = Vec::new();
            for (owner, kind, name, value) in [
                (&deleted, "label", "status", ""),
                (&orphan, "relation", "pointsAt", "nowhere00001"),
                (&orphan, "bogus", "kind", "x"),
                (&orphan, "label", "bad name!", ""),
            ] {
                let mut attribute = Attribute::new(owner, kind, name, value);
                attribute.utc_date_modified = tx.utc_now();
                entities::save(tx, &attribute)?;
                ids.push(attribute.attribute_id);
            }
            let now = tx.utc_now();
            let revision = Revision {
                revision_id: "revNoBlob001".into(),
                note_id: orphan.clone(),
                note_type: "text".into(),
                mime: "text/html".into(),
                title: "Orphan, earlier".into(),
                is_protected: false,
                blob_id: Some("blobThatNeverCame001".into()),
                utc_date_last_edited: now.clone(),
                utc_date_created: now.clone(),
                utc_date_modified: now,
                date_last_edited: tx.local_now(),
                date_created: tx.local_now(),
            };
            entities::save(tx, &revision)?;
            Ok((ids[0].clone(), ids[1].clone(), ids[2].clone(), ids[3].clone(), revision.revision_id))
        })
        .unwrap();
    Damaged {
        orphan,
        deleted,
        deleted_label,
        revived,
        cloned,
        gone_parent,
        relation,
        contentless,
        odd_type,
        odd_attribute,
        badly_named,
        duplicated,
        cycle_top,
        cycle_bottom,
        search,
        found,
        revision,
    }
}

/// Breaks a stopped instance's document in every way Trilium's checks fix, the same way each time:
/// rows saved with fixed dates (as a peer or another tool would have written them), or written
/// without their change (as an interrupted import leaves them).
fn damage(path: &Path, d: &Damaged) {
    let document = Document::open_existing(path).unwrap();
    document
        .write(&ChangeSource::new("breaker"), |tx| {
            let at = |mut b: Branch, deleted: bool| {
                b.is_deleted = deleted;
                b.delete_id = deleted.then(|| "broken".to_owned());
                b.utc_date_modified = BROKEN_AT.into();
                b
            };
            let branch = |tx: &canopy::db::WriteTx<'_>, parent: &str, note: &str| {
                entities::get::<Branch>(tx.conn(), &Branch::id_for(parent, note))
            };
            let deleted_note = |mut n: Note| {
                n.is_deleted = true;
                n.delete_id = Some("broken".into());
                n.utc_date_modified = BROKEN_AT.into();
                n
            };
            // A live note without a live branch.
            let b = at(branch(tx, "root", &d.orphan)?, true);
            entities::save(tx, &b)?;
            // A deleted note whose branch (older than the delete) and label are still alive.
            let n = deleted_note(entities::get(tx.conn(), &d.deleted)?);
            entities::save(tx, &n)?;
            let b = Branch { utc_date_modified: BEFORE_BROKEN.into(), ..branch(tx, "root", &d.deleted)? };
            entities::save(tx, &b)?;
            // A deleted note whose live branch is newer than the delete (a clone that won over it).
            let n = Note { utc_date_modified: BEFORE_BROKEN.into(), ..deleted_note(entities::get(tx.conn(), &d.revived)?) };
            entities::save(tx, &n)?;
            let b = at(branch(tx, "root", &d.revived)?, false);
            entities::save(tx, &b)?;
            // A deleted parent whose clone's branch under it is still alive.
            let n = deleted_note(entities::get(tx.conn(), &d.gone_parent)?);
            entities::save(tx, &n)?;
            let b = at(branch(tx, "root", &d.gone_parent)?, true);
            entities::save(tx, &b)?;
            // A branch of a note that does not exist, without its change.
            let ghost = Branch {
                branch_id: "root_ghostNote0001".into(),
                note_id: "ghostNote0001".into(),
                parent_note_id: "root".into(),
                note_position: 5000,
                prefix: None,
                is_expanded: false,
                is_deleted: false,
                delete_id: None,
                utc_date_modified: BROKEN_AT.into(),
            };
            entities::upsert_row(tx.conn(), &ghost)?;
            // A note whose content never arrived.
            let n: Note = entities::get(tx.conn(), &d.contentless)?;
            let blob = n.blob_id.clone().unwrap();
            tx.conn().execute("DELETE FROM blobs WHERE blobId = ?1", [&blob])?;
            tx.conn().execute("DELETE FROM entity_changes WHERE entityName = 'blobs' AND entityId = ?1", [&blob])?;
            // A note type Trilium does not know.
            let mut n: Note = entities::get(tx.conn(), &d.odd_type)?;
            n.note_type = "weird".into();
            n.utc_date_modified = BROKEN_AT.into();
            entities::save(tx, &n)?;
            // Two live branches of one note under one parent.
            let duplicate = Branch { branch_id: "dupBranch0001".into(), ..at(branch(tx, "root", &d.duplicated)?, false) };
            entities::save(tx, &duplicate)?;
            // A cycle: the top note also under the bottom one.
            let cycle = Branch {
                branch_id: Branch::id_for(&d.cycle_bottom, &d.cycle_top),
                note_id: d.cycle_top.clone(),
                parent_note_id: d.cycle_bottom.clone(),
                ..at(branch(tx, "root", &d.cycle_top)?, false)
            };
            entities::save(tx, &cycle)?;
            // A search note with a child.
            let mut n: Note = entities::get(tx.conn(), &d.search)?;
            n.note_type = "search".into();
            n.utc_date_modified = BROKEN_AT.into();
            entities::save(tx, &n)?;
            Ok(())
        })
        .unwrap();
}

/// Every kind of damage Trilium's consistency checks fix, made identically on a hub and its client
/// while both are stopped: each instance fixes it on its own at start-up, the two end with the same
/// rows (same dates, same hashes) before they sync, and a sync changes nothing of it.
#[tokio::test(flavor = "multi_thread")]
async fn damage_of_every_kind_is_fixed_alike_on_two_instances() {
    let mut hub = Node::hub().await;
    let d = prepare(&hub);
    let mut a = Node::client_of(&hub).await;
    a.sync().await;
    a.stop().await;
    hub.stop().await;
    for node in [&hub, &a] {
        damage(&node.data_dir().join("document.db"), &d);
    }
    {
        let conn = rusqlite::Connection::open(a.data_dir().join("document.db")).unwrap();
        conn.execute("UPDATE options SET value = '99999999' WHERE name = 'lastSyncedPush'", []).unwrap();
    }
    hub.restart().await;
    a.restart().await;
    let fixed_alike = rows(hub.document());
    assert_eq!(rows(a.document()), fixed_alike, "both fixed the damage alike on their own");
    a.sync().await;
    a.sync().await;
    assert_eq!(rows(a.document()), rows(hub.document()));
    assert_eq!(a.sector_hashes(), hub.sector_hashes());

    for (name, node) in [("hub", &hub), ("a", &a)] {
        let doc = node.document();
        assert_eq!(broken_tree(doc), (vec![], vec![]), "{name}: the tree is whole");
        let load_branch = |id: &str| doc.read(|c| entities::load::<Branch>(c, id)).unwrap();
        let load_attribute = |id: &str| doc.read(|c| entities::load::<Attribute>(c, id)).unwrap().unwrap();
        assert!(live_branch(node, &Branch::id_for("root", &d.orphan)), "{name}: the orphan is back under root");
        assert!(load_branch(&Branch::id_for("root", &d.deleted)).unwrap().is_deleted, "{name}: the deleted note's branch");
        assert!(load_attribute(&d.deleted_label).is_deleted, "{name}: the deleted note's label");
        assert!(!node.note(&d.revived).unwrap().is_deleted, "{name}: a branch newer than the delete keeps its note");
        assert!(!live_branch(node, &Branch::id_for(&d.gone_parent, &d.cloned)), "{name}: the clone under the deleted parent");
        assert!(live_branch(node, &Branch::id_for("root", &d.cloned)), "{name}: the clone's other branch stays");
        assert!(load_branch("root_ghostNote0001").unwrap().is_deleted, "{name}: the branch of a missing note");
        assert!(load_attribute(&d.relation).is_deleted, "{name}: the relation to a missing note");
        assert_eq!(node.content(&d.contentless).as_deref(), Some(""), "{name}: the note without content is empty");
        assert_eq!(node.note(&d.odd_type).unwrap().note_type, "file", "{name}: an unknown type becomes file");
        assert_eq!(load_attribute(&d.odd_attribute).attr_type, "label", "{name}");
        assert_eq!(load_attribute(&d.badly_named).name, "bad_name_", "{name}");
        // Trilium keeps the oldest: the duplicate is dated before the note's own branch.
        assert!(live_branch(node, "dupBranch0001"), "{name}: the older duplicate stays");
        assert!(!live_branch(node, &Branch::id_for("root", &d.duplicated)), "{name}: the younger one goes");
        let cycle_branches = [Branch::id_for(&d.cycle_bottom, &d.cycle_top), Branch::id_for(&d.cycle_top, &d.cycle_bottom)];
        assert!(
            cycle_branches.iter().any(|id| !live_branch(node, id)),
            "{name}: one branch of the cycle goes"
        );
        assert!(!live_branch(node, &Branch::id_for(&d.search, &d.found)), "{name}: a search note has no children");
        let found_in = strings(doc, &format!("SELECT parentNoteId FROM branches WHERE noteId = '{}' AND isDeleted = 0", d.found));
        assert_eq!(found_in, vec!["root".to_owned()], "{name}: the search note's child went to root");
        let revision = doc.read(|c| entities::load::<Revision>(c, &d.revision)).unwrap();
        assert!(revision.is_none(), "{name}: the revision without content is erased");
        let blob = node.note(&d.contentless).unwrap().blob_id.unwrap();
        assert!(doc.read(|c| entities::load::<Blob>(c, &blob)).unwrap().is_some_and(|b| b.content == BlobContent::Text(String::new())));
    }
    let push_cursor: i64 = a
        .document()
        .read(|c| Ok(canopy::db::options::get_int(c, "lastSyncedPush")?.unwrap_or(0)))
        .unwrap();
    let newest = a.document().read(canopy::db::entity_changes::max_id).unwrap();
    assert!(push_cursor <= newest, "the push cursor points at a change that exists: {push_cursor} > {newest}");
}

/// The rule works inside the batch: the transaction that applies a delete of the parent of a note
/// edited here leaves no moment in which the note is out of the tree (no consistency check needed).
#[test]
fn a_batch_deleting_the_parent_of_an_edited_note_is_repaired_in_its_own_transaction() {
    use canopy::db::tree::{self, NewNote};
    use canopy::sync::apply::{apply_records, PeerMemory};
    let dir = tempfile::tempdir().unwrap();
    let editor = crate::common::new_document(dir.path());
    let source = ChangeSource::new("editorInstance");
    let (parent, child) = editor
        .write(&source, |tx| {
            let parent = tree::create_note(tx, NewNote::text("root", "Parent", "<p>p</p>"))?.0.note_id;
            let child = tree::create_note(tx, NewNote::text(&parent, "Child", "<p>v1</p>"))?.0.note_id;
            Ok((parent, child))
        })
        .unwrap();
    editor.checkpoint().unwrap();
    let deleter_path = dir.path().join("deleter.db");
    canopy::db::backup::backup_to(editor.path(), &deleter_path).unwrap();
    let deleter = Document::open_existing(&deleter_path).unwrap();
    let base = deleter.read(canopy::db::entity_changes::max_id).unwrap();
    deleter.write(&ChangeSource::new("deleterInstance"), |tx| deletion::delete_note(tx, &parent)).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    editor
        .write(&source, |tx| tree::update_note_content(tx, &child, BlobContent::Text("<p>edited later</p>".into())).map(|_| ()))
        .unwrap();

    let (batch, _) = deleter.read(|c| canopy::sync::records::batch_after(c, base, "")).unwrap();
    let outcome = editor.write(&source, |tx| apply_records(tx, &batch, "deleterInstance", PeerMemory::PerPeer)).unwrap();
    assert!(!outcome.tree_repairs.is_empty(), "{outcome:?}");
    assert_eq!(broken_tree(&editor), (vec![], vec![]));
    let branch = editor.read(|c| entities::get::<Branch>(c, &Branch::id_for(&parent, &child))).unwrap();
    assert!(!branch.is_deleted, "the edited child is back under its parent");
}

/// A batch may end inside a delete (between the branches it deleted and the notes): the note whose
/// branch went, and whose own delete is in the next batch, is not put back in between.
#[test]
fn a_batch_ending_inside_a_delete_repairs_nothing() {
    use canopy::db::tree::{self, NewNote};
    use canopy::sync::apply::{apply_records, PeerMemory};
    let dir = tempfile::tempdir().unwrap();
    let observer = crate::common::new_document(dir.path());
    let source = ChangeSource::new("observerInstance");
    let (parent, child) = observer
        .write(&source, |tx| {
            let parent = tree::create_note(tx, NewNote::text("root", "Parent", "<p>p</p>"))?.0.note_id;
            let child = tree::create_note(tx, NewNote::text(&parent, "Child", "<p>c</p>"))?.0.note_id;
            Ok((parent, child))
        })
        .unwrap();
    observer.checkpoint().unwrap();
    let deleter_path = dir.path().join("deleter.db");
    canopy::db::backup::backup_to(observer.path(), &deleter_path).unwrap();
    let deleter = Document::open_existing(&deleter_path).unwrap();
    let base = deleter.read(canopy::db::entity_changes::max_id).unwrap();
    deleter.write(&ChangeSource::new("deleterInstance"), |tx| deletion::delete_note(tx, &parent)).unwrap();
    let (batch, _) = deleter.read(|c| canopy::sync::records::batch_after(c, base, "")).unwrap();
    let child_branch = Branch::id_for(&parent, &child);
    let split = batch.iter().position(|r| r.entity_change.entity_id == child_branch).unwrap() + 1;
    assert!(batch[split..].iter().any(|r| r.entity_change.entity_id == child), "the child's own delete comes later");
    for part in [&batch[..split], &batch[split..]] {
        let outcome = observer.write(&source, |tx| apply_records(tx, part, "deleterInstance", PeerMemory::PerPeer)).unwrap();
        assert_eq!(outcome.tree_repairs, vec![], "nothing to repair in a delete that is still arriving");
    }
    assert_eq!(broken_tree(&observer), (vec![], vec![]));
    assert!(observer.read(|c| entities::get::<Note>(c, &child)).unwrap().is_deleted);
}

/// A note edited after its children were made comes later in the log than their branches (and its
/// own): a batch can hold branches whose note or parent has not arrived yet. They are left alone.
#[test]
fn a_batch_bringing_branches_before_their_notes_deletes_nothing() {
    use canopy::db::tree::{self, NewNote};
    use canopy::sync::apply::{apply_records, PeerMemory};
    let dir = tempfile::tempdir().unwrap();
    let observer = crate::common::new_document(dir.path());
    let writer_dir = tempfile::tempdir().unwrap();
    let writer = crate::common::new_document(writer_dir.path());
    let base = writer.read(canopy::db::entity_changes::max_id).unwrap();
    let (parent, child) = writer
        .write(&ChangeSource::new("writerInstance"), |tx| {
            let parent = tree::create_note(tx, NewNote::text("root", "Parent", "<p>p</p>"))?.0.note_id;
            let child = tree::create_note(tx, NewNote::text(&parent, "Child", "<p>c</p>"))?.0.note_id;
            Ok((parent, child))
        })
        .unwrap();
    writer
        .write(&ChangeSource::new("writerInstance"), |tx| {
            tree::update_note_content(tx, &parent, canopy::entities::BlobContent::Text("<p>edited</p>".into())).map(|_| ())
        })
        .unwrap();
    let (batch, _) = writer.read(|c| canopy::sync::records::batch_after(c, base, "")).unwrap();
    let child_branch = Branch::id_for(&parent, &child);
    let split = batch.iter().position(|r| r.entity_change.entity_id == child_branch).unwrap() + 1;
    assert!(
        batch[split..].iter().any(|r| r.entity_change.entity_name == "notes" && r.entity_change.entity_id == parent),
        "the parent's row comes after its child's branch"
    );
    for part in [&batch[..split], &batch[split..]] {
        let outcome = observer.write(&ChangeSource::new("observerInstance"), |tx| apply_records(tx, part, "writerInstance", PeerMemory::PerPeer)).unwrap();
        assert_eq!(outcome.tree_repairs, vec![], "nothing to repair in a batch whose notes are still arriving");
    }
    assert_eq!(broken_tree(&observer), (vec![], vec![]));
    for branch in [Branch::id_for("root", &parent), child_branch] {
        assert!(!observer.read(|c| entities::get::<Branch>(c, &branch)).unwrap().is_deleted, "{branch} is live");
    }
}

/// The consistency checks read for seconds at 100,000 notes; on a sound document they must not hold
/// the writer meanwhile (every push and edit would wait), and on a damaged one they still fix it.
#[test]
fn consistency_checks_leave_the_writer_free_unless_they_fix_something() {
    use canopy::db::tree::{self, NewNote};
    let dir = tempfile::tempdir().unwrap();
    let document = crate::common::new_document(dir.path());
    let source = ChangeSource::new("checksInst01");
    let note = document.write(&source, |tx| Ok(tree::create_note(tx, NewNote::text("root", "Kept", "<p>kept</p>"))?.0.note_id)).unwrap();

    // A write made while a check is half-way through its reading goes through at once.
    let (reading, read) = (std::sync::mpsc::channel::<()>(), std::sync::mpsc::channel::<()>());
    let (started, wait_for_write) = (reading.0, read.1);
    let checker = document.clone();
    let checks = std::thread::spawn(move || {
        checker
            .write_if_needed(&ChangeSource::new("checksInst01"), |tx| {
                let fixed = canopy::db::consistency_checks::run_all(tx)?;
                let _ = started.send(());
                let _ = wait_for_write.recv_timeout(Duration::from_secs(20));
                Ok(fixed)
            })
            .unwrap()
    });
    reading.1.recv_timeout(Duration::from_secs(20)).expect("the checks started");
    let (done, finished) = std::sync::mpsc::channel();
    let writer = document.clone();
    std::thread::spawn(move || {
        let made = writer.write(&ChangeSource::new("checksInst01"), |tx| {
            Ok(tree::create_note(tx, NewNote::text("root", "Written meanwhile", "<p>meanwhile</p>"))?.0.note_id)
        });
        let _ = done.send(made.is_ok());
    });
    let written = finished.recv_timeout(Duration::from_secs(5));
    read.0.send(()).unwrap();
    assert_eq!(written, Ok(true), "a write waited for the consistency checks of a sound document");
    assert_eq!(checks.join().unwrap(), Vec::<String>::new());

    // Damage: a live note without any branch. The checks fix it, holding the writer.
    {
        let conn = rusqlite::Connection::open(dir.path().join("document.db")).unwrap();
        conn.execute("DELETE FROM branches WHERE noteId = ?1", [&note]).unwrap();
    }
    let fixed = canopy::sync::check::run_consistency_checks(&document, &canopy::db::InstanceId::from("checksInst01")).unwrap();
    assert!(!fixed.is_empty(), "nothing was fixed");
    assert!(
        !strings(&document, &format!("SELECT branchId FROM branches WHERE noteId = '{note}' AND isDeleted = 0")).is_empty(),
        "the note is in the tree again"
    );
}

/// What the checks cost: `CANOPY_CHECK_NOTES=100000 cargo test -p canopy-server --test it --release --
/// --ignored consistency_checks_cost --nocapture` (a debug build measures SQLite unoptimized).
#[test]
#[ignore]
fn consistency_checks_cost_on_a_large_document() {
    use canopy::db::tree::{self, NewNote};
    let notes: usize = std::env::var("CANOPY_CHECK_NOTES").ok().and_then(|n| n.parse().ok()).unwrap_or(5_000);
    let dir = tempfile::tempdir().unwrap();
    let document = crate::common::new_document(dir.path());
    let source = ChangeSource::new("benchInstance");
    let (note_ids, branch_ids) = document
        .write(&source, |tx| {
            let mut parents = vec!["root".to_owned()];
            let (mut note_ids, mut branch_ids) = (Vec::new(), Vec::new());
            for i in 0..notes {
                let parent = parents[i % parents.len()].clone();
                let (note, branch) = tree::create_note(tx, NewNote::text(&parent, &format!("Note {i}"), &format!("<p>{i}</p>")))?;
                if i % 10 == 0 {
                    parents.push(note.note_id.clone());
                }
                note_ids.push(note.note_id);
                branch_ids.push(branch.branch_id);
            }
            Ok((note_ids, branch_ids))
        })
        .unwrap();
    let started = std::time::Instant::now();
    let fixed = canopy::sync::check::run_consistency_checks(&document, &canopy::db::InstanceId::from("benchInstance")).unwrap();
    let all_ms = started.elapsed().as_millis();
    assert_eq!(fixed, Vec::<String>::new());
    let (touched_notes, touched_branches) = (&note_ids[..1000.min(notes)], &branch_ids[..1000.min(notes)]);
    let started = std::time::Instant::now();
    let repairs = document
        .write(&source, |tx| {
            canopy::db::tree_rule::keep_whole(
                tx,
                canopy::db::tree_rule::TreeScope::Touched { notes: touched_notes, branches: touched_branches, attributes: &[] },
            )
        })
        .unwrap();
    let touched_ms = started.elapsed().as_millis();
    assert!(repairs.is_empty());
    println!("{notes} notes: all consistency checks {all_ms} ms; tree rule over a 1,000-note, 1,000-branch batch {touched_ms} ms");
}
