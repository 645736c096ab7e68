//! `make bench`: Canopy at scale, measured, with one table at the end (and JSON beside the binary).
//!
//! A hub (this process) gets N notes (default 100,000: about 320,000 entity changes with their
//! blobs and branches) and one folder of 1,000 children. On it, in this process: the search index
//! built from scratch and searches as the quick-search box and the search page ask them; the hash
//! check after one edit, kept incrementally and recomputed in full; ETAPI create from one client over
//! keep-alive; the UI logged in over HTTP (the server render of `/` with a note open, the server
//! function that lists the 1,000 children) and in Chromium (`end2end/bench/`: drawing that level,
//! the time from the last keystroke in a note to "saved").
//!
//! Then the cluster as users run it, every instance the real `canopy` binary with its own data
//! directory: the hub restarted on its document (first answer, memory then); two new clients set up
//! with `--sync-from-server` (the first full sync: its time, the client's peak memory, the hub's);
//! new notes written on client 1 while it was stopped, timed from its start until the hub and then
//! client 2 (by itself, through its long poll) have them; single edits on client 1 through ETAPI
//! until client 2 shows each. Last, the three documents' hash checks must be equal, or the benchmark
//! fails.
//!
//! After the cluster, the load part (`load`): the hub binary on a new document and 50 clients
//! simulated in this process over real HTTP, each writing a note a second for a minute while
//! long-polling; every request must succeed and every client converge, and the push and pull times at
//! the client, the travel of a note to all clients and the hub's memory and CPU are reported.
//!
//! Before the cluster, the physical limits of its first sync (`limits`): the document's synced rows
//! inserted into a fresh SQLite file, encoded as JSON, sent over loopback. After it, with
//! `TRILIUM_DIR` naming a Trilium 0.63.7 install, the same workloads on Trilium (`trilium`), its
//! figures and Canopy's lead beside each row; without it the table says the comparison was skipped.
//!
//! Usage: bench [NOTES]   (CANOPY_SITE_ROOT: the built front end, for the browser part;
//! BENCH_JSON: where the JSON goes, by default `bench.json` beside this binary, with each
//! instance's log in `bench-logs/`; BENCH_BROWSER=0 leaves out the part in Chromium;
//! TRILIUM_DIR: Trilium beside it; BENCH_LOAD_CLIENTS, BENCH_LOAD_SECS: the load part's size, by default
//! 50 clients for 60 s; BENCH_ONLY=load runs only the load part, NOTES unused; BENCH_ONLY=first-sync
//! only the write path and one new client's first full sync, with the two hash checks compared)
mod limits;
mod load;
mod trilium;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use canopy::db::tree::{self, NewNote};
use canopy::db::{entity_changes, password, ChangeSource};
use canopy::entities::BlobContent;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let notes: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(100_000);
    let work = tempfile::tempdir()?;
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "load") {
        let mut report = Report::default();
        let outcome = load::run(work.path(), &mut report).await;
        report.finish()?;
        return outcome;
    }
    let hub_dir = work.path().join("hub");
    std::fs::create_dir(&hub_dir)?;
    std::fs::write(hub_dir.join("config.ini"), "[General]\nnoBackup=true\n")?;
    let hub = canopy::start(canopy::StartOptions {
        data_dir: hub_dir.clone(),
        site_root: std::env::var_os("CANOPY_SITE_ROOT").map(Into::into).unwrap_or_else(|| "/nonexistent-site".into()),
        listen: Some("127.0.0.1:0".parse()?),
        ..Default::default()
    })
    .await?;
    let source = ChangeSource::new("benchHub0000");
    let started = Instant::now();
    hub.document.write(&source, |tx| password::set_password(tx, PASSWORD))?;
    // A tree like a real one: 100 folders of notes, each note ~1 KB of HTML.
    let text = "<p>".to_string() + &"Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(18) + "</p>";
    let folders = 100.min(notes.max(1));
    let mut parents = Vec::new();
    hub.document.write(&source, |tx| {
        for f in 0..folders {
            parents.push(tree::create_note(tx, NewNote::text("root", &format!("Folder {f}"), ""))?.0.note_id);
        }
        Ok(())
    })?;
    for chunk in (0..notes).collect::<Vec<_>>().chunks(5_000) {
        hub.document.write(&source, |tx| {
            for &i in chunk {
                let parent = &parents[i % parents.len()];
                tree::create_note(tx, NewNote::text(parent, &format!("Note {i}"), &format!("{text}<p>{i}</p>")))?;
            }
            Ok(())
        })?;
    }
    let wide = hub.document.write(&source, |tx| {
        let folder = tree::create_note(tx, NewNote::text("root", "Wide folder", ""))?.0.note_id;
        for i in 0..WIDE_CHILDREN {
            tree::create_note(tx, NewNote::text(&folder, &format!("Wide child {i}"), "<p>child</p>"))?;
        }
        Ok(folder)
    })?;
    let made = started.elapsed();
    let only_first_sync = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "first-sync");
    let changes: i64 = hub.document.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM entity_changes", [], |r| r.get(0))?))?;
    let mut report = Report::default();
    report.add(
        "write_path",
        &format!("creating {} notes through the write path ({changes} entity changes)", thousands(notes)),
        made.as_secs_f64(),
        "s",
        "≤ 10 s",
    );
    if only_first_sync {
        hub.stop().await?;
        let outcome = first_sync_only(&hub_dir, work.path(), &mut report).await;
        report.finish()?;
        return outcome;
    }
    search(&hub, work.path(), &mut report).await?;

    // The hash check each cycle runs, after one edit: kept current vs recomputed from every row.
    let checker = ChangeSource::new("benchChecker");
    hub.document.hash_check_state(&checker)?; // warm: the first call computes everything once
    let edited = parents[0].clone();
    hub.document.write(&source, |tx| tree::update_note_content(tx, &edited, BlobContent::Text("<p>edited</p>".into())).map(|_| ()))?;
    let t = Instant::now();
    let (kept, _) = hub.document.hash_check_state(&checker)?;
    let incremental = t.elapsed();
    let t = Instant::now();
    let full = hub.document.read(|c| entity_changes::sector_hashes(c))?;
    let recomputed = t.elapsed();
    anyhow::ensure!(kept == full, "kept sector hashes differ from a full recomputation");
    report.add("hash_check", "hash check after one edit, kept current", incremental.as_secs_f64() * 1000.0, "ms", "≤ 2 ms");
    report.add("hash_check_full", "hash check recomputed from every row", recomputed.as_secs_f64() * 1000.0, "ms", "");
    report.add(
        "etapi_create",
        &format!("ETAPI create, one client, sequential over keep-alive ({ETAPI_CREATES} notes)"),
        etapi_create(&hub.url(), &parents[2]).await?,
        "notes/s",
        "≥ 5,000 notes/s",
    );
    ui(&hub.url(), &wide, &parents[1], &mut report).await?;
    hub.stop().await?;

    // The document as the cluster starts with it, for Trilium's hub and the physical limits.
    let document = work.path().join("document-before-cluster.db");
    rusqlite::Connection::open_with_flags(hub_dir.join("document.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?.backup(
        rusqlite::MAIN_DB,
        &document,
        None,
    )?;
    limits::run(&document, work.path(), &mut report)?;

    let new_notes = (notes / 10).max(100);
    let mut outcome = cluster(&hub_dir, work.path(), notes, new_notes, &mut report).await;
    let loaded = load::run(work.path(), &mut report).await;
    if let Err(e) = &loaded {
        report.note(&format!("the load part failed: {e:#}"));
    }
    outcome = outcome.and(loaded);
    match std::env::var_os("TRILIUM_DIR") {
        Some(trilium_dir) => {
            let compared = trilium::run(Path::new(&trilium_dir), &document, work.path(), &parents[2], new_notes, &mut report).await;
            if let Err(e) = &compared {
                report.note(&format!("the run on Trilium failed: {e:#}"));
            }
            outcome = outcome.and(compared);
        }
        None => report.note("the comparison with Trilium was skipped: TRILIUM_DIR does not name a Trilium 0.63.7 install (../shared/tools/trilium/)"),
    }
    report.finish()?;
    outcome
}

