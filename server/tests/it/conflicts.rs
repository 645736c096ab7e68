//! Conflicts only where there was one, and the loser always kept: a hub and two clients as real
//! servers. A client that missed versions while it was away, that was made from a copy of the hub's
//! document, or that only cloned a child under the note, makes no conflict of sequential edits; a
//! concurrent edit that kept the content the hub has since overwritten still finds that content.
use std::time::Duration;

use canopy::db::{tree, ChangeSource, Document};
use canopy::entities::BlobContent;
use canopy::sync::apply::recorded_conflicts;
use rusqlite::OptionalExtension;

use crate::cluster::Node;

/// Hub and two clients made from copies of the hub's document; `before_copy` runs on the hub first
/// (notes that exist in every copy, that the hub never sent anyone). Neither client has synced yet.
async fn cluster_from_copies(before_copy: impl FnOnce(&Node) -> Vec<String>) -> (Node, Node, Node, Vec<String>) {
    let hub = Node::hub().await;
    let notes = before_copy(&hub);
    let a = Node::client_of(&hub).await;
    let b = Node::client_of(&hub).await;
    (hub, a, b, notes)
}

fn conflicts_on(node: &Node) -> Vec<canopy::sync::apply::RecordedConflict> {
    node.document().read(|c| recorded_conflicts(c, 1000)).unwrap()
}

/// No instance recorded a conflict or kept a revision of `note`.
fn assert_no_conflict(nodes: &[(&str, &Node)], note: &str) {
    for (name, node) in nodes {
        assert_eq!(conflicts_on(node), vec![], "{name} recorded a conflict");
        assert_eq!(node.revision_texts(note), vec![], "{name} kept a revision of a sequential edit");
        assert!(node.running().sync.status().recent_conflicts.is_empty(), "{name} reported a conflict");
    }
}

fn assert_hashes_equal(nodes: &[&Node]) {
    let first = nodes[0].sector_hashes();
    for node in &nodes[1..] {
        assert_eq!(node.sector_hashes(), first, "sector hashes differ");
    }
}

