//! A scripted mix of operations on a new document; afterwards every stored hash must
//! equal the hash recomputed from the rows, and the Trilium rules must hold.

use chrono::{Duration, Utc};

use canopy::db::tree::{self, NewNote};
use canopy::db::{consistency, deletion, entity_changes, options, revisions, Document};
use canopy::entities::{self, Attribute, BlobContent, Branch, Entity, Note};
use canopy::hashing;

use crate::common::*;

fn only_db_version_mismatch(doc: &Document) {
    let mismatches = doc.read(|c| consistency::hash_mismatches(c)).unwrap();
    let ids: Vec<_> = mismatches.iter().map(|m| format!("{}/{}", m.change.entity_name, m.change.entity_id)).collect();
    assert_eq!(ids, vec!["options/dbVersion".to_string()]);
}

fn label(note_id: &str, name: &str, value: &str, now: &str) -> Attribute {
    Attribute {
        attribute_id: hashing::new_entity_id(),
        note_id: note_id.into(),
        attr_type: "label".into(),
        name: name.into(),
        value: value.into(),
        position: 10,
        utc_date_modified: now.into(),
        is_deleted: false,
        delete_id: None,
        is_inheritable: false,
    }
}

fn count(doc: &Document, sql: &str) -> i64 {
    doc.read(|c| Ok(c.query_row(sql, [], |r| r.get(0))?)).unwrap()
}

