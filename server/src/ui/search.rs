//! Search's port: the quick-search box and "jump to note" read the full-text index (the document's
//! title search while the index is not ready); the search page and saved searches run the shared
//! search language ([`crate::domain::search`]). Snippets are plain-text parts, never HTML.
use std::collections::HashSet;

use app::error::AppError;
use app::search::api::{ssr::SearchPort, QuickResults, SearchHit, SearchResults, SnippetPart, MAX_LISTED};

use super::{domain_error, internal, PROTECTED_TITLE};
use crate::db::{note_view, search_view, ChangeSource, Document, InstanceId, SqlResult};
use crate::domain::search::{self as language, normalize, snippet, SearchParams};
use crate::domain::{self, attributes::AttributeKind, DomainError};
use crate::search::SearchIndex;

/// Title candidates read from the index before ranking: a typed prefix matches many more than are listed.
const TITLE_CANDIDATES: usize = 400;
/// How long the quick search and "jump to note" look for title matches.
const TITLE_BUDGET: std::time::Duration = std::time::Duration::from_millis(20);
/// How long the quick search looks for text matches: what it found by then is listed (the search
/// page lists them all).
const TEXT_BUDGET: std::time::Duration = std::time::Duration::from_millis(25);

pub struct DocumentSearch {
    pub document: Document,
    pub instance_id: InstanceId,
    pub index: SearchIndex,
    /// In a protected session, protected notes are searched too (decrypted in memory, never indexed).
    pub protected: crate::protected::ProtectedSessions,
}

impl SearchPort for DocumentSearch {
    fn quick(&self, query: &str, limit: usize) -> Result<QuickResults, AppError> {
        let tokens = words(query);
        if tokens.is_empty() {
            return Ok(QuickResults::default());
        }
        let mut titles = self.title_hits(query, &tokens, limit)?;
        let shown: HashSet<&str> = titles.iter().map(|h| h.note_id.as_str()).collect();
        let mut texts = self.text_hits(&tokens, &shown, limit)?;
        let (protected_titles, protected_texts) = self.protected_hits(query, &tokens)?;
        titles.extend(protected_titles.into_iter().take(limit.saturating_sub(titles.len())));
        texts.extend(protected_texts.into_iter().take(limit.saturating_sub(texts.len())));
        Ok(QuickResults { titles, texts })
    }

    fn titles(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, AppError> {
        let tokens = words(query);
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let mut hits = self.title_hits(query, &tokens, limit)?;
        let (protected, _) = self.protected_hits(query, &tokens)?;
        hits.extend(protected.into_iter().take(limit.saturating_sub(hits.len())));
        Ok(hits)
    }

    fn full(&self, query: &str) -> Result<SearchResults, AppError> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(SearchResults::default());
        }
        let mut results = self.run(SearchParams { query: query.to_owned(), ..Default::default() }, None)?;
        // The search language runs on the unencrypted document; in a protected session a query's
        // plain words also find protected notes by their decrypted title and text.
        let words = language::full_text_tokens(query);
        let tokens: Vec<String> = words.iter().map(|t| normalize(t)).filter(|t| !t.is_empty()).collect();
        if results.error.is_none() && !tokens.is_empty() {
            let (titles, texts) = self.protected_hits(&words.join(" "), &tokens)?;
            let found: Vec<SearchHit> =
                titles.into_iter().chain(texts).filter(|h| !results.hits.iter().any(|r| r.note_id == h.note_id)).collect();
            results.total += found.len();
            let room = MAX_LISTED.saturating_sub(results.hits.len());
            results.hits.extend(found.into_iter().take(room));
        }
        Ok(results)
    }

    fn save(&self, query: &str) -> Result<String, AppError> {
        let query = query.trim();
        if query.is_empty() {
            return Err(AppError::Invalid("Type a search before saving it.".into()));
        }
        if let Err(problem) = language::parse(query) {
            return Err(AppError::Invalid(format!("This search does not parse: {problem}.")));
        }
        let source = ChangeSource::new(&self.instance_id);
        self.document
            .write_with(&source, |tx| -> Result<String, DomainError> {
                // Trilium files a saved search under the note labelled #searchHome, else under the
                // day note of today; Canopy has no calendar yet, so the root stands in for it.
                let parent = search_view::search_home(tx.conn())?.unwrap_or_else(|| "root".to_owned());
                let (note, _) = domain::notes::create_note(
                    tx,
                    domain::notes::CreateNote {
                        parent_note_id: parent,
                        title: format!("Search: {query}"),
                        note_type: "search".into(),
                        mime: Some("application/json".into()),
                        content: crate::entities::BlobContent::Text(String::new()),
                        position: domain::notes::Position::Last,
                        prefix: None,
                        note_id: None,
                    },
                    None,
                )?;
                for (name, value) in [("searchString", query), ("keepCurrentHoisting", "")] {
                    domain::attributes::create(
                        tx,
                        &note.note_id,
                        domain::attributes::NewAttribute {
                            kind: AttributeKind::Label,
                            name: name.into(),
                            value: value.into(),
                            is_inheritable: false,
                        },
                    )?;
                }
                Ok(note.note_id)
            })
            .map_err(domain_error)
    }

    fn saved(&self, note_id: &str) -> Result<SearchResults, AppError> {
        let saved = self.document.read(|conn| search_view::saved_search(conn, note_id)).map_err(internal)?;
        let Some(saved) = saved else { return Err(AppError::NotFound(format!("Note '{note_id}' not found."))) };
        if saved.note_type != "search" {
            return Err(AppError::Invalid("This note is not a saved search.".into()));
        }
        if saved.relation("searchScript").is_some() {
            return Err(AppError::Invalid("Search scripts (~searchScript) are not supported; the note's #searchString is not used.".into()));
        }
        let query = saved.label("searchString").unwrap_or_default();
        if query.trim().is_empty() {
            return Ok(SearchResults::default());
        }
        let params = SearchParams {
            query,
            fast_search: saved.label("fastSearch").is_some(),
            include_archived_notes: saved.label("includeArchivedNotes").is_some(),
            ancestor_note_id: saved.relation("ancestor"),
            ancestor_depth: saved.label("ancestorDepth").filter(|v| !v.is_empty()),
            order_by: saved.label("orderBy").filter(|v| !v.is_empty()),
            descending: saved.label("orderDirection").as_deref() == Some("desc"),
            limit: saved.label("limit").and_then(|v| language::parse_int(&v)),
            debug: false,
        };
        // As in Trilium, a saved search never lists itself.
        self.run(params, Some(note_id))
    }
}

