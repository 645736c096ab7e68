//! Versioned schema migrations and recognition of existing documents.
//!
//! rusqlite_migration tracks progress in `PRAGMA user_version`. Trilium never sets it, so
//! a real Trilium document has user_version 0 although its schema is complete. Such a
//! file is recognised by its `options.dbVersion` and treated as being at the baseline
//! migration, without writing anything to it.

use rusqlite::{Connection, OptionalExtension};
use rusqlite_migration::{Migrations, M};

/// Trilium's `APP_DB_VERSION` that the baseline schema corresponds to.
pub const TRILIUM_DB_VERSION: i64 = 228;

/// Synced tables and their primary keys. `note_reordering` is virtual (a parent's child positions).
pub const SYNCED_TABLES: &[(&str, &str)] = &[
    ("notes", "noteId"),
    ("blobs", "blobId"),
    ("branches", "branchId"),
    ("attributes", "attributeId"),
    ("revisions", "revisionId"),
    ("attachments", "attachmentId"),
    ("options", "name"),
    ("etapi_tokens", "etapiTokenId"),
];

/// Indexes Canopy adds beside Trilium's, for questions Trilium's own indexes answer only by reading
/// every matching row: the last position among a parent's children (each new note asks it) would
/// read all of them. Trilium ignores extra indexes; they are made on every open if missing.
/// (A covering index for sector hashes made the hash check after one edit 1.3–2 ms instead of 14–40
/// at 100,000 notes, but writing 100,000 notes took half as long again and a first sync a quarter:
/// measured and left out.)
pub const CANOPY_INDEXES: &str =
    "CREATE INDEX IF NOT EXISTS IDX_canopy_branches_parent_position ON branches (parentNoteId, isDeleted, notePosition);";

pub fn ensure_canopy_indexes(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(CANOPY_INDEXES)
}

/// Migrations in order; the first is Trilium's v228 schema.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(include_str!("migrations/0001_trilium_v228.sql"))])
}

/// Number of Canopy migrations (== user_version of an up-to-date Canopy document).
pub fn latest_version() -> usize {
    1
}

/// What an existing SQLite file turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    /// No `options` table or no `dbVersion` row.
    NotADocument,
    /// A document with this (Trilium) dbVersion.
    Document { db_version: i64 },
}

/// Reads `options.dbVersion` without modifying anything.
pub fn inspect(conn: &Connection) -> rusqlite::Result<Kind> {
    let has_options: bool = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'options'",
            [],
            |_| Ok(true),
        )
        .optional()?
        .unwrap_or(false);
    if !has_options {
        return Ok(Kind::NotADocument);
    }
    let value: Option<String> = conn
        .query_row("SELECT CAST(value AS TEXT) FROM options WHERE name = 'dbVersion'", [], |r| r.get(0))
        .optional()?;
    Ok(match value.as_deref().and_then(parse_int_lenient) {
        Some(v) => Kind::Document { db_version: v },
        None => Kind::NotADocument,
    })
}

/// JS `parseInt` semantics, which is how Trilium reads numeric options: leading
/// whitespace, optional sign, then digits; anything after ('.0' of REAL text) is ignored.
pub fn parse_int_lenient(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let v: i64 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Brings a recognised document's Canopy schema up to date. A Trilium document
/// (user_version 0) counts as being at migration 1; with only the baseline defined this
/// writes nothing.
pub fn migrate_existing(conn: &mut Connection) -> Result<(), rusqlite_migration::Error> {
    let user_version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if user_version as usize >= latest_version() || (user_version == 0 && latest_version() == 1) {
        return Ok(());
    }
    if user_version == 0 {
        // Baseline already present (it is Trilium's own schema); record that before
        // applying later migrations.
        conn.pragma_update(None, "user_version", 1)?;
    }
    migrations().to_latest(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_parse_int() {
        assert_eq!(parse_int_lenient("228.0"), Some(228));
        assert_eq!(parse_int_lenient(" 229"), Some(229));
        assert_eq!(parse_int_lenient("abc"), None);
        assert_eq!(parse_int_lenient("-5x"), Some(-5));
    }

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }
}
