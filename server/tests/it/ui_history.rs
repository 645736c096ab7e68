//! Revisions and Recent changes: the history port on the Trilium fixture and on made documents (restore
//! keeps what it replaces, erase leaves a tombstone sync carries, undelete brings a subtree back with
//! entity changes, a protected revision is never read), and the server functions and download over HTTP.
use app::error::AppError;
use app::history::api::{ssr::HistoryPort, ChangeKind, DiffChange, RevisionPreview};
use canopy::db::{revisions as stored_revisions, Document, InstanceId};
use canopy::domain::{self, notes::CreateNote, notes::Position};
use canopy::entities::{self, BlobContent, Note};
use canopy::ui::history::{diff_chunks, html_text, revision_file_name, DocumentHistory};

use crate::common::{copy_fixture, manifest, new_document};
use crate::ui_tree::{call, logged_in_instance};

const OURS: &str = "uiHistoryTest";

fn port(document: &Document) -> DocumentHistory {
    DocumentHistory { document: document.clone(), instance_id: InstanceId::from(OURS), protected: Default::default() }
}

fn ours() -> canopy::db::ChangeSource {
    canopy::db::ChangeSource::new(InstanceId::from(OURS))
}

fn note_text(document: &Document, note_id: &str) -> String {
    document.read_with(|c| domain::notes::content(c, note_id, None)).unwrap().to_text()
}

fn revision_text(document: &Document, revision_id: &str) -> String {
    document.read_with(|c| domain::revisions::with_content(c, revision_id, None)).unwrap().1.to_text()
}

fn create(document: &Document, parent: &str, title: &str, note_type: &str, content: &str) -> String {
    let note = CreateNote {
        parent_note_id: parent.into(),
        title: title.into(),
        note_type: note_type.into(),
        mime: None,
        content: BlobContent::Text(content.into()),
        position: Position::Last,
        prefix: None,
        note_id: None,
    };
    document.write_with(&ours(), |tx| domain::notes::create_note(tx, note, None)).unwrap().0.note_id
}

/// Takes a revision of the note as it is now, then gives it `content` (an edit after the interval).
fn revise(document: &Document, note_id: &str, content: &str) -> String {
    document
        .write_with(&ours(), |tx| {
            let note: Note = entities::get(tx.conn(), note_id)?;
            let revision = stored_revisions::save_revision(tx, &note)?;
            domain::notes::set_content(tx, note_id, BlobContent::Text(content.into()), None)?;
            Ok::<_, domain::DomainError>(revision.revision_id)
        })
        .unwrap()
}

