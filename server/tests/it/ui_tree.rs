//! The UI tree's read queries on real documents (the Trilium fixture and made ones), and its server
//! functions on a real instance: each write through the domain layer, each refusal changing nothing.
use canopy::db::{tree_view, Document};
use canopy::domain::{self, notes::CreateNote, notes::Position};
use canopy::entities::BlobContent;

use crate::auth::{ensure_document_password, Browser};
use crate::common::{copy_fixture, manifest, new_document, source};

fn child(parent: &str, title: &str) -> CreateNote {
    CreateNote {
        parent_note_id: parent.into(),
        title: title.into(),
        note_type: "text".into(),
        mime: None,
        content: BlobContent::Text(String::new()),
        position: Position::Last,
        prefix: None,
        note_id: None,
    }
}

fn create(doc: &Document, parent: &str, title: &str) -> String {
    doc.write_with(&source(), |tx| domain::notes::create_note(tx, child(parent, title), None)).unwrap().0.note_id
}

#[test]
fn fixture_rows_show_icons_clones_protection_and_no_hidden_subtree() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = Document::open_or_create(&copy_fixture(tmp.path()), "testInstance").unwrap();
    let roles = &manifest()["roles"];
    let cloned = roles["clonedNote"]["noteId"].as_str().unwrap();
    let recipes = roles["clonedNote"]["parents"][0].as_str().unwrap();
    let travel = roles["clonedNote"]["parents"][1].as_str().unwrap();
    let protected = roles["protectedNote"].as_str().unwrap();
    doc.read(|conn| {
        let root = tree_view::children(conn, "root")?;
        assert!(!root.iter().any(|r| r.note_id == tree_view::HIDDEN_ROOT), "the hidden subtree is not shown");

        let path = tree_view::path_to(conn, recipes)?.expect("Recipes is in the tree");
        assert_eq!(path.first().map(String::as_str), Some("root"));
        assert_eq!(path.last().map(String::as_str), Some(recipes));
        let level = tree_view::children(conn, &path[path.len() - 2])?;
        let row = level.iter().find(|r| r.note_id == recipes).unwrap();
        assert_eq!(row.icon_class.as_deref(), Some("bx bx-bowl-hot"));
        assert!(row.has_children);
        assert!(level.iter().filter(|r| r.note_id != recipes).all(|r| r.icon_class.is_none()));

        for parent in [recipes, travel] {
            let row = tree_view::children(conn, parent)?.into_iter().find(|r| r.note_id == cloned).unwrap();
            assert_eq!(row.parent_count, 2, "the clone marker needs both parents");
        }
        let in_travel = tree_view::children(conn, travel)?.into_iter().find(|r| r.note_id == cloned).unwrap();
        assert_eq!(in_travel.prefix.as_deref(), roles["clonedNote"]["clonePrefix"].as_str());

        let path = tree_view::path_to(conn, protected)?.unwrap();
        let row = tree_view::children(conn, &path[path.len() - 2])?.into_iter().find(|r| r.note_id == protected).unwrap();
        assert!(row.is_protected);
        assert_eq!(row.parent_count, 1);

        // A note only in the hidden subtree has no path the tree can show.
        assert_eq!(tree_view::path_to(conn, "_options")?, None);
        assert_eq!(tree_view::path_to(conn, "nonexistent")?, None);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_level_of_1000_children_is_one_statement_with_markers_right() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = new_document(tmp.path());
    let parent = create(&doc, "root", "Big folder");
    let other = create(&doc, "root", "Other folder");
    let ids: Vec<String> = doc
        .write_with(&source(), |tx| {
            (0..1000)
                .map(|i| domain::notes::create_note(tx, child(&parent, &format!("Child {i:04}")), None).map(|(n, _)| n.note_id))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    create(&doc, &ids[17], "Grandchild");
    doc.write_with(&source(), |tx| domain::branches::clone_note(tx, &ids[42], &other, None)).unwrap();
    doc.write_with(&source(), |tx| {
        domain::attributes::create(
            tx,
            &ids[99],
            domain::attributes::NewAttribute {
                kind: domain::attributes::AttributeKind::Label,
                name: "iconClass".into(),
                value: "bx bx-star".into(),
                is_inheritable: false,
            },
        )
    })
    .unwrap();

    let started = std::time::Instant::now();
    let rows = doc.read(|conn| tree_view::children(conn, &parent)).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(rows.len(), 1000);
    let titles: Vec<&str> = rows.iter().map(|r| r.title.as_str()).collect();
    let mut sorted = titles.clone();
    sorted.sort();
    assert_eq!(titles, sorted, "tree order is creation order here");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.has_children, i == 17, "row {i}");
        assert_eq!(row.parent_count, if i == 42 { 2 } else { 1 }, "row {i}");
        assert_eq!(row.icon_class.as_deref(), (i == 99).then_some("bx bx-star"), "row {i}");
    }
    // Generous for a debug build on a shared machine; an N+1 query pattern would blow far past it.
    assert!(elapsed < std::time::Duration::from_secs(2), "one level took {elapsed:?}");
}

#[test]
fn the_path_to_a_clone_prefers_the_parent_the_tree_shows_open() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = new_document(tmp.path());
    let a = create(&doc, "root", "A");
    let b = create(&doc, "root", "B");
    let note = create(&doc, &a, "Shared");
    doc.write_with(&source(), |tx| domain::branches::clone_note(tx, &note, &b, Some("via B".into()))).unwrap();
    let path_now = || doc.read(|conn| tree_view::path_to(conn, &note)).unwrap().unwrap();
    let via_a = ["root", a.as_str(), note.as_str()];
    let via_b = ["root", b.as_str(), note.as_str()];
    assert!(path_now() == via_a || path_now() == via_b);
    let expand = |parent: &str, open: bool| {
        doc.write_with(&source(), |tx| domain::branches::set_expanded(tx, &format!("root_{parent}"), open)).unwrap()
    };
    expand(&a, true);
    assert_eq!(path_now(), via_a);
    expand(&a, false);
    expand(&b, true);
    assert_eq!(path_now(), via_b);
}

