//! ETAPI's JSON view of a note, from the store's tree view ([`Graph`]).

use rusqlite::Connection;

use super::error::{EtapiError, EtapiResult};
use super::wire::{AttributeJson, NoteJson};
use crate::db::graph::Graph;
use crate::entities::Note;

/// Trilium's `mapNoteToPojo`.
pub fn map_note(g: &mut Graph<'_>, note: &Note) -> EtapiResult<NoteJson> {
    let mut json = NoteJson::bare(note);
    for b in g.parent_branches(&note.note_id)? {
        if g.note(&b.parent_note_id)?.is_some() {
            json.parent_note_ids.push(b.parent_note_id.clone());
            json.parent_branch_ids.push(b.branch_id.clone());
        }
    }
    for b in g.child_branches(&note.note_id)? {
        if g.note(&b.note_id)?.is_some() {
            json.child_note_ids.push(b.note_id.clone());
            json.child_branch_ids.push(b.branch_id.clone());
        }
    }
    json.attributes = g.attributes(&note.note_id)?.iter().map(AttributeJson::from).collect();
    Ok(json)
}

/// A live note as ETAPI sends it, or 404 `NOTE_NOT_FOUND`.
pub fn note_json(conn: &Connection, note_id: &str) -> EtapiResult<NoteJson> {
    let mut g = Graph::new(conn);
    let note = g.note(note_id)?.ok_or_else(|| EtapiError::note_not_found(note_id))?;
    map_note(&mut g, &note)
}
