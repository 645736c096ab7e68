//! A seeded torture test of sync: a hub and two clients as real `canopy` processes, each with its own
//! data directory, and random operations on all three through ETAPI and the web UI's server functions
//! (create, edit title and content, delete a note or a branch, clone, move, reorder, labels,
//! relations, attachments, protect and unprotect, undelete, erase a revision). The clients reach the
//! hub only through links the test opens for a sync cycle and cuts again, or leaves open for a while
//! (the client then syncs by itself, as it does in use). Between operations an instance is killed with
//! SIGKILL (idle, a moment into a sync cycle on either side, or in the middle of a burst of writes) and
//! started again. After settling, the three must hold the same rows, pass the hash and deep checks,
//! have a whole tree, no needless conflict revision, no lost text (protected ones decrypted) and no
//! lost acknowledged write.
//!
//! `CANOPY_TORTURE_SEED` and `CANOPY_TORTURE_OPS` choose the run (`make torture SEED=… OPS=…`); the
//! default is the small run of `make test`. The operations of the basic mix come from the seed's own
//! stream; the kills (`CANOPY_TORTURE_KILL_EVERY`, 0 for none) and the extra operations (UI variants,
//! relations, attachments, reorders, protecting, erasing; `CANOPY_TORTURE_EXTRAS=0` for none) from
//! streams of their own. So the same seed and a smaller count replay a prefix of the same operations,
//! which is how `scripts/torture.sh` finds the shortest failing prefix; exactly so without kills and
//! with `CANOPY_TORTURE_ONLINE=0` (no online windows), where timing does not matter.
//! `CANOPY_TORTURE_VERBOSE=1` prints the operations of a passing run too.
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use canopy::sync::{CycleSummary, SyncStatus};
use rusqlite::Connection;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::auth::{Browser, PASSWORD};
use crate::stop_and_reconnect::{free_port, hub_and_client_dirs_syncing_to, Process};

const DEFAULT_SEED: u64 = 14;
const DEFAULT_OPS: usize = 300;
/// On average one operation in this many is followed by a kill.
const DEFAULT_KILL_EVERY: usize = 40;
/// Sync rounds over both clients before settling counts as failed.
const MAX_SETTLE_ROUNDS: usize = 20;
/// A request that takes longer than this counts as a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// SplitMix64: small, seeded, the same sequence on every machine.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }
}

/// A client's way to the hub: a TCP relay the test opens and cuts. Cut, new connections are closed
/// at once and open ones (pooled keep-alives, the long poll) are ended, as when the network goes.
pub(crate) struct Link {
    pub(crate) url: String,
    open: watch::Sender<bool>,
    relay: tokio::task::JoinHandle<()>,
}

