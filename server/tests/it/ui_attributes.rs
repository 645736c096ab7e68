//! The attribute panel's server side (`ui::attributes`) on copies of the Trilium fixture and on new
//! documents: listing owned and inherited attributes, changes through the domain layer, Trilium's text
//! syntax, refusals that write nothing, and entity changes whose hashes stay exact.
use app::attributes::api::{ssr::AttributePort, AttributeKind, NoteAttributes};
use app::error::AppError;
use canopy::db::{consistency, Document, InstanceId};
use canopy::domain::attributes::AttributeKind as DomainKind;
use canopy::ui::attributes::{text, DocumentAttributes};

use crate::common::*;

fn open_copy() -> (tempfile::TempDir, Document, DocumentAttributes) {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path());
    let doc = Document::open_existing(&path).expect("fixture opens");
    let port = DocumentAttributes::new(doc.clone(), InstanceId::from("testInstance"));
    (dir, doc, port)
}

fn note(title: &str) -> String {
    manifest()["notes"][title].as_str().unwrap_or_else(|| panic!("{title} in manifest")).to_owned()
}

/// Every entity change row and every live attribute row: what must not move when a change is refused.
fn snapshot(doc: &Document) -> (i64, Vec<(String, String, String, i64)>) {
    doc.read(|c| {
        let max: i64 = c.query_row("SELECT COALESCE(MAX(id), 0) FROM entity_changes", [], |r| r.get(0))?;
        let mut stmt = c.prepare("SELECT attributeId, name, value, isDeleted FROM attributes ORDER BY attributeId")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<Result<_, _>>()?;
        Ok((max, rows))
    })
    .unwrap()
}

/// The entity changes whose stored hash differs from the row's: the fixture has a few by its README's
/// known quirks (none of them attributes), and no change here may add one.
fn mismatched_changes(doc: &Document) -> Vec<(String, String)> {
    let mismatches = doc.read(|c| consistency::hash_mismatches(c)).unwrap();
    mismatches.into_iter().map(|m| (m.change.entity_name, m.change.entity_id)).collect()
}

