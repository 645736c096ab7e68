//! `GET /notes/{noteId}/export?format=html|markdown`: a note's subtree as a zip in the
//! layout of Trilium 0.63.7's zip export (formatVersion 2): a `!!!meta.json` describing
//! every note (path, title, type, mime, prefix, attributes, attachments, children), one
//! data file per note with content, one per attachment, a directory per note with
//! children, and for `html` the `navigation.html`/`index.html`/`style.css` frame.
//!
//! Differences from Trilium: the html is not re-indented by a pretty printer, `style.css`
//! is a short stylesheet of our own rather than CKEditor's, and the markdown conversion
//! covers the common elements (headings, paragraphs, emphasis, links, images, lists,
//! code, quotes, line breaks, rules, strikethrough); anything else becomes its text.

use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Write};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use regex::Regex;
use rusqlite::Connection;
use serde::Serialize;

use super::content::{encode_uri_component, escape_html};
use super::error::{EtapiError, EtapiResult};
use super::EtapiState;
use crate::db::{attachments, tree};
use crate::domain::notes::live_note;
use crate::entities::{BlobContent, Branch, Note};

pub fn routes() -> Router<EtapiState> {
    Router::new().route("/notes/{note_id}/export", get(export_note))
}

/// Trilium's version, written into `appVersion`.
pub const APP_VERSION: &str = "0.63.7";
pub const FORMAT_VERSION: i64 = 2;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Html,
    Markdown,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Markdown => "markdown",
        }
    }
}

