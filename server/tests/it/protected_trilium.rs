//! Protected notes between Canopy and a real Trilium 0.63.7 (`TRILIUM_DIR`, see
//! `/work/shared/tools/trilium/README.md`; skipped, saying so, when it is not set): a note protected on
//! Canopy reads in Trilium's protected session after sync, one protected in Trilium (and an edit
//! Trilium encrypts) reads on Canopy with the key, and Trilium's content hash checks pass.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use canopy::db::{password, ChangeSource};
use canopy::domain::{self, protected as dp};
use canopy::entities::BlobContent;
use canopy::protected::unlock_key;
use serde_json::{json, Value};

use crate::cluster::{eventually, Node};

const PASSWORD: &str = "interop-pass";

struct Trilium {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Trilium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Trilium {
    fn start(trilium_dir: &str) -> Trilium {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        std::fs::write(dir.path().join("config.ini"), format!("[General]\nnoBackup=true\n[Network]\nhost=127.0.0.1\nport={port}\n")).unwrap();
        let log = dir.path().join("trilium-stdout.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("node")
            .arg("src/www.js")
            .current_dir(trilium_dir)
            .env("TRILIUM_DATA_DIR", dir.path())
            .env("TRILIUM_HOST", "127.0.0.1")
            .env("TRILIUM_PORT", port.to_string())
            .env_remove("TRILIUM_ENV")
            .env_remove("TRILIUM_SYNC_SERVER_HOST")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("node starts Trilium");
        Trilium { child, url: format!("http://127.0.0.1:{port}"), log, _dir: dir }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A logged-in browser of Trilium's internal API (cookie + CSRF token).
struct TriliumApi {
    http: reqwest::Client,
    url: String,
    csrf: String,
}

impl TriliumApi {
    async fn login(url: &str) -> TriliumApi {
        let http = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let r = http.post(format!("{url}/login")).form(&[("password", PASSWORD)]).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 302, "Trilium login");
        let page = http.get(format!("{url}/")).send().await.unwrap().text().await.unwrap();
        let csrf = page.split("csrfToken: '").nth(1).expect("csrfToken in Trilium's page").split('\'').next().unwrap().to_owned();
        TriliumApi { http, url: url.to_owned(), csrf }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url)).header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn protected_notes_read_both_ways_between_canopy_and_trilium() {
    let Ok(trilium_dir) = std::env::var("TRILIUM_DIR") else {
        eprintln!("skipped: TRILIUM_DIR is not set (a real Trilium 0.63.7, see /work/shared/tools/trilium/README.md)");
        return;
    };
    // Canopy is the hub; a note is protected there in a protected session.
    let hub = Node::hub().await;
    let src = ChangeSource::new(hub.instance_id());
    hub.document().write(&src, |tx| password::set_password(tx, PASSWORD)).unwrap();
    let key = hub.document().read_with(|c| unlock_key(c, PASSWORD)).unwrap();
    let from_canopy = hub.create_note("root", "Canopy secret", "<p>protected on Canopy 🌳</p>");
    let attachment = hub
        .document()
        .write_with(&src, |tx| {
            domain::attachments::create(
                tx,
                &from_canopy,
                domain::attachments::NewAttachment {
                    role: "file".into(),
                    mime: "text/plain".into(),
                    title: "list.txt".into(),
                    position: None,
                    content: BlobContent::Text("attached secret".into()),
                },
                None,
            )
        })
        .unwrap()
        .attachment_id;
    hub.document().write_with(&src, |tx| dp::set_protected(tx, &from_canopy, true, false, &key)).unwrap();
    // A revision taken in the protected session.
    let revision_id = hub
        .document()
        .write(&src, |tx| {
            tx.set_key(Some(&key));
            let note = canopy::entities::get(tx.conn(), &from_canopy)?;
            canopy::db::revisions::save_revision(tx, &note)
        })
        .unwrap()
        .revision_id;

    // Trilium becomes its sync client.
    let trilium = Trilium::start(&trilium_dir);
    let http = reqwest::Client::new();
    let up = eventually(Duration::from_secs(60), || std::net::TcpStream::connect(trilium.url.trim_start_matches("http://")).is_ok()).await;
    assert!(up, "Trilium listens; log:\n{}", trilium.log_text());
    let r = http
        .post(format!("{}/api/setup/sync-from-server", trilium.url))
        .json(&json!({ "syncServerHost": hub.url(), "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "sync-from-server: {}", r.text().await.unwrap());
    let mut initialized = false;
    for _ in 0..240 {
        let status: Value = http.get(format!("{}/api/setup/status", trilium.url)).send().await.unwrap().json().await.unwrap();
        if status["isInitialized"] == true {
            initialized = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(initialized, "Trilium set itself up from Canopy; log:\n{}", trilium.log_text());
    let api = TriliumApi::login(&trilium.url).await;
    let mut arrived = false;
    for _ in 0..240 {
        if api.call(reqwest::Method::GET, &format!("/api/notes/{from_canopy}"), None).await.0 == 200 {
            arrived = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(arrived, "the protected note reached Trilium; log:\n{}", trilium.log_text());

    // Trilium's protected session reads what Canopy encrypted.
    let (status, answer) = api.call(reqwest::Method::POST, "/api/login/protected", Some(json!({ "password": PASSWORD }))).await;
    assert_eq!((status, &answer["success"]), (200, &json!(true)), "{answer}");
    let (_, note) = api.call(reqwest::Method::GET, &format!("/api/notes/{from_canopy}"), None).await;
    assert_eq!(note["title"], "Canopy secret", "{note}");
    assert_eq!(note["isProtected"], true);
    let (_, blob) = api.call(reqwest::Method::GET, &format!("/api/notes/{from_canopy}/blob"), None).await;
    assert_eq!(blob["content"], "<p>protected on Canopy 🌳</p>", "{blob}");
    let (_, revisions) = api.call(reqwest::Method::GET, &format!("/api/notes/{from_canopy}/revisions"), None).await;
    let revision = revisions.as_array().unwrap().iter().find(|r| r["revisionId"] == revision_id.as_str()).expect("the revision synced");
    assert_eq!(revision["title"], "Canopy secret", "{revision}");
    let (_, blob) = api.call(reqwest::Method::GET, &format!("/api/revisions/{revision_id}/blob"), None).await;
    assert_eq!(blob["content"], "<p>protected on Canopy 🌳</p>", "{blob}");
    let (_, attachments) = api.call(reqwest::Method::GET, &format!("/api/notes/{from_canopy}/attachments"), None).await;
    let found = attachments.as_array().unwrap().iter().find(|a| a["attachmentId"] == attachment.as_str()).expect("the attachment synced");
    assert_eq!((&found["title"], &found["isProtected"]), (&json!("list.txt"), &json!(true)), "{found}");
    let (_, blob) = api.call(reqwest::Method::GET, &format!("/api/attachments/{attachment}/blob"), None).await;
    assert_eq!(blob["content"], "attached secret", "{blob}");

    // Trilium protects a note of its own and edits Canopy's; Canopy reads both with the key.
    let (status, created) = api
        .call(
            reqwest::Method::POST,
            "/api/notes/root/children?target=into",
            Some(json!({ "title": "Trilium secret", "content": "<p>protected in Trilium</p>", "type": "text", "isProtected": true })),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let from_trilium = created["note"]["noteId"].as_str().unwrap().to_owned();
    let (status, _) = api
        .call(reqwest::Method::PUT, &format!("/api/notes/{from_canopy}/data"), Some(json!({ "content": "<p>edited in Trilium</p>" })))
        .await;
    assert_eq!(status, 204);
    for _ in 0..2 {
        let (status, synced) = api.call(reqwest::Method::POST, "/api/sync/now", None).await;
        assert_eq!((status, &synced["success"]), (200, &json!(true)), "{synced}; log:\n{}", trilium.log_text());
    }
    let doc = hub.document();
    let note = doc.read_with(|c| domain::notes::live_note(c, &from_trilium)).unwrap();
    assert!(note.is_protected);
    assert_eq!(dp::title_of(&note, Some(&key)).unwrap(), "Trilium secret");
    assert_eq!(doc.read_with(|c| domain::notes::content(c, &from_trilium, Some(&key))).unwrap(), BlobContent::Text("<p>protected in Trilium</p>".into()));
    assert_eq!(doc.read_with(|c| domain::notes::content(c, &from_canopy, Some(&key))).unwrap(), BlobContent::Text("<p>edited in Trilium</p>".into()));
    assert!(canopy::sync::check::deep_check(doc).unwrap().is_empty());

    // Canopy edits Trilium's note in its protected session; Trilium reads the edit.
    let blob_id = note.blob_id.clone();
    doc.write_with(&src, |tx| domain::notes::save_content(tx, &from_trilium, BlobContent::Text("<p>answered by Canopy</p>".into()), blob_id.as_deref(), Some(&key)))
        .unwrap();
    doc.write_with(&src, |tx| domain::notes::rename(tx, &from_trilium, "Trilium secret (re)", Some(&key))).unwrap();
    for _ in 0..2 {
        let (status, synced) = api.call(reqwest::Method::POST, "/api/sync/now", None).await;
        assert_eq!((status, &synced["success"]), (200, &json!(true)), "{synced}");
    }
    let (_, note) = api.call(reqwest::Method::GET, &format!("/api/notes/{from_trilium}"), None).await;
    assert_eq!(note["title"], "Trilium secret (re)", "{note}");
    let (_, blob) = api.call(reqwest::Method::GET, &format!("/api/notes/{from_trilium}/blob"), None).await;
    assert_eq!(blob["content"], "<p>answered by Canopy</p>");

    let log = trilium.log_text();
    assert!(log.contains("Content hash checks PASSED"), "Trilium checked the hashes; log:\n{log}");
    assert!(!log.contains("FAILED"), "no failed hash check in Trilium's log:\n{log}");
    assert!(!log.contains("Could not decrypt"), "Trilium decrypted everything:\n{log}");
}
