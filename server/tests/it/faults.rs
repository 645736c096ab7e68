//! Disk and database faults under running instances: a full disk and a read-only data directory
//! (a small tmpfs mounted over the data directory), and a `document.db` locked by another process.
//! Each refuses writes with a clear message in the UI's server functions, ETAPI and the sync status,
//! keeps everything committed before, and writing and sync resume by themselves once the fault is
//! gone. A damaged page in `document.db` fails only what it holds, with a message that says so; a
//! client killed while it writes a backup loses nothing and leaves no half-written backup.
//! (A hub gone mid-pull and mid-push, and kills mid-write, are in `torture.rs` and
//! `stop_and_reconnect.rs`; a damaged file header at start in `bad_files.rs`.)
//!
//! Mounting needs root (CI and this project's machines run as root); elsewhere the tmpfs tests say
//! they were skipped and pass.
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::auth::{ensure_password, Browser, PASSWORD};
use crate::cluster::{eventually, write_config, Node};

/// A tmpfs of `mib` MiB mounted over a new temporary directory, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, mib: u64) -> Option<Tmpfs> {
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"]).arg(dir).output();
        match mounted {
            Ok(out) if out.status.success() => Some(Tmpfs { path: dir.to_path_buf() }),
            Ok(out) => {
                eprintln!("skipped: a tmpfs cannot be mounted here ({})", String::from_utf8_lossy(&out.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("skipped: `mount` cannot run here ({e})");
                None
            }
        }
    }

    fn remount(&self, read_only: bool) {
        let mode = if read_only { "remount,ro" } else { "remount,rw" };
        let out = Command::new("mount").args(["-o", mode]).arg(&self.path).output().unwrap();
        assert!(out.status.success(), "mount -o {mode}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Fills what is left of it; returns the file that does, to be removed to free the space.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        // Page by page too, so not even a small page is left.
        while file.write_all(&chunk[..512]).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// An instance whose data directory is a tmpfs of `mib` MiB: a hub with a new document, or a
/// client of `hub` made from a copy of its document.
async fn on_tmpfs(mib: u64, hub: Option<&Node>) -> Option<(Tmpfs, Node)> {
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(dir.path(), mib)?;
    match hub {
        Some(hub) => {
            canopy::db::backup::backup_to(hub.document().path(), &dir.path().join("document.db")).unwrap();
            write_config(dir.path(), &hub.url());
        }
        None => std::fs::write(dir.path().join("config.ini"), "[General]\nnoBackup=true\n").unwrap(),
    }
    let node = Node::start_in(dir, "127.0.0.1:0".parse().unwrap()).await;
    Some((fs, node))
}

/// A note text larger than any write-ahead log space SQLite could reuse, so storing it needs new
/// space on the disk.
fn large_text(tag: &str) -> String {
    format!("<p>{tag} {}</p>", "all work and no play ".repeat(200_000))
}

struct Etapi {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Etapi {
    async fn of(node: &Node) -> Etapi {
        ensure_password(node);
        let token = crate::common::etapi_token(&node.url(), PASSWORD).await;
        Etapi { http: reqwest::Client::new(), base: node.url(), token }
    }

    /// `POST /etapi/create-note` under root: the status and the answer.
    async fn create(&self, title: &str, content: &str) -> (u16, Value) {
        let body = json!({ "parentNoteId": "root", "title": title, "type": "text", "content": content });
        let response = self.http.post(format!("{}/etapi/create-note", self.base)).header("Authorization", &self.token).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn content(&self, note_id: &str) -> (u16, String) {
        let response = self.http.get(format!("{}/etapi/notes/{note_id}/content", self.base)).header("Authorization", &self.token).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

/// The page's save of a note's text (`save_note_keeping_stored`): the status and the body.
async fn save_in_page(browser: &Browser, note_id: &str, content: &str) -> (u16, String) {
    let response = browser
        .http
        .post(format!("{}/ui/save_note_keeping_stored", browser.base))
        .header("X-CSRF-Token", &browser.csrf)
        .form(&[("note_id", note_id), ("content", content)])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn note_count(node: &Node) -> i64 {
    node.document().read(|c| Ok(c.query_row("SELECT COUNT(*) FROM notes", [], |r| r.get(0))?)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_writes_clearly_keeps_what_was_saved_and_writing_resumes() {
    let Some((fs, mut hub)) = on_tmpfs(48, None).await else { return };
    let etapi = Etapi::of(&hub).await;
    let browser = Browser::logged_in(&hub).await;
    let (status, kept) = etapi.create("kept", "<p>saved before the disk filled</p>").await;
    assert_eq!(status, 201, "{kept}");
    let kept = kept["note"]["noteId"].as_str().unwrap().to_owned();
    let notes_before = note_count(&hub);

    let filler = fs.fill();
    let (status, answer) = etapi.create("too large for the disk", &large_text("etapi")).await;
    assert_eq!(status, 507, "ETAPI on a full disk: {answer}");
    assert!(answer["message"].as_str().unwrap().contains("disk that holds the document is full"), "{answer}");
    let (status, body) = save_in_page(&browser, &kept, &large_text("page")).await;
    assert_eq!(status, 500, "the page's save on a full disk: {body}");
    assert!(body.contains("disk that holds the document is full"), "the page is told why: {body}");
    // Reads go on, and what was saved is there.
    assert_eq!(etapi.content(&kept).await, (200, "<p>saved before the disk filled</p>".to_owned()));
    assert_eq!(note_count(&hub), notes_before);

    std::fs::remove_file(&filler).unwrap();
    let (status, answer) = etapi.create("after space was freed", &large_text("etapi")).await;
    assert_eq!(status, 201, "writing resumes once there is space: {answer}");
    let (status, body) = save_in_page(&browser, &kept, "<p>edited once there was space</p>").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(etapi.content(&kept).await.1, "<p>edited once there was space</p>");
    let findings = canopy::sync::check::deep_check(hub.document()).unwrap();
    assert!(findings.is_empty(), "deep check after the full disk: {findings:?}");
    // And the document is whole on disk: it opens again after a restart.
    hub.restart().await;
    assert_eq!(note_count(&hub), notes_before + 1);
    hub.stop().await;
    drop(fs);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_on_a_full_disk_shows_why_sync_stops_and_catches_up_by_itself() {
    let hub = Node::hub().await;
    let Some((fs, mut client)) = on_tmpfs(48, Some(&hub)).await else { return };
    client.sync().await;
    let first = hub.create_note("root", "small", "<p>fits</p>");
    client.sync().await;
    assert!(client.note(&first).is_some());

    let filler = fs.fill();
    let large = hub.create_note("root", "large", &large_text("hub"));
    let sync = client.running().client().unwrap();
    let error = sync.sync_now().await.expect_err("a pull that cannot be stored fails");
    assert!(error.contains("disk that holds the document is full"), "the sync error says why: {error}");
    let status = client.running().sync.status();
    let shown = status.last_error.clone().unwrap_or_default();
    assert!(shown.contains("disk that holds the document is full"), "the sync status shows it: {status:?}");
    assert!(client.note(&large).is_none());
    assert!(client.note(&first).is_some(), "what was synced before is kept");

    std::fs::remove_file(&filler).unwrap();
    assert!(
        eventually(Duration::from_secs(60), || client.note(&large).is_some()).await,
        "the client catches up by itself once there is space"
    );
    assert!(eventually(Duration::from_secs(30), || client.running().sync.status().last_error.is_none()).await, "the error clears");
    sync.sync_now().await.unwrap();
    assert_eq!(client.sector_hashes(), hub.sector_hashes());
    client.stop().await;
    drop(fs);
}

/// A data directory that became read-only while Canopy was stopped (a remount of a running one is
/// refused by the kernel while files are open for writing): the start is refused naming the
/// directory and the reason, and the next start on the writable directory finds everything.
#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_data_directory_is_refused_clearly_at_start_and_nothing_is_lost() {
    let Some((fs, mut hub)) = on_tmpfs(48, None).await else { return };
    let etapi = Etapi::of(&hub).await;
    let (status, kept) = etapi.create("kept", "<p>saved while writable</p>").await;
    assert_eq!(status, 201, "{kept}");
    let kept = kept["note"]["noteId"].as_str().unwrap().to_owned();
    hub.stop().await;
    let before = std::fs::read(fs.path.join("document.db")).unwrap();

    fs.remount(true);
    let started = canopy::start(canopy::StartOptions {
        data_dir: fs.path.clone(),
        site_root: PathBuf::from("/nonexistent-site"),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    })
    .await;
    let error = match started {
        Ok(_) => panic!("an instance started on a read-only data directory"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.to_lowercase().contains("read-only"), "the refusal says why: {error}");
    assert!(error.contains(&fs.path.display().to_string()), "the refusal names the directory: {error}");
    assert_eq!(std::fs::read(fs.path.join("document.db")).unwrap(), before, "the document is untouched");

    fs.remount(false);
    hub.restart().await;
    let etapi = Etapi::of(&hub).await;
    assert_eq!(etapi.content(&kept).await, (200, "<p>saved while writable</p>".to_owned()));
    let (status, answer) = etapi.create("writable again", "<p>y</p>").await;
    assert_eq!(status, 201, "writing works on the writable directory: {answer}");
    hub.stop().await;
    drop(fs);
}

/// Another process holding the document's write lock: a Python `sqlite3` in `BEGIN EXCLUSIVE`.
struct Locker(std::process::Child);

impl Locker {
    fn lock(document: &Path) -> Option<Locker> {
        let script = "import sqlite3, sys\n\
                      c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                      c.execute('BEGIN EXCLUSIVE')\n\
                      print('locked', flush=True)\n\
                      sys.stdin.read()\n";
        let child = Command::new("python3")
            .args(["-c", script])
            .arg(document)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => {
                eprintln!("skipped: python3 cannot run here ({e})");
                return None;
            }
        };
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        assert_eq!(line.trim(), "locked", "the other process holds the lock");
        Some(Locker(child))
    }
}

impl Drop for Locker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_document_locked_by_another_process_refuses_writes_clearly_and_writing_resumes() {
    let hub = Node::hub().await;
    let etapi = Etapi::of(&hub).await;
    let (status, kept) = etapi.create("kept", "<p>before the lock</p>").await;
    assert_eq!(status, 201, "{kept}");
    let kept = kept["note"]["noteId"].as_str().unwrap().to_owned();

    let Some(locker) = Locker::lock(hub.document().path()) else { return };
    let (status, answer) = etapi.create("while locked", "<p>x</p>").await;
    assert_eq!(status, 503, "ETAPI while another process holds the lock: {answer}");
    assert!(answer["message"].as_str().unwrap().contains("locked by another program"), "{answer}");
    assert_eq!(etapi.content(&kept).await, (200, "<p>before the lock</p>".to_owned()), "reads go on");
    drop(locker);

    let (status, answer) = etapi.create("after the lock", "<p>y</p>").await;
    assert_eq!(status, 201, "writing resumes once the other process lets go: {answer}");
}

/// Points one overflow page of the row holding `marker` past the end of the file, after folding the
/// write-ahead log into it: reading that row then fails as SQLite's "database disk image is
/// malformed", the rest of the file is sound.
fn damage_a_page_of(db: &Path, marker: &[u8]) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    let page_size: usize = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    drop(conn);
    let mut bytes = std::fs::read(db).unwrap();
    let pages: std::collections::BTreeSet<usize> =
        bytes.windows(marker.len()).enumerate().filter(|(_, w)| *w == marker).map(|(at, _)| at / page_size).collect();
    assert!(pages.len() > 10, "the row fills many pages");
    // One in the middle of the chain: an overflow page, whose first four bytes name the next one.
    let page = *pages.iter().nth(pages.len() / 2).unwrap();
    bytes[page * page_size..page * page_size + 4].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    std::fs::write(db, bytes).unwrap();
}

/// A damaged page in `document.db` (made while the hub was stopped: an overflow page of one note's
/// text points past the end of the file). The hub starts; the damaged text answers with a message
/// that says what happened and what to do, and the log names the fault; every other note reads and
/// writes as before, in ETAPI and in the page; and sync with a client goes on with a clean hash
/// check, the client keeping its intact copy of the damaged text (the way back to it).
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_page_is_named_and_everything_else_goes_on() {
    let mut hub = Node::hub().await;
    let etapi = Etapi::of(&hub).await;
    let damaged_text = format!("<p>{}</p>", "a damaged page ".repeat(30_000));
    let (status, created) = etapi.create("Damaged", &damaged_text).await;
    assert_eq!(status, 201);
    let damaged = created["note"]["noteId"].as_str().unwrap().to_owned();
    let (_, created) = etapi.create("Healthy", "<p>healthy</p>").await;
    let healthy = created["note"]["noteId"].as_str().unwrap().to_owned();
    let client = Node::client_of(&hub).await;
    client.sync().await;
    hub.stop().await;
    damage_a_page_of(&hub.data_dir().join("document.db"), b"a damaged page a damaged page");
    hub.restart().await;

    let (status, body) = etapi.content(&damaged).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("The document file is damaged") && body.contains("restore"), "says what happened and what to do: {body}");
    assert_eq!(etapi.content(&healthy).await, (200, "<p>healthy</p>".to_string()));
    let (status, created) = etapi.create("Written after the damage", "<p>after</p>").await;
    assert_eq!(status, 201, "{created}");
    let after = created["note"]["noteId"].as_str().unwrap().to_owned();
    let browser = Browser::logged_in(&hub).await;
    let (status, body) = save_in_page(&browser, &healthy, "<p>healthy, edited in the page</p>").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = save_in_page(&browser, &damaged, "<p>replaced</p>").await;
    assert!(status >= 500 && body.contains("The document file is damaged"), "{status} {body}");

    let from_client = client.create_note("root", "Written on the client", "<p>from the client</p>");
    client.sync().await;
    assert_eq!(hub.content(&from_client).as_deref(), Some("<p>from the client</p>"));
    assert_eq!(client.content(&after).as_deref(), Some("<p>after</p>"));
    assert_eq!(client.content(&healthy).as_deref(), Some("<p>healthy, edited in the page</p>"));
    let check = client.running().sync.status().hash_check.expect("the client checked");
    assert!(check.passed, "{check:?}");
    assert_eq!(client.content(&damaged).as_deref(), Some(damaged_text.as_str()), "the client's copy is intact");
}

/// The synced data of the document at `db` as one fingerprint: every entity change's hash.
fn synced_fingerprint(db: &Path) -> (i64, String) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT COUNT(*), group_concat(entityName || '/' || entityId || '/' || hash, ',')
           FROM (SELECT * FROM entity_changes WHERE isSynced = 1 ORDER BY entityName, entityId)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// A client killed with SIGKILL while it writes a backup: its document opens unchanged, no
/// half-written backup is left under the backup's own name (the copy goes to a temporary name and is
/// renamed once complete), and after the restart the next backup completes and sync goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_killed_while_writing_a_backup_loses_nothing() {
    use crate::stop_and_reconnect::{free_port, hub_and_client_dirs_syncing_to, Process};
    let root = tempfile::tempdir().unwrap();
    let hub_port = free_port();
    let hub_url = format!("http://127.0.0.1:{hub_port}");
    let (hub_dir, client_dir, _) = hub_and_client_dirs_syncing_to(root.path(), [&hub_url, &hub_url]);
    // Ballast that makes the copy take a while (a table of its own: Trilium ignores tables it does
    // not know, and nothing syncs it).
    {
        let conn = rusqlite::Connection::open(client_dir.join("document.db")).unwrap();
        conn.execute_batch("CREATE TABLE test_ballast (id INTEGER PRIMARY KEY, data BLOB)").unwrap();
        for i in 0..48 {
            conn.execute("INSERT INTO test_ballast (id, data) VALUES (?1, zeroblob(1048576))", [i]).unwrap();
        }
    }
    let hub = Process::start(&hub_dir, hub_port);
    hub.wait_for("listening on", 1).await;
    let client_port = free_port();
    let mut client = Process::start(&client_dir, client_port);
    client.wait_for("listening on", 1).await;
    let token = crate::common::etapi_token(&client.url(), PASSWORD).await;
    let http = reqwest::Client::new();
    crate::torture::sync_now(http.clone(), client.url(), token.clone()).await.expect("the first sync");
    let document = client_dir.join("document.db");
    let before = synced_fingerprint(&document);

    let backups = client_dir.join("backup");
    let (done, tmp) = (backups.join("backup-now.db"), backups.join("backup-now.db.tmp"));
    let request = tokio::spawn(http.put(format!("{}/etapi/backup/now", client.url())).header("Authorization", &token).send());
    assert!(eventually(Duration::from_secs(20), || tmp.exists()).await, "the backup started");
    client.kill();
    let _ = request.await.unwrap();
    assert!(tmp.exists() && !done.exists(), "killed during the copy: nothing under the backup's own name");
    assert_eq!(synced_fingerprint(&document), before, "the document is unchanged");
    let conn = rusqlite::Connection::open(&document).unwrap();
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(verdict, "ok");
    drop(conn);

    let client = Process::start(&client_dir, client_port);
    client.wait_for("listening on", 1).await;
    let answer = http.put(format!("{}/etapi/backup/now", client.url())).header("Authorization", &token).send().await.unwrap();
    assert_eq!(answer.status(), 204);
    assert!(done.exists() && !tmp.exists(), "the next backup completes and clears the leftover");
    assert_eq!(synced_fingerprint(&done), before, "the backup holds the document");
    let body = json!({ "parentNoteId": "root", "title": "After the killed backup", "type": "text", "content": "<p>after</p>" });
    let created: Value = http
        .post(format!("{}/etapi/create-note", client.url()))
        .header("Authorization", &token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let note_id = created["note"]["noteId"].as_str().unwrap().to_owned();
    crate::torture::sync_now(http.clone(), client.url(), token.clone()).await.expect("sync goes on");
    let on_hub: i64 = rusqlite::Connection::open(hub_dir.join("document.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM notes WHERE noteId = ?1", [&note_id], |r| r.get(0))
        .unwrap();
    assert_eq!(on_hub, 1, "the hub has the note written after the restart");
}