/// One entry of `files`/`children` (Trilium's `NoteMeta`; fields in its declaration
/// order, unset ones left out as `JSON.stringify` leaves out `undefined`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteMeta {
    pub note_id: String,
    pub note_path: Vec<String>,
    pub is_clone: bool,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note_position: Option<i64>,
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_expanded: Option<bool>,
    #[serde(rename = "type")]
    pub note_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir_file_name: Option<String>,
    pub no_import: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<AttributeMeta>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<AttachmentMeta>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<NoteMeta>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeMeta {
    #[serde(rename = "type")]
    pub attr_type: String,
    pub name: String,
    pub value: String,
    pub is_inheritable: bool,
    pub position: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentMeta {
    pub attachment_id: String,
    pub title: String,
    pub role: String,
    pub mime: String,
    pub position: i64,
    pub data_file_name: String,
}

/// The `noImport` entries of the html frame.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuxMeta {
    no_import: bool,
    data_file_name: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum FileMeta<'a> {
    Note(&'a NoteMeta),
    Aux(AuxMeta),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetaFile<'a> {
    format_version: i64,
    app_version: &'static str,
    files: Vec<FileMeta<'a>>,
}

async fn export_note(
    State(state): State<EtapiState>,
    Path(note_id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> EtapiResult<Response> {
    let (zip, file_name) = state.read(move |conn| {
        live_note(conn, &note_id)?;
        let requested = params.iter().find(|(k, _)| k == "format").map(|(_, v)| v.as_str()).unwrap_or("");
        let format = match requested {
            "" | "html" => Format::Html,
            "markdown" => Format::Markdown,
            other => {
                return Err(EtapiError::bad_request(
                    "UNRECOGNIZED_EXPORT_FORMAT",
                    format!("Unrecognized export format '{other}', supported values are 'html' (default) or 'markdown'."),
                ))
            }
        };
        // Trilium exports the note's first parent branch (so the prefix comes along).
        let branch = tree::first_parent_branch(conn, &note_id)?.ok_or_else(|| EtapiError::note_not_found(&note_id))?;
        export_to_zip(conn, &branch, format)
    })
    .await?;
    let mut headers = HeaderMap::new();
    let disposition = format!("file; filename=\"{0}\"; filename*=UTF-8''{0}", {
        let s = sanitize_filename(&file_name);
        encode_uri_component(if s.trim().is_empty() { "file" } else { &s })
    });
    if let Ok(v) = disposition.parse() {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/zip"));
    Ok((StatusCode::OK, headers, zip).into_response())
}

fn zip_error(e: impl std::fmt::Display) -> EtapiError {
    EtapiError::internal(format!("Could not write the export zip: {e}"))
}

/// The zip bytes and the download name (`<prefix - >title.zip`).
pub fn export_to_zip(conn: &Connection, branch: &Branch, format: Format) -> EtapiResult<(Vec<u8>, String)> {
    let mut builder = Builder { conn, format, seen: HashSet::new() };
    let root_note = live_note(conn, &branch.note_id)?;
    let mut existing = HashMap::new();
    let mut root_meta = builder
        .create_note_meta(branch, &[], &mut existing)?
        .ok_or_else(|| EtapiError::generic("The exported note is excluded from export (#excludeFromExport)."))?;

    // Relations pointing outside the export are dropped, except to named notes.
    let exported = builder.seen.clone();
    filter_relations(&mut root_meta, &exported);

    let mut index = HashMap::new();
    index_metas(&root_meta, &mut index);

    let mut files = vec![FileMeta::Note(&root_meta)];
    if format == Format::Html {
        for name in ["navigation.html", "index.html", "style.css"] {
            files.push(FileMeta::Aux(AuxMeta { no_import: true, data_file_name: name }));
        }
    }
    let meta_file = MetaFile { format_version: FORMAT_VERSION, app_version: APP_VERSION, files };
    let mut meta_json = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut meta_json, serde_json::ser::PrettyFormatter::with_indent(b"\t"));
    meta_file.serialize(&mut ser).map_err(zip_error)?;

    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("!!!meta.json", options).map_err(zip_error)?;
    zip.write_all(&meta_json).map_err(zip_error)?;

    let writer = Writer { conn, index: &index, attachment_re: AttachmentRes::new() };
    writer.save_note(&mut zip, &root_meta, "", options)?;

    if format == Format::Html {
        zip.start_file("navigation.html", options).map_err(zip_error)?;
        zip.write_all(writer.navigation(&root_meta).as_bytes()).map_err(zip_error)?;
        zip.start_file("index.html", options).map_err(zip_error)?;
        zip.write_all(writer.index_page(&root_meta).as_bytes()).map_err(zip_error)?;
        zip.start_file("style.css", options).map_err(zip_error)?;
        zip.write_all(STYLE_CSS.as_bytes()).map_err(zip_error)?;
    }
    let bytes = zip.finish().map_err(zip_error)?.into_inner();

    let title = title_or_protected(&root_note);
    let file_name = match branch.prefix.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => format!("{p} - {title}.zip"),
        None => format!("{title}.zip"),
    };
    Ok((bytes, file_name))
}

fn title_or_protected(note: &Note) -> String {
    if note.is_protected {
        "[protected]".to_owned()
    } else {
        note.title.clone()
    }
}

fn filter_relations(meta: &mut NoteMeta, exported: &HashSet<String>) {
    if let Some(attrs) = &mut meta.attributes {
        attrs.retain(|a| {
            a.attr_type != "relation" || exported.contains(&a.value) || a.value == "root" || a.value.starts_with('_')
        });
    }
    for child in meta.children.iter_mut().flatten() {
        filter_relations(child, exported);
    }
}

/// What link rewriting needs of each exported (non-clone) note.
struct MetaRef {
    note_path: Vec<String>,
    data_file_name: Option<String>,
    dir_file_name: Option<String>,
}

fn index_metas(meta: &NoteMeta, index: &mut HashMap<String, MetaRef>) {
    if !meta.is_clone {
        index.insert(
            meta.note_id.clone(),
            MetaRef {
                note_path: meta.note_path.clone(),
                data_file_name: meta.data_file_name.clone(),
                dir_file_name: meta.dir_file_name.clone(),
            },
        );
    }
    for child in meta.children.iter().flatten() {
        index_metas(child, index);
    }
}

struct Builder<'c> {
    conn: &'c Connection,
    format: Format,
    /// noteIds already given a full (non-clone) entry.
    seen: HashSet<String>,
}

impl Builder<'_> {
    fn create_note_meta(
        &mut self,
        branch: &Branch,
        parent_path: &[String],
        existing: &mut HashMap<String, i64>,
    ) -> EtapiResult<Option<NoteMeta>> {
        let note = live_note(self.conn, &branch.note_id)?;
        let owned = tree::owned_attributes(self.conn, &note.note_id)?;
        if owned.iter().any(|a| a.attr_type == "label" && a.name == "excludeFromExport") {
            return Ok(None);
        }
        let title = title_or_protected(&note);
        let prefix = branch.prefix.clone();
        let complete_title = match prefix.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => format!("{p} - {title}"),
            None => title.clone(),
        };
        let mut base_file_name = sanitize_filename(&complete_title);
        if base_file_name.chars().count() > 200 {
            base_file_name = base_file_name.chars().take(200).collect();
        }
        let mut note_path = parent_path.to_vec();
        note_path.push(note.note_id.clone());
        let ext = if self.format == Format::Html { "html" } else { "md" };

        if self.seen.contains(&note.note_id) {
            let file = unique_filename(existing, &format!("{base_file_name}.clone.{ext}"));
            return Ok(Some(NoteMeta {
                note_id: note.note_id.clone(),
                note_path,
                is_clone: true,
                title,
                note_position: None,
                prefix,
                is_expanded: None,
                note_type: "text".into(),
                mime: None,
                format: Some(self.format.name()),
                data_file_name: Some(file),
                dir_file_name: None,
                no_import: false,
                attributes: None,
                attachments: None,
                children: None,
            }));
        }
        self.seen.insert(note.note_id.clone());

        let children: Vec<Branch> =
            tree::child_branches(self.conn, &note.note_id)?.into_iter().filter(|b| b.note_id != "_hidden").collect();
        let content_len = match &note.blob_id {
            Some(_) if !note.is_protected => tree::note_content(self.conn, &note.note_id)?.as_bytes().map_or(0, <[u8]>::len),
            _ => 0,
        };
        let data_file = (!note.is_protected && (content_len > 0 || children.is_empty()))
            .then(|| data_file_name(self.format, Some(&note.note_type), &note.mime, &base_file_name, existing));
        let attachment_metas = if note.is_protected {
            Vec::new()
        } else {
            attachments::list(self.conn, &note.note_id)?
                .into_iter()
                .map(|a| AttachmentMeta {
                    data_file_name: data_file_name(
                        self.format,
                        None,
                        &a.mime,
                        &format!("{base_file_name}_{}", a.title),
                        existing,
                    ),
                    attachment_id: a.attachment_id,
                    title: a.title,
                    role: a.role,
                    mime: a.mime,
                    position: a.position,
                })
                .collect()
        };
        let mut meta = NoteMeta {
            note_id: note.note_id.clone(),
            note_path: note_path.clone(),
            is_clone: false,
            title,
            note_position: Some(branch.note_position),
            prefix,
            is_expanded: Some(branch.is_expanded),
            note_type: note.note_type.clone(),
            mime: Some(note.mime.clone()),
            format: (note.note_type == "text").then(|| self.format.name()),
            data_file_name: data_file,
            dir_file_name: None,
            no_import: false,
            attributes: Some(
                owned
                    .into_iter()
                    .map(|a| AttributeMeta {
                        attr_type: a.attr_type,
                        name: a.name,
                        value: a.value,
                        is_inheritable: a.is_inheritable,
                        position: a.position,
                    })
                    .collect(),
            ),
            attachments: Some(attachment_metas),
            children: None,
        };
        if !children.is_empty() {
            meta.dir_file_name = Some(unique_filename(existing, &base_file_name));
            let mut child_existing = HashMap::new();
            let mut metas = Vec::new();
            for child in &children {
                if let Some(m) = self.create_note_meta(child, &note_path, &mut child_existing)? {
                    metas.push(m);
                }
            }
            meta.children = Some(metas);
        }
        Ok(Some(meta))
    }
}

