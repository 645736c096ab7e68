//! `make bench`: the first full sync, the hash check and the web UI on a large document, measured.
//!
//! A hub (this process) gets N notes (default 100,000: about 320,000 entity changes with their
//! blobs and branches) and one folder of 1,000 children; the real `canopy` binary is then started as a
//! new client with `--sync-from-server` and timed until its first sync has finished; its peak memory is
//! read from /proc. Then the hub's hash check is timed after one edit, kept incrementally and
//! recomputed in full. Then the UI, logged in over HTTP: the server render of `/` with a note open and
//! the server function that lists the 1,000 children; and in Chromium (`end2end/bench/`): drawing
//! that level when it is expanded, and the time from the last keystroke in a note to "saved".
//! Search, right after the hub is filled: the full-text index built from scratch for the whole
//! document, quick-search latency over typed prefixes (titles and text, as the box asks while typing)
//! and the search page's full-text query, each through the UI's search port (server side, no HTTP).
//!
//! ETAPI create: notes per second from one client over keep-alive. Last, the real binary started
//! again on the hub's document: its first answer and memory then.
//!
//! Usage: bench [NOTES]   (CANOPY_SITE_ROOT: the built front end, for the browser part)
use std::time::{Duration, Instant};

use canopy::db::tree::{self, NewNote};
use canopy::db::{entity_changes, password, ChangeSource};
use canopy::entities::BlobContent;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let notes: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(100_000);
    let work = tempfile::tempdir()?;
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
    hub.document.write(&source, |tx| password::set_password(tx, "bench"))?;
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
    let changes: i64 = hub.document.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM entity_changes", [], |r| r.get(0))?))?;
    println!("hub: {notes} notes, {changes} entity changes, made in {:.1} s", started.elapsed().as_secs_f64());
    search(&hub, work.path()).await?;

    // First full sync of a new client: the real binary, as a user runs it.
    let client_dir = work.path().join("client");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let binary = canopy_binary()?;
    let started = Instant::now();
    let mut child = std::process::Command::new(&binary)
        .arg("--sync-from-server")
        .arg(hub.url())
        .env("CANOPY_SYNC_PASSWORD", "bench")
        .env("TRILIUM_DATA_DIR", &client_dir)
        .env("TRILIUM_PORT", port.to_string())
        .env("CANOPY_SITE_ROOT", "/nonexistent-site")
        .env("RUST_LOG", std::env::var("BENCH_CLIENT_LOG").unwrap_or_else(|_| "warn".into()))
        .spawn()?;
    let pid = child.id();
    let mut peak_kib = 0u64;
    let mut probe = None;
    let initialized = loop {
        peak_kib = peak_kib.max(vm_hwm_kib(pid).unwrap_or(0));
        if is_initialized(&client_dir, &mut probe) {
            break true;
        }
        if child.try_wait()?.is_some() || started.elapsed() > Duration::from_secs(600) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let first_sync = started.elapsed();
    peak_kib = peak_kib.max(vm_hwm_kib(pid).unwrap_or(0));
    let _ = child.kill();
    let _ = child.wait();
    anyhow::ensure!(initialized, "the client did not finish its first sync");
    println!(
        "first full sync to an empty client: {:.2} s, client peak memory {:.0} MiB",
        first_sync.as_secs_f64(),
        peak_kib as f64 / 1024.0
    );

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
    println!(
        "hash check after one edit: {:.1} ms kept current, {:.1} ms recomputed from all rows",
        incremental.as_secs_f64() * 1000.0,
        recomputed.as_secs_f64() * 1000.0
    );
    etapi_create(&hub.url(), &parents[2]).await?;
    ui(&hub.url(), &wide, &parents[1]).await?;
    hub.stop().await?;
    start_up(&hub_dir).await?;
    Ok(())
}