fn change_row(document: &Document, entity: &str, id: &str) -> Option<(String, i64, i64, i64)> {
    document
        .read(|c| {
            Ok(c.query_row(
                "SELECT instanceId, isErased, isSynced, id FROM entity_changes WHERE entityName = ?1 AND entityId = ?2",
                [entity, id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .ok())
        })
        .unwrap()
}

#[test]
fn restoring_a_revision_keeps_the_replaced_text_as_a_revision() {
    let dir = tempfile::tempdir().unwrap();
    let document = Document::open_existing(&copy_fixture(dir.path())).unwrap();
    let history = port(&document);
    let note_id = manifest()["roles"]["revisionedNote"].as_str().unwrap().to_string();

    let before = history.revisions(&note_id).unwrap();
    assert_eq!(before.len(), 3, "the fixture's note has three revisions");
    assert!(before.windows(2).all(|w| w[0].date_created >= w[1].date_created), "newest first");
    assert!(before.iter().all(|r| !r.own_instance && r.instance != "this instance"), "Trilium wrote them: {before:?}");
    assert!(before.iter().all(|r| r.bytes > 0 && !r.relative.is_empty()));
    assert!(before.iter().any(|r| r.title == "Release notes") && before.iter().any(|r| r.title == "Release notes (draft 2)"));

    let oldest = before.last().unwrap().clone();
    let replaced = note_text(&document, &note_id);
    let wanted = revision_text(&document, &oldest.revision_id);
    assert_ne!(replaced, wanted, "the test restores a different text");

    assert_eq!(history.restore(&oldest.revision_id).unwrap(), note_id);
    assert_eq!(note_text(&document, &note_id), wanted);
    let title: String = document.read(|c| Ok(entities::get::<Note>(c, &note_id)?.title)).unwrap();
    assert_eq!(title, oldest.title, "the title comes back too");

    let after = history.revisions(&note_id).unwrap();
    assert_eq!(after.len(), 4);
    let newest = &after[0];
    assert_eq!(revision_text(&document, &newest.revision_id), replaced, "the replaced text is now a revision");
    assert!(newest.own_instance && newest.instance == "this instance", "{newest:?}");
    let (instance, erased, synced, _) = change_row(&document, "revisions", &newest.revision_id).unwrap();
    assert_eq!((instance.as_str(), erased, synced), (OURS, 0, 1), "sync carries the new revision");
    let (instance, _, synced, _) = change_row(&document, "notes", &note_id).unwrap();
    assert_eq!((instance.as_str(), synced), (OURS, 1), "and the restored note");

    // The diff of the restored revision against the note is now empty; the replaced text's is not.
    let same = history.revision(&oldest.revision_id).unwrap();
    assert!(same.diff.unwrap().iter().all(|c| c.change == DiffChange::Same));
    let other = history.revision(&newest.revision_id).unwrap();
    assert!(other.diff.unwrap().iter().any(|c| c.change != DiffChange::Same));

    assert!(matches!(history.restore("noSuchRevis1"), Err(AppError::NotFound(_))));
}

#[test]
fn a_revision_diff_names_the_words_added_and_removed_without_markup() {
    let dir = tempfile::tempdir().unwrap();
    let document = new_document(dir.path());
    let history = port(&document);
    let note_id = create(&document, "root", "Fox", "text", "<p>The quick brown fox</p><p>jumps &amp; <b>runs</b></p>");
    let revision_id = revise(&document, &note_id, "<p>The slow brown fox</p><p>jumps &amp; <i>walks</i> &lt;script&gt;</p>");

    let view = history.revision(&revision_id).unwrap();
    assert!(!view.code);
    match &view.preview {
        RevisionPreview::Html(html) => assert!(html.contains("<b>runs</b>") && html.contains("quick"), "{html}"),
        other => panic!("{other:?}"),
    }
    let diff = view.diff.unwrap();
    let of = |kind: DiffChange| diff.iter().filter(|c| c.change == kind).map(|c| c.text.as_str()).collect::<Vec<_>>().join(" ");
    assert_eq!(of(DiffChange::Removed).split_whitespace().collect::<Vec<_>>(), ["quick", "runs"], "{diff:?}");
    assert_eq!(of(DiffChange::Added).split_whitespace().collect::<Vec<_>>(), ["slow", "walks", "<script>"], "{diff:?}");
    assert!(of(DiffChange::Same).contains("jumps & "), "entities decoded to text: {diff:?}");
    assert!(!diff.iter().any(|c| c.text.contains("<b>") || c.text.contains("<p>")), "formatting is stripped");

    // A code note: line by line, whitespace kept.
    let code_id = create(&document, "root", "Script", "code", "fn main() {\n    old_call();\n}\n");
    let code_revision = revise(&document, &code_id, "fn main() {\n    new_call();\n    more();\n}\n");
    let view = history.revision(&code_revision).unwrap();
    assert!(view.code);
    assert_eq!(view.preview, RevisionPreview::Text("fn main() {\n    old_call();\n}\n".into()));
    let diff = view.diff.unwrap();
    assert!(diff.iter().any(|c| c.change == DiffChange::Removed && c.text.contains("old_call")), "{diff:?}");
    assert!(diff.iter().any(|c| c.change == DiffChange::Added && c.text.contains("more()")), "{diff:?}");
    let rebuilt_new: String = diff.iter().filter(|c| c.change != DiffChange::Removed).map(|c| c.text.as_str()).collect();
    assert_eq!(rebuilt_new, note_text(&document, &code_id), "the diff's runs are the whole current text");

    assert_eq!(html_text("<p>a</p><p>b<br>c</p><script>alert(1)</script>"), "a\nb\nc");
    assert!(diff_chunks("", "").is_empty());
}

#[test]
fn a_protected_revision_is_listed_but_never_shown_diffed_or_restored() {
    let dir = tempfile::tempdir().unwrap();
    let document = Document::open_existing(&copy_fixture(dir.path())).unwrap();
    let history = port(&document);
    let note_id = manifest()["roles"]["protectedNote"].as_str().unwrap().to_string();
    let revision_id = manifest()["roles"]["protectedNoteRevisions"][0].as_str().unwrap().to_string();
    let listed = history.revisions(&note_id).unwrap();
    let entry = listed.iter().find(|r| r.revision_id == revision_id).unwrap();
    assert!(entry.is_protected);
    assert_eq!(entry.title, "[protected]", "the ciphertext title is not shown");
    let view = history.revision(&revision_id).unwrap();
    assert_eq!(view.preview, RevisionPreview::Protected);
    assert_eq!(view.diff, None);
    assert!(matches!(history.restore(&revision_id), Err(AppError::Forbidden(_))));
}

#[test]
fn deleting_a_revision_erases_it_with_a_tombstone_sync_carries() {
    let dir = tempfile::tempdir().unwrap();
    let document = Document::open_existing(&copy_fixture(dir.path())).unwrap();
    let history = port(&document);
    let note_id = manifest()["roles"]["revisionedNote"].as_str().unwrap().to_string();
    let revision_id = history.revisions(&note_id).unwrap()[0].revision_id.clone();
    let (_, _, _, old_change) = change_row(&document, "revisions", &revision_id).unwrap();

    assert_eq!(history.delete(&revision_id).unwrap(), note_id);
    assert_eq!(history.revisions(&note_id).unwrap().len(), 2);
    let gone: i64 = document.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM revisions WHERE revisionId = ?1", [&revision_id], |r| r.get(0))?)).unwrap();
    assert_eq!(gone, 0, "erased, as Trilium's eraseRevision does");
    let (instance, erased, synced, change) = change_row(&document, "revisions", &revision_id).unwrap();
    assert_eq!((instance.as_str(), erased, synced), (OURS, 1, 1), "an erased tombstone from this instance");
    assert!(change > old_change, "a new change, so sync pushes it");

    assert!(matches!(history.delete(&revision_id), Err(AppError::NotFound(_))));
    assert!(matches!(history.revision(&revision_id), Err(AppError::NotFound(_))));
    assert!(matches!(history.revisions("noSuchNote12"), Err(AppError::NotFound(_))));
}

#[test]
fn undelete_brings_a_subtree_back_and_refuses_under_a_deleted_parent() {
    let dir = tempfile::tempdir().unwrap();
    let document = new_document(dir.path());
    let history = port(&document);
    let outer = create(&document, "root", "Outer", "text", "<p>outer</p>");
    let middle = create(&document, &outer, "Middle", "text", "");
    let inner = create(&document, &middle, "Inner", "code", "x");
    document.write_with(&ours(), |tx| domain::notes::delete_note(tx, &outer, None)).unwrap();
    let max_before: i64 = document.read(|c| Ok(c.query_row("SELECT MAX(id) FROM entity_changes", [], |r| r.get(0))?)).unwrap();

    let changes = history.recent_changes().unwrap();
    let deletion = |id: &str| changes.iter().find(|c| c.note_id == id && c.kind == ChangeKind::Deleted).cloned().unwrap();
    assert!(deletion(&outer).can_undelete && deletion(&outer).is_deleted);
    assert!(!deletion(&middle).can_undelete, "its parent is deleted");
    assert!(changes.iter().any(|c| c.note_id == inner && c.kind == ChangeKind::Created));
    assert!(changes.windows(2).all(|w| (w[0].day.clone(), w[0].time.clone()) >= (w[1].day.clone(), w[1].time.clone())));
    assert!(!changes.iter().any(|c| c.note_id.starts_with('_')), "system notes are not the document's changes");

    match history.undelete(&middle) {
        Err(AppError::Invalid(message)) => assert!(message.contains("Undelete that note first"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(history.undelete(&inner), Err(AppError::Invalid(_))));
    assert!(matches!(history.undelete("noSuchNote12"), Err(AppError::NotFound(_))));

    assert_eq!(history.undelete(&outer).unwrap(), vec!["root".to_string()]);
    for id in [&outer, &middle, &inner] {
        let note: Note = document.read(|c| entities::get(c, id)).unwrap();
        assert!(!note.is_deleted, "{} is back", note.title);
        let (instance, erased, synced, change) = change_row(&document, "notes", id).unwrap();
        assert_eq!((instance.as_str(), erased, synced), (OURS, 0, 1));
        assert!(change > max_before, "{}: a new entity change for sync", note.title);
    }
    let live_branches: i64 = document
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM branches WHERE noteId IN (?1, ?2, ?3) AND isDeleted = 0", [&outer, &middle, &inner], |r| r.get(0))?))
        .unwrap();
    assert_eq!(live_branches, 3);
    let branch_changes: i64 = document
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM entity_changes WHERE entityName = 'branches' AND id > ?1 AND isSynced = 1", [max_before], |r| r.get(0))?))
        .unwrap();
    assert_eq!(branch_changes, 3, "each branch's undelete is a change sync carries");
    assert!(matches!(history.undelete(&outer), Err(AppError::Invalid(_))), "not deleted any more");
}

#[test]
fn a_revision_file_is_named_as_trilium_names_it() {
    assert_eq!(revision_file_name("Release notes", "text", "text/html", "2026-11-26 15:56:15.303+0100"), "Release notes-20261126_155615.html");
    assert_eq!(revision_file_name("a/b", "code", "text/plain", "2026-11-26 15:56:15.303+0100"), "ab-20261126_155615.txt");
    assert_eq!(revision_file_name("blob", "file", "application/x-unknown", "2026-11-26 15:56:15.303+0100"), "blob-20261126_155615");
}

#[tokio::test(flavor = "multi_thread")]
async fn history_server_functions_and_the_download_over_http() {
    let (_parent, instance, browser) = logged_in_instance().await;
    let (_, created) = call(&browser, "tree/create", &[("parent_note_id", "root"), ("note_type", "text")]).await;
    let note_id = created["note_id"].as_str().unwrap().to_string();
    let revision_id = revise(&instance.document, &note_id, "<p>second</p>");

    let (status, list) = call(&browser, "revisions", &[("note_id", &note_id)]).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list[0]["revision_id"], revision_id.as_str());
    assert_eq!(list[0]["title"], "new note");
    let (status, view) = call(&browser, "revision/open", &[("note_id", &note_id), ("revision_id", &revision_id)]).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["revision_id"], revision_id.as_str());
    // Without a revision, or with one that is not the note's: the newest.
    let (status, newest) = call(&browser, "revision/open", &[("note_id", &note_id)]).await;
    assert_eq!((status, &newest["revision_id"]), (200, &view["revision_id"]), "{newest}");
    let (status, newest) = call(&browser, "revision/open", &[("note_id", &note_id), ("revision_id", "noSuchRevis1")]).await;
    assert_eq!((status, &newest["revision_id"]), (200, &view["revision_id"]), "{newest}");
    for (name, fields) in [
        ("revision/open", vec![("note_id", "noSuchNote12")]),
        ("revision/restore", vec![("revision_id", "noSuchRevis1")]),
        ("revision/delete", vec![("revision_id", "noSuchRevis1")]),
        ("revisions", vec![("note_id", "noSuchNote12")]),
        ("undelete", vec![("note_id", "noSuchNote12")]),
    ] {
        let (status, error) = call(&browser, name, &fields).await;
        assert_eq!(status, 404, "{name}: {error}");
    }
    let (status, error) = call(&browser, "undelete", &[("note_id", &note_id)]).await;
    assert_eq!(status, 400, "a live note is not undeleted: {error}");
    let forged = browser.http.post(format!("{}/ui/revision/restore", browser.base)).form(&[("revision_id", &revision_id)]).send().await.unwrap();
    assert_eq!(forged.status().as_u16(), 403, "a write without the page's CSRF token is refused");

    let download = browser.http.get(format!("{}/api/ui/revisions/{revision_id}/download", browser.base)).send().await.unwrap();
    assert_eq!(download.status().as_u16(), 200);
    let header = |name: &str| download.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    let disposition = header("content-disposition");
    assert!(disposition.starts_with("file; filename=\"new%20note-") && disposition.ends_with(".html"), "{disposition}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("content-security-policy").contains("sandbox"));
    assert_eq!(download.text().await.unwrap(), "", "a new note's first content is empty");

    let missing = browser.http.get(format!("{}/api/ui/revisions/noSuchRevis1/download", browser.base)).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let stranger = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let refused = stranger.get(format!("{}/api/ui/revisions/{revision_id}/download", browser.base)).send().await.unwrap();
    assert!(matches!(refused.status().as_u16(), 401 | 303 | 302), "behind the session: {}", refused.status());

    let (status, _) = call(&browser, "revision/restore", &[("revision_id", &revision_id)]).await;
    assert_eq!(status, 200);
    let (_, list) = call(&browser, "revisions", &[("note_id", &note_id)]).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "the restore kept what it replaced");
    let (status, changes) = call(&browser, "recent_changes", &[]).await;
    assert_eq!(status, 200);
    assert!(changes.as_array().unwrap().iter().any(|c| c["note_id"] == note_id.as_str() && c["kind"] == "Edited"), "{changes}");
    drop(browser);
    instance.stop().await.unwrap();
}
