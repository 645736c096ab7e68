//! The sync options page's server functions (saved in the document, checked, config.ini winning),
//! "test sync" against real hub instances, and the setup page of an instance without a document:
//! "new document", and "sync from a server" reaching the hub's hashes.
use std::path::Path;
use std::time::Duration;

use app::options::api::ssr::SyncOptionsPort;
use canopy::config::SyncConfig;
use canopy::ui::sync_options::DocumentSyncOptions;
use canopy::{Launch, StartOptions};
use serde_json::json;

use crate::auth::{ensure_document_password, Browser};
use crate::ui_tree::call;
use crate::cluster::{eventually, Node};
use crate::setup::{assert_same_as_hub, hub_with_content, PASSWORD as HUB_PASSWORD};

fn options(data_dir: &Path, offer_setup_page: bool) -> StartOptions {
    StartOptions {
        data_dir: data_dir.to_path_buf(),
        site_root: "/nonexistent-site".into(),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        offer_setup_page,
        ..Default::default()
    }
}

fn instance_id(data_dir: &Path) -> canopy::db::InstanceId {
    canopy::db::InstanceId::from(std::fs::read_to_string(data_dir.join("instance-id")).unwrap().trim())
}

async fn logged_in(data_dir: &Path) -> (canopy::RunningInstance, Browser) {
    let instance = canopy::start(options(data_dir, false)).await.unwrap();
    ensure_document_password(&instance.document, instance_id(data_dir));
    let browser = Browser::logged_in_at(&instance.url()).await;
    (instance, browser)
}

/// A port on 127.0.0.1 that nothing listens on.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn stored(document: &canopy::Document, name: &str) -> (String, bool) {
    document
        .read(|c| Ok(c.query_row("SELECT value, isSynced FROM options WHERE name = ?1", [name], |r| Ok((r.get(0)?, r.get(1)?)))?))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_options_are_kept_unsynced_in_the_document_checked_and_config_ini_wins() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("config.ini"), "[General]\nnoBackup=true\n").unwrap();
    let (instance, browser) = logged_in(&data).await;

    let (status, read) = call(&browser, "sync_options", &[]).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["host"], json!({ "option": "", "config": null }));
    assert_eq!(read["timeout_ms"], json!({ "option": "120000", "config": null }));
    assert_eq!(read["engine_host"], serde_json::Value::Null);

    // Without the page's CSRF token nothing is saved.
    let forged = browser.http.post(format!("{}/ui/save_sync_options", browser.base)).form(&[("host", "http://evil.example")]).send().await.unwrap();
    assert_eq!(forged.status().as_u16(), 403);

    for (field, value, expected) in [
        ("host", "ftp://hub.example", "http:// or https://"),
        ("host", "hub.example:8080", "http:// or https://"),
        ("host", "not a url", "not a URL"),
        ("host", "http://hub.example/?x=1", "query"),
        ("timeout_ms", "12s", "milliseconds"),
        ("timeout_ms", "0", "milliseconds"),
        ("timeout_ms", "-5", "milliseconds"),
        ("proxy", "socks5://proxy.example:1080", "http:// or https://"),
    ] {
        let (status, error) = call(&browser, "save_sync_options", &[(field, value)]).await;
        assert_eq!(status, 400, "{field}={value}: {error}");
        assert!(error.to_string().contains(expected), "{field}={value}: {error}");
    }
    assert_eq!(stored(&instance.document, "syncServerHost"), (String::new(), false), "a refused save changes nothing");

    let hub = format!("http://127.0.0.1:{}", dead_port());
    let (status, saved) =
        call(&browser, "save_sync_options", &[("host", &format!("{hub}/")), ("timeout_ms", " 5000 "), ("proxy", "")]).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["host"]["option"], hub.as_str());
    assert_eq!(saved["timeout_ms"]["option"], "5000");
    // The engine follows the saved settings at once (tested with real hubs in `sync_engine`).
    assert_eq!(saved["engine_host"], hub.as_str());
    for (name, value) in [("syncServerHost", hub.as_str()), ("syncServerTimeout", "5000"), ("syncProxy", "")] {
        assert_eq!(stored(&instance.document, name), (value.to_owned(), false), "{name} is kept in the document, not synced");
    }
    let (_, read) = call(&browser, "sync_options", &[]).await;
    assert_eq!(read["host"]["option"], hub.as_str());

    // "Test sync" with the saved host: nothing listens there.
    let (status, outcome) = call(&browser, "test_sync", &[]).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["success"], false);
    let message = outcome["message"].as_str().unwrap();
    assert!(message.contains("No connection to sync server") && message.contains(&hub), "{message}");

    // config.ini's [Sync] wins over the document, and a save leaves what it decides alone.
    instance.stop().await.unwrap();
    let configured = format!("http://127.0.0.1:{}", dead_port());
    std::fs::write(data.join("config.ini"), format!("[General]\nnoBackup=true\n[Sync]\nsyncServerHost={configured}\nsyncServerTimeout=7000\n"))
        .unwrap();
    let (instance, browser) = logged_in(&data).await;
    let (_, read) = call(&browser, "sync_options", &[]).await;
    assert_eq!(read["host"], json!({ "option": hub, "config": configured }));
    assert_eq!(read["timeout_ms"], json!({ "option": "5000", "config": "7000" }));
    assert_eq!(read["proxy"], json!({ "option": "", "config": null }));
    assert_eq!(read["engine_host"], configured.as_str(), "the engine syncs with the config.ini host");
    let (status, saved) = call(&browser, "save_sync_options", &[("host", "http://ignored.example"), ("proxy", "http://proxy.example:3128")]).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(stored(&instance.document, "syncServerHost").0, hub, "config.ini decides the host: the option stays");
    assert_eq!(stored(&instance.document, "syncProxy").0, "http://proxy.example:3128");
    instance.stop().await.unwrap();
}

