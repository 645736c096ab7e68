//! A brand-new document looks like Trilium's `new-document` result.

use std::collections::BTreeMap;

use canopy::db::{consistency, entity_changes, options, password, Document};
use canopy::entities::{self, Blob, Branch, Entity, Note, OptionRow};
use canopy::hashing::{entity_hash, HashPart};

use crate::common::*;

fn option_flags(doc: &Document) -> BTreeMap<String, bool> {
    doc.read(|c| entities::load_where::<OptionRow>(c, "1", [])).unwrap().into_iter().map(|o| (o.name, o.is_synced)).collect()
}

#[test]
fn creates_root_branch_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let doc = new_document(dir.path());
    assert_eq!(doc.db_version(), 228);
    let root: Note = doc.read(|c| entities::get(c, "root")).unwrap();
    assert_eq!((root.title.as_str(), root.note_type.as_str(), root.mime.as_str()), ("root", "text", "text/html"));
    let blob: Blob = doc.read(|c| entities::get(c, root.blob_id.as_deref().unwrap())).unwrap();
    assert_eq!(blob.content.to_text(), "");
    let branch: Branch = doc.read(|c| entities::get(c, "none_root")).unwrap();
    assert_eq!((branch.parent_note_id.as_str(), branch.note_position, branch.is_expanded), ("none", 10, true));
    assert_eq!(doc.read(|c| options::get(c, "initialized")).unwrap().as_deref(), Some("true"));
    assert_eq!(doc.read(|c| options::get(c, "dbVersion")).unwrap().as_deref(), Some("228.0"));
    assert!(!doc.read(|c| password::is_password_set(c)).unwrap());
}

#[test]
fn option_names_and_sync_flags_match_trilium() {
    let dir = tempfile::tempdir().unwrap();
    let doc = new_document(dir.path());
    doc.write(&source(), |tx| password::set_password(tx, "pw")).unwrap();
    let fixture_dir = tempfile::tempdir().unwrap();
    let fixture = Document::open_existing(&copy_fixture(fixture_dir.path())).unwrap();
    assert_eq!(option_flags(&doc), option_flags(&fixture));
    // Default values equal Trilium's, apart from per-document and per-moment ones.
    let per_doc = [
        "documentId", "documentSecret", "openNoteContexts", "lastDailyBackupDate", "lastWeeklyBackupDate",
        "lastMonthlyBackupDate", "passwordVerificationHash", "passwordVerificationSalt", "passwordDerivedKeySalt",
        "encryptedDataKey",
    ];
    let values = |d: &Document| -> BTreeMap<String, String> {
        d.read(|c| entities::load_where::<OptionRow>(c, "1", [])).unwrap().into_iter().map(|o| (o.name, o.value)).collect()
    };
    let (ours, theirs) = (values(&doc), values(&fixture));
    for (name, value) in &theirs {
        if !per_doc.contains(&name.as_str()) {
            assert_eq!(ours.get(name), Some(value), "option {name}");
        }
    }
}

#[test]
fn every_row_has_its_entity_change_with_the_right_hash() {
    let dir = tempfile::tempdir().unwrap();
    let doc = new_document(dir.path());
    let mismatches = doc.read(|c| consistency::hash_mismatches(c)).unwrap();
    // dbVersion is hashed from the number, like Trilium; everything else from the row.
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    assert_eq!(mismatches[0].change.entity_id, "dbVersion");
    assert_eq!(mismatches[0].change.hash, entity_hash(&[HashPart::Str("dbVersion"), HashPart::Int(228)], false));
    let (rows, changes): (i64, i64) = doc
        .read(|c| {
            let rows: i64 = c.query_row(
                "SELECT (SELECT COUNT(*) FROM notes) + (SELECT COUNT(*) FROM branches) + (SELECT COUNT(*) FROM blobs) + (SELECT COUNT(*) FROM options)",
                [],
                |r| r.get(0),
            )?;
            Ok((rows, c.query_row("SELECT COUNT(*) FROM entity_changes", [], |r| r.get(0))?))
        })
        .unwrap();
    assert_eq!(rows, changes);
    let ec = doc.read(|c| entity_changes::get(c, "options", "documentSecret")).unwrap().unwrap();
    assert!(!ec.is_synced);
    assert_eq!(ec.instance_id, "testInstance");
    assert_eq!(ec.component_id, "NA");
    assert_eq!(ec.change_id.len(), 12);
    let root = doc.read(|c| entity_changes::get(c, "notes", "root")).unwrap().unwrap();
    assert!(root.is_synced);
    let note: Note = doc.read(|c| entities::get(c, "root")).unwrap();
    assert_eq!(root.hash, note.hash());
    assert_eq!(root.utc_date_changed, note.utc_date_modified);
}

#[test]
fn documents_get_their_own_identity_and_reopen_unchanged() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let id = |d: &Document| d.read(|c| options::get(c, "documentId")).unwrap().unwrap();
    let (doc_a, doc_b) = (new_document(a.path()), new_document(b.path()));
    let first = id(&doc_a);
    assert_ne!(first, id(&doc_b));
    assert_eq!(canopy::hashing::js_hash("").len(), 28);
    drop(doc_a);
    let again = Document::open_or_create(&a.path().join("document.db"), "otherInstance").unwrap();
    assert_eq!(id(&again), first, "an existing file is opened, never recreated");
    assert!(!a.path().join("document.db.creating").exists());
}
