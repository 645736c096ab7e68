//! Near-live sync through a hub without change notifications: two Canopy clients of a Trilium hub,
//! 20 edits from client 1, each timed until client 2 holds it, nobody pressing "sync now".
//!
//! With `TRILIUM_DIR` naming a Trilium 0.63.7 install (see `../shared/tools/trilium/README.md`) the
//! hub is a real Trilium process, and its CPU time per client per hour is measured from
//! `/proc/<pid>/stat`. Without it, the hub is a Canopy hub behind a stand-in front that answers
//! `/api/canopy/changes` with 404, as Trilium does, so the clients must ask `/api/sync/changed`.
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::cluster::{eventually, write_config, Node};

const EDITS: usize = 20;

enum Hub {
    Trilium { child: Child, url: String },
    StandIn { _hub: Node, url: String, task: tokio::task::JoinHandle<()> },
}

impl Hub {
    fn url(&self) -> &str {
        match self {
            Hub::Trilium { url, .. } | Hub::StandIn { url, .. } => url,
        }
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Hub::Trilium { child, .. } => Some(child.id()),
            Hub::StandIn { .. } => None,
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        match self {
            Hub::Trilium { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Hub::StandIn { task, .. } => task.abort(),
        }
    }
}

/// A real Trilium 0.63.7 serving a copy of the fixture.
async fn trilium_hub(trilium_dir: &Path, data_dir: &Path) -> Hub {
    let port = crate::stop_and_reconnect::free_port();
    crate::common::copy_fixture(data_dir);
    std::fs::write(data_dir.join("config.ini"), format!("[General]\nnoBackup=true\n[Network]\nhost=127.0.0.1\nport={port}\n")).unwrap();
    let log = std::fs::File::create(data_dir.join("trilium.log")).unwrap();
    let child = Command::new("node")
        .arg("src/www.js")
        .current_dir(trilium_dir)
        .env("TRILIUM_DATA_DIR", data_dir)
        .env("TRILIUM_HOST", "127.0.0.1")
        .env("TRILIUM_PORT", port.to_string())
        .env_remove("TRILIUM_ENV")
        .env_remove("TRILIUM_SYNC_SERVER_HOST")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("node runs Trilium");
    let url = format!("http://127.0.0.1:{port}");
    let hub = Hub::Trilium { child, url: url.clone() };
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{url}/api/setup/status")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(90), "Trilium did not answer in 90 s (log in {})", data_dir.display());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    hub
}

/// A Canopy hub behind a front that has no change notification, as a Trilium hub: every request is
/// passed on as it is, except the Canopy-only long poll, answered 404 as Trilium answers it.
async fn stand_in_hub() -> Hub {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::response::Response;
    let hub = Node::hub().await;
    let behind = hub.url();
    let http = reqwest::Client::new();
    let front = axum::Router::new().fallback(move |request: Request| {
        let (behind, http) = (behind.clone(), http.clone());
        async move {
            let path = request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
            if path.starts_with("/api/canopy/") {
                return Response::builder().status(404).body(Body::from("Not Found")).unwrap();
            }
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let mut forward = http.request(parts.method.clone(), format!("{behind}{path}")).body(body);
            for (name, value) in &parts.headers {
                if name != "host" && name != "content-length" {
                    forward = forward.header(name, value);
                }
            }
            let answer = match forward.send().await {
                Ok(answer) => answer,
                Err(_) => return Response::builder().status(502).body(Body::empty()).unwrap(),
            };
            let mut response = Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                if name != "content-length" && name != "transfer-encoding" {
                    response = response.header(name, value);
                }
            }
            response.body(Body::from(answer.bytes().await.unwrap_or_default())).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, front).await;
    });
    Hub::StandIn { _hub: hub, url, task }
}

/// A Canopy client of `hub_url` on a copy of `document` (the hub's document).
async fn client(document: &Path, hub_url: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    canopy::db::backup::backup_to(document, &dir.path().join("document.db")).unwrap();
    write_config(dir.path(), hub_url);
    Node::start_in(dir, "127.0.0.1:0".parse().unwrap()).await
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let per_second = Command::new("getconf").arg("CLK_TCK").output().ok().and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok());
    ticks / per_second.unwrap_or(100.0)
}