/// ETAPI create, as a script would: one client, sequential requests over one keep-alive connection,
/// into a folder that already has its share of the document's notes.
async fn etapi_create(url: &str, parent: &str) -> anyhow::Result<()> {
    const CREATES: usize = 2_000;
    let http = reqwest::Client::new();
    let login: serde_json::Value =
        http.post(format!("{url}/etapi/auth/login")).json(&serde_json::json!({ "password": "bench" })).send().await?.json().await?;
    let token = login["authToken"].as_str().ok_or_else(|| anyhow::anyhow!("ETAPI login gave no token: {login}"))?.to_owned();
    let started = Instant::now();
    for i in 0..CREATES {
        let body = serde_json::json!({ "parentNoteId": parent, "title": format!("ETAPI {i}"), "type": "text", "content": format!("<p>created {i}</p>") });
        let response = http.post(format!("{url}/etapi/create-note")).header("Authorization", &token).json(&body).send().await?;
        anyhow::ensure!(response.status().is_success(), "create-note answered {}", response.status());
        response.bytes().await?;
    }
    let elapsed = started.elapsed();
    println!(
        "ETAPI create, one client, sequential over keep-alive: {:.0} notes/s ({CREATES} notes in {:.2} s)",
        CREATES as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    Ok(())
}

/// The real binary started again on the hub's document, as a user restarts it: the time to its
/// first answer (the login page) and its resident memory at that moment.
async fn start_up(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let binary = canopy_binary()?;
    let started = Instant::now();
    let mut child = std::process::Command::new(&binary)
        .env("TRILIUM_DATA_DIR", data_dir)
        .env("TRILIUM_PORT", port.to_string())
        .env("CANOPY_SITE_ROOT", "/nonexistent-site")
        .env("RUST_LOG", "warn")
        .spawn()?;
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/login");
    let answered = loop {
        if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
            break Some(started.elapsed());
        }
        if child.try_wait()?.is_some() || started.elapsed() > Duration::from_secs(60) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let resident_kib = proc_status_kib(child.id(), "VmRSS:").unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let answered = answered.ok_or_else(|| anyhow::anyhow!("the restarted instance did not answer"))?;
    println!(
        "start-up on this document: first answer after {:.3} s, {:.0} MiB resident then",
        answered.as_secs_f64(),
        resident_kib as f64 / 1024.0
    );
    Ok(())
}

/// The index built from scratch beside a copy of nothing (the hub's own follows its writes), then
/// the hub's index asked what the quick-search box and the search page ask.
async fn search(hub: &canopy::RunningInstance, work: &std::path::Path) -> anyhow::Result<()> {
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
    println!("search index built from scratch: {:.1} s, {:.0} MiB", built.as_secs_f64(), size as f64 / (1024.0 * 1024.0));

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
    println!("the hub's own index current {:.1} s after the last write", t.elapsed().as_secs_f64());
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
    println!("quick search while typing (titles, then text with snippets): {}", summary(&mut quick));
    let found = port.quick("Note 4242", app::search::api::QUICK_LIMIT).map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(found.titles.first().is_some_and(|h| h.title == "Note 4242") || found.titles.is_empty(), "quick search ranks titles wrong");
    let mut full = Vec::new();
    for query in ["4242", "dolor 4242", "\"dolor sit\" 777", "#iconClass"] {
        let t = Instant::now();
        let results = port.full(query).map_err(|e| anyhow::anyhow!("{e}"))?;
        full.push(t.elapsed());
        println!("  search page `{query}`: {} notes in {:.0} ms", results.total, full.last().unwrap().as_secs_f64() * 1000.0);
    }
    println!("search page, full text with the language (narrowed by the index where it can): {}", summary(&mut full));
    Ok(())
}

const WIDE_CHILDREN: usize = 1_000;
const ROUNDS: usize = 20;

/// The UI as a person meets it: logged in, a page with a note open, a wide level, an edit saved.
async fn ui(url: &str, wide_folder: &str, open_note: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let login = http.post(format!("{url}/login")).header("Origin", url).form(&[("password", "bench")]).send().await?;
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
    println!("server render of / with a note open: {}", summary(&mut renders));
    println!("listing a level of {WIDE_CHILDREN} children (/ui/children): {}", summary(&mut levels));

    let end2end = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../end2end");
    let status = std::process::Command::new("npx")
        .args(["playwright", "test", "--config", "bench/bench.config.ts"])
        .current_dir(&end2end)
        .env("CANOPY_URL", url)
        .env("CANOPY_E2E_PASSWORD", "bench")
        .env("BENCH_WIDE_NOTE", wide_folder)
        .env("BENCH_OPEN_NOTE", open_note)
        .env("BENCH_ROUNDS", "10")
        .status()?;
    anyhow::ensure!(status.success(), "the browser part of the benchmark failed");
    Ok(())
}

/// Median and 95th percentile, in milliseconds.
fn summary(times: &mut [Duration]) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p95 = times[((times.len() * 95).div_ceil(100)).saturating_sub(1)];
    format!("median {:.1} ms, p95 {:.1} ms ({} rounds)", ms(times[times.len() / 2]), ms(p95), times.len())
}

/// Whether the client's first sync has finished, asked of its document through one read-only
/// connection (opening the document as an instance does, 50 times a second, would slow the client).
fn is_initialized(data_dir: &std::path::Path, probe: &mut Option<rusqlite::Connection>) -> bool {
    let path = data_dir.join("document.db");
    if probe.is_none() && path.exists() {
        *probe = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok();
    }
    let Some(conn) = probe else { return false };
    conn.query_row("SELECT value FROM options WHERE name = 'initialized'", [], |r| r.get::<_, String>(0))
        .is_ok_and(|v| v == "true")
}

/// The `canopy` binary built beside this benchmark (`target/release/canopy`).
fn canopy_binary() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe.parent().and_then(|p| p.parent()).ok_or_else(|| anyhow::anyhow!("{} has no target directory", exe.display()))?;
    Ok(target.join("canopy"))
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmHWM:")
}

/// A `/proc/<pid>/status` figure in KiB (`VmHWM:` the peak resident memory, `VmRSS:` the current).
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
