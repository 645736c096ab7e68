//! Files that must be refused, with clear errors, and left byte-for-byte untouched.

use std::path::Path;

use canopy::db::{DbError, Document};

use crate::common::*;

fn refuse(path: &Path) -> DbError {
    let before = std::fs::read(path).unwrap();
    let err = Document::open_or_create(path, "x").expect_err("must be refused");
    assert_eq!(std::fs::read(path).unwrap(), before, "refused file was modified");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "message names the file: {msg}");
    err
}

fn set_db_version(path: &Path, value: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute("UPDATE options SET value = ?1 WHERE name = 'dbVersion'", [value]).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
}

#[test]
fn newer_db_version_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path());
    set_db_version(&path, "229.0");
    match refuse(&path) {
        e @ DbError::TooNew { found: 229, supported: 228, .. } => {
            let msg = e.to_string();
            assert!(msg.contains("229") && msg.contains("228"), "{msg}");
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[test]
fn older_db_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path());
    set_db_version(&path, "214");
    assert!(matches!(refuse(&path), DbError::TooOld { found: 214, .. }));
}

#[test]
fn garbage_file_is_not_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("document.db");
    std::fs::write(&path, b"this is not a database, just some text that is long enough").unwrap();
    assert!(matches!(refuse(&path), DbError::NotSqlite { .. }));
}

#[test]
fn corrupt_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path());
    // Keep the header, destroy everything after it.
    let mut bytes = std::fs::read(&path).unwrap();
    for b in bytes[100..].iter_mut() {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = refuse(&path);
    assert!(matches!(err, DbError::NotSqlite { .. } | DbError::Unreadable { .. }), "{err:?}");
}

#[test]
fn sqlite_without_options_is_not_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("document.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE notes (noteId TEXT); INSERT INTO notes VALUES ('x');").unwrap();
    }
    assert!(matches!(refuse(&path), DbError::NotTrilium { .. }));
}

#[test]
fn options_without_db_version_is_not_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("document.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE options (name TEXT, value TEXT);").unwrap();
    }
    assert!(matches!(refuse(&path), DbError::NotTrilium { .. }));
}

#[test]
fn zero_byte_file_is_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("document.db");
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(refuse(&path), DbError::NotTrilium { .. }));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
}

#[test]
fn missing_directory_is_an_io_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/document.db");
    assert!(Document::open_or_create(&path, "x").is_err());
}
