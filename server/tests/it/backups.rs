//! Daily/weekly/monthly backups via SQLite online backup.

use chrono::{Duration, Utc};

use canopy::db::backup::{backup_if_due, Period};
use canopy::db::{options, Document};

use crate::common::*;

#[test]
fn backups_are_made_when_due_and_open_as_documents() {
    let dir = tempfile::tempdir().unwrap();
    let doc = new_document(dir.path());
    let document_id = doc.read(|c| options::get(c, "documentId")).unwrap().unwrap();
    let now = Utc::now();
    let made = backup_if_due(dir.path(), now).unwrap();
    assert_eq!(made, Period::ALL.to_vec());
    assert!(backup_if_due(dir.path(), now).unwrap().is_empty(), "nothing due right after");
    assert_eq!(backup_if_due(dir.path(), now + Duration::days(2)).unwrap(), vec![Period::Daily]);
    assert_eq!(backup_if_due(dir.path(), now + Duration::days(8)).unwrap(), vec![Period::Daily, Period::Weekly]);
    let backup_dir = dir.path().join("backup");
    let leftovers: Vec<_> = std::fs::read_dir(&backup_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    for p in Period::ALL {
        let copy = Document::open_existing(&backup_dir.join(p.file_name())).unwrap();
        assert_eq!(copy.read(|c| options::get(c, "documentId")).unwrap().unwrap(), document_id);
    }
    drop(doc);
}
