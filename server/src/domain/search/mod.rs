//! Trilium's search language, one parser and evaluator for ETAPI (`GET /notes?search=…`) and the web
//! UI's search page and saved searches, run over the live tree ([`Graph::load_all`]). Full-text words
//! are looked up in the full-text index ([`crate::search::SearchIndex`]) when it is ready, which narrows
//! the notes whose content has to be read; the answer is the same without it, only slower.
//!
//! Supported: full-text words and "quoted phrases" (titles, prefixes and attributes,
//! plus content unless `fastSearch`), `#label`, `#!label`, `#label <op> value`,
//! `~relation`, `~relation.<property> <op> value`, `note.<property> <op> value` with
//! `parents.`/`children.`/`ancestors.` navigation, `and`, `or`, `not(…)`, parentheses;
//! operators `=`, `!=`, `*=*`, `=*`, `*=`, `<`, `<=`, `>`, `>=`, `~=`, `~*`. Names and
//! values compare case-insensitively, numbers numerically.

pub mod narrow;
pub mod snippet;

use std::collections::{HashMap, HashSet};

use unicode_normalization::UnicodeNormalization;

use rusqlite::Connection;

use crate::db::graph::Graph;
use crate::db::SqlResult;
use crate::search::SearchIndex;

#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    pub query: String,
    pub fast_search: bool,
    pub include_archived_notes: bool,
    pub ancestor_note_id: Option<String>,
    pub ancestor_depth: Option<String>,
    pub order_by: Option<String>,
    pub descending: bool,
    pub limit: Option<i64>,
    pub debug: bool,
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Label(String),
    NotLabel(String),
    Relation(String),
    Op(&'static str),
    LParen,
    RParen,
}

const OPS: &[&str] = &["*=*", "!=", "=*", "*=", ">=", "<=", "~=", "~*", "%=", "=", ">", "<"];

fn lex(input: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' || c == '`' {
            let end = chars[i + 1..].iter().position(|&x| x == c).ok_or("unterminated quote")?;
            toks.push(Tok::Quoted(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if c == '(' {
            toks.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            toks.push(Tok::RParen);
            i += 1;
        } else if let Some(op) = OPS.iter().find(|op| starts_with(&chars[i..], op)) {
            if (c == '~') && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric() || *n == '_') {
                // `~name` is a relation, not an operator.
                let (name, next) = read_name(&chars, i + 1);
                toks.push(Tok::Relation(name));
                i = next;
            } else {
                toks.push(Tok::Op(op));
                i += op.chars().count();
            }
        } else if c == '#' || c == '~' {
            let negated = c == '#' && chars.get(i + 1) == Some(&'!');
            let start = if negated { i + 2 } else { i + 1 };
            let (name, next) = read_name(&chars, start);
            if name.is_empty() {
                return Err(format!("missing name after '{c}'"));
            }
            toks.push(match (c, negated) {
                ('#', false) => Tok::Label(name),
                ('#', true) => Tok::NotLabel(name),
                _ => Tok::Relation(name),
            });
            i = next;
        } else {
            let mut word = String::new();
            while i < chars.len()
                && !chars[i].is_whitespace()
                && !"()\"'`".contains(chars[i])
                && !OPS.iter().any(|op| starts_with(&chars[i..], op))
            {
                word.push(chars[i]);
                i += 1;
            }
            if word.is_empty() {
                return Err(format!("unexpected character '{c}'"));
            }
            toks.push(Tok::Word(word));
        }
    }
    Ok(toks)
}

fn starts_with(chars: &[char], s: &str) -> bool {
    let mut it = chars.iter();
    s.chars().all(|c| it.next() == Some(&c))
}

/// An attribute name, possibly with a `.property` path (`author.title`).
fn read_name(chars: &[char], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    while i < chars.len() && (chars[i].is_alphanumeric() || "_:.".contains(chars[i])) {
        name.push(chars[i]);
        i += 1;
    }
    (name, i)
}

// ---------------------------------------------------------------- parser