const PASSWORD: &str = "bench";

/// The hub and two clients as real processes: start-up, first full syncs, new notes and single edits
/// travelling client 1 → hub → client 2, and the three hash checks compared at the end.
async fn cluster(hub_dir: &Path, work: &Path, notes: usize, new_notes: usize, report: &mut Report) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(std::env::current_exe()?.with_file_name("bench-logs"));
    let mut hub = Instance::canopy(hub_dir, None)?;
    let answered = hub.wait_answering(Duration::from_secs(60)).await?;
    let resident_kib = proc_status_kib(hub.pid(), "VmRSS:").unwrap_or(0);
    report.add("startup", "start-up on this document: first answer", answered.as_secs_f64(), "s", "keep ≤ 0.03 s");
    report.add("startup_memory", "start-up: resident memory then", resident_kib as f64 / 1024.0, "MiB", "");

    let client1 = first_sync(&hub, &work.join("client1"), report, true).await?;
    let hub_peak = proc_status_kib(hub.pid(), "VmHWM:").unwrap_or(0);
    report.add(
        "hub_peak_memory",
        &format!("hub peak resident memory, serving {} notes to a new client", thousands(notes)),
        hub_peak as f64 / 1024.0,
        "MiB",
        "≤ 100 MiB",
    );
    let client2 = first_sync(&hub, &work.join("client2"), report, false).await?;

    let client1 = new_notes_travel(&hub, client1, &client2, new_notes, report).await?;
    let edited = edits_travel(&client1, &client2, report).await;

    let equal = settle(&[("hub", &hub.dir), ("client 1", &client1.dir), ("client 2", &client2.dir)]).await;
    for instance in [hub, client1, client2] {
        instance.stop();
    }
    edited?;
    equal
}

