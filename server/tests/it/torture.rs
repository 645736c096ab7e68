//! A seeded torture test of sync: a hub and two clients (real instances, HTTP on 127.0.0.1), random
//! operations through ETAPI on all three (create, edit title and content, delete a note or a branch,
//! clone, move, labels, undelete), the clients reaching the hub only through links the test opens
//! for a sync cycle and cuts again, or leaves open for a while (the client then syncs by itself, as
//! it does in use), so edits and deletes race. After settling, the three must hold the same rows,
//! pass the hash and deep checks, have a whole tree, no needless conflict revision and no lost text.
//!
//! `CANOPY_TORTURE_SEED` and `CANOPY_TORTURE_OPS` choose the run (`make torture SEED=… OPS=…`); the
//! default is the small run of `make test`. The same seed and a smaller count replay a prefix of the
//! same operations, which is how `scripts/torture.sh` finds the shortest failing prefix; exactly so
//! with `CANOPY_TORTURE_ONLINE=0` (no online windows: the clients' own cycles make timing matter).
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Instant;

use canopy::db::ChangeSource;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::cluster::Node;

const DEFAULT_SEED: u64 = 14;
const DEFAULT_OPS: usize = 300;
const PASSWORD: &str = "torture password";
/// Sync rounds over both clients before settling counts as failed.
const MAX_SETTLE_ROUNDS: usize = 20;

/// SplitMix64: small, seeded, the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }
}

/// A client's way to the hub: a TCP relay the test opens and cuts. Cut, new connections are closed
/// at once and open ones (pooled keep-alives, the long poll) are ended, as when the network goes.
struct Link {
    url: String,
    open: watch::Sender<bool>,
    relay: tokio::task::JoinHandle<()>,
}

impl Link {
    async fn to(hub: SocketAddr) -> Link {
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

    fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }

