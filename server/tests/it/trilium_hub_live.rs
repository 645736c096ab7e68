//! Near-live sync through a hub without change notifications: two Canopy clients of a Trilium hub,
//! 20 edits from client 1, each timed until client 2 holds it, nobody pressing "sync now".
//!
//! With `TRILIUM_DIR` naming a Trilium 0.63.7 install (see `../shared/tools/trilium/README.md`) the
//! hub is a real Trilium process, and its CPU time per client per hour is measured from
//! `/proc/<pid>/stat`. Without it, the hub is a stand-in ([`StandIn`]) that answers as the recorded
//! transcripts show and has no change notification, so the clients must ask `/api/sync/changed`.
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::cluster::{eventually, write_config, Node};

const EDITS: usize = 20;

enum Hub {
    Trilium { child: Child, url: String },
    StandIn { url: String, task: tokio::task::JoinHandle<()> },
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

/// A stand-in for a Trilium 0.63.7 hub when none is installed: a small server that answers the sync
/// routes the way the recorded transcripts (`fixtures/trilium-0.63.7/transcript/`) show Trilium
/// answering them — the same paths, bodies, status codes, `trilium.sid` cookie and
/// `trilium-max-entity-change-id` header — over a copy of the fixture's `entity_changes` in a real
/// SQLite file, and 404 for everything else, `/api/canopy/changes` included: no change notification.
/// Its clients start from copies of the fixture with their cursors at its end, so it serves only the
/// records they push (it keeps their entities as sent).
struct StandIn {
    conn: rusqlite::Connection,
    secret: String,
    instance_id: String,
    sessions: std::collections::HashSet<String>,
    entities: std::collections::HashMap<(String, String), serde_json::Value>,
}

type Shared = std::sync::Arc<std::sync::Mutex<StandIn>>;

async fn stand_in_hub(data_dir: &Path) -> Hub {
    use axum::routing::{get, post, put};
    let path = crate::common::copy_fixture(data_dir);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let secret: String = conn.query_row("SELECT value FROM options WHERE name = 'documentSecret'", [], |r| r.get(0)).unwrap();
    let state: Shared = std::sync::Arc::new(std::sync::Mutex::new(StandIn {
        conn,
        secret,
        instance_id: canopy::hashing::random_string(12),
        sessions: Default::default(),
        entities: Default::default(),
    }));
    let front = axum::Router::new()
        .route("/api/setup/status", get(|| async { trilium_json(serde_json::json!({ "isInitialized": true, "schemaExists": true, "syncVersion": 32 })) }))
        .route("/api/login/sync", post(stand_in_login))
        .route("/api/sync/changed", get(stand_in_changed))
        .route("/api/sync/update", put(stand_in_update))
        .route("/api/sync/finished", post(stand_in_empty))
        .route("/api/sync/check", get(stand_in_check))
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "Not Found") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), max_id_header))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, front).await;
    });
    Hub::StandIn { url, task }
}

fn trilium_json(body: serde_json::Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    axum::Json(body).into_response()
}

fn max_id(conn: &rusqlite::Connection) -> i64 {
    conn.query_row("SELECT COALESCE(MAX(id), 0) FROM entity_changes", [], |r| r.get(0)).unwrap()
}

/// Trilium puts its newest entity change id on every API answer.
async fn max_id_header(
    axum::extract::State(state): axum::extract::State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    let max = max_id(&state.lock().unwrap().conn);
    response.headers_mut().insert("trilium-max-entity-change-id", max.to_string().parse().unwrap());
    response
}

fn session_of(state: &StandIn, headers: &axum::http::HeaderMap) -> bool {
    let cookie = headers.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or("");
    cookie.split(';').filter_map(|c| c.trim().strip_prefix("trilium.sid=")).any(|sid| state.sessions.contains(sid))
}

fn not_logged_in() -> axum::response::Response {
    use axum::response::IntoResponse;
    (axum::http::StatusCode::UNAUTHORIZED, "Logged in session not found").into_response()
}