#[test]
fn scripted_mix_keeps_hashes_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let doc = new_document(dir.path());
    let src = source();
    let t0 = Utc::now() - Duration::days(30);
    let at = |mins: i64| Some(t0 + Duration::minutes(mins));

    // Creates: positions after the last child.
    let (a, ab) = doc.write_at(&src, at(0), |tx| tree::create_note(tx, NewNote::text("root", "A", "<p>a</p>"))).unwrap();
    let (b, bb) = doc.write_at(&src, at(0), |tx| tree::create_note(tx, NewNote::text("root", "B", "<p>b</p>"))).unwrap();
    let (c, _) = doc.write_at(&src, at(0), |tx| tree::create_note(tx, NewNote::text(&a.note_id, "C", "<p>c</p>"))).unwrap();
    let (d, _) = doc.write_at(&src, at(0), |tx| tree::create_note(tx, NewNote::text(&a.note_id, "D", "<p>d</p>"))).unwrap();
    assert_eq!((ab.note_position, bb.note_position), (10, 20));
    let attr = doc.write_at(&src, at(1), |tx| {
        let l = label(&c.note_id, "status", "draft", &tx.utc_now());
        entities::save(tx, &l)?;
        Ok(l)
    })
    .unwrap();
    let rel = doc.write_at(&src, at(1), |tx| {
        let mut r = label(&d.note_id, "seeAlso", &c.note_id, &tx.utc_now());
        r.attr_type = "relation".into();
        entities::save(tx, &r)?;
        Ok(r)
    })
    .unwrap();

    // Edits: the first edit 20 minutes after creation takes a pre-edit revision, the
    // second within the interval does not; the old blob disappears with its change.
    let old_blob = a.blob_id.clone().unwrap();
    doc.write_at(&src, at(20), |tx| tree::update_note_content(tx, &a.note_id, BlobContent::Text("<p>a2</p>".into()))).unwrap();
    doc.write_at(&src, at(22), |tx| tree::update_note_content(tx, &a.note_id, BlobContent::Text("<p>a3</p>".into()))).unwrap();
    doc.write_at(&src, at(23), |tx| tree::update_note_title(tx, &a.note_id, "A renamed")).unwrap();
    let revs = doc.read(|cn| revisions::list(cn, &a.note_id)).unwrap();
    assert_eq!(revs.len(), 1, "one automatic revision per interval");
    assert_eq!(doc.read(|cn| tree::note_content(cn, &revs[0].note_id)).unwrap().to_text(), "<p>a3</p>");
    let rev_content: entities::Blob = doc.read(|cn| entities::get(cn, revs[0].blob_id.as_deref().unwrap())).unwrap();
    assert_eq!(rev_content.content.to_text(), "<p>a</p>", "the revision holds the pre-edit text");
    assert!(doc.read(|cn| entities::load::<entities::Blob>(cn, &old_blob)).unwrap().is_some(), "still used by the revision");
    // A fresh note (younger than the interval) gets no automatic revision.
    doc.write_at(&src, at(1), |tx| tree::update_note_content(tx, &b.note_id, BlobContent::Text("<p>b2</p>".into()))).unwrap();
    assert!(doc.read(|cn| revisions::list(cn, &b.note_id)).unwrap().is_empty());
    assert!(doc.read(|cn| entities::load::<entities::Blob>(cn, b.blob_id.as_deref().unwrap())).unwrap().is_none());
    // Manual revision and restore.
    let manual = doc.write_at(&src, at(30), |tx| revisions::save_revision(tx, &entities::get(tx.conn(), &b.note_id)?)).unwrap();
    doc.write_at(&src, at(31), |tx| tree::update_note_content(tx, &b.note_id, BlobContent::Text("<p>b3</p>".into()))).unwrap();
    doc.write_at(&src, at(32), |tx| revisions::restore_revision(tx, &manual.revision_id)).unwrap();
    assert_eq!(doc.read(|cn| tree::note_content(cn, &b.note_id)).unwrap().to_text(), "<p>b2</p>");

    // Moves: reorder within a parent (note_reordering), move to another parent, clone.
    let c_branch = Branch::id_for(&a.note_id, &c.note_id);
    let d_branch = Branch::id_for(&a.note_id, &d.note_id);
    doc.write_at(&src, at(40), |tx| tree::move_before(tx, &d_branch, &c_branch)).unwrap();
    let kids = doc.read(|cn| tree::child_branches(cn, &a.note_id)).unwrap();
    assert_eq!(kids.iter().map(|k| k.note_id.clone()).collect::<Vec<_>>(), vec![d.note_id.clone(), c.note_id.clone()]);
    let reorder = doc.read(|cn| entity_changes::get(cn, "note_reordering", &a.note_id)).unwrap().unwrap();
    assert_eq!(reorder.hash, "N/A");
    let moved = doc.write_at(&src, at(41), |tx| tree::move_to_parent(tx, &c_branch, &b.note_id)).unwrap();
    assert_eq!(moved.branch_id, Branch::id_for(&b.note_id, &c.note_id));
    let old: Branch = doc.read(|cn| entities::get(cn, &c_branch)).unwrap();
    assert!(old.is_deleted);
    let clone = doc.write_at(&src, at(42), |tx| tree::clone_to_parent(tx, &d.note_id, &b.note_id, Some("cl"))).unwrap();
    assert!(doc.write_at(&src, at(42), |tx| tree::move_to_parent(tx, &ab.branch_id, &d.note_id)).is_err(), "cycle refused");

    // Delete A: D keeps living through its clone under B, A's own branch goes.
    let delete_id = doc.write_at(&src, at(50), |tx| deletion::delete_note(tx, &a.note_id)).unwrap();
    let note_a: Note = doc.read(|cn| entities::get(cn, &a.note_id)).unwrap();
    assert!(note_a.is_deleted && note_a.delete_id.as_deref() == Some(delete_id.as_str()));
    let note_d: Note = doc.read(|cn| entities::get(cn, &d.note_id)).unwrap();
    assert!(!note_d.is_deleted, "D still has a parent (clone)");
    assert!(doc.read(|cn| entities::get::<Branch>(cn, &clone.branch_id)).unwrap().is_deleted == false);
    // Delete C (under B): its label and the relation targeting it go with it.
    let del_c = doc.write_at(&src, at(51), |tx| deletion::delete_note(tx, &c.note_id)).unwrap();
    let a1: Attribute = doc.read(|cn| entities::get(cn, &attr.attribute_id)).unwrap();
    let r1: Attribute = doc.read(|cn| entities::get(cn, &rel.attribute_id)).unwrap();
    assert!(a1.is_deleted && r1.is_deleted && a1.delete_id.as_deref() == Some(del_c.as_str()));
    let ec = doc.read(|cn| entity_changes::get(cn, "attributes", &attr.attribute_id)).unwrap().unwrap();
    assert_eq!(ec.hash, a1.hash(), "deleted rows hash with |deleted");
    only_db_version_mismatch(&doc);

    // Undelete C: note, branch, label and relation come back.
    assert!(doc.write_at(&src, at(52), |tx| deletion::undelete_note(tx, &c.note_id)).unwrap());
    let c_again: Note = doc.read(|cn| entities::get(cn, &c.note_id)).unwrap();
    assert!(!c_again.is_deleted);
    assert!(!doc.read(|cn| entities::get::<Attribute>(cn, &rel.attribute_id)).unwrap().is_deleted);

    // Erase: not yet due at +1 day, due after 7 days; tombstones remain, unused blobs go.
    doc.write_at(&src, at(60 * 24), |tx| deletion::erase_deleted_entities(tx, None)).unwrap();
    assert!(doc.read(|cn| entities::load::<Note>(cn, &a.note_id)).unwrap().is_some());
    let rev_count_before = count(&doc, "SELECT COUNT(*) FROM revisions");
    doc.write_at(&src, at(60 * 24 * 8), |tx| deletion::erase_deleted_entities(tx, None)).unwrap();
    assert!(doc.read(|cn| entities::load::<Note>(cn, &a.note_id)).unwrap().is_none());
    let tomb = doc.read(|cn| entity_changes::get(cn, "notes", &a.note_id)).unwrap().unwrap();
    assert!(tomb.is_erased);
    assert_eq!(count(&doc, "SELECT COUNT(*) FROM revisions"), rev_count_before - 1, "A's revision erased with it");
    let rev_tomb = doc.read(|cn| entity_changes::get(cn, "revisions", &revs[0].revision_id)).unwrap().unwrap();
    assert!(rev_tomb.is_erased);
    assert_eq!(
        count(&doc, "SELECT COUNT(*) FROM blobs WHERE blobId NOT IN (SELECT blobId FROM notes WHERE blobId IS NOT NULL UNION SELECT blobId FROM revisions WHERE blobId IS NOT NULL UNION SELECT blobId FROM attachments WHERE blobId IS NOT NULL)"),
        0
    );
    assert_eq!(count(&doc, "SELECT COUNT(*) FROM entity_changes WHERE entityName = 'blobs' AND entityId NOT IN (SELECT blobId FROM blobs)"), 0);

    only_db_version_mismatch(&doc);
    let sectors = doc.read(|cn| entity_changes::sector_hashes(cn)).unwrap();
    assert!(sectors["notes"].contains_key("r"), "root note sector");
    assert!(!sectors.contains_key("note_reordering"));
    assert_eq!(doc.read(|cn| options::get_int(cn, "revisionSnapshotTimeInterval")).unwrap(), Some(600));
}

