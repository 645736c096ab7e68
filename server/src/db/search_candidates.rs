//! The document's side of narrowing a search to candidates ([`crate::domain::search::narrow`]): the
//! few small fields of a note's searchable "flat text" that the full-text index does not hold (ids,
//! types and mimes, branch prefixes, relations), and what makes narrowing unsafe (inherited labels,
//! templates). Each read returns raw rows; the caller folds and compares them as the evaluator does.
use std::collections::HashSet;

use rusqlite::Connection;

use super::SqlResult;

/// Live notes whose id contains `fragment` (ASCII letters, digits and `_` only), compared as ASCII
/// without case, which is how a folded token meets an id made of those characters.
pub fn notes_with_id_containing(conn: &Connection, fragment: &str) -> SqlResult<Vec<String>> {
    debug_assert!(fragment.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    let pattern = format!("%{}%", fragment.replace('_', "\\_"));
    let mut stmt = conn.prepare_cached("SELECT noteId FROM notes WHERE isDeleted = 0 AND noteId LIKE ?1 ESCAPE '\\'")?;
    let rows = stmt.query_map([pattern], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}

/// Live notes whose id has a character other than ASCII letters, digits and `_` (none in a document
/// Trilium made; a synced one may hold anything), for the caller to compare itself.
pub fn notes_with_unusual_ids(conn: &Connection) -> SqlResult<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT noteId FROM notes WHERE isDeleted = 0 AND noteId GLOB '*[^A-Za-z0-9_]*'")?;
    let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}

/// The distinct `(type, mime)` pairs of live notes.
pub fn type_mime_pairs(conn: &Connection) -> SqlResult<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached("SELECT DISTINCT type, mime FROM notes WHERE isDeleted = 0")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Live notes of this type and mime.
pub fn notes_of_type(conn: &Connection, note_type: &str, mime: &str) -> SqlResult<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT noteId FROM notes WHERE isDeleted = 0 AND type = ?1 AND mime = ?2")?;
    let rows = stmt.query_map([note_type, mime], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}

/// `(noteId, prefix)` of every live branch with a prefix.
pub fn branch_prefixes(conn: &Connection) -> SqlResult<Vec<(String, String)>> {
    let mut stmt =
        conn.prepare_cached("SELECT noteId, prefix FROM branches WHERE isDeleted = 0 AND prefix IS NOT NULL AND prefix <> ''")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A live attribute as the search's flat text writes it, with what decides where it is in effect.
#[derive(Debug, Clone)]
pub struct AttributeRow {
    pub note_id: String,
    pub attr_type: String,
    pub name: String,
    pub value: String,
    pub is_inheritable: bool,
}

/// A row of `SELECT noteId, type, name, value, isInheritable FROM attributes`.
fn attribute_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AttributeRow> {
    Ok(AttributeRow {
        note_id: r.get(0)?,
        attr_type: r.get(1)?,
        name: r.get(2)?,
        value: r.get(3)?,
        is_inheritable: r.get::<_, i64>(4)? != 0,
    })
}

fn attribute_rows(conn: &Connection, sql: &str, param: Option<&str>) -> SqlResult<Vec<AttributeRow>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = match param {
        Some(p) => stmt.query_map([p], attribute_row)?.collect::<Result<Vec<_>, _>>()?,
        None => stmt.query_map([], attribute_row)?.collect::<Result<Vec<_>, _>>()?,
    };
    Ok(rows)
}

/// Live attributes of `attr_type` ("label" or "relation") whose name, lowercased, is `lowercase_name`:
/// those SQLite's ASCII `lower()` finds, plus every name outside printable ASCII (a few non-ASCII
/// letters lowercase to ASCII ones), which the caller compares itself.
pub fn attributes_named(conn: &Connection, attr_type: &str, lowercase_name: &str) -> SqlResult<Vec<AttributeRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT noteId, type, name, value, isInheritable FROM attributes
          WHERE isDeleted = 0 AND type = ?1 AND (lower(name) = ?2 OR name GLOB '*[^ -~]*')",
    )?;
    let rows = stmt.query_map([attr_type, lowercase_name], attribute_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows.into_iter().filter(|a| a.name.to_lowercase() == lowercase_name).collect())
}

/// Every live relation (the index holds labels only).
pub fn relations(conn: &Connection) -> SqlResult<Vec<AttributeRow>> {
    attribute_rows(
        conn,
        "SELECT noteId, type, name, value, isInheritable FROM attributes WHERE isDeleted = 0 AND type = 'relation'",
        None,
    )
}

/// The live labels a note owns.
pub fn labels_of(conn: &Connection, note_id: &str) -> SqlResult<Vec<AttributeRow>> {
    attribute_rows(
        conn,
        "SELECT noteId, type, name, value, isInheritable FROM attributes WHERE isDeleted = 0 AND type = 'label' AND noteId = ?1",
        Some(note_id),
    )
}

/// The live labels of protected notes: the index leaves them out, but labels are never encrypted and
/// one may be in effect on other notes.
pub fn labels_of_protected_notes(conn: &Connection) -> SqlResult<Vec<AttributeRow>> {
    attribute_rows(
        conn,
        "SELECT a.noteId, a.type, a.name, a.value, a.isInheritable FROM attributes a JOIN notes n ON n.noteId = a.noteId
         WHERE a.isDeleted = 0 AND a.type = 'label' AND n.isDeleted = 0 AND n.isProtected = 1",
        None,
    )
}

/// Notes whose attributes other notes take in through `~template` or `~inherit`.
pub fn template_targets(conn: &Connection) -> SqlResult<HashSet<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT value FROM attributes WHERE isDeleted = 0 AND type = 'relation' AND name IN ('template', 'inherit')",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<HashSet<String>, _>>()?;
    Ok(rows)
}

/// Live protected notes: the index leaves them out, so narrowing keeps them all as candidates.
pub fn protected_notes(conn: &Connection) -> SqlResult<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT noteId FROM notes WHERE isDeleted = 0 AND isProtected = 1")?;
    let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}