/// `getUniqueFilename`: case-insensitive clash → `<n>_name`.
fn unique_filename(existing: &mut HashMap<String, i64>, file_name: &str) -> String {
    let lc = file_name.to_lowercase();
    if existing.contains_key(&lc) {
        loop {
            let counter = existing.get_mut(&lc).expect("present");
            let index = *counter;
            *counter += 1;
            if !existing.contains_key(&format!("{index}_{lc}")) {
                return format!("{index}_{file_name}");
            }
        }
    }
    existing.insert(lc, 1);
    file_name.to_owned()
}

/// Node's `path.extname`, lower-cased.
fn extname(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let stripped = base.trim_start_matches('.');
    let lead = base.len() - stripped.len();
    match stripped.rfind('.') {
        Some(i) => base[lead + i..].to_lowercase(),
        None => String::new(),
    }
}

fn data_file_name(
    format: Format,
    note_type: Option<&str>,
    mime: &str,
    base: &str,
    existing: &mut HashMap<String, i64>,
) -> String {
    let mut file_name = base.trim().to_owned();
    if file_name.chars().count() > 30 {
        file_name = file_name.chars().take(30).collect::<String>().trim().to_owned();
    }
    let existing_ext = extname(&file_name);
    let mime_lc = mime.trim().to_lowercase();
    let new_ext: Option<String> = if note_type == Some("text") {
        Some(if format == Format::Markdown { "md" } else { "html" }.into())
    } else if mime == "application/x-javascript" || mime == "text/javascript" {
        Some("js".into())
    } else if !existing_ext.is_empty() {
        None
    } else if mime_lc == "image/jpg" {
        Some("jpg".into())
    } else if mime_lc == "text/mermaid" {
        Some("txt".into())
    } else {
        Some(mime_extension(&mime_lc).unwrap_or("dat").into())
    };
    if let Some(ext) = new_ext {
        if existing_ext != format!(".{}", ext.to_lowercase()) {
            file_name = format!("{file_name}.{ext}");
        }
    }
    unique_filename(existing, &file_name)
}

