//! `POST /notes/{noteId}/import`: a Trilium export zip (as [`super::export`] writes it, or
//! as Trilium writes it) becomes notes under the given parent, the way Trilium 0.63.7's
//! zip import does it with the default options: new ids for everything except named notes
//! (`root`, `_…`), notes in zip order, clones as extra branches, attachments, links
//! rewritten to the new ids, attributes last (relations only to notes that exist).
//! Answers 201 `{note, branch}` for the first note created.
//!
//! Unlike Trilium, a broken zip or meta file is a 400, and the whole import is one
//! transaction (nothing is left half-imported).

use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use regex::{Captures, Regex};
use serde::Deserialize;

use super::error::{EtapiError, EtapiResult};
use super::graph::note_json;
use super::wire::{BranchJson, NoteWithBranch};
use super::{EtapiState, RawBody};
use crate::db::attachments::{self, NewAttachment};
use crate::db::tree::{self, NewNote};
use crate::db::WriteTx;
use crate::domain::attributes::save as save_attribute;
use crate::domain::notes::{content_for, is_string_note, live_note};
use crate::entities::{self, Attribute, BlobContent, Branch, Note};
use crate::hashing;

mod markdown;

pub fn routes() -> Router<EtapiState> {
    Router::new().route("/notes/{note_id}/import", post(import_zip))
}

/// Decompressed bytes an import may hold in total.
const MAX_UNPACKED_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct MetaFile {
    files: Vec<NoteMeta>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct NoteMeta {
    note_id: Option<String>,
    is_clone: bool,
    title: Option<String>,
    note_position: Option<i64>,
    prefix: Option<String>,
    is_expanded: Option<bool>,
    #[serde(rename = "type")]
    note_type: Option<String>,
    mime: Option<String>,
    format: Option<String>,
    data_file_name: Option<String>,
    dir_file_name: Option<String>,
    no_import: bool,
    attributes: Option<Vec<AttributeMeta>>,
    attachments: Option<Vec<AttachmentMeta>>,
    children: Option<Vec<NoteMeta>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AttributeMeta {
    #[serde(rename = "type")]
    attr_type: String,
    name: String,
    value: Option<String>,
    is_inheritable: bool,
    position: Option<i64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AttachmentMeta {
    attachment_id: String,
    title: String,
    role: String,
    mime: String,
    position: Option<i64>,
    data_file_name: Option<String>,
}

/// One zip entry: normalized path, whether it is a directory, its bytes.
struct Entry {
    path: String,
    is_dir: bool,
    content: Vec<u8>,
}

fn bad_zip(e: impl std::fmt::Display) -> EtapiError {
    EtapiError::generic(format!("Invalid ZIP file: {e}"))
}

/// All entries in zip order (a zip that cannot be read is the caller's fault).
fn read_entries(body: &[u8]) -> EtapiResult<Vec<Entry>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(body)).map_err(bad_zip)?;
    let mut entries = Vec::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(bad_zip)?;
        let raw_name = String::from_utf8_lossy(file.name_raw()).into_owned();
        let is_dir = raw_name.ends_with('/') || raw_name.ends_with('\\');
        let mut content = Vec::new();
        if !is_dir {
            let budget = MAX_UNPACKED_BYTES - total;
            (&mut file).take(budget + 1).read_to_end(&mut content).map_err(bad_zip)?;
            total += content.len() as u64;
            if total > MAX_UNPACKED_BYTES {
                return Err(EtapiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "The ZIP file unpacks to more than the import limit."));
            }
        }
        entries.push(Entry { path: normalize_path(&raw_name), is_dir, content });
    }
    Ok(entries)
}

/// `normalizeFilePath`: forward slashes, no leading or trailing slash.
fn normalize_path(p: &str) -> String {
    let p = p.replace('\\', "/");
    let p = p.strip_prefix('/').unwrap_or(&p);
    p.strip_suffix('/').unwrap_or(p).to_owned()
}