#[test]
fn committed_writes_are_broadcast_and_failed_ones_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let doc = new_document(dir.path());
    let mut rx = doc.subscribe();
    let (note, _) = doc.write(&source(), |tx| tree::create_note(tx, NewNote::text("root", "x", "<p>x</p>"))).unwrap();
    let got = rx.try_recv().expect("notified after commit");
    let max = doc.read(|c| entity_changes::max_id(c)).unwrap();
    assert_eq!(*got.ids.last().unwrap(), max);
    assert!(got.ids.len() >= 3, "note, blob, branch");
    for id in got.ids.iter() {
        if let Some(ec) = doc.read(|c| entity_changes::get_by_id(c, *id)).unwrap() {
            assert_eq!(ec.instance_id, "testInstance");
        }
    }
    let err = doc.write(&source(), |tx| {
        tree::update_note_title(tx, &note.note_id, "changed")?;
        Err::<(), _>(canopy::db::DbError::Invalid("abort".into()))
    });
    assert!(err.is_err());
    assert!(rx.try_recv().is_err(), "nothing broadcast for a rolled-back write");
    let n: Note = doc.read(|c| entities::get(c, &note.note_id)).unwrap();
    assert_eq!(n.title, "x");
}

#[test]
fn readers_do_not_wait_for_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let doc = new_document(dir.path());
    let doc2 = doc.clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        doc2.write(&source(), |tx| {
            tree::update_note_title(tx, "root", "busy")?;
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            Ok(())
        })
        .unwrap();
    });
    started_rx.recv().unwrap();
    // While the write transaction is open, a read succeeds and sees the old state.
    let title: String = doc.read(|c| Ok(c.query_row("SELECT title FROM notes WHERE noteId = 'root'", [], |r| r.get(0))?)).unwrap();
    assert_eq!(title, "root");
    release_tx.send(()).unwrap();
    writer.join().unwrap();
    let title: String = doc.read(|c| Ok(c.query_row("SELECT title FROM notes WHERE noteId = 'root'", [], |r| r.get(0))?)).unwrap();
    assert_eq!(title, "busy");
}

#[test]
fn password_set_then_verified() {
    let dir = tempfile::tempdir().unwrap();
    let doc = new_document(dir.path());
    doc.write(&source(), |tx| canopy::db::password::set_password(tx, "s3cret")).unwrap();
    assert!(doc.read(|c| canopy::db::password::verify_password(c, "s3cret")).unwrap());
    assert!(!doc.read(|c| canopy::db::password::verify_password(c, "other")).unwrap());
    let key = doc.read(|c| canopy::db::password::data_key(c, "s3cret")).unwrap().unwrap();
    assert_eq!(key.len(), 24, "base64 text of 16 random bytes");
    assert!(doc.write(&source(), |tx| canopy::db::password::set_password(tx, "again")).is_err());
    let ec = doc.read(|c| entity_changes::get(c, "options", "passwordVerificationHash")).unwrap().unwrap();
    assert!(ec.is_synced);
    only_db_version_mismatch(&doc);
}