/// `BENCH_ONLY=first-sync`: the hub restarted as a process and one new client's first full sync.
async fn first_sync_only(hub_dir: &Path, work: &Path, report: &mut Report) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(std::env::current_exe()?.with_file_name("bench-logs"));
    let mut hub = Instance::canopy(hub_dir, None)?;
    hub.wait_answering(Duration::from_secs(60)).await?;
    let client = first_sync(&hub, &work.join("client1"), report, true).await?;
    let hub_peak = proc_status_kib(hub.pid(), "VmHWM:").unwrap_or(0);
    report.add("hub_peak_memory", "hub peak resident memory, serving it", hub_peak as f64 / 1024.0, "MiB", "≤ 100 MiB");
    let equal = settle(&[("hub", &hub.dir), ("client 1", &client.dir)]).await;
    hub.stop();
    client.stop();
    equal
}

const ETAPI_CREATES: usize = 2_000;

/// ETAPI create, as a script would: one client, sequential requests over one keep-alive connection,
/// into a folder that already has its share of the document's notes. Notes per second.
async fn etapi_create(url: &str, parent: &str) -> anyhow::Result<f64> {
    let http = reqwest::Client::new();
    let token = etapi_login(&http, url).await?;
    let started = Instant::now();
    for i in 0..ETAPI_CREATES {
        let body = serde_json::json!({ "parentNoteId": parent, "title": format!("ETAPI {i}"), "type": "text", "content": format!("<p>created {i}</p>") });
        let response = http.post(format!("{url}/etapi/create-note")).header("Authorization", &token).json(&body).send().await?;
        anyhow::ensure!(response.status().is_success(), "create-note answered {}", response.status());
        response.bytes().await?;
    }
    Ok(ETAPI_CREATES as f64 / started.elapsed().as_secs_f64())
}

/// An ETAPI token from the instance's password.
async fn etapi_login(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let login: serde_json::Value =
        http.post(format!("{url}/etapi/auth/login")).json(&serde_json::json!({ "password": PASSWORD })).send().await?.json().await?;
    Ok(login["authToken"].as_str().ok_or_else(|| anyhow::anyhow!("ETAPI login at {url} gave no token: {login}"))?.to_owned())
}

