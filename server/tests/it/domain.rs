//! The domain layer on real documents: Trilium's rules for moves, clones, deletes, saves and
//! attributes, and after every write the document's entity changes and sector hashes exact.

use chrono::{DateTime, Duration, Utc};
use tempfile::TempDir;

use canopy::db::{consistency, entity_changes, revisions, ChangeSource, Document, WriteTx};
use canopy::domain::attributes::{self, AttributeKind, NewAttribute};
use canopy::domain::branches::{self, MoveTo};
use canopy::domain::notes::{self, CreateNote, Position};
use canopy::domain::{attachments, DomainError, DomainResult};
use canopy::entities::{self, Attachment, Attribute, BlobContent, Branch, Note};

use crate::common::*;

struct Doc {
    _dir: TempDir,
    doc: Document,
}

fn new_doc() -> Doc {
    let dir = tempfile::tempdir().unwrap();
    let doc = new_document(dir.path());
    Doc { _dir: dir, doc }
}

fn fixture_doc() -> Doc {
    let dir = tempfile::tempdir().unwrap();
    let doc = Document::open_existing(&copy_fixture(dir.path())).unwrap();
    Doc { _dir: dir, doc }
}

impl Doc {
    fn write<T>(&self, f: impl FnOnce(&mut WriteTx<'_>) -> DomainResult<T>) -> DomainResult<T> {
        self.doc.write_with(&source(), f)
    }

    fn write_at<T>(&self, now: DateTime<Utc>, f: impl FnOnce(&mut WriteTx<'_>) -> DomainResult<T>) -> DomainResult<T> {
        self.doc.write_at_with(&source(), Some(now), f)
    }

    fn read<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> DomainResult<T>) -> T {
        self.doc.read_with(f).unwrap()
    }

    fn note(&self, id: &str) -> Note {
        self.read(|c| Ok(entities::get::<Note>(c, id)?))
    }

    fn branch(&self, id: &str) -> Branch {
        self.read(|c| Ok(entities::get::<Branch>(c, id)?))
    }

    fn attribute(&self, id: &str) -> Attribute {
        self.read(|c| Ok(entities::get::<Attribute>(c, id)?))
    }

    /// Live children as `(noteId, notePosition)` in tree order.
    fn children(&self, parent: &str) -> Vec<(String, i64)> {
        self.read(|c| Ok(canopy::db::tree::child_branches(c, parent)?))
            .into_iter()
            .map(|b| (b.note_id, b.note_position))
            .collect()
    }

    fn text_note(&self, parent: &str, title: &str) -> (Note, Branch) {
        self.write(|tx| notes::create_note(tx, text(parent, title, "<p>x</p>"), None)).unwrap()
    }

    /// What a refused operation must leave untouched: every sector hash and the newest change id.
    fn state(&self) -> (canopy::db::sector_cache::SectorHashes, i64) {
        self.read(|c| {
            let max: i64 = c.query_row("SELECT COALESCE(MAX(id), 0) FROM entity_changes", [], |r| r.get(0))?;
            Ok((entity_changes::sector_hashes(c)?, max))
        })
    }

    /// Every stored hash equals the one recomputed from its row (a new document's `dbVersion` option is
    /// Trilium's one known exception), and the incrementally kept sector hashes equal a full recomputation.
    fn assert_exact(&self, after: &str) {
        let mismatches = self.read(|c| Ok(consistency::hash_mismatches(c)?));
        let ids: Vec<String> = mismatches
            .iter()
            .map(|m| format!("{}/{}", m.change.entity_name, m.change.entity_id))
            .filter(|id| id != "options/dbVersion")
            .collect();
        assert!(ids.is_empty(), "hash mismatches after {after}: {ids:?}");
        let kept = self.doc.hash_check_state(&ChangeSource::new("checker")).unwrap().0;
        let full = self.read(|c| Ok(entity_changes::sector_hashes(c)?));
        assert_eq!(kept, full, "sector hashes after {after}");
    }
}

fn text(parent: &str, title: &str, html: &str) -> CreateNote {
    CreateNote {
        parent_note_id: parent.into(),
        title: title.into(),
        note_type: "text".into(),
        mime: None,
        content: BlobContent::Text(html.into()),
        position: Position::Last,
        prefix: None,
        note_id: None,
    }
}

fn ids(children: &[(String, i64)]) -> Vec<&str> {
    children.iter().map(|(id, _)| id.as_str()).collect()
}

fn assert_not_allowed<T: std::fmt::Debug>(result: DomainResult<T>, what: &str) {
    match result {
        Err(DomainError::NotAllowed(_)) => {}
        other => panic!("{what}: expected NotAllowed, got {other:?}"),
    }
}

#[test]
fn moves_into_before_and_after_place_branches_as_trilium_does() {
    let d = new_doc();
    let (p, _) = d.text_note("root", "P");
    let (q, _) = d.text_note("root", "Q");
    let (a, ab) = d.text_note(&p.note_id, "a");
    let (b, bb) = d.text_note(&p.note_id, "b");
    let (c, cb) = d.text_note(&p.note_id, "c");
    assert_eq!(d.children(&p.note_id).iter().map(|(_, pos)| *pos).collect::<Vec<_>>(), [10, 20, 30]);

    // Before: the target and everything after it shift by 10, the moved branch takes the target's place.
    let moved = d.write(|tx| branches::move_branch(tx, &cb.branch_id, MoveTo::Before { branch_id: ab.branch_id.clone() })).unwrap();
    assert_eq!(moved.note_position, 10);
    let kids = d.children(&p.note_id);
    assert_eq!(ids(&kids), [c.note_id.as_str(), a.note_id.as_str(), b.note_id.as_str()]);
    assert_eq!(kids.iter().map(|(_, pos)| *pos).collect::<Vec<_>>(), [10, 20, 30]);
    let reordering = d.read(|c| Ok(entity_changes::get(c, "note_reordering", &p.note_id)?)).expect("note_reordering change");
    assert_eq!(reordering.hash, "N/A");
    d.assert_exact("move before");

    // After: what follows the target shifts, the moved branch takes target + 10.
    let moved = d.write(|tx| branches::move_branch(tx, &ab.branch_id, MoveTo::After { branch_id: bb.branch_id.clone() })).unwrap();
    assert_eq!(moved.note_position, 40);
    assert_eq!(ids(&d.children(&p.note_id)), [c.note_id.as_str(), b.note_id.as_str(), a.note_id.as_str()]);
    d.assert_exact("move after");

    // Into: a new branch under the new parent (ids derive from the parent), the old one deleted;
    // position 0 in an empty parent, then 10 after the largest.
    let into = d.write(|tx| branches::move_branch(tx, &bb.branch_id, MoveTo::Into { parent_note_id: q.note_id.clone() })).unwrap();
    assert_eq!(into.branch_id, Branch::id_for(&q.note_id, &b.note_id));
    assert_eq!(into.note_position, 0);
    assert!(d.branch(&bb.branch_id).is_deleted);
    assert!(!d.note(&b.note_id).is_deleted);
    let into2 = d.write(|tx| branches::move_branch(tx, &cb.branch_id, MoveTo::Into { parent_note_id: q.note_id.clone() })).unwrap();
    assert_eq!(into2.note_position, 10);
    assert_eq!(ids(&d.children(&p.note_id)), [a.note_id.as_str()]);
    d.assert_exact("move into");

    // Before a branch under another parent: relocated there, in its place.
    let moved = d.write(|tx| branches::move_branch(tx, &ab.branch_id, MoveTo::Before { branch_id: into2.branch_id.clone() })).unwrap();
    assert_eq!(moved.branch_id, Branch::id_for(&q.note_id, &a.note_id));
    assert_eq!(ids(&d.children(&q.note_id)), [b.note_id.as_str(), a.note_id.as_str(), c.note_id.as_str()]);
    assert!(d.children(&p.note_id).is_empty());
    d.assert_exact("move before, across parents");
}

#[test]
fn a_note_is_created_after_a_sibling() {
    let d = new_doc();
    let (p, _) = d.text_note("root", "P");
    let (a, ab) = d.text_note(&p.note_id, "a");
    let (b, _) = d.text_note(&p.note_id, "b");
    let mut params = text(&p.note_id, "between", "<p>m</p>");
    params.position = Position::AfterBranch(ab.branch_id.clone());
    let (m, mb) = d.write(|tx| notes::create_note(tx, params, None)).unwrap();
    assert_eq!(mb.note_position, 20);
    assert_eq!(ids(&d.children(&p.note_id)), [a.note_id.as_str(), m.note_id.as_str(), b.note_id.as_str()]);
    d.assert_exact("create after");
    // The parent's `child:` attributes (owned or inherited) become the new note's own.
    d.write(|tx| {
        attributes::create(tx, &p.note_id, NewAttribute { kind: AttributeKind::Label, name: "child:status".into(), value: "new".into(), is_inheritable: false })
    })
    .unwrap();
    let (kid, _) = d.text_note(&p.note_id, "kid");
    let owned = d.read(|c| attributes::owned(c, &kid.note_id));
    assert_eq!(owned.iter().map(|a| (a.name.as_str(), a.value.as_str())).collect::<Vec<_>>(), [("status", "new")]);
    d.assert_exact("child attributes");
    assert!(matches!(d.write(|tx| notes::create_note(tx, text("missing0001", "x", ""), None)), Err(DomainError::NotFound { kind: "notes", .. })));
}

#[test]
fn moves_and_deletes_that_trilium_refuses_write_nothing() {
    let d = fixture_doc();
    let manifest = manifest();
    let cloned = manifest["roles"]["clonedNote"]["noteId"].as_str().unwrap().to_owned();
    let branch = d.read(|c| Ok(canopy::db::tree::parent_branches(c, &cloned)?)).remove(0);
    let (child, _) = d.text_note(&cloned, "child");
    let before = d.state();

    // A note into its own subtree (and into itself).
    assert_not_allowed(
        d.write(|tx| branches::move_branch(tx, &branch.branch_id, MoveTo::Into { parent_note_id: child.note_id.clone() })),
        "move into own subtree",
    );
    assert_not_allowed(
        d.write(|tx| branches::move_branch(tx, &branch.branch_id, MoveTo::Into { parent_note_id: cloned.clone() })),
        "move into itself",
    );
    // Root and `_hidden` stay where they are; nothing goes into `_hidden` or next to root.
    assert_not_allowed(d.write(|tx| branches::move_branch(tx, "none_root", MoveTo::Into { parent_note_id: cloned.clone() })), "move root");
    assert_not_allowed(
        d.write(|tx| branches::move_branch(tx, "root__hidden", MoveTo::Into { parent_note_id: cloned.clone() })),
        "move _hidden",
    );
    assert_not_allowed(
        d.write(|tx| branches::move_branch(tx, &branch.branch_id, MoveTo::Into { parent_note_id: "_hidden".into() })),
        "move into _hidden",
    );
    assert_not_allowed(
        d.write(|tx| branches::move_branch(tx, &branch.branch_id, MoveTo::After { branch_id: "none_root".into() })),
        "move next to root",
    );
    // Deleting root or `_hidden`, by branch or by note.
    assert_not_allowed(d.write(|tx| branches::delete_branch(tx, "none_root")), "delete root branch");
    assert_not_allowed(d.write(|tx| branches::delete_branch(tx, "root__hidden")), "delete _hidden branch");
    assert_not_allowed(d.write(|tx| notes::delete_note(tx, "root", None)), "delete root");
    assert_not_allowed(d.write(|tx| notes::delete_note(tx, "_hidden", None)), "delete _hidden");
    assert_eq!(d.state(), before, "a refused operation writes nothing");
}

#[test]
fn clones_and_deleting_one_branch_of_a_clone() {
    let d = new_doc();
    let (p, pb) = d.text_note("root", "P");
    let (q, _) = d.text_note("root", "Q");
    let (a, ab) = d.text_note(&p.note_id, "a");
    let clone = d.write(|tx| branches::clone_note(tx, &a.note_id, &q.note_id, Some("pre".into()))).unwrap();
    assert_eq!(clone.branch_id, Branch::id_for(&q.note_id, &a.note_id));
    assert_eq!(clone.prefix.as_deref(), Some("pre"));
    assert_eq!(clone.note_position, 10);
    d.assert_exact("clone");

    let before = d.state();
    assert_not_allowed(d.write(|tx| branches::clone_note(tx, &a.note_id, &q.note_id, None)), "clone twice into one parent");
    assert_not_allowed(d.write(|tx| branches::clone_note(tx, &p.note_id, &a.note_id, None)), "clone into own subtree");
    assert_eq!(d.state(), before);

    // Deleting one of two branches keeps the note.
    let deleted = d.write(|tx| branches::delete_branch(tx, &ab.branch_id)).unwrap();
    assert!(!deleted.note_deleted);
    assert!(d.branch(&ab.branch_id).is_deleted);
    assert!(!d.note(&a.note_id).is_deleted);
    assert_eq!(ids(&d.children(&q.note_id)), [a.note_id.as_str()]);
    d.assert_exact("delete a clone's branch");

    // Its undo brings the branch back.
    d.write(|tx| branches::undo_delete(tx, &deleted.delete_id)).unwrap();
    assert!(!d.branch(&ab.branch_id).is_deleted);
    d.assert_exact("undo a clone's branch");

    // Unless the parent has since moved under the note: the undo would make a cycle.
    let deleted = d.write(|tx| branches::delete_branch(tx, &ab.branch_id)).unwrap();
    d.write(|tx| branches::move_branch(tx, &pb.branch_id, MoveTo::Into { parent_note_id: a.note_id.clone() })).unwrap();
    let before = d.state();
    assert_not_allowed(d.write(|tx| branches::undo_delete(tx, &deleted.delete_id)), "undo into a cycle");
    assert_eq!(d.state(), before);
    assert!(d.branch(&ab.branch_id).is_deleted);
}

#[test]
fn deleting_the_last_branch_deletes_the_subtree_and_undo_restores_it() {
    let d = new_doc();
    let (p, pb) = d.text_note("root", "P");
    let (a, ab) = d.text_note(&p.note_id, "a");
    let (a1, a1b) = d.text_note(&a.note_id, "a1");
    let (other, _) = d.text_note("root", "other");
    let label = d
        .write(|tx| attributes::create(tx, &a1.note_id, NewAttribute { kind: AttributeKind::Label, name: "status".into(), value: "x".into(), is_inheritable: false }))
        .unwrap();
    let pointing = d
        .write(|tx| attributes::create(tx, &other.note_id, NewAttribute { kind: AttributeKind::Relation, name: "seeAlso".into(), value: a.note_id.clone(), is_inheritable: false }))
        .unwrap();
    let png = png_bytes();
    let image = d.write(|tx| attachments::create_image_attachment(tx, &a.note_id, "pic.png", "image/png", png, None)).unwrap();
    d.assert_exact("setup");

    let deleted = d.write(|tx| branches::delete_branch(tx, &pb.branch_id)).unwrap();
    assert!(deleted.note_deleted);
    for id in [&p.note_id, &a.note_id, &a1.note_id] {
        let n = d.note(id);
        assert!(n.is_deleted && n.delete_id.as_deref() == Some(deleted.delete_id.as_str()), "{id} deleted with the deleteId");
    }
    for id in [&pb.branch_id, &ab.branch_id, &a1b.branch_id] {
        assert!(d.branch(id).is_deleted);
    }
    assert!(d.attribute(&label.attribute_id).is_deleted);
    assert!(d.attribute(&pointing.attribute_id).is_deleted, "relations to a deleted note go with it");
    assert!(d.read(|c| Ok(entities::get::<Attachment>(c, &image.attachment_id)?)).is_deleted);
    assert!(!d.note(&other.note_id).is_deleted);
    d.assert_exact("delete subtree");

    d.write(|tx| branches::undo_delete(tx, &deleted.delete_id)).unwrap();
    for id in [&p.note_id, &a.note_id, &a1.note_id] {
        assert!(!d.note(id).is_deleted, "{id} restored");
    }
    for id in [&pb.branch_id, &ab.branch_id, &a1b.branch_id] {
        assert!(!d.branch(id).is_deleted);
    }
    assert!(!d.attribute(&label.attribute_id).is_deleted);
    assert!(!d.attribute(&pointing.attribute_id).is_deleted);
    assert!(!d.read(|c| Ok(entities::get::<Attachment>(c, &image.attachment_id)?)).is_deleted);
    assert_eq!(ids(&d.children(&p.note_id)), [a.note_id.as_str()]);
    d.assert_exact("undo delete");

    // Nothing is left to undo.
    assert!(matches!(d.write(|tx| branches::undo_delete(tx, &deleted.delete_id)), Err(DomainError::NotFound { .. })));
    // delete_note takes every branch.
    let (b, _) = d.text_note(&p.note_id, "b");
    d.write(|tx| branches::clone_note(tx, &b.note_id, &other.note_id, None)).unwrap();
    let gone = d.write(|tx| notes::delete_note(tx, &b.note_id, None)).unwrap();
    assert!(gone.note_deleted && d.note(&b.note_id).is_deleted);
    d.assert_exact("delete note");
}

#[test]
fn a_stale_save_is_refused_and_writes_nothing() {
    let d = new_doc();
    let (n, _) = d.text_note("root", "N");
    let loaded = n.blob_id.clone();
    let saved = d.write(|tx| notes::save_content(tx, &n.note_id, BlobContent::Text("<p>mine</p>".into()), loaded.as_deref(), None)).unwrap();
    assert_ne!(saved.blob_id, loaded);
    d.assert_exact("save");
    let before = d.state();
    // A second page still holding the first version.
    let stale = d.write(|tx| notes::save_content(tx, &n.note_id, BlobContent::Text("<p>theirs</p>".into()), loaded.as_deref(), None));
    assert!(matches!(stale, Err(DomainError::Stale(_))), "{stale:?}");
    assert_eq!(d.state(), before);
    assert_eq!(d.read(|c| notes::content(c, &n.note_id, None)).to_text(), "<p>mine</p>");
    // The same content again writes nothing.
    d.write(|tx| notes::save_content(tx, &n.note_id, BlobContent::Text("<p>mine</p>".into()), saved.blob_id.as_deref(), None)).unwrap();
    assert_eq!(d.state(), before);
    // A retry of a save whose answer was lost names the old blobId: it succeeds and writes nothing.
    d.write(|tx| notes::save_content(tx, &n.note_id, BlobContent::Text("<p>mine</p>".into()), loaded.as_deref(), None)).unwrap();
    assert_eq!(d.state(), before);
    // With the current blobId it goes through.
    d.write(|tx| notes::save_content(tx, &n.note_id, BlobContent::Text("<p>next</p>".into()), saved.blob_id.as_deref(), None)).unwrap();
    d.assert_exact("second save");
}

#[test]
fn saves_make_revisions_by_the_revision_interval() {
    let d = new_doc();
    let t0 = Utc::now() - Duration::days(1);
    let (n, _) = d.write_at(t0, |tx| notes::create_note(tx, text("root", "N", "<p>v0</p>"), None)).unwrap();
    let save = |mins: i64, html: &str| {
        let blob = d.note(&n.note_id).blob_id;
        d.write_at(t0 + Duration::minutes(mins), |tx| notes::save_content(tx, &n.note_id, BlobContent::Text(html.into()), blob.as_deref(), None))
            .unwrap();
    };
    let count = || d.read(|c| Ok(revisions::list(c, &n.note_id)?)).len();
    // The note is younger than the interval (600 s): no revision.
    save(1, "<p>v1</p>");
    assert_eq!(count(), 0);
    // Older than the interval and no recent revision: one, of the content before the save.
    save(20, "<p>v2</p>");
    assert_eq!(count(), 1);
    let rev = d.read(|c| Ok(revisions::list(c, &n.note_id)?)).remove(0);
    let rev_content = d.read(|c| Ok(entities::get::<entities::Blob>(c, rev.blob_id.as_deref().unwrap())?)).content;
    assert_eq!(rev_content.to_text(), "<p>v1</p>");
    // A revision younger than the interval: none.
    save(25, "<p>v3</p>");
    assert_eq!(count(), 1);
    save(40, "<p>v4</p>");
    assert_eq!(count(), 2);
    // Renames follow the same rule.
    d.write_at(t0 + Duration::minutes(41), |tx| notes::rename(tx, &n.note_id, "N2", None)).unwrap();
    assert_eq!(count(), 2);
    d.write_at(t0 + Duration::minutes(60), |tx| notes::rename(tx, &n.note_id, "N3", None)).unwrap();
    assert_eq!(count(), 3);
    d.assert_exact("saves with revisions");
}

#[test]
fn titles_types_and_links() {
    let d = new_doc();
    let (n, _) = d.text_note("root", "N");
    let (target, _) = d.text_note("root", "Target");
    let before = d.state();
    assert!(matches!(d.write(|tx| notes::rename(tx, &n.note_id, "  ", None)), Err(DomainError::Invalid(_))));
    assert!(matches!(d.write(|tx| notes::rename(tx, &n.note_id, &"x".repeat(10_000), None)), Err(DomainError::Invalid(_))));
    assert!(matches!(d.write(|tx| notes::set_type(tx, &n.note_id, "spreadsheet", None, None)), Err(DomainError::Invalid(_))));
    assert_eq!(d.state(), before);
    assert_eq!(d.write(|tx| notes::rename(tx, &n.note_id, "Renamed", None)).unwrap().title, "Renamed");
    let code = d.write(|tx| notes::set_type(tx, &n.note_id, "code", Some("text/x-rustsrc"), None)).unwrap();
    assert_eq!((code.note_type.as_str(), code.mime.as_str()), ("code", "text/x-rustsrc"));
    let back = d.write(|tx| notes::set_type(tx, &n.note_id, "text", None, None)).unwrap();
    assert_eq!(back.mime, "text/html");
    d.assert_exact("rename and set type");

    // A reference link becomes an ~internalLink relation, with the server's URL made relative.
    let html = format!(r##"<p><a class="reference-link" href="http://host:8080/#root/{0}">t</a></p>"##, target.note_id);
    let blob = d.note(&n.note_id).blob_id;
    d.write(|tx| notes::save_content(tx, &n.note_id, BlobContent::Text(html), blob.as_deref(), None)).unwrap();
    let stored = d.read(|c| notes::content(c, &n.note_id, None)).to_text();
    assert!(stored.contains(&format!(r##"href="#root/{}""##, target.note_id)), "{stored}");
    let links: Vec<Attribute> = d.read(|c| attributes::owned(c, &n.note_id));
    assert_eq!(links.len(), 1);
    assert_eq!((links[0].name.as_str(), links[0].value.as_str()), ("internalLink", target.note_id.as_str()));
    // Removing the link removes the relation.
    let blob = d.note(&n.note_id).blob_id;
    d.write(|tx| notes::save_content(tx, &n.note_id, BlobContent::Text("<p>none</p>".into()), blob.as_deref(), None)).unwrap();
    assert!(d.read(|c| attributes::owned(c, &n.note_id)).is_empty());
    d.assert_exact("links");
}

#[test]
fn attributes_owned_and_inherited() {
    let d = new_doc();
    let (p, _) = d.text_note("root", "P");
    let (a, _) = d.text_note(&p.note_id, "a");
    let (tpl, _) = d.text_note("root", "Template");
    let new = |kind, name: &str, value: &str, is_inheritable| NewAttribute { kind, name: name.into(), value: value.into(), is_inheritable };

    let color = d.write(|tx| attributes::create(tx, &p.note_id, new(AttributeKind::Label, "color", "red", true))).unwrap();
    let plain = d.write(|tx| attributes::create(tx, &p.note_id, new(AttributeKind::Label, "plain", "", false))).unwrap();
    assert_eq!((color.position, plain.position), (10, 20));
    let tpl_label = d.write(|tx| attributes::create(tx, &tpl.note_id, new(AttributeKind::Label, "fromTemplate", "1", false))).unwrap();
    d.write(|tx| attributes::create(tx, &tpl.note_id, new(AttributeKind::Label, "template", "", false))).unwrap();
    let rel = d.write(|tx| attributes::create(tx, &a.note_id, new(AttributeKind::Relation, "template", &tpl.note_id, false))).unwrap();
    d.assert_exact("create attributes");

    // Bad names and targets are refused and write nothing.
    let before = d.state();
    for name in ["", "with space", "semi;colon"] {
        assert!(matches!(d.write(|tx| attributes::create(tx, &a.note_id, new(AttributeKind::Label, name, "", false))), Err(DomainError::Invalid(_))), "{name:?}");
    }
    assert!(matches!(
        d.write(|tx| attributes::create(tx, &a.note_id, new(AttributeKind::Relation, "seeAlso", "missing0001", false))),
        Err(DomainError::Invalid(_))
    ));
    assert_eq!(d.state(), before);

    let owned = d.read(|c| attributes::owned(c, &a.note_id));
    assert_eq!(owned.iter().map(|x| x.attribute_id.as_str()).collect::<Vec<_>>(), [rel.attribute_id.as_str()]);
    let inherited = d.read(|c| attributes::inherited(c, &a.note_id));
    let got: Vec<(&str, &str)> = inherited.iter().map(|i| (i.attribute.name.as_str(), i.from_note_id.as_str())).collect();
    // The inheritable label of the parent and the template's label (not its #template marker); not `plain`.
    assert_eq!(got, [("color", p.note_id.as_str()), ("fromTemplate", tpl.note_id.as_str())]);
    assert_eq!(inherited[1].attribute.attribute_id, tpl_label.attribute_id);

    // Update in place (same id) for value and inheritability; a new name makes a new attribute.
    let updated = d.write(|tx| attributes::update(tx, &color.attribute_id, "color", "blue", false)).unwrap();
    assert_eq!((updated.attribute_id.as_str(), updated.value.as_str(), updated.is_inheritable), (color.attribute_id.as_str(), "blue", false));
    assert!(d.read(|c| attributes::inherited(c, &a.note_id)).iter().all(|i| i.attribute.name != "color"));
    let renamed = d.write(|tx| attributes::update(tx, &color.attribute_id, "colour", "blue", false)).unwrap();
    assert_ne!(renamed.attribute_id, color.attribute_id);
    assert_eq!(renamed.position, color.position);
    assert!(d.attribute(&color.attribute_id).is_deleted);
    d.assert_exact("update attributes");

    d.write(|tx| attributes::delete(tx, &renamed.attribute_id)).unwrap();
    assert!(d.attribute(&renamed.attribute_id).is_deleted);
    assert!(matches!(d.write(|tx| attributes::delete(tx, &renamed.attribute_id)), Err(DomainError::NotFound { .. })));
    d.assert_exact("delete attribute");
}

/// A 1×1 PNG.
fn png_bytes() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89]);
    bytes
}

#[test]
fn a_pasted_image_becomes_an_image_attachment() {
    let d = new_doc();
    let (n, _) = d.text_note("root", "N");
    let att = d.write(|tx| attachments::create_image_attachment(tx, &n.note_id, "pasted.png", "image/png", png_bytes(), None)).unwrap();
    assert_eq!((att.role.as_str(), att.mime.as_str(), att.title.as_str()), ("image", "image/png", "pasted.png"));
    assert_eq!(att.owner_id, n.note_id);
    assert_eq!(d.read(|c| Ok(canopy::db::attachments::content(c, &att.attachment_id)?)), BlobContent::Binary(png_bytes()));
    // No extension: the image's own is added; a name longer than 40 characters becomes "image".
    let bare = d.write(|tx| attachments::create_image_attachment(tx, &n.note_id, "clipboard", "image/png", png_bytes(), None)).unwrap();
    assert_eq!(bare.title, "clipboard.png");
    let long = d.write(|tx| attachments::create_image_attachment(tx, &n.note_id, &format!("{}.png", "x".repeat(50)), "image/png", png_bytes(), None)).unwrap();
    assert_eq!(long.title, "image.png");
    d.assert_exact("image attachments");
    let before = d.state();
    assert!(matches!(
        d.write(|tx| attachments::create_image_attachment(tx, &n.note_id, "doc.pdf", "application/pdf", b"%PDF".to_vec(), None)),
        Err(DomainError::Invalid(_))
    ));
    assert_eq!(d.state(), before);

    // The note's HTML shows the first one: the others are scheduled for erasure, as Trilium does.
    let html = format!(r#"<p><img src="api/attachments/{}/image/pasted.png"></p>"#, att.attachment_id);
    let blob = d.note(&n.note_id).blob_id;
    d.write(|tx| notes::save_content(tx, &n.note_id, BlobContent::Text(html), blob.as_deref(), None)).unwrap();
    let get = |id: &str| d.read(|c| Ok(entities::get::<Attachment>(c, id)?));
    assert!(get(&att.attachment_id).utc_date_scheduled_for_erasure_since.is_none());
    assert!(get(&bare.attachment_id).utc_date_scheduled_for_erasure_since.is_some());
    d.assert_exact("save with an image");
}

#[test]
fn expanded_and_prefix() {
    let d = new_doc();
    let (_, b) = d.text_note("root", "N");
    let before = d.state();
    d.write(|tx| branches::set_expanded(tx, &b.branch_id, true)).unwrap();
    assert!(d.branch(&b.branch_id).is_expanded);
    // isExpanded is neither hashed nor synced: no entity change.
    assert_eq!(d.state(), before);
    let with = d.write(|tx| branches::set_prefix(tx, &b.branch_id, Some("pre".into()))).unwrap();
    assert_eq!(with.prefix.as_deref(), Some("pre"));
    let without = d.write(|tx| branches::set_prefix(tx, &b.branch_id, Some("  ".into()))).unwrap();
    assert_eq!(without.prefix, None);
    d.assert_exact("prefix");
}

#[test]
fn children_of_a_sorted_note_stay_sorted() {
    let d = new_doc();
    let (p, _) = d.text_note("root", "P");
    let label = |note: &str, name: &str, value: &str| {
        d.write(|tx| attributes::create(tx, note, NewAttribute { kind: AttributeKind::Label, name: name.into(), value: value.into(), is_inheritable: false }))
            .unwrap()
    };
    let (b, bb) = d.text_note(&p.note_id, "beta");
    let (a, ab) = d.text_note(&p.note_id, "Alpha");
    let titles = || {
        d.children(&p.note_id).iter().map(|(id, _)| d.note(id).title).collect::<Vec<_>>()
    };
    assert_eq!(titles(), ["beta", "Alpha"]);
    // Adding #sorted sorts by title, case-insensitively, at positions 10, 20, ...
    let sorted = label(&p.note_id, "sorted", "");
    assert_eq!(titles(), ["Alpha", "beta"]);
    assert_eq!(d.children(&p.note_id).iter().map(|(_, pos)| *pos).collect::<Vec<_>>(), [10, 20]);
    d.assert_exact("sorted");
    // New notes, moves and renames keep the order.
    d.text_note(&p.note_id, "gamma");
    d.text_note(&p.note_id, "Delta");
    assert_eq!(titles(), ["Alpha", "beta", "Delta", "gamma"]);
    d.write(|tx| branches::move_branch(tx, &ab.branch_id, MoveTo::After { branch_id: bb.branch_id.clone() })).unwrap();
    assert_eq!(titles(), ["Alpha", "beta", "Delta", "gamma"]);
    d.write(|tx| notes::rename(tx, &a.note_id, "omega", None)).unwrap();
    assert_eq!(titles(), ["beta", "Delta", "gamma", "omega"]);
    // #top goes first whatever the direction; #sortDirection=desc reverses the rest.
    label(&b.note_id, "top", "");
    label(&p.note_id, "sortDirection", "desc");
    assert_eq!(titles(), ["beta", "omega", "gamma", "Delta"]);
    d.assert_exact("sorted, desc, top");
    // #sorted=off stops it: a move stays where it was put.
    d.write(|tx| attributes::update(tx, &sorted.attribute_id, "sorted", "off", false)).unwrap();
    let delta = d.children(&p.note_id).iter().find(|(id, _)| d.note(id).title == "Delta").unwrap().0.clone();
    let first = d.children(&p.note_id)[0].0.clone();
    d.write(|tx| {
        branches::move_branch(tx, &Branch::id_for(&p.note_id, &delta), MoveTo::Before { branch_id: Branch::id_for(&p.note_id, &first) })
    })
    .unwrap();
    assert_eq!(titles()[0], "Delta");
    d.assert_exact("sorted off");
}

#[test]
fn an_inherited_new_notes_on_top_puts_new_notes_first() {
    let d = new_doc();
    let (g, _) = d.text_note("root", "G");
    let (p, _) = d.text_note(&g.note_id, "P");
    let (first, _) = d.text_note(&p.note_id, "first");
    d.write(|tx| attributes::create(tx, &g.note_id, NewAttribute { kind: AttributeKind::Label, name: "newNotesOnTop".into(), value: String::new(), is_inheritable: true }))
        .unwrap();
    let (top, tb) = d.text_note(&p.note_id, "top");
    assert_eq!(tb.note_position, -10);
    assert_eq!(ids(&d.children(&p.note_id)), [top.note_id.as_str(), first.note_id.as_str()]);
    d.assert_exact("new notes on top");
}

#[test]
fn a_store_failure_shows_no_database_text() {
    let e = DomainError::from(canopy::db::DbError::Sqlite(rusqlite::Error::InvalidColumnName("secretColumn".into())));
    assert!(matches!(e, DomainError::Db(_)));
    assert!(!e.user_message().contains("secretColumn"), "{}", e.user_message());
    let missing = DomainError::from(canopy::db::DbError::not_found("notes", "abc123"));
    assert_eq!(missing.user_message(), "Note 'abc123' not found.");
}

/// Trilium's `saveRevisionIfNeeded` asks `note.isLabelTruthy('disableVersioning')`, which sees owned and
/// inherited labels alike (the first in effect counts; the value `false` does not disable).
#[test]
fn inherited_disable_versioning_is_honoured() {
    let d = new_doc();
    let t0 = Utc::now() - Duration::days(1);
    let (p, _) = d.write_at(t0, |tx| notes::create_note(tx, text("root", "Unversioned", "<p>p</p>"), None)).unwrap();
    let (n, _) = d.write_at(t0, |tx| notes::create_note(tx, text(&p.note_id, "Inside", "<p>v0</p>"), None)).unwrap();
    let (other, _) = d.write_at(t0, |tx| notes::create_note(tx, text("root", "Elsewhere", "<p>v0</p>"), None)).unwrap();
    let label = |note: &str, inheritable: bool, value: &str| {
        let note = note.to_owned();
        let value = value.to_owned();
        d.write_at(t0, move |tx| {
            attributes::create(tx, &note, NewAttribute { kind: AttributeKind::Label, name: "disableVersioning".into(), value, is_inheritable: inheritable })
        })
        .unwrap()
    };
    let save = |note: &str, mins: i64, html: &str| {
        let blob = d.note(note).blob_id;
        d.write_at(t0 + Duration::minutes(mins), |tx| notes::save_content(tx, note, BlobContent::Text(html.into()), blob.as_deref(), None)).unwrap();
    };
    let count = |note: &str| d.read(|c| Ok(revisions::list(c, note)?)).len();
    // Not inheritable: the child is versioned as usual.
    let own_only = label(&p.note_id, false, "");
    save(&n.note_id, 20, "<p>v1</p>");
    assert_eq!(count(&n.note_id), 1);
    d.write(|tx| attributes::delete(tx, &own_only.attribute_id)).unwrap();
    // Inheritable on the parent: the child's saves make no revision; an unrelated note's do.
    label(&p.note_id, true, "");
    save(&n.note_id, 40, "<p>v2</p>");
    assert_eq!(count(&n.note_id), 1, "the inherited label disables versioning");
    save(&other.note_id, 40, "<p>v1</p>");
    assert_eq!(count(&other.note_id), 1);
    // The child's own `#disableVersioning=false` comes first and does not disable.
    label(&n.note_id, false, "false");
    save(&n.note_id, 60, "<p>v3</p>");
    assert_eq!(count(&n.note_id), 2);
}
