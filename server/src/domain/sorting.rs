//! Children of a `#sorted` note kept in order (Trilium's `treeService.sortNotesIfNeeded`, run by its
//! event handlers when a child branch, a child's title or a sorting label changes).

use std::cmp::Ordering;

use super::DomainResult;
use crate::db::graph::Graph;
use crate::db::{tree, WriteTx};
use crate::entities::{Attribute, Note};

/// Labels on a parent that say how its children are sorted.
const SORT_LABELS: &[&str] = &["sorted", "sortDirection", "sortFoldersFirst", "sortNatural", "sortLocale"];

/// `getLabel(name)`: the first label of that name in effect on the note (owned or inherited).
fn label<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attrs.iter().find(|a| a.attr_type == "label" && a.name == name)
}

fn truthy(attrs: &[Attribute], name: &str) -> bool {
    label(attrs, name).is_some_and(|l| l.value != "false")
}

/// Re-sorts the children of `parent_note_id` when it is `#sorted` (and not `#sorted=off`): by `#top`,
/// `#bottom`, the label `#sorted` names (the title when empty), then the title (with the branch prefix);
/// `#sortFoldersFirst`, `#sortNatural`, `#sortDirection=desc` as in Trilium. Changed positions are written
/// with plain SQL plus one `note_reordering` change.
pub(super) fn sort_if_needed(tx: &mut WriteTx<'_>, parent_note_id: &str) -> DomainResult<()> {
    let mut g = Graph::new(tx.conn());
    let Some(parent) = g.note(parent_note_id)? else { return Ok(()) };
    let attrs = g.attributes(&parent.note_id)?;
    let Some(sorted) = label(&attrs, "sorted") else { return Ok(()) };
    if sorted.value == "off" {
        return Ok(());
    }
    let sort_by = if sorted.value.is_empty() { "title".to_owned() } else { sorted.value.clone() };
    let reverse = label(&attrs, "sortDirection").is_some_and(|l| l.value.to_lowercase() == "desc");
    let folders_first = truthy(&attrs, "sortFoldersFirst");
    let natural = truthy(&attrs, "sortNatural");

    struct Child {
        branch_id: String,
        note_id: String,
        position: i64,
        has_children: bool,
        top: Option<String>,
        bottom: Option<String>,
        custom: Option<String>,
        title: String,
    }
    let mut children = Vec::new();
    for b in g.child_branches(&parent.note_id)? {
        let Some(note) = g.note(&b.note_id)? else { continue };
        let note_attrs = g.attributes(&note.note_id)?;
        let title = match b.prefix.as_deref().filter(|p| !p.is_empty()) {
            Some(prefix) => format!("{prefix} - {}", note.title),
            None => note.title.clone(),
        };
        let value = |key: &str| -> Option<String> {
            match key {
                "title" => Some(title.clone()),
                "dateCreated" => Some(note.date_created.clone()),
                "dateModified" => Some(note.date_modified.clone()),
                _ => label(&note_attrs, key).map(|l| l.value.clone()),
            }
            .map(|v| v.to_lowercase())
        };
        children.push(Child {
            has_children: !g.child_branches(&note.note_id)?.is_empty(),
            top: value("top"),
            bottom: value("bottom"),
            custom: value(&sort_by),
            title: title.to_lowercase(),
            branch_id: b.branch_id,
            note_id: b.note_id,
            position: b.note_position,
        });
    }
    let compare = |a: Option<&str>, b: Option<&str>| if natural { natural_compare(a, b) } else { js_compare(a, b) };
    let flip = |o: Ordering| if reverse { o.reverse() } else { o };
    // A stable sort keeps the current order of equals, as V8's sort does with Trilium's comparator.
    children.sort_by(|a, b| {
        if folders_first && a.has_children != b.has_children {
            return if a.has_children { Ordering::Less } else { Ordering::Greater };
        }
        // `top` and `bottom` are not reversed by `#sortDirection`: undone here before the final reversal.
        if a.top != b.top {
            return flip(compare(a.top.as_deref(), b.top.as_deref()));
        }
        if a.bottom != b.bottom {
            return flip(compare(b.bottom.as_deref(), a.bottom.as_deref()));
        }
        if a.custom != b.custom {
            return compare(a.custom.as_deref(), b.custom.as_deref());
        }
        compare(Some(&a.title), Some(&b.title))
    });
    if reverse {
        children.reverse();
    }
    let mut changed = Vec::new();
    let mut position = 10;
    for c in &children {
        if c.note_id == "_hidden" {
            position = 999_999_999;
        }
        if c.position != position {
            changed.push((c.branch_id.clone(), position));
        }
        position += 10;
    }
    Ok(tree::set_child_positions(tx, &parent.note_id, &changed)?)
}

/// Trilium's alphabetical `compare` (JavaScript's `a < b` on UTF-16 code units), a missing value last.
/// (JavaScript puts `null` before number-like strings and after others, which is not an order; Canopy
/// puts it last throughout.)
fn js_compare(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.encode_utf16().cmp(b.encode_utf16()),
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
    }
}

/// `localeCompare(…, {numeric: true, sensitivity: 'base'})`, approximated: runs of digits compare by
/// value, the rest case-insensitively; a missing value last.
fn natural_compare(a: Option<&str>, b: Option<&str>) -> Ordering {
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        (None, None) => return Ordering::Equal,
        (None, _) => return Ordering::Greater,
        (_, None) => return Ordering::Less,
    };
    let chunks = |s: &str| -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            match out.last_mut() {
                Some((d, chunk)) if *d == digit => chunk.push(c),
                _ => out.push((digit, c.to_string())),
            }
        }
        out
    };
    let (ca, cb) = (chunks(a), chunks(b));
    for ((da, xa), (db, xb)) in ca.iter().zip(cb.iter()) {
        let o = if *da && *db {
            let (ta, tb) = (xa.trim_start_matches('0'), xb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
        } else {
            xa.to_lowercase().cmp(&xb.to_lowercase())
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len())
}

/// The parents to re-sort after a label on `note` changed (Trilium's `handleSortedAttribute` and
/// `handleMaybeSortingLabel`): the note itself (and with an inheritable label its subtree) for a sorting
/// label; for another label, each `#sorted` parent whose sort names it, or any for `#top`/`#bottom`.
pub(super) fn after_label_change(tx: &mut WriteTx<'_>, note: &Note, label: &Attribute) -> DomainResult<()> {
    if label.attr_type != "label" {
        return Ok(());
    }
    let mut g = Graph::new(tx.conn());
    let targets: Vec<String> = if SORT_LABELS.contains(&label.name.as_str()) {
        if label.is_inheritable {
            let mut ids: Vec<String> = g.subtree(&note.note_id)?.into_iter().collect();
            ids.sort();
            ids
        } else {
            vec![note.note_id.clone()]
        }
    } else {
        let mut ids = Vec::new();
        for parent in g.parent_ids(&note.note_id)? {
            let attrs = g.attributes(&parent)?;
            if let Some(sorted) = self::label(&attrs, "sorted") {
                if sorted.value.contains(&label.name) || label.name == "top" || label.name == "bottom" {
                    ids.push(parent);
                }
            }
        }
        ids
    };
    for id in targets {
        sort_if_needed(tx, &id)?;
    }
    Ok(())
}