/// Calls a server function the way the logged-in page does (a form POST with the session cookie and
/// the CSRF header); returns the status and the JSON body.
pub(crate) async fn call(browser: &Browser, name: &str, fields: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let response = browser
        .http
        .post(format!("{}/ui/{name}", browser.base))
        .header("X-CSRF-Token", &browser.csrf)
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

fn titles(children: &serde_json::Value) -> Vec<String> {
    children.as_array().unwrap().iter().map(|c| c["title"].as_str().unwrap().to_string()).collect()
}

/// A new instance on a temp data directory with a password, and a browser logged in to it.
pub(crate) async fn logged_in_instance() -> (tempfile::TempDir, canopy::RunningInstance, Browser) {
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("data");
    let options = canopy::StartOptions {
        data_dir: data_dir.clone(),
        site_root: "/nonexistent-site".into(),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    };
    let instance = canopy::start(options).await.unwrap();
    let instance_id = std::fs::read_to_string(data_dir.join("instance-id")).unwrap();
    ensure_document_password(&instance.document, canopy::db::InstanceId::from(instance_id.trim()));
    let browser = Browser::logged_in_at(&instance.url()).await;
    (parent, instance, browser)
}

#[tokio::test(flavor = "multi_thread")]
async fn tree_server_functions_write_through_the_domain_and_refuse_bad_input() {
    let (_parent, instance, browser) = logged_in_instance().await;
    let base = &browser;

    // A write without the page's CSRF token is refused and makes nothing.
    let forged = browser.http.post(format!("{}/ui/tree/create", browser.base)).form(&[("parent_note_id", "root"), ("note_type", "text")]).send().await.unwrap();
    assert_eq!(forged.status().as_u16(), 403);

    let (status, created) = call(base, "tree/create", &[("parent_note_id", "root"), ("note_type", "text")]).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["title"], "new note");
    let outer = created["note_id"].as_str().unwrap().to_string();
    let outer_branch = created["branch_id"].as_str().unwrap().to_string();
    let (status, _) = call(base, "tree/rename", &[("note_id", &outer), ("title", "Outer")]).await;
    assert_eq!(status, 200);
    let (_, inner) =
        call(base, "tree/create", &[("parent_note_id", &outer), ("note_type", "code")]).await;
    assert_eq!(inner["note_type"], "code");
    let inner_id = inner["note_id"].as_str().unwrap().to_string();

    // Bad titles: refused with a message, the title stays.
    for bad in [String::new(), "   ".into(), "x".repeat(1001)] {
        let (status, error) = call(base, "tree/rename", &[("note_id", &outer), ("title", &bad)]).await;
        assert_eq!(status, 400, "{error}");
        assert!(error.to_string().contains("title"), "{error}");
    }
    let (status, _) = call(base, "tree/rename", &[("note_id", &outer), ("title", &"y".repeat(1000))]).await;
    assert_eq!(status, 200, "1,000 characters is the limit, inclusive");
    call(base, "tree/rename", &[("note_id", &outer), ("title", "Outer")]).await;

    // Into its own subtree: refused, nothing moved.
    let before = instance.document.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM entity_changes", [], |r| r.get::<_, i64>(0))?)).unwrap();
    let (status, error) =
        call(base, "tree/move", &[("branch_id", &outer_branch), ("position", "Into"), ("target", &inner_id)]).await;
    assert_eq!(status, 400, "Trilium's rules refuse it");
    assert!(error.to_string().contains("cycle"), "{error}");
    for (branch, target) in [("none_root", "root"), (outer_branch.as_str(), "_hidden")] {
        let (status, _) = call(base, "tree/move", &[("branch_id", branch), ("position", "Into"), ("target", target)]).await;
        // A new Canopy document may have no `_hidden` yet: a refusal either way.
        assert!(matches!(status, 400 | 404), "{branch} into {target}: {status}");
    }
    let (status, _) = call(base, "tree/delete", &[("branch_id", "none_root")]).await;
    assert_eq!(status, 400);
    let after = instance.document.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM entity_changes", [], |r| r.get::<_, i64>(0))?)).unwrap();
    assert_eq!(before, after, "a refused write writes nothing");

    // Reorder: Outer before the first root child, then the order is what the tree reads.
    let (_, root_children) = call(base, "children", &[("parent_note_id", "root")]).await;
    let first = root_children[0]["branch_id"].as_str().unwrap().to_string();
    let (status, _) = call(base, "tree/move", &[("branch_id", &outer_branch), ("position", "Before"), ("target", &first)]).await;
    assert_eq!(status, 200);
    let (_, root_children) = call(base, "children", &[("parent_note_id", "root")]).await;
    assert_eq!(titles(&root_children)[0], "Outer");

    // Clone with a prefix, then delete that placement: the note stays; undo brings the branch back.
    let welcome = root_children.as_array().unwrap().iter().find(|c| c["title"] == "Welcome to Canopy").unwrap();
    let welcome_id = welcome["note_id"].as_str().unwrap().to_string();
    let (status, _) = call(base, "tree/clone", &[("note_id", &inner_id), ("parent_note_id", &welcome_id), ("prefix", "Also")]).await;
    assert_eq!(status, 200);
    let (_, under_welcome) = call(base, "children", &[("parent_note_id", &welcome_id)]).await;
    let clone = under_welcome.as_array().unwrap().iter().find(|c| c["note_id"] == inner_id.as_str()).unwrap().clone();
    assert_eq!(clone["prefix"], "Also");
    assert_eq!(clone["is_clone"], true);
    let (status, deleted) = call(base, "tree/delete", &[("branch_id", clone["branch_id"].as_str().unwrap())]).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["note_deleted"], false, "the note has another branch");

    // Delete the last branch: the note (and its subtree) go; undo restores both.
    let (_, deleted) = call(base, "tree/delete", &[("branch_id", &outer_branch)]).await;
    assert_eq!(deleted["note_deleted"], true);
    let (_, root_children) = call(base, "children", &[("parent_note_id", "root")]).await;
    assert!(!titles(&root_children).contains(&"Outer".to_string()));
    let (status, _) = call(base, "tree/undo_delete", &[("delete_id", deleted["delete_id"].as_str().unwrap())]).await;
    assert_eq!(status, 200);
    let (_, root_children) = call(base, "children", &[("parent_note_id", "root")]).await;
    assert!(titles(&root_children).contains(&"Outer".to_string()));
    let (_, under_outer) = call(base, "children", &[("parent_note_id", &outer)]).await;
    assert_eq!(under_outer[0]["note_id"], inner_id.as_str());

    // Expanded state is stored and the first render's snapshot opens that level.
    let (status, _) = call(base, "tree/expanded", &[("branch_id", &outer_branch), ("expanded", "true")]).await;
    assert_eq!(status, 200);
    let (_, snapshot) = call(base, "tree/snapshot", &[]).await;
    let parents: Vec<&str> = snapshot["levels"].as_array().unwrap().iter().map(|l| l["parent_note_id"].as_str().unwrap()).collect();
    assert!(parents.contains(&"root") && parents.contains(&outer.as_str()), "{parents:?}");

    // A link to the inner note: the path's levels come with its ancestors' branches open.
    let (_, revealed) = call(base, "tree/reveal", &[("note_id", &inner_id)]).await;
    assert_eq!(revealed["path"], serde_json::json!(["root", outer, inner_id]));

    // The picker finds by title.
    let (_, found) = call(base, "tree/find", &[("query", "oute")]).await;
    assert_eq!(found[0]["note_id"], outer.as_str());

    // The client's keep-alive connections would hold the server's graceful shutdown open.
    drop(browser);
    instance.stop().await.unwrap();
}

/// A note's text is one server-function body; a long note (3 MB here) must save like a short one.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_note_saves_through_the_page() {
    let (_parent, instance, browser) = logged_in_instance().await;
    let (_, created) = call(&browser, "tree/create", &[("parent_note_id", "root"), ("note_type", "text")]).await;
    let note_id = created["note_id"].as_str().unwrap().to_string();
    let blob_id = instance
        .document
        .read(|c| Ok(canopy::entities::get::<canopy::entities::Note>(c, &note_id)?.blob_id))
        .unwrap()
        .unwrap();
    let long = format!("<p>{}</p>", "long text ".repeat(300_000));
    let (status, saved) =
        call(&browser, "save_note", &[("note_id", &note_id), ("content", &long), ("expected_blob_id", &blob_id)]).await;
    assert_eq!(status, 200, "{saved}");
    let stored = instance.document.read_with(|c| canopy::domain::notes::content(c, &note_id, None)).unwrap();
    assert_eq!(stored.to_text().len(), long.len());
    // The client's keep-alive connections would hold the server's graceful shutdown open.
    drop(browser);
    instance.stop().await.unwrap();
}
