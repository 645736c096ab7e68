//! The sync engine follows the options page: saving `syncServerHost` starts the client, saving
//! another hub retargets it, clearing the field stops it; no restart in between. Real instances.
use std::time::Duration;

use serde_json::Value;

use crate::auth::{ensure_password, Browser};
use crate::cluster::{eventually, Node};
use crate::ui_tree::call;

const NO_BACKUP: &str = "[General]\nnoBackup=true\n";

async fn save_host(browser: &Browser, host: &str) -> Value {
    // As the page sends an emptied field.
    let fields: &[(&str, &str)] = if host.is_empty() { &[("cleared", "host")] } else { &[("host", host)] };
    let (status, saved) = call(browser, "save_sync_options", fields).await;
    assert_eq!(status, 200, "{saved}");
    saved
}

fn engine_host(node: &Node) -> Option<String> {
    node.running().client().map(|c| c.host().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn saving_the_sync_server_starts_retargets_and_stops_the_engine() {
    let hub = Node::hub().await;
    // A copy of the hub's document that does not sync yet.
    let client = Node::copy_of(&hub, NO_BACKUP).await;
    ensure_password(&client);
    let browser = Browser::logged_in(&client).await;
    assert_eq!(engine_host(&client), None);

    // Saved: the engine starts at once and changes arrive without a restart or "sync now".
    let saved = save_host(&browser, &hub.url()).await;
    assert_eq!(saved["engine_host"], hub.url().as_str());
    assert_eq!(engine_host(&client).as_deref(), Some(hub.url().as_str()));
    let first = hub.create_note("root", "Made on the first hub", "<p>1</p>");
    assert!(eventually(Duration::from_secs(5), || client.note(&first).is_some()).await, "the started engine pulls");

    // The hub moves: a copy of its document on another instance; saving its address retargets.
    let moved = Node::copy_of(&hub, NO_BACKUP).await;
    let saved = save_host(&browser, &moved.url()).await;
    assert_eq!(saved["engine_host"], moved.url().as_str());
    assert_eq!(engine_host(&client).as_deref(), Some(moved.url().as_str()));
    assert_eq!(client.running().sync.status().sync_server_host.as_deref(), Some(moved.url().as_str()));
    let second = moved.create_note("root", "Made on the moved hub", "<p>2</p>");
    assert!(eventually(Duration::from_secs(5), || client.note(&second).is_some()).await, "the retargeted engine pulls");
    let local = client.create_note("root", "Made on the client", "<p>3</p>");
    assert!(eventually(Duration::from_secs(5), || moved.note(&local).is_some()).await, "the retargeted engine pushes");
    let stale = hub.create_note("root", "Made on the old hub", "<p>old</p>");

    // Cleared: the engine stops; nothing travels any more.
    let saved = save_host(&browser, "").await;
    assert_eq!(saved["engine_host"], Value::Null);
    assert_eq!(engine_host(&client), None);
    assert_eq!(client.running().sync.status().sync_server_host, None);
    let late = moved.create_note("root", "Made after the engine stopped", "<p>4</p>");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(client.note(&late).is_none(), "a stopped engine pulls nothing");
    assert!(client.note(&stale).is_none(), "the old hub is not synced with after the retarget");

    // Saved again: the same hub as before, picked up where it left off.
    save_host(&browser, &moved.url()).await;
    assert!(eventually(Duration::from_secs(5), || client.note(&late).is_some()).await, "the restarted engine catches up");
}

/// The retry waits and the Trilium hub's poll pace, as documented in the README.
#[test]
fn retries_back_off_and_polls_slow_down_when_quiet() {
    use canopy::sync::client::{poll_interval, Backoff};
    use canopy::sync::FailureKind;
    let mut backoff = Backoff::default();
    let waits: Vec<u128> = (0..5).map(|_| backoff.failed(FailureKind::Unreachable).as_millis()).collect();
    assert_eq!(waits, [250, 500, 1000, 1000, 1000]);
    assert!(backoff.failing());
    backoff.succeeded();
    assert!(!backoff.failing());
    assert_eq!(backoff.failed(FailureKind::Unreachable).as_millis(), 250, "a success starts over");
    assert_eq!(backoff.failed(FailureKind::Version), Duration::from_secs(60));
    assert_eq!(backoff.failed(FailureKind::Credentials), Duration::from_secs(60));
    let minutes = |m: u64| poll_interval(Duration::from_secs(m * 60)).as_secs();
    assert_eq!([minutes(0), minutes(1), minutes(2), minutes(9), minutes(10), minutes(29), minutes(30), minutes(600)], [1, 1, 3, 3, 10, 10, 30, 30]);
}
