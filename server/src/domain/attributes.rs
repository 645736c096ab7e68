//! Labels and relations of a note: owned and inherited ones, create, update, delete
//! (Trilium's `routes/api/attributes.js`, `BAttribute`, `BNote.__getAttributes`).

use rusqlite::Connection;

use super::notes::live_note;
use super::{DomainError, DomainResult};
use crate::db::graph::Graph;
use crate::db::WriteTx;
use crate::entities::{self, Attribute, Note};

/// Trilium's two attribute types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKind {
    Label,
    Relation,
}

impl AttributeKind {
    /// The `attributes.type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeKind::Label => "label",
            AttributeKind::Relation => "relation",
        }
    }
}

/// Parameters of [`create`]. A relation's `value` is the target note id.
#[derive(Debug, Clone)]
pub struct NewAttribute {
    pub kind: AttributeKind,
    pub name: String,
    pub value: String,
    pub is_inheritable: bool,
}

/// An attribute in effect on a note that the note does not own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InheritedAttribute {
    pub attribute: Attribute,
    /// The note it comes from (an ancestor, or a template), i.e. its owner.
    pub from_note_id: String,
}

/// The note's own live attributes, in position order.
pub fn owned(conn: &Connection, note_id: &str) -> DomainResult<Vec<Attribute>> {
    live_note(conn, note_id)?;
    let mut owned = Graph::new(conn).owned_attributes(note_id)?;
    owned.sort_by_key(|a| a.position);
    Ok(owned)
}

/// Attributes in effect on the note that it does not own, as Trilium computes them: inheritable ones of
/// its ancestors, and those of its `~template`/`~inherit` targets; each once, in Trilium's order.
pub fn inherited(conn: &Connection, note_id: &str) -> DomainResult<Vec<InheritedAttribute>> {
    live_note(conn, note_id)?;
    Ok(Graph::new(conn)
        .attributes(note_id)?
        .into_iter()
        .filter(|a| a.note_id != note_id)
        .map(|a| InheritedAttribute { from_note_id: a.note_id.clone(), attribute: a })
        .collect())
}

/// The attribute editor's rule: a name of letters, digits, `_` and `:` only (the store would replace
/// anything else by `_`, see [`sanitize_name`]).
fn check_name(name: &str) -> DomainResult<()> {
    if name.is_empty() {
        return Err(DomainError::Invalid("The attribute name must not be empty.".into()));
    }
    if name != sanitize_name(name) {
        return Err(DomainError::Invalid(format!(
            "Attribute name '{name}' can be composed of alphanumeric characters, colon and underscore only."
        )));
    }
    Ok(())
}

/// Adds a label or relation (name validated as Trilium's attribute editor does; a relation needs a live
/// target), last in position.
pub fn create(tx: &mut WriteTx<'_>, note_id: &str, a: NewAttribute) -> DomainResult<Attribute> {
    live_note(tx.conn(), note_id)?;
    check_name(&a.name)?;
    let mut attr = Attribute::new(note_id, a.kind.as_str(), &a.name, &a.value);
    attr.is_inheritable = a.is_inheritable;
    save(tx, attr, None)
}

/// Changes name, value and inheritability. As Trilium's `updateNoteAttribute`, a new name (or a
/// relation's new target) makes a new attribute in the same position and deletes the old one, since
/// both are part of the attribute's identity; otherwise the attribute is updated in place.
pub fn update(tx: &mut WriteTx<'_>, attribute_id: &str, name: &str, value: &str, is_inheritable: bool) -> DomainResult<Attribute> {
    let mut attr = live_attribute(tx.conn(), attribute_id)?;
    check_name(name)?;
    if attr.name == name && (attr.attr_type == "label" || attr.value == value) {
        if attr.value == value && attr.is_inheritable == is_inheritable {
            return Ok(attr);
        }
        attr.value = value.to_owned();
        attr.is_inheritable = is_inheritable;
        let position = attr.position;
        return save(tx, attr, Some(position));
    }
    let mut replacement = Attribute::new(&attr.note_id, &attr.attr_type, name, value);
    replacement.is_inheritable = is_inheritable;
    let replacement = save(tx, replacement, Some(attr.position))?;
    mark_deleted(tx, attr)?;
    Ok(replacement)
}

/// Marks the attribute deleted (Trilium's `markAsDeleted`, no deleteId).
pub fn delete(tx: &mut WriteTx<'_>, attribute_id: &str) -> DomainResult<()> {
    let attr = live_attribute(tx.conn(), attribute_id)?;
    mark_deleted(tx, attr)
}

fn mark_deleted(tx: &mut WriteTx<'_>, mut attr: Attribute) -> DomainResult<()> {
    attr.is_deleted = true;
    attr.delete_id = None;
    attr.utc_date_modified = tx.utc_now();
    entities::save(tx, &attr)?;
    resort(tx, &attr)
}

/// Trilium's handlers re-sort `#sorted` notes when a label that sorting looks at changes.
fn resort(tx: &mut WriteTx<'_>, attr: &Attribute) -> DomainResult<()> {
    match entities::load::<Note>(tx.conn(), &attr.note_id)?.filter(|n| !n.is_deleted) {
        Some(note) => super::sorting::after_label_change(tx, &note, attr),
        None => Ok(()),
    }
}

/// A live (not deleted) attribute, or `NotFound`.
pub fn live_attribute(conn: &Connection, attribute_id: &str) -> DomainResult<Attribute> {
    entities::load::<Attribute>(conn, attribute_id)?
        .filter(|a| !a.is_deleted)
        .ok_or_else(|| DomainError::not_found("attributes", attribute_id))
}

/// `sanitizeAttributeName`: anything but letters, digits, `_` and `:` becomes `_`.
pub fn sanitize_name(name: &str) -> String {
    name.chars().map(|c| if c.is_alphanumeric() || c == '_' || c == ':' { c } else { '_' }).collect()
}

/// `BAttribute.beforeSaving` + save: non-blank name (sanitized), a relation's target alive, value never
/// null, position after the largest among the note's (owned and inherited) attributes when `None`.
pub fn save(tx: &mut WriteTx<'_>, mut attr: Attribute, position: Option<i64>) -> DomainResult<Attribute> {
    if attr.name.trim().is_empty() {
        return Err(DomainError::Invalid(format!(
            "Invalid empty name in attribute '{}' of note '{}'",
            attr.attribute_id, attr.note_id
        )));
    }
    if attr.attr_type == "relation" && live_note(tx.conn(), &attr.value).is_err() {
        return Err(DomainError::Invalid(format!(
            "Cannot save relation '{}' of note '{}' since it targets not existing note '{}'.",
            attr.name, attr.note_id, attr.value
        )));
    }
    attr.name = sanitize_name(&attr.name);
    attr.position = match position {
        Some(p) => p,
        None => Graph::new(tx.conn()).attributes(&attr.note_id)?.iter().map(|a| a.position).fold(0, i64::max) + 10,
    };
    attr.utc_date_modified = tx.utc_now();
    let is_new = entities::load::<Attribute>(tx.conn(), &attr.attribute_id)?.is_none();
    entities::save(tx, &attr)?;
    resort(tx, &attr)?;
    if is_new && attr.attr_type == "relation" && attr.name == "template" {
        super::templates::apply(tx, &attr.note_id, &attr.value)?;
    }
    Ok(attr)
}