async fn stand_in_login(axum::extract::State(state): axum::extract::State<Shared>, body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    let request: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let mut state = state.lock().unwrap();
    if request["syncVersion"] != 32 {
        let message = format!("Non-matching sync versions, local is version 32, remote is {}. It is recommended to run same version of Trilium on both sides of sync.", request["syncVersion"]);
        return (axum::http::StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({ "message": message }))).into_response();
    }
    let timestamp = request["timestamp"].as_str().unwrap_or("");
    if request["hash"].as_str() != Some(canopy::sync::hub::login_hash(&state.secret, timestamp).as_str()) {
        let message = "Sync login credentials are incorrect. It looks like you're trying to sync two different initialized documents which is not possible.";
        return (axum::http::StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({ "message": message }))).into_response();
    }
    let sid = format!("s%3A{}", canopy::hashing::random_string(32));
    state.sessions.insert(sid.clone());
    let body = serde_json::json!({ "instanceId": state.instance_id, "maxEntityChangeId": max_id(&state.conn) });
    ([("set-cookie", format!("trilium.sid={sid}; Path=/; HttpOnly"))], axum::Json(body)).into_response()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangedQuery {
    instance_id: String,
    last_entity_change_id: i64,
}

fn entity_change_of(row: &rusqlite::Row) -> rusqlite::Result<serde_json::Value> {
    Ok(serde_json::json!({
        "id": row.get::<_, i64>(0)?, "entityName": row.get::<_, String>(1)?, "entityId": row.get::<_, String>(2)?,
        "hash": row.get::<_, String>(3)?, "isErased": row.get::<_, i64>(4)?, "changeId": row.get::<_, String>(5)?,
        "componentId": row.get::<_, String>(6)?, "instanceId": row.get::<_, String>(7)?, "isSynced": row.get::<_, i64>(8)?,
        "utcDateChanged": row.get::<_, String>(9)?,
    }))
}

/// As Trilium's `getChanged`: the next synced changes after the cursor not made by the caller (pages
/// of the caller's own are skipped), the cursor after them, and how many remain.
async fn stand_in_changed(
    axum::extract::State(state): axum::extract::State<Shared>,
    headers: axum::http::HeaderMap,
    axum::extract::Query(query): axum::extract::Query<ChangedQuery>,
) -> axum::response::Response {
    let state = state.lock().unwrap();
    if !session_of(&state, &headers) {
        return not_logged_in();
    }
    let mut last = query.last_entity_change_id;
    let mut records = Vec::new();
    loop {
        let mut stmt = state
            .conn
            .prepare("SELECT id, entityName, entityId, hash, isErased, changeId, componentId, instanceId, isSynced, utcDateChanged FROM entity_changes WHERE isSynced = 1 AND id > ?1 ORDER BY id LIMIT 1000")
            .unwrap();
        let rows: Vec<serde_json::Value> = stmt.query_map([last], entity_change_of).unwrap().map(Result::unwrap).collect();
        if rows.is_empty() {
            break;
        }
        let theirs: Vec<serde_json::Value> = rows.iter().filter(|r| r["instanceId"] != query.instance_id.as_str()).cloned().collect();
        if theirs.is_empty() {
            last = rows.last().unwrap()["id"].as_i64().unwrap();
            continue;
        }
        for change in theirs {
            let key = (change["entityName"].as_str().unwrap().to_owned(), change["entityId"].as_str().unwrap().to_owned());
            let entity = state.entities.get(&key).cloned().unwrap_or(serde_json::Value::Null);
            records.push(serde_json::json!({ "entityChange": change, "entity": entity }));
        }
        last = records.last().unwrap()["entityChange"]["id"].as_i64().unwrap();
        break;
    }
    let outstanding: i64 = state
        .conn
        .query_row("SELECT COUNT(id) FROM entity_changes WHERE isSynced = 1 AND instanceId != ?1 AND id > ?2", rusqlite::params![query.instance_id, last], |r| r.get(0))
        .unwrap();
    trilium_json(serde_json::json!({ "entityChanges": records, "lastEntityChangeId": last, "outstandingPullCount": outstanding }))
}

