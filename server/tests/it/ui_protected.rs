//! Protected sessions through the page's server functions on a real instance of the Trilium fixture
//! (its protected note was made by Trilium 0.63.7; the password is the manifest's): unlock, read,
//! edit, lock, a wrong password that writes nothing, protect and unprotect a subtree, the password
//! change, the timeout option, and the live channel's `protected-started` / `protected-ended`.
use std::time::Duration;

use serde_json::Value;

use crate::auth::Browser;
use crate::common::{copy_fixture, manifest};
use crate::ui_live::Stream;
use crate::ui_tree::call;

fn password() -> String {
    manifest()["password"].as_str().unwrap().to_owned()
}

fn protected_note() -> String {
    manifest()["roles"]["protectedNote"].as_str().unwrap().to_owned()
}

/// An instance on a copy of the fixture, and a browser logged in with the fixture's password.
async fn fixture_instance() -> (tempfile::TempDir, canopy::RunningInstance, Browser) {
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    copy_fixture(&data_dir);
    let options = canopy::StartOptions {
        data_dir,
        site_root: "/nonexistent-site".into(),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    };
    let instance = canopy::start(options).await.unwrap();
    let browser = login(&instance.url(), &password()).await;
    (parent, instance, browser)
}

async fn login(base: &str, password: &str) -> Browser {
    let mut browser = Browser::new(base);
    let response = browser.login(password, false).await;
    assert_eq!(response.status().as_u16(), 303, "login with the document's password");
    browser.load_page().await;
    browser
}

