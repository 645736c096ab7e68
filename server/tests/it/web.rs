//! The web UI's server side and the `canopy` binary's start-up, as a user meets them.
use std::path::Path;
use std::process::Command;

use crate::auth::{ensure_document_password, Browser};
use crate::cluster::Node;

#[tokio::test(flavor = "multi_thread")]
async fn first_start_creates_the_data_directory_and_renders_the_tree() {
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("trilium-data");
    let options = canopy::StartOptions {
        data_dir: data_dir.clone(),
        site_root: "/nonexistent-site".into(),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    };
    let instance = canopy::start(options.clone()).await.unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777, 0o700);
    }
    let config = std::fs::read_to_string(data_dir.join("config.ini")).unwrap();
    for needle in [
        "[General]",
        "[Network]",
        "[Sync]",
        "host=",
        "port=",
        "noAuthentication=false",
        "https=false",
        "certPath=",
        "keyPath=",
        "trustedReverseProxy=false",
        "syncServerHost=",
        "syncServerTimeout=",
        "syncProxy=",
    ] {
        assert!(config.contains(needle), "config.ini lacks {needle}");
    }
    assert!(data_dir.join("document.db").is_file());

    ensure_document_password(&instance.document, canopy::db::InstanceId::from(std::fs::read_to_string(data_dir.join("instance-id")).unwrap().trim()));
    let mut browser = Browser::logged_in_at(&instance.url()).await;
    let html = browser.load_page().await;
    assert!(html.contains("Welcome to Canopy") && html.contains("Inbox"), "{html}");
    assert!(!html.contains("_hidden"));

    // The server functions behind expanding a note and opening one.
    let children: Vec<app::tree::api::TreeEntry> = browser.server_fn("children", ("parent_note_id", "root")).await;
    let welcome = children.iter().find(|c| c.title == "Welcome to Canopy").expect("welcome note");
    assert!(welcome.has_children);
    let grandchildren: Vec<app::tree::api::TreeEntry> = browser.server_fn("children", ("parent_note_id", welcome.note_id.as_str())).await;
    let titles: Vec<&str> = grandchildren.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(titles, ["Getting started", "Syncing with Trilium", "Where things are stored"]);
    let note: Option<app::note::api::NoteDetail> = browser.server_fn("note", ("note_id", grandchildren[0].note_id.as_str())).await;
    let note = note.expect("the note exists");
    assert_eq!(note.title, "Getting started");
    assert!(matches!(note.body, app::note::api::NoteBody::Html(ref html) if html.contains("make run")));
    let missing = browser.server_fn_response("children", ("parent_note_id", "nope"), Some(&browser.csrf)).await;
    assert!(missing.status().is_server_error() || missing.status().is_client_error());

    // A second start keeps the document and adds no second set of welcome notes.
    instance.stop().await.unwrap();
    let again = canopy::start(options).await.unwrap();
    let count: i64 = again
        .document
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM notes WHERE title = 'Welcome to Canopy'", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(count, 1);
    again.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn note_html_from_elsewhere_cannot_run_script() {
    let hub = Node::hub().await;
    let id = hub.create_note("root", "Hostile", "<p>hi</p><script>alert(1)</script><img src=x onerror=alert(2)>");
    let note: Option<app::note::api::NoteDetail> = Browser::logged_in(&hub).await.server_fn("note", ("note_id", id.as_str())).await;
    let app::note::api::NoteBody::Html(html) = note.unwrap().body else { panic!("a text note") };
    assert!(html.contains("<p>hi</p>"));
    assert!(!html.contains("script") && !html.contains("onerror"), "{html}");
}