/// Node's `path.dirname` for `/`-separated relative paths.
fn dirname(p: &str) -> String {
    let p = p.trim_end_matches('/');
    match p.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => p[..i].to_owned(),
        None => ".".into(),
    }
}

fn basename(p: &str) -> &str {
    let p = p.trim_end_matches('/');
    p.rsplit('/').next().unwrap_or(p)
}

fn remove_text_extension(p: &str) -> &str {
    let base = basename(p);
    if let Some(dot) = base.rfind('.').filter(|&d| d > 0) {
        let ext = base[dot..].to_lowercase();
        if ext == ".md" || ext == ".markdown" || ext == ".html" {
            return &p[..p.len() - (base.len() - dot)];
        }
    }
    p
}

fn resolve_note_type(t: Option<&str>) -> String {
    match t {
        Some("relation-map") => "relationMap".into(),
        Some("note-map") => "noteMap".into(),
        Some("web-view") => "webView".into(),
        Some(t) if !t.is_empty() => t.into(),
        _ => "text".into(),
    }
}

/// Trilium's import `mime.getMime` for the extensions that matter without a meta file.
fn mime_for_path(p: &str) -> &'static str {
    let base = basename(p);
    let ext = base.rfind('.').filter(|&d| d > 0).map(|d| base[d + 1..].to_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html",
        "md" | "markdown" => "text/markdown",
        "txt" => "text/plain",
        "css" => "text/css",
        "csv" => "text/csv",
        "js" => "application/javascript",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "mp3" => "audio/mpeg",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    }
}

/// JS `decodeURIComponent`; `None` where it would throw.
fn decode_uri_component(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

enum Parent<'m> {
    ImportRoot,
    Note(&'m NoteMeta),
}

#[derive(Default)]
struct Found<'m> {
    parent: Option<Parent<'m>>,
    note: Option<&'m NoteMeta>,
    attachment: Option<&'m AttachmentMeta>,
}

struct Importer<'m> {
    meta: Option<&'m MetaFile>,
    root_note_id: String,
    note_ids: HashMap<String, String>,
    attachment_ids: HashMap<String, String>,
    created_paths: HashMap<String, String>,
    attributes: Vec<Attribute>,
    first_note: Option<String>,
    created: Vec<String>,
    created_set: HashSet<String>,
    /// Clone branches whose note did not exist yet: (noteId, parentNoteId, prefix, expanded).
    pending_clones: Vec<(String, String, Option<String>, bool)>,
    res: Res,
}

struct Res {
    trilium_tags: [Regex; 2],
    h1: Regex,
    html_head: Regex,
    html_tail: Regex,
    src: Regex,
    href: Regex,
    absolute: Regex,
}

