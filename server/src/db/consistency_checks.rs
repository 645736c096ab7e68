//! Trilium 0.63.7's consistency checks (`consistency_checks.js`), with automatic fixes.
//!
//! Every fix goes through the write path, so it syncs, and is deterministic as the tree rule's
//! ([`super::tree_rule`]): each repaired row's date derives from the rows involved (1 ms after them),
//! deleteIds are fixed words, so instances that fix the same damage on their own converge. Where
//! Trilium deletes a branch and puts its note under `root`, the tree rule puts the note back where
//! it was when it can.
use std::collections::BTreeMap;

use rusqlite::{params, Connection};

use super::schema::SYNCED_TABLES;
use super::tree_rule::{self, delete_attribute, one_ms_after, one_ms_before, TreeScope};
use super::{blob_users, consistency, deletion, entity_changes, options, protected, SqlResult, WriteTx};
use crate::entities::{self, Attachment, Attribute, Blob, BlobContent, Branch, Note, NOTE_TYPES};

/// Trilium's date for an empty blob made up for a note whose content is missing: older than any
/// real content, so the real one wins when it arrives.
const MADE_UP_BLOB_DATE: &str = "2000-01-01 00:00:00.000Z";

/// Runs every check and fix in one transaction; logs and returns what was fixed.
pub fn run_all(tx: &mut WriteTx<'_>) -> SqlResult<Vec<String>> {
    let mut fixed = fix_entity_changes(tx)?;
    fixed.extend(broken_references(tx)?);
    fixed.extend(duplicate_branches(tx)?);
    fixed.extend(children_of_search_notes(tx)?);
    fixed.extend(tree_cycles(tx)?);
    // The tree rule logs its own repairs.
    let tree_repairs: Vec<String> =
        tree_rule::keep_whole(tx, TreeScope::All)?.into_iter().map(|r| format!("note {}: {}", r.note_id, r.what)).collect();
    fixed.extend(parts_of_deleted_notes(tx)?);
    fixed.extend(logic_issues(tx)?);
    fixed.extend(attribute_names(tx)?);
    fixed.extend(sync_cursor(tx)?);
    // The root branch is always expanded (not synced, not hashed). Asked first: on the read-only
    // snapshot of `Document::write_if_needed`, even an update of no row would be refused.
    if tx.conn().query_row("SELECT EXISTS (SELECT 1 FROM branches WHERE noteId = 'root' AND isExpanded = 0)", [], |r| r.get(0))? {
        tx.conn().execute("UPDATE branches SET isExpanded = 1 WHERE noteId = 'root' AND isExpanded = 0", [])?;
    }
    for fix in &fixed {
        tracing::warn!("consistency issue fixed: {fix}");
    }
    fixed.extend(tree_repairs);
    Ok(fixed)
}