/// Runs the real binary with a data directory and returns (exit code, everything it printed).
/// A binary that starts serving instead of refusing is killed after 20 s and reported as such.
fn run_canopy(data_dir: &Path, port: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .env("TRILIUM_DATA_DIR", data_dir)
        .env("TRILIUM_PORT", port)
        .env("TRILIUM_HOST", "127.0.0.1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn bad_start_conditions_stop_with_one_clear_line_and_touch_nothing() {
    let tmp = tempfile::tempdir().unwrap();

    // A bad config.ini value: file, key and problem in one line; the file is kept as it was.
    let dir = tmp.path().join("bad-config");
    std::fs::create_dir(&dir).unwrap();
    let config = "[Network]\nport=80x\n";
    std::fs::write(dir.join("config.ini"), config).unwrap();
    let (code, out) = run_canopy(&dir, "8080");
    assert_ne!(code, 0);
    let line = out.lines().find(|l| l.contains("ERROR")).unwrap_or_else(|| panic!("no error line in {out}"));
    assert!(line.contains(&format!("{}: [Network] port: '80x' is not a port number (1-65535)", dir.join("config.ini").display())), "{line}");
    assert_eq!(std::fs::read_to_string(dir.join("config.ini")).unwrap(), config);
    assert!(!dir.join("document.db").exists(), "nothing else is created");

    // An environment override is checked the same way.
    let dir = tmp.path().join("bad-env");
    let (code, out) = run_canopy(&dir, "0");
    assert_ne!(code, 0);
    assert!(out.contains("environment variable TRILIUM_PORT: '0' is not a port number (1-65535)"), "{out}");

    // A file where the data directory should be.
    let file = tmp.path().join("not-a-directory");
    std::fs::write(&file, "keep").unwrap();
    let (code, out) = run_canopy(&file, "0");
    assert_ne!(code, 0);
    assert!(out.contains("not-a-directory: exists but is not a directory"), "{out}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");

    // A document from a newer Trilium: both versions named, the file untouched.
    let dir = tmp.path().join("newer");
    std::fs::create_dir(&dir).unwrap();
    let db = dir.join("document.db");
    crate::common::copy_fixture(&dir);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("UPDATE options SET value = '229' WHERE name = 'dbVersion'", []).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;").unwrap();
    }
    let before = crate::common::sha256_file(&db);
    let free_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let (code, out) = run_canopy(&dir, &free_port);
    assert_ne!(code, 0);
    assert!(out.contains("229") && out.contains("228"), "{out}");
    assert_eq!(crate::common::sha256_file(&db), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn text_stored_as_a_blob_by_trilium_reads_as_text() {
    let hub = Node::hub().await;
    let id = hub.create_note("root", "Synced by Trilium", "<p>stored as BLOB</p>");
    {
        // What Trilium's sync does with every pulled blob.
        let conn = rusqlite::Connection::open(hub.data_dir().join("document.db")).unwrap();
        conn.execute("UPDATE blobs SET content = CAST(content AS BLOB) WHERE blobId = (SELECT blobId FROM notes WHERE noteId = ?1)", [&id]).unwrap();
        let kind: String = conn
            .query_row("SELECT typeof(content) FROM blobs WHERE blobId = (SELECT blobId FROM notes WHERE noteId = ?1)", [&id], |r| r.get(0))
            .unwrap();
        assert_eq!(kind, "blob");
    }
    let note: Option<app::note::api::NoteDetail> = Browser::logged_in(&hub).await.server_fn("note", ("note_id", id.as_str())).await;
    assert_eq!(note.unwrap().body, app::note::api::NoteBody::Html("<p>stored as BLOB</p>".into()));
}

#[test]
fn the_binary_sets_the_first_password_only() {
    let tmp = tempfile::tempdir().unwrap();
    let set_password = |password: &str| {
        Command::new(env!("CARGO_BIN_EXE_canopy"))
            .arg("--set-password")
            .env("TRILIUM_DATA_DIR", tmp.path())
            .env("CANOPY_PASSWORD", password)
            .output()
            .unwrap()
    };
    // No document yet: a new one (the setup page's "new document") with this password.
    let empty = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .arg("--set-password")
        .env("TRILIUM_DATA_DIR", empty.path())
        .env("CANOPY_PASSWORD", "first")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let document = canopy::db::Document::open_existing(&empty.path().join("document.db")).unwrap();
    assert!(document.read(|c| canopy::db::password::verify_password(c, "first")).unwrap());
    drop(document);
    // Except where config.ini names a sync server: that document comes from the hub.
    let client = tempfile::tempdir().unwrap();
    std::fs::write(client.path().join("config.ini"), "[Sync]\nsyncServerHost=http://127.0.0.1:9\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .arg("--set-password")
        .env("TRILIUM_DATA_DIR", client.path())
        .env("CANOPY_PASSWORD", "first")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("names a sync server"), "{}", String::from_utf8_lossy(&output.stdout));
    assert!(!client.path().join("document.db").exists());

    crate::common::copy_fixture(tmp.path());
    let db = tmp.path().join("document.db");
    let mut permissions = std::fs::metadata(&db).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&db, permissions).unwrap();
    // The fixture has a password already: it is kept.
    let output = set_password("second");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("already has a password"));

    // A new document gets one, and it unlocks the document.
    let fresh = tempfile::tempdir().unwrap();
    let document = canopy::db::Document::open_or_create(&fresh.path().join("document.db"), "aaaaaaaaaaaa").unwrap();
    drop(document);
    let output = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .arg("--set-password")
        .env("TRILIUM_DATA_DIR", fresh.path())
        .env("CANOPY_PASSWORD", "correct horse")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let document = canopy::db::Document::open_existing(&fresh.path().join("document.db")).unwrap();
    assert!(document.read(|c| canopy::db::password::verify_password(c, "correct horse")).unwrap());
    assert!(!document.read(|c| canopy::db::password::verify_password(c, "wrong")).unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn password_guessing_is_limited_per_address() {
    let hub = Node::hub().await;
    hub.document().write(&canopy::db::ChangeSource::new(hub.instance_id()), |tx| canopy::db::password::set_password(tx, "right")).unwrap();
    let http = reqwest::Client::new();
    let login = |password: &str| {
        http.post(format!("{}/etapi/auth/login", hub.url())).json(&serde_json::json!({ "password": password })).send()
    };
    assert_eq!(login("right").await.unwrap().status(), 201, "a success is not counted");
    for _ in 0..canopy::login_limit::MAX_FAILURES {
        assert_eq!(login("wrong").await.unwrap().status(), 401);
    }
    let refused = login("right").await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.text().await.unwrap(), canopy::login_limit::MESSAGE);
    // The sync seed checks the same password and shares the limit.
    let cred = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "dummy:right");
    let seed = http.get(format!("{}/api/setup/sync-seed", hub.url())).header("trilium-cred", cred).send().await.unwrap();
    assert_eq!(seed.status(), 429);
}