impl Res {
    fn new() -> Self {
        let re = |s: &str| Regex::new(s).expect("regex");
        Res {
            trilium_tags: [re(r"(?i)<h1 data-trilium-h1>([^<]*)</h1>"), re(r"(?i)<title data-trilium-title>([^<]*)</title>")],
            h1: re(r"(?i)<h1>([^<]*)</h1>"),
            html_head: re(r"(?is)<html.*<body[^>]*>"),
            html_tail: re(r"(?is)</body>.*</html>"),
            src: re(r#"src="([^"]*)""#),
            href: re(r#"href="([^"]*)""#),
            absolute: re(r"(?i)^(?:[a-z]+:)?//"),
        }
    }
}

impl<'m> Importer<'m> {
    fn new_note_id(&mut self, orig: &str) -> String {
        if orig.trim().is_empty() {
            return "empty_note_id".into();
        }
        if orig == "root" || orig.starts_with('_') {
            return orig.into();
        }
        self.note_ids.entry(orig.to_owned()).or_insert_with(hashing::new_entity_id).clone()
    }

    fn new_attachment_id(&mut self, orig: &str) -> String {
        if orig.trim().is_empty() {
            return "empty_attachment_id".into();
        }
        self.attachment_ids.entry(orig.to_owned()).or_insert_with(hashing::new_entity_id).clone()
    }

    fn get_meta(&self, file_path: &str) -> Found<'m> {
        let Some(meta) = self.meta else { return Found::default() };
        let mut children: &'m [NoteMeta] = &meta.files;
        let mut parent = Parent::ImportRoot;
        let mut cursor: Option<&'m NoteMeta> = None;
        let mut first = true;
        for segment in file_path.split(['/', '\\']) {
            if !first {
                match cursor.and_then(|c| c.children.as_deref()).filter(|c| !c.is_empty()) {
                    Some(c) => {
                        parent = Parent::Note(cursor.expect("cursor"));
                        children = c;
                    }
                    None => return Found::default(),
                }
            } else if children.is_empty() {
                return Found::default();
            }
            first = false;
            cursor = children.iter().find(|f| {
                f.data_file_name.as_deref() == Some(segment) || f.dir_file_name.as_deref() == Some(segment)
            });
            if cursor.is_none() {
                // An attachment of one of the parent's children.
                for note in children {
                    for att in note.attachments.iter().flatten() {
                        if att.data_file_name.as_deref() == Some(segment) {
                            return Found { parent: Some(parent), note: Some(note), attachment: Some(att) };
                        }
                    }
                }
                return Found::default();
            }
        }
        Found { parent: Some(parent), note: cursor, attachment: None }
    }

    fn get_note_id(&mut self, meta: Option<&NoteMeta>, file_path: &str) -> String {
        if let Some(m) = meta {
            return self.new_note_id(m.note_id.as_deref().unwrap_or(""));
        }
        let key = remove_text_extension(file_path).to_owned();
        if let Some(id) = self.created_paths.get(&key) {
            return id.clone();
        }
        let id = hashing::new_entity_id();
        self.created_paths.insert(key, id.clone());
        id
    }

    fn title_of(meta: Option<&NoteMeta>, file_path: &str) -> String {
        match meta {
            Some(m) => m.title.clone().unwrap_or_default(),
            None => basename(remove_text_extension(file_path)).to_owned(),
        }
    }

    fn parent_note_id(&mut self, tx: &mut WriteTx<'_>, file_path: &str, parent: &Option<Parent<'m>>) -> EtapiResult<String> {
        let from_meta = match parent {
            Some(Parent::ImportRoot) => Some(self.root_note_id.clone()),
            Some(Parent::Note(p)) => Some(self.new_note_id(p.note_id.as_deref().unwrap_or(""))),
            None => None,
        };
        if let Some(id) = from_meta {
            if existing_note(tx, &id)?.is_some() {
                return Ok(id);
            }
        }
        // No meta, or the parent has not been created yet (no directory entry before it).
        let parent_path = dirname(file_path);
        if parent_path == "." {
            return Ok(self.root_note_id.clone());
        }
        if let Some(id) = self.created_paths.get(&parent_path) {
            if existing_note(tx, id)?.is_some() {
                return Ok(id.clone());
            }
        }
        self.save_directory(tx, &parent_path)
    }

    fn create_note(
        &mut self,
        tx: &mut WriteTx<'_>,
        meta: Option<&NoteMeta>,
        note_id: String,
        parent_id: String,
        title: String,
        note_type: String,
        mime: Option<String>,
        content: BlobContent,
    ) -> EtapiResult<Note> {
        // The import root's position relates to the source document: it goes last instead.
        let position = meta.filter(|_| self.first_note.is_some()).and_then(|m| m.note_position);
        let (note, mut branch) = tree::create_note(
            tx,
            NewNote {
                parent_note_id: parent_id,
                title,
                content,
                note_type,
                mime,
                note_id: Some(note_id),
                prefix: meta.and_then(|m| m.prefix.clone()),
                note_position: position,
            },
        )?;
        if meta.and_then(|m| m.is_expanded) == Some(true) {
            branch.is_expanded = true;
            entities::save(tx, &branch)?;
        }
        if self.created_set.insert(note.note_id.clone()) {
            self.created.push(note.note_id.clone());
        }
        if let Some(m) = meta {
            self.save_attributes(&note.note_id, m);
        }
        self.first_note.get_or_insert_with(|| note.note_id.clone());
        Ok(note)
    }

    fn save_directory(&mut self, tx: &mut WriteTx<'_>, file_path: &str) -> EtapiResult<String> {
        let found = self.get_meta(file_path);
        let note_id = self.get_note_id(found.note, file_path);
        if existing_note(tx, &note_id)?.is_some() || found.note.is_some_and(|m| m.no_import) {
            return Ok(note_id);
        }
        let title = Self::title_of(found.note, file_path);
        let parent_id = self.parent_note_id(tx, file_path, &found.parent)?;
        let note_type = resolve_note_type(found.note.and_then(|m| m.note_type.as_deref()));
        let mime = match found.note {
            Some(m) => m.mime.clone(),
            None => Some("text/html".into()),
        };
        let content = content_for(&note_type, mime.as_deref().unwrap_or(""), Vec::new());
        self.create_note(tx, found.note, note_id.clone(), parent_id, title, note_type, mime, content)?;
        Ok(note_id)
    }

    fn save_attributes(&mut self, note_id: &str, meta: &NoteMeta) {
        for a in meta.attributes.iter().flatten() {
            let (attr_type, name) = match a.attr_type.as_str() {
                "label-definition" => ("label".to_owned(), format!("label:{}", a.name)),
                "relation-definition" => ("label".to_owned(), format!("relation:{}", a.name)),
                t => (t.to_owned(), a.name.clone()),
            };
            if attr_type != "label" && attr_type != "relation" {
                tracing::warn!("import: unrecognized attribute type {attr_type}");
                continue;
            }
            if attr_type == "relation" && ["internalLink", "imageLink", "relationMapLink", "includeNoteLink"].contains(&name.as_str()) {
                continue;
            }
            let mut value = a.value.clone().unwrap_or_default();
            if attr_type == "relation" {
                value = self.new_note_id(&value);
            }
            self.attributes.push(Attribute {
                attribute_id: hashing::new_entity_id(),
                note_id: note_id.to_owned(),
                attr_type,
                name,
                value,
                position: a.position.unwrap_or(i64::MIN),
                utc_date_modified: String::new(),
                is_deleted: false,
                delete_id: None,
                is_inheritable: a.is_inheritable,
            });
        }
    }

    fn entity_from_relative_url(&mut self, url: &str, file_path: &str) -> (Option<String>, String) {
        let mut url = url;
        while let Some(rest) = url.strip_prefix("./") {
            url = rest;
        }
        let mut abs = dirname(file_path);
        while let Some(rest) = url.strip_prefix("../") {
            abs = dirname(&abs);
            url = rest;
        }
        if abs == "." {
            abs.clear();
        }
        let abs_url = if abs.is_empty() { url.to_owned() } else { format!("{abs}/{url}") };
        let found = self.get_meta(&abs_url);
        match (found.attachment, found.note) {
            (Some(att), Some(note)) => {
                let att_id = self.new_attachment_id(&att.attachment_id);
                (Some(att_id), self.new_note_id(note.note_id.as_deref().unwrap_or("")))
            }
            _ => (None, self.get_note_id(found.note, &abs_url)),
        }
    }

    fn process_text(&mut self, content: &str, title: &str, file_path: &str, meta: Option<&NoteMeta>) -> String {
        let mut content = content.to_owned();
        for re in &self.res.trilium_tags {
            content = re.replace_all(&content, "").into_owned();
        }
        content = self
            .res
            .h1
            .replace_all(&content, |c: &Captures<'_>| {
                if title.trim() == c[1].trim() {
                    String::new()
                } else {
                    format!("<h2>{}</h2>", &c[1])
                }
            })
            .into_owned();
        content = self.res.html_head.replace_all(&content, "").into_owned();
        content = self.res.html_tail.replace_all(&content, "").into_owned();

        let src_re = self.res.src.clone();
        let absolute = self.res.absolute.clone();
        content = src_re
            .replace_all(&content, |c: &Captures<'_>| {
                let raw = &c[1];
                if raw.starts_with("data:image") {
                    return c[0].to_owned();
                }
                let Some(url) = decode_uri_component(raw).map(|u| u.trim().to_owned()) else {
                    return format!("src=\"{raw}\"");
                };
                if absolute.is_match(&url) || url.starts_with('/') {
                    return c[0].to_owned();
                }
                match self.entity_from_relative_url(&url, file_path) {
                    (Some(att), _) => format!("src=\"api/attachments/{att}/image/{}\"", basename(&url)),
                    (None, note) => format!("src=\"api/images/{note}/{}\"", basename(&url)),
                }
            })
            .into_owned();
        let href_re = self.res.href.clone();
        content = href_re
            .replace_all(&content, |c: &Captures<'_>| {
                let raw = &c[1];
                let Some(url) = decode_uri_component(raw).map(|u| u.trim().to_owned()) else {
                    return format!("href=\"{raw}\"");
                };
                if url.starts_with('#') || absolute.is_match(&url) {
                    return c[0].to_owned();
                }
                match self.entity_from_relative_url(&url, file_path) {
                    (Some(att), note) => format!("href=\"#root/{note}?viewMode=attachments&attachmentId={att}\""),
                    (None, note) => format!("href=\"#root/{note}\""),
                }
            })
            .into_owned();
        if let Some(m) = meta {
            content = self.replace_link_ids(content, m, "includeNoteLink");
        }
        content.trim().to_owned()
    }

    fn replace_link_ids(&mut self, mut content: String, meta: &NoteMeta, relation: &str) -> String {
        for a in meta.attributes.iter().flatten() {
            if a.attr_type == "relation" && a.name == relation {
                if let Some(v) = a.value.as_deref().filter(|v| !v.is_empty()) {
                    let new = self.new_note_id(v);
                    content = content.replace(v, &new);
                }
            }
        }
        content
    }

    fn save_note(&mut self, tx: &mut WriteTx<'_>, file_path: &str, bytes: Vec<u8>) -> EtapiResult<()> {
        let found = self.get_meta(file_path);
        if found.note.is_some_and(|m| m.no_import) {
            return Ok(());
        }
        let note_id = self.get_note_id(found.note, file_path);

        if let Some(att_meta) = found.attachment {
            if existing_note(tx, &note_id)?.is_none() {
                tracing::warn!("import: attachment '{file_path}' has no owner note, skipped");
                return Ok(());
            }
            let attachment_id = self.new_attachment_id(&att_meta.attachment_id);
            let content = if is_string_note("", &att_meta.mime) {
                BlobContent::Text(String::from_utf8_lossy(&bytes).into_owned())
            } else {
                BlobContent::Binary(bytes)
            };
            attachments::create_attachment(
                tx,
                NewAttachment {
                    attachment_id: Some(attachment_id),
                    owner_id: note_id,
                    role: att_meta.role.clone(),
                    mime: att_meta.mime.clone(),
                    title: att_meta.title.clone(),
                    content,
                    position: att_meta.position,
                },
            )?;
            return Ok(());
        }

        let parent_id = self.parent_note_id(tx, file_path, &found.parent)?;

        if let Some(m) = found.note.filter(|m| m.is_clone) {
            let exists = entities::load::<Branch>(tx.conn(), &Branch::id_for(&parent_id, &note_id))?.is_some_and(|b| !b.is_deleted);
            if !exists {
                if existing_note(tx, &note_id)?.is_some() {
                    add_branch(tx, &note_id, &parent_id, m.prefix.clone(), m.is_expanded.unwrap_or(false))?;
                } else {
                    self.pending_clones.push((note_id, parent_id, m.prefix.clone(), m.is_expanded.unwrap_or(false)));
                }
            }
            return Ok(());
        }

        let (note_type, mime) = match found.note {
            Some(m) => (resolve_note_type(m.note_type.as_deref()), m.mime.clone().unwrap_or_default()),
            None => {
                let mime = mime_for_path(file_path);
                let t = if mime.starts_with("image/") { "image" } else { "file" };
                (t.to_owned(), mime.to_owned())
            }
        };
        let title = Self::title_of(found.note, file_path);
        let content = if note_type == "file" || note_type == "image" {
            content_for(&note_type, &mime, bytes)
        } else {
            let mut text = String::from_utf8_lossy(&bytes).into_owned();
            if found.note.and_then(|m| m.format.as_deref()) == Some("markdown") {
                text = markdown::render_to_html(&text, &title);
            }
            if note_type == "text" {
                text = self.process_text(&text, &title, file_path, found.note);
            }
            if note_type == "relationMap" {
                if let Some(m) = found.note {
                    text = self.replace_link_ids(text, m, "relationMapLink");
                }
            }
            BlobContent::Text(text)
        };

        if let Some(mut note) = existing_note(tx, &note_id)? {
            tree::set_note_content(tx, &mut note, content)?;
            let exists = entities::load::<Branch>(tx.conn(), &Branch::id_for(&parent_id, &note_id))?.is_some_and(|b| !b.is_deleted);
            if !exists {
                let m = found.note;
                add_branch(tx, &note_id, &parent_id, m.and_then(|m| m.prefix.clone()), m.and_then(|m| m.is_expanded).unwrap_or(false))?;
            }
        } else {
            self.create_note(tx, found.note, note_id.clone(), parent_id, title, note_type.clone(), Some(mime), content)?;
        }
        if found.note.is_none() && (note_type == "file" || note_type == "image") {
            self.attributes.push(Attribute {
                attribute_id: hashing::new_entity_id(),
                note_id,
                attr_type: "label".into(),
                name: "originalFileName".into(),
                value: basename(file_path).to_owned(),
                position: i64::MIN,
                utc_date_modified: String::new(),
                is_deleted: false,
                delete_id: None,
                is_inheritable: false,
            });
        }
        Ok(())
    }
}

