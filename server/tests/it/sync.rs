//! A hub and two clients as real servers: changes travel, conflicts converge and keep the loser,
//! versions are checked, damage is found.
use std::time::Duration;

use canopy::db::{deletion, tree, ChangeSource};
use canopy::entities::{self, Attribute};

use crate::cluster::{eventually, Node};

async fn cluster() -> (Node, Node, Node) {
    let hub = Node::hub().await;
    let a = Node::client_of(&hub).await;
    let b = Node::client_of(&hub).await;
    a.sync().await;
    b.sync().await;
    (hub, a, b)
}

/// a → hub → b, by explicit cycles (the automatic triggers are tested separately).
async fn relay(a: &Node, b: &Node) {
    a.sync().await;
    b.sync().await;
}

fn assert_converged(nodes: &[&Node]) {
    let first = nodes[0].sector_hashes();
    for node in &nodes[1..] {
        assert_eq!(node.sector_hashes(), first, "sector hashes differ");
    }
    for node in nodes {
        let findings = canopy::sync::check::deep_check(node.document()).unwrap();
        assert!(findings.is_empty(), "deep check found {findings:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_change_reaches_the_other_client() {
    let (hub, a, b) = cluster().await;

    // create
    let parent = a.create_note("root", "Projects", "<p>all projects</p>");
    let child = a.create_note(&parent, "Canopy", "<p>v1</p>");
    relay(&a, &b).await;
    assert_eq!(b.note(&child).unwrap().title, "Canopy");
    assert_eq!(b.content(&child).as_deref(), Some("<p>v1</p>"));

    // edit title and content
    a.set_title(&child, "Canopy (sync)");
    a.set_content(&child, "<p>v2 🌳</p>");
    relay(&a, &b).await;
    assert_eq!(b.note(&child).unwrap().title, "Canopy (sync)");
    assert_eq!(b.content(&child).as_deref(), Some("<p>v2 🌳</p>"));

    // attribute
    let source = ChangeSource::new(a.instance_id());
    let attribute_id = a
        .document()
        .write(&source, |tx| {
            let attribute = Attribute {
                attribute_id: canopy::hashing::new_entity_id(),
                note_id: child.clone(),
                attr_type: "label".into(),
                name: "status".into(),
                value: "active".into(),
                position: 10,
                utc_date_modified: tx.utc_now(),
                is_deleted: false,
                delete_id: None,
                is_inheritable: false,
            };
            entities::save(tx, &attribute)?;
            Ok(attribute.attribute_id)
        })
        .unwrap();
    relay(&a, &b).await;
    let on_b: Attribute = b.document().read(|c| entities::get(c, &attribute_id)).unwrap();
    assert_eq!((on_b.name.as_str(), on_b.value.as_str()), ("status", "active"));

    // move under another parent
    let other = a.create_note("root", "Archive", "");
    let branch_id = a
        .document()
        .read(|c| Ok(c.query_row("SELECT branchId FROM branches WHERE noteId = ?1", [&child], |r| r.get::<_, String>(0))?))
        .unwrap();
    a.document().write(&source, |tx| tree::move_to_parent(tx, &branch_id, &other).map(|_| ())).unwrap();
    relay(&a, &b).await;
    let parents_on_b: Vec<String> = b
        .document()
        .read(|c| {
            let mut stmt = c.prepare("SELECT parentNoteId FROM branches WHERE noteId = ?1 AND isDeleted = 0")?;
            let rows = stmt.query_map([&child], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .unwrap();
    assert_eq!(parents_on_b, vec![other.clone()]);

    // delete, then undelete
    a.document().write(&source, |tx| deletion::delete_note(tx, &other).map(|_| ())).unwrap();
    relay(&a, &b).await;
    assert!(b.note(&other).unwrap().is_deleted);
    assert!(b.note(&child).unwrap().is_deleted, "the cascade reaches the child");
    a.document().write(&source, |tx| deletion::undelete_note(tx, &other).map(|_| ())).unwrap();
    relay(&a, &b).await;
    assert!(!b.note(&other).unwrap().is_deleted);
    assert!(!b.note(&child).unwrap().is_deleted);

    // erase: delete again and erase at once; tombstones travel, rows disappear
    a.document().write(&source, |tx| deletion::delete_note(tx, &parent).map(|_| ())).unwrap();
    a.document().write(&source, |tx| deletion::erase_deleted_entities(tx, Some(0))).unwrap();
    relay(&a, &b).await;
    assert!(a.note(&parent).is_none());
    assert!(b.note(&parent).is_none(), "erased on the other client too");
    let erased_flag: i64 = b
        .document()
        .read(|c| Ok(c.query_row("SELECT isErased FROM entity_changes WHERE entityName = 'notes' AND entityId = ?1", [&parent], |r| r.get(0))?))
        .unwrap();
    assert_eq!(erased_flag, 1);

    a.sync().await;
    assert_converged(&[&hub, &a, &b]);
    for node in [&a, &b] {
        let check = node.running().sync.status().hash_check.expect("a hash check ran");
        assert!(check.passed, "{check:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_reaches_the_other_client_without_anyone_asking() {
    let (_hub, a, b) = cluster().await;
    // No sync_now from here on: push-on-write on a, the hub's notification on b.
    let note = a.create_note("root", "Pushed on write", "<p>hello</p>");
    let arrived = eventually(Duration::from_secs(10), || b.note(&note).is_some()).await;
    assert!(arrived, "the note did not reach the other client by itself");
    a.set_content(&note, "<p>hello again</p>");
    let arrived = eventually(Duration::from_secs(10), || b.content(&note).as_deref() == Some("<p>hello again</p>")).await;
    assert!(arrived, "the edit did not reach the other client by itself");
}

/// Edits one client makes while it cannot reach the hub: the instance is stopped and its document
/// edited as the offline process would, then it starts again.
async fn edit_offline(node: &mut Node, note_id: &str, html: &str) {
    node.stop().await;
    let document = canopy::db::Document::open_existing(&node.data_dir().join("document.db")).unwrap();
    let source = ChangeSource::new(node.instance_id());
    document
        .write(&source, |tx| tree::update_note_content(tx, note_id, entities::BlobContent::Text(html.into())).map(|_| ()))
        .unwrap();
    drop(document);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hard_case_keeps_the_earlier_text_everywhere() {
    let (hub, a, mut b) = cluster().await;
    let note = a.create_note("root", "Shared", "<p>base</p>");
    relay(&a, &b).await;
    a.sync().await;

    // B goes offline; A edits and syncs; B edits later, offline, then comes back.
    b.stop().await;
    a.set_content(&note, "<p>from A</p>");
    a.sync().await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    edit_offline(&mut b, &note, "<p>from B, later</p>").await;
    b.restart().await;
    b.sync().await;
    a.sync().await;
    b.sync().await;

    for node in [&hub, &a, &b] {
        assert_eq!(node.content(&note).as_deref(), Some("<p>from B, later</p>"), "the later edit wins");
        let revisions = node.revision_texts(&note);
        assert!(
            revisions.iter().any(|(_, text)| text == "<p>from A</p>"),
            "A's overwritten text must be in the revisions: {revisions:?}"
        );
    }
    assert_converged(&[&hub, &a, &b]);
    let conflicts = hub.running().sync.status().recent_conflicts;
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_offline_edit_loses_but_is_kept() {
    let (hub, a, mut b) = cluster().await;
    let note = a.create_note("root", "Shared", "<p>base</p>");
    relay(&a, &b).await;

    // B edits first (offline), A edits later and syncs first; B's push is the older one.
    edit_offline(&mut b, &note, "<p>from B, earlier</p>").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.set_content(&note, "<p>from A, later</p>");
    a.sync().await;
    b.restart().await;
    b.sync().await;
    a.sync().await;

    for node in [&hub, &a, &b] {
        assert_eq!(node.content(&note).as_deref(), Some("<p>from A, later</p>"));
        let revisions = node.revision_texts(&note);
        assert!(revisions.iter().any(|(_, text)| text == "<p>from B, earlier</p>"), "{revisions:?}");
    }
    assert_converged(&[&hub, &a, &b]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sequential_edits_add_no_revisions() {
    let (hub, a, b) = cluster().await;
    let note = a.create_note("root", "Taking turns", "<p>1</p>");
    relay(&a, &b).await;
    b.set_content(&note, "<p>2</p>");
    relay(&b, &a).await;
    a.set_content(&note, "<p>3</p>");
    relay(&a, &b).await;
    b.set_title(&note, "Taking turns, renamed");
    relay(&b, &a).await;
    for node in [&hub, &a, &b] {
        assert_eq!(node.content(&note).as_deref(), Some("<p>3</p>"));
        assert!(node.revision_texts(&note).is_empty(), "no revisions for sequential edits");
    }
    assert!(hub.running().sync.status().recent_conflicts.is_empty());
    assert_converged(&[&hub, &a, &b]);
}
