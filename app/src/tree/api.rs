//! Wire types and server functions of the note tree, and the port the server implements for them.
//! Every write is one server function, one domain operation, one write transaction.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One child in the note tree: what the tree needs to draw a row.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TreeEntry {
    pub branch_id: String,
    pub note_id: String,
    pub parent_note_id: String,
    pub title: String,
    /// The branch prefix shown before the title of a clone ("Tokyo food: Ramen").
    pub prefix: Option<String>,
    pub note_type: String,
    pub mime: String,
    /// The note's own `#iconClass` (boxicons classes, e.g. `bx bx-bowl-hot`).
    pub icon_class: Option<String>,
    pub is_protected: bool,
    pub has_children: bool,
    /// Trilium's `isExpanded` of this branch.
    pub is_expanded: bool,
    /// The note has more than one parent.
    pub is_clone: bool,
}

/// The children of one note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeLevel {
    pub parent_note_id: String,
    pub children: Vec<TreeEntry>,
}

/// Levels the tree draws at once: root's, every expanded branch's (up to a budget), and those on the
/// path to the open note (whose branches come marked expanded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeSnapshot {
    pub levels: Vec<TreeLevel>,
    /// Note ids from root to the open note, empty when there is none (or it is not in the tree).
    pub path: Vec<String>,
}

/// What a deletion did, for the undo notice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteOutcome {
    pub delete_id: String,
    /// The note went too: it was its last branch.
    pub note_deleted: bool,
}

/// A note offered by the "clone to…" picker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotePick {
    pub note_id: String,
    pub title: String,
}

/// Where a move puts a branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DropPosition {
    /// Last child of the target note.
    Into,
    /// Just before the target branch.
    Before,
    /// Just after the target branch.
    After,
}

/// Note types offered when creating from the tree.
pub const CREATABLE_TYPES: &[(&str, &str)] = &[("text", "Text"), ("code", "Code")];

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{DeleteOutcome, DropPosition, NotePick, TreeEntry, TreeSnapshot};
    use crate::error::AppError;
    use std::sync::Arc;

    /// The tree's access to the document. Calls run on the blocking pool ([`crate::ssr::run_blocking`]);
    /// each write is one transaction.
    pub trait TreePort: Send + Sync + 'static {
        /// Live children of `parent_note_id` in tree order; `NotFound` if the parent does not exist.
        fn children(&self, parent_note_id: &str) -> Result<Vec<TreeEntry>, AppError>;
        /// Root's level, expanded levels, and the levels on the path to `open_note_id`.
        fn snapshot(&self, open_note_id: Option<&str>, with_expanded: bool) -> Result<TreeSnapshot, AppError>;
        /// A new note (titled "new note") as a child of `parent_note_id`, right after `after_branch_id` or last.
        fn create(&self, parent_note_id: &str, after_branch_id: Option<&str>, note_type: &str) -> Result<TreeEntry, AppError>;
        fn rename(&self, note_id: &str, title: &str) -> Result<(), AppError>;
        fn delete(&self, branch_id: &str) -> Result<DeleteOutcome, AppError>;
        fn undo_delete(&self, delete_id: &str) -> Result<(), AppError>;
        /// Returns the branch id it has now (a move to another parent makes a new branch).
        fn move_branch(&self, branch_id: &str, position: DropPosition, target: &str) -> Result<String, AppError>;
        fn clone_note(&self, note_id: &str, parent_note_id: &str, prefix: Option<&str>) -> Result<(), AppError>;
        fn set_expanded(&self, branch_id: &str, expanded: bool) -> Result<(), AppError>;
        fn find_notes(&self, query: &str) -> Result<Vec<NotePick>, AppError>;
    }

    #[derive(Clone)]
    pub struct Tree(pub Arc<dyn TreePort>);
}

#[cfg(feature = "ssr")]
fn tree() -> Result<ssr::Tree, AppError> {
    crate::ssr::port::<ssr::Tree>()
}

