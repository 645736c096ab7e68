//! The live channel (`GET /api/ui/events`) on real instances: who may open it, what an ETAPI write,
//! a UI write, a burst and a sync cycle send down it, and that it ends with its session and its server.
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::auth::{Browser, PASSWORD};
use crate::cluster::Node;

/// One server-sent event: its name and its JSON data.
#[derive(Debug, Clone)]
pub(crate) struct Sse {
    pub event: String,
    pub data: Value,
}

/// An open event stream, read event by event.
pub(crate) struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    pub async fn open(browser: &Browser) -> Stream {
        let response = browser.http.get(format!("{}/api/ui/events", browser.base)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Stream { response, buffer: String::new() }
    }

    /// The next event within `timeout`; `None` when the time ran out or the stream ended.
    pub async fn next(&mut self, timeout: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event = name.trim().to_owned();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim());
                    }
                }
                // Comments (`:`) are heartbeats.
                if !data.is_empty() {
                    return Some(Sse { event, data: serde_json::from_str(&data).unwrap_or(Value::Null) });
                }
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return None,
            }
        }
    }

    /// Events until `timeout` of quiet.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Sse> {
        let mut events = Vec::new();
        while let Some(e) = self.next(quiet).await {
            events.push(e);
        }
        events
    }

    /// Whether the server ended the stream within `timeout`.
    async fn ends_within(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }
}

