//! A hub and two clients as real servers: changes travel, conflicts converge and keep the loser,
//! versions are checked, damage is found.
use std::time::Duration;

use canopy::db::{deletion, tree, ChangeSource};
use canopy::entities::{self, Attribute};

use crate::cluster::{cluster, eventually, Node};

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
            let mut attribute = Attribute::new(&child, "label", "status", "active");
            attribute.utc_date_modified = tx.utc_now();
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
    // The hub's own user takes turns too.
    hub.set_content(&note, "<p>4</p>");
    relay(&a, &b).await;
    hub.set_content(&note, "<p>5</p>");
    relay(&b, &a).await;
    a.set_content(&note, "<p>6</p>");
    relay(&a, &b).await;
    for node in [&hub, &a, &b] {
        assert_eq!(node.content(&note).as_deref(), Some("<p>6</p>"));
        assert!(node.revision_texts(&note).is_empty(), "no revisions for sequential edits");
    }
    assert!(hub.running().sync.status().recent_conflicts.is_empty());
    assert_converged(&[&hub, &a, &b]);
}

/// Signs a sync login the way a client does, with the hub's own document secret.
pub(crate) fn login_body(hub: &Node, sync_version: serde_json::Value, db_version: Option<i64>, skew: chrono::Duration) -> serde_json::Value {
    let secret = hub.document().read(|c| canopy::db::options::get(c, "documentSecret")).unwrap().unwrap();
    // Unique in this process, so two logins never carry the same (refused) body.
    let now = canopy::hashing::parse_utc_date_time(&canopy::sync::hub::login_timestamp()).unwrap();
    let timestamp = canopy::hashing::utc_date_time_str(now + skew);
    let mut body = serde_json::json!({
        "timestamp": timestamp,
        "syncVersion": sync_version,
        "hash": canopy::sync::hub::login_hash(&secret, &timestamp),
    });
    if let Some(v) = db_version {
        body["canopyDbVersion"] = v.into();
    }
    body
}

/// A sync session with a hub over plain HTTP, speaking as a peer (Trilium or other) would.
struct HubSession {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl HubSession {
    async fn login(hub: &Node) -> HubSession {
        let http = reqwest::Client::new();
        let body = login_body(hub, 32.into(), None, chrono::Duration::zero());
        let response = http.post(format!("{}/api/login/sync", hub.url())).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        HubSession { http, base: hub.url(), cookie }
    }

