//! What committed writes mean for an open page: which notes to redraw, which tree levels to reload,
//! which notes are gone, grouped by the UI component (page) that caused them.
use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{params_from_iter, Connection, OptionalExtension};

use super::SqlResult;

/// The changes one component caused, as a page applies them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PageChanges {
    /// Notes whose title, type, content or attributes changed (and that are still live).
    pub notes: BTreeSet<String>,
    /// Parents whose children changed (a branch created, moved, deleted, reordered or re-prefixed).
    pub parents: BTreeSet<String>,
    /// Notes deleted by these writes.
    pub deleted: BTreeSet<String>,
    /// Notes that got a revision (an open revisions list reloads).
    pub revisions: BTreeSet<String>,
}

impl PageChanges {
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty() && self.parents.is_empty() && self.deleted.is_empty() && self.revisions.is_empty()
    }
}

/// Rows looked up per statement (SQLite's default limit of bound parameters is far above).
const CHUNK: usize = 500;

/// Reads the `entity_changes` rows `ids` and maps them to [`PageChanges`] per `componentId`. An id whose
/// row was replaced by a later change of the same entity is skipped: that later change is announced too.
pub fn page_changes(conn: &Connection, ids: &[i64]) -> SqlResult<BTreeMap<String, PageChanges>> {
    let mut by_component: BTreeMap<String, PageChanges> = BTreeMap::new();
    for chunk in ids.chunks(CHUNK) {
        let marks = vec!["?"; chunk.len()].join(",");
        let mut stmt = conn.prepare(&format!(
            "SELECT entityName, entityId, componentId FROM entity_changes WHERE id IN ({marks}) AND isErased = 0"
        ))?;
        let rows = stmt
            .query_map(params_from_iter(chunk.iter()), |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        for (entity_name, entity_id, component_id) in rows {
            let page = by_component.entry(component_id).or_default();
            match entity_name.as_str() {
                "notes" => {
                    let deleted: Option<bool> = conn
                        .query_row("SELECT isDeleted FROM notes WHERE noteId = ?1", [&entity_id], |r| r.get(0))
                        .optional()?;
                    match deleted {
                        Some(true) => page.deleted.insert(entity_id),
                        Some(false) => page.notes.insert(entity_id),
                        None => false,
                    };
                }
                "attributes" => {
                    let note: Option<String> = conn
                        .query_row("SELECT noteId FROM attributes WHERE attributeId = ?1", [&entity_id], |r| r.get(0))
                        .optional()?;
                    page.notes.extend(note);
                }
                "branches" => {
                    let parent: Option<String> = conn
                        .query_row("SELECT parentNoteId FROM branches WHERE branchId = ?1", [&entity_id], |r| r.get(0))
                        .optional()?;
                    page.parents.extend(parent);
                }
                // Trilium's `note_reordering` change is keyed by the parent whose children moved.
                "note_reordering" => {
                    page.parents.insert(entity_id);
                }
                // A written revision; an erased one has no row left (and isErased), and the page that
                // deleted it already shows that.
                "revisions" => {
                    let note: Option<String> = conn
                        .query_row("SELECT noteId FROM revisions WHERE revisionId = ?1", [&entity_id], |r| r.get(0))
                        .optional()?;
                    page.revisions.extend(note);
                }
                // Content lives in blobs, but a new content always gives the note a new blobId, so the
                // note's own change says it; options, attachments and the rest are not shown.
                _ => {}
            }
        }
    }
    by_component.retain(|_, page| {
        page.notes = &page.notes - &page.deleted;
        !page.is_empty()
    });
    Ok(by_component)
}
