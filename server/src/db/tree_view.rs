//! Read queries for the UI's note tree: one query per level, whatever the level's size.
use rusqlite::{Connection, OptionalExtension};

use super::SqlResult;

/// The hidden subtree (`_hidden`) holds Trilium's system notes; like Trilium, the tree does not show it.
pub const HIDDEN_ROOT: &str = "_hidden";

/// How far [`path_to`] climbs before it gives up (a deeper tree, or a cycle left by a broken sync).
const MAX_DEPTH: usize = 200;

/// One live child branch with what a tree row shows.
#[derive(Debug, Clone)]
pub struct ChildRow {
    pub branch_id: String,
    pub note_id: String,
    /// Ciphertext when `is_protected`.
    pub title: String,
    pub prefix: Option<String>,
    pub note_type: String,
    pub mime: String,
    pub is_protected: bool,
    pub has_children: bool,
    /// Trilium's `branches.isExpanded`: the tree shows this branch open.
    pub is_expanded: bool,
    /// Live branches of the note: more than one makes it a clone.
    pub parent_count: i64,
    /// The note's own `#iconClass` label (a boxicons class list such as `bx bx-bowl-hot`).
    pub icon_class: Option<String>,
}

pub fn note_exists(conn: &Connection, note_id: &str) -> SqlResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM notes WHERE noteId = ?1 AND isDeleted = 0")?
        .query_row([note_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// What a row shows, for branches `b` joined to their notes `n`; `?2` is [`HIDDEN_ROOT`]. The child
/// test, the parent count and the icon label are correlated subqueries on indexed columns
/// (`branches.parentNoteId`, `branches.noteId`, `attributes.noteId`), so a level is one statement, not
/// one per row.
const ROW_SELECT: &str = "SELECT b.branchId, n.noteId, n.title, b.prefix, n.type, n.mime, n.isProtected, b.isExpanded,
        EXISTS(SELECT 1 FROM branches c WHERE c.parentNoteId = n.noteId AND c.isDeleted = 0 AND c.noteId != ?2),
        (SELECT COUNT(*) FROM branches p WHERE p.noteId = n.noteId AND p.isDeleted = 0),
        (SELECT a.value FROM attributes a
         WHERE a.noteId = n.noteId AND a.type = 'label' AND a.name = 'iconClass' AND a.isDeleted = 0
         ORDER BY a.position LIMIT 1)
    FROM branches b JOIN notes n ON n.noteId = b.noteId";

fn child_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChildRow> {
    Ok(ChildRow {
        branch_id: r.get(0)?,
        note_id: r.get(1)?,
        title: r.get(2)?,
        prefix: r.get(3)?,
        note_type: r.get(4)?,
        mime: r.get(5)?,
        is_protected: r.get(6)?,
        is_expanded: r.get(7)?,
        has_children: r.get(8)?,
        parent_count: r.get(9)?,
        icon_class: r.get::<_, Option<String>>(10)?.filter(|v| !v.trim().is_empty()),
    })
}

/// Live children of `parent_note_id` in tree order, without the hidden subtree.
pub fn children(conn: &Connection, parent_note_id: &str) -> SqlResult<Vec<ChildRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{ROW_SELECT}
         WHERE b.parentNoteId = ?1 AND b.isDeleted = 0 AND n.isDeleted = 0 AND n.noteId != ?2
         ORDER BY b.notePosition, b.branchId"
    ))?;
    let rows = stmt.query_map([parent_note_id, HIDDEN_ROOT], child_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// One live branch as a row (a note just created), without reading its siblings.
pub fn branch_row(conn: &Connection, branch_id: &str) -> SqlResult<Option<ChildRow>> {
    Ok(conn
        .prepare_cached(&format!("{ROW_SELECT} WHERE b.branchId = ?1 AND b.isDeleted = 0 AND n.isDeleted = 0"))?
        .query_row([branch_id, HIDDEN_ROOT], child_row)
        .optional()?)
}

/// The note ids from `root` down to `note_id` (both included) along the first live path, preferring at
/// each step a parent whose own branch is expanded (the path the tree already shows) and never passing
/// through the hidden subtree. `None` when the note is missing, deleted or reachable only through
/// `_hidden`.
pub fn path_to(conn: &Connection, note_id: &str) -> SqlResult<Option<Vec<String>>> {
    if !note_exists(conn, note_id)? {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT b.parentNoteId FROM branches b JOIN notes p ON p.noteId = b.parentNoteId
         WHERE b.noteId = ?1 AND b.isDeleted = 0 AND p.isDeleted = 0 AND b.parentNoteId != ?2
         ORDER BY b.parentNoteId = 'root' DESC,
                  EXISTS(SELECT 1 FROM branches e WHERE e.noteId = b.parentNoteId AND e.isDeleted = 0 AND e.isExpanded = 1) DESC,
                  b.notePosition, b.branchId",
    )?;
    let mut path = vec![note_id.to_string()];
    while path.last().is_some_and(|id| id != "root") {
        if path.len() > MAX_DEPTH {
            return Ok(None);
        }
        let current = path.last().cloned().unwrap_or_default();
        let parents = stmt
            .query_map([current.as_str(), HIDDEN_ROOT], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        // A parent already on the path would loop; take the first that is not.
        match parents.into_iter().find(|p| !path.contains(p)) {
            Some(parent) => path.push(parent),
            None => return Ok(None),
        }
    }
    path.reverse();
    Ok(Some(path))
}

/// Notes whose title contains `query` (case-insensitive for ASCII), for the "clone to…" picker; system
/// notes (ids starting with `_`) and protected notes (their titles are ciphertext) are left out.
pub fn find_by_title(conn: &Connection, query: &str, limit: usize) -> SqlResult<Vec<(String, String)>> {
    let pattern = format!("%{}%", query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let mut stmt = conn.prepare_cached(
        "SELECT noteId, title FROM notes
         WHERE isDeleted = 0 AND isProtected = 0 AND noteId NOT LIKE '\\_%' ESCAPE '\\'
           AND title LIKE ?1 ESCAPE '\\'
         ORDER BY length(title), title LIMIT ?2",
    )?;
    let rows = stmt.query_map(rusqlite::params![pattern, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
