//! The incrementally kept sector hashes always equal a full recomputation.
use canopy::db::{deletion, entity_changes, tree, ChangeSource, Document};

fn full(document: &Document) -> canopy::db::sector_cache::SectorHashes {
    document.read(|c| entity_changes::sector_hashes(c)).unwrap()
}

fn kept(document: &Document) -> canopy::db::sector_cache::SectorHashes {
    document.hash_check_state(&ChangeSource::new("checker")).unwrap().0
}

#[test]
fn kept_sector_hashes_follow_every_kind_of_write() {
    let dir = tempfile::tempdir().unwrap();
    let document = crate::common::new_document(dir.path());
    let source = crate::common::source();
    assert_eq!(kept(&document), full(&document));

    let mut ids = Vec::new();
    for i in 0..40 {
        let id = document
            .write(&source, |tx| Ok(tree::create_note(tx, tree::NewNote::text("root", &format!("n{i}"), "<p>x</p>"))?.0.note_id))
            .unwrap();
        ids.push(id);
        if i % 7 == 0 {
            assert_eq!(kept(&document), full(&document), "after create {i}");
        }
    }
    for id in ids.iter().take(10) {
        document.write(&source, |tx| tree::update_note_content(tx, id, canopy::entities::BlobContent::Text(format!("<p>{id}</p>"))).map(|_| ())).unwrap();
    }
    assert_eq!(kept(&document), full(&document), "after edits");
    document.write(&source, |tx| deletion::delete_note(tx, &ids[11]).map(|_| ())).unwrap();
    document.write(&source, |tx| deletion::erase_deleted_entities(tx, Some(0))).unwrap();
    assert_eq!(kept(&document), full(&document), "after erase");

    // A write from another process cannot fire our triggers; the cache notices and starts over.
    {
        let conn = rusqlite::Connection::open(dir.path().join("document.db")).unwrap();
        conn.execute("DELETE FROM entity_changes WHERE entityName = 'notes' AND entityId = ?1", [&ids[20]]).unwrap();
        conn.execute("UPDATE entity_changes SET hash = 'tampered' WHERE entityName = 'branches' AND entityId LIKE ?1", [format!("%{}", ids[21])]).unwrap();
    }
    let after_external = kept(&document);
    assert_eq!(after_external, full(&document), "after an outside write");
    assert!(!after_external["notes"].is_empty());
}

#[test]
fn a_blob_left_behind_by_sync_is_erased_before_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let document = crate::common::new_document(dir.path());
    let source = crate::common::source();
    let id = document
        .write(&source, |tx| Ok(tree::create_note(tx, tree::NewNote::text("root", "synced", "<p>old</p>"))?.0.note_id))
        .unwrap();
    kept(&document); // warm: from here on only candidates are looked at
    let old_blob = document.read(|c| Ok(c.query_row("SELECT blobId FROM notes WHERE noteId = ?1", [&id], |r| r.get::<_, String>(0))?)).unwrap();
    // What applying a pulled note does: the whole row replaced, pointing at a new blob.
    document
        .write(&source, |tx| {
            let new_blob = canopy::db::protected::save_blob(tx, canopy::entities::BlobContent::Text("<p>new</p>".into()), false, ("notes", &id))?;
            let mut row: serde_json::Value =
                serde_json::to_value(canopy::entities::load::<canopy::entities::Note>(tx.conn(), &id)?.unwrap()).unwrap();
            row["blobId"] = new_blob.into();
            canopy::sync::records::store_row(tx.conn(), "notes", &row)
        })
        .unwrap();
    let exists = |blob: &str| document.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM blobs WHERE blobId = ?1", [blob], |r| r.get::<_, i64>(0))?)).unwrap();
    assert_eq!(exists(&old_blob), 1, "still there until the check");
    assert_eq!(kept(&document), full(&document));
    assert_eq!(exists(&old_blob), 0, "erased by the check, as Trilium does before hashing");
}