#[test]
fn attachments_are_copied_into_revisions_and_deleted_with_their_note() {
    use canopy::db::attachments::{self, NewAttachment};
    let dir = tempfile::tempdir().unwrap();
    let doc = new_document(dir.path());
    let src = source();
    let bytes: Vec<u8> = (0u8..=255).chain([0xff, 0xfe, 0x00]).collect();
    let (note, _) = doc.write(&src, |tx| tree::create_note(tx, NewNote::text("root", "owner", "<p>see attachments/x</p>"))).unwrap();
    let att = doc
        .write(&src, |tx| {
            attachments::create_attachment(
                tx,
                NewAttachment {
                    attachment_id: None,
                    owner_id: note.note_id.clone(),
                    role: "file".into(),
                    mime: "application/octet-stream".into(),
                    title: "sample.bin".into(),
                    content: BlobContent::Binary(bytes.clone()),
                    position: None,
                },
            )
        })
        .unwrap();
    assert_eq!(doc.read(|c| attachments::content(c, &att.attachment_id)).unwrap(), BlobContent::Binary(bytes.clone()));
    let rev = doc.write(&src, |tx| revisions::save_revision(tx, &entities::get(tx.conn(), &note.note_id)?)).unwrap();
    let copies = doc.read(|c| attachments::list(c, &rev.revision_id)).unwrap();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].blob_id, att.blob_id, "same content, same blob");
    doc.write(&src, |tx| attachments::set_attachment_content(tx, &att.attachment_id, BlobContent::Text("new".into()))).unwrap();
    assert!(doc.read(|c| entities::load::<entities::Blob>(c, att.blob_id.as_deref().unwrap())).unwrap().is_some(), "kept for the revision's copy");
    doc.write(&src, |tx| deletion::delete_note(tx, &note.note_id)).unwrap();
    assert!(doc.read(|c| attachments::list(c, &note.note_id)).unwrap().is_empty());
    only_db_version_mismatch(&doc);
}

#[test]
fn note_positions_follow_trilium_rules() {
    let dir = tempfile::tempdir().unwrap();
    let doc = new_document(dir.path());
    let src = source();
    let mk = |parent: &str, t: &str| doc.write(&src, |tx| tree::create_note(tx, NewNote::text(parent, t, ""))).unwrap();
    let (p, _) = mk("root", "parent");
    let (_, b1) = mk(&p.note_id, "1");
    let (_, b2) = mk(&p.note_id, "2");
    let (_, b3) = mk(&p.note_id, "3");
    assert_eq!([b1.note_position, b2.note_position, b3.note_position], [10, 20, 30]);
    // move 1 after 3: siblings after 3 shift, 1 takes 3 + 10.
    let moved = doc.write(&src, |tx| tree::move_after(tx, &b1.branch_id, &b3.branch_id)).unwrap();
    assert_eq!(moved.note_position, 40);
    let order: Vec<_> = doc.read(|c| tree::child_branches(c, &p.note_id)).unwrap().into_iter().map(|b| b.branch_id).collect();
    assert_eq!(order, vec![b2.branch_id.clone(), b3.branch_id.clone(), b1.branch_id.clone()]);
    // explicit order
    doc.write(&src, |tx| tree::reorder_children(tx, &p.note_id, &[&b3.branch_id, &b1.branch_id, &b2.branch_id])).unwrap();
    let order: Vec<_> = doc.read(|c| tree::child_branches(c, &p.note_id)).unwrap().into_iter().map(|b| (b.branch_id, b.note_position)).collect();
    assert_eq!(order, vec![(b3.branch_id.clone(), 10), (b1.branch_id.clone(), 20), (b2.branch_id.clone(), 30)]);
    // #newNotesOnTop puts new children before the first one.
    doc.write(&src, |tx| {
        let l = label(&p.note_id, "newNotesOnTop", "", &tx.utc_now());
        entities::save(tx, &l).map(|_| ())
    })
    .unwrap();
    let (_, top) = mk(&p.note_id, "top");
    assert_eq!(top.note_position, -10, "Trilium folds 0 into the minimum");
    // Repositioning does not touch the other branches' change rows or dates.
    let ec = doc.read(|c| entity_changes::get(c, "branches", &b2.branch_id)).unwrap().unwrap();
    assert_eq!(ec.utc_date_changed, b2.utc_date_modified);
    only_db_version_mismatch(&doc);
}