/// The index built from scratch beside a copy of nothing (the hub's own follows its writes), then
/// the hub's index asked what the quick-search box and the search page ask.
async fn search(hub: &canopy::RunningInstance, work: &Path, report: &mut Report) -> anyhow::Result<()> {
    use app::search::api::ssr::SearchPort;
    let fresh_dir = work.join("fresh-index");
    std::fs::create_dir(&fresh_dir)?;
    let fresh = canopy::search::SearchIndex::new(hub.document.clone(), &fresh_dir);
    let t = Instant::now();
    let task = fresh.spawn();
    while !fresh.is_ready() {
        anyhow::ensure!(t.elapsed() < Duration::from_secs(1800), "the index was not built in 30 minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let built = t.elapsed();
    task.abort();
    let size = std::fs::metadata(fresh.path())?.len();
    report.add("index_build", "search index built from scratch", built.as_secs_f64(), "s", "");
    report.add("index_file", "search index: its file", size as f64 / (1024.0 * 1024.0), "MiB", "");

    let t = Instant::now();
    while !hub.search.is_current() {
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(1800),
            "the hub's index did not catch up in 30 minutes (at change {} of the document's {})",
            hub.search.covered_change_id(),
            hub.document.read(|c| Ok(c.query_row("SELECT MAX(id) FROM entity_changes", [], |r| r.get::<_, i64>(0))?))?
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    report.add("index_follow", "the hub's own index current after the last write", t.elapsed().as_secs_f64(), "s", "");
    let port = canopy::ui::search::DocumentSearch {
        document: hub.document.clone(),
        instance_id: canopy::db::InstanceId::from("benchSearch0"),
        index: hub.search.clone(),
        protected: hub.protected.clone(),
    };
    // What the box sends while a person types these (one request per prefix of two or more characters).
    let typed = ["Note 4242", "Folder 17", "consectetur", "adipiscing elit", "lorem ipsum dolor", "nonexistent words", "Wide child 77"];
    let mut quick = Vec::new();
    for _ in 0..3 {
        for text in typed {
            for end in 2..=text.chars().count() {
                let prefix: String = text.chars().take(end).collect();
                let t = Instant::now();
                let found = port.quick(&prefix, app::search::api::QUICK_LIMIT).map_err(|e| anyhow::anyhow!("{e}"))?;
                quick.push(t.elapsed());
                std::hint::black_box(found);
            }
        }
    }
    report.add_times("quick_search", "quick search while typing (titles, then text with snippets)", &mut quick, "");
    let found = port.quick("Note 4242", app::search::api::QUICK_LIMIT).map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(found.titles.first().is_some_and(|h| h.title == "Note 4242") || found.titles.is_empty(), "quick search ranks titles wrong");
    let mut full = Vec::new();
    for query in ["4242", "dolor 4242", "\"dolor sit\" 777", "#iconClass"] {
        let t = Instant::now();
        let results = port.full(query).map_err(|e| anyhow::anyhow!("{e}"))?;
        full.push(t.elapsed());
        println!("  search page `{query}`: {} notes in {:.0} ms", results.total, full.last().unwrap().as_secs_f64() * 1000.0);
    }
    report.add_times("search_page", "search page, full text with the language (narrowed by the index where it can)", &mut full, "");
    Ok(())
}

const WIDE_CHILDREN: usize = 1_000;
const ROUNDS: usize = 20;

/// The UI as a person meets it: logged in, a page with a note open, a wide level, an edit saved.
async fn ui(url: &str, wide_folder: &str, open_note: &str, report: &mut Report) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let login = http.post(format!("{url}/login")).header("Origin", url).form(&[("password", PASSWORD)]).send().await?;
    let cookie = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("canopy.sid."))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("login did not start a session (status {})", login.status()))?;

    let mut renders = Vec::new();
    let mut page = String::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let response = http.get(format!("{url}/?note={open_note}")).header("Cookie", &cookie).send().await?;
        anyhow::ensure!(response.status().is_success(), "GET / answered {}", response.status());
        page = response.text().await?;
        renders.push(t.elapsed());
    }
    anyhow::ensure!(page.contains(open_note), "the page does not show the open note");
    let csrf = page
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| anyhow::anyhow!("the page carries no CSRF token"))?
        .to_owned();
    let mut levels = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let response = http
            .post(format!("{url}/ui/children"))
            .header("Cookie", &cookie)
            .header("X-CSRF-Token", &csrf)
            .form(&[("parent_note_id", wide_folder)])
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "/ui/children answered {}", response.status());
        let children: Vec<serde_json::Value> = response.json().await?;
        anyhow::ensure!(children.len() == WIDE_CHILDREN, "{} children listed", children.len());
        levels.push(t.elapsed());
    }
    report.add_times("render", "server render of / with a note open", &mut renders, "");
    report.add_times("level", &format!("listing a level of {WIDE_CHILDREN} children (/ui/children)"), &mut levels, "");

    if std::env::var("BENCH_BROWSER").is_ok_and(|v| v == "0") {
        println!("the browser part was skipped (BENCH_BROWSER=0)");
        return Ok(());
    }
    let end2end = Path::new(env!("CARGO_MANIFEST_DIR")).join("../end2end");
    let status = std::process::Command::new("npx")
        .args(["playwright", "test", "--config", "bench/bench.config.ts"])
        .current_dir(&end2end)
        .env("CANOPY_URL", url)
        .env("CANOPY_E2E_PASSWORD", PASSWORD)
        .env("BENCH_WIDE_NOTE", wide_folder)
        .env("BENCH_OPEN_NOTE", open_note)
        .env("BENCH_ROUNDS", "10")
        .status()?;
    anyhow::ensure!(status.success(), "the browser part of the benchmark failed");
    Ok(())
}

/// Whether the client's first sync has finished, asked of its document through one read-only
/// connection (opening the document as an instance does, 50 times a second, would slow the client).
fn is_initialized(data_dir: &Path, probe: &mut Option<rusqlite::Connection>) -> bool {
    probe_of(data_dir, probe).is_some_and(|c| {
        c.query_row("SELECT value FROM options WHERE name = 'initialized'", [], |r| r.get::<_, String>(0)).is_ok_and(|v| v == "true")
    })
}

/// The `canopy` binary built beside this benchmark (`target/release/canopy`).
fn canopy_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe.parent().and_then(|p| p.parent()).ok_or_else(|| anyhow::anyhow!("{} has no target directory", exe.display()))?;
    Ok(target.join("canopy"))
}