impl DocumentSearch {
    /// In the caller's protected session: protected notes matching every word of `query` (the
    /// domain's matcher decrypts them in memory; they are never in the full-text index), those whose
    /// title holds every token first. Without a session nothing, and the session is not touched.
    fn protected_hits(&self, query: &str, tokens: &[String]) -> Result<(Vec<SearchHit>, Vec<SearchHit>), AppError> {
        if tokens.is_empty() || app::ssr::session_key().is_none_or(|k| !self.protected.is_unlocked(&k)) {
            return Ok((Vec::new(), Vec::new()));
        }
        let Some(key) = super::protected::data_key(&self.protected) else { return Ok((Vec::new(), Vec::new())) };
        let (mut titles, mut texts) = (Vec::new(), Vec::new());
        self.document
            .read_with(|conn| {
                for found in domain::protected::search(conn, &key, query)? {
                    if found.note_id.starts_with('_') {
                        continue;
                    }
                    let path = note_view::ancestors(conn, &found.note_id)?
                        .into_iter()
                        .filter(|p| p.note_id != "root")
                        .map(|p| super::protected::shown_title(Some(&key), &p.note_id, p.is_protected, p.title))
                        .collect::<Vec<_>>()
                        .join(" / ");
                    let folded = normalize(&found.title);
                    let in_title = tokens.iter().all(|t| folded.contains(t.as_str()));
                    let hit = SearchHit { note_id: found.note_id, title: found.title, path, snippet: Vec::new() };
                    if in_title { titles.push(hit) } else { texts.push(hit) }
                }
                Ok::<_, DomainError>(())
            })
            .map_err(domain_error)?;
        titles.sort_by_key(|h| (h.title.chars().count(), h.title.clone()));
        Ok((titles, texts))
    }

    fn run(&self, params: SearchParams, except: Option<&str>) -> Result<SearchResults, AppError> {
        let error = language::parse(&params.query).err();
        let tokens = language::full_text_tokens(&params.query);
        let index = self.index.clone();
        self.document
            .read(|conn| {
                let (_, ids) = language::run_narrowed(conn, &params, &index)?;
                let ids: Vec<String> = ids.into_iter().filter(|id| Some(id.as_str()) != except).collect();
                let hits = ids.iter().take(MAX_LISTED).map(|id| hit(conn, id, &tokens)).collect::<SqlResult<Vec<_>>>()?;
                Ok(SearchResults { query: params.query.clone(), total: ids.len(), hits: hits.into_iter().flatten().collect(), error })
            })
            .map_err(internal)
    }

