//! Link relations kept in step with a note's content, as Trilium's `scanForLinks` does
//! after ETAPI creates a note or replaces its content: `~internalLink` for
//! `href="…#root/…/<noteId>"`, `~imageLink` for `src="…api/images/<noteId>/…"`,
//! `~includeNoteLink` for `<section class="include-note" data-note-id=…>`,
//! `~relationMapLink` for the notes of a relation map. Missing relations are added,
//! ones no longer in the content are deleted, and absolute server URLs in `href`/`src`
//! are made relative. (Trilium's image download and data-URL extraction are not done.)

use super::attributes::save_attribute;
use super::error::EtapiResult;
use super::graph::Graph;
use crate::db::{tree, WriteTx};
use crate::entities::{self, Attribute, BlobContent, Note};

const LINK_NAMES: [&str; 4] = ["internalLink", "imageLink", "relationMapLink", "includeNoteLink"];

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The values of every `name="…"` attribute, with their byte ranges in `html`.
fn attr_values<'a>(html: &'a str, name: &str) -> Vec<(usize, usize, &'a str)> {
    let needle = format!("{name}=\"");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = html[from..].find(&needle) {
        let start = from + pos + needle.len();
        let Some(len) = html[start..].find('"') else { break };
        out.push((start, start + len, &html[start..start + len]));
        from = start + len + 1;
    }
    out
}

/// `href="[^"]*#root[a-zA-Z0-9_/]*/(<id>)/?"`
fn internal_link_target(value: &str) -> Option<&str> {
    let rest = &value[value.rfind("#root")? + 5..];
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if !rest.chars().all(|c| is_id_char(c) || c == '/') {
        return None;
    }
    let (_, id) = rest.rsplit_once('/')?;
    (!id.is_empty()).then_some(id)
}

/// `src="[^"]*api/images/(<id>)/`
fn image_link_target(value: &str) -> Option<&str> {
    let rest = &value[value.rfind("api/images/")? + 11..];
    let end = rest.find('/')?;
    let id = &rest[..end];
    (!id.is_empty() && id.chars().all(is_id_char)).then_some(id)
}

/// Links found in text-note HTML, and the HTML with server-relative URLs.
pub fn scan_html(html: &str) -> (Vec<(&'static str, String)>, String) {
    let mut found = Vec::new();
    let mut fixed = String::with_capacity(html.len());
    let mut last = 0;
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for (start, end, v) in attr_values(html, "src") {
        if let Some(id) = image_link_target(v) {
            found.push(("imageLink", id.to_owned()));
        }
        if let Some(pos) = v.rfind("/api/images/") {
            edits.push((start, end, format!("api/images/{}", &v[pos + 12..])));
        }
    }
    for (start, end, v) in attr_values(html, "href") {
        if let Some(id) = internal_link_target(v) {
            found.push(("internalLink", id.to_owned()));
        }
        if let Some(pos) = v.rfind("#root") {
            if pos > 0 {
                edits.push((start, end, v[pos..].to_owned()));
            }
        }
    }
    let mut from = 0;
    while let Some(pos) = html[from..].find("<section class=\"include-note") {
        let start = from + pos;
        let Some(close) = html[start..].find('>') else { break };
        let tag = &html[start..start + close];
        if let Some((_, _, id)) = attr_values(tag, "data-note-id").first() {
            if !id.is_empty() && id.chars().all(is_id_char) {
                found.push(("includeNoteLink", (*id).to_owned()));
            }
        }
        from = start + close;
    }
    edits.sort_by_key(|e| e.0);
    for (start, end, replacement) in edits {
        if start < last {
            continue;
        }
        fixed.push_str(&html[last..start]);
        fixed.push_str(&replacement);
        last = end;
    }
    fixed.push_str(&html[last..]);
    (found, fixed)
}

/// Trilium's `scanForLinks` for a text or relation-map note (not protected ones).
pub fn scan_for_links(tx: &mut WriteTx<'_>, note_id: &str) -> EtapiResult<()> {
    let Some(mut note) = entities::load::<Note>(tx.conn(), note_id)? else { return Ok(()) };
    if note.is_protected || !(note.note_type == "text" || note.note_type == "relationMap") || note.blob_id.is_none() {
        return Ok(());
    }
    let content = tree::note_content(tx.conn(), note_id)?.to_text();
    let (found, fixed) = if note.note_type == "text" {
        scan_html(&content)
    } else {
        let ids = serde_json::from_str::<serde_json::Value>(&content)
            .ok()
            .and_then(|v| v.get("notes").and_then(|n| n.as_array()).cloned())
            .unwrap_or_default();
        let found = ids
            .iter()
            .filter_map(|n| n.get("noteId").and_then(|i| i.as_str()))
            .map(|id| ("relationMapLink", id.to_owned()))
            .collect();
        (found, content.clone())
    };
    let existing: Vec<Attribute> = Graph::new(tx.conn())
        .owned_attributes(note_id)?
        .into_iter()
        .filter(|a| a.attr_type == "relation" && LINK_NAMES.contains(&a.name.as_str()))
        .collect();
    let mut kept: Vec<(String, String)> = existing.iter().map(|a| (a.name.clone(), a.value.clone())).collect();
    for (name, target) in &found {
        let live = entities::load::<Note>(tx.conn(), target)?.is_some_and(|n| !n.is_deleted);
        if !live || kept.iter().any(|(n, v)| n == name && v == target) {
            continue;
        }
        save_attribute(tx, Attribute::new(note_id, "relation", name, target), None)?;
        kept.push(((*name).to_owned(), target.clone()));
    }
    for mut a in existing {
        if !found.iter().any(|(n, v)| *n == a.name && *v == a.value) {
            a.is_deleted = true;
            a.utc_date_modified = tx.utc_now();
            entities::save(tx, &a)?;
        }
    }
    if fixed != content {
        tree::set_note_content(tx, &mut note, BlobContent::Text(fixed))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_links_and_relativizes() {
        let html = r##"<a class="reference-link" href="http://x:8080/#root/abc/Target01">t</a><img src="http://x/api/images/Img0001/a.png"><section class="include-note" data-note-id="Inc0001" data-box-size="small"></section>"##;
        let (found, fixed) = scan_html(html);
        assert_eq!(
            found,
            vec![("imageLink", "Img0001".into()), ("internalLink", "Target01".into()), ("includeNoteLink", "Inc0001".into())]
        );
        assert!(fixed.contains(r##"href="#root/abc/Target01""##));
        assert!(fixed.contains(r#"src="api/images/Img0001/a.png""#));
    }
}