/// A `/proc/<pid>/status` figure in KiB (`VmHWM:` the peak resident memory, `VmRSS:` the current).
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A real process of a cluster (the `canopy` binary, or Trilium's), with its own data directory and port.
struct Instance {
    child: std::process::Child,
    dir: PathBuf,
    url: String,
}

impl Instance {
    /// Starts the `canopy` binary on `dir`; with `sync_from`, as a new client of that hub
    /// (`--sync-from-server`).
    fn canopy(dir: &Path, sync_from: Option<&str>) -> anyhow::Result<Instance> {
        let mut command = std::process::Command::new(canopy_binary()?);
        if let Some(hub) = sync_from {
            command.arg("--sync-from-server").arg(hub).env("CANOPY_SYNC_PASSWORD", PASSWORD);
        }
        command
            .env("CANOPY_SITE_ROOT", "/nonexistent-site")
            .env("RUST_LOG", std::env::var("BENCH_CLIENT_LOG").unwrap_or_else(|_| "warn".into()));
        Instance::launch(command, dir, free_port()?)
    }

    /// Starts Trilium (`node src/www.js` in `trilium_dir`) on `dir`, once `prepare` has readied that
    /// directory for the port it gets.
    fn trilium(trilium_dir: &Path, dir: &Path, prepare: impl FnOnce(&Path, u16) -> anyhow::Result<()>) -> anyhow::Result<Instance> {
        let port = free_port()?;
        prepare(dir, port)?;
        let mut command = std::process::Command::new("node");
        command
            .arg("src/www.js")
            .current_dir(trilium_dir)
            .env("TRILIUM_HOST", "127.0.0.1")
            .env_remove("TRILIUM_ENV")
            .env_remove("TRILIUM_SYNC_SERVER_HOST");
        Instance::launch(command, dir, port)
    }

    /// Each instance logs to `bench-logs/<its directory's name>.log` beside this binary, kept after
    /// the run (Canopy: warnings, unless BENCH_CLIENT_LOG sets RUST_LOG).
    fn launch(mut command: std::process::Command, dir: &Path, port: u16) -> anyhow::Result<Instance> {
        let logs = std::env::current_exe()?.with_file_name("bench-logs");
        std::fs::create_dir_all(&logs)?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "instance".into());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(logs.join(format!("{name}.log")))?;
        let child = command
            .stdout(log.try_clone()?)
            .stderr(log)
            .env("TRILIUM_DATA_DIR", dir)
            .env("TRILIUM_PORT", port.to_string())
            .spawn()
            .map_err(|e| anyhow::anyhow!("{:?} did not start: {e}", command.get_program()))?;
        Ok(Instance { child, dir: dir.to_owned(), url: format!("http://127.0.0.1:{port}") })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn ensure_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => anyhow::bail!("the instance in {} ended: {status}", self.dir.display()),
        }
    }

    /// The time until it answers its login page.
    async fn wait_answering(&mut self, timeout: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let http = reqwest::Client::new();
        let url = format!("{}/login", self.url);
        loop {
            if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(started.elapsed());
            }
            self.ensure_running()?;
            anyhow::ensure!(started.elapsed() < timeout, "{} did not answer in {timeout:?}", self.url);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Stops it as a service manager does (SIGTERM), and waits for it (killed after 30 s).
    fn stop(mut self) {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        let asked = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) && asked.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Instance {
    /// A benchmark that fails half-way leaves no instance running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until a new client's first sync has finished (its document says it is initialized).
async fn wait_initialized(client: &mut Instance, started: Instant, timeout: Duration) -> anyhow::Result<()> {
    let mut probe = None;
    while !is_initialized(&client.dir, &mut probe) {
        client.ensure_running()?;
        anyhow::ensure!(started.elapsed() < timeout, "the client in {} did not finish its first sync in {timeout:?}", client.dir.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// A new client set up from the hub, as a user does it, until its first sync has finished.
async fn first_sync(hub: &Instance, dir: &Path, report: &mut Report, reported: bool) -> anyhow::Result<Instance> {
    let started = Instant::now();
    let mut client = Instance::canopy(dir, Some(&hub.url))?;
    wait_initialized(&mut client, started, Duration::from_secs(600)).await?;
    let took = started.elapsed();
    let peak_kib = proc_status_kib(client.pid(), "VmHWM:").unwrap_or(0);
    if reported {
        report.add("first_sync", "first full sync to an empty client", took.as_secs_f64(), "s", "≤ 3 s");
        report.add("first_sync_memory", "its client peak resident memory", peak_kib as f64 / 1024.0, "MiB", "≤ 100 MiB");
    }
    client.wait_answering(Duration::from_secs(60)).await?;
    Ok(client)
}

/// `count` new notes, 100 per parent, written on client 1 while it was stopped: the time from its
/// start until the hub has them all, and until client 2 has them (told by the hub's long poll).
async fn new_notes_travel(
    hub: &Instance,
    client1: Instance,
    client2: &Instance,
    count: usize,
    report: &mut Report,
) -> anyhow::Result<Instance> {
    let dir = client1.dir.clone();
    client1.stop();
    let instance_id = std::fs::read_to_string(dir.join("instance-id"))?.trim().to_owned();
    let last = write_offline(&dir, &instance_id, count)?;

    let started = Instant::now();
    let mut client1 = Instance::canopy(&dir, None)?;
    let mut at_hub = None;
    let mut at_client2 = None;
    let (mut hub_probe, mut client2_probe) = (None, None);
    while at_client2.is_none() {
        if at_hub.is_none() && has_note(&hub.dir, &last, &mut hub_probe) {
            at_hub = Some(started.elapsed());
        }
        if has_note(&client2.dir, &last, &mut client2_probe) {
            at_client2 = Some(started.elapsed());
            at_hub.get_or_insert(started.elapsed());
        }
        client1.ensure_running()?;
        anyhow::ensure!(started.elapsed() < Duration::from_secs(300), "the new notes did not reach the hub and client 2 in 5 minutes");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (at_hub, at_client2) = (at_hub.unwrap_or_default(), at_client2.unwrap_or_default());
    let work = format!("{} new notes (100 per parent), from client 1's start", thousands(count));
    report.add("new_notes_hub", &format!("{work}: at the hub"), at_hub.as_secs_f64(), "s", "≤ 0.2 s");
    report.add("new_notes_client2", &format!("{work}: at client 2, by itself"), at_client2.as_secs_f64(), "s", "≤ 0.4 s");
    client1.wait_answering(Duration::from_secs(60)).await?;
    Ok(client1)
}

/// `count` new notes, 100 per parent under one new folder, written as `instance_id` into the stopped
/// instance's document in `dir`; the id of the last one.
fn write_offline(dir: &Path, instance_id: &str, count: usize) -> anyhow::Result<String> {
    let document = canopy::Document::open_existing(&dir.join("document.db"))?;
    let last = document.write(&ChangeSource::new(instance_id), |tx| {
        let batch = tree::create_note(tx, NewNote::text("root", "Batch", ""))?.0.note_id;
        let mut last = String::new();
        for first in (0..count).step_by(100) {
            let folder = tree::create_note(tx, NewNote::text(&batch, &format!("Batch folder {}", first / 100), ""))?.0.note_id;
            for n in first..count.min(first + 100) {
                last = tree::create_note(tx, NewNote::text(&folder, &format!("Batch note {n}"), "<p>batch</p>"))?.0.note_id;
            }
        }
        Ok(last)
    })?;
    document.checkpoint()?;
    Ok(last)
}

const EDITS: usize = 100;

/// One edit at a time on client 1 (ETAPI), each timed until client 2's document holds it.
async fn edits_travel(client1: &Instance, client2: &Instance, report: &mut Report) -> anyhow::Result<()> {
    let mut times = timed_edits(&client1.url, &client2.dir, EDITS, async || Ok(())).await?;
    report.add_times("edit_travel", "one edit on client 1 (ETAPI) visible on client 2, Canopy hub, no trigger", &mut times, "p95 ≤ 250 ms");
    Ok(())
}

/// A new note on client 1, then `rounds` edits of it through ETAPI, one at a time, each timed until
/// client 2's document holds it. `deliver` runs after each write (Trilium: a sync asked of both).
async fn timed_edits(
    client1_url: &str,
    client2_dir: &Path,
    rounds: usize,
    deliver: impl AsyncFn() -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::new();
    let token = etapi_login(&http, client1_url).await?;
    let body = serde_json::json!({ "parentNoteId": "root", "title": "Edited on client 1", "type": "text", "content": "<p>edit 0</p>" });
    let created: serde_json::Value =
        http.post(format!("{client1_url}/etapi/create-note")).header("Authorization", &token).json(&body).send().await?.json().await?;
    let note_id = created["note"]["noteId"].as_str().ok_or_else(|| anyhow::anyhow!("create-note gave no note: {created}"))?.to_owned();
    let mut probe = None;
    let mut times = Vec::new();
    for i in 0..=rounds {
        let text = format!("<p>edit {i}</p>");
        let t = Instant::now();
        if i > 0 {
            let response = http
                .put(format!("{client1_url}/etapi/notes/{note_id}/content"))
                .header("Authorization", &token)
                .header("Content-Type", "text/plain")
                .body(text.clone())
                .send()
                .await?;
            anyhow::ensure!(response.status().is_success(), "PUT content at {client1_url} answered {}", response.status());
        }
        deliver().await?;
        while note_content(client2_dir, &note_id, &mut probe).as_deref() != Some(text.as_bytes()) {
            anyhow::ensure!(t.elapsed() < Duration::from_secs(60), "edit {i} did not reach {} in a minute", client2_dir.display());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if i > 0 {
            times.push(t.elapsed());
        }
    }
    Ok(times)
}

/// Waits (a minute at most) until the instances' hash checks are equal; an error names the sectors
/// that still differ.
async fn settle(instances: &[(&str, &Path)]) -> anyhow::Result<()> {
    let names: Vec<&str> = instances.iter().map(|(n, _)| *n).collect();
    let started = Instant::now();
    loop {
        let hashes = instances
            .iter()
            .map(|(_, dir)| {
                let conn = rusqlite::Connection::open_with_flags(dir.join("document.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
                Ok(entity_changes::sector_hashes(&conn)?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if hashes.windows(2).all(|w| w[0] == w[1]) {
            println!("hash checks of {}: equal", names.join(", "));
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            let mut differing = Vec::new();
            for (entity, sectors) in &hashes[0] {
                for (sector, hash) in sectors {
                    if hashes.iter().any(|h| h.get(entity).and_then(|s| s.get(sector)) != Some(hash)) {
                        differing.push(format!("{entity}/{sector}"));
                    }
                }
            }
            anyhow::bail!("the hash checks of {} still differ after a minute, at {}", names.join(", "), differing.join(" "));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A read-only connection to an instance's document, opened on first use.
fn probe_of<'a>(data_dir: &Path, probe: &'a mut Option<rusqlite::Connection>) -> Option<&'a rusqlite::Connection> {
    if probe.is_none() {
        let path = data_dir.join("document.db");
        if path.exists() {
            *probe = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok();
        }
    }
    probe.as_ref()
}

fn has_note(data_dir: &Path, note_id: &str, probe: &mut Option<rusqlite::Connection>) -> bool {
    probe_of(data_dir, probe)
        .is_some_and(|c| c.query_row("SELECT 1 FROM notes WHERE noteId = ?1", [note_id], |_| Ok(())).is_ok())
}

fn note_content(data_dir: &Path, note_id: &str, probe: &mut Option<rusqlite::Connection>) -> Option<Vec<u8>> {
    let conn = probe_of(data_dir, probe)?;
    let value: rusqlite::types::Value = conn
        .query_row("SELECT b.content FROM notes n JOIN blobs b ON b.blobId = n.blobId WHERE n.noteId = ?1", [note_id], |r| r.get(0))
        .ok()?;
    match value {
        rusqlite::types::Value::Text(t) => Some(t.into_bytes()),
        rusqlite::types::Value::Blob(b) => Some(b),
        _ => None,
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Every figure as it is measured, Trilium's beside it where it was run, then one table and a JSON file.
#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

struct Row {
    /// What the JSON calls it, and what Trilium's figure for the same work is filed under.
    key: &'static str,
    work: String,
    unit: &'static str,
    canopy: Figure,
    trilium: Option<Figure>,
    target: String,
}

#[derive(Clone, Copy)]
enum Figure {
    Value(f64),
    /// Median and 95th percentile of many rounds, in milliseconds.
    Times { median: f64, p95: f64, rounds: usize },
    /// Median, 99th percentile and largest of many, in milliseconds.
    Tail { median: f64, p99: f64, max: f64, count: usize },
}

impl Figure {
    fn times(times: &mut [Duration]) -> Figure {
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Figure::Times {
            median: ms(times[times.len() / 2]),
            p95: ms(times[((times.len() * 95).div_ceil(100)).saturating_sub(1)]),
            rounds: times.len(),
        }
    }

    fn tail(times: &mut [Duration]) -> Figure {
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let at = |n: usize| times.get(n.saturating_sub(1)).copied().map_or(0.0, ms);
        Figure::Tail { median: at(times.len().div_ceil(2)), p99: at((times.len() * 99).div_ceil(100)), max: at(times.len()), count: times.len() }
    }

    fn text(self, unit: &str) -> String {
        match self {
            Figure::Value(value) => match unit {
                "ms" => format!("{value:.1} ms"),
                "s" => format!("{value:.2} s"),
                _ => format!("{value:.0} {unit}"),
            },
            Figure::Times { median, p95, rounds } => format!("median {median:.1} ms, p95 {p95:.1} ms ({rounds} rounds)"),
            Figure::Tail { median, p99, max, count } => format!("median {median:.1} ms, p99 {p99:.1} ms, max {max:.1} ms ({} of them)", thousands(count)),
        }
    }

    /// The number compared: the value, the median, or the 99th percentile of a tail.
    fn headline(self) -> f64 {
        match self {
            Figure::Value(value) => value,
            Figure::Times { median, .. } => median,
            Figure::Tail { p99, .. } => p99,
        }
    }

    fn json(self) -> serde_json::Value {
        match self {
            Figure::Value(value) => serde_json::json!({ "value": value }),
            Figure::Times { median, p95, rounds } => serde_json::json!({ "median_ms": median, "p95_ms": p95, "rounds": rounds }),
            Figure::Tail { median, p99, max, count } => serde_json::json!({ "median_ms": median, "p99_ms": p99, "max_ms": max, "count": count }),
        }
    }
}

impl Row {
    /// How many times better Canopy's figure is than Trilium's (higher is better only for rates).
    fn advantage(&self) -> Option<f64> {
        let (canopy, trilium) = (self.canopy.headline(), self.trilium?.headline());
        let ratio = if self.unit.ends_with("/s") { canopy / trilium } else { trilium / canopy };
        ratio.is_finite().then_some(ratio)
    }
}

impl Report {
    fn add(&mut self, key: &'static str, work: &str, value: f64, unit: &'static str, target: &str) {
        self.push(key, work, unit, Figure::Value(value), target);
    }

    fn add_times(&mut self, key: &'static str, work: &str, times: &mut [Duration], target: &str) {
        self.push(key, work, "ms", Figure::times(times), target);
    }

    /// Many times, as median, 99th percentile and largest.
    fn add_tail(&mut self, key: &'static str, work: &str, times: &mut [Duration], target: &str) {
        self.push(key, work, "ms", Figure::tail(times), target);
    }

    fn push(&mut self, key: &'static str, work: &str, unit: &'static str, canopy: Figure, target: &str) {
        println!("{work}: {}", canopy.text(unit));
        self.rows.push(Row { key, work: work.to_owned(), unit, canopy, trilium: None, target: target.to_owned() });
    }

    /// Trilium's figure for the work Canopy's row `key` measured, in the same unit.
    fn trilium(&mut self, key: &str, value: f64) {
        self.set_trilium(key, Figure::Value(value));
    }

    fn trilium_times(&mut self, key: &str, times: &mut [Duration]) {
        self.set_trilium(key, Figure::times(times));
    }

    fn set_trilium(&mut self, key: &str, figure: Figure) {
        let row = self.rows.iter_mut().find(|r| r.key == key).unwrap_or_else(|| panic!("no row `{key}` for Trilium's figure"));
        println!("{} (Trilium): {}", row.work, figure.text(row.unit));
        row.trilium = Some(figure);
    }

    /// A line printed under the table (and kept in the JSON).
    fn note(&mut self, text: &str) {
        println!("{text}");
        self.notes.push(text.to_owned());
    }

    fn figure(&self, key: &str) -> Option<f64> {
        self.rows.iter().find(|r| r.key == key).map(|r| r.canopy.headline())
    }

    /// Prints the table and writes the JSON (`BENCH_JSON`, or `bench.json` beside this binary).
    fn finish(&self) -> anyhow::Result<()> {
        let machine = format!(
            "{} cores, {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|c| c.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_owned()))
                .unwrap_or_else(|| "unknown processor".into())
        );
        let columns: Vec<[String; 5]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.work.clone(),
                    r.canopy.text(r.unit),
                    r.trilium.map(|t| t.text(r.unit)).unwrap_or_default(),
                    r.advantage().map(|a| format!("{a:.1}×")).unwrap_or_default(),
                    r.target.clone(),
                ]
            })
            .collect();
        let header = ["work".to_owned(), "Canopy".to_owned(), "Trilium 0.63.7".to_owned(), "Canopy's lead".to_owned(), "target".to_owned()];
        let widths: Vec<usize> =
            (0..5).map(|i| columns.iter().chain([&header]).map(|c| c[i].chars().count()).max().unwrap_or(0)).collect();
        println!("\nCanopy, release build, on {machine}");
        for c in [&header].into_iter().chain(&columns) {
            println!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {}",
                c[0],
                c[1],
                c[2],
                c[3],
                c[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            );
        }
        if let (Some(sync), Some(limit)) = (self.figure("first_sync"), self.limit_of_first_sync()) {
            println!("the first full sync takes {:.1}× its physical limit (inserting, encoding and sending its rows: {limit:.2} s)", sync / limit);
        }
        for note in &self.notes {
            println!("{note}");
        }
        let path = match std::env::var_os("BENCH_JSON") {
            Some(p) => PathBuf::from(p),
            None => std::env::current_exe()?.with_file_name("bench.json"),
        };
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "key": r.key, "work": r.work, "unit": r.unit, "target": r.target,
                    "canopy": r.canopy.json(), "trilium": r.trilium.map(Figure::json), "canopy_lead": r.advantage(),
                })
            })
            .collect();
        std::fs::write(&path, serde_json::to_vec_pretty(&serde_json::json!({ "machine": machine, "rows": rows, "notes": self.notes }))?)?;
        println!("written to {}", path.display());
        Ok(())
    }

    /// The physical limit of a first full sync: its rows inserted, encoded and sent, one after another.
    fn limit_of_first_sync(&self) -> Option<f64> {
        Some(self.figure("limit_insert")? + self.figure("limit_encode")? + self.figure("limit_loopback")?)
    }
}