/// A live note, or `None` (the import skips what it cannot attach to).
fn existing_note(tx: &WriteTx<'_>, id: &str) -> EtapiResult<Option<Note>> {
    Ok(entities::load::<Note>(tx.conn(), id)?.filter(|n| !n.is_deleted))
}

fn add_branch(tx: &mut WriteTx<'_>, note_id: &str, parent_id: &str, prefix: Option<String>, expanded: bool) -> EtapiResult<()> {
    if existing_note(tx, parent_id)?.is_none() {
        return Ok(());
    }
    let mut branch = tree::clone_to_parent(tx, note_id, parent_id, prefix.as_deref().filter(|p| !p.trim().is_empty()))?;
    if expanded {
        branch.is_expanded = true;
        entities::save(tx, &branch)?;
    }
    Ok(())
}

/// Without a meta file Trilium sorts the imported children by title, folders first.
fn sort_by_title(tx: &mut WriteTx<'_>, parent_id: &str) -> EtapiResult<()> {
    let branches = tree::child_branches(tx.conn(), parent_id)?;
    if branches.len() < 2 {
        return Ok(());
    }
    let mut keyed = Vec::new();
    for b in &branches {
        let note: Note = entities::get(tx.conn(), &b.note_id)?;
        let is_folder = !tree::child_branches(tx.conn(), &b.note_id)?.is_empty();
        keyed.push((!is_folder, note.title.to_lowercase(), b.branch_id.clone()));
    }
    keyed.sort();
    let ids: Vec<&str> = keyed.iter().map(|(_, _, id)| id.as_str()).collect();
    tree::reorder_children(tx, parent_id, &ids)?;
    Ok(())
}