fn column(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> SqlResult<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let v = stmt.query_map(p, |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(v)
}

/// `runEntityChangeChecks` for every synced table: a row without a change gets one (its own hash and
/// date, so it equals what a peer holds), a live change without its row is dropped, and a row whose
/// change says it was erased is erased.
pub fn fix_entity_changes(tx: &mut WriteTx<'_>) -> SqlResult<Vec<String>> {
    let mut fixed = Vec::new();
    for (table, pk) in SYNCED_TABLES {
        let orphans = column(
            tx.conn(),
            &format!(
                "SELECT entityId FROM entity_changes WHERE entityName = '{table}' AND isErased = 0
                   AND entityId NOT IN (SELECT {pk} FROM {table}) ORDER BY entityId"
            ),
            [],
        )?;
        for id in orphans {
            tx.conn().execute("DELETE FROM entity_changes WHERE entityName = ?1 AND entityId = ?2", [table, &id.as_str()])?;
            fixed.push(format!("dropped the change of missing {table} {id}"));
        }
        let missing = column(
            tx.conn(),
            &format!(
                "SELECT {pk} FROM {table} WHERE {pk} NOT IN (SELECT entityId FROM entity_changes WHERE entityName = '{table}')
                 ORDER BY {pk}"
            ),
            [],
        )?;
        for id in missing {
            let Some((hash, utc_date_changed)) = consistency::recompute_change(tx.conn(), table, &id)? else { continue };
            let is_synced = *table != "options"
                || tx.conn().query_row("SELECT isSynced FROM options WHERE name = ?1", [&id], |r| r.get::<_, i64>(0))? != 0;
            entity_changes::put(
                tx,
                entity_changes::NewChange { entity_name: table, entity_id: &id, hash, is_erased: false, is_synced, utc_date_changed },
            )?;
            fixed.push(format!("added the missing change of {table} {id}"));
        }
        let erased = column(
            tx.conn(),
            &format!(
                "SELECT {pk} FROM {table} WHERE {pk} IN (SELECT entityId FROM entity_changes WHERE entityName = '{table}' AND isErased = 1)
                 ORDER BY {pk}"
            ),
            [],
        )?;
        for id in erased {
            tx.conn().execute(&format!("DELETE FROM {table} WHERE {pk} = ?1"), [&id])?;
            fixed.push(format!("erased {table} {id}, which its change says was erased"));
        }
    }
    Ok(fixed)
}

/// Deletes an attachment as [`delete_attribute`] does an attribute; `false` if it is protected and no
/// protected session is open (its hash needs the decrypted title).
fn delete_attachment(tx: &mut WriteTx<'_>, mut attachment: Attachment, cause: Option<&Note>) -> SqlResult<bool> {
    if attachment.is_protected && tx.key().is_none() {
        return Ok(false);
    }
    let date = match cause {
        Some(note) if note.utc_date_modified > attachment.utc_date_modified => note.utc_date_modified.clone(),
        _ => attachment.utc_date_modified.clone(),
    };
    attachment.is_deleted = true;
    attachment.delete_id = cause.and_then(|n| n.delete_id.clone());
    attachment.utc_date_modified = one_ms_after(&date);
    protected::save_attachment_row(tx, &attachment)?;
    Ok(true)
}

/// Deletes a branch with a fixed deleteId (Trilium's words), 1 ms after its last change.
fn delete_branch(tx: &mut WriteTx<'_>, mut branch: Branch, delete_id: Option<&str>) -> SqlResult<()> {
    branch.is_deleted = true;
    branch.delete_id = delete_id.map(str::to_owned);
    branch.utc_date_modified = one_ms_after(&branch.utc_date_modified);
    entities::save(tx, &branch)?;
    Ok(())
}

/// `findBrokenReferenceIssues` beyond branches (the tree rule handles those): attributes of missing
/// notes, relations to missing (or empty) targets, attachments of missing notes and revisions.
fn broken_references(tx: &mut WriteTx<'_>) -> SqlResult<Vec<String>> {
    let mut fixed = Vec::new();
    let ownerless: Vec<Attribute> = entities::load_where(
        tx.conn(),
        "isDeleted = 0 AND noteId NOT IN (SELECT noteId FROM notes) ORDER BY attributeId",
        [],
    )?;
    for attribute in ownerless {
        fixed.push(format!("attribute {} was deleted: its note {} is missing", attribute.attribute_id, attribute.note_id));
        delete_attribute(tx, attribute, None)?;
    }
    let targetless: Vec<Attribute> = entities::load_where(
        tx.conn(),
        "isDeleted = 0 AND type = 'relation' AND value NOT IN (SELECT noteId FROM notes) ORDER BY attributeId",
        [],
    )?;
    for relation in targetless {
        fixed.push(format!("relation {} was deleted: its target '{}' is missing", relation.attribute_id, relation.value));
        delete_attribute(tx, relation, None)?;
    }
    let orphaned: Vec<Attachment> = entities::load_where(
        tx.conn(),
        "isDeleted = 0 AND ownerId NOT IN (SELECT noteId FROM notes UNION ALL SELECT revisionId FROM revisions)
         ORDER BY attachmentId",
        [],
    )?;
    for attachment in orphaned {
        let what = format!("attachment {} of missing {}", attachment.attachment_id, attachment.owner_id);
        if delete_attachment(tx, attachment, None)? {
            fixed.push(format!("{what} was deleted"));
        }
    }
    Ok(fixed)
}

/// One live branch per parent and note: the oldest stays.
fn duplicate_branches(tx: &mut WriteTx<'_>) -> SqlResult<Vec<String>> {
    let mut fixed = Vec::new();
    let pairs: Vec<(String, String)> = {
        let mut stmt = tx.conn().prepare(
            "SELECT noteId, parentNoteId FROM branches WHERE isDeleted = 0
             GROUP BY parentNoteId, noteId HAVING COUNT(1) > 1 ORDER BY parentNoteId, noteId",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        rows
    };
    for (note_id, parent_note_id) in pairs {
        let branches: Vec<Branch> = entities::load_where(
            tx.conn(),
            "noteId = ?1 AND parentNoteId = ?2 AND isDeleted = 0 ORDER BY utcDateModified, branchId",
            params![note_id, parent_note_id],
        )?;
        let kept = branches[0].branch_id.clone();
        for branch in branches.into_iter().skip(1) {
            fixed.push(format!("branch {} was deleted: it duplicates branch {kept}", branch.branch_id));
            delete_branch(tx, branch, None)?;
        }
    }
    Ok(fixed)
}

/// A search note has no children: their branches go (the tree rule then finds each note a place).
fn children_of_search_notes(tx: &mut WriteTx<'_>) -> SqlResult<Vec<String>> {
    let branches: Vec<Branch> = entities::load_where(
        tx.conn(),
        "isDeleted = 0 AND parentNoteId IN (SELECT noteId FROM notes WHERE isDeleted = 0 AND type = 'search')
         ORDER BY branchId",
        [],
    )?;
    let mut fixed = Vec::new();
    for branch in branches {
        fixed.push(format!("branch {} was deleted: its parent {} is a search note", branch.branch_id, branch.parent_note_id));
        delete_branch(tx, branch, Some("parent-is-search"))?;
    }
    Ok(fixed)
}

/// `checkTreeCycles`: a live branch that makes a note its own ancestor is deleted. The walk goes
/// through notes and parents in id order, so every instance cuts the same branch.
fn tree_cycles(tx: &mut WriteTx<'_>) -> SqlResult<Vec<String>> {
    let mut parents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    {
        let mut stmt =
            tx.conn().prepare("SELECT noteId, parentNoteId FROM branches WHERE isDeleted = 0 ORDER BY noteId, parentNoteId")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (note_id, parent_note_id) = row?;
            parents.entry(note_id).or_default().push(parent_note_id);
        }
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Visit {
        OnPath,
        Done,
    }
    let mut state: BTreeMap<&str, Visit> = BTreeMap::new();
    let mut cuts: Vec<(String, String)> = Vec::new();
    let no_parents = Vec::new();
    for start in parents.keys() {
        if state.contains_key(start.as_str()) {
            continue;
        }
        // Depth-first up the parents, iteratively (trees can be deep): (note, next parent index).
        let mut path: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        state.insert(start.as_str(), Visit::OnPath);
        while let Some((note, next)) = path.last_mut() {
            let note_parents = parents.get(*note).unwrap_or(&no_parents);
            if *next == note_parents.len() {
                state.insert(note, Visit::Done);
                path.pop();
                continue;
            }
            let parent = note_parents[*next].as_str();
            *next += 1;
            let note = *note;
            match state.get(parent) {
                Some(Visit::OnPath) => cuts.push((note.to_owned(), parent.to_owned())),
                Some(Visit::Done) => {}
                None => {
                    state.insert(parent, Visit::OnPath);
                    path.push((parent, 0));
                }
            }
        }
    }
    let mut fixed = Vec::new();
    for (note_id, parent_note_id) in cuts {
        let branches: Vec<Branch> = entities::load_where(
            tx.conn(),
            "noteId = ?1 AND parentNoteId = ?2 AND isDeleted = 0 ORDER BY branchId",
            params![note_id, parent_note_id],
        )?;
        for branch in branches {
            fixed.push(format!("branch {} was deleted: it made a cycle in the tree", branch.branch_id));
            delete_branch(tx, branch, Some("cycle-autofix"))?;
        }
    }
    Ok(fixed)
}

/// What a deleted note leaves live: its attachments and attributes, and relations pointing at it.
fn parts_of_deleted_notes(tx: &mut WriteTx<'_>) -> SqlResult<Vec<String>> {
    let mut fixed = Vec::new();
    let attachments: Vec<Attachment> = entities::load_where(
        tx.conn(),
        "isDeleted = 0 AND ownerId IN (SELECT noteId FROM notes WHERE isDeleted = 1) ORDER BY attachmentId",
        [],
    )?;
    for attachment in attachments {
        let owner: Note = entities::get(tx.conn(), &attachment.owner_id)?;
        let what = format!("attachment {} of deleted note {}", attachment.attachment_id, owner.note_id);
        if delete_attachment(tx, attachment, Some(&owner))? {
            fixed.push(format!("{what} was deleted"));
        }
    }
    let owned: Vec<Attribute> = entities::load_where(
        tx.conn(),
        "isDeleted = 0 AND noteId IN (SELECT noteId FROM notes WHERE isDeleted = 1) ORDER BY attributeId",
        [],
    )?;
    for attribute in owned {
        let owner: Note = entities::get(tx.conn(), &attribute.note_id)?;
        fixed.push(format!("attribute {} of deleted note {} was deleted", attribute.attribute_id, owner.note_id));
        delete_attribute(tx, attribute, Some(&owner))?;
    }
    let targeting: Vec<Attribute> = entities::load_where(
        tx.conn(),
        "isDeleted = 0 AND type = 'relation' AND value IN (SELECT noteId FROM notes WHERE isDeleted = 1) ORDER BY attributeId",
        [],
    )?;
    for relation in targeting {
        let target: Note = entities::get(tx.conn(), &relation.value)?;
        fixed.push(format!("relation {} to deleted note {} was deleted", relation.attribute_id, target.note_id));
        delete_attribute(tx, relation, Some(&target))?;
    }
    Ok(fixed)
}

/// `findLogicIssues`: unknown note types, notes without content, revisions and attachments whose
/// blob is missing, attributes of unknown types.
fn logic_issues(tx: &mut WriteTx<'_>) -> SqlResult<Vec<String>> {
    let mut fixed = Vec::new();
    let known = NOTE_TYPES.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
    let unknown: Vec<Note> = entities::load_where(tx.conn(), &format!("isDeleted = 0 AND type NOT IN ({known}) ORDER BY noteId"), [])?;
    for mut note in unknown {
        if note.is_protected && tx.key().is_none() {
            continue;
        }
        fixed.push(format!("note {} had the unknown type '{}'; it is a file now", note.note_id, note.note_type));
        note.note_type = "file".into();
        note.utc_date_modified = one_ms_after(&note.utc_date_modified);
        protected::save_note_row(tx, &note)?;
    }
    // Trilium skips the NULL-content query on big documents: it reads every blob. SQLite answers
    // `IS NULL` from the record header, without reading the content.
    let without_content: Vec<Note> = entities::load_where(
        tx.conn(),
        "isDeleted = 0 AND (blobId IS NULL OR blobId NOT IN (SELECT blobId FROM blobs)
             OR (isProtected = 0 AND blobId IN (SELECT blobId FROM blobs WHERE content IS NULL)))
         ORDER BY noteId",
        [],
    )?;
    for note in without_content {
        if note.is_protected {
            continue; // Trilium cannot make valid empty content for it without the password either
        }
        fixed.push(format!("note {} had no content (blob {:?}); it is empty now", note.note_id, note.blob_id));
        give_empty_content(tx, note)?;
    }
    let revisions = column(
        tx.conn(),
        "SELECT revisionId FROM revisions WHERE blobId IS NULL OR blobId NOT IN (SELECT blobId FROM blobs) ORDER BY revisionId",
        [],
    )?;
    for id in &revisions {
        fixed.push(format!("revision {id} was erased: its content is missing"));
    }
    deletion::erase_revisions(tx, &revisions)?;
    let attachments = column(
        tx.conn(),
        "SELECT attachmentId FROM attachments WHERE blobId IS NULL OR blobId NOT IN (SELECT blobId FROM blobs)
         ORDER BY attachmentId",
        [],
    )?;
    for id in &attachments {
        fixed.push(format!("attachment {id} was erased: its content is missing"));
    }
    deletion::erase_attachments(tx, &attachments)?;
    let mistyped: Vec<Attribute> =
        entities::load_where(tx.conn(), "isDeleted = 0 AND type NOT IN ('label', 'relation') ORDER BY attributeId", [])?;
    for mut attribute in mistyped {
        fixed.push(format!("attribute {} had the type '{}'; it is a label now", attribute.attribute_id, attribute.attr_type));
        attribute.attr_type = "label".into();
        attribute.utc_date_modified = one_ms_after(&attribute.utc_date_modified);
        entities::save(tx, &attribute)?;
    }
    Ok(fixed)
}

/// Points the note at an empty blob (`{}` for JSON). The note's date goes 1 ms back, so that the real
/// version of the note, wherever it is, wins over this stand-in (and brings its content along).
fn give_empty_content(tx: &mut WriteTx<'_>, mut note: Note) -> SqlResult<()> {
    let content = if note.mime == "application/json" { "{}" } else { "" };
    let blob_id = Blob::id_for(content.as_bytes(), false);
    if entities::load::<Blob>(tx.conn(), &blob_id)?.is_some() {
        blob_users::reannounce_if_unused(tx, &blob_id)?;
    } else {
        let blob = Blob {
            blob_id: blob_id.clone(),
            content: BlobContent::Text(content.into()),
            date_modified: MADE_UP_BLOB_DATE.into(),
            utc_date_modified: MADE_UP_BLOB_DATE.into(),
        };
        entities::save(tx, &blob)?;
    }
    note.blob_id = Some(blob_id);
    note.utc_date_modified = one_ms_before(&note.utc_date_modified);
    protected::save_note_row(tx, &note)?;
    Ok(())
}

/// `sanitizeAttributeName`: anything but letters, digits, `_` and `:` becomes `_`; empty is `unnamed`.
pub fn sanitized_attribute_name(name: &str) -> String {
    if name.is_empty() {
        return "unnamed".into();
    }
    name.chars().map(|c| if c.is_alphanumeric() || c == '_' || c == ':' { c } else { '_' }).collect()
}

/// `findWronglyNamedAttributes`: renamed in place (Trilium does the same, with plain SQL; here each
/// renamed attribute is saved so the name syncs).
fn attribute_names(tx: &mut WriteTx<'_>) -> SqlResult<Vec<String>> {
    let names = column(tx.conn(), "SELECT DISTINCT name FROM attributes ORDER BY name", [])?;
    let mut fixed = Vec::new();
    for name in names {
        let sanitized = sanitized_attribute_name(&name);
        if sanitized == name {
            continue;
        }
        let attributes: Vec<Attribute> = entities::load_where(tx.conn(), "name = ?1 ORDER BY attributeId", [&name])?;
        for mut attribute in attributes {
            fixed.push(format!("attribute {} was renamed from '{name}' to '{sanitized}'", attribute.attribute_id));
            attribute.name = sanitized.clone();
            attribute.utc_date_modified = one_ms_after(&attribute.utc_date_modified);
            entities::save(tx, &attribute)?;
        }
    }
    Ok(fixed)
}

/// `findSyncIssues`: the push cursor never points past the newest change (or nothing would be pushed).
fn sync_cursor(tx: &mut WriteTx<'_>) -> SqlResult<Vec<String>> {
    let Some(last_synced_push) = options::get_int(tx.conn(), "lastSyncedPush")? else { return Ok(Vec::new()) };
    let newest = entity_changes::max_id(tx.conn())?;
    if last_synced_push <= newest {
        return Ok(Vec::new());
    }
    // The cursor is not synced: plain SQL, as the sync client moves it.
    tx.conn().execute("UPDATE options SET value = ?1 WHERE name = 'lastSyncedPush'", [newest.to_string()])?;
    Ok(vec![format!("lastSyncedPush was {last_synced_push}, past the newest change {newest}; it is {newest} now")])
}
