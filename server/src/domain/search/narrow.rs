//! Narrowing a search to candidates before evaluating it: the parts of a parsed query that the
//! full-text index (or the attributes table) can answer for give a set of notes that holds every match
//! (a superset, never a guess), and only those are evaluated, over a lazily read tree instead of the
//! whole document.
//!
//! A label or relation (`#name`, `~name`, with or without a comparison) narrows to the owners of
//! attributes of that name. A word matches a note when it is in the note's "flat text" (id, type,
//! mime, branch prefixes, title, attributes in effect) or, unless `fastSearch`, when every word is in
//! its content. The index holds titles, own labels and content, folded as the evaluator folds; the
//! rest is read from the document ([`crate::db::search_candidates`]). The whole tree is evaluated
//! instead when narrowing could miss a match or would not pay: `not(…)` and `note.*` properties
//! (nothing to narrow by), a word shorter than the index's trigram or holding a space, a matching
//! attribute that other notes inherit (inheritable, or on a template), an index not current with the
//! document, or more than [`MAX_CANDIDATES`] candidates.
use std::collections::HashSet;

use rusqlite::Connection;

use super::{normalize, Expr, SearchParams};
use crate::db::search_candidates::{self as sql, AttributeRow};
use crate::db::SqlResult;
use crate::search::{Columns, SearchIndex};

/// Above this many candidates, reading the whole tree at once is cheaper than one note at a time.
pub const MAX_CANDIDATES: usize = 5000;

/// The trigram index answers for words of at least this many characters.
const MIN_WORD: usize = 3;

/// The notes that can match `expr`, or `None` when the whole tree has to be evaluated.
pub fn candidates(conn: &Connection, expr: &Expr, params: &SearchParams, index: &SearchIndex) -> SqlResult<Option<HashSet<String>>> {
    let mut narrower = Narrower { conn, index, fast: params.fast_search, cache: Cache::default() };
    Ok(narrower.expr(expr)?.filter(|set| set.len() <= MAX_CANDIDATES))
}

/// Document reads shared by the words of one query.
#[derive(Default)]
struct Cache {
    templates: Option<HashSet<String>>,
    relations: Option<Vec<AttributeRow>>,
    protected_labels: Option<Vec<AttributeRow>>,
    prefixes: Option<Vec<(String, String)>>,
    types: Option<Vec<(String, String)>>,
    unusual_ids: Option<Vec<String>>,
}

struct Narrower<'a> {
    conn: &'a Connection,
    index: &'a SearchIndex,
    fast: bool,
    cache: Cache,
}