fn p95(latencies: &mut [Duration]) -> Duration {
    latencies.sort();
    latencies[(latencies.len() * 95).div_ceil(100) - 1]
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_reach_the_other_client_of_a_hub_without_notifications_within_2_s() {
    let hub_dir = tempfile::tempdir().unwrap();
    let (hub, document) = match std::env::var_os("TRILIUM_DIR") {
        Some(trilium) => (trilium_hub(Path::new(&trilium), hub_dir.path()).await, crate::common::fixture_dir().join("document.db")),
        None => {
            println!("TRILIUM_DIR is not set: a Canopy hub behind a front without change notifications stands in for Trilium");
            let hub = stand_in_hub().await;
            let Hub::StandIn { _hub: node, .. } = &hub else { unreachable!() };
            let document = hub_dir.path().join("hub-copy.db");
            canopy::db::backup::backup_to(node.document().path(), &document).unwrap();
            (hub, document)
        }
    };
    let c1 = client(&document, hub.url()).await;
    let c2 = client(&document, hub.url()).await;
    for c in [&c1, &c2] {
        let ready = eventually(Duration::from_secs(120), || {
            let s = c.running().sync.status();
            s.completed_cycles > 0 && s.change_checks > 0
        })
        .await;
        assert!(ready, "a client never synced and started asking for changes: {:?}", c.running().sync.status());
    }

    let checks_before = [c1.running().sync.status().change_checks, c2.running().sync.status().change_checks];
    let started = Instant::now();
    let mut latencies = Vec::new();
    for i in 0..EDITS {
        let note = c1.create_note("root", &format!("Near-live edit {i}"), &format!("<p>edit {i}</p>"));
        let written = Instant::now();
        let arrived = eventually(Duration::from_secs(90), || c2.note(&note).is_some()).await;
        assert!(arrived, "edit {i} never reached client 2");
        latencies.push(written.elapsed());
        // Some edits land right after a check, some just before the next.
        tokio::time::sleep(Duration::from_millis(100 + 137 * (i as u64 % 7))).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rates: Vec<f64> = [&c1, &c2]
        .iter()
        .zip(checks_before)
        .map(|(c, before)| (c.running().sync.status().change_checks - before) as f64 / elapsed)
        .collect();
    let p95 = p95(&mut latencies);
    println!(
        "{EDITS} edits client 1 → client 2 via {}: p95 {:.2} s, max {:.2} s, median {:.2} s; checks/s per client {rates:.2?}",
        if hub.pid().is_some() { "a real Trilium 0.63.7 hub" } else { "the stand-in hub" },
        p95.as_secs_f64(),
        latencies.last().unwrap().as_secs_f64(),
        latencies[latencies.len() / 2].as_secs_f64(),
    );
    assert!(p95 < Duration::from_secs(2), "p95 {p95:?}: {latencies:?}");
    for rate in &rates {
        assert!(*rate <= 1.05, "a client asked the hub {rate:.2} times a second");
    }

    // What the checks cost a real Trilium: its CPU time while both clients only check, against its
    // CPU time with no client.
    if let Some(pid) = hub.pid() {
        const WINDOW: Duration = Duration::from_secs(30);
        let (cpu, checks) = (cpu_seconds(pid), c1.running().sync.status().change_checks + c2.running().sync.status().change_checks);
        tokio::time::sleep(WINDOW).await;
        let with_clients = cpu_seconds(pid) - cpu;
        let checks = c1.running().sync.status().change_checks + c2.running().sync.status().change_checks - checks;
        let (mut c1, mut c2) = (c1, c2);
        c1.stop().await;
        c2.stop().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let cpu = cpu_seconds(pid);
        tokio::time::sleep(WINDOW).await;
        let alone = cpu_seconds(pid) - cpu;
        // Gross: everything Trilium spent while the clients checked (its idle work included), an upper
        // bound; net: less what it spends alone (within the noise of 10 ms clock ticks).
        let hour = 3600.0 / WINDOW.as_secs_f64();
        let gross = with_clients / 2.0 * hour;
        let net = (with_clients - alone).max(0.0) / 2.0 * hour;
        println!(
            "Trilium hub CPU over {} s: {with_clients:.2} s with 2 checking clients ({:.2} checks/s each), {alone:.2} s alone: \
             at most {gross:.1} CPU-s per client per hour (net {net:.1}); {:.1} ms per check at most",
            WINDOW.as_secs(),
            checks as f64 / 2.0 / WINDOW.as_secs_f64(),
            with_clients * 1000.0 / checks.max(1) as f64
        );
        let log = std::fs::read_to_string(hub_dir.path().join("trilium.log")).unwrap_or_default();
        assert!(!log.contains("FAILED"), "Trilium's log names failed hash checks");
        println!("Trilium's log: {} lines for /api/sync/changed", log.lines().filter(|l| l.contains("/api/sync/changed")).count());
    }
}
