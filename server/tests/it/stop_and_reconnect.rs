//! The real `canopy` binary as processes (a hub and two clients): SIGTERM and Ctrl+C stop each within
//! 2 s whatever is connected, with the write-ahead log folded; a client whose hub went away retries
//! quietly and, when the hub returns, both clients catch up by themselves.
#![cfg(unix)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::{Browser, PASSWORD};

/// The real binary with its log collected line by line.
pub struct Process {
    child: Option<Child>,
    pub data_dir: PathBuf,
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    pub fn start(data_dir: &Path, port: u16) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_canopy"))
            .env("TRILIUM_DATA_DIR", data_dir)
            .env("TRILIUM_PORT", port.to_string())
            .env("TRILIUM_HOST", "127.0.0.1")
            .env("CANOPY_SITE_ROOT", "/nonexistent-site")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Process { child: Some(child), data_dir: data_dir.to_path_buf(), port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits (30 s at most) until `count` log lines contain `needle`.
    pub async fn wait_for(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.count(needle) < count {
            assert!(Instant::now() < deadline, "no {count}× '{needle}' in 30 s: {:#?}", self.lines());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `signal` (TERM, INT) and returns how long the exit took; panics after 10 s.
    pub fn stop_with(&mut self, signal: &str) -> Duration {
        let mut child = self.child.take().expect("running");
        let started = Instant::now();
        Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "exit status {status}: {:#?}", self.lines());
                return started.elapsed();
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("still running 10 s after SIG{signal}: {:#?}", self.lines());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGKILL, as a crash or the OOM killer ends a process: nothing of it runs any more.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// The write-ahead log is folded into `document.db`: no `-wal` file, or an empty one.
    pub fn assert_wal_folded(&self) {
        let wal = self.data_dir.join("document.db-wal");
        let len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert_eq!(len, 0, "{} still holds {len} bytes", wal.display());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A hub document with the tests' password, and two client data directories made from copies of it.
pub fn hub_and_client_dirs(root: &Path, hub_port: u16) -> (PathBuf, PathBuf, PathBuf) {
    let hub_url = format!("http://127.0.0.1:{hub_port}");
    hub_and_client_dirs_syncing_to(root, [&hub_url, &hub_url])
}

/// The same, each client syncing with its own address for the hub (a relay the test controls).
pub fn hub_and_client_dirs_syncing_to(root: &Path, sync_urls: [&str; 2]) -> (PathBuf, PathBuf, PathBuf) {
    let hub = root.join("hub");
    let made = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .arg("--set-password")
        .env("TRILIUM_DATA_DIR", &hub)
        .env("CANOPY_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stdout));
    std::fs::write(hub.join("config.ini"), "[General]\nnoBackup=true\n").unwrap();
    let clients: Vec<PathBuf> = ["client1", "client2"]
        .iter()
        .zip(sync_urls)
        .map(|(name, url)| {
            let dir = root.join(name);
            std::fs::create_dir(&dir).unwrap();
            std::fs::copy(hub.join("document.db"), dir.join("document.db")).unwrap();
            crate::cluster::write_config(&dir, url);
            dir
        })
        .collect();
    (hub, clients[0].clone(), clients[1].clone())
}

pub async fn create_note(http: &reqwest::Client, url: &str, token: &str, title: &str) -> String {
    let response = http
        .post(format!("{url}/etapi/create-note"))
        .header("Authorization", token)
        .json(&serde_json::json!({ "parentNoteId": "root", "title": title, "type": "text", "content": format!("<p>{title}</p>") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: serde_json::Value = response.json().await.unwrap();
    created["note"]["noteId"].as_str().unwrap().to_owned()
}

pub async fn has_note(http: &reqwest::Client, url: &str, token: &str, note_id: &str) -> bool {
    match http.get(format!("{url}/etapi/notes/{note_id}")).header("Authorization", token).send().await {
        Ok(r) => r.status() == 200,
        Err(_) => false,
    }
}

/// Polls until `url` holds `note_id`; the time it took, or `None` after `within`.
pub async fn time_until_note(http: &reqwest::Client, url: &str, token: &str, note_id: &str, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if has_note(http, url, token, note_id).await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_a_busy_hub_fast_and_clients_reconnect_by_themselves() {
    let root = tempfile::tempdir().unwrap();
    let hub_port = free_port();
    let (hub_dir, c1_dir, c2_dir) = hub_and_client_dirs(root.path(), hub_port);
    let mut hub = Process::start(&hub_dir, hub_port);
    hub.wait_for("listening on", 1).await;
    let mut c1 = Process::start(&c1_dir, free_port());
    let mut c2 = Process::start(&c2_dir, free_port());
    for client in [&c1, &c2] {
        client.wait_for("Sync connection established", 1).await;
        client.wait_for("sync with", 1).await;
    }
    let http = reqwest::Client::new();
    let (t1, t2) = (crate::common::etapi_token(&c1.url(), PASSWORD).await, crate::common::etapi_token(&c2.url(), PASSWORD).await);

    // What holds a hub open: both clients' long polls (they wait after their first cycle) and an open
    // page's live channel.
    let browser = Browser::logged_in_at(&hub.url()).await;
    let events = browser.http.get(format!("{}/api/ui/events", hub.url())).send().await.unwrap();
    assert_eq!(events.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let took = hub.stop_with("TERM");
    assert!(took < Duration::from_secs(2), "the hub took {took:?} to stop");
    assert_eq!(hub.count("stopped in"), 1, "{:#?}", hub.lines());
    hub.assert_wal_folded();
    drop(events);
    println!("hub stopped in {took:?}");

    // Client 1 writes while the hub is away, for about three seconds.
    let mut notes = Vec::new();
    for i in 0..15 {
        notes.push(create_note(&http, &c1.url(), &t1, &format!("written while the hub was away {i}")).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hub = Process::start(&hub_dir, hub_port);
    hub.wait_for("listening on", 1).await;
    let last = notes.last().unwrap();
    let caught_up = time_until_note(&http, &c2.url(), &t2, last, Duration::from_secs(10)).await;
    println!("client 2 held client 1's last note {caught_up:?} after the hub's return");
    let caught_up = caught_up.expect("client 2 never got client 1's note");
    assert!(caught_up < Duration::from_secs(2), "client 2 caught up only after {caught_up:?}");
    for note in &notes {
        assert!(has_note(&http, &c2.url(), &t2, note).await);
    }

    // Quiet retries: the lost connection once, its return once, no ERROR, on both clients.
    for (name, client) in [("client 1", &c1), ("client 2", &c2)] {
        client.wait_for("reachable again", 1).await;
        let lines = client.lines();
        assert_eq!(client.count("lost the connection"), 1, "{name}: {lines:#?}");
        assert_eq!(client.count("reachable again"), 1, "{name}: {lines:#?}");
        assert_eq!(client.count("ERROR"), 0, "{name}: {lines:#?}");
    }

    // Every instance stops fast with its log folded: a client by SIGTERM, the other by Ctrl+C.
    let mut hub = hub;
    for (process, signal) in [(&mut c1, "TERM"), (&mut c2, "INT"), (&mut hub, "TERM")] {
        let took = process.stop_with(signal);
        assert!(took < Duration::from_secs(2), "SIG{signal} took {took:?}");
        assert_eq!(process.count("stopped in"), 1, "{:#?}", process.lines());
        process.assert_wal_folded();
        println!("SIG{signal}: stopped in {took:?}");
    }
}

/// A client in the middle of a long first pull stops within 2 s, and what it applied is kept.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_a_client_mid_pull() {
    let root = tempfile::tempdir().unwrap();
    let hub_port = free_port();
    let (hub_dir, c1_dir, _) = hub_and_client_dirs(root.path(), hub_port);
    // Enough for many pull pages (~1 MB each), written into the hub before it starts.
    {
        let document = canopy::db::Document::open_existing(&hub_dir.join("document.db")).unwrap();
        let filler = "<p>".to_string() + &"lorem ipsum dolor sit amet ".repeat(200) + "</p>";
        let source = canopy::db::ChangeSource::new(std::fs::read_to_string(hub_dir.join("instance-id")).unwrap().trim());
        document
            .write(&source, |tx| {
                for i in 0..3000 {
                    canopy::db::tree::create_note(tx, canopy::db::tree::NewNote::text("root", &format!("Bulk {i}"), &format!("{filler}{i}")))?;
                }
                Ok(())
            })
            .unwrap();
        document.checkpoint().unwrap();
    }
    let hub = Process::start(&hub_dir, hub_port);
    hub.wait_for("listening on", 1).await;
    let mut client = Process::start(&c1_dir, free_port());
    client.wait_for(" outstanding", 2).await;
    let took = client.stop_with("TERM");
    assert!(took < Duration::from_secs(2), "the client took {took:?} to stop mid-pull");
    assert_eq!(client.count("stopped in"), 1, "{:#?}", client.lines());
    client.assert_wal_folded();
    let document = canopy::db::Document::open_existing(&c1_dir.join("document.db")).unwrap();
    let cursor: i64 = document.read(|c| canopy::db::options::get_int(c, "lastSyncedPull")).unwrap().unwrap_or(0);
    let bulk: i64 = document.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM notes WHERE title LIKE 'Bulk %'", [], |r| r.get(0))?)).unwrap();
    assert!(cursor > 0 && bulk > 0, "the pages applied before the stop are kept (cursor {cursor}, {bulk} notes)");
    println!("client stopped mid-pull in {took:?} with {bulk} of 3000 notes");
}
