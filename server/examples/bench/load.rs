//! The load part: a hub (the real `canopy` binary, on a new document) and many clients simulated in
//! this process over real HTTP (`BENCH_LOAD_CLIENTS`, default 50). Each client has its own copy of the
//! hub's document and instance id and speaks the wire as a Trilium peer made from a copy does (the sync
//! HMAC login, cursors starting at the copy's newest change): it writes a new note into its own
//! document every second for `BENCH_LOAD_SECS` (default 60) and pushes it (`PUT /api/sync/update`),
//! and meanwhile long-polls the hub (`/api/canopy/changes`, as a Canopy client does) and pulls
//! `/api/sync/changed` pages when woken, applying them to its document.
//!
//! Measured: every push and pull at the client (the long polls wait by design and are left out of the
//! times, not out of the failures), the time a note takes from its write on one client until every
//! other client holds it, how long after the last write every client holds every note, and the hub's
//! peak memory and CPU. Any request answered with a transport error or not 2xx fails the part, as do
//! clients that do not converge within a minute or whose hash check differs from the hub's
//! (`GET /api/sync/check` after a last pull and `POST /api/sync/finished`). The hub's log is
//! `bench-logs/load-hub.log` beside this binary.
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use canopy::db::tree::{self, NewNote};
use canopy::db::{entity_changes, options, password, ChangeSource, Document, InstanceId};
use canopy::sync::apply::{apply_records, PeerMemory};
use canopy::sync::check;
use canopy::sync::wire::{ChangedResponse, CheckResponse, EntityChangeRecord, WaitResponse};
use serde_json::json;
use tokio::sync::watch;

use crate::{proc_status_kib, thousands, Instance, Report, PASSWORD};

/// How long, after the last write, every client may take to hold every note.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);
/// The long poll's wait, as the real client asks it.
const LONG_POLL_MS: u64 = 30_000;
/// Failures printed as they happen (all are counted).
const FAILURES_SHOWN: usize = 5;

