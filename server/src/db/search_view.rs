//! Read queries for the UI's search: a result's note, the home of saved searches, a saved search's
//! attributes.
use rusqlite::{types::ValueRef, Connection, OptionalExtension};

use super::SqlResult;

/// A live note as a search result shows it.
#[derive(Debug, Clone)]
pub struct ListedNote {
    pub note_id: String,
    /// Ciphertext when `is_protected`.
    pub title: String,
    pub note_type: String,
    pub is_protected: bool,
    /// The content when it is UTF-8 text (never read for a protected note).
    pub content: Option<String>,
    /// Its own labels as `#name=value`, space-separated.
    pub labels: String,
}

pub fn listed_note(conn: &Connection, note_id: &str) -> SqlResult<Option<ListedNote>> {
    let note = conn
        .prepare_cached(
            "SELECT n.noteId, n.title, n.type, n.isProtected, CASE WHEN n.isProtected = 0 THEN b.content END
             FROM notes n LEFT JOIN blobs b ON b.blobId = n.blobId
             WHERE n.noteId = ?1 AND n.isDeleted = 0",
        )?
        .query_row([note_id], |r| {
            let content = match r.get_ref(4)? {
                ValueRef::Text(bytes) | ValueRef::Blob(bytes) => std::str::from_utf8(bytes).ok().map(str::to_owned),
                _ => None,
            };
            Ok(ListedNote {
                note_id: r.get(0)?,
                title: r.get(1)?,
                note_type: r.get(2)?,
                is_protected: r.get(3)?,
                content,
                labels: String::new(),
            })
        })
        .optional()?;
    let Some(mut note) = note else { return Ok(None) };
    if !note.is_protected {
        let labels: Vec<(String, String)> = conn
            .prepare_cached("SELECT name, value FROM attributes WHERE noteId = ?1 AND type = 'label' AND isDeleted = 0 ORDER BY position")?
            .query_map([note_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        note.labels = labels
            .iter()
            .map(|(n, v)| if v.is_empty() { format!("#{n}") } else { format!("#{n}={v}") })
            .collect::<Vec<_>>()
            .join(" ");
    }
    Ok(Some(note))
}

/// The live note labelled `#searchHome`, where Trilium files saved searches.
pub fn search_home(conn: &Connection) -> SqlResult<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT a.noteId FROM attributes a JOIN notes n ON n.noteId = a.noteId
             WHERE a.type = 'label' AND a.name = 'searchHome' AND a.isDeleted = 0 AND n.isDeleted = 0
             ORDER BY a.utcDateModified LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// A search note: its type and its own labels and relations.
#[derive(Debug, Clone)]
pub struct SavedSearch {
    pub note_type: String,
    /// `(type, name, value)`.
    pub attributes: Vec<(String, String, String)>,
}

impl SavedSearch {
    pub fn label(&self, name: &str) -> Option<String> {
        self.attributes.iter().find(|(t, n, _)| t == "label" && n == name).map(|(_, _, v)| v.clone())
    }
    pub fn relation(&self, name: &str) -> Option<String> {
        self.attributes.iter().find(|(t, n, _)| t == "relation" && n == name).map(|(_, _, v)| v.clone())
    }
}

pub fn saved_search(conn: &Connection, note_id: &str) -> SqlResult<Option<SavedSearch>> {
    let note_type: Option<String> = conn
        .query_row("SELECT type FROM notes WHERE noteId = ?1 AND isDeleted = 0", [note_id], |r| r.get(0))
        .optional()?;
    let Some(note_type) = note_type else { return Ok(None) };
    let attributes = conn
        .prepare_cached("SELECT type, name, value FROM attributes WHERE noteId = ?1 AND isDeleted = 0 ORDER BY position")?
        .query_map([note_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(Some(SavedSearch { note_type, attributes }))
}