#[server(prefix = "/ui", endpoint = "children", client = crate::csrf::CsrfClient)]
pub async fn list_children(parent_note_id: String) -> Result<Vec<TreeEntry>, AppError> {
    let tree = tree()?;
    crate::ssr::run_blocking(move || tree.0.children(&parent_note_id)).await
}

#[server(prefix = "/ui", endpoint = "tree/snapshot", client = crate::csrf::CsrfClient)]
pub async fn load_tree(open_note_id: Option<String>) -> Result<TreeSnapshot, AppError> {
    let tree = tree()?;
    crate::ssr::run_blocking(move || tree.0.snapshot(open_note_id.as_deref(), true)).await
}

/// The levels on the path to a note opened by a link, so the tree can show it.
#[server(prefix = "/ui", endpoint = "tree/reveal", client = crate::csrf::CsrfClient)]
pub async fn reveal_note(note_id: String) -> Result<TreeSnapshot, AppError> {
    let tree = tree()?;
    crate::ssr::run_blocking(move || tree.0.snapshot(Some(&note_id), false)).await
}

#[server(prefix = "/ui", endpoint = "tree/create", client = crate::csrf::CsrfClient)]
pub async fn create_note(parent_note_id: String, after_branch_id: Option<String>, note_type: String) -> Result<TreeEntry, AppError> {
    let tree = tree()?;
    crate::ssr::run_blocking(move || tree.0.create(&parent_note_id, after_branch_id.as_deref(), &note_type)).await
}

#[server(prefix = "/ui", endpoint = "tree/rename", client = crate::csrf::CsrfClient)]
pub async fn rename_note(note_id: String, title: String) -> Result<(), AppError> {
    let tree = tree()?;
    crate::ssr::run_blocking(move || tree.0.rename(&note_id, &title)).await
}

#[server(prefix = "/ui", endpoint = "tree/delete", client = crate::csrf::CsrfClient)]
pub async fn delete_branch(branch_id: String) -> Result<DeleteOutcome, AppError> {
    let tree = tree()?;
    crate::ssr::run_blocking(move || tree.0.delete(&branch_id)).await
}

#[server(prefix = "/ui", endpoint = "tree/undo_delete", client = crate::csrf::CsrfClient)]
pub async fn undo_delete(delete_id: String) -> Result<(), AppError> {
    let tree = tree()?;
    crate::ssr::run_blocking(move || tree.0.undo_delete(&delete_id)).await
}

#[server(prefix = "/ui", endpoint = "tree/move", client = crate::csrf::CsrfClient)]
pub async fn move_branch(branch_id: String, position: DropPosition, target: String) -> Result<String, AppError> {
    let tree = tree()?;
    crate::ssr::run_blocking(move || tree.0.move_branch(&branch_id, position, &target)).await
}

#[server(prefix = "/ui", endpoint = "tree/clone", client = crate::csrf::CsrfClient)]
pub async fn clone_note(note_id: String, parent_note_id: String, prefix: Option<String>) -> Result<(), AppError> {
    let tree = tree()?;
    crate::ssr::run_blocking(move || tree.0.clone_note(&note_id, &parent_note_id, prefix.as_deref())).await
}

#[server(prefix = "/ui", endpoint = "tree/expanded", client = crate::csrf::CsrfClient)]
pub async fn set_expanded(branch_id: String, expanded: bool) -> Result<(), AppError> {
    let tree = tree()?;
    crate::ssr::run_blocking(move || tree.0.set_expanded(&branch_id, expanded)).await
}

#[server(prefix = "/ui", endpoint = "tree/find", client = crate::csrf::CsrfClient)]
pub async fn find_notes(query: String) -> Result<Vec<NotePick>, AppError> {
    crate::search::api::query_within_limit(&query)?;
    let tree = tree()?;
    crate::ssr::run_blocking(move || tree.0.find_notes(&query)).await
}