/// As Trilium's `updateEntity`: a change newer than the one held replaces it (its entity change gets
/// a new id here, as Trilium's `INSERT OR REPLACE` gives it); 204.
async fn stand_in_update(axum::extract::State(state): axum::extract::State<Shared>, headers: axum::http::HeaderMap, body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut state = state.lock().unwrap();
    if !session_of(&state, &headers) {
        return not_logged_in();
    }
    assert_eq!(headers.get("pageCount").and_then(|v| v.to_str().ok()), Some("1"), "the stand-in takes single pages");
    let request: serde_json::Value = serde_json::from_str(&body).unwrap();
    for record in request["entities"].as_array().unwrap() {
        let change = &record["entityChange"];
        let (name, id) = (change["entityName"].as_str().unwrap(), change["entityId"].as_str().unwrap());
        let held: Option<String> = state
            .conn
            .query_row("SELECT utcDateChanged FROM entity_changes WHERE entityName = ?1 AND entityId = ?2", [name, id], |r| r.get(0))
            .ok();
        if held.is_some_and(|held| held.as_str() > change["utcDateChanged"].as_str().unwrap_or("")) {
            continue;
        }
        state.conn.execute("DELETE FROM entity_changes WHERE entityName = ?1 AND entityId = ?2", [name, id]).unwrap();
        state
            .conn
            .execute(
                "INSERT INTO entity_changes (entityName, entityId, hash, isErased, changeId, componentId, instanceId, isSynced, utcDateChanged)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                rusqlite::params![
                    name,
                    id,
                    change["hash"].as_str(),
                    change["isErased"].as_i64(),
                    change["changeId"].as_str(),
                    change["componentId"].as_str(),
                    change["instanceId"].as_str(),
                    change["isSynced"].as_i64(),
                    change["utcDateChanged"].as_str()
                ],
            )
            .unwrap();
        state.entities.insert((name.to_owned(), id.to_owned()), record["entity"].clone());
    }
    axum::http::StatusCode::NO_CONTENT.into_response()
}

async fn stand_in_empty(axum::extract::State(state): axum::extract::State<Shared>, headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !session_of(&state.lock().unwrap(), &headers) {
        return not_logged_in();
    }
    axum::http::StatusCode::NO_CONTENT.into_response()
}

async fn stand_in_check(axum::extract::State(state): axum::extract::State<Shared>, headers: axum::http::HeaderMap) -> axum::response::Response {
    let state = state.lock().unwrap();
    if !session_of(&state, &headers) {
        return not_logged_in();
    }
    let hashes = canopy::db::entity_changes::sector_hashes(&state.conn).unwrap();
    trilium_json(serde_json::json!({ "entityHashes": hashes, "maxEntityChangeId": max_id(&state.conn) }))
}

/// A client of the stand-in starts where a copy of its document stands: both cursors at the end.
fn cursors_at_the_end(document: &Path) {
    let conn = rusqlite::Connection::open(document).unwrap();
    let max = max_id(&conn);
    conn.execute("UPDATE options SET value = ?1 WHERE name IN ('lastSyncedPull', 'lastSyncedPush')", [max.to_string()]).unwrap();
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
        Some(trilium) => {
            let hub = trilium_hub(Path::new(&trilium), hub_dir.path()).await;
            // Clients copy a copy: opening the fixture itself would leave SQLite's side files beside it.
            let document = hub_dir.path().join("client-copy.db");
            std::fs::copy(crate::common::fixture_dir().join("document.db"), &document).unwrap();
            (hub, document)
        }
        None => {
            println!("TRILIUM_DIR is not set: a stand-in server answering as the recorded Trilium transcripts show is the hub");
            let hub = stand_in_hub(hub_dir.path()).await;
            let document = hub_dir.path().join("client-copy.db");
            std::fs::copy(crate::common::fixture_dir().join("document.db"), &document).unwrap();
            cursors_at_the_end(&document);
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
    for c in [&c1, &c2] {
        let status = c.running().sync.status();
        let check = status.hash_check.clone().expect("a hash check ran");
        assert!(check.passed && status.repair_rounds_total == 0, "the hub's hashes match without repair: {status:?}");
    }
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
