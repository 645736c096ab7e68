//! Disk and database faults under running instances: a full disk and a read-only data directory
//! (a small tmpfs mounted over the data directory), and a `document.db` locked by another process.
//! Each refuses writes with a clear message in the UI's server functions, ETAPI and the sync status,
//! keeps everything committed before, and writing and sync resume by themselves once the fault is
//! gone. (A hub gone mid-pull and mid-push, and kills mid-write, are in `torture.rs` and
//! `stop_and_reconnect.rs`; a damaged file at start in `bad_files.rs`.)
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
