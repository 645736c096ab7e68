//! `make bench`: first full sync and the hash check on a large document, measured.
//!
//! A hub (this process) gets N notes (default 100,000: about 320,000 entity changes with their
//! blobs and branches); the real `canopy` binary is then started as a new client with
//! `--sync-from-server` and timed until its first sync has finished; its peak memory is read from
//! /proc. Then the hub's hash check is timed after one edit, kept incrementally and recomputed in full.
//!
//! Usage: sync_bench [NOTES]
use std::time::{Duration, Instant};

use canopy::db::tree::{self, NewNote};
use canopy::db::{entity_changes, options, password, ChangeSource, Document};
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
        site_root: "/nonexistent-site".into(),
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
    let changes: i64 = hub.document.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM entity_changes", [], |r| r.get(0))?))?;
    println!("hub: {notes} notes, {changes} entity changes, made in {:.1} s", started.elapsed().as_secs_f64());

    // First full sync of a new client: the real binary, as a user runs it.
    let client_dir = work.path().join("client");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let binary = std::env::current_exe()?.parent().and_then(|p| p.parent()).map(|p| p.join("canopy")).expect("target dir");
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
    let initialized = loop {
        peak_kib = peak_kib.max(vm_hwm_kib(pid).unwrap_or(0));
        if is_initialized(&client_dir) {
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
    hub.stop().await?;
    Ok(())
}

fn is_initialized(data_dir: &std::path::Path) -> bool {
    let Ok(document) = Document::open_existing(&data_dir.join("document.db")) else { return false };
    document.read(|c| Ok(options::get(c, "initialized")?.as_deref() == Some("true"))).unwrap_or(false)
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