    /// One page of `GET /api/sync/changed`.
    async fn changed(&self, instance_id: &str, after: i64) -> serde_json::Value {
        self.http
            .get(format!("{}/api/sync/changed?instanceId={instance_id}&lastEntityChangeId={after}", self.base))
            .header("Cookie", &self.cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn version_mismatches_and_clock_skew_are_refused_and_nothing_is_written() {
    let hub = Node::hub().await;
    let http = reqwest::Client::new();
    let max_before = hub.document().read(|c| canopy::db::entity_changes::max_id(c)).unwrap();
    let cases = [
        (login_body(&hub, 31.into(), Some(228), chrono::Duration::zero()), 400, "local is version 32, remote is 31"),
        (login_body(&hub, 32.into(), Some(229), chrono::Duration::zero()), 400, "local is version 228, remote is 229"),
        (login_body(&hub, 32.into(), None, chrono::Duration::minutes(6)), 401, "The difference between clocks has to be smaller than 5 minutes"),
    ];
    for (body, status, message) in cases {
        let response = http.post(format!("{}/api/login/sync", hub.url())).json(&body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert!(response.headers().get("set-cookie").is_none(), "no session for a refused login");
        let text = response.text().await.unwrap();
        assert!(text.contains(message), "{text}");
    }
    // A wrong signature, and garbage.
    let mut forged = login_body(&hub, 32.into(), None, chrono::Duration::zero());
    forged["hash"] = "AAAA".into();
    let response = http.post(format!("{}/api/login/sync", hub.url())).json(&forged).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("Sync login credentials are incorrect"));
    let response = http.post(format!("{}/api/login/sync", hub.url())).body("{not json").send().await.unwrap();
    assert_eq!(response.status(), 400);
    // Without a session nothing else answers.
    let response = http.get(format!("{}/api/sync/changed?instanceId=x&lastEntityChangeId=0", hub.url())).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = http
        .put(format!("{}/api/sync/update", hub.url()))
        .body(r#"{"entities":[],"instanceId":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let max_after = hub.document().read(|c| canopy::db::entity_changes::max_id(c)).unwrap();
    assert_eq!(max_before, max_after, "nothing was written");

    // The right versions log in.
    let good = login_body(&hub, 32.into(), Some(228), chrono::Duration::zero());
    let response = http.post(format!("{}/api/login/sync", hub.url())).json(&good).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("trilium-max-entity-change-id").is_some());
    let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("trilium.sid="));
    // Trilium clients send the whole Set-Cookie string back as the Cookie header.
    let response = http
        .get(format!("{}/api/sync/changed?instanceId=x&lastEntityChangeId=0", hub.url()))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_entity_change_is_found_and_repaired() {
    let (hub, a, b) = cluster().await;
    let note = a.create_note("root", "Will lose its change row", "<p>x</p>");
    relay(&a, &b).await;
    // Damage on b: its change row for the note disappears (as a crash of some older tool might leave it).
    {
        let conn = rusqlite::Connection::open(b.data_dir().join("document.db")).unwrap();
        conn.execute("DELETE FROM entity_changes WHERE entityName = 'notes' AND entityId = ?1", [&note]).unwrap();
    }
    b.sync().await;
    // b's own engine may have run the repairing cycle first (woken by the hub): count all cycles.
    let status = b.running().sync.status();
    let check = status.hash_check.unwrap();
    assert!(check.passed, "{check:?}");
    assert!(status.repair_rounds_total >= 1, "the mismatch was seen and repaired: {check:?}");
    a.sync().await;
    assert_converged(&[&hub, &a, &b]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_changed_behind_syncs_back_is_named_by_the_deep_check() {
    let (_hub, a, _b) = cluster().await;
    let note = a.create_note("root", "Tampered", "<p>x</p>");
    a.sync().await;
    {
        let conn = rusqlite::Connection::open(a.data_dir().join("document.db")).unwrap();
        conn.execute("UPDATE notes SET title = 'changed behind our back' WHERE noteId = ?1", [&note]).unwrap();
    }
    // The local API needs a session and, to run anything, its CSRF token.
    let browser = crate::auth::Browser::logged_in(&a).await;
    let response: serde_json::Value = browser
        .http
        .post(format!("{}/api/canopy/deep-check", a.url()))
        .header("X-CSRF-Token", &browser.csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["passed"], false);
    let findings = response["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["entityName"], "notes");
    assert_eq!(findings[0]["entityId"], note.as_str());

    let status: serde_json::Value =
        browser.http.get(format!("{}/api/canopy/sync-status", a.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["connected"], true);
    assert!(status["lastCycle"]["finishedAt"].is_string());
}

/// The real binary as a client, killed with SIGKILL in the middle of a long pull, then restarted:
/// at the moment of the kill every change its cursor covers is committed, and after the restart
/// the client ends equal to the hub.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_client_killed_mid_sync_loses_nothing() {
    use std::process::{Command, Stdio};

    let hub = Node::hub().await;
    let client_dir = tempfile::tempdir().unwrap();
    canopy::db::backup::backup_to(hub.document().path(), &client_dir.path().join("document.db")).unwrap();
    crate::cluster::write_config(client_dir.path(), &hub.url());

    // Enough content for many pull batches (~1 MB each).
    let filler = "<p>".to_string() + &"lorem ipsum dolor sit amet ".repeat(200) + "</p>";
    let source = ChangeSource::new(hub.instance_id());
    hub.document()
        .write(&source, |tx| {
            for i in 0..3000 {
                tree::create_note(tx, tree::NewNote::text("root", &format!("Bulk {i}"), &format!("{filler}{i}")))?;
            }
            Ok(())
        })
        .unwrap();
    let hub_max: i64 = hub.document().read(|c| canopy::db::entity_changes::max_id(c)).unwrap();

    let start_client = || {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Command::new(env!("CARGO_BIN_EXE_canopy"))
            .env("TRILIUM_DATA_DIR", client_dir.path())
            .env("TRILIUM_PORT", port.to_string())
            .env("TRILIUM_HOST", "127.0.0.1")
            .env("CANOPY_SITE_ROOT", "/nonexistent-site")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(KillOnDrop)
            .unwrap()
    };
    let cursor = || -> Option<i64> {
        let conn = rusqlite::Connection::open_with_flags(
            client_dir.path().join("document.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .ok()?;
        conn.busy_timeout(Duration::from_secs(5)).ok()?;
        conn.query_row("SELECT CAST(value AS INTEGER) FROM options WHERE name = 'lastSyncedPull'", [], |r| r.get(0)).ok()
    };

    let mut child = start_client();
    let started = std::time::Instant::now();
    let killed_at = loop {
        let c = cursor().unwrap_or(0);
        if c > 0 && c < hub_max {
            child.0.kill().unwrap(); // SIGKILL
            child.0.wait().unwrap();
            break cursor().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the client never started pulling");
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(killed_at < hub_max, "killed after the pull finished; the test proves nothing");

    // Everything the cursor covers is there.
    let missing: i64 = {
        let conn = rusqlite::Connection::open(client_dir.path().join("document.db")).unwrap();
        conn.execute("ATTACH DATABASE ?1 AS hub", [hub.document().path().to_str().unwrap()]).unwrap();
        conn.query_row(
            "SELECT COUNT(*) FROM hub.entity_changes h
             WHERE h.isSynced = 1 AND h.id <= ?1
               AND NOT EXISTS (SELECT 1 FROM main.entity_changes c WHERE c.changeId = h.changeId)",
            [killed_at],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(missing, 0, "changes covered by the cursor were lost");

    let child = start_client();
    let done = eventually(Duration::from_secs(60), || cursor().unwrap_or(0) >= hub_max).await;
    assert!(done, "the restarted client did not finish the pull");
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(child);
    let client = canopy::db::Document::open_existing(&client_dir.path().join("document.db")).unwrap();
    let count = |doc: &canopy::db::Document| -> i64 {
        doc.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM notes WHERE title LIKE 'Bulk %'", [], |r| r.get(0))?)).unwrap()
    };
    assert_eq!(count(&client), 3000);
    let hashes = |doc: &canopy::db::Document| {
        doc.write(&ChangeSource::new("checker"), |tx| {
            deletion::erase_unused_blobs(tx.conn())?;
            canopy::db::entity_changes::sector_hashes(tx.conn())
        })
        .unwrap()
    };
    assert_eq!(hashes(&client), hashes(hub.document()));
}

/// The README's way to make a client, with the real binary: stop, copy `document.db` alone, set
/// `syncServerHost`, start hub and client; the client's log says the connection is established and
/// its first cycle has nothing to move.
#[cfg(unix)]
#[test]
fn the_readme_client_setup_works_with_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let (hub_dir, client_dir) = (tmp.path().join("hub"), tmp.path().join("client"));
    let free_port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let hub_port = free_port();

    // The hub's new document (a first start would show the setup page, whose "new document" makes the same).
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_canopy"))
        .arg("--set-password")
        .env("TRILIUM_DATA_DIR", &hub_dir)
        .env("CANOPY_PASSWORD", "hub password")
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stdout));
    std::fs::create_dir(&client_dir).unwrap();
    std::fs::copy(hub_dir.join("document.db"), client_dir.join("document.db")).unwrap();
    std::fs::write(client_dir.join("config.ini"), format!("[Sync]\nsyncServerHost=http://127.0.0.1:{hub_port}\n")).unwrap();

    let mut hub = Process::start(&hub_dir, hub_port);
    hub.wait_for("listening on");
    let mut client = Process::start(&client_dir, free_port());
    let lines = client.wait_for(&format!("Sync connection established with http://127.0.0.1:{hub_port}"));
    assert!(!lines.iter().any(|l| l.contains("ERROR")), "{lines:#?}");
    let cycle = client.wait_for("sync with");
    assert!(cycle.last().unwrap().contains("pushed 0, pulled 0"), "a copied document has nothing to move: {cycle:#?}");
    client.stop();
    hub.stop();
}

/// A child process that does not outlive a failed test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real binary with its log read line by line; killed if the test fails before stopping it.
#[cfg(unix)]
struct Process {
    child: KillOnDrop,
    lines: std::sync::mpsc::Receiver<String>,
}

#[cfg(unix)]
impl Process {
    fn start(data_dir: &std::path::Path, port: u16) -> Process {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_canopy"))
            .env("TRILIUM_DATA_DIR", data_dir)
            .env("TRILIUM_PORT", port.to_string())
            .env("TRILIUM_HOST", "127.0.0.1")
            .env("CANOPY_SITE_ROOT", "/nonexistent-site")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Process { child: KillOnDrop(child), lines }
    }

    /// Log lines up to and including the first that contains `needle` (30 s at most).
    fn wait_for(&mut self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    let done = line.contains(needle);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!("no log line with '{needle}' in 30 s: {seen:#?}"),
            }
        }
    }

    /// SIGTERM, as a service manager stops it, and wait for the exit.
    fn stop(mut self) {
        sigterm(self.child.0.id());
        self.child.0.wait().unwrap();
    }
}

#[cfg(unix)]
fn sigterm(pid: u32) {
    // std has no SIGTERM; `kill` is on every Unix.
    std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
}

/// A Trilium peer does not say which version it edited. The hub remembers what each peer took of
/// what it sent: an edit of the version the peer pulled is sequential; an edit of an older one keeps
/// the loser.
#[tokio::test(flavor = "multi_thread")]
async fn a_trilium_peers_edits_are_told_apart_by_what_it_pulled() {
    let hub = Node::hub().await;
    let note = hub.create_note("root", "Edited by Trilium", "<p>v0</p>");
    let session = HubSession::login(&hub).await;
    let peer = "tRiLiUmPeer1";
    let pulled = session.changed(peer, 0).await;
    let record = pulled["entityChanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["entityChange"]["entityName"] == "notes" && r["entityChange"]["entityId"] == note.as_str())
        .expect("the note was pulled")
        .clone();
    // Trilium asks again from its new cursor until a page is empty: that shows it took the page.
    let cursor = pulled["lastEntityChangeId"].as_i64().unwrap();
    assert!(session.changed(peer, cursor).await["entityChanges"].as_array().unwrap().is_empty());
    // The peer renames the note, the way Trilium would send it: no canopy* fields.
    let edit = |record: &serde_json::Value, title: &str| {
        let mut r = record.clone();
        let now = canopy::hashing::utc_date_time_str(chrono::Utc::now() + chrono::Duration::seconds(1));
        r.as_object_mut().unwrap().remove("canopyParentHash");
        r["entity"]["title"] = title.into();
        r["entity"]["utcDateModified"] = now.clone().into();
        r["entityChange"]["utcDateChanged"] = now.into();
        r["entityChange"]["hash"] = canopy::hashing::random_string(10).into();
        r["entityChange"]["changeId"] = canopy::hashing::random_string(12).into();
        r["entityChange"]["instanceId"] = peer.into();
        r
    };
    let push = |records: Vec<serde_json::Value>| {
        session
            .http
            .put(format!("{}/api/sync/update", hub.url()))
            .header("Cookie", &session.cookie)
            .json(&serde_json::json!({ "entities": records, "instanceId": peer }))
            .send()
    };
    assert_eq!(push(vec![edit(&record, "Renamed after pulling")]).await.unwrap().status(), 204);
    assert_eq!(hub.note(&note).unwrap().title, "Renamed after pulling");
    assert!(hub.revision_texts(&note).is_empty(), "a sequential edit adds no revision");

    // Meanwhile the hub's own user edits; the peer, without pulling, renames again from its old copy.
    hub.set_title(&note, "Renamed on the hub");
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(push(vec![edit(&record, "Renamed again by the peer")]).await.unwrap().status(), 204);
    assert_eq!(hub.note(&note).unwrap().title, "Renamed again by the peer");
    let kept: Vec<String> = hub.revision_texts(&note).into_iter().map(|(title, _)| title).collect();
    assert!(kept.contains(&"Renamed on the hub".to_string()), "the concurrent loser is kept: {kept:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_in_pages_is_reassembled() {
    let hub = Node::hub().await;
    let source_hub = Node::hub().await;
    let note = source_hub.create_note("root", "Sent in pages", "<p>paged</p>");
    // Real records: what another document's hub would send for the new note.
    let changed = HubSession::login(&source_hub).await.changed("pager", 0).await;
    let records: Vec<serde_json::Value> = changed["entityChanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["entity"]["noteId"] == note.as_str() || r["entity"]["blobId"].is_string())
        .cloned()
        .collect();
    let body = serde_json::json!({ "entities": records, "instanceId": "pager" }).to_string();
    let session = HubSession::login(&hub).await;
    let put = |page: &str, index: usize, count: usize, request_id: &str| {
        session
            .http
            .put(format!("{}/api/sync/update?logMarkerId=x", hub.url()))
            .header("Cookie", &session.cookie)
            .header("Content-Type", "text/plain")
            .header("pageCount", count.to_string())
            .header("pageIndex", index.to_string())
            .header("requestId", request_id)
            .body(page.to_owned())
            .send()
    };
    // A later page of an unknown request is refused.
    assert_eq!(put("{}", 1, 3, "unknownReq").await.unwrap().status(), 400);
    let third = body.len() / 3;
    let pages = [&body[..third], &body[third..2 * third], &body[2 * third..]];
    for (i, page) in pages.iter().enumerate() {
        assert_eq!(put(page, i, 3, "pagedReq01").await.unwrap().status(), 204, "page {i}");
        if i < 2 {
            assert!(hub.note(&note).is_none(), "nothing is applied before the last page");
        }
    }
    assert_eq!(hub.content(&note).as_deref(), Some("<p>paged</p>"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_outstanding_count_counts_down_to_zero_page_by_page() {
    let hub = Node::hub().await;
    let source = ChangeSource::new(hub.instance_id());
    hub.document()
        .write(&source, |tx| {
            for i in 0..1500 {
                tree::create_note(tx, tree::NewNote::text("root", &format!("n{i}"), "<p>x</p>"))?;
            }
            Ok(())
        })
        .unwrap();
    let session = HubSession::login(&hub).await;
    let total: i64 = hub
        .document()
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM entity_changes WHERE isSynced = 1", [], |r| r.get(0))?))
        .unwrap();
    let (mut cursor, mut seen, mut pages) = (0i64, 0i64, 0);
    loop {
        let page = session.changed("counter", cursor).await;
        let records = page["entityChanges"].as_array().unwrap();
        let n = records.len() as i64;
        let last = page["lastEntityChangeId"].as_i64().unwrap();
        // A note whose blob went in an earlier page brings it again (blobs travel with their notes).
        seen += records.iter().filter(|r| r["entityChange"]["id"].as_i64().is_some_and(|id| id > cursor && id <= last)).count() as i64;
        cursor = last;
        assert_eq!(page["outstandingPullCount"].as_i64().unwrap(), total - seen, "after page {pages}");
        if n == 0 {
            break;
        }
        pages += 1;
    }
    assert!(pages > 3, "several pages: {pages}");
    assert_eq!(seen, total);
}

/// A peer's push arrives in batches, and between two of them the hub holds a note whose branch is
/// still on its way. A client syncing meanwhile must not take that for damage: before, its
/// consistency checks put the note under root as `recovered`, a change that then went everywhere.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_syncing_during_another_peers_push_repairs_nothing() {
    let hub = Node::hub().await;
    let b = Node::client_of(&hub).await;
    b.sync().await;
    let source_hub = Node::hub().await;
    let note = source_hub.create_note("root", "Pushed in two batches", "<p>halves</p>");
    let changed = HubSession::login(&source_hub).await.changed("halfway", 0).await;
    let (branches, rest): (Vec<serde_json::Value>, Vec<serde_json::Value>) = changed["entityChanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["entity"]["noteId"] == note.as_str() || r["entity"]["blobId"].is_string())
        .cloned()
        .partition(|r| r["entityChange"]["entityName"] == "branches");
    assert!(!branches.is_empty() && !rest.is_empty());

    let session = HubSession::login(&hub).await;
    let push = |session: &HubSession, records: Vec<serde_json::Value>| {
        session
            .http
            .put(format!("{}/api/sync/update", session.base))
            .header("Cookie", &session.cookie)
            .json(&serde_json::json!({ "entities": records, "instanceId": "halfway" }))
            .send()
    };
    assert_eq!(push(&session, rest).await.unwrap().status(), 204);
    assert!(hub.note(&note).is_some(), "the first batch is in");
    let second_batch = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(push(&session, branches).await.unwrap().status(), 204);
        let finished = session.http.post(format!("{}/api/sync/finished", session.base)).header("Cookie", &session.cookie).send();
        assert_eq!(finished.await.unwrap().status(), 204);
    });
    b.sync().await; // pulls the half-way state, and waits for the push to end before any check
    second_batch.await.unwrap();
    b.sync().await;

    let branches_of = |node: &Node| -> Vec<(String, Option<String>, bool)> {
        node.document()
            .read(|c| {
                let mut stmt = c.prepare("SELECT parentNoteId, prefix, isDeleted FROM branches WHERE noteId = ?1")?;
                let rows = stmt.query_map([&note], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .unwrap()
    };
    for (name, node) in [("client", &b), ("hub", &hub)] {
        assert_eq!(branches_of(node), vec![("root".to_owned(), None, false)], "{name}: the note's one branch, as pushed");
    }
    assert_eq!(b.sector_hashes(), hub.sector_hashes());
}