fn list(event: &Sse, field: &str) -> Vec<String> {
    event.data[field].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

async fn etapi_token(node: &Node) -> String {
    crate::common::etapi_token(&node.url(), PASSWORD).await
}

async fn etapi_create(node: &Node, token: &str, parent: &str, title: &str) -> (String, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/etapi/create-note", node.url()))
        .header("Authorization", token)
        .json(&json!({"parentNoteId": parent, "title": title, "type": "text", "content": "<p>hi</p>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    (body["note"]["noteId"].as_str().unwrap().to_owned(), body["branch"]["branchId"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_channel_needs_a_session_and_ends_with_it() {
    let node = Node::hub().await;
    let anonymous = reqwest::Client::new().get(format!("{}/api/ui/events", node.url())).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "no stream without a session");

    let browser = Browser::logged_in(&node).await;
    let mut stream = Stream::open(&browser).await;
    let logout = browser.http.post(format!("{}/logout", node.url())).header("X-CSRF-Token", &browser.csrf).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert!(stream.ends_within(Duration::from_secs(3)).await, "logging out ends the open stream");
    let again = browser.http.get(format!("{}/api/ui/events", node.url())).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "the old cookie opens no new stream");
}

#[tokio::test(flavor = "multi_thread")]
async fn etapi_writes_arrive_within_a_second_as_notes_and_parents() {
    let node = Node::hub().await;
    let browser = Browser::logged_in(&node).await;
    let token = etapi_token(&node).await;
    let mut stream = Stream::open(&browser).await;

    let started = Instant::now();
    let (note_id, _) = etapi_create(&node, &token, "root", "Made by a script").await;
    let event = stream.next(Duration::from_secs(1)).await.expect("an event within a second");
    println!("ETAPI create to event: {:?}", started.elapsed());
    assert_eq!(event.event, "changes");
    assert_eq!(event.data["by"], "etapi");
    assert!(list(&event, "parents").contains(&"root".to_string()), "{event:?}");
    assert!(list(&event, "notes").contains(&note_id), "{event:?}");

    let renamed = reqwest::Client::new()
        .patch(format!("{}/etapi/notes/{note_id}", node.url()))
        .header("Authorization", &token)
        .json(&json!({"title": "Renamed by a script"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    let event = stream.next(Duration::from_secs(1)).await.expect("the rename within a second");
    assert_eq!(list(&event, "notes"), vec![note_id.clone()]);
    assert!(list(&event, "parents").is_empty(), "a rename moves no branch: {event:?}");

    // A revision written by ETAPI names its note, so an open revisions list reloads.
    let revision = reqwest::Client::new()
        .post(format!("{}/etapi/notes/{note_id}/revision", node.url()))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(revision.status(), StatusCode::NO_CONTENT);
    let event = stream.next(Duration::from_secs(1)).await.expect("the revision within a second");
    assert_eq!(list(&event, "revisions"), vec![note_id.clone()], "{event:?}");

    let deleted = reqwest::Client::new()
        .delete(format!("{}/etapi/notes/{note_id}", node.url()))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let event = stream.next(Duration::from_secs(1)).await.expect("the deletion within a second");
    assert_eq!(list(&event, "deleted"), vec![note_id.clone()]);
    assert!(list(&event, "parents").contains(&"root".to_string()));
    assert!(!list(&event, "notes").contains(&note_id), "a deleted note is not also 'changed'");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_write_names_the_page_and_bursts_are_coalesced() {
    let node = Node::hub().await;
    let browser = Browser::logged_in(&node).await;
    let mut stream = Stream::open(&browser).await;

    // A UI write carries the page's component id, so that page can skip its own change.
    let response = browser
        .http
        .post(format!("{}/ui/tree/create", node.url()))
        .header("X-CSRF-Token", &browser.csrf)
        .header("trilium-component-id", "page-A1")
        .form(&[("parent_note_id", "root"), ("note_type", "text")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    let event = stream.next(Duration::from_secs(1)).await.expect("the page's write");
    assert_eq!(event.data["by"], "page-A1");
    assert!(list(&event, "parents").contains(&"root".to_string()));

    // 200 writes in a row, each its own transaction: a handful of events that together name all.
    let folder = node.create_note("root", "Burst", "");
    stream.drain(Duration::from_millis(300)).await;
    let writer = node.document().clone();
    let instance_id = node.instance_id();
    let burst_started = Instant::now();
    let made = tokio::task::spawn_blocking(move || {
        let source = canopy::db::ChangeSource::new(instance_id).with_component("etapi");
        (0..200)
            .map(|i| {
                writer
                    .write(&source, |tx| Ok(canopy::db::tree::create_note(tx, canopy::db::tree::NewNote::text(&folder, &format!("n{i}"), ""))?.0.note_id))
                    .unwrap()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let burst = burst_started.elapsed();
    let events = stream.drain(Duration::from_millis(500)).await;
    // At most one event per batch window while the writes go on (and one for the tail).
    let windows = (burst.as_millis() / canopy::ui::live::BATCH_WINDOW.as_millis()) as usize + 2;
    assert!(!events.is_empty());
    assert!(events.len() <= windows.min(100), "200 writes in {burst:?} made {} events, not coalesced", events.len());
    let named: std::collections::HashSet<String> = events.iter().flat_map(|e| list(e, "notes")).collect();
    assert!(made.iter().all(|id| named.contains(id)), "every new note is named");

    // A burst too large to name note by note is one "reload everything": each new note writes at
    // least two changes (its row and its branch), so this many notes are past the limit.
    let writer = node.document().clone();
    let instance_id = node.instance_id();
    tokio::task::spawn_blocking(move || {
        writer
            .write(&canopy::db::ChangeSource::new(instance_id), |tx| {
                for i in 0..canopy::ui::live::MAX_BATCH_IDS / 2 + 1 {
                    canopy::db::tree::create_note(tx, canopy::db::tree::NewNote::text("root", &format!("bulk {i}"), ""))?;
                }
                Ok(())
            })
            .unwrap()
    })
    .await
    .unwrap();
    let events = stream.drain(Duration::from_millis(500)).await;
    assert_eq!(events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), vec!["reload"], "{events:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_cycle_pulses_and_synced_changes_arrive() {
    let hub = Node::hub().await;
    let client = Node::client_of(&hub).await;
    client.sync().await;
    let browser = Browser::logged_in(&client).await;
    let mut stream = Stream::open(&browser).await;
    stream.drain(Duration::from_millis(400)).await;

    let note_id = hub.create_note("root", "Written on the hub", "<p>x</p>");
    client.sync().await;
    let events = stream.drain(Duration::from_millis(600)).await;
    assert!(events.iter().any(|e| e.event == "sync"), "the status change is announced: {events:?}");
    assert!(
        events.iter().any(|e| e.event == "changes" && list(e, "notes").contains(&note_id) && list(e, "parents").contains(&"root".into())),
        "the pulled note is announced: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_server_ends_open_streams() {
    let mut node = Node::hub().await;
    let browser = Browser::logged_in(&node).await;
    let mut stream = Stream::open(&browser).await;
    let stopping = tokio::time::timeout(Duration::from_secs(5), node.stop()).await;
    assert!(stopping.is_ok(), "an open stream does not hold the shutdown");
    assert!(stream.ends_within(Duration::from_secs(1)).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_save_over_a_version_from_elsewhere_keeps_that_version_as_a_revision() {
    let node = Node::hub().await;
    let browser = Browser::logged_in(&node).await;
    let note_id = node.create_note("root", "Contested", "<p>start</p>");
    let loaded: Value = browser.server_fn("note_source", ("note_id", &note_id)).await;
    node.set_content(&note_id, "<p>theirs</p>");

    let call = |name: &'static str, fields: Vec<(&'static str, String)>| {
        browser.http.post(format!("{}/ui/{name}", browser.base)).header("X-CSRF-Token", &browser.csrf).form(&fields).send()
    };
    let stale = call(
        "save_note",
        vec![("note_id", note_id.clone()), ("content", "<p>mine</p>".into()), ("expected_blob_id", loaded["blob_id"].as_str().unwrap().into())],
    )
    .await
    .unwrap();
    assert_eq!(stale.status(), StatusCode::CONFLICT, "the plain save still refuses a stale base");
    assert_eq!(node.content(&note_id).as_deref(), Some("<p>theirs</p>"));

    let kept = call("save_note_keeping_stored", vec![("note_id", note_id.clone()), ("content", "<p>mine</p>".into())]).await.unwrap();
    assert_eq!(kept.status(), StatusCode::OK);
    assert_eq!(node.content(&note_id).as_deref(), Some("<p>mine</p>"), "the newer text wins");
    let revisions: Vec<String> = node.revision_texts(&note_id).into_iter().map(|(_, content)| content).collect();
    assert!(revisions.contains(&"<p>theirs</p>".to_string()), "the other version is a revision: {revisions:?}");
}