impl Narrower<'_> {
    fn expr(&mut self, e: &Expr) -> SqlResult<Option<HashSet<String>>> {
        match e {
            // Every part must hold: any narrowed part bounds the whole.
            Expr::And(items) => {
                let mut bound: Option<HashSet<String>> = None;
                for item in items {
                    if let Some(set) = self.expr(item)? {
                        bound = Some(match bound {
                            Some(b) => b.intersection(&set).cloned().collect(),
                            None => set,
                        });
                    }
                }
                Ok(bound)
            }
            // One part suffices: each must be narrowed.
            Expr::Or(items) => {
                let mut all = HashSet::new();
                for item in items {
                    match self.expr(item)? {
                        Some(set) => all.extend(set),
                        None => return Ok(None),
                    }
                    if all.len() > MAX_CANDIDATES {
                        return Ok(None);
                    }
                }
                Ok(Some(all))
            }
            Expr::FullText(words) => self.full_text(words),
            Expr::Label { name, .. } => self.owners("label", name),
            Expr::Relation { name, .. } => self.owners("relation", name),
            Expr::Not(_) | Expr::Property { .. } => Ok(None),
        }
    }

    /// Notes with one word in their flat text, plus (unless fast search) notes whose indexed labels or
    /// content hold every word.
    fn full_text(&mut self, words: &[String]) -> SqlResult<Option<HashSet<String>>> {
        let words: Vec<String> = words.iter().map(|w| normalize(w)).collect();
        if words.iter().any(|w| w.chars().count() < MIN_WORD || w.chars().any(char::is_whitespace)) {
            return Ok(None);
        }
        let mut set = HashSet::new();
        if !self.fast {
            let Some(content) = self.index.notes_containing_all(&words, Columns::Text) else { return Ok(None) };
            if content.len() > MAX_CANDIDATES {
                return Ok(None);
            }
            set.extend(content);
        }
        for word in &words {
            match self.flat(word)? {
                Some(notes) => set.extend(notes),
                None => return Ok(None),
            }
            if set.len() > MAX_CANDIDATES {
                return Ok(None);
            }
        }
        // Not in the index (their title and content are ciphertext there): always evaluated.
        set.extend(sql::protected_notes(self.conn)?);
        Ok(Some(set))
    }

    /// Notes whose flat text holds `word` (folded); `None` when an attribute holding it is in effect
    /// on notes other than its owner.
    fn flat(&mut self, word: &str) -> SqlResult<Option<Vec<String>>> {
        let mut notes = Vec::new();
        // Past the cap, the whole tree is read anyway: stop before reading more.
        let Some(titles) = self.index.notes_containing_all(&[word.to_owned()], Columns::Title) else { return Ok(None) };
        if titles.len() > MAX_CANDIDATES {
            return Ok(None);
        }
        notes.extend(titles);

        let Some(label_owners) = self.index.notes_containing_all(&[word.to_owned()], Columns::Labels) else { return Ok(None) };
        if label_owners.len() > MAX_CANDIDATES {
            return Ok(None);
        }
        for owner in label_owners {
            if self.templates()?.contains(&owner) {
                return Ok(None);
            }
            for label in sql::labels_of(self.conn, &owner)? {
                if label.is_inheritable && flat_attribute(&label).contains(word) {
                    return Ok(None);
                }
            }
            notes.push(owner);
        }

        // Relations, and the labels of protected notes: not in the index, compared here.
        if self.cache.relations.is_none() {
            self.cache.relations = Some(sql::relations(self.conn)?);
        }
        if self.cache.protected_labels.is_none() {
            self.cache.protected_labels = Some(sql::labels_of_protected_notes(self.conn)?);
        }
        let mut owners = Vec::new();
        let unindexed = self.cache.relations.iter().flatten().chain(self.cache.protected_labels.iter().flatten());
        for attribute in unindexed {
            if flat_attribute(attribute).contains(word) {
                if attribute.is_inheritable {
                    return Ok(None);
                }
                owners.push(attribute.note_id.clone());
            }
        }
        for owner in owners {
            if self.templates()?.contains(&owner) {
                return Ok(None);
            }
            notes.push(owner);
        }

        if self.cache.types.is_none() {
            self.cache.types = Some(sql::type_mime_pairs(self.conn)?);
        }
        let types: Vec<(String, String)> = self
            .cache
            .types
            .iter()
            .flatten()
            .filter(|(t, m)| normalize(t).contains(word) || normalize(m).contains(word))
            .cloned()
            .collect();
        for (note_type, mime) in types {
            notes.extend(sql::notes_of_type(self.conn, &note_type, &mime)?);
        }

        // Ids: Trilium's are ASCII letters, digits and `_`, which fold to lowercase; any other is
        // compared one by one.
        if word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            notes.extend(sql::notes_with_id_containing(self.conn, word)?);
        }
        if self.cache.unusual_ids.is_none() {
            self.cache.unusual_ids = Some(sql::notes_with_unusual_ids(self.conn)?);
        }
        notes.extend(self.cache.unusual_ids.iter().flatten().filter(|id| normalize(id).contains(word)).cloned());

        if self.cache.prefixes.is_none() {
            self.cache.prefixes = Some(sql::branch_prefixes(self.conn)?);
        }
        notes.extend(self.cache.prefixes.iter().flatten().filter(|(_, p)| normalize(p).contains(word)).map(|(n, _)| n.clone()));
        Ok(Some(notes))
    }

    /// The notes an attribute named `name` is in effect on, when that is only its owners: `None` when
    /// one is inheritable or on a template (then it is in effect on notes found only by walking the tree).
    fn owners(&mut self, attr_type: &str, name: &str) -> SqlResult<Option<HashSet<String>>> {
        let attributes = sql::attributes_named(self.conn, attr_type, &name.to_lowercase())?;
        if attributes.len() > MAX_CANDIDATES || attributes.iter().any(|a| a.is_inheritable) {
            return Ok(None);
        }
        let mut owners = HashSet::new();
        for attribute in attributes {
            if self.templates()?.contains(&attribute.note_id) {
                return Ok(None);
            }
            owners.insert(attribute.note_id);
        }
        Ok(Some(owners))
    }

    fn templates(&mut self) -> SqlResult<&HashSet<String>> {
        if self.cache.templates.is_none() {
            self.cache.templates = Some(sql::template_targets(self.conn)?);
        }
        Ok(self.cache.templates.get_or_insert_with(HashSet::new))
    }
}

/// An attribute as the evaluator's flat text writes it (`#name=value`, `~name=target`), folded.
fn flat_attribute(a: &AttributeRow) -> String {
    let sigil = if a.attr_type == "label" { '#' } else { '~' };
    if a.value.is_empty() {
        normalize(&format!("{sigil}{}", a.name))
    } else {
        normalize(&format!("{sigil}{}={}", a.name, a.value))
    }
}