#[derive(Debug, Clone)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// Every token must match (full text).
    FullText(Vec<String>),
    Label { name: String, cond: Option<(&'static str, String)> },
    Relation { name: String, path: Vec<String>, cond: Option<(&'static str, String)> },
    Property { path: Vec<String>, op: &'static str, value: String },
}

/// Parentheses and `not(` nest at most this deep: the parser and the evaluator recurse, and a
/// query of ten thousand `(` must be refused, not overflow the stack of the server that reads it.
const MAX_NESTING: usize = 64;

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// Parentheses open at `pos`.
    depth: usize,
}

pub fn parse(query: &str) -> Result<Expr, String> {
    let toks = lex(query)?;
    // Full-text words come first; the expression part starts at the first attribute,
    // `note.` property, parenthesis or `not(`.
    let split = toks
        .iter()
        .enumerate()
        .position(|(i, t)| match t {
            Tok::Label(_) | Tok::NotLabel(_) | Tok::Relation(_) | Tok::LParen => true,
            Tok::Word(w) => {
                w.to_lowercase().starts_with("note.") || (w.eq_ignore_ascii_case("not") && toks.get(i + 1) == Some(&Tok::LParen))
            }
            _ => false,
        })
        .unwrap_or(toks.len());
    let mut words = Vec::new();
    for t in &toks[..split] {
        match t {
            Tok::Word(w) | Tok::Quoted(w) => words.push(w.clone()),
            Tok::Op(op) => words.push((*op).to_owned()),
            _ => return Err("unexpected token".into()),
        }
    }
    let mut parts = Vec::new();
    if !words.is_empty() {
        parts.push(Expr::FullText(words));
    }
    if split < toks.len() {
        let mut p = Parser { toks: toks[split..].to_vec(), pos: 0, depth: 0 };
        let e = p.or_expr()?;
        if p.pos != p.toks.len() {
            return Err(format!("unexpected token {:?}", p.toks[p.pos]));
        }
        parts.push(e);
    }
    Ok(if parts.len() == 1 { parts.remove(0) } else { Expr::And(parts) })
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn or_expr(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.and_expr()?];
        while self.is_word("or") {
            self.pos += 1;
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }

    fn and_expr(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.unary()?];
        loop {
            if self.is_word("and") {
                self.pos += 1;
            } else if self.peek().is_none() || self.is_word("or") || self.peek() == Some(&Tok::RParen) {
                break;
            }
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") && self.peek() == Some(&Tok::LParen) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.parenthesized()?)))
            }
            Some(Tok::LParen) => self.parenthesized(),
            Some(Tok::Label(name)) => Ok(Expr::Label { name, cond: self.condition()? }),
            Some(Tok::NotLabel(name)) => Ok(Expr::Not(Box::new(Expr::Label { name, cond: None }))),
            Some(Tok::Relation(name)) => {
                let mut segments: Vec<String> = name.split('.').map(str::to_owned).collect();
                let name = segments.remove(0);
                let cond = self.condition()?;
                if !segments.is_empty() && cond.is_none() {
                    return Err("relation property without a comparison".into());
                }
                Ok(Expr::Relation { name, path: segments, cond })
            }
            Some(Tok::Word(w)) if w.to_lowercase().starts_with("note.") => {
                let path: Vec<String> = w[5..].split('.').map(str::to_owned).collect();
                let (op, value) = self.condition()?.ok_or("property without a comparison")?;
                Ok(Expr::Property { path, op, value })
            }
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => Ok(Expr::FullText(vec![w])),
            other => Err(format!("unexpected token {other:?}")),
        }
    }

    /// What follows an opening parenthesis, up to and with its closing one.
    fn parenthesized(&mut self) -> Result<Expr, String> {
        if self.depth == MAX_NESTING {
            return Err(format!("parentheses nested more than {MAX_NESTING} deep"));
        }
        self.depth += 1;
        let e = self.or_expr()?;
        self.expect_rparen()?;
        self.depth -= 1;
        Ok(e)
    }

    fn condition(&mut self) -> Result<Option<(&'static str, String)>, String> {
        let Some(Tok::Op(op)) = self.peek().cloned() else { return Ok(None) };
        self.pos += 1;
        match self.next() {
            Some(Tok::Word(v)) | Some(Tok::Quoted(v)) => Ok(Some((op, v))),
            _ => Err(format!("missing value after '{op}'")),
        }
    }

    fn expect_rparen(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Tok::RParen) => Ok(()),
            _ => Err("missing ')'".into()),
        }
    }
}