    /// Titles containing every token: exact title first, then titles starting with the query, then
    /// the shorter ones.
    fn title_hits(&self, query: &str, tokens: &[String], limit: usize) -> Result<Vec<SearchHit>, AppError> {
        let long: Vec<String> = tokens.iter().filter(|t| t.chars().count() >= 3).cloned().collect();
        let candidates = if long.is_empty() { None } else { self.index.title_candidates(&long, TITLE_CANDIDATES, TITLE_BUDGET) };
        self.document
            .read(|conn| {
                let ids: Vec<String> = match candidates {
                    Some(rows) => {
                        let whole = normalize(query.trim());
                        let mut rows: Vec<(String, String)> = rows
                            .into_iter()
                            .filter(|(id, title)| !id.starts_with('_') && tokens.iter().all(|t| title.contains(t.as_str())))
                            .collect();
                        rows.sort_by_cached_key(|(_, title)| {
                            let rank = if *title == whole { 0 } else if title.starts_with(&whole) { 1 } else { 2 };
                            (rank, title.chars().count(), title.clone())
                        });
                        rows.into_iter().take(limit).map(|(id, _)| id).collect()
                    }
                    // Not ready, or only words shorter than the index's trigrams: the document's LIKE.
                    None => note_view::search_titles(conn, query.trim(), limit)?.into_iter().map(|(id, _)| id).collect(),
                };
                Ok(ids.iter().map(|id| hit(conn, id, &[])).collect::<SqlResult<Vec<_>>>()?.into_iter().flatten().collect())
            })
            .map_err(internal)
    }

    /// Notes (not in `shown`) whose labels or text contain every token, with a snippet.
    fn text_hits(&self, tokens: &[String], shown: &HashSet<&str>, limit: usize) -> Result<Vec<SearchHit>, AppError> {
        let long: Vec<String> = tokens.iter().filter(|t| t.chars().count() >= 3).cloned().collect();
        if long.is_empty() {
            return Ok(Vec::new());
        }
        let Some(rows) = self.index.text_candidates(&long, limit + shown.len() + TITLE_CANDIDATES / 4, TEXT_BUDGET) else {
            return Ok(Vec::new());
        };
        let ids: Vec<String> = rows
            .into_iter()
            .filter(|(id, title, attrs, body)| {
                !id.starts_with('_')
                    && !shown.contains(id.as_str())
                    && tokens.iter().all(|t| title.contains(t.as_str()) || attrs.contains(t.as_str()) || body.contains(t.as_str()))
            })
            .take(limit)
            .map(|row| row.0)
            .collect();
        self.document
            .read(|conn| Ok(ids.iter().map(|id| hit(conn, id, tokens)).collect::<SqlResult<Vec<_>>>()?.into_iter().flatten().collect()))
            .map_err(internal)
    }
}

/// The plain words of a quick search, folded.
fn words(query: &str) -> Vec<String> {
    query.split_whitespace().map(normalize).filter(|w| !w.is_empty()).collect()
}

/// A result as listed: title, path and (with `tokens`) the snippet; `None` if the note is gone.
fn hit(conn: &rusqlite::Connection, note_id: &str, tokens: &[String]) -> SqlResult<Option<SearchHit>> {
    let Some(note) = search_view::listed_note(conn, note_id)? else { return Ok(None) };
    let path = note_view::ancestors(conn, note_id)?
        .iter()
        .filter(|p| p.note_id != "root")
        .map(|p| if p.is_protected { PROTECTED_TITLE.to_string() } else { p.title.clone() })
        .collect::<Vec<_>>()
        .join(" / ");
    let snippet = if note.is_protected || tokens.is_empty() {
        Vec::new()
    } else {
        let body = match &note.content {
            Some(text) if note.note_type == "text" => language::strip_tags(text),
            Some(text) if matches!(note.note_type.as_str(), "code" | "mermaid" | "book" | "search") => text.clone(),
            _ => String::new(),
        };
        snippet::snippet(&body, tokens)
            .or_else(|| snippet::snippet(&note.labels, tokens))
            .unwrap_or_default()
            .into_iter()
            .map(|p| SnippetPart { text: p.text, marked: p.marked })
            .collect()
    };
    let title = if note.is_protected { PROTECTED_TITLE.to_string() } else { note.title };
    Ok(Some(SearchHit { note_id: note.note_id, title, path, snippet }))
}