impl Link {
    pub(crate) async fn to(hub: SocketAddr) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let open = watch::channel(false).0;
        let state = open.subscribe();
        let relay = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut state = state.clone();
                if !*state.borrow() {
                    continue; // dropped: the client sees the connection closed
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(hub).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = state.wait_for(|open| !*open) => {}
                    }
                });
            }
        });
        Link { url, open, relay }
    }

    pub(crate) fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }

    pub(crate) fn is_open(&self) -> bool {
        *self.open.borrow()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

/// One version of a note's row (a `utcDateModified`), as an operation of the test, or something it
/// did not do (a sync repair), made it.
#[derive(Debug, Clone)]
struct Version {
    date: String,
    title: String,
    content: String,
    deleted: bool,
    /// The version the instance held when it made this one (`None`: a new note, or a version the
    /// test saw but did not make).
    parent: Option<usize>,
}

/// A note row as an instance holds it: (utcDateModified, title, text, isDeleted).
type Row = (String, String, String, bool);

/// The test's own record: every version of every note it made, what each was made from, and
/// which titles and texts an edit replaced (seen, then overwritten: they may be gone).
#[derive(Default)]
pub(crate) struct Record {
    pub(crate) notes: Vec<String>,
    versions: HashMap<String, Vec<Version>>,
    /// (noteId, title, text) that an operation saw and replaced.
    replaced: HashSet<(String, String, String)>,
    /// (noteId, title, text) of revisions an operation erased.
    erased: HashSet<(String, String, String)>,
}

impl Record {
    fn index(&self, note_id: &str, date: &str) -> Option<usize> {
        self.versions.get(note_id)?.iter().position(|v| v.date == date)
    }

    /// The version of this row, added (without a parent) if the test had not seen it.
    pub(crate) fn known(&mut self, note_id: &str, (date, title, content, deleted): &Row) -> usize {
        if let Some(i) = self.index(note_id, date) {
            return i;
        }
        let versions = self.versions.entry(note_id.to_owned()).or_default();
        versions.push(Version { date: date.clone(), title: title.clone(), content: content.clone(), deleted: *deleted, parent: None });
        versions.len() - 1
    }

    /// An operation on one instance turned the rows `before` into `after`.
    pub(crate) fn operated(&mut self, before: &BTreeMap<String, Row>, after: &BTreeMap<String, Row>) {
        for (note_id, row) in after {
            // A version known already arrived by sync meanwhile (a client online): not this operation's.
            if self.index(note_id, &row.0).is_some() {
                continue;
            }
            let parent = match before.get(note_id) {
                Some(old) if old.0 == row.0 => continue,
                Some(old) => {
                    if (&old.1, &old.2) != (&row.1, &row.2) {
                        self.replaced.insert((note_id.clone(), old.1.clone(), old.2.clone()));
                    }
                    Some(self.known(note_id, old))
                }
                None => None,
            };
            let i = self.known(note_id, row);
            self.versions.get_mut(note_id).unwrap()[i].parent = parent;
        }
    }

    /// Whether `ancestor` is `version` or one it was made from.
    fn descends(&self, note_id: &str, version: usize, ancestor: usize) -> bool {
        let versions = &self.versions[note_id];
        let mut at = Some(version);
        for _ in 0..=versions.len() {
            match at {
                Some(i) if i == ancestor => return true,
                Some(i) => at = versions[i].parent,
                None => return false,
            }
        }
        false
    }
}

/// A connection of the test's own to a document, running instance or not (the log lets it read
/// beside the instance's writer).
pub(crate) fn open_db(dir: &Path) -> Connection {
    let conn = Connection::open(dir.join("document.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

/// Every note row of the test in `c`, by note id.
pub(crate) fn note_rows(c: &Connection) -> BTreeMap<String, Row> {
    let mut stmt = c
        .prepare(
            "SELECT n.noteId, n.utcDateModified, n.title, b.content, n.isDeleted, n.isProtected FROM notes n
             LEFT JOIN blobs b ON b.blobId = n.blobId WHERE n.noteId LIKE 'tortureNote%'",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            let (title, content) = readable(c, r.get(5)?, r.get(2)?, r.get_ref(3)?);
            Ok((r.get(0)?, (r.get(1)?, title, content, r.get(4)?)))
        })
        .unwrap()
        .collect::<Result<BTreeMap<_, _>, _>>()
        .unwrap();
    rows
}

/// A title and a text as a person reads them: decrypted when the row is protected (with the
/// document's data key, unlocked once per document with the test's password).
fn readable(c: &Connection, is_protected: bool, title: String, content: rusqlite::types::ValueRef<'_>) -> (String, String) {
    if !is_protected {
        return (title, text_of(content));
    }
    let key = data_key(c);
    let title = key.decrypt_string(&title).expect("a protected title decrypts");
    let content = match content {
        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
            let plain = key.decrypt(&String::from_utf8_lossy(t)).expect("a protected text decrypts");
            String::from_utf8_lossy(&plain).into_owned()
        }
        _ => String::new(),
    };
    (title, content)
}

/// The data key of the document `c` holds. Unlocking runs scrypt, so each document's key is kept
/// (by its wrapped key: clients share the hub's).
fn data_key(c: &Connection) -> canopy::protected::DataKey {
    static KEYS: std::sync::Mutex<BTreeMap<String, canopy::protected::DataKey>> = std::sync::Mutex::new(BTreeMap::new());
    let wrapped: String = c.query_row("SELECT value FROM options WHERE name = 'encryptedDataKey'", [], |r| r.get(0)).unwrap();
    let mut keys = KEYS.lock().unwrap();
    keys.entry(wrapped).or_insert_with(|| canopy::protected::unlock_key(c, PASSWORD).unwrap()).clone()
}

/// A column's value as a person reads it in a failure message.
fn shown(value: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => format!("{:?}", String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => format!("blob {:?}", String::from_utf8_lossy(b)),
    }
}

fn text_of(value: rusqlite::types::ValueRef<'_>) -> String {
    match value {
        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        _ => String::new(),
    }
}

pub(crate) fn strings(c: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = c.prepare(sql).unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    rows
}

fn count(c: &Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The notes of the test (in the order they were made) that are alive, or deleted, in `c`.
pub(crate) fn test_notes(c: &Connection, record: &Record, deleted: bool) -> Vec<String> {
    let there: BTreeSet<String> =
        strings(c, &format!("SELECT noteId FROM notes WHERE isDeleted = {}", i32::from(deleted))).into_iter().collect();
    record.notes.iter().filter(|id| there.contains(*id)).cloned().collect()
}

/// Live branches of the test's notes in `c`: (branchId, noteId, parentNoteId).
pub(crate) fn test_branches(c: &Connection, record: &Record) -> Vec<(String, String, String)> {
    let ours: BTreeSet<&String> = record.notes.iter().collect();
    let mut stmt = c.prepare("SELECT branchId, noteId, parentNoteId FROM branches WHERE isDeleted = 0 ORDER BY branchId").unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<Vec<(String, String, String)>, _>>()
        .unwrap();
    rows.into_iter().filter(|(_, note_id, _)| ours.contains(note_id)).collect()
}

const NAMES: [&str; 3] = ["hub", "client1", "client2"];

/// One instance: its process (started again after each kill), its ETAPI token and a logged-in browser.
pub(crate) struct Instance {
    pub(crate) dir: PathBuf,
    port: u16,
    pub(crate) process: Process,
    /// The log lines of the processes killed before this one.
    earlier_lines: Vec<String>,
    pub(crate) token: String,
    browser: Browser,
}

/// The binary on `dir` and `port`, once it listens.
async fn launch(dir: &Path, port: u16) -> Process {
    let process = Process::start(dir, port);
    process.wait_for("listening on", 1).await;
    process
}

impl Instance {
    pub(crate) async fn start(dir: PathBuf, port: u16) -> Instance {
        let process = launch(&dir, port).await;
        let token = crate::common::etapi_token(&process.url(), PASSWORD).await;
        let browser = Browser::logged_in_at(&process.url()).await;
        Instance { dir, port, process, earlier_lines: Vec::new(), token, browser }
    }

    pub(crate) fn url(&self) -> String {
        self.process.url()
    }

    pub(crate) fn db(&self) -> Connection {
        open_db(&self.dir)
    }

    /// SIGKILL, then the same data directory and port again, as after a crash.
    pub(crate) async fn kill_and_restart(&mut self) {
        self.process.kill();
        self.earlier_lines.extend(self.process.lines());
        self.earlier_lines.push("--- killed with SIGKILL ---".into());
        self.process = launch(&self.dir, self.port).await;
    }

    /// An ETAPI call with the instance's token: a text body as `text/plain`, any other as JSON.
    pub(crate) async fn etapi(&self, http: &reqwest::Client, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = http.request(method, format!("{}/etapi{path}", self.url())).header("Authorization", &self.token);
        if let Some(body) = body {
            request = match body {
                Value::String(text) => request.header("Content-Type", "text/plain").body(text),
                other => request.json(&other),
            };
        }
        answer_of(request.send().await).await
    }

    pub(crate) async fn sync_status(&self, http: &reqwest::Client) -> SyncStatus {
        let response = http
            .get(format!("{}/api/canopy/sync-status", self.url()))
            .header("Authorization", &self.token)
            .send()
            .await
            .expect("the sync status answers");
        response.json().await.expect("the sync status reads")
    }

    /// Every log line of this instance, across its restarts.
    pub(crate) fn all_lines(&self) -> Vec<String> {
        [self.earlier_lines.clone(), self.process.lines()].concat()
    }
}

/// What an ETAPI or server function call answered.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

async fn answer_of(response: reqwest::Result<reqwest::Response>) -> Answer {
    match response {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
        }
        // 0: no answer (the instance was killed, or the request timed out)
        Err(e) => Answer { status: 0, body: Value::String(e.to_string()) },
    }
}

/// `POST /api/sync/now` on a client, as its UI's "sync now" does.
pub(crate) async fn sync_now(http: reqwest::Client, url: String, token: String) -> Result<CycleSummary, String> {
    let answer = answer_of(http.post(format!("{url}/api/sync/now")).header("Authorization", token).send().await).await;
    if answer.status != 200 {
        return Err(format!("sync now answered {}: {}", answer.status, answer.body));
    }
    if answer.body["success"] == true {
        serde_json::from_value(answer.body["summary"].clone()).map_err(|e| format!("sync now summary: {e}"))
    } else {
        Err(answer.body["message"].as_str().unwrap_or("sync failed").to_owned())
    }
}

struct Cluster {
    /// hub, client 1, client 2
    instances: [Instance; 3],
    /// The links of client 1 and client 2.
    links: [Link; 2],
    http: reqwest::Client,
    /// Clients may stay online for a while, syncing by themselves (`CANOPY_TORTURE_ONLINE=1`; else only
    /// the test's own sync cycles, so that a seed replays exactly).
    online_windows: bool,
    /// The instances' data directories (kept when the run fails).
    root: tempfile::TempDir,
}

impl Cluster {
    async fn start(online_windows: bool) -> Cluster {
        let root = tempfile::tempdir().unwrap();
        let hub_port = free_port();
        let hub_addr = SocketAddr::from(([127, 0, 0, 1], hub_port));
        let links = [Link::to(hub_addr).await, Link::to(hub_addr).await];
        let (hub_dir, client1_dir, client2_dir) = hub_and_client_dirs_syncing_to(root.path(), [&links[0].url, &links[1].url]);
        let instances = [
            Instance::start(hub_dir, hub_port).await,
            Instance::start(client1_dir, free_port()).await,
            Instance::start(client2_dir, free_port()).await,
        ];
        let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().unwrap();
        Cluster { instances, links, http, online_windows, root }
    }

    fn db(&self, on: usize) -> Connection {
        self.instances[on].db()
    }

    async fn etapi(&self, on: usize, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        self.instances[on].etapi(&self.http, method, path, body).await
    }

    /// A server function of the web UI, as the hydrated page calls it (its session and CSRF token).
    /// A session that did not survive a restart is logged in again and counted.
    async fn ui(&mut self, on: usize, name: &str, fields: &[(&str, &str)], tally: &mut Tally) -> Answer {
        for attempt in 0..2 {
            let browser = &self.instances[on].browser;
            let request = browser.http.post(format!("{}/ui/{name}", browser.base)).header("X-CSRF-Token", &browser.csrf).form(fields);
            let answer = answer_of(request.timeout(REQUEST_TIMEOUT).send().await).await;
            if answer.status != 401 || attempt == 1 {
                return answer;
            }
            tally.logins_lost.push(format!("{} after a restart: {}", NAMES[on], answer.body));
            self.instances[on].browser = Browser::logged_in_at(&self.instances[on].url()).await;
        }
        unreachable!()
    }

    async fn status(&self, client: usize) -> SyncStatus {
        self.instances[client].sync_status(&self.http).await
    }

    /// One sync cycle of a client with its link open; an offline client's link is cut again afterwards.
    async fn sync(&self, client: usize) -> Result<CycleSummary, String> {
        let link = &self.links[client - 1];
        let was_open = link.is_open();
        link.set_open(true);
        let instance = &self.instances[client];
        let result = sync_now(self.http.clone(), instance.url(), instance.token.clone()).await;
        link.set_open(was_open);
        result
    }

    /// Both links cut, and no client cycle running any more: nothing but the test changes a document.
    async fn quiet(&self) -> Result<(), String> {
        for link in &self.links {
            link.set_open(false);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for client in [1, 2] {
            while self.status(client).await.in_progress {
                if Instant::now() > deadline {
                    return Err(format!("{}'s cycle still runs 30 s after its link was cut", NAMES[client]));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// Both clients offline, then sync cycles of both until two rounds in a row move nothing, then
    /// no cycle running (a client's own cycle, started while its link was open, ends first).
    async fn settle(&self) -> Result<usize, String> {
        self.quiet().await?;
        let mut quiet_rounds = 0;
        for round in 1..=MAX_SETTLE_ROUNDS {
            let mut moved = 0;
            for client in [1, 2] {
                let summary = self.sync(client).await?;
                moved += summary.pushed + summary.pulled;
            }
            quiet_rounds = if moved == 0 { quiet_rounds + 1 } else { 0 };
            if quiet_rounds == 2 {
                self.quiet().await?;
                return Ok(round);
            }
        }
        Err(format!("still moving changes after {MAX_SETTLE_ROUNDS} rounds"))
    }
}

#[derive(Default, Debug)]
struct Tally {
    etapi_calls: usize,
    ui_calls: usize,
    refused: usize,
    server_errors: Vec<String>,
    syncs: usize,
    sync_errors: Vec<String>,
    kills: usize,
    /// Sync cycles a kill cut short (expected to fail, not counted as errors).
    syncs_cut_by_a_kill: usize,
    /// Writes answered with success before a kill and missing after the restart.
    lost_acknowledged: Vec<String>,
    acknowledged_before_a_kill: usize,
    /// Browser sessions that a restart lost (logged in again).
    logins_lost: Vec<String>,
    /// Notes protected or unprotected (successful calls).
    protects: usize,
}

/// The random choices of a run, from streams of their own (see the module's comment).
struct Streams {
    basic: Rng,
    kills: Option<(Rng, usize)>,
    extras: Option<Rng>,
}

/// One random operation on a random instance, recorded; returns what it did, for the log of operations.
async fn step(cluster: &mut Cluster, record: &mut Record, streams: &mut Streams, op: usize, tally: &mut Tally) -> String {
    let on = streams.basic.below(3);
    let before = note_rows(&cluster.db(on));
    let syncs = tally.syncs;
    let line = act(cluster, on, record, streams, op, tally).await;
    // What a sync brought is the other instances' work, recorded when they did it.
    if tally.syncs == syncs {
        record.operated(&before, &note_rows(&cluster.db(on)));
    }
    line
}

/// Counts a call's answer, and says what it was for the log.
fn answered(tally: &mut Tally, op: usize, what: String, answer: Answer) -> String {
    if answer.status >= 500 || answer.status == 0 {
        tally.server_errors.push(format!("op {op}: {what}: {} {}", answer.status, answer.body));
    } else if answer.status >= 400 {
        tally.refused += 1;
        let message = answer.body.get("message").cloned().unwrap_or(answer.body);
        return format!("{op}: {what}: refused {} {message}", answer.status);
    }
    format!("{op}: {what}: {}", answer.status)
}

async fn act(cluster: &mut Cluster, on: usize, record: &mut Record, streams: &mut Streams, op: usize, tally: &mut Tally) -> String {
    use reqwest::Method;
    let rng = &mut streams.basic;
    // Whether this operation goes through the UI's server function where both ways exist.
    let by_ui = streams.extras.as_mut().is_some_and(|extras| extras.below(2) == 0);
    let who = NAMES[on];
    let roll = rng.below(100);
    let db = cluster.db(on);
    let live = test_notes(&db, record, false);
    // Parents for new notes and placements: the root or any live note of the test.
    let mut parents = vec!["root".to_owned()];
    parents.extend(live.iter().cloned());
    let (what, answer) = match roll {
        // a client goes online for a while (its engine syncs by itself, racing the operations) or off
        0..4 => {
            let client = 1 + rng.below(2);
            if !cluster.online_windows {
                return format!("{op}: (no online windows)");
            }
            let link = &cluster.links[client - 1];
            let online = !link.is_open();
            link.set_open(online);
            return format!("{op}: {} goes {}", NAMES[client], if online { "online" } else { "offline" });
        }
        // sync a client (also from the hub's turn, so syncs are as frequent whoever was picked)
        4..16 => {
            let client = 1 + rng.below(2);
            tally.syncs += 1;
            return match cluster.sync(client).await {
                Ok(s) => format!("{op}: sync {} (pushed {}, pulled {}, {} ms)", NAMES[client], s.pushed, s.pulled, s.duration_ms),
                Err(e) => {
                    tally.sync_errors.push(format!("op {op}: {e}"));
                    format!("{op}: sync {} FAILED: {e}", NAMES[client])
                }
            };
        }
        16..30 => {
            let parent = rng.pick(&parents).unwrap().clone();
            // Ids from the operation's number, so that a run replays exactly (the ids order the choices).
            let (note_id, title, content) = (format!("tortureNote{op:05}"), format!("n{op}"), format!("<p>c{op}</p>"));
            let body = json!({ "noteId": note_id, "parentNoteId": parent, "title": title, "type": "text", "content": content });
            let answer = cluster.etapi(on, Method::POST, "/create-note", Some(body)).await;
            if answer.status == 201 {
                record.notes.push(note_id.clone());
                tally.etapi_calls += 1;
                return format!("{op}: {who} creates {note_id} under {parent}");
            }
            (format!("{who} creates under {parent}"), answer)
        }
        30..40 if by_ui => {
            let Some(note_id) = rng.pick(&live).cloned() else { return format!("{op}: {who} has no note to edit") };
            let title = format!("t{op}");
            tally.ui_calls += 1;
            (format!("{who} renames {note_id} to {title} in the UI"), cluster.ui(on, "tree/rename", &[("note_id", &note_id), ("title", &title)], tally).await)
        }
        30..58 => {
            let Some(note_id) = rng.pick(&live).cloned() else { return format!("{op}: {who} has no note to edit") };
            if roll < 40 {
                let title = format!("t{op}");
                let body = json!({ "title": title });
                (format!("{who} retitles {note_id} to {title}"), cluster.etapi(on, Method::PATCH, &format!("/notes/{note_id}"), Some(body)).await)
            } else if by_ui {
                // The editor's save, which also writes protected notes (in a protected session), of
                // the version it loaded.
                let content = format!("<p>c{op}</p>");
                let loaded: Option<String> = db.query_row("SELECT blobId FROM notes WHERE noteId = ?1", [&note_id], |r| r.get(0)).unwrap();
                tally.ui_calls += 1;
                let mut fields = vec![("note_id", note_id.as_str()), ("content", content.as_str())];
                fields.extend(loaded.as_deref().map(|blob_id| ("expected_blob_id", blob_id)));
                let answer = cluster.ui(on, "save_note", &fields, tally).await;
                return answered(tally, op, format!("{who} saves {content} into {note_id} in the UI"), answer);
            } else {
                let content = format!("<p>c{op}</p>");
                let path = format!("/notes/{note_id}/content");
                (format!("{who} writes {content} into {note_id}"), cluster.etapi(on, Method::PUT, &path, Some(Value::String(content))).await)
            }
        }
        58..64 => {
            let Some(note_id) = rng.pick(&live).cloned() else { return format!("{op}: {who} has no note to delete") };
            (format!("{who} deletes note {note_id}"), cluster.etapi(on, Method::DELETE, &format!("/notes/{note_id}"), None).await)
        }
        64..70 => {
            let branches = test_branches(&db, record);
            let Some((branch_id, _, _)) = rng.pick(&branches).cloned() else { return format!("{op}: {who} has no branch to delete") };
            (format!("{who} deletes branch {branch_id}"), cluster.etapi(on, Method::DELETE, &format!("/branches/{branch_id}"), None).await)
        }
        70..84 => {
            let branches = test_branches(&db, record);
            let Some((branch_id, note_id, _)) = rng.pick(&branches).cloned() else { return format!("{op}: {who} has no note to place") };
            let parent = rng.pick(&parents).unwrap().clone();
            if roll >= 78 && by_ui {
                tally.ui_calls += 1;
                let fields = [("branch_id", branch_id.as_str()), ("position", "Into"), ("target", parent.as_str())];
                (format!("{who} moves {note_id} (branch {branch_id}) under {parent} in the UI"), cluster.ui(on, "tree/move", &fields, tally).await)
            } else {
                let body = json!({ "noteId": note_id, "parentNoteId": parent });
                let cloned = cluster.etapi(on, Method::POST, "/branches", Some(body)).await;
                if roll < 78 || !(200..300).contains(&cloned.status) {
                    (format!("{who} clones {note_id} under {parent}"), cloned)
                } else {
                    tally.etapi_calls += 1;
                    let answer = cluster.etapi(on, Method::DELETE, &format!("/branches/{branch_id}"), None).await;
                    (format!("{who} moves {note_id} from branch {branch_id} under {parent}"), answer)
                }
            }
        }
        84..92 => {
            let Some(note_id) = rng.pick(&live).cloned() else { return format!("{op}: {who} has no note to label") };
            let attribute_id = format!("tortureLabel{op:05}");
            let body = json!({ "attributeId": attribute_id, "noteId": note_id, "type": "label", "name": "torture", "value": format!("v{op}") });
            (format!("{who} labels {note_id}"), cluster.etapi(on, Method::POST, "/attributes", Some(body)).await)
        }
        92..96 => {
            let labels = strings(&db, "SELECT attributeId FROM attributes WHERE isDeleted = 0 AND name = 'torture' ORDER BY attributeId");
            let Some(attribute_id) = rng.pick(&labels).cloned() else { return format!("{op}: {who} has no label to remove") };
            (format!("{who} removes label {attribute_id}"), cluster.etapi(on, Method::DELETE, &format!("/attributes/{attribute_id}"), None).await)
        }
        _ => {
            // ETAPI has no undelete; the UI's (recent changes) is the one way.
            let deleted = test_notes(&db, record, true);
            let Some(note_id) = rng.pick(&deleted).cloned() else { return format!("{op}: {who} has no note to undelete") };
            tally.ui_calls += 1;
            let answer = cluster.ui(on, "undelete", &[("note_id", &note_id)], tally).await;
            return match answer.status {
                200 => format!("{op}: {who} undeletes {note_id} (back under {})", answer.body),
                _ => answered(tally, op, format!("{who} undeletes {note_id}"), answer),
            };
        }
    };
    tally.etapi_calls += 1;
    answered(tally, op, what, answer)
}

/// An operation of the extras stream on a random instance: a relation, an attachment, a reorder
/// among siblings, protecting or unprotecting a note, or erasing a revision (the one way a text may
/// go for good; the record is told).
async fn extra(cluster: &mut Cluster, record: &mut Record, rng: &mut Rng, op: usize, tally: &mut Tally) -> String {
    use reqwest::Method;
    let on = rng.below(3);
    let who = NAMES[on];
    let db = cluster.db(on);
    let live = test_notes(&db, record, false);
    let (what, answer) = match rng.below(5) {
        0 => {
            let (Some(from), Some(to)) = (rng.pick(&live).cloned(), rng.pick(&live).cloned()) else { return format!("{op}+: {who} has no notes to relate") };
            let attribute_id = format!("tortureLink{op:05}");
            let body = json!({ "attributeId": attribute_id, "noteId": from, "type": "relation", "name": "tortureLink", "value": to });
            tally.etapi_calls += 1;
            (format!("{who} relates {from} to {to}"), cluster.etapi(on, Method::POST, "/attributes", Some(body)).await)
        }
        1 => {
            let Some(owner) = rng.pick(&live).cloned() else { return format!("{op}+: {who} has no note to attach to") };
            let body = json!({ "ownerId": owner, "role": "file", "mime": "text/plain", "title": format!("a{op}.txt"), "content": format!("attachment {op}") });
            tally.etapi_calls += 1;
            (format!("{who} attaches a{op}.txt to {owner}"), cluster.etapi(on, Method::POST, "/attachments", Some(body)).await)
        }
        2 => {
            let branches = test_branches(&db, record);
            let Some((branch_id, note_id, parent)) = rng.pick(&branches).cloned() else { return format!("{op}+: {who} has no branch to reorder") };
            let siblings: Vec<&String> = branches.iter().filter(|(b, _, p)| *p == parent && *b != branch_id).map(|(b, _, _)| b).collect();
            let Some(target) = rng.pick(&siblings).map(|s| s.to_string()) else { return format!("{op}+: {who}: {note_id} has no sibling") };
            let position = if rng.below(2) == 0 { "Before" } else { "After" };
            tally.ui_calls += 1;
            let fields = [("branch_id", branch_id.as_str()), ("position", position), ("target", target.as_str())];
            (format!("{who} puts {note_id} {position} {target} in the UI"), cluster.ui(on, "tree/move", &fields, tally).await)
        }
        3 => {
            // Protecting or unprotecting re-encrypts the title and the text (new blob, new dates) in
            // the UI's protected session, entered first (a restart ends it).
            let Some(note_id) = rng.pick(&live).cloned() else { return format!("{op}+: {who} has no note to protect") };
            let protected: bool = db.query_row("SELECT isProtected FROM notes WHERE noteId = ?1", [&note_id], |r| r.get(0)).unwrap();
            tally.ui_calls += 2;
            let unlocked = cluster.ui(on, "protected/unlock", &[("password", PASSWORD)], tally).await;
            if unlocked.status != 200 {
                return answered(tally, op, format!("+ {who} enters the protected session"), unlocked);
            }
            let fields = [("note_id", note_id.as_str()), ("protected", if protected { "false" } else { "true" }), ("subtree", "false")];
            let what = format!("{who} {} {note_id} in the UI", if protected { "unprotects" } else { "protects" });
            let before = note_rows(&db);
            let answer = cluster.ui(on, "protected/set", &fields, tally).await;
            record.operated(&before, &note_rows(&cluster.db(on)));
            tally.protects += usize::from(answer.status == 200);
            (what, answer)
        }
        _ => {
            let revisions: Vec<_> = revisions(&db).into_iter().filter(|(_, note_id, _, _)| note_id.starts_with("tortureNote")).collect();
            let Some((revision_id, note_id, title, text)) = rng.pick(&revisions).cloned() else { return format!("{op}+: {who} has no revision to erase") };
            // Told before the call: a kill could come between the erase and its answer.
            record.erased.insert((note_id.clone(), title, text));
            tally.ui_calls += 1;
            (format!("{who} erases revision {revision_id} of {note_id} in the UI"), cluster.ui(on, "revision/delete", &[("revision_id", &revision_id)], tally).await)
        }
    };
    answered(tally, op, format!("+ {what}"), answer)
}

/// A kill of the kills stream: an idle instance, a client or the hub a moment into a sync cycle, or
/// an instance in the middle of a burst of writes, whose acknowledged writes must all be there after
/// the restart. The instance starts again on its data directory and port.
async fn kill(cluster: &mut Cluster, record: &mut Record, rng: &mut Rng, op: usize, tally: &mut Tally) -> String {
    tally.kills += 1;
    // Within a cycle's time (tens of milliseconds here) for a sync, longer for a burst of writes.
    let mode = rng.below(4);
    let delay = Duration::from_millis(rng.below(if mode == 1 || mode == 2 { 60 } else { 120 }) as u64);
    match mode {
        0 => {
            let victim = rng.below(3);
            cluster.instances[victim].kill_and_restart().await;
            format!("{op}!: kill -9 {} (idle)", NAMES[victim])
        }
        mode @ (1 | 2) => {
            let client = 1 + rng.below(2);
            let victim = if mode == 1 { client } else { 0 };
            let link = &cluster.links[client - 1];
            let was_open = link.is_open();
            link.set_open(true);
            let instance = &cluster.instances[client];
            let cycle = tokio::spawn(sync_now(cluster.http.clone(), instance.url(), instance.token.clone()));
            tokio::time::sleep(delay).await;
            cluster.instances[victim].kill_and_restart().await;
            let outcome = cycle.await.unwrap();
            cluster.links[client - 1].set_open(was_open);
            tally.syncs_cut_by_a_kill += usize::from(outcome.is_err());
            let outcome = match outcome {
                Ok(s) => format!("it had ended: pushed {}, pulled {}", s.pushed, s.pulled),
                Err(e) => format!("cut: {e}"),
            };
            format!("{op}!: kill -9 {} {} ms into a sync of {} ({outcome})", NAMES[victim], delay.as_millis(), NAMES[client])
        }
        _ => {
            let victim = rng.below(3);
            // Nothing else may change the note meanwhile, so that what is there after says what was kept.
            let links_open = [cluster.links[0].is_open(), cluster.links[1].is_open()];
            if let Err(e) = cluster.quiet().await {
                tally.sync_errors.push(format!("op {op}: {e}"));
            }
            let db = cluster.db(victim);
            let live = test_notes(&db, record, false);
            let Some(note_id) = rng.pick(&live).cloned() else {
                cluster.instances[victim].kill_and_restart().await;
                return format!("{op}!: kill -9 {} (no note to write)", NAMES[victim]);
            };
            let before = note_rows(&db);
            drop(db);
            let acknowledged = Arc::new(AtomicI64::new(-1));
            let writes = {
                let (http, url, token, acknowledged) =
                    (cluster.http.clone(), cluster.instances[victim].url(), cluster.instances[victim].token.clone(), acknowledged.clone());
                let path = format!("{url}/etapi/notes/{note_id}/content");
                tokio::spawn(async move {
                    for i in 0..10_000 {
                        let sent = http.put(&path).header("Authorization", &token).header("Content-Type", "text/plain").body(format!("<p>k{op}.{i}</p>")).send().await;
                        match sent {
                            Ok(r) if r.status().is_success() => acknowledged.store(i, Ordering::SeqCst),
                            _ => return,
                        }
                    }
                })
            };
            tokio::time::sleep(delay).await;
            cluster.instances[victim].kill_and_restart().await;
            writes.await.unwrap();
            let last = acknowledged.load(Ordering::SeqCst);
            let after = note_rows(&cluster.db(victim));
            let now = after.get(&note_id).map(|row| row.2.clone()).unwrap_or_default();
            // What may be there: the last acknowledged write, or the one in flight when the kill came.
            let allowed = [format!("<p>k{op}.{last}</p>"), format!("<p>k{op}.{}</p>", last + 1)];
            let kept = if last < 0 { now == before[&note_id].2 || now == allowed[1] } else { allowed.contains(&now) };
            if !kept {
                tally.lost_acknowledged.push(format!("op {op}: {note_id} on {} holds {now:?} after {} acknowledged writes", NAMES[victim], last + 1));
            }
            tally.acknowledged_before_a_kill += usize::try_from(last + 1).unwrap_or(0);
            record.operated(&before, &after);
            for (link, open) in cluster.links.iter().zip(links_open) {
                link.set_open(open);
            }
            format!("{op}!: kill -9 {} {} ms into writes to {note_id} ({} acknowledged, {now:?} kept)", NAMES[victim], delay.as_millis(), last + 1)
        }
    }
}

/// The synced tables, as the rows Trilium and Canopy exchange.
const SYNCED_TABLES: [(&str, &str); 8] = [
    ("notes", "SELECT * FROM notes ORDER BY noteId"),
    ("branches", "SELECT * FROM branches ORDER BY branchId"),
    ("attributes", "SELECT * FROM attributes ORDER BY attributeId"),
    ("revisions", "SELECT * FROM revisions ORDER BY revisionId"),
    ("attachments", "SELECT * FROM attachments ORDER BY attachmentId"),
    ("blobs", "SELECT * FROM blobs ORDER BY blobId"),
    ("options", "SELECT * FROM options WHERE isSynced = 1 ORDER BY name"),
    ("etapi_tokens", "SELECT * FROM etapi_tokens ORDER BY etapiTokenId"),
];
const SYNCED_CHANGES: &str = "SELECT entityName, entityId, hash, isErased FROM entity_changes WHERE isSynced = 1 ORDER BY entityName, entityId";

fn rows(c: &Connection, sql: &str) -> BTreeSet<String> {
    let mut stmt = c.prepare(sql).unwrap();
    let columns = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            let values = (0..columns).map(|i| Ok(shown(r.get_ref(i)?))).collect::<Result<Vec<_>, rusqlite::Error>>()?;
            Ok(values.join(" | "))
        })
        .unwrap()
        .collect::<Result<BTreeSet<_>, _>>()
        .unwrap();
    rows
}

/// Rows of the synced tables that `other` does not hold exactly as `first` does (both ways).
pub(crate) fn differing_rows(first: &Connection, other: &Connection) -> BTreeMap<&'static str, Vec<String>> {
    let mut out = BTreeMap::new();
    for (table, sql) in SYNCED_TABLES.iter().copied().chain([("entity_changes", SYNCED_CHANGES)]) {
        let (a, b) = (rows(first, sql), rows(other, sql));
        let differing: Vec<String> = a.symmetric_difference(&b).cloned().collect();
        if !differing.is_empty() {
            out.insert(table, differing);
        }
    }
    out
}

/// Live notes (not the root) without a live branch, and live branches whose note or parent is
/// deleted or missing.
fn broken_tree(c: &Connection) -> (i64, i64) {
    let orphans = count(
        c,
        "SELECT COUNT(*) FROM notes n WHERE n.isDeleted = 0 AND n.noteId <> 'root'
           AND NOT EXISTS (SELECT 1 FROM branches b WHERE b.noteId = n.noteId AND b.isDeleted = 0)",
    );
    let dangling = count(
        c,
        "SELECT COUNT(*) FROM branches b WHERE b.isDeleted = 0
           AND (NOT EXISTS (SELECT 1 FROM notes n WHERE n.noteId = b.noteId AND n.isDeleted = 0)
                OR (b.parentNoteId <> 'none'
                    AND NOT EXISTS (SELECT 1 FROM notes p WHERE p.noteId = b.parentNoteId AND p.isDeleted = 0)))",
    );
    (orphans, dangling)
}

/// Live attributes of deleted notes (Trilium's consistency checks delete them).
fn attributes_of_deleted_notes(c: &Connection) -> i64 {
    count(
        c,
        "SELECT COUNT(*) FROM attributes a WHERE a.isDeleted = 0
           AND NOT EXISTS (SELECT 1 FROM notes n WHERE n.noteId = a.noteId AND n.isDeleted = 0)",
    )
}

/// Every revision in `c` as (revisionId, noteId, title, text).
pub(crate) fn revisions(c: &Connection) -> Vec<(String, String, String, String)> {
    let mut stmt = c
        .prepare(
            "SELECT r.revisionId, r.noteId, r.title, b.content, r.isProtected FROM revisions r
             LEFT JOIN blobs b ON b.blobId = r.blobId ORDER BY r.revisionId",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            let (title, content) = readable(c, r.get(4)?, r.get(2)?, r.get_ref(3)?);
            Ok((r.get(0)?, r.get(1)?, title, content))
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}

/// What one instance shows after settling.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub(crate) orphan_notes: i64,
    pub(crate) dangling_branches: i64,
    pub(crate) attributes_of_deleted_notes: i64,
    /// Conflicts logged here whose loser was a version the winner was made from (one edit after
    /// another, not concurrent): each kept a needless revision.
    pub(crate) needless_conflicts: Vec<String>,
    /// The revisions those needless conflicts point to, and the ones the other conflicts point to.
    pub(crate) needless_revision_ids: BTreeSet<String>,
    pub(crate) needed_revision_ids: BTreeSet<String>,
    /// Conflicts logged here between concurrent versions where one side was a delete (counted apart:
    /// what such a conflict keeps is the tree rule's to decide).
    pub(crate) delete_conflicts: usize,
    /// Conflicts logged here between versions the record does not know (made by a repair).
    pub(crate) unclassified_conflicts: usize,
    /// Conflicts logged here whose losing content was not there to keep.
    pub(crate) losers_missing: usize,
    /// Titles and texts nobody replaced or erased that are neither a note's current ones nor in a revision here.
    pub(crate) lost_texts: Vec<String>,
}

pub(crate) fn inspect(c: &Connection, record: &Record) -> Findings {
    let mut f = Findings::default();
    (f.orphan_notes, f.dangling_branches) = broken_tree(c);
    f.attributes_of_deleted_notes = attributes_of_deleted_notes(c);
    let conflicts = canopy::sync::apply::recorded_conflicts(c, i64::MAX).unwrap();
    for conflict in &conflicts {
        if conflict.revision_id.is_none() {
            f.losers_missing += 1;
        }
        let note_id = conflict.note_id.as_str();
        let needless = match (record.index(note_id, &conflict.winner_date), record.index(note_id, &conflict.loser_date)) {
            (Some(winner), Some(loser)) => record.descends(note_id, winner, loser),
            _ => false,
        };
        let revision = conflict.revision_id.iter().cloned();
        if needless {
            f.needless_revision_ids.extend(revision);
        } else {
            f.needed_revision_ids.extend(revision);
        }
        match (record.index(note_id, &conflict.winner_date), record.index(note_id, &conflict.loser_date)) {
            _ if needless => f.needless_conflicts.push(format!(
                "{note_id}: {:?} won over {:?}, which it was made from (revision {:?})",
                conflict.winner_date, conflict.loser_date, conflict.revision_id
            )),
            (Some(winner), Some(loser)) => {
                let versions = &record.versions[note_id];
                if versions[winner].deleted || versions[loser].deleted {
                    f.delete_conflicts += 1;
                }
            }
            _ => f.unclassified_conflicts += 1,
        }
    }
    let rows = note_rows(c);
    let revisions = revisions(c);
    let mut checked = HashSet::new();
    for (note_id, versions) in &record.versions {
        for v in versions {
            let text = (note_id.clone(), v.title.clone(), v.content.clone());
            if record.replaced.contains(&text) || record.erased.contains(&text) || !checked.insert(text) {
                continue;
            }
            let current = rows.get(note_id).is_some_and(|(_, t, c, _)| *t == v.title && *c == v.content);
            let kept = revisions.iter().any(|(_, n, t, c)| n == note_id && *t == v.title && *c == v.content);
            if !current && !kept {
                f.lost_texts.push(format!("{note_id}: {:?} / {:?} (the version of {})", v.title, v.content, v.date));
            }
        }
    }
    f
}

/// The documents of a run after settling, the first being the hub's: (name, document, its instance id).
pub(crate) struct Member<'a> {
    pub(crate) name: &'static str,
    pub(crate) document: &'a canopy::Document,
    pub(crate) instance_id: &'a canopy::db::InstanceId,
}

/// What every run checks on its settled documents.
pub(crate) struct Examined {
    pub(crate) hashes: Vec<canopy::sync::wire::SectorHashes>,
    pub(crate) deep_findings: Vec<String>,
    /// For each member but the hub: the synced rows it does not hold exactly as the hub does.
    pub(crate) differing: Vec<(&'static str, BTreeMap<&'static str, Vec<String>>)>,
    pub(crate) findings: Vec<Findings>,
    /// Conflict revisions that no member needed (one some member's conflict needed is needed).
    pub(crate) needless_revisions: BTreeSet<String>,
}

impl Examined {
    pub(crate) fn hashes_equal(&self) -> bool {
        self.hashes.iter().all(|h| *h == self.hashes[0])
    }

    pub(crate) fn rows_differing(&self) -> usize {
        self.differing.iter().flat_map(|(_, d)| d.values()).map(Vec::len).sum()
    }

    pub(crate) fn total(&self, f: fn(&Findings) -> usize) -> usize {
        self.findings.iter().map(f).sum()
    }
}

/// Hashes, deep checks, rows against the hub's and the record's findings of each member. Versions a
/// repair made after the last operation are versions too (without a known parent): the record
/// learns them first.
pub(crate) fn examine(members: &[Member<'_>], record: &mut Record) -> Examined {
    let dbs: Vec<Connection> = members.iter().map(|m| open_db(m.document.path().parent().unwrap())).collect();
    let mut hashes = Vec::new();
    let mut deep_findings = Vec::new();
    for m in members {
        hashes.push(canopy::sync::check::local_hashes(m.document, m.instance_id).unwrap().0);
        deep_findings.extend(canopy::sync::check::deep_check(m.document).unwrap().into_iter().map(|f| format!("{}: {f:?}", m.name)));
    }
    let differing = members[1..]
        .iter()
        .zip(&dbs[1..])
        .map(|(m, db)| (m.name, differing_rows(&dbs[0], db)))
        .filter(|(_, d)| !d.is_empty())
        .collect();
    for db in &dbs {
        for (note_id, row) in note_rows(db) {
            record.known(&note_id, &row);
        }
    }
    let findings: Vec<Findings> = dbs.iter().map(|db| inspect(db, record)).collect();
    let needed: BTreeSet<&String> = findings.iter().flat_map(|f| &f.needed_revision_ids).collect();
    let needless_revisions =
        findings.iter().flat_map(|f| &f.needless_revision_ids).filter(|id| !needed.contains(id)).cloned().collect();
    Examined { hashes, deep_findings, differing, findings, needless_revisions }
}

/// The failures of a run, each with what was found.
#[derive(Default)]
pub(crate) struct Failures(pub(crate) Vec<String>);

impl Failures {
    pub(crate) fn unless(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }
}

pub(crate) fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| panic!("{name}={text} is not a number")),
        Err(_) => default,
    }
}

/// How a run mixes its operations.
#[derive(Clone, Copy)]
struct Mix {
    online_windows: bool,
    /// One operation in this many (on average) is followed by a kill; 0: no kills.
    kill_every: usize,
    extras: bool,
}

#[tokio::test(flavor = "multi_thread")]
async fn torture_concurrent_deletes_clones_and_edits_converge() {
    let seed: u64 = env_number("CANOPY_TORTURE_SEED", DEFAULT_SEED);
    let ops: usize = env_number("CANOPY_TORTURE_OPS", DEFAULT_OPS);
    let mix = Mix {
        online_windows: env_number("CANOPY_TORTURE_ONLINE", 0u8) != 0,
        kill_every: env_number("CANOPY_TORTURE_KILL_EVERY", DEFAULT_KILL_EVERY),
        extras: env_number("CANOPY_TORTURE_EXTRAS", 1u8) != 0,
    };
    torture(seed, ops, mix).await;
}

/// Shortest failing prefixes that large runs found once (each fixed since), replayed exactly in
/// `make test` (the basic mix, no kills): a delete after a delete and an undelete, on the hub,
/// concurrent with a client's edits (seed 1, 88 operations); a client that takes another version's
/// conflict revision for its own (seed 1, 333).
#[tokio::test(flavor = "multi_thread")]
async fn torture_prefixes_that_once_failed_pass() {
    torture(1, 340, Mix { online_windows: false, kill_every: 0, extras: false }).await;
}

async fn torture(seed: u64, ops: usize, mix: Mix) {
    let started = Instant::now();
    let mut cluster = Cluster::start(mix.online_windows).await;
    let mut streams = Streams {
        basic: Rng(seed),
        kills: (mix.kill_every > 0).then(|| (Rng(seed ^ 0x6b69_6c6c), mix.kill_every)),
        extras: mix.extras.then(|| Rng(seed ^ 0x6578_7472)),
    };
    let mut record = Record::default();
    let mut tally = Tally::default();
    let mut log = Vec::with_capacity(ops);
    for op in 0..ops {
        let op_started = Instant::now();
        let mut lines = Vec::new();
        if let Some(extras) = streams.extras.as_mut() {
            if extras.below(100) < 15 {
                let mut rng = Rng(extras.next());
                lines.push(extra(&mut cluster, &mut record, &mut rng, op, &mut tally).await);
            }
        }
        lines.push(step(&mut cluster, &mut record, &mut streams, op, &mut tally).await);
        if let Some((kills, every)) = streams.kills.as_mut() {
            if kills.below(*every) == 0 {
                let mut rng = Rng(kills.next());
                lines.push(kill(&mut cluster, &mut record, &mut rng, op, &mut tally).await);
            }
        }
        let took = op_started.elapsed();
        let line = lines.join("\n");
        // Slow steps are named in the log: a stall is a finding too.
        log.push(if took.as_millis() >= 1000 { format!("{line} [{} ms]", took.as_millis()) } else { line });
    }
    let settle_started = Instant::now();
    let settled = cluster.settle().await;
    let settle_time = settle_started.elapsed();
    let mut hash_checks_failed = Vec::new();
    for client in [1, 2] {
        match cluster.status(client).await.hash_check {
            Some(check) if check.passed => {}
            other => hash_checks_failed.push(format!("{}: {other:?}", NAMES[client])),
        }
    }
    // The rest reads the documents as the instances left them on a clean stop.
    for instance in &mut cluster.instances {
        instance.process.stop_with("TERM");
    }
    let documents: Vec<(canopy::Document, canopy::db::InstanceId)> = cluster
        .instances
        .iter()
        .map(|instance| {
            let document = canopy::Document::open_existing(&instance.dir.join("document.db")).unwrap();
            let id = std::fs::read_to_string(instance.dir.join("instance-id")).unwrap();
            (document, canopy::db::InstanceId::from(id.trim()))
        })
        .collect();
    let members: Vec<Member<'_>> =
        documents.iter().zip(NAMES).map(|((document, instance_id), name)| Member { name, document, instance_id }).collect();
    let examined = examine(&members, &mut record);
    let (hashes_equal, findings) = (examined.hashes_equal(), &examined.findings);
    let total = |f: fn(&Findings) -> usize| examined.total(f);
    let broken = findings.iter().map(|f| f.orphan_notes + f.dangling_branches).sum::<i64>();
    let attributes_dangling = findings.iter().map(|f| f.attributes_of_deleted_notes).sum::<i64>();
    let needless = examined.needless_revisions.len();
    let needless_logged = total(|f| f.needless_conflicts.len());
    let delete_conflicts = total(|f| f.delete_conflicts);
    let unclassified = total(|f| f.unclassified_conflicts);
    let losers_missing = total(|f| f.losers_missing);
    let lost = total(|f| f.lost_texts.len());
    let rows_differing = examined.rows_differing();
    println!(
        "torture: seed={seed} ops={ops} online_windows={} kill_every={} extras={} instances=3 (processes) kills={} \
         syncs={} syncs_cut_by_a_kill={} etapi_calls={} ui_calls={} refused={} server_errors={} sync_errors={} \
         acknowledged_before_a_kill={} lost_acknowledged={} logins_lost={} protects={} settle={} \
         rows_differing={rows_differing} hashes_equal={hashes_equal} deep_check_findings={} broken_tree={broken} \
         (orphan notes {}, dangling branches {}) attributes_of_deleted_notes={attributes_dangling} \
         needless_conflict_revisions={needless} needless_conflicts_logged={needless_logged} \
         conflicts_with_a_delete={delete_conflicts} unclassified_conflicts={unclassified} \
         losers_missing={losers_missing} lost_texts={lost} in {:.1} s",
        mix.online_windows,
        mix.kill_every,
        mix.extras,
        tally.kills,
        tally.syncs,
        tally.syncs_cut_by_a_kill,
        tally.etapi_calls,
        tally.ui_calls,
        tally.refused,
        tally.server_errors.len(),
        tally.sync_errors.len(),
        tally.acknowledged_before_a_kill,
        tally.lost_acknowledged.len(),
        tally.logins_lost.len(),
        tally.protects,
        match &settled {
            Ok(rounds) => format!("{rounds} rounds in {:.1} s", settle_time.as_secs_f64()),
            Err(e) => e.clone(),
        },
        examined.deep_findings.len(),
        findings.iter().map(|f| f.orphan_notes).sum::<i64>(),
        findings.iter().map(|f| f.dangling_branches).sum::<i64>(),
        started.elapsed().as_secs_f64(),
    );
    for (name, f) in NAMES.iter().zip(findings) {
        println!("  {name}: {f:?}");
    }

    let mut fail = Failures::default();
    fail.unless(tally.server_errors.is_empty(), || format!("calls answered 5xx or not at all: {:#?}", tally.server_errors));
    fail.unless(tally.sync_errors.is_empty(), || format!("sync cycles failed: {:#?}", tally.sync_errors));
    fail.unless(tally.lost_acknowledged.is_empty(), || format!("acknowledged writes lost by a kill: {:#?}", tally.lost_acknowledged));
    fail.unless(tally.logins_lost.is_empty(), || format!("sessions lost by a restart: {:#?}", tally.logins_lost));
    fail.unless(settled.is_ok(), || format!("settling: {settled:?}"));
    fail.unless(examined.differing.is_empty(), || format!("rows differ from the hub's: {:#?}", examined.differing));
    fail.unless(hashes_equal, || format!("sector hashes differ: {:#?}", examined.hashes));
    fail.unless(examined.deep_findings.is_empty(), || format!("deep check: {:#?}", examined.deep_findings));
    fail.unless(hash_checks_failed.is_empty(), || format!("sync hash checks: {hash_checks_failed:#?}"));
    fail.unless(broken == 0, || format!("{broken} tree breakages (live notes without a live branch, live branches of deleted notes)"));
    fail.unless(attributes_dangling == 0, || format!("{attributes_dangling} live attributes of deleted notes"));
    fail.unless(needless == 0, || format!("{needless} needless conflict revisions: {:?}", examined.needless_revisions));
    fail.unless(needless_logged == 0, || format!("{needless_logged} needless conflicts logged"));
    fail.unless(losers_missing == 0, || format!("{losers_missing} conflicts whose losing content was gone"));
    fail.unless(lost == 0, || format!("lost texts: {:#?}", findings.iter().map(|f| &f.lost_texts).collect::<Vec<_>>()));
    let failures = fail.0;
    if !failures.is_empty() || env_number("CANOPY_TORTURE_VERBOSE", 0u8) != 0 {
        eprintln!("torture seed={seed} ops={ops}: the operations were:\n{}", log.join("\n"));
    }
    if !failures.is_empty() {
        // The three data directories stay for a look (`sqlite3 …/hub/document.db`), with the logs.
        let kept = cluster.root.keep();
        for (instance, name) in cluster.instances.iter().zip(NAMES) {
            let lines = instance.all_lines();
            eprintln!("{name}'s last log lines:\n{}", lines[lines.len().saturating_sub(40)..].join("\n"));
            std::fs::write(kept.join(format!("{name}.log")), lines.join("\n")).unwrap();
        }
        std::fs::write(kept.join("operations.log"), log.join("\n")).unwrap();
        eprintln!("the data directories, the logs and the operations are kept in {}", kept.display());
        panic!("torture seed={seed} ops={ops} failed:\n{}", failures.join("\n"));
    }
}
