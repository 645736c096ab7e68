//! Link relations kept in step with a note's content, as Trilium's `saveLinks` does when a note is
//! saved or its content replaced: `~internalLink` for `href="…#root/…/<noteId>"`, `~imageLink` for
//! `src="…api/images/<noteId>/…"`, `~includeNoteLink` for `<section class="include-note"
//! data-note-id=…>`, `~relationMapLink` for the notes of a relation map. Missing relations are added,
//! ones no longer in the content are deleted, absolute server URLs in `href`/`src` are made relative,
//! and the note's image attachments that the HTML no longer shows are scheduled for erasure (and
//! unscheduled when they are shown again). Inline `data:image` pictures become image attachments.
//! (Trilium's download of images from URLs and copying of another note's attachments are not done.)

use super::attributes;
use super::DomainResult;
use crate::db::{attachments, graph::Graph, tree, WriteTx};
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

/// The id after `marker` up to the next `/` (`src="[^"]*api/images/(<id>)/`).
fn id_after<'a>(value: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &value[value.rfind(marker)? + marker.len()..];
    let end = rest.find('/')?;
    let id = &rest[..end];
    (!id.is_empty() && id.chars().all(is_id_char)).then_some(id)
}

/// What [`scan_html`] finds in a text note's HTML.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScannedHtml {
    /// `(relation name, target note id)` in document order per kind.
    pub links: Vec<(&'static str, String)>,
    /// Attachment ids the HTML shows (`api/attachments/<id>/image`) or links (`attachmentId=<id>`).
    pub attachment_ids: Vec<String>,
    /// The HTML with server-relative URLs.
    pub html: String,
}

/// Links and attachment references found in text-note HTML, and the HTML with server-relative URLs.
pub fn scan_html(html: &str) -> ScannedHtml {
    let mut links = Vec::new();
    let mut attachment_ids = Vec::new();
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for (start, end, v) in attr_values(html, "src") {
        if let Some(id) = id_after(v, "api/images/") {
            links.push(("imageLink", id.to_owned()));
        }
        if let Some(pos) = v.rfind("api/attachments/") {
            let rest = &v[pos + 16..];
            let id: String = rest.chars().take_while(|c| is_id_char(*c)).collect();
            if !id.is_empty() && rest[id.len()..].starts_with("/image") {
                attachment_ids.push(id);
            }
        }
        for marker in ["/api/images/", "/api/attachments/"] {
            if let Some(pos) = v.rfind(marker) {
                edits.push((start, end, format!("{}{}", &marker[1..], &v[pos + marker.len()..])));
            }
        }
    }
    for (start, end, v) in attr_values(html, "href") {
        if let Some(id) = internal_link_target(v) {
            links.push(("internalLink", id.to_owned()));
        }
        if let Some(pos) = v.rfind("attachmentId=") {
            let id: String = v[pos + 13..].chars().take_while(|c| is_id_char(*c)).collect();
            if !id.is_empty() {
                attachment_ids.push(id);
            }
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
                links.push(("includeNoteLink", (*id).to_owned()));
            }
        }
        from = start + close;
    }
    edits.sort_by_key(|e| e.0);
    let mut fixed = String::with_capacity(html.len());
    let mut last = 0;
    for (start, end, replacement) in edits {
        if start < last {
            continue;
        }
        fixed.push_str(&html[last..start]);
        fixed.push_str(&replacement);
        last = end;
    }
    fixed.push_str(&html[last..]);
    ScannedHtml { links, attachment_ids, html: fixed }
}

/// Trilium's `saveLinks` for content about to be stored in `note` (a text or relation-map note, and a
/// protected one only in a protected session, i.e. with the key on the transaction; other notes are
/// left alone): relations and attachments brought in step; returns the
/// content to store.
pub fn save_links(tx: &mut WriteTx<'_>, note: &Note, content: BlobContent) -> DomainResult<BlobContent> {
    if (note.is_protected && tx.key().is_none()) || !(note.note_type == "text" || note.note_type == "relationMap") {
        return Ok(content);
    }
    let text = content.to_text();
    let (found, fixed) = if note.note_type == "text" {
        let inlined = extract_inline_images(tx, &note.note_id, &text)?;
        let scanned = scan_html(inlined.as_deref().unwrap_or(&text));
        schedule_unused_attachments(tx, &note.note_id, &scanned.attachment_ids)?;
        (scanned.links, scanned.html)
    } else {
        let ids = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("notes").and_then(|n| n.as_array()).cloned())
            .unwrap_or_default();
        let found = ids
            .iter()
            .filter_map(|n| n.get("noteId").and_then(|i| i.as_str()))
            .map(|id| ("relationMapLink", id.to_owned()))
            .collect();
        (found, text.clone())
    };
    let existing: Vec<Attribute> = Graph::new(tx.conn())
        .owned_attributes(&note.note_id)?
        .into_iter()
        .filter(|a| a.attr_type == "relation" && LINK_NAMES.contains(&a.name.as_str()))
        .collect();
    let mut kept: Vec<(String, String)> = existing.iter().map(|a| (a.name.clone(), a.value.clone())).collect();
    for (name, target) in &found {
        let live = entities::load::<Note>(tx.conn(), target)?.is_some_and(|n| !n.is_deleted);
        if !live || kept.iter().any(|(n, v)| n == name && v == target) {
            continue;
        }
        attributes::save(tx, Attribute::new(&note.note_id, "relation", name, target), None)?;
        kept.push(((*name).to_owned(), target.clone()));
    }
    for mut a in existing {
        if !found.iter().any(|(n, v)| *n == a.name && *v == a.value) {
            a.is_deleted = true;
            a.utc_date_modified = tx.utc_now();
            entities::save(tx, &a)?;
        }
    }
    Ok(if fixed == text { content } else { BlobContent::Text(fixed) })
}

