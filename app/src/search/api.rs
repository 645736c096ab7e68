//! Wire types and server functions of search (quick search, the search page, saved searches, jump to
//! note), and the port the server implements for them.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One piece of a snippet: plain text, `marked` when it is a matched word. The page renders each part
/// as text (a matched one inside `<mark>`), so nothing from a note ever becomes markup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnippetPart {
    pub text: String,
    pub marked: bool,
}

/// A note found by a search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub note_id: String,
    pub title: String,
    /// The titles of its ancestors, "Fixture Notebook / Engineering" (empty under the root).
    pub path: String,
    /// The matched words in context; empty when the match was in the title only.
    pub snippet: Vec<SnippetPart>,
}

/// What the quick-search box lists while typing: title matches first, then text matches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickResults {
    pub titles: Vec<SearchHit>,
    pub texts: Vec<SearchHit>,
}

/// The answer of a full search (the search page, a saved search).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResults {
    /// The query as run (a saved search's `#searchString`).
    pub query: String,
    /// All matches, at most [`MAX_LISTED`] of them listed in `hits`.
    pub total: usize,
    pub hits: Vec<SearchHit>,
    /// Why the query did not parse, if it did not.
    pub error: Option<String>,
}

/// The most results a page lists.
pub const MAX_LISTED: usize = 200;
/// Results per group in the quick-search box.
pub const QUICK_LIMIT: usize = 8;
/// Results in the "jump to note" dialog.
pub const JUMP_LIMIT: usize = 20;

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{QuickResults, SearchHit, SearchResults};
    use crate::error::AppError;
    use std::sync::Arc;

    /// Search's access to the document and its full-text index. Calls run on the blocking pool.
    pub trait SearchPort: Send + Sync + 'static {
        /// Titles containing every word of `query`, then notes whose labels or text contain them.
        fn quick(&self, query: &str, limit: usize) -> Result<QuickResults, AppError>;
        /// Titles only, over the whole document (hidden notes excepted): "jump to note".
        fn titles(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, AppError>;
        /// Trilium's search language.
        fn full(&self, query: &str) -> Result<SearchResults, AppError>;
        /// Saves `query` as a Trilium search note; returns its id.
        fn save(&self, query: &str) -> Result<String, AppError>;
        /// Runs the search a search note holds.
        fn saved(&self, note_id: &str) -> Result<SearchResults, AppError>;
    }

    #[derive(Clone)]
    pub struct Search(pub Arc<dyn SearchPort>);
}

/// The longest search a person types. A longer one is refused here rather than handed to the title
/// search, whose SQLite `LIKE` fails on patterns over 50,000 bytes.
pub const MAX_QUERY_CHARS: usize = 2_000;

/// Refuses a search longer than [`MAX_QUERY_CHARS`]; every server function taking one calls it.
pub fn query_within_limit(query: &str) -> Result<(), AppError> {
    let chars = query.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(AppError::Invalid(format!("A search may be {MAX_QUERY_CHARS} characters long; this one has {chars}.")));
    }
    Ok(())
}

#[server(prefix = "/ui", endpoint = "quick_search", client = crate::csrf::CsrfClient)]
pub async fn quick_search(query: String) -> Result<QuickResults, AppError> {
    query_within_limit(&query)?;
    let search = crate::ssr::port::<ssr::Search>()?;
    crate::ssr::run_blocking(move || search.0.quick(&query, QUICK_LIMIT)).await
}

#[server(prefix = "/ui", endpoint = "jump_titles", client = crate::csrf::CsrfClient)]
pub async fn jump_titles(query: String) -> Result<Vec<SearchHit>, AppError> {
    query_within_limit(&query)?;
    let search = crate::ssr::port::<ssr::Search>()?;
    crate::ssr::run_blocking(move || search.0.titles(&query, JUMP_LIMIT)).await
}

#[server(prefix = "/ui", endpoint = "full_search", client = crate::csrf::CsrfClient)]
pub async fn full_search(query: String) -> Result<SearchResults, AppError> {
    query_within_limit(&query)?;
    let search = crate::ssr::port::<ssr::Search>()?;
    crate::ssr::run_blocking(move || search.0.full(&query)).await
}

#[server(prefix = "/ui", endpoint = "save_search", client = crate::csrf::CsrfClient)]
pub async fn save_search(query: String) -> Result<String, AppError> {
    query_within_limit(&query)?;
    let search = crate::ssr::port::<ssr::Search>()?;
    crate::ssr::run_blocking(move || search.0.save(&query)).await
}

#[server(prefix = "/ui", endpoint = "saved_search", client = crate::csrf::CsrfClient)]
pub async fn saved_search(note_id: String) -> Result<SearchResults, AppError> {
    let search = crate::ssr::port::<ssr::Search>()?;
    crate::ssr::run_blocking(move || search.0.saved(&note_id)).await
}
