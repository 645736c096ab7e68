//! A new, empty instance set up from a hub with the hub's password ("sync from server"), by the
//! command-line option and by Trilium's setup endpoint; interrupted set-ups resume.
use std::path::PathBuf;
use std::time::Duration;

use canopy::db::{options, password, ChangeSource};
use canopy::{StartOptions, SyncFromServer};

use crate::cluster::{eventually, Node};

const PASSWORD: &str = "hub password ü";

async fn hub_with_content() -> (Node, Vec<String>) {
    let hub = Node::hub().await;
    hub.document().write(&ChangeSource::new(hub.instance_id()), |tx| password::set_password(tx, PASSWORD)).unwrap();
    let mut notes = Vec::new();
    for i in 0..30 {
        notes.push(hub.create_note("root", &format!("Note {i}"), &format!("<p>content {i}</p>")));
    }
    (hub, notes)
}

fn start_options(data_dir: PathBuf, sync_from_server: Option<SyncFromServer>) -> StartOptions {
    StartOptions { data_dir, site_root: "/nonexistent-site".into(), listen: Some("127.0.0.1:0".parse().unwrap()), sync_from_server }
}

fn initialized(document: &canopy::db::Document) -> bool {
    document.read(|c| Ok(options::get(c, "initialized")?.as_deref() == Some("true"))).unwrap()
}

async fn assert_same_as_hub(hub: &Node, client: &canopy::RunningInstance, notes: &[String]) {
    assert!(eventually(Duration::from_secs(20), || initialized(&client.document)).await, "never initialized");
    for id in notes {
        assert_eq!(
            crate::cluster::content_of(&client.document, id),
            crate::cluster::content_of(hub.document(), id),
            "note {id}"
        );
    }
    // The hub's password came along: it unlocks the client too.
    assert!(client.document.read(|c| password::verify_password(c, PASSWORD)).unwrap());
    let client_hashes = canopy::sync::check::local_hashes(&client.document, &"checker".into()).unwrap().0;
    assert_eq!(client_hashes, hub.sector_hashes());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_option_pulls_everything_with_the_password() {
    let (hub, notes) = hub_with_content().await;
    let empty = tempfile::tempdir().unwrap();

    let wrong = SyncFromServer { sync_server_host: hub.url(), password: "wrong".into() };
    let err = canopy::start(start_options(empty.path().join("data"), Some(wrong))).await.err().expect("refused");
    assert!(err.to_string().contains("401") && err.to_string().contains("Incorrect password"), "{err:#}");
    assert!(!empty.path().join("data/document.db").exists(), "a refused set-up leaves no document");

    let right = SyncFromServer { sync_server_host: hub.url(), password: PASSWORD.into() };
    let client = canopy::start(start_options(empty.path().join("data"), Some(right))).await.unwrap();
    assert_same_as_hub(&hub, &client, &notes).await;
    client.stop().await.unwrap();

    // Once set up, the option is refused rather than replacing the document.
    let again = SyncFromServer { sync_server_host: hub.url(), password: PASSWORD.into() };
    let err = canopy::start(start_options(empty.path().join("data"), Some(again))).await.err().expect("refused");
    assert!(err.to_string().contains("needs a new data directory"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_setup_resumes_after_a_restart() {
    let (hub, notes) = hub_with_content().await;
    let empty = tempfile::tempdir().unwrap();
    let data = empty.path().join("data");
    let setup = SyncFromServer { sync_server_host: hub.url(), password: PASSWORD.into() };
    let client = canopy::start(start_options(data.clone(), Some(setup))).await.unwrap();
    client.stop().await.unwrap(); // at once: the first sync has at most begun
    let client = canopy::start(start_options(data, None)).await.unwrap();
    assert_same_as_hub(&hub, &client, &notes).await;
    client.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn triliums_setup_endpoint_sets_up_a_new_instance() {
    let (hub, notes) = hub_with_content().await;
    let empty = tempfile::tempdir().unwrap();
    let data = empty.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("config.ini"), format!("[General]\nnoBackup=true\n[Sync]\nsyncServerHost={}\n", hub.url())).unwrap();
    let client = canopy::start(start_options(data, None)).await.unwrap();
    let http = reqwest::Client::new();

    let status: serde_json::Value = http.get(format!("{}/api/setup/status", client.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(status, serde_json::json!({ "isInitialized": false, "schemaExists": false, "syncVersion": 32 }));

    let post = |password: &str| {
        http.post(format!("{}/api/setup/sync-from-server", client.url()))
            .json(&serde_json::json!({ "syncServerHost": hub.url(), "syncProxy": "", "password": password }))
            .send()
    };
    let answer: serde_json::Value = post("wrong").await.unwrap().json().await.unwrap();
    assert_eq!(answer["result"], "failure");
    assert!(answer["error"].as_str().unwrap().contains("Incorrect password"), "{answer}");

    let answer: serde_json::Value = post(PASSWORD).await.unwrap().json().await.unwrap();
    assert_eq!(answer, serde_json::json!({ "result": "success" }));
    assert_same_as_hub(&hub, &client, &notes).await;

    let answer: serde_json::Value = post(PASSWORD).await.unwrap().json().await.unwrap();
    assert_eq!(answer["error"], "DB is already initialized.");
    let stats: serde_json::Value = http.get(format!("{}/api/sync/stats", client.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["initialized"], true);
    client.stop().await.unwrap();
}
