//! Golden tests: the wire sessions recorded between two real Trilium 0.63.7 instances
//! (`transcript/*.jsonl` of the fixture) replayed against Canopy, on both sides of the wire.
//!
//! - Hub side: a Canopy hub on a copy of the fixture's `document.db` gets the recorded *client*
//!   requests and must answer what the Trilium server answered (status, shape, keys, entity
//!   changes and rows, sector hashes, headers). Logins are re-signed with a fresh timestamp.
//! - Client side: a small HTTP server replays the recorded *server* answers; a Canopy client syncs
//!   against it and must end up with the fixture's rows, entity changes and sector hashes.
//!
//! Every id, secret and expectation is read from the fixture files at run time.
//!
//! Where Canopy legitimately answers differently the comparison says so explicitly:
//! - instance ids and session cookies are per process;
//! - keys named `canopy*` are Canopy-only extensions (Trilium ignores unknown keys);
//! - `entity_changes.id` is a per-instance counter, so ids of changes made during the replay differ;
//! - Canopy keeps the losing side of a conflicting note edit as a revision ("conflict revision",
//!   recorded in `canopy_sync_conflicts`); Trilium does not. Those revisions (and the blobs only
//!   they keep alive) are removed from the comparison, everything else must match the recording.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use canopy::db::{entity_changes, ChangeSource, Document, EntityChange, InstanceId};
use canopy::{RunningInstance, StartOptions};
use hmac::{Hmac, Mac};
use rusqlite::types::{Value as Sql, ValueRef};
use rusqlite::OptionalExtension;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::common::{copy_fixture, fixture_dir, manifest};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---------------------------------------------------------------------------------------------
// The recording
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Exchange {
    seq: u64,
    method: String,
    path: String,
    request_headers: Vec<(String, String)>,
    request_body: Value,
    status: u16,
    response_headers: Vec<(String, String)>,
    response_encoding: String,
    response_body: Value,
}

impl Exchange {
    fn route(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }

    fn query(&self, name: &str) -> Option<String> {
        query_param(&self.path, name)
    }

    fn request_header(&self, name: &str) -> Option<&str> {
        header_of(&self.request_headers, name)
    }

    fn response_header(&self, name: &str) -> Option<&str> {
        header_of(&self.response_headers, name)
    }

    fn is(&self, method: &str, route: &str) -> bool {
        self.method == method && self.route() == route
    }

    /// The records of a recorded `/api/sync/changed` answer or `/api/sync/update` body.
    fn records(&self) -> Vec<Value> {
        let list = if self.is("GET", "/api/sync/changed") {
            &self.response_body["entityChanges"]
        } else if self.is("PUT", "/api/sync/update") {
            &self.request_body["entities"]
        } else {
            return Vec::new();
        };
        list.as_array().cloned().unwrap_or_default()
    }
}

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn query_param(path: &str, name: &str) -> Option<String> {
    let query = path.split_once('?')?.1;
    query.split('&').find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

fn with_query_param(path: &str, name: &str, value: &str) -> String {
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let query: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| if pair.starts_with(&format!("{name}=")) { format!("{name}={value}") } else { pair.to_owned() })
        .collect();
    format!("{route}?{}", query.join("&"))
}

fn transcript(name: &str) -> Vec<Exchange> {
    let path = fixture_dir().join("transcript").join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("transcript line parses");
            let pairs = |key: &str| -> Vec<(String, String)> {
                v[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().unwrap().to_owned()))
                    .collect()
            };
            Exchange {
                seq: v["seq"].as_u64().unwrap(),
                method: v["method"].as_str().unwrap().to_owned(),
                path: v["path"].as_str().unwrap().to_owned(),
                request_headers: pairs("requestHeaders"),
                request_body: v["requestBody"].clone(),
                status: v["status"].as_u64().unwrap() as u16,
                response_headers: pairs("responseHeaders"),
                response_encoding: v["responseBodyEncoding"].as_str().unwrap_or("none").to_owned(),
                response_body: v["responseBody"].clone(),
            }
        })
        .collect()
}

/// What the tests need from manifest.json, phases.json and sync-check.json.
struct Fixture {
    password: String,
    document_id: String,
    document_secret: String,
    sync_version: i64,
    server_instance_id: String,
    client_instance_id: String,
    sync_check: Value,
}

fn fixture() -> Fixture {
    let manifest = manifest();
    let phases: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("transcript/phases.json")).unwrap()).unwrap();
    let sync_check: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("sync-check.json")).unwrap()).unwrap();
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    Fixture {
        password: s(&manifest["password"]),
        document_id: s(&manifest["options"]["documentId"]),
        document_secret: s(&manifest["options"]["documentSecret"]),
        sync_version: manifest["syncVersion"].as_i64().unwrap(),
        server_instance_id: s(&phases["sync-from-server"]["serverInstanceId"]),
        client_instance_id: s(&phases["sync-from-server"]["clientInstanceId"]),
        sync_check,
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------------------------

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 160 { format!("{}…", s.chars().take(160).collect::<String>()) } else { s }
}

/// Every key of `expected` must be in `actual` with an equal value (types included: `0` is not
/// `false`); `actual` may only add keys named `canopy*`. Arrays must have the same length.
fn json_diff(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => json_diff(ev, av, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}: missing (recorded {})", short(ev))),
                }
            }
            for (k, av) in a {
                if !e.contains_key(k) && !k.starts_with("canopy") {
                    out.push(format!("{path}.{k}: not in the recording ({})", short(av)));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!("{path}: {} elements, recorded {}", a.len(), e.len()));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                json_diff(ev, av, &format!("{path}[{i}]"), out);
            }
        }
        _ => {
            if expected != actual {
                out.push(format!("{path}: got {}, recorded {}", short(actual), short(expected)));
            }
        }
    }
}

#[track_caller]
fn assert_matches(ctx: &str, expected: &Value, actual: &Value) {
    let mut diffs = Vec::new();
    json_diff(expected, actual, "", &mut diffs);
    if !diffs.is_empty() {
        let n = diffs.len();
        diffs.truncate(40);
        panic!("{ctx}: {n} differences from the recording:\n  {}", diffs.join("\n  "));
    }
}

/// Trilium's sector hashes (`content_hash.getEntityHashes`), computed independently of Canopy:
/// synced changes except `note_reordering`, sorted by entityId in UTF-16 order, per entityName and
/// first character: `base64(sha1(concat(hash + isErased)))`.
fn trilium_sector_hashes(changes: &[(String, String, String, i64)]) -> Value {
    let mut rows: Vec<&(String, String, String, i64)> = changes.iter().filter(|c| c.0 != "note_reordering").collect();
    rows.sort_by(|a, b| a.1.encode_utf16().cmp(b.1.encode_utf16()));
    let mut map: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (name, id, hash, erased) in rows {
        let sector = id.chars().next().map(String::from).unwrap_or_default();
        map.entry(name.clone()).or_default().entry(sector).or_default().push_str(&format!("{hash}{erased}"));
    }
    let hashed: BTreeMap<String, BTreeMap<String, String>> = map
        .into_iter()
        .map(|(name, sectors)| {
            (name, sectors.into_iter().map(|(s, v)| (s, B64.encode(Sha1::digest(v.as_bytes())))).collect())
        })
        .collect();
    serde_json::to_value(hashed).unwrap()
}