/// `downloadImages`, its inline part: every `<img src="data:image/…;base64,…">` becomes an image
/// attachment of the note (titled "inline image" with the format's extension, as Trilium names it) and
/// the `src` points at it. Trilium also re-encodes the image (`compressImages`); Canopy keeps the bytes
/// as they came. Returns the new HTML when anything changed.
fn extract_inline_images(tx: &mut WriteTx<'_>, note_id: &str, html: &str) -> DomainResult<Option<String>> {
    use base64::Engine as _;
    if !html.contains("data:image/") {
        return Ok(None);
    }
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut changed = false;
    while let Some(pos) = rest.find("<img") {
        let (before, tag_start) = rest.split_at(pos);
        out.push_str(before);
        let tag_end = tag_start.find('>').map_or(tag_start.len(), |e| e + 1);
        let tag = &tag_start[..tag_end];
        let replaced = tag
            .find("src=\"data:image/")
            .or_else(|| tag.find("src='data:image/"))
            .and_then(|src| {
                let quote = tag.as_bytes()[src + 4] as char;
                let value_start = src + 5;
                let value_len = tag[value_start..].find(quote)?;
                let url = &tag[value_start..value_start + value_len];
                let (header, data) = url.split_once(";base64,")?;
                let format = header.strip_prefix("data:image/")?;
                if format.is_empty() || !format.chars().all(|c| c.is_ascii_lowercase()) {
                    return None;
                }
                let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).ok()?;
                Some((src, value_start + value_len + 1, format.to_owned(), bytes))
            });
        match replaced {
            Some((src, after_value, format, bytes)) => {
                let ext = if format == "jpeg" { "jpg".to_owned() } else { format.clone() };
                let title = format!("inline image.{ext}");
                let att = attachments::create_attachment(
                    tx,
                    attachments::NewAttachment {
                        attachment_id: None,
                        owner_id: note_id.to_owned(),
                        role: "image".into(),
                        mime: format!("image/{format}"),
                        title: title.clone(),
                        content: BlobContent::Binary(bytes),
                        position: None,
                    },
                )?;
                out.push_str(&tag[..src]);
                out.push_str(&format!("src=\"api/attachments/{}/image/{}\"", att.attachment_id, title.replace(' ', "%20")));
                out.push_str(&tag[after_value..]);
                changed = true;
            }
            None => out.push_str(tag),
        }
        rest = &tag_start[tag_end..];
    }
    out.push_str(rest);
    Ok(changed.then_some(out))
}

/// `checkImageAttachments`: an attachment of the note the HTML does not reference is scheduled for
/// erasure; one it references again is unscheduled.
fn schedule_unused_attachments(tx: &mut WriteTx<'_>, note_id: &str, referenced: &[String]) -> DomainResult<()> {
    for mut att in attachments::list(tx.conn(), note_id)? {
        let shown = referenced.contains(&att.attachment_id);
        let scheduled = att.utc_date_scheduled_for_erasure_since.is_some();
        if shown == scheduled {
            att.utc_date_scheduled_for_erasure_since = if shown { None } else { Some(tx.utc_now()) };
            att.date_modified = tx.local_now();
            att.utc_date_modified = tx.utc_now();
            crate::db::protected::save_attachment_row(tx, &att)?;
        }
    }
    Ok(())
}

/// Trilium's `scanForLinks` after a note's content was stored: [`save_links`] on the stored content,
/// which is stored again only if that changed it.
pub fn scan_for_links(tx: &mut WriteTx<'_>, note_id: &str) -> DomainResult<()> {
    let Some(mut note) = entities::load::<Note>(tx.conn(), note_id)? else { return Ok(()) };
    if note.blob_id.is_none() || (note.is_protected && tx.key().is_none()) {
        return Ok(());
    }
    let content = super::protected::content_of(tx.conn(), &note, tx.key())?;
    let fixed = save_links(tx, &note, content.clone())?;
    if fixed != content {
        tree::set_note_content(tx, &mut note, fixed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_links_and_relativizes() {
        let html = r##"<a class="reference-link" href="http://x:8080/#root/abc/Target01">t</a><img src="http://x/api/images/Img0001/a.png"><section class="include-note" data-note-id="Inc0001" data-box-size="small"></section><img src="http://x/api/attachments/Att0001/image/p.png"><a href="#root/abc?viewMode=attachments&amp;attachmentId=Att0002">f</a>"##;
        let scanned = scan_html(html);
        assert_eq!(
            scanned.links,
            vec![("imageLink", "Img0001".into()), ("internalLink", "Target01".into()), ("includeNoteLink", "Inc0001".into())]
        );
        assert_eq!(scanned.attachment_ids, vec!["Att0001".to_string(), "Att0002".to_string()]);
        assert!(scanned.html.contains(r##"href="#root/abc/Target01""##));
        assert!(scanned.html.contains(r#"src="api/images/Img0001/a.png""#));
        assert!(scanned.html.contains(r#"src="api/attachments/Att0001/image/p.png""#));
    }
}