/// Writes to a stopped node's document as its own (offline) process would.
fn offline_write(node: &Node, write: impl FnOnce(&mut canopy::db::WriteTx<'_>) -> canopy::db::SqlResult<()>) {
    assert!(node.instance.is_none(), "stop the node first");
    let document = Document::open_existing(&node.data_dir().join("document.db")).unwrap();
    document.write(&ChangeSource::new(node.instance_id()), write).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_missed_versions_while_away_makes_no_conflict() {
    let hub = Node::hub().await;
    let a = Node::client_of(&hub).await;
    let mut b = Node::client_of(&hub).await;
    let note = a.create_note("root", "Taking turns", "<p>v1</p>");
    a.sync().await;
    b.sync().await;
    assert_eq!(b.content(&note).as_deref(), Some("<p>v1</p>"));

    b.stop().await;
    a.set_content(&note, "<p>v2 from a</p>");
    a.sync().await;
    hub.set_content(&note, "<p>v3 from the hub</p>");
    a.sync().await;
    a.set_title(&note, "Taking turns, renamed");
    a.set_content(&note, "<p>v4 from a</p>");
    a.sync().await;

    b.restart().await;
    b.sync().await;
    a.sync().await;
    for (name, node) in [("hub", &hub), ("a", &a), ("b", &b)] {
        assert_eq!(node.content(&note).as_deref(), Some("<p>v4 from a</p>"), "{name}");
        assert_eq!(node.note(&note).unwrap().title, "Taking turns, renamed", "{name}");
    }
    assert_no_conflict(&[("hub", &hub), ("a", &a), ("b", &b)], &note);
    assert_hashes_equal(&[&hub, &a, &b]);
}

/// The hub took a push whose answer the client never recorded (either was killed in between): the
/// client still names the version before as the parent of its next edit. The hub knows the client
/// held its current version, so that edit is sequential: no revision anywhere.
#[tokio::test(flavor = "multi_thread")]
async fn an_edit_after_a_push_whose_answer_was_lost_makes_no_conflict() {
    let hub = Node::hub().await;
    let mut a = Node::client_of(&hub).await;
    let note = a.create_note("root", "Pushed, answer lost", "<p>v1</p>");
    a.sync().await;
    a.stop().await;
    let recorded = |node: &Node| {
        let conn = rusqlite::Connection::open(node.data_dir().join("document.db")).unwrap();
        let exchanged: (String, Option<String>) = conn
            .query_row("SELECT syncedHash, parentHash FROM canopy_note_sync WHERE noteId = ?1", [&note], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        let cursor: String = conn.query_row("SELECT value FROM options WHERE name = 'lastSyncedPush'", [], |r| r.get(0)).unwrap();
        (exchanged, cursor)
    };
    let before_the_push = recorded(&a);
    a.restart().await;
    a.set_content(&note, "<p>v2, taken by the hub</p>");
    a.sync().await;
    a.stop().await;
    assert_ne!(recorded(&a), before_the_push);
    let ((synced, parent), cursor) = before_the_push;
    offline_write(&a, |tx| {
        tx.conn().execute(
            "UPDATE canopy_note_sync SET syncedHash = ?2, parentHash = ?3 WHERE noteId = ?1",
            rusqlite::params![note, synced, parent],
        )?;
        tx.conn().execute("UPDATE options SET value = ?1 WHERE name = 'lastSyncedPush'", [&cursor])?;
        tree::update_note_content(tx, &note, BlobContent::Text("<p>v3, edited from v2</p>".into()))?;
        Ok(())
    });
    a.restart().await;
    a.sync().await;
    for (name, node) in [("hub", &hub), ("a", &a)] {
        assert_eq!(node.content(&note).as_deref(), Some("<p>v3, edited from v2</p>"), "{name}");
    }
    assert_no_conflict(&[("hub", &hub), ("a", &a)], &note);
    assert_hashes_equal(&[&hub, &a]);
}

/// A client pushes an edit and is killed before it records that the hub took it; meanwhile another
/// client edits the note from that version and the hub edits it again. The first client then sends
/// its old version again: the hub took it once already (it knows the client held it), so it is an
/// old version coming back, not a concurrent edit: no revision anywhere.
#[tokio::test(flavor = "multi_thread")]
async fn an_old_version_pushed_again_after_a_lost_answer_makes_no_conflict() {
    let hub = Node::hub().await;
    let mut a = Node::client_of(&hub).await;
    let b = Node::client_of(&hub).await;
    let note = a.create_note("root", "Pushed twice", "<p>v1</p>");
    a.sync().await;
    a.stop().await;
    let cursor_of = |node: &Node| -> String {
        let conn = rusqlite::Connection::open(node.data_dir().join("document.db")).unwrap();
        conn.query_row("SELECT value FROM options WHERE name = 'lastSyncedPush'", [], |r| r.get(0)).unwrap()
    };
    let before_the_push = cursor_of(&a);
    a.restart().await;
    a.set_content(&note, "<p>v2 from a, taken by the hub</p>");
    a.sync().await;
    a.stop().await;
    assert_ne!(cursor_of(&a), before_the_push);
    offline_write(&a, |tx| {
        tx.conn().execute("UPDATE options SET value = ?1 WHERE name = 'lastSyncedPush'", [&before_the_push])?;
        Ok(())
    });
    b.sync().await;
    b.set_content(&note, "<p>v3 from b, edited from v2</p>");
    b.sync().await;
    hub.set_content(&note, "<p>v4 on the hub, edited from v3</p>");
    a.restart().await;
    a.sync().await;
    b.sync().await;
    for (name, node) in [("hub", &hub), ("a", &a), ("b", &b)] {
        assert_eq!(node.content(&note).as_deref(), Some("<p>v4 on the hub, edited from v3</p>"), "{name}");
    }
    assert_no_conflict(&[("hub", &hub), ("a", &a), ("b", &b)], &note);
    assert_hashes_equal(&[&hub, &a, &b]);
}

/// The copies hold notes whose versions no instance ever exchanged: each client's ancestry of them
/// starts empty. Sequential edits on the other two, while one client has not synced since its
/// first cycle (or never), are still sequential there.
#[tokio::test(flavor = "multi_thread")]
async fn clients_made_from_copies_take_skipped_versions_as_sequential() {
    let (hub, a, mut b, notes) = cluster_from_copies(|hub| {
        vec![
            hub.create_note("root", "In every copy", "<p>original</p>"),
            hub.create_note("root", "Also in every copy", "<p>original too</p>"),
        ]
    })
    .await;
    a.sync().await;
    b.sync().await;
    b.stop().await;

    for note in &notes {
        a.set_content(note, "<p>first edit on a</p>");
        a.sync().await;
        hub.set_content(note, "<p>second edit on the hub</p>");
        a.sync().await;
    }
    b.restart().await;
    b.sync().await;
    for note in &notes {
        assert_eq!(b.content(note).as_deref(), Some("<p>second edit on the hub</p>"));
        assert_no_conflict(&[("hub", &hub), ("a", &a), ("b", &b)], note);
    }

    // And a client whose very first cycle comes after the edits.
    let (hub, a, _, notes) = cluster_from_copies(|hub| {
        vec![hub.create_note("root", "In every copy", "<p>original</p>"), hub.create_note("root", "Edited on c first", "<p>original</p>")]
    })
    .await;
    // A copy that is not yet a client: no cycle before the edits; its user edits a note meanwhile.
    let mut c = Node::copy_of(&hub, "[General]\nnoBackup=true\n").await;
    let (note, edited_on_c) = (&notes[0], &notes[1]);
    c.set_content(edited_on_c, "<p>edited on c before it ever synced</p>");
    a.set_content(note, "<p>first edit on a</p>");
    a.sync().await;
    hub.set_content(note, "<p>second edit on the hub</p>");
    a.sync().await;
    crate::cluster::write_config(c.data_dir(), &hub.url());
    c.restart().await;
    c.sync().await;
    assert_eq!(c.content(note).as_deref(), Some("<p>second edit on the hub</p>"));
    assert_no_conflict(&[("hub", &hub), ("a", &a), ("c", &c)], note);
    a.sync().await;
    assert_eq!(a.content(edited_on_c).as_deref(), Some("<p>edited on c before it ever synced</p>"));
    assert_no_conflict(&[("hub", &hub), ("a", &a), ("c", &c)], edited_on_c);

    // The copied client's own edit of a note it never exchanged is sequential at the hub too.
    c.set_content(note, "<p>third edit, on c</p>");
    c.sync().await;
    a.sync().await;
    assert_eq!(a.content(note).as_deref(), Some("<p>third edit, on c</p>"));
    assert_no_conflict(&[("hub", &hub), ("a", &a), ("c", &c)], note);
    assert_hashes_equal(&[&hub, &a, &c]);
}

/// A client that only cloned a child under a note (its only change near that note is a branch)
/// while the note was edited one edit after another elsewhere.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_only_cloned_a_child_under_a_note_makes_no_conflict_on_it() {
    let (hub, a, mut b, notes) = cluster_from_copies(|hub| {
        vec![hub.create_note("root", "Parent", "<p>original parent</p>"), hub.create_note("root", "Child", "<p>child</p>")]
    })
    .await;
    let (parent, child) = (&notes[0], &notes[1]);
    a.sync().await;
    b.sync().await;

    let source = ChangeSource::new(b.instance_id());
    b.document()
        .write_with(&source, |tx| canopy::domain::branches::clone_note(tx, child, parent, None).map(|_| ()))
        .unwrap();
    b.sync().await;
    // b away (it would otherwise pull each edit as it comes) while the others take turns.
    b.stop().await;
    for text in ["<p>parent, edit 1</p>", "<p>parent, edit 2</p>", "<p>parent, edit 3</p>"] {
        a.set_content(parent, text);
        a.sync().await;
    }
    hub.set_title(parent, "Parent, renamed on the hub");
    a.sync().await;
    b.restart().await;
    b.sync().await;
    assert_eq!(b.content(parent).as_deref(), Some("<p>parent, edit 3</p>"));
    assert_eq!(b.note(parent).unwrap().title, "Parent, renamed on the hub");
    assert_no_conflict(&[("hub", &hub), ("a", &a), ("b", &b)], parent);
    assert_hashes_equal(&[&hub, &a, &b]);
}

/// Two clients edit the same version while neither sees the other: exactly one conflict revision,
/// the same on every instance.
#[tokio::test(flavor = "multi_thread")]
async fn a_true_concurrent_edit_still_keeps_exactly_one_revision() {
    let (hub, a, mut b, notes) = cluster_from_copies(|hub| vec![hub.create_note("root", "Contended", "<p>base</p>")]).await;
    let note = &notes[0];
    a.sync().await;
    b.sync().await;
    b.stop().await;
    offline_write(&b, |tx| tree::update_note_content(tx, note, BlobContent::Text("<p>from b, earlier</p>".into())).map(|_| ()));
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.set_content(note, "<p>from a, later</p>");
    a.sync().await;
    b.restart().await;
    b.sync().await;
    a.sync().await;
    for (name, node) in [("hub", &hub), ("a", &a), ("b", &b)] {
        assert_eq!(node.content(note).as_deref(), Some("<p>from a, later</p>"), "{name}");
        let revisions: Vec<String> = node.revision_texts(note).into_iter().map(|(_, text)| text).collect();
        assert_eq!(revisions, vec!["<p>from b, earlier</p>".to_string()], "{name}: exactly the loser");
    }
    assert_eq!(conflicts_on(&hub).len(), 1, "the hub decided it once");
    assert_hashes_equal(&[&hub, &a, &b]);
}

/// The hub overwrites a note's content twice (its old blob is erased at once), while a client,
/// offline, renamed the version it held: that version's content is the blob the hub erased. The
/// conflict, whichever edit is newer, finds the loser's content and keeps it on every instance. (A
/// recorded conflict without a revision is the one that logged "the losing content … never arrived".)
async fn a_rename_of_overwritten_content(client_edits_first: bool) {
    let hub = Node::hub().await;
    let a = Node::client_of(&hub).await;
    let mut b = Node::client_of(&hub).await;
    let note = hub.create_note("root", "Original title", "<p>original content</p>");
    a.sync().await;
    b.sync().await;
    b.stop().await;

    let rename = |b: &Node| offline_write(b, |tx| tree::update_note_title(tx, &note, "Renamed on b").map(|_| ()));
    if client_edits_first {
        rename(&b);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hub.set_content(&note, "<p>hub, edit 1</p>");
    hub.set_content(&note, "<p>hub, edit 2</p>");
    a.sync().await;
    if !client_edits_first {
        tokio::time::sleep(Duration::from_millis(20)).await;
        rename(&b);
    }
    b.restart().await;
    b.sync().await;
    a.sync().await;
    b.sync().await;

    let (winner, loser) = if client_edits_first {
        (("Original title", "<p>hub, edit 2</p>"), ("Renamed on b", "<p>original content</p>"))
    } else {
        (("Renamed on b", "<p>original content</p>"), ("Original title", "<p>hub, edit 2</p>"))
    };
    for (name, node) in [("hub", &hub), ("a", &a), ("b", &b)] {
        assert_eq!(node.note(&note).unwrap().title, winner.0, "{name}");
        assert_eq!(node.content(&note).as_deref(), Some(winner.1), "{name}");
        let revisions = node.revision_texts(&note);
        assert_eq!(revisions, vec![(loser.0.to_string(), loser.1.to_string())], "{name}: the loser is kept");
        for conflict in conflicts_on(node) {
            assert!(conflict.revision_id.is_some(), "{name}: a conflict without its loser's content: {conflict:?}");
        }
    }
    assert_eq!(conflicts_on(&hub).len(), 1);
    assert_hashes_equal(&[&hub, &a, &b]);
    for (name, node) in [("a", &a), ("b", &b)] {
        let status = node.running().sync.status();
        assert!(status.hash_check.as_ref().is_some_and(|c| c.passed), "{name}: {:?}", status.hash_check);
        assert_eq!(status.repair_rounds_total, 0, "{name}: no row arrived without its blob");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_rename_of_content_the_hub_overwrote_is_kept_everywhere() {
    a_rename_of_overwritten_content(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_rename_of_content_the_hub_overwrote_wins_with_its_content_everywhere() {
    a_rename_of_overwritten_content(false).await;
}

/// The same blob made twice: a client protects and unprotects a note (its plain blob dropped, then
/// made again with new dates), the hub takes it, then drops it when the hub overwrites the note, and
/// takes the old row back with another client's concurrent version, whose text it keeps in a
/// revision. Same content, same hash, different dates: the newer row must end up everywhere.
#[tokio::test(flavor = "multi_thread")]
async fn a_blob_made_again_elsewhere_converges_to_its_newer_row() {
    const PASSWORD: &str = "protect-pass";
    let hub = Node::hub().await;
    hub.document().write(&ChangeSource::new("testSetup000"), |tx| canopy::db::password::set_password(tx, PASSWORD)).unwrap();
    let note = hub.create_note("root", "Made twice", "<p>the same text</p>");
    let mut a = Node::client_of(&hub).await;
    let mut b = Node::client_of(&hub).await;
    a.sync().await;
    b.sync().await;
    let blob_id = hub.note(&note).unwrap().blob_id.unwrap();
    a.stop().await;
    offline_write(&a, |tx| tree::update_note_title(tx, &note, "Renamed on a, concurrently").map(|_| ()));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let key = canopy::protected::unlock_key(&rusqlite::Connection::open(b.data_dir().join("document.db")).unwrap(), PASSWORD).unwrap();
    for protected in [true, false] {
        b.document()
            .write_with(&ChangeSource::new(b.instance_id().as_str()), |tx| {
                tx.set_key(Some(&key));
                canopy::domain::protected::set_protected(tx, &note, protected, false, &key).map(|_| ())
            })
            .unwrap();
    }
    b.sync().await;
    b.stop().await;
    hub.set_title(&note, "Renamed on the hub");
    hub.set_content(&note, "<p>overwritten on the hub</p>");
    a.restart().await;
    a.sync().await;
    b.restart().await;
    b.sync().await;
    a.sync().await;
    let blob_row = |node: &Node| -> Option<(String, String)> {
        let conn = rusqlite::Connection::open(node.data_dir().join("document.db")).unwrap();
        conn.query_row("SELECT dateModified, utcDateModified FROM blobs WHERE blobId = ?1", [&blob_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .unwrap()
    };
    let on_b = blob_row(&b);
    assert!(on_b.is_some(), "b keeps the blob (a revision uses it)");
    assert_eq!(blob_row(&hub), on_b, "hub and b");
    assert_eq!(blob_row(&a), on_b, "a and b");
    assert_hashes_equal(&[&hub, &a, &b]);
}