// ---------------------------------------------------------------- evaluation

/// Lowercase without diacritics, as Trilium compares.
pub fn normalize(s: &str) -> String {
    s.nfd().filter(|c| !('\u{300}'..='\u{36f}').contains(c)).collect::<String>().to_lowercase()
}

fn compare(op: &str, actual: &str, expected: &str) -> bool {
    let (a, e) = (normalize(actual), normalize(expected));
    let numeric = a.trim().parse::<f64>().ok().zip(e.trim().parse::<f64>().ok());
    let ord = match numeric {
        Some((x, y)) => x.partial_cmp(&y),
        None => Some(a.cmp(&e)),
    };
    match op {
        "=" => numeric.map_or(a == e, |(x, y)| x == y),
        "!=" => numeric.map_or(a != e, |(x, y)| x != y),
        "*=*" | "~*" | "~=" | "%=" => a.contains(&e),
        "=*" => a.starts_with(&e),
        "*=" => a.ends_with(&e),
        ">" => ord == Some(std::cmp::Ordering::Greater),
        ">=" => matches!(ord, Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)),
        "<" => ord == Some(std::cmp::Ordering::Less),
        "<=" => matches!(ord, Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)),
        _ => false,
    }
}

struct Evaluator<'g, 'c> {
    g: &'g mut Graph<'c>,
    fast: bool,
    content: HashMap<String, String>,
    index: Option<&'g SearchIndex>,
    /// Per token list: the notes whose indexed text contains them all (`None`: the index cannot tell).
    candidates: HashMap<Vec<String>, Option<HashSet<String>>>,
}

impl Evaluator<'_, '_> {
    fn eval(&mut self, e: &Expr, id: &str) -> SqlResult<bool> {
        Ok(match e {
            Expr::And(items) => {
                for i in items {
                    if !self.eval(i, id)? {
                        return Ok(false);
                    }
                }
                true
            }
            Expr::Or(items) => {
                for i in items {
                    if self.eval(i, id)? {
                        return Ok(true);
                    }
                }
                false
            }
            Expr::Not(inner) => !self.eval(inner, id)?,
            Expr::FullText(tokens) => self.full_text(tokens, id)?,
            Expr::Label { name, cond } => {
                let name = name.to_lowercase();
                self.g.attributes(id)?.iter().any(|a| {
                    a.attr_type == "label"
                        && a.name.to_lowercase() == name
                        && cond.as_ref().is_none_or(|(op, v)| compare(op, &a.value, v))
                })
            }
            Expr::Relation { name, path, cond } => {
                let name = name.to_lowercase();
                let targets: Vec<String> = self
                    .g
                    .attributes(id)?
                    .into_iter()
                    .filter(|a| a.attr_type == "relation" && a.name.to_lowercase() == name)
                    .map(|a| a.value)
                    .collect();
                match cond {
                    None => !targets.is_empty(),
                    Some((op, v)) if path.is_empty() => targets.iter().any(|t| compare(op, t, v)),
                    Some((op, v)) => {
                        let mut found = false;
                        for t in targets {
                            if self.g.note(&t)?.is_some() && self.property(&t, path, op, v)? {
                                found = true;
                                break;
                            }
                        }
                        found
                    }
                }
            }
            Expr::Property { path, op, value } => self.property(id, path, op, value)?,
        })
    }