/// `mime-types`' `extension()` for the types notes and attachments commonly have.
pub fn mime_extension(mime: &str) -> Option<&'static str> {
    let essence = mime.split(';').next().unwrap_or("").trim();
    Some(match essence {
        "text/html" => "html",
        "text/plain" => "txt",
        "text/css" => "css",
        "text/csv" => "csv",
        "text/markdown" | "text/x-markdown" => "md",
        "text/xml" | "application/xml" => "xml",
        "text/x-c" => "c",
        "text/x-java-source" => "java",
        "text/x-sh" | "application/x-sh" => "sh",
        "text/yaml" => "yaml",
        "application/javascript" => "js",
        "application/json" => "json",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        "application/gzip" => "gz",
        "application/octet-stream" => "bin",
        "application/x-sql" | "application/sql" => "sql",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "image/png" => "png",
        "image/jpeg" => "jpeg",
        "image/gif" => "gif",
        "image/svg+xml" => "svg",
        "image/webp" => "webp",
        "image/bmp" => "bmp",
        "image/x-icon" => "ico",
        "audio/mpeg" => "mpga",
        "audio/ogg" => "oga",
        "audio/wav" | "audio/wave" => "wav",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        _ => return None,
    })
}

/// The `sanitize-filename` package: no path separators, reserved or control characters,
/// no `.`/`..`, no Windows device names, no trailing dots or spaces, at most 255 bytes.
pub fn sanitize_filename(name: &str) -> String {
    let mut s: String = name
        .chars()
        .filter(|c| !"/?<>\\:*|\"".contains(*c) && !matches!(*c as u32, 0x00..=0x1f | 0x80..=0x9f))
        .collect();
    if !s.is_empty() && s.chars().all(|c| c == '.') {
        s.clear();
    }
    let lower = s.to_lowercase();
    let stem = lower.split('.').next().unwrap_or("");
    let reserved = ["con", "prn", "aux", "nul"].contains(&stem)
        || (stem.len() == 4
            && (stem.starts_with("com") || stem.starts_with("lpt"))
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        s.clear();
    }
    let trimmed = s.trim_end_matches(['.', ' ']).len();
    s.truncate(trimmed);
    if s.len() > 255 {
        let mut cut = 255;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

struct AttachmentRes {
    image: Regex,
    attachment_image: Regex,
    attachment_link: Regex,
    note_link: Regex,
}

impl AttachmentRes {
    fn new() -> Self {
        AttachmentRes {
            image: Regex::new(r#"src="[^"]*api/images/([a-zA-Z0-9_]+)/[^"]*""#).expect("regex"),
            attachment_image: Regex::new(r#"src="[^"]*api/attachments/([a-zA-Z0-9_]+)/image/[^"]*""#).expect("regex"),
            attachment_link: Regex::new(r#"href="[^"]*#root[^"]*attachmentId=([a-zA-Z0-9_]+)/?""#).expect("regex"),
            note_link: Regex::new(r#"href="[^"]*#root[a-zA-Z0-9_/]*/([a-zA-Z0-9_]+)[^"]*""#).expect("regex"),
        }
    }
}

struct Writer<'a> {
    conn: &'a Connection,
    index: &'a HashMap<String, MetaRef>,
    attachment_re: AttachmentRes,
}

type Zip = zip::ZipWriter<Cursor<Vec<u8>>>;

impl Writer<'_> {
    /// `getNoteTargetUrl`: relative url from the source note's file to the target's.
    fn target_url(&self, target_note_id: &str, source_path: &[String]) -> Option<String> {
        let target = self.index.get(target_note_id)?;
        let mut t: &[String] = &target.note_path;
        let mut s: &[String] = source_path;
        while t.len() > 1 && s.len() > 1 && t[0] == s[0] {
            t = &t[1..];
            s = &s[1..];
        }
        let mut url = "../".repeat(s.len().saturating_sub(1));
        for id in &t[..t.len() - 1] {
            let m = self.index.get(id)?;
            url.push_str(&encode_uri_component(m.dir_file_name.as_deref().unwrap_or("")));
            url.push('/');
        }
        let last = self.index.get(t.last()?)?;
        url.push_str(&encode_uri_component(
            last.data_file_name.as_deref().or(last.dir_file_name.as_deref()).unwrap_or(""),
        ));
        Some(url)
    }

    fn rewrite_links(&self, content: &str, meta: &NoteMeta) -> String {
        let find_attachment = |id: &str| -> Option<String> {
            meta.attachments.iter().flatten().find(|a| a.attachment_id == id).map(|a| a.data_file_name.clone())
        };
        let re = &self.attachment_re;
        let content = re.image.replace_all(content, |c: &regex::Captures<'_>| match self.target_url(&c[1], &meta.note_path) {
            Some(url) => format!("src=\"{url}\""),
            None => c[0].to_owned(),
        });
        let content = re.attachment_image.replace_all(&content, |c: &regex::Captures<'_>| match find_attachment(&c[1]) {
            Some(url) => format!("src=\"{url}\""),
            None => c[0].to_owned(),
        });
        let content = re.attachment_link.replace_all(&content, |c: &regex::Captures<'_>| match find_attachment(&c[1]) {
            Some(url) => format!("href=\"{url}\""),
            None => c[0].to_owned(),
        });
        let content = re.note_link.replace_all(&content, |c: &regex::Captures<'_>| match self.target_url(&c[1], &meta.note_path) {
            Some(url) => format!("href=\"{url}\""),
            None => c[0].to_owned(),
        });
        content.into_owned()
    }

    /// `prepareContent`: link rewriting, then the html page or the markdown conversion.
    fn prepare_content(&self, title: &str, content: BlobContent, meta: &NoteMeta) -> Vec<u8> {
        let Some(format) = meta.format else {
            return content.as_bytes().map(<[u8]>::to_vec).unwrap_or_default();
        };
        let content = self.rewrite_links(&content.to_text(), meta);
        if format == "html" {
            let head: String = content.chars().take(100).collect::<String>().to_lowercase();
            if head.contains("<html") {
                return content.into_bytes();
            }
            let css_url = format!("{}style.css", "../".repeat(meta.note_path.len().saturating_sub(1)));
            let t = escape_html(title);
            format!(
                "<html>\n<head>\n    <meta charset=\"utf-8\">\n    <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n    <link rel=\"stylesheet\" href=\"{css_url}\">\n    <base target=\"_parent\">\n    <title data-trilium-title>{t}</title>\n</head>\n<body>\n  <div class=\"content\">\n      <h1 data-trilium-h1>{t}</h1>\n      \n      <div class=\"ck-content\">{content}</div>\n  </div>\n</body>\n</html>"
            )
            .into_bytes()
        } else {
            let md = html_to_markdown(&content);
            if !md.trim().is_empty() && !md.starts_with("# ") {
                format!("# {title}\r\n{md}").into_bytes()
            } else {
                md.into_bytes()
            }
        }
    }

    fn save_note(&self, zip: &mut Zip, meta: &NoteMeta, prefix: &str, options: zip::write::SimpleFileOptions) -> EtapiResult<()> {
        if meta.is_clone {
            let url = self.target_url(&meta.note_id, &meta.note_path).unwrap_or_default();
            let content = format!("<p>This is a clone of a note. Go to its <a href=\"{url}\">primary location</a>.</p>");
            let bytes = self.prepare_content(&meta.title, BlobContent::Text(content), meta);
            let name = format!("{prefix}{}", meta.data_file_name.as_deref().unwrap_or(""));
            zip.start_file(name, options).map_err(zip_error)?;
            zip.write_all(&bytes).map_err(zip_error)?;
            return Ok(());
        }
        let note = live_note(self.conn, &meta.note_id)?;
        let options = options.last_modified_time(zip_time(&note.utc_date_modified));
        if let Some(file) = &meta.data_file_name {
            let content = match &note.blob_id {
                Some(_) => tree::note_content(self.conn, &note.note_id)?,
                None => BlobContent::Null,
            };
            let bytes = self.prepare_content(&meta.title, content, meta);
            zip.start_file(format!("{prefix}{file}"), options).map_err(zip_error)?;
            zip.write_all(&bytes).map_err(zip_error)?;
        }
        for att in meta.attachments.iter().flatten() {
            let content = attachments::content(self.conn, &att.attachment_id)?;
            zip.start_file(format!("{prefix}{}", att.data_file_name), options).map_err(zip_error)?;
            zip.write_all(content.as_bytes().unwrap_or_default()).map_err(zip_error)?;
        }
        if let (Some(children), Some(dir)) = (&meta.children, &meta.dir_file_name) {
            if !children.is_empty() {
                let dir_path = format!("{prefix}{dir}");
                zip.add_directory(format!("{dir_path}/"), options).map_err(zip_error)?;
                for child in children {
                    self.save_note(zip, child, &format!("{dir_path}/"), options)?;
                }
            }
        }
        Ok(())
    }

    fn navigation(&self, root: &NoteMeta) -> String {
        fn inner(w: &Writer<'_>, meta: &NoteMeta, root: &NoteMeta, out: &mut String) {
            out.push_str("<li>");
            let title = match meta.prefix.as_deref().filter(|p| !p.is_empty()) {
                Some(p) => format!("{p} - {}", meta.title),
                None => meta.title.clone(),
            };
            let escaped = escape_html(&title);
            if meta.data_file_name.is_some() {
                let url = w.target_url(&meta.note_id, &root.note_path).unwrap_or_default();
                out.push_str(&format!("<a href=\"{url}\" target=\"detail\">{escaped}</a>"));
            } else {
                out.push_str(&escaped);
            }
            if let Some(children) = meta.children.as_ref().filter(|c| !c.is_empty()) {
                out.push_str("<ul>");
                for child in children {
                    inner(w, child, root, out);
                }
                out.push_str("</ul>");
            }
            out.push_str("</li>");
        }
        let mut items = String::new();
        inner(self, root, root, &mut items);
        format!(
            "<html>\n<head>\n    <meta charset=\"utf-8\">\n    <link rel=\"stylesheet\" href=\"style.css\">\n</head>\n<body>\n    <ul>{items}</ul>\n</body>\n</html>"
        )
    }

    fn index_page(&self, root: &NoteMeta) -> String {
        let mut first = None;
        let mut cur = root;
        while first.is_none() {
            if cur.data_file_name.is_some() {
                first = self.target_url(&cur.note_id, &root.note_path);
            }
            match cur.children.as_ref().and_then(|c| c.first()) {
                Some(c) => cur = c,
                None => break,
            }
        }
        let first = first.unwrap_or_else(|| "undefined".into());
        format!(
            "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n<html>\n<head>\n    <meta charset=\"utf-8\">\n    <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n</head>\n<frameset cols=\"25%,75%\">\n    <frame name=\"navigation\" src=\"navigation.html\">\n    <frame name=\"detail\" src=\"{first}\">\n</frameset>\n</html>"
        )
    }
}

