//! The sync indicator's and notices' port on real instances (a hub and clients over HTTP on
//! 127.0.0.1): the six states, failures by kind, and conflicts naming the winning instance.
use std::time::Duration;

use app::sync::api::{ssr::SyncPort, FailureKind, IndicatorState};
use canopy::db::{tree, ChangeSource};
use canopy::ui::syncui::DocumentSync;

use crate::cluster::Node;

fn port(node: &Node) -> DocumentSync {
    let running = node.running();
    DocumentSync {
        document: running.document.clone(),
        instance_id: node.instance_id(),
        sync: running.sync.clone(),
        engine: running.sync_engine.clone(),
    }
}

/// The port's calls block (as they do on the server's blocking pool).
async fn overview(node: &Node) -> app::sync::api::SyncStatusView {
    let port = port(node);
    tokio::task::spawn_blocking(move || port.overview()).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_indicator_follows_the_engine_and_names_an_unreachable_hub() {
    let mut hub = Node::hub().await;
    let client = Node::client_of(&hub).await;
    client.sync().await;
    let status = overview(&client).await;
    assert_eq!(status.state, IndicatorState::ConnectedNoChanges, "{status:?}");
    assert_eq!(status.unpushed_changes, 0);
    assert!(status.last_sync.is_some());
    assert_eq!(status.sync_server_host.as_deref(), Some(hub.url().as_str()));
    assert!(status.failure.is_none() && status.hash_failure.is_none() && status.conflicts.is_empty());

    // The hub shows itself as the sync server, with the client it has seen.
    let hub_status = overview(&hub).await;
    assert_eq!(hub_status.state, IndicatorState::SyncServer);
    assert!(hub_status.sync_server_host.is_none());
    let me = client.instance_id().to_string();
    assert!(hub_status.clients_seen.iter().any(|c| c.instance_id == me), "{:?}", hub_status.clients_seen);

    // The hub goes away; a local write is then a change not pushed, and "sync now" fails naming it.
    let hub_url = hub.url();
    hub.stop().await;
    let source = ChangeSource::new(client.instance_id());
    client
        .document()
        .write(&source, |tx| Ok(tree::create_note(tx, tree::NewNote::text("root", "Written offline", "<p>x</p>"))?.0.note_id))
        .unwrap();
    let sync_port = port(&client);
    let outcome = tokio::task::spawn_blocking(move || sync_port.sync_now()).await.unwrap().unwrap();
    assert!(!outcome.success, "{outcome:?}");
    assert!(outcome.message.contains(&hub_url), "{outcome:?}");
    let status = overview(&client).await;
    assert_eq!(status.state, IndicatorState::DisconnectedWithChanges, "{status:?}");
    assert!(status.unpushed_changes >= 1);
    let failure = status.failure.expect("the failure is shown");
    assert_eq!(failure.kind, FailureKind::Unreachable);
    assert!(failure.message.contains(&hub_url), "{failure:?}");
    assert!(failure.at.ends_with('Z'), "the time is split off: {failure:?}");

    // Back: the change goes out and the state returns to connected, without changes.
    hub.restart().await;
    client.sync().await;
    let status = overview(&client).await;
    assert_eq!(status.state, IndicatorState::ConnectedNoChanges, "{status:?}");
    assert!(status.failure.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_edit_is_noticed_only_where_it_was_made_and_names_the_winner() {
    let hub = Node::hub().await;
    let a = Node::client_of(&hub).await;
    let mut b = Node::client_of(&hub).await;
    a.sync().await;
    b.sync().await;
    let note = a.create_note("root", "Contested", "<p>base</p>");
    a.sync().await;
    b.sync().await;

    // A edits and syncs; B, offline, edits later; B's edit wins everywhere and A's is kept.
    b.stop().await;
    a.set_content(&note, "<p>from A</p>");
    a.sync().await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    {
        let document = canopy::db::Document::open_existing(&b.data_dir().join("document.db")).unwrap();
        let source = ChangeSource::new(b.instance_id());
        document
            .write(&source, |tx| {
                tree::update_note_content(tx, &note, canopy::entities::BlobContent::Text("<p>from B</p>".into())).map(|_| ())
            })
            .unwrap();
    }
    b.restart().await;
    b.sync().await;
    a.sync().await;
    assert_eq!(a.content(&note).as_deref(), Some("<p>from B</p>"));

    let on_a = overview(&a).await;
    assert_eq!(on_a.conflicts.len(), 1, "{:?}", on_a.conflicts);
    let conflict = &on_a.conflicts[0];
    assert_eq!(conflict.note_id, note);
    assert_eq!(conflict.note_title, "Contested");
    assert_eq!(conflict.winner_instance_id.as_deref(), Some(b.instance_id().to_string().as_str()));
    let revision = conflict.revision_id.clone().expect("the loser is kept");
    let kept: String = a
        .document()
        .read(|c| {
            Ok(c.query_row(
                "SELECT CAST(b.content AS TEXT) FROM revisions r JOIN blobs b ON b.blobId = r.blobId WHERE r.revisionId = ?1",
                [&revision],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(kept, "<p>from A</p>", "the link opens A's own text");
    // B's edit won, and the hub's version lost to a client's edit, not to one made on the hub.
    assert!(overview(&b).await.conflicts.is_empty());
    assert!(overview(&hub).await.conflicts.is_empty());
    let on_hub = hub.document().read(|c| canopy::sync::apply::recorded_conflicts(c, 10)).unwrap();
    assert!(!on_hub.is_empty(), "the hub recorded the conflict it resolved");
    assert_eq!(on_hub[0].loser_instance_id.as_deref(), Some(a.instance_id().to_string().as_str()));
}

#[test]
fn a_conflict_table_of_an_older_canopy_stays_readable_and_gains_the_instances() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("document.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE canopy_sync_conflicts (
             id INTEGER PRIMARY KEY AUTOINCREMENT, noteId TEXT NOT NULL, winnerDate TEXT NOT NULL,
             loserDate TEXT NOT NULL, revisionId TEXT, utcDateDetected TEXT NOT NULL);
         INSERT INTO canopy_sync_conflicts (noteId, winnerDate, loserDate, revisionId, utcDateDetected)
             VALUES ('oldNote00001', '2026-01-02 00:00:00.000Z', '2026-01-01 00:00:00.000Z', 'rev000000001', '2026-01-02 00:00:01.000Z');",
    )
    .unwrap();
    let old = canopy::sync::apply::recorded_conflicts(&conn, 10).unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].note_id, "oldNote00001");
    assert_eq!((old[0].winner_instance_id.clone(), old[0].incoming_won), (None, None));
    canopy::sync::apply::ensure_conflict_table(&conn).unwrap();
    canopy::sync::apply::ensure_conflict_table(&conn).unwrap(); // twice: the columns are added once
    let after = canopy::sync::apply::recorded_conflicts(&conn, 10).unwrap();
    assert_eq!(after, old, "old rows read the same after the columns were added");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_secret_is_a_credentials_failure() {
    let hub = Node::hub().await;
    let mut client = Node::client_of(&hub).await;
    client.sync().await;
    client.stop().await;
    {
        // As if the client held another document: its secret no longer matches the hub's.
        let conn = rusqlite::Connection::open(client.data_dir().join("document.db")).unwrap();
        conn.execute("UPDATE options SET value = 'not-the-hub-secret' WHERE name = 'documentSecret'", []).unwrap();
    }
    client.restart().await;
    let sync_port = port(&client);
    let outcome = tokio::task::spawn_blocking(move || sync_port.sync_now()).await.unwrap().unwrap();
    assert!(!outcome.success);
    let failure = overview(&client).await.failure.expect("the failure is shown");
    assert_eq!(failure.kind, FailureKind::Credentials, "{failure:?}");
    assert!(failure.message.contains("credentials are incorrect"), "{failure:?}");
}