/// The entity change of `attribute_id` as (isErased, isSynced); its hash must be the row's.
fn change_of(doc: &Document, attribute_id: &str) -> (i64, i64) {
    let (erased, synced, hash): (i64, i64, String) = doc
        .read(|c| {
            Ok(c.query_row(
                "SELECT isErased, isSynced, hash FROM entity_changes WHERE entityName = 'attributes' AND entityId = ?1",
                [attribute_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .unwrap();
    let recomputed = doc.read(|c| consistency::recompute_hash(c, "attributes", attribute_id)).unwrap();
    assert_eq!(recomputed.as_deref(), Some(hash.as_str()), "hash of attribute {attribute_id}");
    (erased, synced)
}

fn owned<'a>(attrs: &'a NoteAttributes, name: &str) -> &'a app::attributes::api::AttributeChip {
    attrs.owned.iter().find(|a| a.name == name).unwrap_or_else(|| panic!("no owned {name} in {attrs:?}"))
}

#[test]
fn lists_owned_and_inherited_apart_on_the_fixture() {
    let (_dir, _doc, port) = open_copy();
    let roles = &manifest()["roles"];
    let root_id = roles["inheritableLabel"]["noteId"].as_str().unwrap();
    assert_eq!(root_id, note("Fixture Notebook"));

    let root = port.attributes(root_id).unwrap();
    let project = owned(&root, "project");
    assert_eq!(project.attribute_id, roles["inheritableLabel"]["attributeId"].as_str().unwrap());
    assert_eq!((project.kind, project.value.as_str(), project.is_inheritable), (AttributeKind::Label, "trilium-fixture", true));
    assert!(root.inherited.iter().all(|i| i.attribute.name != "project"), "owned is not also inherited");

    // A grandchild has it too, inherited from the Fixture Notebook, and does not own it.
    let pancakes = port.attributes(&note("Pancakes")).unwrap();
    assert!(pancakes.owned.iter().all(|a| a.name != "project"));
    let inherited = pancakes.inherited.iter().find(|i| i.attribute.name == "project").expect("inherited project");
    assert_eq!(inherited.from_note_id, root_id);
    assert_eq!(inherited.from_title, "Fixture Notebook");
    assert_eq!(inherited.attribute.value, "trilium-fixture");
    assert!(pancakes.tree_levels_changed.is_empty());

    // The relation shows its target's title.
    let relation = &roles["relation"];
    let kyoto = port.attributes(relation["noteId"].as_str().unwrap()).unwrap();
    let see_also = owned(&kyoto, "seeAlso");
    assert_eq!(see_also.kind, AttributeKind::Relation);
    assert_eq!(see_also.value, relation["target"].as_str().unwrap());
    assert_eq!(see_also.target_title.as_deref(), Some("Ramen 🍜"));

    assert!(matches!(port.attributes("noSuchNote1"), Err(AppError::NotFound(_))));
}

#[test]
fn create_update_delete_write_exact_entity_changes() {
    let (_dir, doc, port) = open_copy();
    let quirks = mismatched_changes(&doc);
    let id = note("Pancakes");
    let target = note("Guacamole");

    let after = port.create(&id, AttributeKind::Label, "course", "breakfast", false).unwrap();
    let course = owned(&after, "course").clone();
    assert_eq!((course.value.as_str(), course.is_inheritable), ("breakfast", false));
    assert_eq!(change_of(&doc, &course.attribute_id).0, 0);

    let after = port.create(&id, AttributeKind::Relation, "servedWith", &target, true).unwrap();
    let served = owned(&after, "servedWith").clone();
    assert_eq!(served.target_title.as_deref(), Some("Guacamole"));
    assert!(served.is_inheritable);
    // New attributes go last.
    let names: Vec<&str> = after.owned.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(&names[names.len() - 2..], ["course", "servedWith"]);

    // A new value keeps the attribute; a new name replaces it (Trilium: the name is part of its identity).
    let after = port.update(&id, &course.attribute_id, "course", "brunch", true).unwrap();
    let updated = owned(&after, "course");
    assert_eq!((updated.attribute_id.as_str(), updated.value.as_str(), updated.is_inheritable), (course.attribute_id.as_str(), "brunch", true));
    let after = port.update(&id, &course.attribute_id, "meal", "brunch", true).unwrap();
    let renamed = owned(&after, "meal").clone();
    assert_ne!(renamed.attribute_id, course.attribute_id);
    assert!(after.owned.iter().all(|a| a.name != "course"));

    let after = port.delete(&id, &renamed.attribute_id).unwrap();
    assert!(after.owned.iter().all(|a| a.name != "meal"));
    let deleted: bool = doc
        .read(|c| Ok(c.query_row("SELECT isDeleted FROM attributes WHERE attributeId = ?1", [&renamed.attribute_id], |r| r.get(0))?))
        .unwrap();
    assert!(deleted, "deleted as Trilium does: the row stays, marked deleted, and syncs");
    for attribute_id in [&course.attribute_id, &served.attribute_id, &renamed.attribute_id] {
        assert_eq!(change_of(&doc, attribute_id).1, 1, "synced change for {attribute_id}");
    }
    assert_eq!(mismatched_changes(&doc), quirks);

    assert!(after.tree_levels_changed.is_empty(), "no change the tree shows");
    // The tree reloads the parents' level for an icon, the note's own level for a sorting label.
    let after = port.create_from_text(&id, "#iconClass=\"bx bx-food-menu\"").unwrap();
    assert_eq!(after.tree_levels_changed, vec![note("Recipes")]);
    let icon = owned(&after, "iconClass").attribute_id.clone();
    assert_eq!(port.delete(&id, &icon).unwrap().tree_levels_changed, vec![note("Recipes")]);
    let after = port.create(&id, AttributeKind::Label, "sorted", "", false).unwrap();
    assert_eq!(after.tree_levels_changed, vec![id.clone()]);
    // An inheritable label added to a parent shows on its child as inherited.
    let recipes = note("Recipes");
    port.create(&recipes, AttributeKind::Label, "cuisine", "mixed", true).unwrap();
    let pancakes = port.attributes(&id).unwrap();
    let cuisine = pancakes.inherited.iter().find(|i| i.attribute.name == "cuisine").expect("inherited cuisine");
    assert_eq!((cuisine.from_note_id.as_str(), cuisine.from_title.as_str()), (recipes.as_str(), "Recipes"));
}

#[test]
fn text_syntax_parses_as_trilium_writes_it() {
    let parsed = text::parse(
        r#"#done #course=breakfast #project(inheritable)=x  #title="two words" #esc=a\ b #empty="" ~seeAlso=@abc123 ~up(inheritable)=#root/p/q/target1 ~bare=xyz"#,
    )
    .unwrap();
    let got: Vec<(DomainKind, &str, &str, bool)> =
        parsed.iter().map(|a| (a.kind, a.name.as_str(), a.value.as_str(), a.is_inheritable)).collect();
    assert_eq!(
        got,
        [
            (DomainKind::Label, "done", "", false),
            (DomainKind::Label, "course", "breakfast", false),
            (DomainKind::Label, "project", "x", true),
            (DomainKind::Label, "title", "two words", false),
            (DomainKind::Label, "esc", "a b", false),
            (DomainKind::Label, "empty", "", false),
            (DomainKind::Relation, "seeAlso", "abc123", false),
            (DomainKind::Relation, "up", "target1", true),
            (DomainKind::Relation, "bare", "xyz", false),
        ]
    );
    assert!(text::parse("   ").unwrap().is_empty());
    for bad in ["plain", "#a=", "~rel", "#a(inherit)", "#a=\"open", "= #a", "#a ( )"] {
        let e = text::parse(bad).expect_err(bad);
        assert!(!e.0.is_empty(), "{bad}");
    }
}

#[test]
fn text_syntax_creates_every_attribute_in_one_change() {
    let (_dir, doc, port) = open_copy();
    let quirks = mismatched_changes(&doc);
    let id = note("Sauerkraut");
    let target = note("München");
    let after = port.create_from_text(&id, &format!("#diet=vegan #shelfLife(inheritable)=\"6 months\" ~origin=@{target}")).unwrap();
    assert_eq!(owned(&after, "diet").value, "vegan");
    for a in &after.owned {
        assert_eq!(change_of(&doc, &a.attribute_id), (0, 1));
    }
    let shelf = owned(&after, "shelfLife");
    assert_eq!((shelf.value.as_str(), shelf.is_inheritable), ("6 months", true));
    let origin = owned(&after, "origin");
    assert_eq!((origin.kind, origin.target_title.as_deref()), (AttributeKind::Relation, Some("München")));
    assert_eq!(mismatched_changes(&doc), quirks);
}

#[test]
fn bad_input_is_refused_with_a_message_and_writes_nothing() {
    let (_dir, doc, port) = open_copy();
    let quirks = mismatched_changes(&doc);
    assert!(quirks.iter().all(|(entity, _)| entity != "attributes"), "{quirks:?}");
    let id = note("Tarte Tatin");
    let before = snapshot(&doc);
    let invalid = |r: Result<NoteAttributes, AppError>| match r {
        Err(AppError::Invalid(message)) => message,
        other => panic!("expected Invalid, got {other:?}"),
    };
    let message = invalid(port.create(&id, AttributeKind::Label, "bad name", "x", false));
    assert!(message.contains("bad name") && message.contains("alphanumeric"), "{message}");
    invalid(port.create(&id, AttributeKind::Label, "", "x", false));
    invalid(port.create(&id, AttributeKind::Label, "a/b", "x", false));
    invalid(port.create(&id, AttributeKind::Relation, "to", "noSuchNote1", false));
    // One bad attribute in the text refuses all of it: the good one before it is not written either.
    let message = invalid(port.create_from_text(&id, "#fine=1 #no-dash"));
    assert!(message.contains("no-dash"), "{message}");
    invalid(port.create_from_text(&id, "#fine=1 ~dangling=@noSuchNote1"));
    invalid(port.create_from_text(&id, "fine"));
    invalid(port.create_from_text(&id, ""));

    // Owned attributes only: the inherited #project cannot be changed or deleted through a child.
    let project = manifest()["roles"]["inheritableLabel"]["attributeId"].as_str().unwrap().to_owned();
    // A refusal (NotAllowed in the domain's terms; the UI maps it to 403 or 400) that says where to go.
    let elsewhere = |r: Result<NoteAttributes, AppError>| match r {
        Err(AppError::Forbidden(m) | AppError::Invalid(m)) => assert!(m.contains("another note"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    };
    elsewhere(port.update(&id, &project, "project", "hijacked", true));
    elsewhere(port.delete(&id, &project));
    assert!(matches!(port.delete(&id, "noSuchAttr1"), Err(AppError::NotFound(_))));
    assert!(matches!(port.create("noSuchNote1", AttributeKind::Label, "x", "", false), Err(AppError::NotFound(_))));
    // A rename to a bad name leaves the attribute as it was.
    let root = note("Fixture Notebook");
    invalid(port.update(&root, &project, "pro ject", "x", true));

    assert_eq!(snapshot(&doc), before, "refusals wrote nothing");
    assert_eq!(mismatched_changes(&doc), quirks);
}

#[test]
fn relation_targets_are_found_by_title() {
    let (_dir, _doc, port) = open_copy();
    let hits = port.find_notes("ramen").unwrap();
    let ramen = hits.iter().find(|h| h.note_id == note("Ramen 🍜")).expect("Ramen found without regard to case");
    assert!(ramen.parent_title.is_some());
    // A prefix match ranks before a match inside the title.
    let hits = port.find_notes("S").unwrap();
    assert!(hits.len() <= app::attributes::api::NOTE_HITS_LIMIT);
    assert!(hits[0].title.to_lowercase().starts_with('s'), "{hits:?}");
    // LIKE's wildcards are literal; protected notes (ciphertext titles) and the hidden subtree never show.
    assert!(port.find_notes("%").unwrap().is_empty());
    assert!(port.find_notes("_").unwrap().iter().all(|h| h.title.contains('_')));
    let protected = manifest()["roles"]["protectedNote"].as_str().unwrap().to_owned();
    assert!(port.find_notes(&protected).unwrap().is_empty(), "a protected note is not offered by id either");
    assert!(port.find_notes("Options").unwrap().iter().all(|h| !h.note_id.starts_with('_')));
    assert!(port.find_notes("  ").unwrap().is_empty());
    // A note id finds that note.
    let by_id = port.find_notes(&note("Lisbon")).unwrap();
    assert_eq!(by_id[0].title, "Lisbon");
}

#[test]
fn title_search_is_fast_at_100_000_notes() {
    let dir = tempfile::tempdir().unwrap();
    let doc = new_document(dir.path());
    // Bulk rows straight into the table: only the search's speed is measured here.
    doc.write(&source(), |tx| {
        let mut stmt = tx.conn().prepare(
            "INSERT INTO notes (noteId, title, type, mime, blobId, isProtected, isDeleted, dateCreated, dateModified, utcDateCreated, utcDateModified)
             VALUES (?1, ?2, 'text', 'text/html', '', 0, 0, '', '', '', '')",
        )?;
        for i in 0..100_000 {
            stmt.execute(rusqlite::params![format!("bulk{i:07}"), format!("Bulk note number {i}")])?;
        }
        Ok(())
    })
    .unwrap();
    let port = DocumentAttributes::new(doc.clone(), InstanceId::from("testInstance"));
    port.find_notes("number 99999").unwrap();
    for (query, expected) in [("number 4242", 11), ("bulk", 15)] {
        let started = std::time::Instant::now();
        let hits = port.find_notes(query).unwrap();
        let took = started.elapsed();
        eprintln!("title search {query:?} at 100,000 notes: {took:?}");
        assert_eq!(hits.len(), expected, "{hits:?}");
        assert!(took < std::time::Duration::from_millis(300), "title search {query:?} took {took:?}");
    }
    assert_eq!(port.find_notes("number 4242").unwrap()[0].title, "Bulk note number 4242");
}

/// Over HTTP as the page calls them: a session and the CSRF token are required, and without them
/// nothing is written; with them the kind and flags arrive as typed.
#[tokio::test(flavor = "multi_thread")]
async fn server_functions_need_a_session_and_the_csrf_token() {
    use crate::auth::Browser;
    use reqwest::StatusCode;

    let hub = crate::cluster::Node::hub().await;
    let note_id = hub.create_note("root", "Attributes over HTTP", "<p>x</p>");
    let browser = Browser::logged_in(&hub).await;
    let form = [("note_id", note_id.as_str()), ("kind", "label"), ("name", "viaHttp"), ("value", "1"), ("is_inheritable", "true")];
    let post = |csrf: Option<&str>, http: &reqwest::Client| {
        let mut request = http.post(format!("{}/ui/attribute_add", hub.url())).form(&form);
        if let Some(token) = csrf {
            request = request.header("X-CSRF-Token", token);
        }
        request.send()
    };
    let before = snapshot(hub.document());
    assert_eq!(post(None, &reqwest::Client::new()).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(post(None, &browser.http).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(post(Some("forged"), &browser.http).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(snapshot(hub.document()), before, "refused calls wrote nothing");

    let response = post(Some(&browser.csrf), &browser.http).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let after: NoteAttributes = response.json().await.unwrap();
    let added = owned(&after, "viaHttp");
    assert_eq!((added.kind, added.value.as_str(), added.is_inheritable), (AttributeKind::Label, "1", true));

    // A refusal answers 400 with the message the page shows.
    let response = browser
        .http
        .post(format!("{}/ui/attribute_add_text", hub.url()))
        .header("X-CSRF-Token", &browser.csrf)
        .form(&[("note_id", note_id.as_str()), ("text", "#no/slash")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: AppError = response.json().await.unwrap();
    assert!(matches!(error, AppError::Invalid(ref m) if m.contains("no/slash")), "{error:?}");
}