/// A zip timestamp from Trilium's `YYYY-MM-DD HH:MM:SS.sssZ` (the zip default if unparsable).
fn zip_time(utc: &str) -> zip::DateTime {
    let num = |r: std::ops::Range<usize>| utc.get(r).and_then(|s| s.parse::<u16>().ok());
    (|| {
        zip::DateTime::from_date_and_time(
            num(0..4)?,
            num(5..7)? as u8,
            num(8..10)? as u8,
            num(11..13)? as u8,
            num(14..16)? as u8,
            num(17..19)? as u8,
        )
        .ok()
    })()
    .unwrap_or_default()
}

const STYLE_CSS: &str = "body { font-family: sans-serif; margin: 0 auto; max-width: 960px; padding: 1em; }\n\
.ck-content img { max-width: 100%; }\n\
.ck-content pre { background: #f5f5f5; padding: 0.5em; overflow: auto; }\n\
.ck-content table { border-collapse: collapse; }\n\
.ck-content td, .ck-content th { border: 1px solid #ccc; padding: 0.3em; }\n\
.ck-content blockquote { border-left: 4px solid #ccc; margin-left: 0; padding-left: 1em; }\n";

// ---------------------------------------------------------------------------------------
// HTML → Markdown (turndown's defaults with fenced code, as Trilium configures it)