    /// `note.a.b.c op value`: navigation segments, then one property.
    fn property(&mut self, id: &str, path: &[String], op: &str, value: &str) -> SqlResult<bool> {
        let (first, rest) = match path.split_first() {
            Some(x) => x,
            None => return Ok(false),
        };
        let related: Option<Vec<String>> = match first.as_str() {
            "parents" => Some(self.g.parent_ids(id)?),
            "children" => Some(self.g.child_branches(id)?.into_iter().map(|b| b.note_id).collect()),
            "ancestors" => Some(self.ancestors(id)?),
            _ => None,
        };
        if let Some(related) = related {
            if rest.is_empty() {
                return Ok(false);
            }
            for r in related {
                if self.g.note(&r)?.is_some() && self.property(&r, rest, op, value)? {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        if !rest.is_empty() {
            return Ok(false);
        }
        Ok(match self.value_of(id, first)? {
            Some(actual) => compare(op, &actual, value),
            None => false,
        })
    }

    fn ancestors(&mut self, id: &str) -> SqlResult<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut stack = self.g.parent_ids(id)?;
        while let Some(p) = stack.pop() {
            if out.contains(&p) {
                continue;
            }
            stack.extend(self.g.parent_ids(&p)?);
            out.push(p);
        }
        Ok(out)
    }

    /// A note property as text (also used by `orderBy`).
    fn value_of(&mut self, id: &str, prop: &str) -> SqlResult<Option<String>> {
        if let Some(label) = prop.strip_prefix('#') {
            let label = label.to_lowercase();
            return Ok(self
                .g
                .attributes(id)?
                .into_iter()
                .find(|a| a.attr_type == "label" && a.name.to_lowercase() == label)
                .map(|a| a.value));
        }
        let Some(n) = self.g.note(id)? else { return Ok(None) };
        let count = |v: usize| Some(v.to_string());
        Ok(match prop {
            "noteId" => Some(n.note_id),
            "title" => Some(n.title),
            "type" => Some(n.note_type),
            "mime" => Some(n.mime),
            "dateCreated" => Some(n.date_created),
            "dateModified" => Some(n.date_modified),
            "utcDateCreated" => Some(n.utc_date_created),
            "utcDateModified" => Some(n.utc_date_modified),
            "isProtected" => Some(n.is_protected.to_string()),
            "isArchived" => Some(self.g.has_label(id, "archived")?.to_string()),
            "content" => Some(self.content(id)?),
            // Of every note type, in bytes, as Trilium's `contentSize`.
            "contentSize" => match &n.blob_id {
                Some(blob_id) => Some(crate::db::tree::blob_size(self.g.conn(), blob_id)?.to_string()),
                None => Some("0".into()),
            },
            "parentCount" => count(self.g.parent_ids(id)?.len()),
            "childrenCount" => count(self.g.child_branches(id)?.len()),
            "attributeCount" => count(self.g.attributes(id)?.len()),
            "labelCount" => count(self.g.attributes(id)?.iter().filter(|a| a.attr_type == "label").count()),
            "relationCount" => count(self.g.attributes(id)?.iter().filter(|a| a.attr_type == "relation").count()),
            "ownedLabelCount" => count(self.g.owned_attributes(id)?.iter().filter(|a| a.attr_type == "label").count()),
            "ownedRelationCount" => {
                count(self.g.owned_attributes(id)?.iter().filter(|a| a.attr_type == "relation").count())
            }
            _ => None,
        })
    }

    /// Normalized searchable content (tags stripped from text notes); empty for protected.
    fn content(&mut self, id: &str) -> SqlResult<String> {
        if let Some(c) = self.content.get(id) {
            return Ok(c.clone());
        }
        let Some(n) = self.g.note(id)? else { return Ok(String::new()) };
        // As Trilium's `note_content_fulltext`: only text, code and mermaid notes have searchable
        // content (an image's or a file's bytes are not text).
        let searchable = matches!(n.note_type.as_str(), "text" | "code" | "mermaid");
        let raw: Option<String> = match (&n.blob_id, n.is_protected) {
            (Some(blob_id), false) if searchable => crate::db::tree::blob_text(self.g.conn(), blob_id)?,
            _ => None,
        };
        let mut text = raw.unwrap_or_default();
        if n.note_type == "text" {
            text = strip_tags(&text);
        }
        let text = normalize(&text);
        self.content.insert(id.to_owned(), text.clone());
        Ok(text)
    }

    fn flat_text(&mut self, id: &str) -> SqlResult<String> {
        let Some(n) = self.g.note(id)? else { return Ok(String::new()) };
        let mut s = format!("{} {} {} ", n.note_id, n.note_type, n.mime);
        for b in self.g.parent_branches(id)? {
            if let Some(p) = b.prefix {
                s.push_str(&p);
                s.push(' ');
            }
        }
        s.push_str(&n.title);
        s.push(' ');
        for a in self.g.attributes(id)? {
            let sigil = if a.attr_type == "label" { '#' } else { '~' };
            s.push_str(&format!("{sigil}{}", a.name));
            if !a.value.is_empty() {
                s.push('=');
                s.push_str(&a.value);
            }
            s.push(' ');
        }
        Ok(normalize(&s))
    }

    /// Flat text: the note matches one token itself and every token is found in it or in
    /// an ancestor's title; otherwise (unless fast search) all tokens in the content.
    fn full_text(&mut self, tokens: &[String], id: &str) -> SqlResult<bool> {
        let tokens: Vec<String> = tokens.iter().map(|t| normalize(t)).collect();
        let own = self.flat_text(id)?;
        if tokens.iter().any(|t| own.contains(t.as_str())) {
            let mut haystack = own.clone();
            for a in self.ancestors(id)? {
                if let Some(n) = self.g.note(&a)? {
                    haystack.push(' ');
                    haystack.push_str(&normalize(&n.title));
                }
            }
            if tokens.iter().all(|t| haystack.contains(t.as_str())) {
                return Ok(true);
            }
        }
        if self.fast {
            return Ok(false);
        }
        if let Some(index) = self.index {
            let candidates = self
                .candidates
                .entry(tokens.clone())
                .or_insert_with(|| index.notes_containing_all(&tokens, crate::search::Columns::Text));
            if candidates.as_ref().is_some_and(|c| !c.contains(id)) {
                return Ok(false);
            }
        }
        let content = self.content(id)?;
        Ok(tokens.iter().all(|t| content.contains(t.as_str())))
    }
}

/// Removes HTML tags and decodes the common entities.
pub fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
}

fn depth_ok(spec: &str, depth: usize) -> bool {
    let (kind, n) = spec.split_at(spec.len().min(2));
    let Ok(n) = n.parse::<usize>() else { return true };
    match kind {
        "eq" => depth == n,
        "lt" => depth < n,
        "gt" => depth > n,
        _ => true,
    }
}

/// Shortest distance from `id` up to `ancestor` (0 for itself).
fn distance_to(g: &mut Graph<'_>, id: &str, ancestor: &str) -> SqlResult<Option<usize>> {
    let mut frontier = vec![id.to_owned()];
    let mut seen = std::collections::HashSet::new();
    for depth in 0..10_000 {
        if frontier.is_empty() {
            break;
        }
        let mut next = Vec::new();
        for n in frontier {
            if n == ancestor {
                return Ok(Some(depth));
            }
            if seen.insert(n.clone()) {
                next.extend(g.parent_ids(&n)?);
            }
        }
        frontier = next;
    }
    Ok(None)
}

/// What `debug=true` adds to the answer: the parsed query, or why it did not parse.
pub fn debug_info(params: &SearchParams) -> serde_json::Value {
    match parse(&params.query) {
        Ok(expr) => serde_json::json!({ "query": params.query, "expression": format!("{expr:?}") }),
        Err(error) => serde_json::json!({ "query": params.query, "error": error }),
    }
}

/// Note ids matching the query, ordered and limited. A query that does not parse finds
/// nothing (Trilium records the error in the search context and returns no results).
/// With `index`, full-text words are looked up there first (same answer, less content read).
pub fn run(g: &mut Graph<'_>, params: &SearchParams, index: Option<&SearchIndex>) -> SqlResult<Vec<String>> {
    let Ok(expr) = parse(&params.query) else { return Ok(Vec::new()) };
    let ids = g.all_note_ids();
    evaluate(g, &expr, params, index, ids, false)
}

/// [`run`] over the candidates the index narrows the query to ([`narrow`]), read one by one, or over
/// the whole tree loaded at once when it cannot narrow. The same answer either way. Returns the graph
/// it read, for the caller to read the results from.
pub fn run_narrowed<'c>(conn: &'c Connection, params: &SearchParams, index: &SearchIndex) -> SqlResult<(Graph<'c>, Vec<String>)> {
    let Ok(expr) = parse(&params.query) else { return Ok((Graph::new(conn), Vec::new())) };
    match narrow::candidates(conn, &expr, params, index)? {
        Some(candidates) => {
            let mut ids: Vec<String> = candidates.into_iter().collect();
            ids.sort();
            let mut g = Graph::new(conn);
            let found = evaluate(&mut g, &expr, params, Some(index), ids, true)?;
            Ok((g, found))
        }
        None => {
            let mut g = Graph::load_all(conn)?;
            let ids = g.all_note_ids();
            let found = evaluate(&mut g, &expr, params, Some(index), ids, false)?;
            Ok((g, found))
        }
    }
}