pub async fn run(work: &Path, report: &mut Report) -> anyhow::Result<()> {
    let clients: usize = env_number("BENCH_LOAD_CLIENTS", 50)?;
    let secs: usize = env_number("BENCH_LOAD_SECS", 60)?;
    anyhow::ensure!(clients >= 2 && secs >= 1, "the load part needs at least 2 clients and 1 second");
    let started = Instant::now();
    let work = work.join("load");
    let hub_dir = work.join("load-hub");
    std::fs::create_dir_all(&hub_dir)?;
    std::fs::write(hub_dir.join("config.ini"), "[General]\nnoBackup=true\n")?;
    let _ = std::fs::remove_file(std::env::current_exe()?.with_file_name("bench-logs").join("load-hub.log"));

    // A new document with a password, and a folder for each client's notes.
    let made = canopy::start(canopy::StartOptions {
        data_dir: hub_dir.clone(),
        site_root: "/nonexistent-site".into(),
        listen: Some("127.0.0.1:0".parse()?),
        ..Default::default()
    })
    .await?;
    let source = ChangeSource::new("benchLoadHub");
    made.document.write(&source, |tx| password::set_password(tx, PASSWORD))?;
    let folders = made.document.write(&source, |tx| {
        (0..clients).map(|i| Ok(tree::create_note(tx, NewNote::text("root", &format!("Load client {i}"), ""))?.0.note_id)).collect::<Result<Vec<_>, _>>()
    })?;
    made.stop().await?;

    // Each client a copy of it: both cursors at the copy's newest change, as `TriliumPeer::of` does.
    let hub_document = hub_dir.join("document.db");
    let newest = rusqlite::Connection::open_with_flags(&hub_document, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?
        .query_row("SELECT COALESCE(MAX(id), 0) FROM entity_changes", [], |r| r.get::<_, i64>(0))?;
    let mut copies = Vec::with_capacity(clients);
    for (i, folder) in folders.into_iter().enumerate() {
        let path = work.join(format!("client{i}")).join("document.db");
        canopy::db::backup::backup_to(&hub_document, &path)?;
        let doc = Document::open_existing(&path)?;
        let id = InstanceId::generate();
        let own = doc.read(|c| entity_changes::max_id(c))?;
        doc.write(&ChangeSource::new(&id), |tx| {
            options::set(tx, "lastSyncedPull", &newest.to_string())?;
            options::set(tx, "lastSyncedPush", &own.to_string()).map(|_| ())
        })?;
        copies.push((doc, id, folder));
    }

    let mut hub = Instance::canopy(&hub_dir, None)?;
    hub.wait_answering(Duration::from_secs(60)).await?;
    let log = std::env::current_exe()?.with_file_name("bench-logs").join("load-hub.log");
    println!(
        "load: {clients} clients, each writing a note a second for {secs} s while long-polling the hub at {} (its log: {})",
        hub.url,
        log.display()
    );
    let outcome = drive(&mut hub, copies, secs, report).await;
    let peak_kib = proc_status_kib(hub.pid(), "VmHWM:").unwrap_or(0);
    let still_running = hub.ensure_running();
    hub.stop();
    report.add("load_hub_peak_mib", "under that load: the hub's peak resident memory", peak_kib as f64 / 1024.0, "MiB", "reported");
    let outcome = outcome.and(still_running);
    if outcome.is_err() {
        println!("the load part failed; the hub's log is {}", log.display());
    }
    println!("the load part took {:.0} s", started.elapsed().as_secs_f64());
    outcome
}

/// The clients logged in, the writing and the converging, the hash checks at the end.
async fn drive(hub: &mut Instance, copies: Vec<(Document, InstanceId, String)>, secs: usize, report: &mut Report) -> anyhow::Result<()> {
    let count = copies.len();
    let shared = Arc::new(Shared::new(count));
    let mut clients = Vec::with_capacity(count);
    for (index, (doc, id, folder)) in copies.into_iter().enumerate() {
        let mut client = Client {
            index,
            doc,
            id,
            folder,
            http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?,
            hub_url: hub.url.clone(),
            hub_id: String::new(),
            cookie: String::new(),
        };
        client.login(&shared).await?;
        clients.push(Arc::new(client));
    }

    let (stop, stopped) = watch::channel(false);
    let followers: Vec<_> = clients.iter().map(|c| tokio::spawn(c.clone().follow(shared.clone(), stopped.clone()))).collect();
    let cpu_before = cpu_seconds(hub.pid());
    let load_started = Instant::now();
    shared.recording.store(true, Ordering::Relaxed);
    let start = tokio::time::Instant::now() + Duration::from_millis(500);
    let writers: Vec<_> = clients.iter().map(|c| tokio::spawn(c.clone().write_notes(shared.clone(), start, secs, count))).collect();
    for writer in writers {
        writer.await?;
    }
    let converged = wait_converged(&shared, hub).await;
    shared.recording.store(false, Ordering::Relaxed);
    let load_time = load_started.elapsed();
    let cpu = cpu_before.zip(cpu_seconds(hub.pid())).map(|(before, after)| after - before);
    let _ = stop.send(true);
    for follower in followers {
        follower.await?;
    }

    let checked = if converged.is_ok() { check_all(&clients, &shared).await } else { Ok(()) };

    let stats = shared.stats.lock().unwrap_or_else(|p| p.into_inner());
    let mut times = stats.times.clone();
    let requests = times.len();
    report.add_tail(
        "load_p99_ms",
        &format!(
            "{count} clients writing a note a second for {secs} s while long-polling one hub: a push or pull at the client ({} requests)",
            thousands(requests)
        ),
        &mut times,
        "reported",
    );
    report.add(
        "load_failed",
        &format!(
            "under that load: requests failed (transport error or not 2xx, of {} with {} long polls)",
            thousands(stats.requests),
            thousands(stats.long_polls)
        ),
        stats.failed as f64,
        "requests",
        "0",
    );
    let failures = (stats.failed, stats.failures.clone());
    drop(stats);
    let (mut travel, last_arrival, last_write) = shared.travel();
    if !travel.is_empty() {
        report.add_tail("load_travel_ms", &format!("under that load: a note from its write until all {} other clients hold it", count - 1), &mut travel, "reported");
    }
    if let (Ok(()), Some(last_arrival), Some(last_write)) = (&converged, last_arrival, last_write) {
        report.add(
            "load_converge_s",
            "under that load: from the last write until every client holds every note",
            last_arrival.saturating_duration_since(last_write).as_secs_f64(),
            "s",
            "≤ 60 s",
        );
    }
    if let Some(cpu) = cpu {
        report.add(
            "load_hub_cpu",
            &format!("under that load: the hub's CPU, {cpu:.1} s in {:.1} s, as a share of one core", load_time.as_secs_f64()),
            cpu / load_time.as_secs_f64() * 100.0,
            "%",
            "reported",
        );
    }
    converged?;
    checked?;
    if failures.0 > 0 {
        anyhow::bail!("{} requests failed under load, the first: {}", failures.0, failures.1.join("; "));
    }
    Ok(())
}

/// Waits until every note written has reached every other client; an error says how many are missing where.
async fn wait_converged(shared: &Shared, hub: &mut Instance) -> anyhow::Result<()> {
    let written_by_all = Instant::now();
    loop {
        let missing = shared.missing();
        if missing.is_empty() {
            return Ok(());
        }
        hub.ensure_running()?;
        if written_by_all.elapsed() > CONVERGE_WITHIN {
            let notes: usize = missing.iter().map(|(_, n)| n).sum();
            let worst: Vec<String> = missing.iter().take(10).map(|(client, n)| format!("client {client}: {n}")).collect();
            anyhow::bail!(
                "the clients did not converge within {CONVERGE_WITHIN:?} after the last write: {notes} notes missing on {} clients ({})",
                missing.len(),
                worst.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Each client, one after another: a last pull, `finished`, and its hash check against the hub's.
/// A check that differs, or that the hub answers in the middle of a push, is asked again for 30 s.
async fn check_all(clients: &[Arc<Client>], shared: &Shared) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for client in clients {
        loop {
            client.pull(shared).await;
            let differing = client.check(shared).await?;
            match differing {
                Some(sectors) if sectors.is_empty() => break,
                Some(sectors) if Instant::now() > deadline => {
                    let named: Vec<String> = sectors.iter().map(|(entity, sector)| format!("{entity}/{sector}")).collect();
                    anyhow::bail!("client {}'s hash check differs from the hub's at {}", client.index, named.join(" "));
                }
                None if Instant::now() > deadline => anyhow::bail!("client {}'s hash check could not be made", client.index),
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
    println!("hash checks of the hub and its {} load clients: equal", clients.len());
    Ok(())
}

/// One simulated client: its own document, instance id and HTTP connections.
struct Client {
    index: usize,
    doc: Document,
    id: InstanceId,
    /// Where its notes go.
    folder: String,
    http: reqwest::Client,
    hub_url: String,
    hub_id: String,
    cookie: String,
}

impl Client {
    fn source(&self) -> ChangeSource {
        ChangeSource::new(&self.id).with_component("sync")
    }

    fn cursor(&self, name: &str) -> i64 {
        self.doc.read(|c| options::get_int(c, name)).ok().flatten().unwrap_or(0)
    }

    /// The sync login: HMAC of a timestamp with the document secret, both sides' copy of it.
    async fn login(&mut self, shared: &Shared) -> anyhow::Result<()> {
        let secret = self.doc.read(|c| options::get(c, "documentSecret"))?.ok_or_else(|| anyhow::anyhow!("the copy has no documentSecret"))?;
        let timestamp = canopy::sync::hub::login_timestamp();
        let body = json!({ "timestamp": timestamp, "syncVersion": canopy::SYNC_VERSION, "hash": canopy::sync::hub::login_hash(&secret, &timestamp) });
        let request = self.http.post(format!("{}/api/login/sync", self.hub_url)).json(&body);
        let (headers, body) = shared.timed(self.index, "POST /api/login/sync", request).await.ok_or_else(|| anyhow::anyhow!("client {} could not log in", self.index))?;
        self.cookie = headers
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow::anyhow!("the sync login set no cookie"))?
            .to_owned();
        let answer: serde_json::Value = serde_json::from_slice(&body)?;
        self.hub_id = answer["instanceId"].as_str().ok_or_else(|| anyhow::anyhow!("the sync login named no instance: {answer}"))?.to_owned();
        Ok(())
    }

    /// A note a second, each pushed at once; then whatever a failed push left, until it went.
    async fn write_notes(self: Arc<Self>, shared: Arc<Shared>, start: tokio::time::Instant, secs: usize, clients: usize) {
        let offset = Duration::from_millis(1000 * self.index as u64 / clients as u64);
        for second in 0..secs {
            tokio::time::sleep_until(start + offset + Duration::from_secs(second as u64)).await;
            let (doc, source, folder, index) = (self.doc.clone(), self.source(), self.folder.clone(), self.index);
            let written = tokio::task::spawn_blocking(move || {
                doc.write(&source, |tx| {
                    let title = format!("Load note {index}.{second}");
                    let html = format!("<p>written by load client {index} in second {second}</p>");
                    Ok(tree::create_note(tx, NewNote::text(&folder, &title, &html))?.0.note_id)
                })
            })
            .await;
            match written {
                Ok(Ok(note_id)) => shared.written(note_id, self.index),
                Ok(Err(e)) => shared.fail_quietly(self.index, "writing a note", &e.to_string()),
                Err(e) => shared.fail_quietly(self.index, "writing a note", &e.to_string()),
            }
            self.push(&shared).await;
        }
        let deadline = Instant::now() + CONVERGE_WITHIN;
        while !self.push(&shared).await && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Pushes every change not pushed yet in one `PUT /api/sync/update`, as a Trilium peer sends them;
    /// whether nothing is left unpushed.
    async fn push(&self, shared: &Shared) -> bool {
        let (doc, hub_id) = (self.doc.clone(), self.hub_id.clone());
        let mut cursor = self.cursor("lastSyncedPush");
        let unpushed = tokio::task::spawn_blocking(move || {
            let mut all: Vec<EntityChangeRecord> = Vec::new();
            loop {
                let (records, next) = doc.read(|c| canopy::sync::records::batch_after(c, cursor, &hub_id))?;
                if records.is_empty() {
                    return Ok::<_, canopy::db::DbError>((all, next.max(cursor)));
                }
                cursor = next;
                all.extend(records.into_iter().map(|mut r| {
                    r.canopy_parent_hash = None;
                    r
                }));
            }
        })
        .await;
        let (records, cursor) = match unpushed {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => return shared.failure(self.index, "reading the unpushed changes", &e.to_string()),
            Err(e) => return shared.failure(self.index, "reading the unpushed changes", &e.to_string()),
        };
        if !records.is_empty() {
            let request = self
                .http
                .put(format!("{}/api/sync/update", self.hub_url))
                .header("Cookie", &self.cookie)
                .json(&json!({ "entities": records, "instanceId": self.id.to_string() }));
            if shared.timed(self.index, "PUT /api/sync/update", request).await.is_none() {
                return false;
            }
        }
        let doc = self.doc.clone();
        let source = ChangeSource::new(&self.id);
        let moved = tokio::task::spawn_blocking(move || doc.write(&source, |tx| options::set(tx, "lastSyncedPush", &cursor.to_string()))).await;
        match moved {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => shared.failure(self.index, "moving the push cursor", &e.to_string()),
            Err(e) => shared.failure(self.index, "moving the push cursor", &e.to_string()),
        }
    }

    /// Long-polls the hub and pulls when woken, until stopped.
    async fn follow(self: Arc<Self>, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
        loop {
            if *stopped.borrow() {
                return;
            }
            let after = self.cursor("lastSyncedPull");
            let url = format!("{}/api/canopy/changes?instanceId={}&after={after}&timeoutMs={LONG_POLL_MS}", self.hub_url, self.id);
            let request = self.http.get(url).header("Cookie", &self.cookie).timeout(Duration::from_millis(LONG_POLL_MS + 15_000));
            let answer = tokio::select! {
                _ = stopped.changed() => return,
                answer = shared.long_poll(self.index, request) => answer,
            };
            match answer {
                Some(newest) if newest > after => self.pull(&shared).await,
                Some(_) => {}
                None => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// Pulls `/api/sync/changed` pages until an empty one, each applied in one transaction with its
    /// cursor. A failure ends the pull; the next long poll answers at once and it pulls again.
    async fn pull(&self, shared: &Shared) {
        loop {
            let after = self.cursor("lastSyncedPull");
            let url = format!("{}/api/sync/changed?instanceId={}&lastEntityChangeId={after}", self.hub_url, self.id);
            let request = self.http.get(url).header("Cookie", &self.cookie);
            let Some((_, body)) = shared.timed(self.index, "GET /api/sync/changed", request).await else { return };
            let page: ChangedResponse = match serde_json::from_slice(&body) {
                Ok(page) => page,
                Err(e) => return shared.fail_quietly(self.index, "GET /api/sync/changed: the page", &e.to_string()),
            };
            if page.entity_changes.is_empty() {
                return;
            }
            let (doc, source, hub) = (self.doc.clone(), self.source(), self.hub_id.clone());
            let applied = tokio::task::spawn_blocking(move || {
                doc.write(&source, |tx| {
                    apply_records(tx, &page.entity_changes, &hub, PeerMemory::OnlyPeer)?;
                    options::set(tx, "lastSyncedPull", &page.last_entity_change_id.to_string())
                })?;
                Ok::<_, canopy::db::DbError>(page.entity_changes)
            })
            .await;
            let records = match applied {
                Ok(Ok(records)) => records,
                Ok(Err(e)) => return shared.fail_quietly(self.index, "applying a pulled page", &e.to_string()),
                Err(e) => return shared.fail_quietly(self.index, "applying a pulled page", &e.to_string()),
            };
            let now = Instant::now();
            let notes = records.iter().filter(|r| r.entity_change.entity_name == "notes" && !r.entity_change.is_erased);
            shared.arrived(notes.map(|r| r.entity_change.entity_id.as_str()), self.index, now);
        }
    }

    /// `finished`, then the hub's hash check against this document's: the differing sectors, or
    /// `None` when the hub's hashes were those of a moment inside another push.
    async fn check(&self, shared: &Shared) -> anyhow::Result<Option<Vec<(String, String)>>> {
        let request = self.http.post(format!("{}/api/sync/finished", self.hub_url)).header("Cookie", &self.cookie);
        shared.timed(self.index, "POST /api/sync/finished", request).await;
        let request = self.http.get(format!("{}/api/sync/check", self.hub_url)).header("Cookie", &self.cookie);
        let Some((_, body)) = shared.timed(self.index, "GET /api/sync/check", request).await else { return Ok(None) };
        let remote: CheckResponse = serde_json::from_slice(&body)?;
        if remote.canopy_push_open {
            return Ok(None);
        }
        let (doc, id) = (self.doc.clone(), self.id.clone());
        let (local, _) = tokio::task::spawn_blocking(move || check::local_hashes(&doc, &id)).await??;
        Ok(Some(check::differing_sectors(&local, &remote.entity_hashes)))
    }
}

/// What all clients record: request times and failures, and where each note has arrived.
struct Shared {
    clients: usize,
    started: Instant,
    /// Request times are kept while this is set (the writing and the converging).
    recording: AtomicBool,
    stats: Mutex<Stats>,
    notes: Mutex<HashMap<String, Travel>>,
}

#[derive(Default)]
struct Stats {
    times: Vec<Duration>,
    requests: usize,
    long_polls: usize,
    failed: usize,
    failures: Vec<String>,
}

struct Travel {
    written: Instant,
    /// Which clients hold it (its writer from the start).
    held: Vec<bool>,
    holders: usize,
    /// When the last client got it.
    everywhere: Option<Instant>,
}

impl Shared {
    fn new(clients: usize) -> Shared {
        Shared {
            clients,
            started: Instant::now(),
            recording: AtomicBool::new(false),
            stats: Mutex::new(Stats::default()),
            notes: Mutex::new(HashMap::new()),
        }
    }

    /// Sends the request and reads its answer, timed; a transport error or an answer not 2xx is a
    /// failure (printed with its body, for the first few).
    async fn timed(&self, client: usize, what: &str, request: reqwest::RequestBuilder) -> Option<(reqwest::header::HeaderMap, Vec<u8>)> {
        let started = Instant::now();
        let answer = answer_of(request).await;
        let took = started.elapsed();
        {
            let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
            stats.requests += 1;
            if self.recording.load(Ordering::Relaxed) {
                stats.times.push(took);
            }
        }
        match answer {
            Ok(answer) => Some(answer),
            Err(e) => {
                self.fail_quietly(client, &format!("{what} after {} ms", took.as_millis()), &e);
                None
            }
        }
    }

    /// The long poll: the newest change id the hub answered with.
    async fn long_poll(&self, client: usize, request: reqwest::RequestBuilder) -> Option<i64> {
        let started = Instant::now();
        let answer = answer_of(request).await;
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).long_polls += 1;
        let what = format!("GET /api/canopy/changes after {} ms", started.elapsed().as_millis());
        match answer.and_then(|(_, body)| serde_json::from_slice::<WaitResponse>(&body).map_err(|e| format!("its answer: {e}"))) {
            Ok(wait) => Some(wait.max_entity_change_id),
            Err(e) => {
                self.fail_quietly(client, &what, &e);
                None
            }
        }
    }

    /// Counts a failure and prints the first few; `false`, for the callers that say whether it worked.
    fn failure(&self, client: usize, what: &str, error: &str) -> bool {
        self.fail_quietly(client, what, error);
        false
    }

    fn fail_quietly(&self, client: usize, what: &str, error: &str) {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.failed += 1;
        if stats.failures.len() < FAILURES_SHOWN {
            let line = format!("client {client}, {:.3} s into the load part: {what}: {error}", self.started.elapsed().as_secs_f64());
            println!("load failure: {line}");
            stats.failures.push(line);
        }
    }

    fn written(&self, note_id: String, writer: usize) {
        let mut held = vec![false; self.clients];
        held[writer] = true;
        let travel = Travel { written: Instant::now(), held, holders: 1, everywhere: None };
        self.notes.lock().unwrap_or_else(|p| p.into_inner()).insert(note_id, travel);
    }

    /// These notes are in `client`'s document since `at` (notes not written by a load client are left out).
    fn arrived<'a>(&self, note_ids: impl Iterator<Item = &'a str>, client: usize, at: Instant) {
        let mut notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        for note_id in note_ids {
            if let Some(travel) = notes.get_mut(note_id) {
                if !travel.held[client] {
                    travel.held[client] = true;
                    travel.holders += 1;
                    if travel.holders == self.clients {
                        travel.everywhere = Some(at);
                    }
                }
            }
        }
    }

    /// For each client still missing notes, how many (most first).
    fn missing(&self) -> Vec<(usize, usize)> {
        let notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        let mut missing = vec![0; self.clients];
        for travel in notes.values().filter(|t| t.holders < self.clients) {
            for (client, held) in travel.held.iter().enumerate() {
                if !held {
                    missing[client] += 1;
                }
            }
        }
        let mut missing: Vec<(usize, usize)> = missing.into_iter().enumerate().filter(|(_, n)| *n > 0).collect();
        missing.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        missing
    }

    /// Each note's time from its write until every client held it; the last such moment; the last write.
    fn travel(&self) -> (Vec<Duration>, Option<Instant>, Option<Instant>) {
        let notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        let times = notes.values().filter_map(|t| Some(t.everywhere?.saturating_duration_since(t.written))).collect();
        let last_arrival = notes.values().filter_map(|t| t.everywhere).max();
        let last_write = notes.values().map(|t| t.written).max();
        (times, last_arrival, last_write)
    }
}

/// The answer's headers and body, or why it failed: a transport error, or a status not 2xx with its body.
async fn answer_of(request: reqwest::RequestBuilder) -> Result<(reqwest::header::HeaderMap, Vec<u8>), String> {
    let response = request.send().await.map_err(|e| format!("{:#}", anyhow::Error::from(e)))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| format!("{status}, its body: {:#}", anyhow::Error::from(e)))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        return Err(format!("{status}: {}", text.chars().take(500).collect::<String>()));
    }
    Ok((headers, body.to_vec()))
}

/// The process's CPU time so far (user and system, all threads), in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks / per_second as f64)
}

fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().map_err(|_| anyhow::anyhow!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}