/// The tree row of `note_id` as the page gets it.
async fn row(browser: &Browser, note_id: &str) -> Value {
    let (status, snapshot) = call(browser, "tree/reveal", &[("note_id", note_id)]).await;
    assert_eq!(status, 200, "{snapshot}");
    snapshot["levels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["children"].as_array().unwrap().iter())
        .find(|c| c["note_id"] == note_id)
        .cloned()
        .unwrap_or_else(|| panic!("{note_id} is in the revealed levels: {snapshot}"))
}

/// The name of the next `protected-*` event (the edits in between send `changes`).
async fn next_protected(events: &mut Stream) -> String {
    loop {
        let event = events.next(Duration::from_secs(5)).await.expect("a protected-* event within 5 s");
        if event.event.starts_with("protected-") {
            return event.event;
        }
    }
}

fn max_change_id(document: &canopy::Document) -> i64 {
    document.read(|c| Ok(c.query_row("SELECT COALESCE(MAX(id), 0) FROM entity_changes", [], |r| r.get(0))?)).unwrap()
}

/// `(isProtected, title, content)` of a note as stored.
fn stored(document: &canopy::Document, note_id: &str) -> (bool, String, Vec<u8>) {
    document
        .read(|c| {
            Ok(c.query_row(
                "SELECT n.isProtected, n.title, CAST(COALESCE(b.content, '') AS BLOB) FROM notes n LEFT JOIN blobs b USING (blobId) WHERE n.noteId = ?1",
                [note_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protected_session_unlocks_reads_edits_and_locks_and_a_wrong_password_writes_nothing() {
    let (_parent, instance, browser) = fixture_instance().await;
    let note_id = protected_note();

    let (status, before) = call(&browser, "protected/status", &[]).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["unlocked"], false);
    assert_eq!(before["has_password"], true);
    assert_eq!(before["timeout_secs"], 600, "Trilium's default protectedSessionTimeout");

    // Locked: the row and the pane say "protected", the editor gets nothing.
    let locked_row = row(&browser, &note_id).await;
    assert_eq!(locked_row["title"], "[protected]");
    assert_eq!(locked_row["is_protected"], true);
    let (_, detail) = call(&browser, "note", &[("note_id", &note_id)]).await;
    assert_eq!(detail["body"], "Protected", "{detail}");
    assert_eq!(detail["shows_protected"], true);
    let (status, refused) = call(&browser, "note_source", &[("note_id", &note_id)]).await;
    assert!((400..500).contains(&status), "the editor's source needs the session: {status} {refused}");

    // A wrong password: a clear message, nothing written, still locked.
    let changes = max_change_id(&instance.document);
    let (status, error) = call(&browser, "protected/unlock", &[("password", "not-the-password")]).await;
    assert_eq!(status, 400, "{error}");
    assert!(error.to_string().contains("Wrong password"), "{error}");
    assert_eq!(max_change_id(&instance.document), changes, "a wrong password writes nothing");
    let (status, _) = call(&browser, "protected/unlock", &[("password", "")]).await;
    assert_eq!(status, 400);
    let forged = browser.http.post(format!("{}/ui/protected/unlock", browser.base)).form(&[("password", password())]).send().await.unwrap();
    assert_eq!(forged.status().as_u16(), 403, "an unlock without the page's CSRF token is refused");
    let (_, still) = call(&browser, "protected/status", &[]).await;
    assert_eq!(still["unlocked"], false);

    // Unlocked (the live channel tells the login's pages), the note reads and edits.
    let mut events = Stream::open(&browser).await;
    let (status, unlocked) = call(&browser, "protected/unlock", &[("password", &password())]).await;
    assert_eq!(status, 200, "{unlocked}");
    assert_eq!(unlocked["unlocked"], true);
    assert_eq!(next_protected(&mut events).await, "protected-started");
    let title = row(&browser, &note_id).await["title"].as_str().unwrap().to_owned();
    assert_ne!(title, "[protected]");
    let (_, stored_title, _) = stored(&instance.document, &note_id);
    assert_ne!(title, stored_title, "the stored title is ciphertext, the shown one is not");
    let (_, detail) = call(&browser, "note", &[("note_id", &note_id)]).await;
    assert_eq!(detail["title"], title.as_str());
    assert!(detail["body"]["Html"].is_string(), "{detail}");
    let (status, source) = call(&browser, "note_source", &[("note_id", &note_id)]).await;
    assert_eq!(status, 200, "{source}");
    let blob_id = source["blob_id"].as_str().unwrap().to_owned();
    let edited = format!("{}<p>written in a protected session</p>", source["content"].as_str().unwrap());
    let (status, saved) = call(&browser, "save_note", &[("note_id", &note_id), ("content", &edited), ("expected_blob_id", &blob_id)]).await;
    assert_eq!(status, 200, "{saved}");
    let (is_protected, _, content) = stored(&instance.document, &note_id);
    assert!(is_protected);
    assert!(!String::from_utf8_lossy(&content).contains("written in a protected session"), "stored encrypted");
    let (_, source) = call(&browser, "note_source", &[("note_id", &note_id)]).await;
    assert_eq!(source["content"], edited.as_str());

    // Another login has a protected session of its own: none.
    let other = login(&instance.url(), &password()).await;
    assert_eq!(row(&other, &note_id).await["title"], "[protected]");

    // Locked on demand: the stream says so and the note is protected again.
    let (status, locked) = call(&browser, "protected/lock", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(locked["unlocked"], false);
    assert_eq!(next_protected(&mut events).await, "protected-ended");
    assert_eq!(row(&browser, &note_id).await["title"], "[protected]");
    let (_, detail) = call(&browser, "note", &[("note_id", &note_id)]).await;
    assert_eq!(detail["body"], "Protected");
    drop(events);
    instance.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subtree_is_protected_and_unprotected_through_the_session() {
    let (_parent, instance, browser) = fixture_instance().await;
    let (_, outer) = call(&browser, "tree/create", &[("parent_note_id", "root"), ("note_type", "text")]).await;
    let outer_id = outer["note_id"].as_str().unwrap().to_owned();
    call(&browser, "tree/rename", &[("note_id", &outer_id), ("title", "Diary folder")]).await;
    let (_, inner) = call(&browser, "tree/create", &[("parent_note_id", &outer_id), ("note_type", "text")]).await;
    let inner_id = inner["note_id"].as_str().unwrap().to_owned();
    call(&browser, "tree/rename", &[("note_id", &inner_id), ("title", "Day one")]).await;

    // Without the session: refused, nothing changes.
    let changes = max_change_id(&instance.document);
    let fields = [("note_id", outer_id.as_str()), ("protected", "true"), ("subtree", "true")];
    let (status, error) = call(&browser, "protected/set", &fields).await;
    assert_eq!(status, 403, "{error}");
    assert!(error.to_string().contains("protected session"), "{error}");
    assert_eq!(max_change_id(&instance.document), changes);

    call(&browser, "protected/unlock", &[("password", &password())]).await;
    let (status, outcome) = call(&browser, "protected/set", &fields).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["changed"], 2);
    for (id, title) in [(&outer_id, "Diary folder"), (&inner_id, "Day one")] {
        let (is_protected, stored_title, _) = stored(&instance.document, id);
        assert!(is_protected, "{title} is protected");
        assert_ne!(stored_title, title, "{title} is stored encrypted");
        assert_eq!(row(&browser, id).await["title"], title, "shown decrypted in the session");
    }
    // A new note under a protected parent is protected, as in Trilium.
    let (_, born) = call(&browser, "tree/create", &[("parent_note_id", &outer_id), ("note_type", "text")]).await;
    assert!(stored(&instance.document, born["note_id"].as_str().unwrap()).0, "{born}");

    call(&browser, "protected/lock", &[]).await;
    assert_eq!(row(&browser, &inner_id).await["title"], "[protected]");
    call(&browser, "protected/unlock", &[("password", &password())]).await;
    let (status, _) = call(&browser, "protected/set", &[("note_id", &outer_id), ("protected", "false"), ("subtree", "false")]).await;
    assert_eq!(status, 200);
    assert_eq!(stored(&instance.document, &outer_id).1, "Diary folder", "the note alone is unprotected");
    assert!(stored(&instance.document, &inner_id).0, "its child stays protected");

    let (status, error) = call(&browser, "protected/set", &[("note_id", "noSuchNote12"), ("protected", "true"), ("subtree", "false")]).await;
    assert_eq!(status, 404, "{error}");
    instance.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_changes_with_the_old_one_and_the_timeout_is_at_least_ten_seconds() {
    let (_parent, instance, browser) = fixture_instance().await;
    let note_id = protected_note();
    let changes = max_change_id(&instance.document);
    let (status, error) = call(&browser, "protected/change_password", &[("old_password", "wrong"), ("new_password", "new-pass")]).await;
    assert!((400..500).contains(&status), "{status} {error}");
    assert_eq!(max_change_id(&instance.document), changes, "a wrong old password changes nothing");
    let (status, _) = call(&browser, "protected/change_password", &[("old_password", &password()), ("new_password", "")]).await;
    assert_eq!(status, 400);

    let (status, _) = call(&browser, "protected/unlock", &[("password", &password())]).await;
    assert_eq!(status, 200, "unlocked before the change");
    let (status, changed) = call(&browser, "protected/change_password", &[("old_password", &password()), ("new_password", "new-pass")]).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["unlocked"], false, "the change ends the protected session, as Trilium's does: {changed}");
    let (status, error) = call(&browser, "protected/unlock", &[("password", &password())]).await;
    assert_eq!(status, 400, "the old password no longer unlocks: {error}");
    let (status, _) = call(&browser, "protected/unlock", &[("password", "new-pass")]).await;
    assert_eq!(status, 200);
    assert_ne!(row(&browser, &note_id).await["title"], "[protected]", "the note decrypts after the change");
    login(&instance.url(), "new-pass").await;

    for bad in ["9", "ten", ""] {
        let (status, error) = call(&browser, "protected/timeout", &[("seconds", bad)]).await;
        assert_eq!(status, 400, "{bad}: {error}");
    }
    let (status, saved) = call(&browser, "protected/timeout", &[("seconds", "10")]).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["timeout_secs"], 10);
    let stored: String = instance
        .document
        .read(|c| Ok(c.query_row("SELECT value FROM options WHERE name = 'protectedSessionTimeout'", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(stored, "10");
    instance.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn in_the_session_images_revisions_recent_changes_and_search_show_protected_notes() {
    let (_parent, instance, browser) = fixture_instance().await;
    let note_id = protected_note();
    let revision_id = manifest()["roles"]["protectedNoteRevisions"][0].as_str().unwrap().to_owned();
    let paste = |csrf: &str| {
        browser
            .http
            .post(format!("{}/api/ui/notes/{note_id}/images?name=shot.png", browser.base))
            .header("X-CSRF-Token", csrf.to_owned())
            .header("Content-Type", "image/png")
            .body(crate::ui_note::PNG.to_vec())
            .send()
    };

    // Locked: no image goes into the protected note, the revision and its title stay hidden.
    let attachments = |doc: &canopy::Document| -> i64 {
        doc.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM attachments WHERE ownerId = ?1", [&note_id], |r| r.get(0))?)).unwrap()
    };
    let before = attachments(&instance.document);
    let refused = paste(&browser.csrf).await.unwrap();
    assert_eq!(refused.status().as_u16(), 403, "{:?}", refused.text().await);
    assert_eq!(attachments(&instance.document), before, "nothing stored");
    let (_, revisions) = call(&browser, "revisions", &[("note_id", &note_id)]).await;
    assert!(revisions.as_array().unwrap().iter().all(|r| r["title"] == "[protected]"), "{revisions}");
    let (_, view) = call(&browser, "revision/open", &[("note_id", &note_id), ("revision_id", &revision_id)]).await;
    assert_eq!(view["preview"], "Protected");
    let (_, quick) = call(&browser, "quick_search", &[("query", "diary")]).await;
    assert!(!quick.to_string().contains(&note_id), "locked, search does not find it: {quick}");

    call(&browser, "protected/unlock", &[("password", &password())]).await;
    let title = row(&browser, &note_id).await["title"].as_str().unwrap().to_owned();

    // A pasted image is stored encrypted and served decrypted in the session only.
    let answer = paste(&browser.csrf).await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let body: Value = answer.json().await.unwrap();
    let attachment_id = body["attachmentId"].as_str().unwrap().to_owned();
    let (is_protected, stored_bytes): (bool, Vec<u8>) = instance
        .document
        .read(|c| {
            Ok(c.query_row(
                "SELECT a.isProtected, CAST(b.content AS BLOB) FROM attachments a JOIN blobs b USING (blobId) WHERE a.attachmentId = ?1",
                [&attachment_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    assert!(is_protected);
    assert_ne!(stored_bytes.as_slice(), crate::ui_note::PNG, "stored encrypted");
    let src = format!("{}/{}", browser.base, body["src"].as_str().unwrap());
    let image = browser.http.get(&src).send().await.unwrap();
    assert_eq!(image.status().as_u16(), 200);
    assert_eq!(image.bytes().await.unwrap().as_ref(), crate::ui_note::PNG);

    // Revisions and Recent changes show the decrypted titles; the revision's content shows.
    let (_, revisions) = call(&browser, "revisions", &[("note_id", &note_id)]).await;
    let listed = revisions.as_array().unwrap().iter().find(|r| r["revision_id"] == revision_id.as_str()).unwrap().clone();
    assert_ne!(listed["title"], "[protected]", "{listed}");
    let (status, view) = call(&browser, "revision/open", &[("note_id", &note_id), ("revision_id", &revision_id)]).await;
    assert_eq!(status, 200, "{view}");
    assert!(view["preview"]["Html"].is_string(), "{view}");
    let (_, changes) = call(&browser, "recent_changes", &[]).await;
    let mine: Vec<&Value> = changes.as_array().unwrap().iter().filter(|c| c["note_id"] == note_id.as_str()).collect();
    assert!(!mine.is_empty() && mine.iter().all(|c| c["current_title"] == title.as_str()), "{changes}");

    // Search finds it by a word of its decrypted title, in the quick search and the search page.
    let word = title.split_whitespace().last().unwrap().to_lowercase();
    let (_, quick) = call(&browser, "quick_search", &[("query", &word)]).await;
    assert!(quick["titles"].as_array().unwrap().iter().any(|h| h["note_id"] == note_id.as_str()), "{quick}");
    let (_, full) = call(&browser, "full_search", &[("query", &word)]).await;
    assert!(full["hits"].as_array().unwrap().iter().any(|h| h["note_id"] == note_id.as_str() && h["title"] == title.as_str()), "{full}");

    call(&browser, "protected/lock", &[]).await;
    let image = browser.http.get(&src).send().await.unwrap();
    assert_eq!(image.status().as_u16(), 404, "locked, the image is not served");
    let (_, full) = call(&browser, "full_search", &[("query", &word)]).await;
    assert!(!full.to_string().contains(&note_id), "{full}");
    instance.stop().await.unwrap();
}

/// The page's `note` call, marked as made while a person is at the page or not.
async fn read_note(browser: &Browser, note_id: &str, attended: bool) -> Value {
    let response = browser
        .http
        .post(format!("{}/ui/note", browser.base))
        .header("X-CSRF-Token", &browser.csrf)
        .header(app::live::ATTENDED_HEADER, if attended { "1" } else { "0" })
        .form(&[("note_id", note_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_made_while_nobody_is_at_the_page_do_not_keep_the_protected_session_open() {
    let (_parent, instance, browser) = fixture_instance().await;
    let note_id = protected_note();
    let sessions = instance.protected.clone();
    sessions.set_timeout(2);
    let rounds = 8; // 4 s of reads every 0.5 s: twice the timeout

    // A tab left open refetches the note on every live event: it shows the note while the session
    // lasts, and the session still ends when the timeout passes.
    let (status, _) = call(&browser, "protected/unlock", &[("password", &password())]).await;
    assert_eq!(status, 200);
    let mut shown_unattended = 0;
    for _ in 0..rounds {
        if read_note(&browser, &note_id, false).await["body"]["Html"].is_string() {
            shown_unattended += 1;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(shown_unattended >= 1, "an unattended read still shows the open session's note");
    assert_eq!(read_note(&browser, &note_id, false).await["body"], "Protected", "the timeout ended it");
    let (_, status) = call(&browser, "protected/status", &[]).await;
    assert_eq!(status["unlocked"], false);

    // A person reading the note keeps it open past the timeout.
    let (status, _) = call(&browser, "protected/unlock", &[("password", &password())]).await;
    assert_eq!(status, 200);
    for round in 0..rounds {
        assert!(read_note(&browser, &note_id, true).await["body"]["Html"].is_string(), "attended read {round}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    instance.stop().await.unwrap();
}