#[derive(Debug)]
enum Node {
    Text(String),
    Element { name: String, attrs: Vec<(String, String)>, children: Vec<Node> },
}

const VOID: &[&str] = &["br", "hr", "img", "input", "meta", "link", "col", "area", "base", "wbr", "source"];

pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.char_indices().take(12).find(|&(_, c)| c == ';').map(|(i, _)| i);
        let decoded = end.and_then(|e| {
            let ent = &rest[1..e];
            let c = match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                    u32::from_str_radix(&ent[2..], 16).ok().and_then(char::from_u32)
                }
                _ if ent.starts_with('#') => ent[1..].parse::<u32>().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse_attrs(s: &str) -> Vec<(String, String)> {
    let mut attrs = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        if start == i {
            break;
        }
        let name = s[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                i += 1;
                let vs = i;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                value = decode_entities(&s[vs..i]);
                i = (i + 1).min(b.len());
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = decode_entities(&s[vs..i]);
            }
        }
        attrs.push((name, value));
    }
    attrs
}

/// A forgiving HTML parser: enough structure for the markdown conversion.
fn parse_html(html: &str) -> Vec<Node> {
    let mut stack: Vec<(String, Vec<(String, String)>, Vec<Node>)> = vec![(String::new(), Vec::new(), Vec::new())];
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            stack.last_mut().expect("root").2.push(Node::Text(decode_entities(rest)));
            break;
        };
        if lt > 0 {
            stack.last_mut().expect("root").2.push(Node::Text(decode_entities(&rest[..lt])));
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |e| &after[e + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else {
            stack.last_mut().expect("root").2.push(Node::Text(decode_entities(rest)));
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            if let Some(pos) = stack.iter().rposition(|(n, _, _)| *n == name) {
                if pos > 0 {
                    while stack.len() > pos {
                        let (n, a, c) = stack.pop().expect("frame");
                        stack.last_mut().expect("root").2.push(Node::Element { name: n, attrs: a, children: c });
                    }
                }
            }
            continue;
        }
        let name_end = tag.find(|c: char| c.is_ascii_whitespace() || c == '/').unwrap_or(tag.len());
        let name = tag[..name_end].to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        let attrs = parse_attrs(&tag[name_end..]);
        if VOID.contains(&name.as_str()) || tag.ends_with('/') {
            stack.last_mut().expect("root").2.push(Node::Element { name, attrs, children: Vec::new() });
        } else if name == "script" || name == "style" {
            let close = format!("</{name}");
            let end = rest.to_ascii_lowercase().find(&close).unwrap_or(rest.len());
            rest = &rest[end..];
            rest = rest.find('>').map_or("", |e| &rest[e + 1..]);
        } else {
            stack.push((name, attrs, Vec::new()));
        }
    }
    while stack.len() > 1 {
        let (n, a, c) = stack.pop().expect("frame");
        stack.last_mut().expect("root").2.push(Node::Element { name: n, attrs: a, children: c });
    }
    stack.pop().map(|f| f.2).unwrap_or_default()
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn escape_md(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\*_`[]".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    // Line-leading characters that would start a block.
    let t = out.trim_start();
    if t.starts_with('#') || t.starts_with('>') || t.starts_with("- ") || t.starts_with("+ ") {
        let lead = out.len() - t.len();
        out.insert(lead, '\\');
    }
    out
}

fn text_content(nodes: &[Node], out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Element { children, .. } => text_content(children, out),
        }
    }
}

struct Md {
    out: String,
}

impl Md {
    fn block_break(&mut self) {
        let trimmed = self.out.trim_end_matches([' ', '\n']).len();
        self.out.truncate(trimmed);
        if !self.out.is_empty() {
            self.out.push_str("\n\n");
        }
    }

    fn inline(&mut self, nodes: &[Node], pre: bool) {
        for n in nodes {
            self.node(n, pre);
        }
    }

    fn node(&mut self, node: &Node, pre: bool) {
        match node {
            Node::Text(t) => {
                if pre {
                    self.out.push_str(t);
                } else {
                    let collapsed: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
                    let mut s = if t.starts_with(char::is_whitespace) && !collapsed.is_empty() { " ".to_owned() } else { String::new() };
                    if collapsed.is_empty() && !t.is_empty() {
                        s = " ".into();
                    }
                    s.push_str(&escape_md(&collapsed));
                    if t.ends_with(char::is_whitespace) && !collapsed.is_empty() {
                        s.push(' ');
                    }
                    if (self.out.is_empty() || self.out.ends_with([' ', '\n'])) && s.starts_with(' ') {
                        s.remove(0);
                    }
                    self.out.push_str(&s);
                }
            }
            Node::Element { name, attrs, children } => self.element(name, attrs, children, pre),
        }
    }

    fn wrapped(&mut self, children: &[Node], delim: &str, pre: bool) {
        let mut inner = Md { out: String::new() };
        inner.inline(children, pre);
        let t = inner.out.trim();
        if !t.is_empty() {
            self.out.push_str(&format!("{delim}{t}{delim}"));
        }
    }

    fn element(&mut self, name: &str, attrs: &[(String, String)], children: &[Node], pre: bool) {
        match name {
            "p" | "div" | "section" | "article" | "figure" | "figcaption" | "header" | "footer" | "main" | "body" | "html" => {
                self.block_break();
                self.inline(children, pre);
                self.block_break();
            }
            "head" | "title" => {}
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = name[1..].parse::<usize>().unwrap_or(1);
                let mut inner = Md { out: String::new() };
                inner.inline(children, false);
                let text = inner.out.trim().replace('\n', " ");
                self.block_break();
                if level <= 2 {
                    let underline = if level == 1 { "=" } else { "-" };
                    self.out.push_str(&format!("{text}\n{}", underline.repeat(text.chars().count().max(1))));
                } else {
                    self.out.push_str(&format!("{} {text}", "#".repeat(level)));
                }
                self.block_break();
            }
            "br" => self.out.push_str("  \n"),
            "hr" => {
                self.block_break();
                self.out.push_str("* * *");
                self.block_break();
            }
            "strong" | "b" => self.wrapped(children, "**", pre),
            "em" | "i" => self.wrapped(children, "_", pre),
            "s" | "del" | "strike" => self.wrapped(children, "~~", pre),
            "code" if !pre => {
                let mut t = String::new();
                text_content(children, &mut t);
                let fence = if t.contains('`') { "``" } else { "`" };
                self.out.push_str(&format!("{fence}{t}{fence}"));
            }
            "pre" => {
                let mut code = String::new();
                text_content(children, &mut code);
                let lang = children
                    .iter()
                    .find_map(|c| match c {
                        Node::Element { name, attrs, .. } if name == "code" => attr(attrs, "class"),
                        _ => None,
                    })
                    .and_then(|cls| cls.split_whitespace().find_map(|c| c.strip_prefix("language-")))
                    .unwrap_or("");
                self.block_break();
                self.out.push_str(&format!("```{lang}\n{}\n```", code.trim_end_matches('\n')));
                self.block_break();
            }
            "a" => {
                let mut inner = Md { out: String::new() };
                inner.inline(children, pre);
                match attr(attrs, "href") {
                    Some(href) if !href.is_empty() => {
                        let title = attr(attrs, "title").map(|t| format!(" \"{}\"", t.replace('"', "\\\""))).unwrap_or_default();
                        self.out.push_str(&format!("[{}]({}{title})", inner.out.trim(), href.replace('(', "\\(").replace(')', "\\)")));
                    }
                    _ => self.out.push_str(&inner.out),
                }
            }
            "img" => {
                let src = attr(attrs, "src").unwrap_or("");
                if !src.is_empty() {
                    let alt = attr(attrs, "alt").unwrap_or("");
                    self.out.push_str(&format!("![{alt}]({src})"));
                }
            }
            "ul" | "ol" => {
                self.block_break();
                let ordered = name == "ol";
                let start = attr(attrs, "start").and_then(|s| s.parse::<i64>().ok()).unwrap_or(1);
                let mut index = start;
                for li in children {
                    let Node::Element { name, children: li_children, .. } = li else { continue };
                    if name != "li" {
                        continue;
                    }
                    let prefix = if ordered { format!("{index}.  ") } else { "*   ".to_owned() };
                    index += 1;
                    let mut inner = Md { out: String::new() };
                    inner.inline(li_children, pre);
                    let body = inner.out.trim().replace('\n', "\n    ");
                    self.out.push_str(&format!("{prefix}{body}\n"));
                }
                self.block_break();
            }
            "blockquote" => {
                let mut inner = Md { out: String::new() };
                inner.inline(children, pre);
                let quoted: Vec<String> = inner.out.trim().lines().map(|l| format!("> {l}")).collect();
                self.block_break();
                self.out.push_str(&quoted.join("\n"));
                self.block_break();
            }
            "table" => {
                self.block_break();
                let mut rows: Vec<Vec<String>> = Vec::new();
                collect_rows(children, &mut rows);
                if let Some(first) = rows.first() {
                    let cols = rows.iter().map(Vec::len).max().unwrap_or(first.len()).max(1);
                    for (i, row) in rows.iter().enumerate() {
                        let mut cells = row.clone();
                        cells.resize(cols, String::new());
                        self.out.push_str(&format!("| {} |\n", cells.join(" | ")));
                        if i == 0 {
                            self.out.push_str(&format!("| {} |\n", vec!["---"; cols].join(" | ")));
                        }
                    }
                }
                self.block_break();
            }
            _ => self.inline(children, pre),
        }
    }
}

