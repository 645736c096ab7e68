//! A read view of the note tree as Trilium's in-memory cache (becca) sees it: live notes,
//! live branches, live attributes, and attribute inheritance (`BNote.__getAttributes`:
//! owned attributes, then the inheritable attributes of every parent (except for `root`
//! and `_hidden`), then the attributes of `~template`/`~inherit` targets, first
//! occurrence of an attribute wins). Rows are fetched lazily and cached for one request;
//! [`Graph::load_all`] fills the caches in bulk for search.

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;

use super::SqlResult;
use crate::entities::{self, Attribute, Branch, Note};

pub struct Graph<'c> {
    conn: &'c Connection,
    /// Everything loaded: a missing key means "none" instead of "not fetched yet".
    complete: bool,
    notes: HashMap<String, Option<Note>>,
    parents: HashMap<String, Vec<Branch>>,
    children: HashMap<String, Vec<Branch>>,
    owned: HashMap<String, Vec<Attribute>>,
    effective: HashMap<String, Vec<Attribute>>,
}

const BRANCH_ORDER: &str = "ORDER BY notePosition, rowid";

impl<'c> Graph<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        Graph {
            conn,
            complete: false,
            notes: HashMap::new(),
            parents: HashMap::new(),
            children: HashMap::new(),
            owned: HashMap::new(),
            effective: HashMap::new(),
        }
    }

    /// Loads every live note, branch and attribute at once.
    pub fn load_all(conn: &'c Connection) -> SqlResult<Self> {
        let mut g = Graph::new(conn);
        g.complete = true;
        for n in entities::load_where::<Note>(conn, "isDeleted = 0", [])? {
            g.notes.insert(n.note_id.clone(), Some(n));
        }
        for b in entities::load_where::<Branch>(conn, &format!("isDeleted = 0 {BRANCH_ORDER}"), [])? {
            g.parents.entry(b.note_id.clone()).or_default().push(b.clone());
            g.children.entry(b.parent_note_id.clone()).or_default().push(b);
        }
        for a in entities::load_where::<Attribute>(conn, "isDeleted = 0 ORDER BY rowid", [])? {
            g.owned.entry(a.note_id.clone()).or_default().push(a);
        }
        Ok(g)
    }

    pub fn conn(&self) -> &'c Connection {
        self.conn
    }

    /// A live (not deleted) note.
    pub fn note(&mut self, note_id: &str) -> SqlResult<Option<Note>> {
        if let Some(n) = self.notes.get(note_id) {
            return Ok(n.clone());
        }
        if self.complete {
            return Ok(None);
        }
        let n = entities::load::<Note>(self.conn, note_id)?.filter(|n| !n.is_deleted);
        self.notes.insert(note_id.to_owned(), n.clone());
        Ok(n)
    }

    pub fn all_note_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> =
            self.notes.iter().filter(|(_, n)| n.is_some()).map(|(id, _)| id.clone()).collect();
        ids.sort();
        ids
    }

    /// Live parent branches in tree order.
    pub fn parent_branches(&mut self, note_id: &str) -> SqlResult<Vec<Branch>> {
        if let Some(b) = self.parents.get(note_id) {
            return Ok(b.clone());
        }
        if self.complete {
            return Ok(Vec::new());
        }
        let b: Vec<Branch> =
            entities::load_where(self.conn, &format!("noteId = ?1 AND isDeleted = 0 {BRANCH_ORDER}"), [note_id])?;
        self.parents.insert(note_id.to_owned(), b.clone());
        Ok(b)
    }

    /// Live child branches by position.
    pub fn child_branches(&mut self, note_id: &str) -> SqlResult<Vec<Branch>> {
        if let Some(b) = self.children.get(note_id) {
            return Ok(b.clone());
        }
        if self.complete {
            return Ok(Vec::new());
        }
        let b: Vec<Branch> =
            entities::load_where(self.conn, &format!("parentNoteId = ?1 AND isDeleted = 0 {BRANCH_ORDER}"), [note_id])?;
        self.children.insert(note_id.to_owned(), b.clone());
        Ok(b)
    }

    /// Parent notes that exist (a branch may point to a missing note during sync).
    pub fn parent_ids(&mut self, note_id: &str) -> SqlResult<Vec<String>> {
        let mut out = Vec::new();
        for b in self.parent_branches(note_id)? {
            if self.note(&b.parent_note_id)?.is_some() {
                out.push(b.parent_note_id);
            }
        }
        Ok(out)
    }

    pub fn owned_attributes(&mut self, note_id: &str) -> SqlResult<Vec<Attribute>> {
        if let Some(a) = self.owned.get(note_id) {
            return Ok(a.clone());
        }
        if self.complete {
            return Ok(Vec::new());
        }
        let a: Vec<Attribute> =
            entities::load_where(self.conn, "noteId = ?1 AND isDeleted = 0 ORDER BY rowid", [note_id])?;
        self.owned.insert(note_id.to_owned(), a.clone());
        Ok(a)
    }

    /// All attributes in effect on the note, owned first, then inherited.
    pub fn attributes(&mut self, note_id: &str) -> SqlResult<Vec<Attribute>> {
        self.attributes_on_path(note_id, &mut Vec::new())
    }

    fn attributes_on_path(&mut self, note_id: &str, path: &mut Vec<String>) -> SqlResult<Vec<Attribute>> {
        if path.iter().any(|p| p == note_id) {
            return Ok(Vec::new());
        }
        if let Some(cached) = self.effective.get(note_id) {
            return Ok(cached.clone());
        }
        let mut collected = self.owned_attributes(note_id)?;
        path.push(note_id.to_owned());
        if note_id != "root" && note_id != "_hidden" {
            for parent in self.parent_ids(note_id)? {
                let inherited = self.attributes_on_path(&parent, path)?;
                collected.extend(inherited.into_iter().filter(|a| a.is_inheritable));
            }
        }
        let mut from_templates = Vec::new();
        for a in &collected {
            if a.attr_type == "relation" && (a.name == "template" || a.name == "inherit") && self.note(&a.value)?.is_some() {
                let template = self.attributes_on_path(&a.value, path)?;
                from_templates.extend(template.into_iter().filter(|t| {
                    !(t.attr_type == "label" && (t.name == "template" || t.name == "workspacetemplate"))
                }));
            }
        }
        path.pop();
        let mut seen = HashSet::new();
        let result: Vec<Attribute> = collected
            .into_iter()
            .chain(from_templates)
            .filter(|a| seen.insert(a.attribute_id.clone()))
            .collect();
        // A result cut short by a cycle on this path must not be reused from elsewhere.
        if path.is_empty() {
            self.effective.insert(note_id.to_owned(), result.clone());
        }
        Ok(result)
    }

    /// Is the label (owned or inherited) present on the note?
    pub fn has_label(&mut self, note_id: &str, name: &str) -> SqlResult<bool> {
        Ok(self.attributes(note_id)?.iter().any(|a| a.attr_type == "label" && a.name == name))
    }

    /// Ids of the note and all its descendants (each once).
    pub fn subtree(&mut self, note_id: &str) -> SqlResult<HashSet<String>> {
        let mut seen = HashSet::new();
        let mut stack = vec![note_id.to_owned()];
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            for b in self.child_branches(&id)? {
                stack.push(b.note_id);
            }
        }
        Ok(seen)
    }

    /// Does the note have a path to `root` that avoids `_hidden`?
    pub fn is_visible(&mut self, note_id: &str) -> SqlResult<bool> {
        let mut seen = HashSet::new();
        let mut stack = vec![note_id.to_owned()];
        while let Some(id) = stack.pop() {
            if id == "_hidden" || !seen.insert(id.clone()) {
                continue;
            }
            if id == "root" {
                return Ok(true);
            }
            stack.extend(self.parent_ids(&id)?);
        }
        Ok(false)
    }
}
