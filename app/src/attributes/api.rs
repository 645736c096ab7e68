//! Wire types and server functions of the attribute panel (a note's labels and relations), and the
//! port the server implements for them. Every change answers with the note's attributes as they are
//! afterwards, so the panel never shows a guess.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Trilium's two attribute types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeKind {
    Label,
    Relation,
}

/// One label or relation as the panel draws it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AttributeChip {
    pub attribute_id: String,
    pub kind: AttributeKind,
    pub name: String,
    /// A label's value, or a relation's target note id.
    pub value: String,
    pub is_inheritable: bool,
    /// A relation's target title (`None` for labels, or when the target is gone).
    pub target_title: Option<String>,
}

/// An attribute in effect on the note that another note owns (an ancestor's inheritable one, a template's).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InheritedChip {
    pub attribute: AttributeChip,
    pub from_note_id: String,
    pub from_title: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteAttributes {
    pub note_id: String,
    /// In position order.
    pub owned: Vec<AttributeChip>,
    /// In Trilium's order of inheritance.
    pub inherited: Vec<InheritedChip>,
    /// After a change, the notes whose children the tree should reload, because the change touched
    /// what the tree shows: the note's icon or place among its siblings (`#iconClass`, `#top`,
    /// `#bottom`: its parents), or how its own children are sorted (`#sorted`, `#sortDirection`, …:
    /// the note itself). Empty when nothing in the tree changed, and for plain reads.
    pub tree_levels_changed: Vec<String>,
}

/// A candidate target of a relation, found by title.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteHit {
    pub note_id: String,
    pub title: String,
    /// The title of its first parent, to tell notes of the same title apart.
    pub parent_title: Option<String>,
}

/// How many notes the relation target picker offers at most.
pub const NOTE_HITS_LIMIT: usize = 15;

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{AttributeKind, NoteAttributes, NoteHit};
    use crate::error::AppError;
    use std::sync::Arc;

    /// The attribute panel's access to the document. Calls run on the blocking pool
    /// ([`crate::ssr::run_blocking`]). Writes change nothing when they return an error.
    pub trait AttributePort: Send + Sync + 'static {
        fn attributes(&self, note_id: &str) -> Result<NoteAttributes, AppError>;
        /// Adds one label or relation (a relation's `value` is the target note id).
        fn create(
            &self,
            note_id: &str,
            kind: AttributeKind,
            name: &str,
            value: &str,
            is_inheritable: bool,
        ) -> Result<NoteAttributes, AppError>;
        /// Adds every attribute written in Trilium's text syntax (`#label=value ~relation=@noteId`),
        /// all or none.
        fn create_from_text(&self, note_id: &str, text: &str) -> Result<NoteAttributes, AppError>;
        /// Changes an attribute that `note_id` owns.
        fn update(
            &self,
            note_id: &str,
            attribute_id: &str,
            name: &str,
            value: &str,
            is_inheritable: bool,
        ) -> Result<NoteAttributes, AppError>;
        /// Deletes an attribute that `note_id` owns.
        fn delete(&self, note_id: &str, attribute_id: &str) -> Result<NoteAttributes, AppError>;
        /// Live notes whose title contains `query`, best first, at most [`super::NOTE_HITS_LIMIT`].
        fn find_notes(&self, query: &str) -> Result<Vec<NoteHit>, AppError>;
    }

    #[derive(Clone)]
    pub struct Attributes(pub Arc<dyn AttributePort>);
}

#[server(prefix = "/ui", endpoint = "attributes", client = crate::csrf::CsrfClient)]
pub async fn get_attributes(note_id: String) -> Result<NoteAttributes, AppError> {
    let port = crate::ssr::port::<ssr::Attributes>()?;
    crate::ssr::run_blocking(move || port.0.attributes(&note_id)).await
}

#[server(prefix = "/ui", endpoint = "attribute_add", client = crate::csrf::CsrfClient)]
pub async fn add_attribute(
    note_id: String,
    kind: AttributeKind,
    name: String,
    value: String,
    is_inheritable: bool,
) -> Result<NoteAttributes, AppError> {
    let port = crate::ssr::port::<ssr::Attributes>()?;
    crate::ssr::run_blocking(move || port.0.create(&note_id, kind, &name, &value, is_inheritable)).await
}

#[server(prefix = "/ui", endpoint = "attribute_add_text", client = crate::csrf::CsrfClient)]
pub async fn add_attributes_text(note_id: String, text: String) -> Result<NoteAttributes, AppError> {
    let port = crate::ssr::port::<ssr::Attributes>()?;
    crate::ssr::run_blocking(move || port.0.create_from_text(&note_id, &text)).await
}

#[server(prefix = "/ui", endpoint = "attribute_update", client = crate::csrf::CsrfClient)]
pub async fn update_attribute(
    note_id: String,
    attribute_id: String,
    name: String,
    value: String,
    is_inheritable: bool,
) -> Result<NoteAttributes, AppError> {
    let port = crate::ssr::port::<ssr::Attributes>()?;
    crate::ssr::run_blocking(move || port.0.update(&note_id, &attribute_id, &name, &value, is_inheritable)).await
}

#[server(prefix = "/ui", endpoint = "attribute_delete", client = crate::csrf::CsrfClient)]
pub async fn delete_attribute(note_id: String, attribute_id: String) -> Result<NoteAttributes, AppError> {
    let port = crate::ssr::port::<ssr::Attributes>()?;
    crate::ssr::run_blocking(move || port.0.delete(&note_id, &attribute_id)).await
}

#[server(prefix = "/ui", endpoint = "attribute_targets", client = crate::csrf::CsrfClient)]
pub async fn find_target_notes(query: String) -> Result<Vec<NoteHit>, AppError> {
    crate::search::api::query_within_limit(&query)?;
    let port = crate::ssr::port::<ssr::Attributes>()?;
    crate::ssr::run_blocking(move || port.0.find_notes(&query)).await
}