fn collect_rows(nodes: &[Node], rows: &mut Vec<Vec<String>>) {
    for n in nodes {
        if let Node::Element { name, children, .. } = n {
            if name == "tr" {
                let mut cells = Vec::new();
                for c in children {
                    if let Node::Element { name, children, .. } = c {
                        if name == "td" || name == "th" {
                            let mut inner = Md { out: String::new() };
                            inner.inline(children, false);
                            cells.push(inner.out.trim().replace('\n', " ").replace('|', "\\|"));
                        }
                    }
                }
                rows.push(cells);
            } else {
                collect_rows(children, rows);
            }
        }
    }
}

/// HTML to Markdown in the style of turndown (setext h1/h2, `*   ` bullets, fenced code).
pub fn html_to_markdown(html: &str) -> String {
    let nodes = parse_html(html);
    let mut md = Md { out: String::new() };
    md.inline(&nodes, false);
    md.out.trim_matches(|c: char| c == '\n' || c == ' ').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_and_extensions() {
        let mut existing = HashMap::new();
        assert_eq!(data_file_name(Format::Html, Some("text"), "text/html", "Note", &mut existing), "Note.html");
        assert_eq!(data_file_name(Format::Html, Some("text"), "text/html", "note", &mut existing), "1_note.html");
        assert_eq!(data_file_name(Format::Html, None, "image/png", "pic.png", &mut existing), "pic.png");
        assert_eq!(data_file_name(Format::Html, Some("code"), "application/x-weird", "x", &mut existing), "x.dat");
        assert_eq!(sanitize_filename("a/b:c?"), "abc");
        assert_eq!(sanitize_filename("con"), "");
    }

    #[test]
    fn markdown_basics() {
        let md = html_to_markdown("<h2>Head</h2><p>Some <strong>bold</strong> and <a href=\"x.html\">link</a></p><ul><li>one</li><li>two</li></ul><pre><code class=\"language-python\">a = 1\n</code></pre>");
        assert_eq!(decode_entities("&amp;&#233;&#xE9;&nbsp;&bogus; é&éééééééééé;"), "&éé\u{a0}&bogus; é&éééééééééé;");
        assert_eq!(md, "Head\n----\n\nSome **bold** and [link](x.html)\n\n*   one\n*   two\n\n```python\na = 1\n```");
    }
}