    fn is_open(&self) -> bool {
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
struct Record {
    notes: Vec<String>,
    versions: HashMap<String, Vec<Version>>,
    /// (noteId, title, text) that an operation saw and replaced.
    replaced: HashSet<(String, String, String)>,
}

impl Record {
    fn index(&self, note_id: &str, date: &str) -> Option<usize> {
        self.versions.get(note_id)?.iter().position(|v| v.date == date)
    }

    /// The version of this row, added (without a parent) if the test had not seen it.
    fn known(&mut self, note_id: &str, (date, title, content, deleted): &Row) -> usize {
        if let Some(i) = self.index(note_id, date) {
            return i;
        }
        let versions = self.versions.entry(note_id.to_owned()).or_default();
        versions.push(Version { date: date.clone(), title: title.clone(), content: content.clone(), deleted: *deleted, parent: None });
        versions.len() - 1
    }

    /// An operation on one instance turned the rows `before` into `after`.
    fn operated(&mut self, before: &BTreeMap<String, Row>, after: &BTreeMap<String, Row>) {
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

/// Every note row of the test on `node`, by note id.
fn note_rows(node: &Node) -> BTreeMap<String, Row> {
    node.document()
        .read(|c| {
            let mut stmt = c.prepare(
                "SELECT n.noteId, n.utcDateModified, n.title, b.content, n.isDeleted FROM notes n
                 LEFT JOIN blobs b ON b.blobId = n.blobId WHERE n.noteId LIKE 'tortureNote%'",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, text_of(r.get_ref(3)?), r.get(4)?))))?
                .collect::<Result<BTreeMap<_, _>, _>>()?;
            Ok(rows)
        })
        .unwrap()
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

struct Cluster {
    /// hub, client 1, client 2
    nodes: [Node; 3],
    /// The links of client 1 and client 2.
    links: [Link; 2],
    tokens: [String; 3],
    http: reqwest::Client,
    /// Clients may stay online for a while, syncing by themselves (`CANOPY_TORTURE_ONLINE=1`; else only
    /// the test's own sync cycles, so that a seed replays exactly).
    online_windows: bool,
}

const NAMES: [&str; 3] = ["hub", "client1", "client2"];

/// What an ETAPI call answered.
struct Answer {
    status: u16,
    body: Value,
}

impl Cluster {
    async fn start(online_windows: bool) -> Cluster {
        let hub = Node::hub().await;
        hub.document()
            .write(&ChangeSource::new(hub.instance_id()), |tx| canopy::db::password::set_password(tx, PASSWORD))
            .unwrap();
        let hub_addr = hub.running().addr;
        let links = [Link::to(hub_addr).await, Link::to(hub_addr).await];
        let client1 = Node::client_of_url(&hub, &links[0].url).await;
        let client2 = Node::client_of_url(&hub, &links[1].url).await;
        let nodes = [hub, client1, client2];
        let mut tokens = [String::new(), String::new(), String::new()];
        for (token, node) in tokens.iter_mut().zip(&nodes) {
            *token = crate::common::etapi_token(&node.url(), PASSWORD).await;
        }
        Cluster { nodes, links, tokens, http: reqwest::Client::new(), online_windows }
    }

    async fn etapi(&self, on: usize, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}/etapi{path}", self.nodes[on].url()))
            .header("Authorization", &self.tokens[on]);
        if let Some(body) = body {
            request = match body {
                Value::String(text) => request.header("Content-Type", "text/plain").body(text),
                other => request.json(&other),
            };
        }
        let response = request.send().await.expect("ETAPI answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
    }

    /// One sync cycle of a client with its link open; the link is cut again afterwards.
    /// One sync cycle of a client with its link open; an offline client's link is cut again afterwards.
    async fn sync(&self, client: usize) -> Result<canopy::sync::CycleSummary, String> {
        let link = &self.links[client - 1];
        let was_open = link.is_open();
        link.set_open(true);
        let result = self.nodes[client].running().client().expect("a client").sync_now().await;
        link.set_open(was_open);
        result
    }

    /// Both clients offline, then sync cycles of both until two rounds in a row move nothing, then
    /// no cycle running (a client's own cycle, started while its link was open, ends first).
    async fn settle(&self) -> Result<usize, String> {
        for link in &self.links {
            link.set_open(false);
        }
        let mut quiet_rounds = 0;
        for round in 1..=MAX_SETTLE_ROUNDS {
            let mut moved = 0;
            for client in [1, 2] {
                let summary = self.sync(client).await?;
                moved += summary.pushed + summary.pulled;
            }
            quiet_rounds = if moved == 0 { quiet_rounds + 1 } else { 0 };
            if quiet_rounds == 2 {
                let idle = crate::cluster::eventually(std::time::Duration::from_secs(30), || {
                    [1, 2].iter().all(|&c| !self.nodes[c].running().sync.status().in_progress)
                })
                .await;
                return if idle { Ok(round) } else { Err("a client's cycle still runs 30 s after settling".into()) };
            }
        }
        Err(format!("still moving changes after {MAX_SETTLE_ROUNDS} rounds"))
    }
}

fn strings(node: &Node, sql: &str) -> Vec<String> {
    node.document()
        .read(|c| {
            let mut stmt = c.prepare(sql)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .unwrap()
}

fn count(node: &Node, sql: &str) -> i64 {
    node.document().read(|c| Ok(c.query_row(sql, [], |r| r.get(0))?)).unwrap()
}

/// The notes of the test (in the order they were made) that are alive, or deleted, on `node`.
fn test_notes(node: &Node, record: &Record, deleted: bool) -> Vec<String> {
    let there: BTreeSet<String> =
        strings(node, &format!("SELECT noteId FROM notes WHERE isDeleted = {}", i32::from(deleted))).into_iter().collect();
    record.notes.iter().filter(|id| there.contains(*id)).cloned().collect()
}

#[derive(Default, Debug)]
struct Tally {
    etapi_calls: usize,
    refused: usize,
    server_errors: Vec<String>,
    syncs: usize,
    sync_errors: Vec<String>,
}

/// One random operation on a random instance, recorded; returns what it did, for the log of operations.
async fn step(cluster: &Cluster, record: &mut Record, rng: &mut Rng, op: usize, tally: &mut Tally) -> String {
    let on = rng.below(3);
    let before = note_rows(&cluster.nodes[on]);
    let syncs = tally.syncs;
    let line = act(cluster, on, record, rng, op, tally).await;
    // What a sync brought is the other instances' work, recorded when they did it.
    if tally.syncs == syncs {
        record.operated(&before, &note_rows(&cluster.nodes[on]));
    }
    line
}

async fn act(cluster: &Cluster, on: usize, record: &mut Record, rng: &mut Rng, op: usize, tally: &mut Tally) -> String {
    use reqwest::Method;
    let node = &cluster.nodes[on];
    let who = NAMES[on];
    let roll = rng.below(100);
    let live = test_notes(node, record, false);
    // Parents for new notes and placements: the root or any live note of the test.
    let mut parents = vec!["root".to_owned()];
    parents.extend(live.iter().cloned());
    let answer = match roll {
        // sync a client (also from the hub's turn, so syncs are as frequent whoever was picked)
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
        30..40 | 40..58 => {
            let Some(note_id) = rng.pick(&live).cloned() else { return format!("{op}: {who} has no note to edit") };
            let (what, answer) = if roll < 40 {
                let title = format!("t{op}");
                let body = json!({ "title": title });
                (format!("{who} retitles {note_id} to {title}"), cluster.etapi(on, Method::PATCH, &format!("/notes/{note_id}"), Some(body)).await)
            } else {
                let content = format!("<p>c{op}</p>");
                let path = format!("/notes/{note_id}/content");
                (format!("{who} writes {content} into {note_id}"), cluster.etapi(on, Method::PUT, &path, Some(Value::String(content))).await)
            };
            (what, answer)
        }
        58..64 => {
            let Some(note_id) = rng.pick(&live).cloned() else { return format!("{op}: {who} has no note to delete") };
            (format!("{who} deletes note {note_id}"), cluster.etapi(on, Method::DELETE, &format!("/notes/{note_id}"), None).await)
        }
        64..70 => {
            let branches = test_branches(node, record);
            let Some((branch_id, _, _)) = rng.pick(&branches).cloned() else { return format!("{op}: {who} has no branch to delete") };
            (format!("{who} deletes branch {branch_id}"), cluster.etapi(on, Method::DELETE, &format!("/branches/{branch_id}"), None).await)
        }
        70..78 | 78..84 => {
            let branches = test_branches(node, record);
            let Some((branch_id, note_id, _)) = rng.pick(&branches).cloned() else { return format!("{op}: {who} has no note to place") };
            let parent = rng.pick(&parents).unwrap().clone();
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
        84..92 => {
            let Some(note_id) = rng.pick(&live).cloned() else { return format!("{op}: {who} has no note to label") };
            let attribute_id = format!("tortureLabel{op:05}");
            let body = json!({ "attributeId": attribute_id, "noteId": note_id, "type": "label", "name": "torture", "value": format!("v{op}") });
            (format!("{who} labels {note_id}"), cluster.etapi(on, Method::POST, "/attributes", Some(body)).await)
        }
        92..96 => {
            let labels = strings(node, "SELECT attributeId FROM attributes WHERE isDeleted = 0 AND name = 'torture' ORDER BY attributeId");
            let Some(attribute_id) = rng.pick(&labels).cloned() else { return format!("{op}: {who} has no label to remove") };
            (format!("{who} removes label {attribute_id}"), cluster.etapi(on, Method::DELETE, &format!("/attributes/{attribute_id}"), None).await)
        }
        _ => {
            // ETAPI has no undelete; the UI's (recent changes) is the one way.
            let deleted = test_notes(node, record, true);
            let Some(note_id) = rng.pick(&deleted).cloned() else { return format!("{op}: {who} has no note to undelete") };
            let outcome = node
                .document()
                .write(&ChangeSource::new(node.instance_id()), |tx| Ok(canopy::domain::recent_changes::undelete_note(tx, &note_id)));
            return match outcome.unwrap() {
                Ok(parents) => format!("{op}: {who} undeletes {note_id} (back under {parents:?})"),
                Err(e) => format!("{op}: {who} cannot undelete {note_id}: {e}"),
            };
        }
    };
    let (what, answer) = answer;
    tally.etapi_calls += 1;
    if answer.status >= 500 {
        tally.server_errors.push(format!("op {op}: {what}: {} {}", answer.status, answer.body));
    } else if answer.status >= 400 {
        tally.refused += 1;
        return format!("{op}: {what}: refused {} {}", answer.status, answer.body["message"]);
    }
    format!("{op}: {what}: {}", answer.status)
}

/// Live branches of the test's notes on `node`: (branchId, noteId, parentNoteId).
fn test_branches(node: &Node, record: &Record) -> Vec<(String, String, String)> {
    let ours: BTreeSet<&String> = record.notes.iter().collect();
    node.document()
        .read(|c| {
            let mut stmt = c.prepare("SELECT branchId, noteId, parentNoteId FROM branches WHERE isDeleted = 0 ORDER BY branchId")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .unwrap()
        .into_iter()
        .filter(|(_, note_id, _): &(String, String, String)| ours.contains(note_id))
        .collect()
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

fn rows(node: &Node, sql: &str) -> BTreeSet<String> {
    node.document()
        .read(|c| {
            let mut stmt = c.prepare(sql)?;
            let columns = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    let values = (0..columns).map(|i| Ok(shown(r.get_ref(i)?))).collect::<Result<Vec<_>, rusqlite::Error>>()?;
                    Ok(values.join(" | "))
                })?
                .collect::<Result<BTreeSet<_>, _>>()?;
            Ok(rows)
        })
        .unwrap()
}

/// Rows of the synced tables that `other` does not hold exactly as `first` does (both ways).
fn differing_rows(first: &Node, other: &Node) -> BTreeMap<&'static str, Vec<String>> {
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
fn broken_tree(node: &Node) -> (i64, i64) {
    let orphans = count(
        node,
        "SELECT COUNT(*) FROM notes n WHERE n.isDeleted = 0 AND n.noteId <> 'root'
           AND NOT EXISTS (SELECT 1 FROM branches b WHERE b.noteId = n.noteId AND b.isDeleted = 0)",
    );
    let dangling = count(
        node,
        "SELECT COUNT(*) FROM branches b WHERE b.isDeleted = 0
           AND (NOT EXISTS (SELECT 1 FROM notes n WHERE n.noteId = b.noteId AND n.isDeleted = 0)
                OR (b.parentNoteId <> 'none'
                    AND NOT EXISTS (SELECT 1 FROM notes p WHERE p.noteId = b.parentNoteId AND p.isDeleted = 0)))",
    );
    (orphans, dangling)
}

/// Live attributes of deleted notes (Trilium's consistency checks delete them).
fn attributes_of_deleted_notes(node: &Node) -> i64 {
    count(
        node,
        "SELECT COUNT(*) FROM attributes a WHERE a.isDeleted = 0
           AND NOT EXISTS (SELECT 1 FROM notes n WHERE n.noteId = a.noteId AND n.isDeleted = 0)",
    )
}

/// Every revision on `node` as (revisionId, noteId, title, text).
fn revisions(node: &Node) -> Vec<(String, String, String, String)> {
    node.document()
        .read(|c| {
            let mut stmt = c.prepare(
                "SELECT r.revisionId, r.noteId, r.title, b.content FROM revisions r LEFT JOIN blobs b ON b.blobId = r.blobId ORDER BY r.revisionId",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, text_of(r.get_ref(3)?)))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .unwrap()
}

/// What one instance shows after settling.
#[derive(Debug, Default)]
struct Findings {
    orphan_notes: i64,
    dangling_branches: i64,
    attributes_of_deleted_notes: i64,
    /// Conflicts logged here whose loser was a version the winner was made from (one edit after
    /// another, not concurrent): each kept a needless revision.
    needless_conflicts: Vec<String>,
    /// The revisions those needless conflicts point to, and the ones the other conflicts point to.
    needless_revision_ids: BTreeSet<String>,
    needed_revision_ids: BTreeSet<String>,
    /// Conflicts logged here between concurrent versions where one side was a delete (counted apart:
    /// what such a conflict keeps is the tree rule's to decide).
    delete_conflicts: usize,
    /// Conflicts logged here between versions the record does not know (made by a repair).
    unclassified_conflicts: usize,
    /// Conflicts logged here whose losing content was not there to keep.
    losers_missing: usize,
    /// Titles and texts nobody replaced that are neither a note's current ones nor in a revision here.
    lost_texts: Vec<String>,
}

fn inspect(node: &Node, record: &Record) -> Findings {
    let mut f = Findings::default();
    (f.orphan_notes, f.dangling_branches) = broken_tree(node);
    f.attributes_of_deleted_notes = attributes_of_deleted_notes(node);
    let conflicts = node.document().read(|c| canopy::sync::apply::recorded_conflicts(c, i64::MAX)).unwrap();
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
    let rows = note_rows(node);
    let revisions = revisions(node);
    let mut checked = HashSet::new();
    for (note_id, versions) in &record.versions {
        for v in versions {
            let text = (note_id.clone(), v.title.clone(), v.content.clone());
            if record.replaced.contains(&text) || !checked.insert(text) {
                continue;
            }
            let current = rows.get(note_id).is_some_and(|(_, t, c, _)| *t == v.title && *c == v.content);
            let kept = revisions.iter().any(|(_, n, t, c)| n == note_id && *t == v.title && *c == v.content);
            if !current && !kept {
                f.lost_texts.push(format!("{note_id}: {:?} / {:?}", v.title, v.content));
            }
        }
    }
    f
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| panic!("{name}={text} is not a number")),
        Err(_) => default,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn torture_concurrent_deletes_clones_and_edits_converge() {
    let seed: u64 = env_number("CANOPY_TORTURE_SEED", DEFAULT_SEED);
    let ops: usize = env_number("CANOPY_TORTURE_OPS", DEFAULT_OPS);
    let online_windows = env_number("CANOPY_TORTURE_ONLINE", 0u8) != 0;
    torture(seed, ops, online_windows).await;
}

/// Shortest failing prefixes that large runs found once (each fixed since), replayed in `make test`:
/// a delete after a delete and an undelete, on the hub, concurrent with a client's edits (seed 1, 88
/// operations); a client that takes another version's conflict revision for its own (seed 1, 333).
#[tokio::test(flavor = "multi_thread")]
async fn torture_prefixes_that_once_failed_pass() {
    torture(1, 340, false).await;
}

async fn torture(seed: u64, ops: usize, online_windows: bool) {
    let started = Instant::now();
    // The instances' own log, for a failing run: `RUST_LOG=canopy=info make torture …`.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
    }
    let cluster = Cluster::start(online_windows).await;
    let mut rng = Rng(seed);
    let mut record = Record::default();
    let mut tally = Tally::default();
    let mut log = Vec::with_capacity(ops);
    for op in 0..ops {
        let op_started = Instant::now();
        let line = step(&cluster, &mut record, &mut rng, op, &mut tally).await;
        let took = op_started.elapsed();
        // Slow steps are named in the log: a stall is a finding too.
        log.push(if took.as_millis() >= 500 { format!("{line} [{} ms]", took.as_millis()) } else { line });
    }
    let settle_started = Instant::now();
    let settled = cluster.settle().await;
    let settle_time = settle_started.elapsed();

    let [hub, client1, client2] = &cluster.nodes;
    let hashes: Vec<_> = cluster.nodes.iter().map(Node::sector_hashes).collect();
    let hashes_equal = hashes.iter().all(|h| *h == hashes[0]);
    let deep_findings: Vec<String> = cluster
        .nodes
        .iter()
        .zip(NAMES)
        .flat_map(|(node, name)| {
            let found = canopy::sync::check::deep_check(node.document()).unwrap();
            found.into_iter().map(move |f| format!("{name}: {f:?}"))
        })
        .collect();
    let differing: Vec<(&str, BTreeMap<&str, Vec<String>>)> = [("client1", client1), ("client2", client2)]
        .into_iter()
        .map(|(name, node)| (name, differing_rows(hub, node)))
        .filter(|(_, d)| !d.is_empty())
        .collect();
    // Versions a repair made after the last operation are versions too (without a known parent).
    for node in &cluster.nodes {
        for (note_id, row) in note_rows(node) {
            record.known(&note_id, &row);
        }
    }
    let findings: Vec<Findings> = cluster.nodes.iter().map(|node| inspect(node, &record)).collect();
    let hash_checks_failed: Vec<String> = [1, 2]
        .into_iter()
        .filter_map(|i| {
            let check = cluster.nodes[i].running().sync.status().hash_check;
            match check {
                Some(c) if c.passed => None,
                other => Some(format!("{}: {other:?}", NAMES[i])),
            }
        })
        .collect();

    let total = |f: fn(&Findings) -> usize| findings.iter().map(f).sum::<usize>();
    let broken = findings.iter().map(|f| f.orphan_notes + f.dangling_branches).sum::<i64>();
    let attributes_dangling = findings.iter().map(|f| f.attributes_of_deleted_notes).sum::<i64>();
    // A revision that some instance's conflict needed is needed, whatever another instance logged.
    let needed: BTreeSet<&String> = findings.iter().flat_map(|f| &f.needed_revision_ids).collect();
    let needless_revisions: BTreeSet<&String> =
        findings.iter().flat_map(|f| &f.needless_revision_ids).filter(|id| !needed.contains(id)).collect();
    let needless = needless_revisions.len();
    let needless_logged = total(|f| f.needless_conflicts.len());
    let delete_conflicts = total(|f| f.delete_conflicts);
    let unclassified = total(|f| f.unclassified_conflicts);
    let losers_missing = total(|f| f.losers_missing);
    let lost = total(|f| f.lost_texts.len());
    let rows_differing: usize = differing.iter().flat_map(|(_, d)| d.values()).map(Vec::len).sum();
    println!(
        "torture: seed={seed} ops={ops} online_windows={online_windows} instances=3 syncs={} etapi_calls={} refused={} server_errors={} sync_errors={} settle={} \
         rows_differing={rows_differing} hashes_equal={hashes_equal} deep_check_findings={} broken_tree={broken} \
         (orphan notes {}, dangling branches {}) attributes_of_deleted_notes={attributes_dangling} \
         needless_conflict_revisions={needless} needless_conflicts_logged={needless_logged} \
         conflicts_with_a_delete={delete_conflicts} unclassified_conflicts={unclassified} \
         losers_missing={losers_missing} lost_texts={lost} in {:.1} s",
        tally.syncs,
        tally.etapi_calls,
        tally.refused,
        tally.server_errors.len(),
        tally.sync_errors.len(),
        match &settled {
            Ok(rounds) => format!("{rounds} rounds in {:.1} s", settle_time.as_secs_f64()),
            Err(e) => e.clone(),
        },
        deep_findings.len(),
        findings.iter().map(|f| f.orphan_notes).sum::<i64>(),
        findings.iter().map(|f| f.dangling_branches).sum::<i64>(),
        started.elapsed().as_secs_f64(),
    );
    for (name, f) in NAMES.iter().zip(&findings) {
        println!("  {name}: {f:?}");
    }

    let mut failures = Vec::new();
    let mut fail = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    fail(tally.server_errors.is_empty(), format!("ETAPI answered 5xx: {:#?}", tally.server_errors));
    fail(tally.sync_errors.is_empty(), format!("sync cycles failed: {:#?}", tally.sync_errors));
    fail(settled.is_ok(), format!("settling: {settled:?}"));
    fail(differing.is_empty(), format!("rows differ from the hub's: {differing:#?}"));
    fail(hashes_equal, format!("sector hashes differ: {hashes:#?}"));
    fail(deep_findings.is_empty(), format!("deep check: {deep_findings:#?}"));
    fail(hash_checks_failed.is_empty(), format!("sync hash checks: {hash_checks_failed:#?}"));
    fail(broken == 0, format!("{broken} tree breakages (live notes without a live branch, live branches of deleted notes)"));
    fail(attributes_dangling == 0, format!("{attributes_dangling} live attributes of deleted notes"));
    fail(needless == 0, format!("{needless} needless conflict revisions: {needless_revisions:?}"));
    fail(needless_logged == 0, format!("{needless_logged} needless conflicts logged"));
    fail(losers_missing == 0, format!("{losers_missing} conflicts whose losing content was gone"));
    fail(lost == 0, format!("lost texts: {:#?}", findings.iter().map(|f| &f.lost_texts).collect::<Vec<_>>()));
    if !failures.is_empty() {
        eprintln!("torture seed={seed} ops={ops}: the operations were:\n{}", log.join("\n"));
        panic!("torture seed={seed} ops={ops} failed:\n{}", failures.join("\n"));
    }
}