fn hmac_b64(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

fn utc_now_str(offset: chrono::Duration) -> String {
    (chrono::Utc::now() + offset).format("%Y-%m-%d %H:%M:%S%.3fZ").to_string()
}

/// A row as Trilium puts it on the wire: `SELECT *` as JSON, blob content base64.
fn wire_row(conn: &rusqlite::Connection, table: &str, pk: &str, id: &str) -> Option<Value> {
    let mut stmt = conn.prepare(&format!("SELECT * FROM {table} WHERE {pk} = ?1")).unwrap();
    let names: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let mut rows = stmt.query([id]).unwrap();
    let row = rows.next().unwrap()?;
    let mut map = serde_json::Map::new();
    for (i, name) in names.iter().enumerate() {
        let value = match row.get_ref(i).unwrap() {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(n) => json!(n),
            ValueRef::Real(f) => json!(f),
            ValueRef::Text(t) if table == "blobs" && name == "content" => json!(B64.encode(t)),
            ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
            ValueRef::Blob(b) => json!(B64.encode(b)),
        };
        map.insert(name.clone(), value);
    }
    Some(Value::Object(map))
}

fn primary_key(table: &str) -> &'static str {
    match table {
        "notes" => "noteId",
        "blobs" => "blobId",
        "branches" => "branchId",
        "attributes" => "attributeId",
        "revisions" => "revisionId",
        "attachments" => "attachmentId",
        "options" => "name",
        "etapi_tokens" => "etapiTokenId",
        other => panic!("no table {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Hub side
// ---------------------------------------------------------------------------------------------

struct Hub {
    dir: tempfile::TempDir,
    instance: Option<RunningInstance>,
    instance_id: String,
}

impl Hub {
    /// A Canopy hub on a copy of the fixture's `document.db`.
    async fn start() -> Hub {
        let dir = tempfile::tempdir().unwrap();
        let db = copy_fixture(dir.path());
        let mut permissions = std::fs::metadata(&db).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        std::fs::set_permissions(&db, permissions).unwrap();
        std::fs::write(dir.path().join("config.ini"), "[General]\nnoBackup=true\n").unwrap();
        let instance = canopy::start(StartOptions {
            data_dir: dir.path().to_path_buf(),
            site_root: PathBuf::from("/nonexistent-site"),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            ..Default::default()
        })
        .await
        .expect("hub starts on the fixture");
        let instance_id = std::fs::read_to_string(dir.path().join("instance-id")).unwrap().trim().to_owned();
        Hub { dir, instance: Some(instance), instance_id }
    }

    fn document(&self) -> &Document {
        &self.instance.as_ref().unwrap().document
    }

    fn url(&self) -> String {
        self.instance.as_ref().unwrap().url()
    }

    fn max_synced_id(&self) -> i64 {
        self.document()
            .read(|c| Ok(c.query_row("SELECT COALESCE(MAX(id), 0) FROM entity_changes WHERE isSynced = 1", [], |r| r.get(0))?))
            .unwrap()
    }

    /// Revisions Canopy made to keep the losing side of a conflict (not a Trilium behaviour).
    /// The blobs the revisions `ids` use.
    fn blobs_of_revisions(&self, ids: &BTreeSet<String>) -> BTreeSet<String> {
        self.document()
            .read(|c| {
                let mut out = BTreeSet::new();
                for id in ids {
                    let blob: Option<String> = c
                        .query_row("SELECT blobId FROM revisions WHERE revisionId = ?1", [id], |r| r.get(0))
                        .optional()?
                        .flatten();
                    out.extend(blob);
                }
                Ok(out)
            })
            .unwrap()
    }

    fn conflict_revisions(&self) -> BTreeSet<String> {
        self.document()
            .read(|c| {
                let exists: bool = c.query_row(
                    "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'canopy_sync_conflicts')",
                    [],
                    |r| r.get(0),
                )?;
                if !exists {
                    return Ok(BTreeSet::new());
                }
                let mut stmt = c.prepare("SELECT revisionId FROM canopy_sync_conflicts WHERE revisionId IS NOT NULL")?;
                let ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<BTreeSet<String>, _>>()?;
                Ok(ids)
            })
            .unwrap()
    }

    /// `(entityName, entityId, hash, isErased)` of the synced changes, without Canopy's conflict
    /// revisions and the blobs only they keep alive when `without_canopy_extras`.
    fn synced_changes(&self, without_canopy_extras: bool) -> Vec<(String, String, String, i64)> {
        let extras = if without_canopy_extras { self.conflict_revisions() } else { BTreeSet::new() };
        self.document()
            .read(|c| {
                let mut kept_only_by_extras = BTreeSet::new();
                for revision_id in &extras {
                    let blob: Option<String> =
                        c.query_row("SELECT blobId FROM revisions WHERE revisionId = ?1", [revision_id], |r| r.get(0))?;
                    let Some(blob) = blob else { continue };
                    let others: i64 = c.query_row(
                        "SELECT (SELECT COUNT(*) FROM notes WHERE blobId = ?1)
                              + (SELECT COUNT(*) FROM attachments WHERE blobId = ?1)
                              + (SELECT COUNT(*) FROM revisions WHERE blobId = ?1 AND revisionId NOT IN
                                   (SELECT revisionId FROM canopy_sync_conflicts WHERE revisionId IS NOT NULL))",
                        [&blob],
                        |r| r.get(0),
                    )?;
                    if others == 0 {
                        kept_only_by_extras.insert(blob);
                    }
                }
                let mut stmt =
                    c.prepare("SELECT entityName, entityId, hash, isErased FROM entity_changes WHERE isSynced = 1")?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<Vec<(String, String, String, i64)>, _>>()?;
                Ok(rows
                    .into_iter()
                    .filter(|(name, id, _, _)| {
                        !(name == "revisions" && extras.contains(id) || name == "blobs" && kept_only_by_extras.contains(id))
                    })
                    .collect())
            })
            .unwrap()
    }

    /// Edits that happened on the Trilium server during a session (they reach the client in the
    /// recorded pulls): written here as local changes of the hub, with the recorded rows and
    /// entity changes (hash, changeId, date), as the server's own edits were.
    fn apply_server_edits(&self, records: &[Value]) {
        let instance_id = InstanceId::from(self.instance_id.as_str());
        self.document()
            .write(&ChangeSource::new(instance_id), |tx| {
                for record in records {
                    let mut change: EntityChange = serde_json::from_value(record["entityChange"].clone()).unwrap();
                    change.instance_id = self.instance_id.clone();
                    match record.get("entity") {
                        Some(Value::Object(positions)) if change.entity_name == "note_reordering" => {
                            for (branch_id, position) in positions {
                                tx.conn().execute(
                                    "UPDATE branches SET notePosition = ?1 WHERE branchId = ?2",
                                    rusqlite::params![position.as_i64(), branch_id],
                                )?;
                            }
                        }
                        Some(row) => canopy::sync::records::store_row(tx.conn(), &change.entity_name, row)?,
                        None => canopy::sync::records::delete_row(tx.conn(), &change.entity_name, &change.entity_id)?,
                    }
                    entity_changes::put_raw(tx, &change)?;
                }
                Ok(())
            })
            .unwrap();
    }

    async fn stop(mut self) {
        if let Some(instance) = self.instance.take() {
            instance.stop().await.unwrap();
        }
        drop(self.dir);
    }
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    fn json(&self, ctx: &str) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{ctx}: answer is not JSON ({e}): {}", self.text()))
    }
}

/// Sends recorded client requests to the hub as the Trilium client did, including its cookie
/// handling: the raw `Set-Cookie` string of the last login goes back verbatim as `Cookie`.
struct Wire {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Wire {
    fn new(base: String) -> Wire {
        Wire { http: reqwest::Client::builder().no_proxy().build().unwrap(), base, cookie: String::new() }
    }

    async fn send(&mut self, method: &str, path: &str, headers: &[(String, String)], body: Option<String>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            match name.to_ascii_lowercase().as_str() {
                "host" | "connection" | "content-length" => {}
                // A recorded empty `Cookie:` stays empty; a recorded session becomes ours.
                "cookie" if !value.is_empty() => request = request.header("Cookie", self.cookie.clone()),
                _ => request = request.header(name.as_str(), value.as_str()),
            }
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("hub answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap().to_vec();
        if let Some(cookie) = headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = cookie.to_owned();
        }
        Answer { status, headers, body }
    }

    /// Replays a recorded request (at `path`); a login is re-signed with a fresh timestamp.
    async fn replay(&mut self, ex: &Exchange, path: &str, secret: &str) -> Answer {
        let body = if ex.is("POST", "/api/login/sync") {
            let timestamp = utc_now_str(chrono::Duration::zero());
            let mut body = ex.request_body.clone();
            body["timestamp"] = json!(timestamp);
            body["hash"] = json!(hmac_b64(secret, &timestamp));
            Some(body.to_string())
        } else if ex.request_body.is_null() {
            None
        } else {
            Some(ex.request_body.to_string())
        };
        self.send(&ex.method, path, &ex.request_headers, body).await
    }

    async fn login(&mut self, timestamp: &str, sync_version: Value, secret: &str) -> Answer {
        let body = json!({ "timestamp": timestamp, "syncVersion": sync_version, "hash": hmac_b64(secret, timestamp) });
        let headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        self.send("POST", "/api/login/sync", &headers, Some(body.to_string())).await
    }
}

/// Status, headers and empty bodies as Trilium sent them.
#[track_caller]
fn check_envelope(ctx: &str, ex: &Exchange, answer: &Answer) {
    assert_eq!(answer.status, ex.status, "{ctx}: status (body: {})", answer.text());
    let max = answer.header("trilium-max-entity-change-id");
    assert!(ex.response_header("trilium-max-entity-change-id").is_some(), "{ctx}: the recording has the header");
    assert!(
        max.is_some_and(|v| v.parse::<i64>().is_ok()),
        "{ctx}: trilium-max-entity-change-id header missing or not a number: {max:?}"
    );
    if let Some(recorded) = ex.response_header("content-type") {
        let media = recorded.split(';').next().unwrap().trim();
        let ours = answer.header("content-type").unwrap_or_default();
        assert!(ours.starts_with(media), "{ctx}: content-type {ours:?}, recorded {recorded:?}");
    } else {
        assert!(answer.body.is_empty(), "{ctx}: the recording has no body, got {:?}", answer.text());
    }
    if let Some(recorded) = ex.response_header("set-cookie") {
        let ours = answer.header("set-cookie").unwrap_or_else(|| panic!("{ctx}: no Set-Cookie (recorded {recorded})"));
        assert!(ours.starts_with("trilium.sid="), "{ctx}: cookie name: {ours}");
        // The same attributes, in the same order, as express-session sent.
        let attributes = |c: &str| c.split(';').skip(1).map(|a| a.trim().split('=').next().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(attributes(ours), attributes(recorded), "{ctx}: cookie attributes of {ours}");
    }
}

/// The first session: a new client pulls the whole document. Everything comes from the fixture,
/// so the answers must equal the recording exactly (instance id and cookie aside).
async fn replay_sync_from_server(hub: &Hub, wire: &mut Wire, fx: &Fixture) -> i64 {
    let mut cursor = 0;
    let exchanges = transcript("sync-from-server");
    for ex in &exchanges {
        let ctx = format!("sync-from-server #{} {} {}", ex.seq, ex.method, ex.path);
        let answer = wire.replay(ex, &ex.path, &fx.document_secret).await;
        check_envelope(&ctx, ex, &answer);
        if ex.response_encoding != "json" {
            continue;
        }
        let mut expected = ex.response_body.clone();
        let mut actual = answer.json(&ctx);
        if ex.is("POST", "/api/login/sync") {
            assert_eq!(expected["instanceId"], json!(fx.server_instance_id));
            assert_eq!(actual["instanceId"], json!(hub.instance_id), "{ctx}: the hub's instance id");
            expected["instanceId"] = Value::Null;
            actual["instanceId"] = Value::Null;
        }
        if ex.is("GET", "/api/sync/changed") {
            cursor = actual["lastEntityChangeId"].as_i64().unwrap();
        }
        if ex.is("GET", "/api/sync/check") {
            assert_matches(&format!("{ctx} vs sync-check.json"), &fx.sync_check, &actual);
        }
        assert_matches(&ctx, &expected, &actual);
    }
    let pulled: usize = exchanges.iter().map(|ex| ex.records().len()).sum();
    assert_eq!(pulled, 352, "the recording pulls the 352 synced changes");
    cursor
}

/// A session with edits on both sides (push-and-pull, conflict). The server's own edits are
/// applied to the hub first (they are in the recorded pulls), then the client's requests are
/// replayed: its push must be accepted with 204, the pulls must return the server's changes as
/// recorded, and the hash check must give the recorded sector hashes.
async fn replay_edit_session(name: &str, hub: &Hub, wire: &mut Wire, fx: &Fixture, mut cursor: i64) -> i64 {
    let exchanges = transcript(name);
    let recorded_pulls: Vec<Value> =
        exchanges.iter().filter(|ex| ex.is("GET", "/api/sync/changed")).flat_map(Exchange::records).collect();
    let pushed: Vec<Value> =
        exchanges.iter().filter(|ex| ex.is("PUT", "/api/sync/update")).flat_map(Exchange::records).collect();
    assert!(!recorded_pulls.is_empty() && !pushed.is_empty(), "{name}: the session pushes and pulls");
    for record in &recorded_pulls {
        assert_eq!(record["entityChange"]["instanceId"], json!(fx.server_instance_id), "{name}: pulls are the server's");
    }
    // A pulled change whose entity the client also pushed, older: the server kept its own version
    // and re-stamped it with a new changeId (Trilium's `putEntityChangeForOtherInstances`).
    let restamped: BTreeSet<(String, String)> = recorded_pulls
        .iter()
        .filter(|pull| {
            pushed.iter().any(|push| {
                push["entityChange"]["entityName"] == pull["entityChange"]["entityName"]
                    && push["entityChange"]["entityId"] == pull["entityChange"]["entityId"]
                    && push["entityChange"]["utcDateChanged"].as_str() < pull["entityChange"]["utcDateChanged"].as_str()
            })
        })
        .map(|r| (r["entityChange"]["entityName"].as_str().unwrap().to_owned(), r["entityChange"]["entityId"].as_str().unwrap().to_owned()))
        .collect();

    hub.apply_server_edits(&recorded_pulls);

    let mut pulled = Vec::new();
    let mut check = None;
    for ex in &exchanges {
        let path = if ex.is("GET", "/api/sync/changed") {
            // The client asks from where our previous answer left it.
            assert_eq!(ex.query("instanceId").as_deref(), Some(fx.client_instance_id.as_str()));
            with_query_param(&ex.path, "lastEntityChangeId", &cursor.to_string())
        } else {
            ex.path.clone()
        };
        let ctx = format!("{name} #{} {} {path}", ex.seq, ex.method);
        let answer = wire.replay(ex, &path, &fx.document_secret).await;
        check_envelope(&ctx, ex, &answer);
        if ex.response_encoding != "json" {
            continue;
        }
        let mut expected = ex.response_body.clone();
        let mut actual = answer.json(&ctx);
        if ex.is("POST", "/api/login/sync") {
            assert_eq!(actual["instanceId"], json!(hub.instance_id), "{ctx}");
            assert_eq!(actual["maxEntityChangeId"], json!(hub.max_synced_id()), "{ctx}: max synced id of the hub");
            for v in [&mut expected, &mut actual] {
                v["instanceId"] = Value::Null;
                v["maxEntityChangeId"] = Value::Null;
            }
            assert_matches(&ctx, &expected, &actual);
        } else if ex.is("GET", "/api/sync/changed") {
            let records = actual["entityChanges"].as_array().cloned().unwrap_or_default();
            let next = actual["lastEntityChangeId"].as_i64().unwrap();
            if let Some(last) = records.last() {
                // Trilium answers the id of the last returned change; moving past the caller's own
                // changes right after it (Canopy) only saves the empty follow-up's work.
                assert!(next >= last["entityChange"]["id"].as_i64().unwrap(), "{ctx}: cursor behind the records");
            } else {
                assert_eq!(next, hub.max_synced_id(), "{ctx}: an empty pull moves the cursor to the end");
            }
            cursor = next;
            pulled.extend(records);
            for v in [&mut expected, &mut actual] {
                v["entityChanges"] = json!([]);
                v["lastEntityChangeId"] = Value::Null;
            }
            assert_matches(&ctx, &expected, &actual);
        } else if ex.is("GET", "/api/sync/check") {
            assert_eq!(actual["maxEntityChangeId"], json!(cursor), "{ctx}: maxEntityChangeId = the final pull cursor");
            assert_eq!(
                ex.response_body["maxEntityChangeId"],
                exchanges.iter().rev().find(|e| e.is("GET", "/api/sync/changed")).unwrap().response_body["lastEntityChangeId"],
                "as in the recording"
            );
            check = Some((expected, actual));
        } else {
            assert_matches(&ctx, &expected, &actual);
        }
    }

    // The pulled changes: as recorded, plus Canopy's conflict revisions (after them).
    // And the blobs of those revisions, announced again in case the peer had erased them.
    let extras = hub.conflict_revisions();
    let extra_blobs = hub.blobs_of_revisions(&extras);
    let recorded_blobs: BTreeSet<&str> = recorded_pulls
        .iter()
        .filter(|r| r["entityChange"]["entityName"] == "blobs")
        .filter_map(|r| r["entityChange"]["entityId"].as_str())
        .collect();
    let (canopy_extras, pulled): (Vec<Value>, Vec<Value>) = pulled.into_iter().partition(|r| {
        let id = r["entityChange"]["entityId"].as_str().unwrap_or_default();
        (r["entityChange"]["entityName"] == "revisions" && extras.contains(id))
            || (r["entityChange"]["entityName"] == "blobs" && extra_blobs.contains(id) && !recorded_blobs.contains(id))
    });
    let mut expected = recorded_pulls.clone();
    let mut actual = pulled.clone();
    for (e, a) in expected.iter_mut().zip(actual.iter_mut()) {
        e["entityChange"]["instanceId"] = json!(hub.instance_id); // the server's own changes
        e["entityChange"]["id"] = Value::Null; // per-instance counter
        a["entityChange"]["id"] = Value::Null;
        let key = (
            e["entityChange"]["entityName"].as_str().unwrap_or_default().to_owned(),
            e["entityChange"]["entityId"].as_str().unwrap_or_default().to_owned(),
        );
        if restamped.contains(&key) && a["entityChange"]["entityId"] == e["entityChange"]["entityId"] {
            let pushed_ids: Vec<&Value> = pushed.iter().map(|p| &p["entityChange"]["changeId"]).collect();
            assert!(!pushed_ids.contains(&&a["entityChange"]["changeId"]), "{name}: {key:?} must go back re-stamped");
            assert_ne!(a["entityChange"]["changeId"], e["entityChange"]["changeId"], "{name}: {key:?} re-stamped");
            e["entityChange"]["changeId"] = Value::Null; // random, made by the re-stamp
            a["entityChange"]["changeId"] = Value::Null;
        }
    }
    assert_matches(&format!("{name}: pulled changes"), &Value::Array(expected), &Value::Array(actual));
    // Canopy's conflict revisions are only ever about notes the client pushed (a Trilium peer does
    // not say which version it edited, so Canopy keeps the overwritten or rejected text).
    let pushed_notes: Vec<&Value> =
        pushed.iter().filter(|p| p["entityChange"]["entityName"] == "notes").map(|p| &p["entityChange"]["entityId"]).collect();
    for extra in canopy_extras.iter().filter(|r| r["entityChange"]["entityName"] == "revisions") {
        assert!(pushed_notes.contains(&&extra["entity"]["noteId"]), "{name}: unexpected conflict revision {}", short(extra));
    }

    // The hash check: Canopy's answer is Trilium's algorithm over its entity changes, and without
    // Canopy's conflict revisions those are exactly the recorded server's.
    let (recorded_check, actual_check) = check.expect("the session ends with a hash check");
    assert_matches(
        &format!("{name}: /api/sync/check vs an independent computation"),
        &trilium_sector_hashes(&hub.synced_changes(false)),
        &actual_check["entityHashes"],
    );
    assert_matches(
        &format!("{name}: sector hashes without Canopy's conflict revisions"),
        &recorded_check["entityHashes"],
        &trilium_sector_hashes(&hub.synced_changes(true)),
    );
    cursor
}

#[tokio::test(flavor = "multi_thread")]
async fn hub_answers_the_recorded_sessions_as_trilium_did() {
    let fx = fixture();
    // The signer reproduces every login the real Trilium client sent.
    for name in ["sync-from-server", "push-and-pull", "conflict"] {
        for ex in transcript(name).iter().filter(|ex| ex.is("POST", "/api/login/sync")) {
            let body = &ex.request_body;
            assert_eq!(hmac_b64(&fx.document_secret, body["timestamp"].as_str().unwrap()), body["hash"].as_str().unwrap());
        }
    }
    let hub = Hub::start().await;
    let mut wire = Wire::new(hub.url());

    let cursor = replay_sync_from_server(&hub, &mut wire, &fx).await;
    assert_eq!(cursor, manifest()["maxEntityChangeId"].as_i64().unwrap());

    // push-and-pull: the client's edit is on the hub as pushed.
    let cursor = replay_edit_session("push-and-pull", &hub, &mut wire, &fx, cursor).await;
    let pushed: Vec<Value> = transcript("push-and-pull").iter().flat_map(Exchange::records).filter(|r| {
        r["entityChange"]["instanceId"] == json!(fx.client_instance_id)
    }).collect();
    for record in &pushed {
        let change = &record["entityChange"];
        let (table, id) = (change["entityName"].as_str().unwrap(), change["entityId"].as_str().unwrap());
        let row = hub.document().read(|c| Ok(wire_row(c, table, primary_key(table), id))).unwrap();
        assert_matches(&format!("push-and-pull: hub row of {table} {id}"), &record["entity"], &row.unwrap_or(Value::Null));
        let ec = hub.document().read(|c| entity_changes::get(c, table, id)).unwrap().expect("entity change");
        assert_eq!((&ec.change_id, &ec.hash, &ec.instance_id), (
            &change["changeId"].as_str().unwrap().to_owned(),
            &change["hash"].as_str().unwrap().to_owned(),
            &fx.client_instance_id,
        ), "push-and-pull: {table} {id} keeps the pushed change, marked as the client's");
    }

    // conflict: the later write won on the hub, as on the Trilium server.
    replay_edit_session("conflict", &hub, &mut wire, &fx, cursor).await;
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("transcript/conflict-result.json")).unwrap()).unwrap();
    let extras = hub.conflict_revisions();
    for (note_id, expected) in result["notes"].as_object().unwrap() {
        let server = &expected["S"];
        let (note, content, revisions, ec) = hub
            .document()
            .read(|c| {
                let note = wire_row(c, "notes", "noteId", note_id).unwrap();
                let content = canopy::db::tree::note_content(c, note_id)?.to_text();
                let mut stmt = c.prepare("SELECT revisionId FROM revisions WHERE noteId = ?1")?;
                let revisions = stmt.query_map([note_id], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
                Ok((note, content, revisions, entity_changes::get(c, "notes", note_id)?.unwrap()))
            })
            .unwrap();
        for key in ["title", "blobId", "utcDateModified"] {
            assert_eq!(note[key], server["note"][key], "conflict: {note_id} {key} as on the Trilium server");
        }
        assert_eq!(json!(content), server["content"], "conflict: {note_id} content");
        let recorded_ec = &server["noteEntityChange"][0];
        assert_eq!((json!(ec.hash), json!(ec.utc_date_changed)), (recorded_ec["hash"].clone(), recorded_ec["utcDateChanged"].clone()));
        let trilium_revisions: Vec<&String> = revisions.iter().filter(|id| !extras.contains(*id)).collect();
        assert_eq!(trilium_revisions.len(), server["revisions"].as_array().unwrap().len(), "conflict: revisions of {note_id}");
        // Beyond Trilium (whose losing text survived nowhere): where the client's pushed text lost,
        // Canopy keeps it in a conflict revision. (The server's losing "Checklist" row is not in the
        // recording, so the other direction cannot be replayed.)
        if expected["winner"] == "server" {
            let kept: Vec<Value> = hub
                .document()
                .read(|c| {
                    let mut texts = Vec::new();
                    for id in revisions.iter().filter(|id| extras.contains(*id)) {
                        let row = c.query_row(
                            "SELECT b.content FROM revisions r JOIN blobs b ON b.blobId = r.blobId WHERE r.revisionId = ?1",
                            [id],
                            |r| Ok(r.get::<_, Sql>(0)?),
                        )?;
                        texts.push(match row {
                            Sql::Text(t) => json!(t),
                            Sql::Blob(b) => json!(String::from_utf8_lossy(&b)),
                            _ => Value::Null,
                        });
                    }
                    Ok(texts)
                })
                .unwrap();
            assert!(kept.contains(&expected["clientText"]), "conflict: the client's losing text of {note_id} is kept: {kept:?}");
        }
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hub_refuses_as_trilium_does() {
    let fx = fixture();
    let hub = Hub::start().await;
    let mut wire = Wire::new(hub.url());
    let exchanges = transcript("sync-from-server");
    let seed = exchanges.iter().find(|ex| ex.is("GET", "/api/setup/sync-seed")).unwrap();
    let changed = exchanges.iter().find(|ex| ex.is("GET", "/api/sync/changed")).unwrap();

    // The recorded credentials are the fixture password.
    let cred = seed.request_header("trilium-cred").unwrap();
    assert_eq!(String::from_utf8(B64.decode(cred).unwrap()).unwrap(), format!("dummy:{}", fx.password));

    // Wrong password: 401 text/plain "Incorrect password" (auth.checkCredentials).
    let wrong: Vec<(String, String)> = seed
        .request_headers
        .iter()
        .map(|(n, v)| {
            if n.eq_ignore_ascii_case("trilium-cred") {
                (n.clone(), B64.encode(format!("dummy:{}-wrong", fx.password)))
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect();
    let answer = wire.send("GET", &seed.path, &wrong, None).await;
    assert_eq!(answer.status, 401);
    assert!(answer.header("content-type").unwrap_or_default().starts_with("text/plain"));
    assert_eq!(answer.text(), "Incorrect password");

    // No session: 401 text/plain (auth.checkApiAuth → reject).
    for cookie in ["", "trilium.sid=s%3Anot-a-session; Path=/; HttpOnly"] {
        let headers = vec![("Cookie".to_owned(), cookie.to_owned())];
        wire.cookie = cookie.to_owned();
        let answer = wire.send("GET", &changed.path, &headers, None).await;
        assert_eq!(answer.status, 401, "no session with cookie {cookie:?}");
        assert!(answer.header("content-type").unwrap_or_default().starts_with("text/plain"));
        assert_eq!(answer.text(), "Logged in session not found");
    }

    let now = utc_now_str(chrono::Duration::zero());
    let message = |a: &Answer| a.json("login error")["message"].as_str().unwrap_or_default().to_owned();

    // Bad HMAC: 400 {message}.
    let answer = wire.login(&now, json!(fx.sync_version), &format!("{}x", fx.document_secret)).await;
    assert_eq!(answer.status, 400);
    assert!(message(&answer).starts_with("Sync login credentials are incorrect."), "{}", answer.text());
    assert!(answer.header("set-cookie").is_none());

    // Other sync version: 400 naming both versions.
    let answer = wire.login(&now, json!(fx.sync_version - 1), &fx.document_secret).await;
    assert_eq!(answer.status, 400);
    assert!(
        message(&answer).starts_with(&format!(
            "Non-matching sync versions, local is version {}, remote is {}.",
            fx.sync_version,
            fx.sync_version - 1
        )),
        "{}",
        answer.text()
    );

    // Clock skew over 5 minutes: 401, checked before the version (login.js order).
    for minutes in [6, -6] {
        let skewed = utc_now_str(chrono::Duration::minutes(minutes));
        for version in [fx.sync_version, fx.sync_version - 1] {
            let answer = wire.login(&skewed, json!(version), &fx.document_secret).await;
            assert_eq!(answer.status, 401, "skew {minutes} min, version {version}: {}", answer.text());
            assert!(message(&answer).starts_with("Auth request time is out of sync"), "{}", answer.text());
        }
    }

    // Within 5 minutes and correctly signed: a session, and the seed carries the documentId.
    let answer = wire.login(&utc_now_str(chrono::Duration::minutes(4)), json!(fx.sync_version), &fx.document_secret).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let answer = wire.send("GET", &changed.path, &changed.request_headers, None).await;
    assert_eq!(answer.status, 200, "the new session works: {}", answer.text());
    let answer = wire.send("GET", &seed.path, &seed.request_headers, None).await;
    assert_eq!(answer.json("seed")["options"][0]["value"], json!(fx.document_id));
    hub.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------

/// A replay of the recorded Trilium server: answers each request with the next recorded answer
/// for the same method and route (for pulls: the same `lastEntityChangeId`), repeating the last
/// one when the recording runs out. Authenticated routes need the session of the last login
/// served, as Trilium's `checkApiAuth`. Anything not recorded gets 404, with one exception: a pull
/// from the cursor where the session's last (empty) pull ended gets that same empty answer, which
/// is what Trilium answers there (nothing after it, cursor unchanged, nothing outstanding).
#[derive(Clone, Default)]
struct Replay {
    state: Arc<Mutex<ReplayState>>,
}

#[derive(Default)]
struct ReplayState {
    exchanges: Vec<Exchange>,
    served: HashMap<String, usize>,
    session: Option<String>,
    log: Vec<Received>,
}

impl Replay {
    /// Starts replaying another recorded session (the log is kept).
    fn load(&self, exchanges: Vec<Exchange>) {
        let mut state = self.state.lock().unwrap();
        state.exchanges = exchanges;
        state.served.clear();
        state.session = None;
    }

    fn log(&self) -> Vec<Received> {
        self.state.lock().unwrap().log.clone()
    }

    async fn serve(&self) -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new().fallback(replay_handler).with_state(self.clone());
        (url, tokio::spawn(async move { axum::serve(listener, router).await.unwrap() }))
    }
}

#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    status: u16,
}

fn replay_key(method: &str, path: &str) -> String {
    let route = path.split('?').next().unwrap_or_default();
    if route == "/api/sync/changed" {
        format!("{method} {route} {}", query_param(path, "lastEntityChangeId").unwrap_or_default())
    } else {
        format!("{method} {route}")
    }
}

async fn replay_handler(State(replay): State<Replay>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let key = replay_key(method.as_str(), &path);
    let cookie = headers.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut state = replay.state.lock().unwrap();
    let mut candidates: Vec<Exchange> =
        state.exchanges.iter().filter(|ex| replay_key(&ex.method, &ex.path) == key).cloned().collect();
    if candidates.is_empty() && uri.path() == "/api/sync/changed" {
        let last = state.exchanges.iter().rev().find(|ex| ex.is("GET", "/api/sync/changed"));
        if let Some(last) = last.filter(|ex| {
            ex.records().is_empty()
                && query_param(&path, "lastEntityChangeId").map(|c| json!(c.parse::<i64>().ok()))
                    == Some(ex.response_body["lastEntityChangeId"].clone())
        }) {
            candidates.push(last.clone());
        }
    }
    let response = if candidates.is_empty() {
        (StatusCode::NOT_FOUND, "not in the recording").into_response()
    } else if uri.path().starts_with("/api/sync/")
        && !state.session.as_ref().is_some_and(|sid| cookie.split(';').any(|pair| pair.trim() == sid))
    {
        (StatusCode::UNAUTHORIZED, [("content-type", "text/plain")], "Logged in session not found").into_response()
    } else {
        let index = state.served.entry(key.clone()).or_default();
        let ex = &candidates[(*index).min(candidates.len() - 1)];
        *index += 1;
        if let Some(set_cookie) = ex.response_header("set-cookie") {
            state.session = set_cookie.split(';').next().map(str::to_owned);
        }
        let body = match ex.response_encoding.as_str() {
            "json" => serde_json::to_vec(&ex.response_body).unwrap(),
            "text" => ex.response_body.as_str().unwrap_or_default().as_bytes().to_vec(),
            "base64" => B64.decode(ex.response_body.as_str().unwrap_or_default()).unwrap(),
            _ => Vec::new(),
        };
        let mut builder = Response::builder().status(ex.status);
        for (name, value) in &ex.response_headers {
            if !matches!(
                name.to_ascii_lowercase().as_str(),
                "content-length" | "connection" | "keep-alive" | "transfer-encoding"
            ) {
                builder = builder.header(name.as_str(), value.as_str());
            }
        }
        builder.body(axum::body::Body::from(body)).unwrap()
    };
    state.log.push(Received {
        method: method.to_string(),
        path,
        headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned())).collect(),
        body: body.to_vec(),
        status: response.status().as_u16(),
    });
    response
}

/// A document as Trilium's `createDatabaseForSync` leaves it after fetching the seed: the schema,
/// the options of `initNotSyncedOptions`, and the hub's documentId/documentSecret; nothing else.
fn seeded_client_document(dir: &std::path::Path, fx: &Fixture) {
    let document = Document::open_or_create(&dir.join("document.db"), "seedingInstance").unwrap();
    document
        .write(&ChangeSource::new(InstanceId::from("seedingInstance")), |tx| {
            tx.conn().execute_batch(
                "DELETE FROM notes; DELETE FROM branches; DELETE FROM attributes; DELETE FROM blobs;
                 DELETE FROM revisions; DELETE FROM attachments; DELETE FROM etapi_tokens;
                 DELETE FROM options WHERE name NOT IN ('openNoteContexts', 'lastDailyBackupDate',
                   'lastWeeklyBackupDate', 'lastMonthlyBackupDate', 'dbVersion', 'initialized', 'lastSyncedPull',
                   'lastSyncedPush', 'theme', 'syncServerHost', 'syncServerTimeout', 'syncProxy', 'documentId',
                   'documentSecret');
                 DELETE FROM entity_changes WHERE entityName != 'options' OR entityId NOT IN (SELECT name FROM options);",
            )?;
            for (name, value) in [("documentId", &fx.document_id), ("documentSecret", &fx.document_secret)] {
                tx.conn().execute("UPDATE options SET value = ?1 WHERE name = ?2", [value.as_str(), name])?;
            }
            Ok(())
        })
        .unwrap();
}

/// A Canopy client of `hub_url` on a [`seeded_client_document`].
async fn start_seeded_client(fx: &Fixture, hub_url: &str) -> (tempfile::TempDir, RunningInstance) {
    let dir = tempfile::tempdir().unwrap();
    seeded_client_document(dir.path(), fx);
    crate::cluster::write_config(dir.path(), hub_url);
    let instance = canopy::start(StartOptions {
        data_dir: dir.path().to_path_buf(),
        site_root: PathBuf::from("/nonexistent-site"),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    })
    .await
    .expect("client starts");
    (dir, instance)
}

fn rows(conn: &rusqlite::Connection, sql: &str) -> Vec<BTreeMap<String, Sql>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let names: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    stmt.query_map([], |r| {
        let mut row = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            row.insert(name.clone(), r.get::<_, Sql>(i)?);
        }
        Ok(row)
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn client_applies_the_recorded_trilium_answers() {
    let fx = fixture();
    let exchanges = transcript("sync-from-server");
    let replay = Replay::default();
    replay.load(exchanges.clone());
    let (replay_url, server) = replay.serve().await;
    let (dir, instance) = start_seeded_client(&fx, &replay_url).await;
    let client = instance.client().expect("a sync client");
    // Two cycles, as the recording has (setup, then the post-init timer).
    // The outcomes are asserted after the data comparisons below, which say more about a failure.
    let mut outcomes = Vec::new();
    for _cycle in 1..=2 {
        outcomes.push(client.sync_now().await);
    }
    let status = instance.sync.status();

    // What the client sent: nothing to push, logins signed with the document secret.
    let log = replay.log();
    let mut unrecorded = Vec::new();
    for request in &log {
        let known = request.status != 404 || request.path.starts_with("/api/canopy/");
        if !known {
            unrecorded.push(format!("{} {}", request.method, request.path));
            continue;
        }
        assert_ne!(request.status, 401, "the client lost its session: {} {}", request.method, request.path);
        assert!(!(request.method == "PUT" && request.path.starts_with("/api/sync/update")), "a new client has nothing to push");
        if request.method == "POST" && request.path == "/api/login/sync" {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let recorded = &exchanges.iter().find(|ex| ex.is("POST", "/api/login/sync")).unwrap().request_body;
            let keys = |v: &Value| v.as_object().unwrap().keys().filter(|k| !k.starts_with("canopy")).cloned().collect::<BTreeSet<_>>();
            assert_eq!(keys(&body), keys(recorded), "login body keys");
            assert_eq!(body["syncVersion"], recorded["syncVersion"]);
            assert_eq!(body["hash"].as_str().unwrap(), hmac_b64(&fx.document_secret, body["timestamp"].as_str().unwrap()));
        }
        if request.path.starts_with("/api/sync/") {
            for name in ["pageCount", "pageIndex", "requestId"] {
                assert!(header_of(&request.headers, name).is_some(), "{name} header on {} {}", request.method, request.path);
            }
        }
    }
    let pulls: Vec<String> = log
        .iter()
        .filter(|r| r.path.starts_with("/api/sync/changed"))
        .map(|r| query_param(&r.path, "lastEntityChangeId").unwrap())
        .collect();
    let recorded_pulls: Vec<String> =
        exchanges.iter().filter(|ex| ex.is("GET", "/api/sync/changed")).map(|ex| ex.query("lastEntityChangeId").unwrap()).collect();
    // The recording has two cycles; the client's own start-up timer may add a third, which pulls
    // from the same cursor as the recorded second one.
    assert!(pulls.len() >= recorded_pulls.len(), "pulls {pulls:?}, recorded {recorded_pulls:?}");
    let (first, later) = pulls.split_at(recorded_pulls.len());
    assert_eq!(first, &recorded_pulls[..], "the client pulls from the recorded cursors");
    assert!(later.iter().all(|c| Some(c) == recorded_pulls.last()), "pulls {pulls:?}");
    for request in log.iter().filter(|r| r.path.starts_with("/api/sync/changed")) {
        assert_eq!(query_param(&request.path, "instanceId").as_deref(), Some(&*std::fs::read_to_string(dir.path().join("instance-id")).unwrap().trim().to_owned()));
    }

    // What the client has: the fixture's rows, changes and sector hashes.
    let fixture_db = rusqlite::Connection::open_with_flags(
        format!("file:{}?immutable=1", fixture_dir().join("document.db").display()),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
    .unwrap();
    let document = instance.document.clone();
    for table in ["notes", "branches", "attributes", "blobs", "revisions", "attachments", "etapi_tokens", "options"] {
        let filter = if table == "options" { " WHERE isSynced = 1" } else { "" };
        let sql = format!("SELECT * FROM {table}{filter} ORDER BY {}", primary_key(table));
        let expected = rows(&fixture_db, &sql);
        let actual = document.read(|c| Ok(rows(c, &sql))).unwrap();
        assert_eq!(actual.len(), expected.len(), "{table}: row count");
        for (e, a) in expected.iter().zip(&actual) {
            assert_eq!(a, e, "{table}: row differs from the fixture");
        }
    }
    let ec_sql = "SELECT entityName, entityId, hash, isErased, changeId, componentId, isSynced, utcDateChanged
                  FROM entity_changes WHERE isSynced = 1 ORDER BY entityName, entityId";
    let expected = rows(&fixture_db, ec_sql);
    let actual = document.read(|c| Ok(rows(c, ec_sql))).unwrap();
    assert_eq!(actual.len(), expected.len(), "entity_changes: count");
    assert_eq!(actual.len(), exchanges.iter().map(|ex| ex.records().len()).sum::<usize>(), "every pulled change is kept");
    for (e, a) in expected.iter().zip(&actual) {
        assert_eq!(a, e, "entity change differs from the fixture");
    }
    let instance_ids: BTreeSet<String> = document
        .read(|c| {
            let mut stmt = c.prepare("SELECT DISTINCT instanceId FROM entity_changes WHERE isSynced = 1")?;
            let ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<BTreeSet<String>, _>>()?;
            Ok(ids)
        })
        .unwrap();
    assert_eq!(instance_ids, BTreeSet::from([fx.server_instance_id.clone()]), "pulled changes are marked as the server's");
    let cursor = document.read(|c| canopy::db::options::get(c, "lastSyncedPull")).unwrap();
    let last_recorded = exchanges.iter().rev().find(|ex| ex.is("GET", "/api/sync/changed")).unwrap();
    assert_eq!(cursor.map(|v| json!(v.parse::<i64>().unwrap())), Some(last_recorded.response_body["lastEntityChangeId"].clone()));

    let instance_id = InstanceId::from(std::fs::read_to_string(dir.path().join("instance-id")).unwrap().trim());
    let (hashes, _) = canopy::sync::check::local_hashes(&document, &instance_id).unwrap();
    assert_matches("client sector hashes vs sync-check.json", &fx.sync_check["entityHashes"], &serde_json::to_value(hashes).unwrap());

    assert!(unrecorded.is_empty(), "the client sent requests Trilium's client did not: {unrecorded:?}");
    for (cycle, outcome) in outcomes.iter().enumerate() {
        assert!(outcome.is_ok(), "cycle {} against the recorded Trilium server: {outcome:?}", cycle + 1);
    }
    assert!(status.hash_check.as_ref().is_some_and(|c| c.passed && c.repair_rounds == 0), "hash check: {:?}", status.hash_check);
    instance.stop().await.unwrap();
    server.abort();
}

/// The push-and-pull session from the client's side: after the recorded setup, the client has the
/// recorded client edit (as local changes) and syncs against the recorded server answers. It must
/// push what the Trilium client pushed, apply the server's changes and pass the hash check.
#[tokio::test(flavor = "multi_thread")]
async fn client_pushes_and_pulls_as_the_trilium_client_did() {
    let fx = fixture();
    let replay = Replay::default();
    replay.load(transcript("sync-from-server"));
    let (replay_url, server) = replay.serve().await;
    let (dir, instance) = start_seeded_client(&fx, &replay_url).await;
    let client = instance.client().expect("a sync client");
    client.sync_now().await.expect("setup cycle");
    let instance_id = std::fs::read_to_string(dir.path().join("instance-id")).unwrap().trim().to_owned();
    let document = instance.document.clone();

    let session = transcript("push-and-pull");
    let push = session.iter().find(|ex| ex.is("PUT", "/api/sync/update")).unwrap();
    let pushed = push.records();
    let pulled: Vec<Value> = session.iter().filter(|ex| ex.is("GET", "/api/sync/changed")).flat_map(Exchange::records).collect();
    let check = session.iter().rev().find(|ex| ex.is("GET", "/api/sync/check")).unwrap();
    replay.load(session.clone());
    let before = replay.log().len();
    // The client's edit, made as the Trilium client made it (same rows, same changes).
    document
        .write(&ChangeSource::new(InstanceId::from(instance_id.as_str())), |tx| {
            for record in &pushed {
                let mut change: EntityChange = serde_json::from_value(record["entityChange"].clone()).unwrap();
                change.instance_id = instance_id.clone();
                canopy::sync::records::store_row(tx.conn(), &change.entity_name, &record["entity"])?;
                entity_changes::put_raw(tx, &change)?;
            }
            Ok(())
        })
        .unwrap();
    let outcome = client.sync_now().await;
    let log: Vec<Received> = replay.log().split_off(before);

    // The push: one page, the recorded records (the sender's ids and instance id aside).
    let pushes: Vec<&Received> = log.iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(pushes.len(), 1, "one push: {:?}", log.iter().map(|r| (&r.method, &r.path, r.status)).collect::<Vec<_>>());
    let body: Value = serde_json::from_slice(&pushes[0].body).expect("push body is JSON");
    let mut expected = push.request_body.clone();
    assert_eq!(expected["instanceId"], json!(fx.client_instance_id));
    expected["instanceId"] = json!(instance_id);
    let mut actual = body.clone();
    for list in [&mut expected["entities"], &mut actual["entities"]] {
        for record in list.as_array_mut().unwrap() {
            record["entityChange"]["id"] = Value::Null;
            if record["entityChange"]["instanceId"] == json!(fx.client_instance_id) {
                record["entityChange"]["instanceId"] = json!(instance_id);
            }
        }
    }
    assert_matches("push body", &expected, &actual);
    for name in ["pageCount", "pageIndex", "requestId", "Content-Type"] {
        assert_eq!(
            header_of(&pushes[0].headers, name).is_some(),
            push.request_header(name).is_some(),
            "push header {name}"
        );
    }
    assert_eq!(header_of(&pushes[0].headers, "pageCount"), push.request_header("pageCount"));
    assert!(outcome.is_ok(), "push-and-pull cycle against the recorded server: {outcome:?}");
    let status = instance.sync.status();
    assert!(status.hash_check.as_ref().is_some_and(|c| c.passed && c.repair_rounds == 0), "hash check: {:?}", status.hash_check);

    // The server's changes are applied as sent.
    for record in &pulled {
        let change = &record["entityChange"];
        let (table, id) = (change["entityName"].as_str().unwrap(), change["entityId"].as_str().unwrap());
        let row = document.read(|c| Ok(wire_row(c, table, primary_key(table), id))).unwrap();
        assert_matches(&format!("client row of {table} {id}"), &record["entity"], &row.unwrap_or(Value::Null));
        let ec = document.read(|c| entity_changes::get(c, table, id)).unwrap().expect("entity change");
        assert_eq!(json!(ec.change_id), change["changeId"], "{table} {id}: changeId");
        assert_eq!(json!(ec.hash), change["hash"], "{table} {id}: hash");
    }
    let (hashes, _) = canopy::sync::check::local_hashes(&document, &InstanceId::from(instance_id.as_str())).unwrap();
    assert_matches("client sector hashes vs the recorded check", &check.response_body["entityHashes"], &serde_json::to_value(hashes).unwrap());
    instance.stop().await.unwrap();
    server.abort();
}