/// Is `note_id` in the subtree of `ancestor` (itself included)? Walks the same live branches as
/// [`Graph::subtree`], upwards, so a few candidates never read a large subtree.
fn in_subtree(g: &mut Graph<'_>, note_id: &str, ancestor: &str) -> SqlResult<bool> {
    let mut seen = HashSet::new();
    let mut stack = vec![note_id.to_owned()];
    while let Some(id) = stack.pop() {
        if id == ancestor {
            return Ok(true);
        }
        if seen.insert(id.clone()) {
            stack.extend(g.parent_branches(&id)?.into_iter().map(|b| b.parent_note_id));
        }
    }
    Ok(false)
}

/// Evaluates `expr` on `ids` (the whole tree, or candidates that may include notes that are gone).
fn evaluate(
    g: &mut Graph<'_>,
    expr: &Expr,
    params: &SearchParams,
    index: Option<&SearchIndex>,
    ids: Vec<String>,
    candidates: bool,
) -> SqlResult<Vec<String>> {
    let ancestor = params.ancestor_note_id.as_deref().filter(|a| *a != "root");
    let scope = match ancestor {
        Some(a) if !candidates => Some(g.subtree(a)?),
        _ => None,
    };
    let in_hidden = params.ancestor_note_id.as_deref().is_some_and(|a| a.starts_with('_'));
    let mut ev = Evaluator { g, fast: params.fast_search, content: HashMap::new(), index, candidates: HashMap::new() };
    let mut hits: Vec<(String, i64, usize, String)> = Vec::new();
    for id in ids {
        if candidates {
            if ev.g.note(&id)?.is_none() {
                continue;
            }
            if let Some(a) = ancestor {
                if !in_subtree(ev.g, &id, a)? {
                    continue;
                }
            }
        }
        if scope.as_ref().is_some_and(|s| !s.contains(&id)) {
            continue;
        }
        if !in_hidden && !ev.g.is_visible(&id)? {
            continue;
        }
        if !params.include_archived_notes && ev.g.has_label(&id, "archived")? {
            continue;
        }
        if let Some(spec) = &params.ancestor_depth {
            let ancestor = params.ancestor_note_id.as_deref().unwrap_or("root");
            match distance_to(ev.g, &id, ancestor)? {
                Some(d) if depth_ok(spec, d) => {}
                _ => continue,
            }
        }
        if !ev.eval(expr, &id)? {
            continue;
        }
        let title = ev.g.note(&id)?.map(|n| n.title).unwrap_or_default();
        let score = score(expr, &normalize(&title));
        let depth = ev.ancestors(&id)?.len();
        hits.push((id, score, depth, title));
    }
    match params.order_by.as_deref().filter(|p| *p != "relevancy") {
        Some(prop) => {
            let mut keyed = Vec::new();
            for h in hits {
                let key = ev.value_of(&h.0, prop)?;
                keyed.push((key, h));
            }
            // Trilium's OrderByAndLimitExp: a missing value sorts after present ones
            // (before them when descending), numbers numerically, text as is.
            keyed.sort_by(|(a, _), (b, _)| {
                use std::cmp::Ordering::*;
                let ord = match (a, b) {
                    (None, None) => Equal,
                    (Some(_), None) => Less,
                    (None, Some(_)) => Greater,
                    (Some(x), Some(y)) => match (x.trim().parse::<f64>(), y.trim().parse::<f64>()) {
                        (Ok(p), Ok(q)) => p.partial_cmp(&q).unwrap_or(Equal),
                        _ => x.cmp(y),
                    },
                };
                if params.descending { ord.reverse() } else { ord }
            });
            hits = keyed.into_iter().map(|(_, h)| h).collect();
        }
        None => hits.sort_by(|a, b| {
            b.1.cmp(&a.1).then(a.2.cmp(&b.2)).then_with(|| normalize(&a.3).cmp(&normalize(&b.3))).then(a.0.cmp(&b.0))
        }),
    }
    let mut ids: Vec<String> = hits.into_iter().map(|h| h.0).collect();
    if let Some(limit) = params.limit {
        ids.truncate(limit.max(0) as usize);
    }
    Ok(ids)
}

