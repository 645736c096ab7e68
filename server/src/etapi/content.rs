//! How ETAPI sends content: Trilium's download headers and the text escapes its exports and
//! imports share.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::entities::BlobContent;

/// `Content-Disposition` as Trilium builds it (`formatDownloadTitle` + `getContentDisposition`).
fn content_disposition(title: &str, kind: &str, mime: &str) -> String {
    disposition_for(&download_file_name(title, kind, mime))
}

/// `Content-Disposition` for a file of this name (`getContentDisposition`).
pub fn disposition_for(file_name: &str) -> String {
    let encoded = encode_uri_component(file_name);
    format!("file; filename=\"{encoded}\"; filename*=UTF-8''{encoded}")
}

/// The file name Trilium gives a download of a note or revision with this title, type and mime
/// (`formatDownloadTitle`): forbidden characters dropped, an extension for the type or mime.
pub fn download_file_name(title: &str, kind: &str, mime: &str) -> String {
    let mut name: String = title.chars().filter(|c| !c.is_control() && !"/\\?<>:*|\"".contains(*c)).collect();
    if name.trim().is_empty() {
        name = "untitled".into();
    }
    if kind == "text" {
        format!("{name}.html")
    } else if ["relationMap", "canvas", "search"].contains(&kind) {
        format!("{name}.json")
    } else {
        match extension_for(&mime.to_ascii_lowercase()) {
            Some(ext) if !name.to_lowercase().ends_with(&format!(".{ext}")) => format!("{name}.{ext}"),
            _ => name,
        }
    }
}

fn extension_for(mime: &str) -> Option<&'static str> {
    Some(match mime {
        "text/plain" => "txt",
        "text/html" => "html",
        "text/css" => "css",
        "text/markdown" | "text/x-markdown" => "md",
        "text/x-python" => "py",
        "application/javascript" | "text/javascript" => "js",
        "application/json" => "json",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        "image/png" => "png",
        "image/jpeg" => "jpeg",
        "image/gif" => "gif",
        "image/svg+xml" => "svg",
        "image/webp" => "webp",
        _ => return None,
    })
}

/// A content response with Trilium's headers.
pub fn content_response(content: BlobContent, title: &str, kind: &str, mime: &str) -> Response {
    let disposition = content_disposition(title, kind, mime);
    let mime = if mime.is_empty() { "application/octet-stream" } else { mime };
    let (content_type, bytes) = match content {
        BlobContent::Text(s) => (format!("{mime}; charset=utf-8"), s.into_bytes()),
        BlobContent::Binary(b) => (mime.to_owned(), b),
        BlobContent::Null => (mime.to_owned(), Vec::new()),
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(v) = value.parse() {
            headers.insert(name, v);
        }
    };
    set(header::CONTENT_DISPOSITION, &disposition);
    set(header::CACHE_CONTROL, "no-cache, no-store, must-revalidate");
    set(header::CONTENT_TYPE, &content_type);
    (StatusCode::OK, headers, bytes).into_response()
}

/// JS `encodeURIComponent`.
pub fn encode_uri_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `escape-html`.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
