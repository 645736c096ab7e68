//! Trilium's reaction to a new `~template` relation (`handlers.js`, on `ENTITY_CREATED` of an
//! attribute): an empty text or code note takes the template's content, type and mime, and a note
//! without children gets a copy of the template's children (`duplicateSubtreeWithoutRoot`).
use std::collections::HashMap;

use super::DomainResult;
use crate::db::{tree, WriteTx};
use crate::entities::{self, Attribute, BlobContent, Branch, Note};

/// Types whose content is a string (`utils.isStringNote`, by type; by mime `text/*` too).
fn is_string_note(note: &Note) -> bool {
    matches!(
        note.note_type.as_str(),
        "text" | "code" | "relationMap" | "search" | "render" | "book" | "mermaid" | "canvas"
    ) || note.mime.starts_with("text/")
        || note.mime == "application/javascript"
        || note.mime == "application/json"
}

/// Applies template `template_id` to `note_id`, as a newly created `~template` relation does.
pub(crate) fn apply(tx: &mut WriteTx<'_>, note_id: &str, template_id: &str) -> DomainResult<()> {
    let Some(mut note) = entities::load::<Note>(tx.conn(), note_id)? else { return Ok(()) };
    let Some(template) = entities::load::<Note>(tx.conn(), template_id)? else { return Ok(()) };
    // Their content is ciphertext here; Trilium decrypts it in a protected session. Canopy leaves
    // protected notes alone rather than copy ciphertext.
    if note.is_protected || template.is_protected {
        return Ok(());
    }
    let empty = tree::note_content(tx.conn(), note_id).map_or(true, |c| c.to_text().trim().is_empty());
    if matches!(note.note_type.as_str(), "text" | "code") && empty && is_string_note(&template) {
        let content = tree::note_content(tx.conn(), template_id).map(|c| c.to_text()).unwrap_or_default();
        if !content.is_empty() {
            tree::set_note_content(tx, &mut note, BlobContent::Text(content))?;
        }
        note.note_type = template.note_type.clone();
        note.mime = template.mime.clone();
        tree::save_note(tx, &mut note)?;
    }
    // Only into a note without children (a second template relation must not copy twice), and never
    // a template into its own subtree.
    if tree::child_branches(tx.conn(), note_id)?.is_empty() && !tree::is_ancestor(tx.conn(), template_id, note_id)? {
        // New ids for the whole subtree first: relations and links inside it point at the copies.
        // (Trilium maps the template itself to a fresh id no note gets; Canopy maps it to the note
        // that takes the template, so a link to the template's root stays a working link.)
        let mut mapping = HashMap::new();
        let mut stack = vec![template_id.to_owned()];
        while let Some(id) = stack.pop() {
            if mapping.contains_key(&id) {
                continue;
            }
            for b in tree::child_branches(tx.conn(), &id)? {
                stack.push(b.note_id);
            }
            let new_id = if id == template_id { note_id.to_owned() } else { crate::hashing::new_entity_id() };
            mapping.insert(id, new_id);
        }
        for branch in tree::child_branches(tx.conn(), template_id)? {
            duplicate(tx, &branch, note_id, &mapping)?;
        }
    }
    Ok(())
}

/// `duplicateSubtreeInner`: the note of `original` copied (with its owned attributes and children)
/// under `new_parent`, or only a new branch when the copy exists already (the original is a clone).
fn duplicate(tx: &mut WriteTx<'_>, original: &Branch, new_parent: &str, mapping: &HashMap<String, String>) -> DomainResult<()> {
    let Some(orig) = entities::load::<Note>(tx.conn(), &original.note_id)? else { return Ok(()) };
    let new_id = mapping[&orig.note_id].clone();
    if entities::load::<Note>(tx.conn(), &new_id)?.is_some() {
        tree::clone_to_parent(tx, &new_id, new_parent, None)?;
        return Ok(());
    }
    if orig.is_protected {
        return Ok(()); // see `apply`
    }
    let mut content = tree::note_content(tx.conn(), &orig.note_id).unwrap_or(BlobContent::Text(String::new()));
    if matches!(orig.note_type.as_str(), "text" | "relationMap" | "search") {
        let mut text = content.to_text();
        for (from, to) in mapping {
            text = text.replace(from.as_str(), to);
        }
        content = BlobContent::Text(text);
    }
    tree::create_note(
        tx,
        tree::NewNote {
            parent_note_id: new_parent.to_owned(),
            title: orig.title.clone(),
            content,
            note_type: orig.note_type.clone(),
            mime: Some(orig.mime.clone()),
            note_id: Some(new_id.clone()),
            prefix: None,
            // Trilium: right after the original's position.
            note_position: Some(original.note_position + 1),
        },
    )?;
    for a in tree::owned_attributes(tx.conn(), &orig.note_id)? {
        let value = if a.attr_type == "relation" { mapping.get(&a.value).cloned().unwrap_or(a.value.clone()) } else { a.value.clone() };
        let mut copy = Attribute::new(&new_id, &a.attr_type, &a.name, &value);
        copy.is_inheritable = a.is_inheritable;
        copy.position = a.position;
        copy.utc_date_modified = tx.utc_now();
        // Saved as is: a relation may point at a copy not made yet (Trilium skips validation too).
        entities::save(tx, &copy)?;
    }
    for child in tree::child_branches(tx.conn(), &orig.note_id)? {
        duplicate(tx, &child, &new_id, mapping)?;
    }
    Ok(())
}