async fn import_zip(
    State(state): State<EtapiState>,
    Path(note_id): Path<String>,
    RawBody(body): RawBody,
) -> EtapiResult<Response> {
    let owner = note_id.clone();
    state.read(move |conn| Ok(live_note(conn, &owner).map(|_| ())?)).await?;
    let entries = read_entries(&body)?;
    let meta: Option<MetaFile> = match entries.iter().find(|e| e.path == "!!!meta.json" && !e.is_dir) {
        Some(e) => Some(
            serde_json::from_slice(&e.content)
                .map_err(|err| EtapiError::generic(format!("Invalid !!!meta.json in the ZIP file: {err}")))?,
        ),
        None => None,
    };
    let created = state.write(move |tx| {
        // Under a protected note Trilium creates protected notes only with a protected
        // session, which ETAPI never has: the imported notes are unprotected.
        live_note(tx.conn(), &note_id)?;
        let mut imp = Importer {
            meta: meta.as_ref(),
            root_note_id: note_id.clone(),
            note_ids: HashMap::new(),
            attachment_ids: HashMap::new(),
            created_paths: HashMap::from([("/".to_owned(), note_id.clone()), ("\\".to_owned(), note_id.clone())]),
            attributes: Vec::new(),
            first_note: None,
            created: Vec::new(),
            created_set: HashSet::new(),
            pending_clones: Vec::new(),
            res: Res::new(),
        };
        for entry in &entries {
            if entry.path.is_empty() || entry.path == "!!!meta.json" {
                continue;
            }
            if entry.is_dir {
                imp.save_directory(tx, &entry.path)?;
            } else {
                imp.save_note(tx, &entry.path, entry.content.clone())?;
            }
        }
        for (nid, pid, prefix, expanded) in std::mem::take(&mut imp.pending_clones) {
            let exists = entities::load::<Branch>(tx.conn(), &Branch::id_for(&pid, &nid))?.is_some_and(|b| !b.is_deleted);
            if !exists && existing_note(tx, &nid)?.is_some() {
                add_branch(tx, &nid, &pid, prefix, expanded)?;
            }
        }
        for id in imp.created.clone() {
            crate::domain::links::scan_for_links(tx, &id)?;
            if imp.meta.is_none() {
                sort_by_title(tx, &id)?;
            }
        }
        if imp.meta.is_none() {
            sort_by_title(tx, &note_id)?;
        }
        for attr in std::mem::take(&mut imp.attributes) {
            if attr.attr_type == "relation" && existing_note(tx, &attr.value)?.is_none() {
                tracing::info!("import: relation '{}' not imported, target '{}' does not exist", attr.name, attr.value);
                continue;
            }
            if existing_note(tx, &attr.note_id)?.is_none() {
                continue;
            }
            let position = (attr.position != i64::MIN).then_some(attr.position);
            save_attribute(tx, attr, position)?;
        }
        let first = imp.first_note.clone().ok_or_else(|| EtapiError::generic("The ZIP file contains no notes to import."))?;
        let branch = tree::first_parent_branch(tx.conn(), &first)?.ok_or_else(|| EtapiError::note_not_found(&first))?;
        Ok(NoteWithBranch { note: note_json(tx.conn(), &first)?, branch: BranchJson::from(&branch) })
    })
    .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(normalize_path("\\a\\b/"), "a/b");
        assert_eq!(dirname("a/b/c.html"), "a/b");
        assert_eq!(dirname("c.html"), ".");
        assert_eq!(remove_text_extension("a/B.md"), "a/B");
        assert_eq!(remove_text_extension("a/B.png"), "a/B.png");
        assert_eq!(decode_uri_component("a%20b%C3%A9"), Some("a bé".into()));
        assert_eq!(decode_uri_component("%E0%A4%A"), None);
    }

    #[test]
    fn markdown_roundtrip_basics() {
        let html = markdown::render_to_html("Head\n----\n\nSome **bold** and [link](x.html)\n\n*   one\n*   two\n\n```python\na = 1\n```", "T");
        assert_eq!(html, "<h2>Head</h2>\n<p>Some <strong>bold</strong> and <a href=\"x.html\">link</a></p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n<pre><code class=\"language-python\">a = 1\n</code></pre>\n");
    }
}
