//! Wire types and server functions of the note tree, and the port the server implements for them.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One child in the note tree: what the tree needs to draw a row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeEntry {
    pub branch_id: String,
    pub note_id: String,
    pub title: String,
    /// The branch prefix shown before the title of a clone ("Tokyo food: Ramen").
    pub prefix: Option<String>,
    pub note_type: String,
    pub is_protected: bool,
    pub has_children: bool,
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::TreeEntry;
    use crate::error::AppError;
    use std::sync::Arc;

    /// The tree's access to the document. Calls run on the blocking pool ([`crate::ssr::run_blocking`]).
    pub trait TreePort: Send + Sync + 'static {
        /// Live children of `parent_note_id` in tree order; `NotFound` if the parent does not exist.
        fn children(&self, parent_note_id: &str) -> Result<Vec<TreeEntry>, AppError>;
    }

    #[derive(Clone)]
    pub struct Tree(pub Arc<dyn TreePort>);
}

#[server(prefix = "/ui", endpoint = "children", client = crate::csrf::CsrfClient)]
pub async fn list_children(parent_note_id: String) -> Result<Vec<TreeEntry>, AppError> {
    let tree = crate::ssr::port::<ssr::Tree>()?;
    crate::ssr::run_blocking(move || tree.0.children(&parent_note_id)).await
}
