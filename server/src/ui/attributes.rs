//! The attribute panel's port: a note's labels and relations through the domain layer.
pub mod text;

use app::attributes::api::{ssr::AttributePort, AttributeChip, AttributeKind, InheritedChip, NoteAttributes, NoteHit, NOTE_HITS_LIMIT};
use app::error::AppError;
use rusqlite::Connection;

use super::{domain_error, PROTECTED_TITLE};
use crate::db::{attribute_view, ChangeSource, DbError, Document, InstanceId};
use crate::domain::{self, attributes::NewAttribute, DomainError};
use crate::entities::Attribute;

pub struct DocumentAttributes {
    document: Document,
    source: ChangeSource,
}

impl DocumentAttributes {
    pub fn new(document: Document, instance_id: InstanceId) -> Self {
        DocumentAttributes { document, source: ChangeSource::new(instance_id).with_component("ui") }
    }

    /// Runs `change` in one write transaction and answers with the note's attributes after it; on an
    /// error the transaction rolls back, so nothing of it is written. `change` returns the attribute
    /// names it touched (before and after), which say what the tree has to reload.
    fn change(
        &self,
        note_id: &str,
        change: impl FnOnce(&mut crate::db::WriteTx<'_>) -> Result<Vec<String>, DomainError>,
    ) -> Result<NoteAttributes, AppError> {
        self.document
            .write_with(&super::ui_source(&self.source.instance_id), |tx| {
                let names = change(tx)?;
                let mut attributes = load(tx.conn(), note_id)?;
                attributes.tree_levels_changed = tree_levels_changed(tx.conn(), note_id, &names)?;
                Ok(attributes)
            })
            .map_err(domain_error)
    }
}

/// Labels the tree shows on the note's own row: its icon, and Trilium's `#top`/`#bottom` placing
/// among its siblings.
const ROW_LABELS: &[&str] = &["iconClass", "top", "bottom"];
/// Labels on a note that order its children (the domain layer re-sorts them).
const SORT_LABELS: &[&str] = &["sorted", "sortDirection", "sortFoldersFirst", "sortNatural", "sortLocale"];

/// The notes whose children the tree reloads after attributes named `names` changed on `note_id`.
/// Not covered, to stay cheap: a parent sorted by the value of some other label (`#sorted=myLabel`).
fn tree_levels_changed(conn: &Connection, note_id: &str, names: &[String]) -> Result<Vec<String>, DbError> {
    let mut levels = Vec::new();
    if names.iter().any(|n| ROW_LABELS.contains(&n.as_str())) {
        levels.extend(attribute_view::parent_ids(conn, note_id)?);
    }
    if names.iter().any(|n| SORT_LABELS.contains(&n.as_str())) {
        levels.push(note_id.to_owned());
    }
    Ok(levels)
}

/// The attribute `attribute_id`, if `note_id` owns it: the panel edits a note's own attributes only,
/// so a stale page cannot change another note's through this one.
fn owned_by(conn: &Connection, note_id: &str, attribute_id: &str) -> Result<Attribute, DomainError> {
    let attribute = domain::attributes::live_attribute(conn, attribute_id)?;
    if attribute.note_id != note_id {
        return Err(DomainError::NotAllowed(format!(
            "Attribute '{}' belongs to another note; change it there.",
            attribute.name
        )));
    }
    Ok(attribute)
}

fn kind_of(kind: AttributeKind) -> domain::attributes::AttributeKind {
    match kind {
        AttributeKind::Label => domain::attributes::AttributeKind::Label,
        AttributeKind::Relation => domain::attributes::AttributeKind::Relation,
    }
}

fn display_title(conn: &Connection, note_id: &str) -> Result<Option<String>, DbError> {
    Ok(attribute_view::title(conn, note_id)?
        .map(|t| if t.is_protected { PROTECTED_TITLE.to_string() } else { t.title }))
}

fn chip(conn: &Connection, a: Attribute) -> Result<AttributeChip, DbError> {
    let kind = if a.attr_type == "relation" { AttributeKind::Relation } else { AttributeKind::Label };
    let target_title = match kind {
        AttributeKind::Relation => display_title(conn, &a.value)?,
        AttributeKind::Label => None,
    };
    Ok(AttributeChip {
        attribute_id: a.attribute_id,
        kind,
        name: a.name,
        value: a.value,
        is_inheritable: a.is_inheritable,
        target_title,
    })
}

fn load(conn: &Connection, note_id: &str) -> Result<NoteAttributes, DomainError> {
    let owned = domain::attributes::owned(conn, note_id)?
        .into_iter()
        .map(|a| chip(conn, a))
        .collect::<Result<_, _>>()?;
    let inherited = domain::attributes::inherited(conn, note_id)?
        .into_iter()
        .map(|i| {
            let from_title = display_title(conn, &i.from_note_id)?.unwrap_or_else(|| i.from_note_id.clone());
            Ok(InheritedChip { attribute: chip(conn, i.attribute)?, from_note_id: i.from_note_id, from_title })
        })
        .collect::<Result<_, DbError>>()?;
    Ok(NoteAttributes { note_id: note_id.to_owned(), owned, inherited, tree_levels_changed: Vec::new() })
}

impl AttributePort for DocumentAttributes {
    fn attributes(&self, note_id: &str) -> Result<NoteAttributes, AppError> {
        self.document.read_with(|conn| load(conn, note_id)).map_err(domain_error)
    }

    fn create(
        &self,
        note_id: &str,
        kind: AttributeKind,
        name: &str,
        value: &str,
        is_inheritable: bool,
    ) -> Result<NoteAttributes, AppError> {
        let new = NewAttribute { kind: kind_of(kind), name: name.trim().to_owned(), value: value.to_owned(), is_inheritable };
        self.change(note_id, |tx| Ok(vec![domain::attributes::create(tx, note_id, new)?.name]))
    }

    fn create_from_text(&self, note_id: &str, text: &str) -> Result<NoteAttributes, AppError> {
        let parsed = text::parse(text).map_err(|e| AppError::Invalid(e.0))?;
        if parsed.is_empty() {
            return Err(AppError::Invalid("Type an attribute, such as #label=value or ~relation=@noteId.".into()));
        }
        self.change(note_id, |tx| {
            parsed.into_iter().map(|new| Ok(domain::attributes::create(tx, note_id, new)?.name)).collect()
        })
    }

    fn update(
        &self,
        note_id: &str,
        attribute_id: &str,
        name: &str,
        value: &str,
        is_inheritable: bool,
    ) -> Result<NoteAttributes, AppError> {
        self.change(note_id, |tx| {
            let before = owned_by(tx.conn(), note_id, attribute_id)?;
            let after = domain::attributes::update(tx, attribute_id, name.trim(), value, is_inheritable)?;
            Ok(vec![before.name, after.name])
        })
    }

    fn delete(&self, note_id: &str, attribute_id: &str) -> Result<NoteAttributes, AppError> {
        self.change(note_id, |tx| {
            let before = owned_by(tx.conn(), note_id, attribute_id)?;
            domain::attributes::delete(tx, attribute_id)?;
            Ok(vec![before.name])
        })
    }

    fn find_notes(&self, query: &str) -> Result<Vec<NoteHit>, AppError> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let hits = self
            .document
            .read(|conn| attribute_view::find_by_title(conn, query, NOTE_HITS_LIMIT))
            .map_err(super::internal)?;
        Ok(hits
            .into_iter()
            .map(|h| NoteHit { note_id: h.note_id, title: h.title, parent_title: h.parent_title })
            .collect())
    }
}
