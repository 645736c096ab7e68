//! The note pane's server side against a copy of the real Trilium fixture: the port the server
//! functions call, the display sanitizer, and the image routes over real HTTP.
use app::error::AppError;
use app::note::api::{ssr::NotePort, NoteBody};
use canopy::db::{Document, InstanceId};
use canopy::ui::note::{sanitize_for_display, DocumentNotes};

use crate::common::{copy_fixture, manifest};

struct Fixture {
    _dir: tempfile::TempDir,
    document: Document,
    notes: DocumentNotes,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let document = Document::open_existing(&copy_fixture(dir.path())).unwrap();
    let notes = DocumentNotes { document: document.clone(), instance_id: InstanceId::from("uiNoteTest01"), protected: Default::default() };
    Fixture { _dir: dir, document, notes }
}

fn note_id(title: &str) -> String {
    manifest()["notes"][title].as_str().unwrap_or_else(|| panic!("{title} in manifest")).to_string()
}

fn stored(document: &Document, note_id: &str) -> (String, Option<String>) {
    document
        .read(|c| {
            Ok(c.query_row(
                "SELECT CAST(b.content AS TEXT), n.blobId FROM notes n JOIN blobs b ON b.blobId = n.blobId WHERE n.noteId = ?1",
                [note_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap()
}

fn count(document: &Document, sql: &str, param: &str) -> i64 {
    document.read(|c| Ok(c.query_row(sql, [param], |r| r.get(0))?)).unwrap()
}

#[test]
fn the_editor_gets_the_stored_html_unchanged() {
    let f = fixture();
    for title in ["Glossary", "Guacamole", "Sauerkraut", "Ramen 🍜", "Grüße 日本語 emoji 🎉"] {
        let id = note_id(title);
        let source = f.notes.source(&id).unwrap();
        let (html, blob_id) = stored(&f.document, &id);
        assert_eq!(source.content, html, "{title}");
        assert_eq!(source.blob_id, blob_id);
    }
    let code = manifest()["roles"]["codeNote"].as_str().unwrap().to_string();
    assert_eq!(f.notes.source(&code).unwrap().content, stored(&f.document, &code).0);
    let protected = manifest()["roles"]["protectedNote"].as_str().unwrap().to_string();
    assert!(matches!(f.notes.source(&protected), Err(AppError::Forbidden(_))));
    assert!(matches!(f.notes.source("nonexistent1"), Err(AppError::NotFound(_))));
}

#[test]
fn the_display_sanitizer_keeps_trilium_markup_and_drops_script() {
    let f = fixture();
    let shown = |title: &str| match f.notes.note(&note_id(title)).unwrap().unwrap().body {
        NoteBody::Html(html) => html,
        other => panic!("{title}: {other:?}"),
    };
    let glossary = shown("Glossary");
    let targets = &manifest()["roles"]["internalLinks"]["targets"];
    for target in targets.as_array().unwrap() {
        let target = target.as_str().unwrap();
        assert!(glossary.contains(&format!("class=\"reference-link\" href=\"#root/DxE3DMYxawXC/v9ZIzkSBYQOW/{target}\"")), "{glossary}");
    }
    assert!(glossary.contains("<figure class=\"table\"><table><thead><tr><th>Day</th>"), "{glossary}");
    assert!(shown("Sauerkraut").contains("<pre><code class=\"language-text-x-python\">def checksum(rows):"));
    let todo = shown("Guacamole");
    assert!(todo.contains("<ul class=\"todo-list\"><li><label class=\"todo-list__label\">"), "{todo}");
    assert!(todo.contains("type=\"checkbox\"") && todo.contains("checked") && todo.contains("todo-list__label__description"), "{todo}");
    assert!(shown("Tarte Tatin").contains("<blockquote><p>“Quoted text” — with typographic quotes.</p></blockquote>"));

    // Constructs Trilium's editor writes that the fixture lacks.
    let html = concat!(
        r#"<section class="include-note" data-note-id="abc123" data-box-size="medium">&nbsp;</section>"#,
        r#"<p><span class="math-tex">\(e=mc^2\)</span></p>"#,
        r#"<figure class="image image-style-align-left" style="width:50%;"><img src="api/attachments/a1/image/x.png" width="300"></figure>"#,
        r#"<figure class="table" style="width:80%;"><table><colgroup><col style="width:30%;"><col style="width:70%;"></colgroup><tbody><tr><td colspan="2">x</td></tr></tbody></table></figure>"#,
        r#"<p><span style="color:hsl(0,75%,60%);">red</span> <mark class="marker-yellow">hi</mark></p>"#,
        r#"<ol style="list-style-type:lower-roman;" start="3" reversed="reversed"><li>three</li></ol>"#,
        r#"<p><kbd>Ctrl</kbd> <span class="text-big">big</span></p><details><summary>More</summary><p>hidden</p></details>"#,
    );
    let clean = sanitize_for_display(html);
    for kept in [
        r#"<section class="include-note" data-note-id="abc123" data-box-size="medium">"#,
        r#"<span class="math-tex">\(e=mc^2\)</span>"#,
        r#"<figure class="image image-style-align-left" style="width:50%">"#,
        r#"<img src="api/attachments/a1/image/x.png" width="300">"#,
        r#"<col style="width:30%">"#,
        r#"<td colspan="2">"#,
        r#"<span style="color:hsl(0, 75%, 60%)">red</span>"#,
        r#"<mark class="marker-yellow">"#,
        r#"<ol style="list-style-type:lower-roman" start="3" reversed="reversed">"#,
        r#"<kbd>Ctrl</kbd> <span class="text-big">big</span>"#,
        r#"<details><summary>More</summary>"#,
    ] {
        assert!(clean.contains(kept), "{kept} missing in {clean}");
    }

    let hostile = sanitize_for_display(concat!(
        r#"<p onclick="alert(1)">a</p><script>alert(2)</script><img src=x onerror=alert(3)>"#,
        r##"<a href="javascript:alert(4)">j</a><a class="reference-link" href="#root/x">ok</a>"##,
        r#"<p style="background-image:url(javascript:alert(5));color:red">s</p><input type="text" value="v"><iframe src="/"></iframe>"#,
    ));
    for dropped in ["onclick", "script", "onerror", "javascript:", "alert(", "background-image", "type=\"text\"", "iframe"] {
        assert!(!hostile.contains(dropped), "{dropped} survived in {hostile}");
    }
    assert!(hostile.contains(r#"<p style="color:red">s</p>"#) && hostile.contains(r##"href="#root/x""##), "{hostile}");
}

#[test]
fn breadcrumbs_and_link_search_follow_the_tree() {
    let f = fixture();
    let glossary = f.notes.note(&note_id("Glossary")).unwrap().unwrap();
    let path: Vec<&str> = glossary.path.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(path, ["root", "Fixture Notebook", "Engineering"]);
    assert_eq!(glossary.path[2].note_id, note_id("Engineering"));

    let hits = f.notes.search("sync prot", 15).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].note_id, note_id("Sync protocol notes"));
    assert_eq!(hits[0].path, "Fixture Notebook / Engineering");
    // Titles starting with the query come first; deleted, protected and hidden notes never show.
    let hits = f.notes.search("re", 15).unwrap();
    assert!(hits[0].title.to_lowercase().starts_with("re"), "{hits:?}");
    assert!(hits.iter().all(|h| !h.note_id.starts_with('_')));
    let deleted = manifest()["roles"]["deletedNote"]["noteId"].as_str().unwrap().to_string();
    assert!(hits.iter().all(|h| h.note_id != deleted));
    assert!(f.notes.search("%", 15).unwrap().is_empty(), "LIKE wildcards are matched literally");
    assert!(f.notes.search("   ", 15).unwrap().is_empty());
}

#[test]
fn save_refuses_a_stale_write_and_rename_refuses_bad_titles() {
    let f = fixture();
    let id = note_id("Glossary");
    let source = f.notes.source(&id).unwrap();
    let edited = source.content.replace("Related:", "Related (edited):");
    let revisions_before = count(&f.document, "SELECT COUNT(*) FROM revisions WHERE noteId = ?1", &id);
    let new_blob = f.notes.save(&id, edited.clone(), source.blob_id.clone()).unwrap();
    assert_ne!(new_blob, source.blob_id);
    assert_eq!(stored(&f.document, &id), (edited.clone(), new_blob.clone()));
    // The fixture's notes are older than Trilium's revision interval: the first save keeps the old text.
    assert_eq!(count(&f.document, "SELECT COUNT(*) FROM revisions WHERE noteId = ?1", &id), revisions_before + 1);
    // Links are rescanned: both reference links are still internalLink relations.
    assert_eq!(
        count(&f.document, "SELECT COUNT(*) FROM attributes WHERE noteId = ?1 AND name = 'internalLink' AND isDeleted = 0", &id),
        2
    );
    let changes = count(&f.document, "SELECT COUNT(*) FROM entity_changes WHERE entityName = 'notes' AND entityId = ?1", &id);
    assert_eq!(changes, 1, "one entity change row per entity");

    // A second tab still holding the first version is refused, and nothing changes.
    let stale = f.notes.save(&id, "<p>from an old tab</p>".into(), source.blob_id.clone());
    assert!(matches!(stale, Err(AppError::Stale(_))), "{stale:?}");
    assert_eq!(stored(&f.document, &id).0, edited);

    assert_eq!(f.notes.rename(&id, "Glossary of terms").unwrap(), "Glossary of terms");
    for bad in [String::new(), "   ".into(), "x".repeat(10_000)] {
        assert!(matches!(f.notes.rename(&id, &bad), Err(AppError::Invalid(_))));
    }
    assert_eq!(f.notes.note(&id).unwrap().unwrap().title, "Glossary of terms");

    let code = manifest()["roles"]["codeNote"].as_str().unwrap().to_string();
    f.notes.set_type(&code, "code", "text/x-rustsrc").unwrap();
    assert_eq!(f.notes.note(&code).unwrap().unwrap().mime, "text/x-rustsrc");
    assert!(matches!(f.notes.set_type(&code, "nonsense", ""), Err(AppError::Invalid(_))));
}

/// A 1×1 PNG.
pub(crate) const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78,
    0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49,
    0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

#[tokio::test(flavor = "multi_thread")]
async fn a_pasted_image_becomes_an_image_attachment_served_with_its_type() {
    let f = fixture();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = canopy::ui::routes(f.document.clone(), InstanceId::from("uiNoteTest01"), Default::default());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let id = note_id("Glossary");

    let answer = http
        .post(format!("{base}/api/ui/notes/{id}/images?name=pasted%20shot.png"))
        .header("Content-Type", "image/png")
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    let attachment_id = body["attachmentId"].as_str().unwrap().to_string();
    assert_eq!(body["src"], format!("api/attachments/{attachment_id}/image/pasted%20shot.png"));
    let (role, mime, title, bytes): (String, String, String, Vec<u8>) = f
        .document
        .read(|c| {
            Ok(c.query_row(
                "SELECT a.role, a.mime, a.title, b.content FROM attachments a JOIN blobs b ON b.blobId = a.blobId
                 WHERE a.attachmentId = ?1 AND a.ownerId = ?2",
                [&attachment_id, &id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?)
        })
        .unwrap();
    assert_eq!((role.as_str(), mime.as_str(), title.as_str(), bytes.as_slice()), ("image", "image/png", "pasted shot.png", PNG));
    assert_eq!(count(&f.document, "SELECT COUNT(*) FROM entity_changes WHERE entityName = 'attachments' AND entityId = ?1", &attachment_id), 1);

    // The note's HTML references it relatively; from the page at `/` that is this path.
    let image = http.get(format!("{base}/{}", body["src"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");
    assert_eq!(image.headers()["x-content-type-options"], "nosniff");
    assert_eq!(image.bytes().await.unwrap().as_ref(), PNG);

    // Bad input is refused with a reason, and nothing is stored.
    let attachments_before = count(&f.document, "SELECT COUNT(*) FROM attachments WHERE ownerId = ?1", &id);
    let not_image = http.post(format!("{base}/api/ui/notes/{id}/images?name=a.txt")).header("Content-Type", "text/plain").body("hi").send().await.unwrap();
    assert_eq!(not_image.status(), 400);
    assert!(not_image.json::<serde_json::Value>().await.unwrap()["message"].as_str().unwrap().contains("not an image"));
    let no_note = http.post(format!("{base}/api/ui/notes/nonexistent1/images")).header("Content-Type", "image/png").body(PNG.to_vec()).send().await.unwrap();
    assert_eq!(no_note.status(), 404);
    assert_eq!(count(&f.document, "SELECT COUNT(*) FROM attachments WHERE ownerId = ?1", &id), attachments_before);
    // A text attachment is not an image.
    let text_attachment = manifest()["roles"]["attachments"]["text"].as_str().unwrap().to_string();
    let missing = http.get(format!("{base}/api/attachments/{text_attachment}/image/x.png")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // An image note is served from `api/images/<noteId>/<title>` and shown as an image.
    let image_note = f
        .document
        .write_with(&crate::common::source(), |tx| {
            canopy::domain::notes::create_note(
                tx,
                canopy::domain::notes::CreateNote {
                    parent_note_id: id.clone(),
                    title: "dot.png".into(),
                    note_type: "image".into(),
                    mime: Some("image/png".into()),
                    content: canopy::entities::BlobContent::Binary(PNG.to_vec()),
                    position: canopy::domain::notes::Position::Last,
                    prefix: None,
                    note_id: None,
                },
                None,
            )
        })
        .unwrap()
        .0;
    let detail = f.notes.note(&image_note.note_id).unwrap().unwrap();
    let NoteBody::Image { src } = detail.body else { panic!("an image body: {:?}", detail.body) };
    assert_eq!(src, format!("api/images/{}/dot.png", image_note.note_id));
    let served = http.get(format!("{base}/{src}")).send().await.unwrap();
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);
    assert_eq!(http.get(format!("{base}/api/images/{id}/x.png")).send().await.unwrap().status(), 404, "a text note is not an image");
    server.abort();
}