fn port_for(document: &canopy::Document, instance_id: canopy::db::InstanceId, host: Option<String>) -> DocumentSyncOptions {
    let config = SyncConfig { server_host: host, timeout: None, proxy: None, seed_token: None };
    let sync = std::sync::Arc::new(canopy::sync::SyncState::new(None));
    let engine = canopy::sync::engine::SyncEngine::new(document.clone(), instance_id.clone(), config.clone(), sync.clone());
    DocumentSyncOptions { document: document.clone(), instance_id, config, sync, engine }
}

#[tokio::test(flavor = "multi_thread")]
async fn test_sync_logs_in_to_a_real_hub_and_names_each_failure() {
    let (hub, _notes) = hub_with_content().await;
    let client = Node::client_of(&hub).await;

    let outcome = port_for(client.document(), client.instance_id(), Some(hub.url())).test().await;
    assert!(outcome.success, "{}", outcome.message);
    assert!(outcome.message.contains(&hub.url()), "{}", outcome.message);

    // Another document: its secret is not the hub's.
    let other = tempfile::tempdir().unwrap();
    let stranger = crate::common::new_document(other.path());
    let outcome = port_for(&stranger, "strangerInstance".into(), Some(hub.url())).test().await;
    assert!(!outcome.success);
    assert!(outcome.message.contains("credentials are incorrect"), "{}", outcome.message);

    let dead = format!("http://127.0.0.1:{}", dead_port());
    let outcome = port_for(client.document(), client.instance_id(), Some(dead.clone())).test().await;
    assert!(!outcome.success);
    assert!(outcome.message.contains("No connection to sync server") && outcome.message.contains(&dead), "{}", outcome.message);

    let outcome = port_for(&stranger, "strangerInstance".into(), None).test().await;
    assert!(!outcome.success);
    assert!(outcome.message.contains("No sync server is set"), "{}", outcome.message);
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn location(response: &reqwest::Response) -> &str {
    response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_setup_page_is_there_only_while_there_is_no_document_and_makes_a_new_one() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let Launch::AwaitingSetup(mut setup) = canopy::launch(options(&data, true)).await.unwrap() else {
        panic!("a new data directory shows the setup page");
    };
    let base = setup.url();
    let http = no_redirects();
    let page = http.get(format!("{base}/setup")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"action="/setup/new-document""#) && html.contains(r#"action="/setup/sync-from-server""#), "{html}");
    let home = http.get(format!("{base}/?note=root")).send().await.unwrap();
    assert_eq!((home.status().as_u16(), location(&home)), (303, "/setup"));
    let call = http.post(format!("{base}/ui/note")).send().await.unwrap();
    assert_eq!(call.status(), 503);
    let status: serde_json::Value = http.get(format!("{base}/api/setup/status")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["schemaExists"], false);

    let forged = http.post(format!("{base}/setup/new-document")).header("Origin", "http://evil.example").send().await.unwrap();
    assert_eq!(forged.status(), 403);
    assert!(!data.join("document.db").exists(), "a refused choice makes nothing");

    let chosen = http.post(format!("{base}/setup/new-document")).header("Origin", &base).send().await.unwrap();
    assert_eq!((chosen.status().as_u16(), location(&chosen)), (303, "/set-password"));
    let instance = setup.finished().await.unwrap();
    assert_eq!(instance.url(), base, "the same server serves the document");
    assert!(data.join("document.db").exists());
    let welcome: i64 = instance
        .document
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM branches WHERE parentNoteId = 'root' AND isDeleted = 0", [], |r| r.get(0))?))
        .unwrap();
    assert!(welcome > 1, "the new document has its welcome notes");
    let set_password = http.get(format!("{base}/set-password")).send().await.unwrap();
    assert_eq!(set_password.status(), 200, "next: choose the password");
    let again = http.get(format!("{base}/setup")).send().await.unwrap();
    assert_eq!((again.status().as_u16(), location(&again)), (303, "/"), "no setup page once there is a document");
    let replay = http.post(format!("{base}/setup/new-document")).header("Origin", &base).send().await.unwrap();
    assert!(location(&replay).starts_with("/login"), "{}", replay.status());
    instance.stop().await.unwrap();

    // With its document, the instance starts at once.
    let Launch::Running(instance) = canopy::launch(options(&data, true)).await.unwrap() else { panic!("no setup page") };
    instance.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_at_the_setup_page_leaves_no_document() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let Launch::AwaitingSetup(setup) = canopy::launch(options(&data, true)).await.unwrap() else { panic!("setup page") };
    let url = setup.url();
    setup.stop().await;
    assert!(!data.join("document.db").exists());
    assert!(reqwest::get(format!("{url}/setup")).await.is_err(), "stopped");
    // A sync server in config.ini keeps Trilium's way: a shell waiting for its setup call.
    std::fs::write(data.join("config.ini"), "[General]\nnoBackup=true\n[Sync]\nsyncServerHost=http://127.0.0.1:9\n").unwrap();
    let Launch::Running(instance) = canopy::launch(options(&data, true)).await.unwrap() else { panic!("no setup page") };
    instance.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_from_a_server_on_the_setup_page_pulls_the_hubs_document() {
    let (hub, notes) = hub_with_content().await;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let Launch::AwaitingSetup(mut setup) = canopy::launch(options(&data, true)).await.unwrap() else { panic!("setup page") };
    let base = setup.url();
    let http = no_redirects();
    let post = |host: String, password: &str| {
        http.post(format!("{base}/setup/sync-from-server")).form(&[("sync_server_host", host.as_str()), ("password", password)]).send()
    };

    let refused = post("ftp://hub.example".into(), HUB_PASSWORD).await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("http:// or https://"));
    let wrong = post(hub.url(), "wrong").await.unwrap();
    assert_eq!(wrong.status(), 400);
    let html = wrong.text().await.unwrap();
    assert!(html.contains("Incorrect password"), "{html}");
    assert!(html.contains(&format!(r#"value="{}""#, hub.url())), "the address stays in the form");
    let dead = format!("http://127.0.0.1:{}", dead_port());
    let unreachable = post(dead.clone(), HUB_PASSWORD).await.unwrap();
    assert_eq!(unreachable.status(), 400);
    assert!(unreachable.text().await.unwrap().contains(&format!("No connection to sync server {dead}")));
    assert!(!data.join("document.db").exists(), "a failed choice makes nothing");

    let chosen = post(format!("{}/", hub.url()), HUB_PASSWORD).await.unwrap();
    assert_eq!((chosen.status().as_u16(), location(&chosen)), (303, "/setup/progress"));
    let instance = setup.finished().await.unwrap();
    assert_same_as_hub(&hub, &instance, &notes).await;

    let pull = instance.sync.pull_progress();
    assert!(pull.pulled >= notes.len() as u64, "{pull:?}");
    assert_eq!(pull.outstanding, 0);
    assert!(
        eventually(Duration::from_secs(5), || matches!(
            instance.document.read(|c| canopy::db::options::get(c, "syncServerHost")).unwrap().as_deref(),
            Some(h) if h == hub.url()
        ))
        .await
    );
    let progress: serde_json::Value = http.get(format!("{base}/api/setup/progress")).send().await.unwrap().json().await.unwrap();
    assert_eq!(progress["initialized"], true);
    let page = http.get(format!("{base}/setup/progress")).send().await.unwrap();
    assert_eq!((page.status().as_u16(), location(&page)), (303, "/"), "done: on to the login");
    instance.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_progress_page_and_endpoint_answer_before_any_login_during_the_first_sync() {
    // An instance waiting for its setup call (Trilium's way, config.ini naming the hub) is mid-setup
    // for as long as the test likes.
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let hub = format!("http://127.0.0.1:{}", dead_port());
    std::fs::write(data.join("config.ini"), format!("[General]\nnoBackup=true\n[Sync]\nsyncServerHost={hub}\n")).unwrap();
    let instance = canopy::start(options(&data, true)).await.unwrap();
    let http = no_redirects();
    let page = http.get(format!("{}/setup/progress", instance.url())).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("Pulling the document from {hub}")) && html.contains("/api/setup/progress"), "{html}");
    let progress: serde_json::Value = http.get(format!("{}/api/setup/progress", instance.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(progress["initialized"], false);
    assert_eq!(progress["syncServerHost"], hub.as_str());
    assert_eq!((progress["pulled"].as_u64(), progress["total"].as_u64()), (Some(0), Some(0)));
    let login = http.get(format!("{}/login", instance.url())).send().await.unwrap();
    assert_eq!(login.status(), 503);
    assert!(login.text().await.unwrap().contains(r#"href="/setup/progress""#));
    instance.stop().await.unwrap();
}
