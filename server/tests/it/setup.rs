//! A new, empty instance set up from a hub with the hub's password ("sync from server"), by the
//! command-line option and by Trilium's setup endpoint; interrupted set-ups resume.
use std::path::PathBuf;
use std::time::Duration;

use canopy::db::{options, password, ChangeSource};
use canopy::{StartOptions, SyncFromServer};

use crate::cluster::{eventually, Node};

pub(crate) const PASSWORD: &str = "hub password ü";

pub(crate) async fn hub_with_content() -> (Node, Vec<String>) {
    let hub = Node::hub().await;
    hub.document().write(&ChangeSource::new(hub.instance_id()), |tx| password::set_password(tx, PASSWORD)).unwrap();
    let mut notes = Vec::new();
    for i in 0..30 {
        notes.push(hub.create_note("root", &format!("Note {i}"), &format!("<p>content {i}</p>")));
    }
    (hub, notes)
}

fn start_options(data_dir: PathBuf, sync_from_server: Option<SyncFromServer>) -> StartOptions {
    StartOptions { data_dir, site_root: "/nonexistent-site".into(), listen: Some("127.0.0.1:0".parse().unwrap()), sync_from_server, ..Default::default() }
}

fn initialized(document: &canopy::db::Document) -> bool {
    document.read(|c| Ok(options::get(c, "initialized")?.as_deref() == Some("true"))).unwrap()
}

pub(crate) async fn assert_same_as_hub(hub: &Node, client: &canopy::RunningInstance, notes: &[String]) {
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

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_hub_takes_a_clients_document_only_with_its_one_time_token() {
    let empty = tempfile::tempdir().unwrap();
    let hub = canopy::start(StartOptions {
        data_dir: empty.path().join("hub"),
        site_root: "/nonexistent-site".into(),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        sync_from_server: None,
        wait_for_seed: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let token = hub.seed_token.clone().expect("an empty hub prints a token");
    let http = reqwest::Client::new();
    let status: serde_json::Value = http.get(format!("{}/api/setup/status", hub.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["schemaExists"], false);

    // Trilium's unauthenticated seed is refused, and nothing is stored.
    let trilium_style = serde_json::json!({
        "options": [{"name": "documentId", "value": "x"}, {"name": "documentSecret", "value": "y"}],
        "syncVersion": 32
    });
    let response = http.post(format!("{}/api/setup/sync-seed", hub.url())).json(&trilium_style).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(hub.document.read(|c| options::get(c, "documentSecret")).unwrap().is_none());

    // A client with the token sends its whole document.
    let client_dir = tempfile::tempdir().unwrap();
    let client = canopy::start(start_options(client_dir.path().to_path_buf(), None)).await.unwrap();
    let note = {
        let source = ChangeSource::new(client.data_dir.instance_id(|| unreachable!()).unwrap());
        client
            .document
            .write(&source, |tx| {
                Ok(canopy::db::tree::create_note(tx, canopy::db::tree::NewNote::text("root", "From the client", "<p>seeded</p>"))?.0.note_id)
            })
            .unwrap()
    };
    client.stop().await.unwrap();
    std::fs::write(
        client_dir.path().join("config.ini"),
        format!("[General]\nnoBackup=true\n[Sync]\nsyncServerHost={}\ncanopySeedToken={token}\n", hub.url()),
    )
    .unwrap();
    let client = canopy::start(start_options(client_dir.path().to_path_buf(), None)).await.unwrap();
    client.client().unwrap().sync_now().await.expect("the first sync sends everything");
    assert_eq!(crate::cluster::content_of(&hub.document, &note).as_deref(), Some("<p>seeded</p>"));
    assert!(initialized(&hub.document), "the hub is set up after the first sync");
    let hub_hashes = canopy::sync::check::local_hashes(&hub.document, &"checker".into()).unwrap().0;
    let client_hashes = canopy::sync::check::local_hashes(&client.document, &"checker".into()).unwrap().0;
    assert_eq!(hub_hashes, client_hashes);

    // The token was for one use.
    let mut with_token = trilium_style.clone();
    with_token["canopySeedToken"] = token.into();
    let response = http.post(format!("{}/api/setup/sync-seed", hub.url())).json(&with_token).send().await.unwrap();
    assert_eq!(response.status(), 400);
    client.stop().await.unwrap();
    hub.stop().await.unwrap();
}