/// The full-text words of a query (what a result's snippet shows), or none if it does not parse.
pub fn full_text_tokens(query: &str) -> Vec<String> {
    fn collect(e: &Expr, out: &mut Vec<String>) {
        match e {
            Expr::FullText(tokens) => out.extend(tokens.iter().cloned()),
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| collect(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(e) = parse(query) {
        collect(&e, &mut out);
    }
    out
}

/// JS `parseInt`: optional sign and leading digits; `None` when there are none.
pub fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<i64>().ok().map(|v| sign * v)
}

/// Relevance: full-text tokens found in the title weigh most, an exact title most of all.
fn score(e: &Expr, title: &str) -> i64 {
    match e {
        Expr::FullText(tokens) => tokens
            .iter()
            .map(|t| {
                let t = normalize(t);
                if title == t {
                    10
                } else if title.contains(&t) {
                    2
                } else {
                    0
                }
            })
            .sum(),
        Expr::And(items) | Expr::Or(items) => items.iter().map(|i| score(i, title)).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_parentheses_nested_deeper_than_the_limit() {
        let nested = |depth: usize| format!("{}#a{}", "(".repeat(depth), ")".repeat(depth));
        assert!(parse(&nested(MAX_NESTING)).is_ok());
        assert!(parse(&nested(MAX_NESTING + 1)).unwrap_err().contains("nested"));
        assert!(parse(&"not(".repeat(100_000)).unwrap_err().contains("nested"));
    }

    #[test]
    fn parses_mixed_queries() {
        assert!(matches!(parse("towers tolkien").unwrap(), Expr::FullText(t) if t.len() == 2));
        let e = parse("towers #book").unwrap();
        assert!(matches!(e, Expr::And(ref v) if v.len() == 2));
        assert!(matches!(parse("#city=München").unwrap(), Expr::Label { cond: Some(("=", _)), .. }));
        assert!(matches!(parse("~seeAlso.title *=* ramen").unwrap(), Expr::Relation { ref path, .. } if path == &["title"]));
        assert!(matches!(parse("note.title = 'a b'").unwrap(), Expr::Property { op: "=", .. }));
        assert!(matches!(parse("#a or #b").unwrap(), Expr::Or(_)));
        assert!(matches!(parse("not(#a)").unwrap(), Expr::Not(_)));
        assert!(parse("#a = ").is_err());
        assert!(parse("(#a").is_err());
    }

    #[test]
    fn compares_like_trilium() {
        assert!(compare("=", "München", "munchen"));
        assert!(compare(">", "10", "9"));
        assert!(compare("*=*", "Hello World", "lo wo"));
        assert!(compare("=*", "Hello", "he"));
        assert!(!compare("*=", "Hello", "he"));
    }
}
