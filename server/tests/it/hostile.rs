//! Hostile input on every HTTP endpoint, against real instances (127.0.0.1, port 0, real SQLite).
//!
//! 1. Without credentials (and with forged ones) every route answers 401, or a page 303 to the login,
//!    except the routes listed as open in [`ROUTES`] with the reason. A test reads the routers'
//!    source so that a new route cannot be left out of the table. With a browser session but no
//!    (or a wrong) CSRF token every state-changing call answers 403.
//! 2. With valid credentials but bad input (malformed or mistyped JSON, unknown entity names, SQL in
//!    ids, path traversal, control characters and NUL, bad and far-future dates, truncated,
//!    oversized and deeply nested bodies, forged and replayed sync logins) every endpoint answers
//!    4xx with a message a person can read: never 5xx, never a dropped connection; and the document
//!    is as it was (its sync sector hashes, and every row of its synced tables and entity changes).
//! 3. A time-bounded fuzz of the hub's `PUT /api/sync/update`: valid pushes mutated (bytes flipped,
//!    fields dropped or of other types, records duplicated, split into pages with bogus `pageCount`,
//!    `pageIndex` and `requestId`). Never 5xx, the hub stays up, a refused push changes nothing.
//!    `CANOPY_FUZZ_SEED` (default [`DEFAULT_FUZZ_SEED`]) and `CANOPY_FUZZ_SECS` (default 8) replay a
//!    run or make it longer.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use app::error::AppError;
use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::{ensure_password, Browser, PASSWORD};
use crate::cluster::Node;

// =============================================================================================
// The route table
// =============================================================================================

/// What a route answers a caller without a browser session, ETAPI token or sync login.
#[derive(Clone, Copy, Debug)]
enum Access {
    /// 401, in the error shape its callers read (server functions: `AppError`; ETAPI: its JSON;
    /// everything else: Trilium's text).
    Refused,
    /// A page: 303 to `/login?next=...`, nothing of the document in the answer.
    ToLogin,
    /// Needs no session, by design: why, and what it may answer a caller without credentials.
    Open { why: &'static str, answers: &'static [u16] },
}
use Access::{Refused, ToLogin};

const fn open(why: &'static str, answers: &'static [u16]) -> Access {
    Access::Open { why, answers }
}

/// Every route of the routers: `(method, path as the router names it, access)`. Placeholders are
/// filled by [`concrete`]. [`hostile_every_route_of_the_routers_is_in_the_table`] keeps it complete.
const ROUTES: &[(&str, &str, Access)] = &[
    // --- open: what Trilium peers, scripts and a logged-out browser must reach ---
    ("GET", "/api/health-check", open("peers and monitors check that the instance is up; answers only {status: ok}", &[200])),
    ("POST", "/api/login/sync", open("the sync login: its own credentials (an HMAC of the time with the document secret)", &[400])),
    ("GET", "/api/setup/status", open("Trilium's setup asks a hub whether it has a document before any login", &[200])),
    ("GET", "/api/setup/sync-seed", open("the seed for a new client: the password itself comes in `trilium-cred`", &[400, 401])),
    ("POST", "/api/setup/sync-seed", open("an empty hub takes a client's seed: only with the one-time token it printed", &[400, 401])),
    ("GET", "/api/sync/stats", open("Trilium's setup polls the first sync's progress before any login (two counts)", &[200])),
    (
        "POST",
        "/api/setup/sync-from-server",
        open("Trilium's setup before any login: acts only on an instance without its document, the hub checks the password", &[200]),
    ),
    ("GET", "/api/setup/progress", open("the first sync's progress page polls it before any login (counts only)", &[200])),
    ("GET", "/setup", open("the setup page; once there is a document only a redirect", &[303])),
    ("GET", "/setup/progress", open("the first sync's progress page; once set up only a redirect", &[303])),
    ("GET", "/login", open("the login page itself", &[200])),
    ("POST", "/login", open("the login form: checks the password, failures limited per address", &[400, 401])),
    ("GET", "/set-password", open("sets the first password of a new document only; this one has one: a redirect", &[303])),
    ("POST", "/set-password", open("as GET: a document with a password only redirects; a form without its fields is refused first", &[303, 400])),
    ("POST", "/logout", open("ends the caller's own session; without one there is nothing to end", &[303])),
    ("GET", "/pkg/canopy.css", open("static assets of the login page (no built site in these tests: 404)", &[404])),
    ("GET", "/pkg/canopy.js", open("static assets", &[404])),
    ("GET", "/favicon.svg", open("static assets", &[404])),
    ("POST", "/etapi/auth/login", open("ETAPI's login: the password in the body, failures limited per address", &[400])),
    ("GET", "/etapi/etapi.openapi.yaml", open("ETAPI's description of itself, as Trilium serves it", &[200])),
    ("GET", "/etapi/no-such-endpoint", open("unknown ETAPI paths say so, as Trilium's do; nothing of the document", &[404])),
    // --- the hub: its own sync session ---
    ("GET", "/api/sync/changed", Refused),
    ("PUT", "/api/sync/update", Refused),
    ("POST", "/api/sync/finished", Refused),
    ("GET", "/api/sync/check", Refused),
    ("POST", "/api/sync/queue-sector/{entity_name}/{sector}", Refused),
    ("POST", "/api/sync/check-entity-changes", Refused),
    ("GET", "/api/canopy/changes", Refused),
    // --- the local sync API: a session (and CSRF) or an ETAPI token ---
    ("GET", "/api/canopy/sync-status", Refused),
    ("POST", "/api/sync/now", Refused),
    ("POST", "/api/canopy/deep-check", Refused),
    // --- the UI's own routes beside the server functions ---
    ("GET", "/api/attachments/{attachment_id}/image/{file_name}", Refused),
    ("GET", "/api/images/{note_id}/{file_name}", Refused),
    ("POST", "/api/ui/notes/{note_id}/images", Refused),
    ("GET", "/api/ui/revisions/{revision_id}/download", Refused),
    ("GET", "/api/ui/events", Refused),
    ("POST", "/api/ui/no-such-call", Refused),
    ("GET", "/api/no-such-call", Refused),
    ("POST", "/ui", Refused),
    // --- server functions (`#[server(prefix = "/ui", endpoint = ...)]` in app/src) ---
    ("POST", "/ui/sync_options", Refused),
    ("POST", "/ui/save_sync_options", Refused),
    ("POST", "/ui/test_sync", Refused),
    ("POST", "/ui/revisions", Refused),
    ("POST", "/ui/revision/open", Refused),
    ("POST", "/ui/revision/restore", Refused),
    ("POST", "/ui/revision/delete", Refused),
    ("POST", "/ui/recent_changes", Refused),
    ("POST", "/ui/undelete", Refused),
    ("POST", "/ui/children", Refused),
    ("POST", "/ui/tree/snapshot", Refused),
    ("POST", "/ui/tree/reveal", Refused),
    ("POST", "/ui/tree/create", Refused),
    ("POST", "/ui/tree/rename", Refused),
    ("POST", "/ui/tree/delete", Refused),
    ("POST", "/ui/tree/undo_delete", Refused),
    ("POST", "/ui/tree/move", Refused),
    ("POST", "/ui/tree/clone", Refused),
    ("POST", "/ui/tree/expanded", Refused),
    ("POST", "/ui/tree/find", Refused),
    ("POST", "/ui/quick_search", Refused),
    ("POST", "/ui/jump_titles", Refused),
    ("POST", "/ui/full_search", Refused),
    ("POST", "/ui/save_search", Refused),
    ("POST", "/ui/saved_search", Refused),
    ("POST", "/ui/protected/status", Refused),
    ("POST", "/ui/protected/unlock", Refused),
    ("POST", "/ui/protected/lock", Refused),
    ("POST", "/ui/protected/set", Refused),
    ("POST", "/ui/protected/change_password", Refused),
    ("POST", "/ui/protected/timeout", Refused),
    ("POST", "/ui/note", Refused),
    ("POST", "/ui/note_source", Refused),
    ("POST", "/ui/save_note", Refused),
    ("POST", "/ui/save_note_keeping_stored", Refused),
    ("POST", "/ui/rename_note", Refused),
    ("POST", "/ui/set_note_type", Refused),
    ("POST", "/ui/search_notes", Refused),
    ("POST", "/ui/sync_overview", Refused),
    ("POST", "/ui/sync_now", Refused),
    ("POST", "/ui/sync_deep_check", Refused),
    ("POST", "/ui/attributes", Refused),
    ("POST", "/ui/attribute_add", Refused),
    ("POST", "/ui/attribute_add_text", Refused),
    ("POST", "/ui/attribute_update", Refused),
    ("POST", "/ui/attribute_delete", Refused),
    ("POST", "/ui/attribute_targets", Refused),
    ("POST", "/ui/no-such-function", Refused),
    // --- pages (the Leptos routes in app/src/lib.rs, and everything else) ---
    ("GET", "/", ToLogin),
    ("GET", "/search", ToLogin),
    ("GET", "/recent-changes", ToLogin),
    ("GET", "/options/sync", ToLogin),
    ("GET", "/options/password", ToLogin),
    ("GET", "/no-such-page", ToLogin),
    // The setup page's forms exist only while there is no document; afterwards they are pages.
    ("POST", "/setup/new-document", ToLogin),
    ("POST", "/setup/sync-from-server", ToLogin),
    // --- ETAPI: its tokens ---
    ("POST", "/etapi/auth/logout", Refused),
    ("GET", "/etapi/app-info", Refused),
    ("PUT", "/etapi/backup/{backup_name}", Refused),
    ("POST", "/etapi/create-note", Refused),
    ("GET", "/etapi/notes", Refused),
    ("GET", "/etapi/notes/{note_id}", Refused),
    ("PATCH", "/etapi/notes/{note_id}", Refused),
    ("DELETE", "/etapi/notes/{note_id}", Refused),
    ("GET", "/etapi/notes/{note_id}/content", Refused),
    ("PUT", "/etapi/notes/{note_id}/content", Refused),
    ("POST", "/etapi/notes/{note_id}/revision", Refused),
    ("GET", "/etapi/notes/{note_id}/attachments", Refused),
    ("GET", "/etapi/notes/{note_id}/export", Refused),
    ("POST", "/etapi/notes/{note_id}/import", Refused),
    ("POST", "/etapi/branches", Refused),
    ("GET", "/etapi/branches/{branch_id}", Refused),
    ("PATCH", "/etapi/branches/{branch_id}", Refused),
    ("DELETE", "/etapi/branches/{branch_id}", Refused),
    ("POST", "/etapi/refresh-note-ordering/{parent_note_id}", Refused),
    ("POST", "/etapi/attributes", Refused),
    ("GET", "/etapi/attributes/{attribute_id}", Refused),
    ("PATCH", "/etapi/attributes/{attribute_id}", Refused),
    ("DELETE", "/etapi/attributes/{attribute_id}", Refused),
    ("POST", "/etapi/attachments", Refused),
    ("GET", "/etapi/attachments/{attachment_id}", Refused),
    ("PATCH", "/etapi/attachments/{attachment_id}", Refused),
    ("DELETE", "/etapi/attachments/{attachment_id}", Refused),
    ("GET", "/etapi/attachments/{attachment_id}/content", Refused),
    ("PUT", "/etapi/attachments/{attachment_id}/content", Refused),
    ("GET", "/etapi/inbox/{date}", Refused),
    ("GET", "/etapi/calendar/days/{date}", Refused),
    ("GET", "/etapi/calendar/weeks/{date}", Refused),
    ("GET", "/etapi/calendar/months/{month}", Refused),
    ("GET", "/etapi/calendar/years/{year}", Refused),
];

/// Paths the hub answers only with its own sync session (a browser session is no sync login).
const SYNC_SESSION_ROUTES: &[&str] = &[
    "/api/sync/changed",
    "/api/sync/update",
    "/api/sync/finished",
    "/api/sync/check",
    "/api/sync/queue-sector/",
    "/api/sync/check-entity-changes",
    "/api/canopy/changes",
];

/// A route pattern with its placeholders filled.
fn concrete(pattern: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        let end = start + rest[start..].find('}').expect("closing brace");
        out.push_str(&rest[..start]);
        out.push_str(match &rest[start + 1..end] {
            "note_id" | "parent_note_id" => "root",
            "branch_id" => "none_root",
            "date" => "2024-01-01",
            "month" => "2024-01",
            "year" => "2024",
            "backup_name" => "hostile",
            "entity_name" => "notes",
            "sector" => "a",
            "file_name" => "x.png",
            _ => "aaaaaaaaaaaa",
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

// =============================================================================================
// Answers, messages, the document's fingerprint
// =============================================================================================

#[derive(Debug)]
struct Answer {
    status: u16,
    location: String,
    set_cookie: String,
    body: String,
}

/// Sends and reads the whole answer; `Err` when the server gave none (a panic, a dropped connection).
async fn answer(request: reqwest::RequestBuilder) -> Result<Answer, String> {
    let response = request.send().await.map_err(|e| format!("no answer: {e}"))?;
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get_all(name).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join("\n");
    let (location, set_cookie) = (header("location"), header("set-cookie"));
    let body = response.text().await.map_err(|e| format!("{status}, then the body broke off: {e}"))?;
    Ok(Answer { status, location, set_cookie, body })
}

/// A new connection for every request: after refusing a body it did not read, the server closes the
/// connection, and a pooled client can pick that connection up in the moment before the close
/// arrives (HTTP/1.1's keep-alive race), which would be counted as the server not answering.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// The message of an error answer, in whichever shape the route answers with.
fn message_of(body: &str) -> String {
    if let Ok(error) = serde_json::from_str::<AppError>(body) {
        return error.to_string();
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => {
            ["message", "error"].iter().find_map(|k| map.get(*k).and_then(Value::as_str)).unwrap_or_default().to_owned()
        }
        Ok(_) => String::new(),
        // Plain text, or a server-rendered page: its text.
        Err(_) => regex::Regex::new(r"(?s)<style.*?</style>|<script.*?</script>|<[^>]*>").unwrap().replace_all(body, " ").trim().to_owned(),
    }
}

/// Words a person can read: some letters, no control characters (an echoed NUL is not a message).
fn readable(message: &str) -> bool {
    message.chars().filter(|c| c.is_alphabetic()).count() >= 3
        && !message.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

fn snippet(text: &str) -> String {
    let mut s: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        s.push('…');
    }
    format!("{s:?}")
}

/// The document as sync sees it (sector hashes, newest change id) and every row of its synced
/// tables and of `entity_changes`.
fn fingerprint(node: &Node) -> String {
    let (hashes, max) = canopy::sync::check::local_hashes(node.document(), &node.instance_id()).unwrap();
    let rows = node
        .document()
        .read(|conn| {
            let mut hasher = Sha256::new();
            for (table, pk) in canopy::sync::records::SYNCED_TABLES.iter().chain(&[("entity_changes", "id")]) {
                let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {pk}"))?;
                let columns = stmt.column_count();
                let mut rows = stmt.query([])?;
                while let Some(row) = rows.next()? {
                    for i in 0..columns {
                        hasher.update(format!("{:?}", row.get_ref(i)?).as_bytes());
                        hasher.update([0]);
                    }
                    hasher.update([1]);
                }
            }
            Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>())
        })
        .unwrap();
    format!("max change {max}, rows {rows}, sectors {hashes:?}")
}

/// Collects what went wrong (all of it, not the first), then fails once with the list.
struct Judge<'a> {
    node: &'a Node,
    before: String,
    checks: usize,
    findings: Vec<String>,
}

impl<'a> Judge<'a> {
    fn new(node: &'a Node) -> Judge<'a> {
        Judge { node, before: fingerprint(node), checks: 0, findings: Vec::new() }
    }

    fn fail(&mut self, finding: String) {
        self.findings.push(finding);
    }

    /// The document is as it was; `changed_ok` takes the new state as the baseline instead.
    fn document_kept(&mut self, label: &str, changed_ok: bool) {
        let now = fingerprint(self.node);
        if now != self.before {
            if !changed_ok {
                self.fail(format!("{label}: refused, yet the document changed"));
            }
            self.before = now;
        }
    }

    /// Answered, below 500; a 4xx carries a readable message.
    fn answered<'b>(&mut self, label: &str, answer: &'b Result<Answer, String>) -> Option<&'b Answer> {
        self.checks += 1;
        match answer {
            Err(e) => {
                self.fail(format!("{label}: {e}"));
                None
            }
            Ok(a) if a.status >= 500 => {
                self.fail(format!("{label}: answered {} {}", a.status, snippet(&a.body)));
                None
            }
            Ok(a) => {
                if (400..500).contains(&a.status) && !readable(&message_of(&a.body)) {
                    self.fail(format!("{label}: {} without a readable message: {}", a.status, snippet(&a.body)));
                }
                Some(a)
            }
        }
    }

    /// Bad input: 4xx with a readable message, and the document as it was.
    fn refused(&mut self, label: &str, answer: Result<Answer, String>) {
        if let Some(a) = self.answered(label, &answer) {
            if !(400..500).contains(&a.status) {
                self.fail(format!("{label}: accepted ({}) {}", a.status, snippet(&a.body)));
            }
        }
        self.document_kept(label, false);
    }

    /// Refused with exactly this status.
    fn refused_with(&mut self, label: &str, status: u16, answer: Result<Answer, String>) {
        if let Ok(a) = &answer {
            if a.status != status && a.status < 500 {
                self.fail(format!("{label}: {} instead of {status}: {}", a.status, snippet(&a.body)));
            }
        }
        self.refused(label, answer);
    }

    /// Input that may be harmless (a read, a title with odd characters): any answer below 500; a
    /// refusal (4xx) leaves the document as it was, an acceptance may change it.
    fn survived(&mut self, label: &str, answer: Result<Answer, String>) {
        let accepted = self.answered(label, &answer).is_some_and(|a| a.status < 400);
        self.document_kept(label, accepted);
    }

    /// Any answer below 500, and whatever it is, the document is as it was (a read, a delete of
    /// something that is not there).
    fn unchanged(&mut self, label: &str, answer: Result<Answer, String>) {
        self.answered(label, &answer);
        self.document_kept(label, false);
    }

    #[track_caller]
    fn finish(self, what: &str) {
        eprintln!("{what}: {} checks", self.checks);
        assert!(self.findings.is_empty(), "{what}: {} of {} checks failed:\n{}", self.findings.len(), self.checks, self.findings.join("\n"));
    }
}

/// Values no id, name or number should be.
const HOSTILE: &[&str] = &[
    "'; DROP TABLE notes;--",
    "root' OR '1'='1",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "a\u{0}b",
    "\u{1}\u{7}\u{8}\u{1b}[31m\r\n",
    "<script>alert(1)</script>",
    "%00%2e%2e%2f",
];

/// Every path component percent-encoded, so that the server, not the client, decodes it.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn addr_of(node: &Node) -> String {
    node.url().trim_start_matches("http://").to_owned()
}

/// One request as raw bytes over TCP (for what an HTTP client would refuse or normalise: `..` in a
/// path, control characters). The request says `Connection: close`, so the server ends the
/// connection after its answer. Returns the status (0: the server closed without answering) and
/// the answer.
async fn raw(addr: &str, request: &[u8]) -> (u16, String) {
    exchange(addr, request, false).await
}

/// A request whose body ends before its `Content-Length`: the write side is closed after the
/// bytes so the server sees the body end early (an answer is then optional; a 5xx or a success
/// is not).
async fn raw_cut_short(addr: &str, request: &[u8]) -> (u16, String) {
    exchange(addr, request, true).await
}

async fn exchange(addr: &str, request: &[u8], half_close: bool) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    if half_close {
        let _ = stream.shutdown().await;
    }
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).filter(|_| text.starts_with("HTTP/1.")).unwrap_or(0);
    (status, text)
}

/// Waits for the start-up maintenance (peers wait for it too) so the baseline is settled.
async fn settled(node: &Node) {
    let status = client().get(format!("{}/api/setup/status", node.url())).send().await.unwrap().status();
    assert_eq!(status, 200);
}

// =============================================================================================
// 1. Without credentials
// =============================================================================================

#[tokio::test(flavor = "multi_thread")]
async fn hostile_every_route_refuses_callers_without_credentials() {
    let node = Node::hub().await;
    ensure_password(&node);
    settled(&node).await;
    let http = client();
    let mut judge = Judge::new(&node);
    let forged_cookie = format!("canopy.sid.{}=forgedforgedforgedforged; trilium.sid=s%3Aforged", node.instance_id());
    for forged in [false, true] {
        for (method, pattern, access) in ROUTES {
            let path = concrete(pattern);
            let label = format!("{} {method} {path}", if forged { "forged credentials:" } else { "no credentials:" });
            let mut request = http.request(method.parse().unwrap(), format!("{}{path}", node.url()));
            if forged {
                request = request.header("Cookie", &forged_cookie).header("Authorization", "forged_token");
            }
            let answer = answer(request).await;
            let Some(a) = judge.answered(&label, &answer) else { continue };
            match access {
                Refused => {
                    let shape_ok = if path == "/ui" || path.starts_with("/ui/") {
                        serde_json::from_str::<AppError>(&a.body).ok() == Some(AppError::NotAuthenticated)
                    } else if path.starts_with("/etapi/") {
                        serde_json::from_str::<Value>(&a.body).is_ok_and(|v| v["code"] == "NOT_AUTHENTICATED")
                    } else {
                        a.body == canopy::auth::NOT_LOGGED_IN || (forged && a.body == "Token not found")
                    };
                    if a.status != 401 || !shape_ok || !a.set_cookie.is_empty() {
                        judge.fail(format!("{label}: {} {} (set-cookie {:?}), expected 401 in its caller's shape", a.status, snippet(&a.body), a.set_cookie));
                    }
                }
                ToLogin => {
                    if a.status != 303 || !(a.location == "/login" || a.location.starts_with("/login?next=")) || a.body.contains("Welcome to Canopy") {
                        judge.fail(format!("{label}: {} to {:?}, expected 303 to the login", a.status, a.location));
                    }
                }
                Access::Open { why, answers } => {
                    if !answers.contains(&a.status) {
                        judge.fail(format!("{label}: {} {} (open because: {why}; expected {answers:?})", a.status, snippet(&a.body)));
                    }
                    if *pattern == "/api/setup/sync-from-server" && serde_json::from_str::<Value>(&a.body).ok().map(|v| v["result"].clone()) != Some(json!("failure")) {
                        judge.fail(format!("{label}: {}", snippet(&a.body)));
                    }
                }
            }
        }
    }
    judge.document_kept("all of the above", false);
    judge.finish("routes without credentials");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_state_changing_calls_need_the_sessions_csrf_token() {
    let node = Node::hub().await;
    let browser = Browser::logged_in(&node).await;
    let other = Browser::logged_in(&node).await;
    settled(&node).await;
    let mut judge = Judge::new(&node);
    for (method, pattern, access) in ROUTES {
        // Safe methods need no token (and the live channel would stream); pages take no calls.
        if *method == "GET" || !matches!(access, Refused) && *pattern != "/logout" {
            continue;
        }
        let path = concrete(pattern);
        for (token_label, token) in [("no token", None), ("an empty token", Some("")), ("a wrong token", Some("wrong")), ("another session's token", Some(other.csrf.as_str()))] {
            let label = format!("session, {token_label}: {method} {path}");
            let mut request = browser.http.request(method.parse().unwrap(), format!("{}{path}", node.url())).form(&[("note_id", "root")]);
            if let Some(token) = token {
                request = request.header("X-CSRF-Token", token);
            }
            let answer = answer(request).await;
            if let Some(a) = judge.answered(&label, &answer) {
                let (status, shape_ok) = if path.starts_with("/etapi/") || SYNC_SESSION_ROUTES.iter().any(|r| path.starts_with(r)) {
                    // A browser session is neither an ETAPI token nor a sync login.
                    (401, true)
                } else if path == "/ui" || path.starts_with("/ui/") {
                    (403, serde_json::from_str::<AppError>(&a.body).ok() == Some(AppError::Forbidden(canopy::auth::CSRF_REFUSED.into())))
                } else {
                    (403, a.body == canopy::auth::CSRF_REFUSED)
                };
                if a.status != status || !shape_ok {
                    judge.fail(format!("{label}: {} {}, expected {status}", a.status, snippet(&a.body)));
                }
            }
            judge.document_kept(&label, false);
        }
    }
    // The session still works, with its token.
    let children = browser.server_fn_response("children", ("parent_note_id", "root"), Some(&browser.csrf)).await;
    assert_eq!(children.status(), 200);
    judge.finish("state-changing calls without the CSRF token");
}

/// The Rust files under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn hostile_every_route_of_the_routers_is_in_the_table() {
    let server = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let app = server.join("../app/src");
    let mut in_source = BTreeSet::new();
    let route = regex::Regex::new(r#"\.route\(\s*"([^"]+)""#).unwrap();
    for file in rust_files(&server.join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        // ETAPI's router is nested under /etapi.
        let prefix = if file.starts_with(server.join("src/etapi")) { "/etapi" } else { "" };
        for found in route.captures_iter(&text) {
            in_source.insert(format!("{prefix}{}", &found[1]));
        }
    }
    let server_fn = regex::Regex::new(r#"#\[server\(\s*prefix\s*=\s*"([^"]+)"\s*,\s*endpoint\s*=\s*"([^"]+)""#).unwrap();
    let page = regex::Regex::new(r#"StaticSegment\("([^"]*)"\)"#).unwrap();
    for file in rust_files(&app) {
        let text = std::fs::read_to_string(&file).unwrap();
        for found in server_fn.captures_iter(&text) {
            in_source.insert(format!("{}/{}", &found[1], &found[2]));
        }
        for line in text.lines().filter(|l| l.contains("<Route path=")) {
            let segments: Vec<String> = page.captures_iter(line).map(|c| c[1].to_owned()).filter(|s| !s.is_empty()).collect();
            in_source.insert(format!("/{}", segments.join("/")));
        }
    }
    assert!(in_source.len() > 80, "the routers were found: {in_source:?}");
    let table: BTreeSet<&str> = ROUTES.iter().map(|(_, path, _)| *path).collect();
    let missing: Vec<&String> = in_source.iter().filter(|p| !table.contains(p.as_str())).collect();
    assert!(missing.is_empty(), "routes missing from hostile::ROUTES: {missing:?}");
    eprintln!("{} routes in the source, {} rows in the table", in_source.len(), ROUTES.len());
}

// =============================================================================================
// 2. Valid credentials, bad input
// =============================================================================================

fn deep_json(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `[[[...]]]` as a value (built, not parsed: parsing stops at serde_json's depth limit).
fn nested(depth: usize) -> Value {
    let mut value = json!([]);
    for _ in 0..depth {
        value = json!([value]);
    }
    value
}

/// Searches a recursive parser could choke on.
fn deep_queries() -> Vec<(&'static str, String)> {
    vec![
        ("10,000 open parentheses", "(".repeat(10_000)),
        ("10,000 nested parentheses", format!("{}x{}", "(".repeat(10_000), ")".repeat(10_000))),
        ("10,000 nots", "not(".repeat(10_000)),
        // Long, but within what a URL may carry (an ETAPI search is a GET).
        ("a 30,000-character word", "x".repeat(30_000)),
        ("2,000 ors", vec!["#a"; 2_000].join(" or ")),
        ("10,000 quotes", "\"".repeat(10_000)),
    ]
}

/// Bodies no JSON endpoint should take: (what, bytes).
fn malformed_json_bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("truncated JSON", br#"{"title": "x", "parentNoteId": "ro"#.to_vec()),
        ("not JSON", b"{not json".to_vec()),
        ("not UTF-8", vec![0xff, 0xfe, b'{', 0x80]),
        ("empty", Vec::new()),
        ("JSON null", b"null".to_vec()),
        ("a JSON string", br#""title""#.to_vec()),
        ("a JSON array", b"[1, 2]".to_vec()),
        ("a lone surrogate", br#"{"title": "\ud800"}"#.to_vec()),
        ("a NUL byte in the JSON", b"{\"title\": \"a\x00b\"}".to_vec()),
        ("nested 100,000 deep", deep_json(100_000).into_bytes()),
        ("a value nested 1,000 deep", format!(r#"{{"title": {}}}"#, deep_json(1000)).into_bytes()),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_etapi_input_is_refused_and_changes_nothing() {
    let node = Node::hub().await;
    ensure_password(&node);
    settled(&node).await;
    let token = crate::common::etapi_token(&node.url(), PASSWORD).await;
    let http = client();
    let base = format!("{}/etapi", node.url());
    let send = |method: Method, path: &str, body: Option<Vec<u8>>| {
        let mut request = http.request(method, format!("{base}{path}")).header("Authorization", &token);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body);
        }
        answer(request)
    };
    let created: Value = serde_json::from_str(
        &send(Method::POST, "/create-note", Some(json!({"parentNoteId": "root", "title": "Target", "type": "text", "content": "<p>t</p>"}).to_string().into_bytes()))
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    let target = created["note"]["noteId"].as_str().unwrap().to_owned();
    let branch = created["branch"]["branchId"].as_str().unwrap().to_owned();
    let mut judge = Judge::new(&node);

    // Malformed bodies on every endpoint that takes JSON.
    let json_endpoints = [
        (Method::POST, "/create-note".to_owned()),
        (Method::PATCH, format!("/notes/{target}")),
        (Method::POST, "/branches".to_owned()),
        (Method::PATCH, format!("/branches/{branch}")),
        (Method::POST, "/attributes".to_owned()),
        (Method::POST, "/attachments".to_owned()),
    ];
    for (method, path) in &json_endpoints {
        for (what, body) in malformed_json_bodies() {
            judge.refused_with(&format!("ETAPI {method} {path}, {what}"), 400, send(method.clone(), path, Some(body)).await);
        }
    }
    // Fields of the wrong type.
    let wrong_types = [
        json!({"parentNoteId": 5, "title": "t", "type": "text", "content": ""}),
        json!({"parentNoteId": "root", "title": ["t"], "type": "text", "content": ""}),
        json!({"parentNoteId": "root", "title": "t", "type": {"a": 1}, "content": ""}),
        json!({"parentNoteId": "root", "title": "t", "type": "text", "content": 7}),
        json!({"parentNoteId": "root", "title": "t", "type": "text", "content": "", "notePosition": "first"}),
        json!({"parentNoteId": "root", "title": "t", "type": "text", "content": "", "notePosition": 1e300}),
        json!({"parentNoteId": "root", "title": "t", "type": "text", "content": "", "isExpanded": "yes"}),
        json!({"parentNoteId": "root", "title": "t", "type": "text", "content": "", "prefix": false}),
    ];
    for body in wrong_types {
        judge.refused_with(&format!("ETAPI create-note {body}"), 400, send(Method::POST, "/create-note", Some(body.to_string().into_bytes())).await);
    }
    judge.refused_with("ETAPI PATCH note, title a number", 400, send(Method::PATCH, &format!("/notes/{target}"), Some(br#"{"title": 5}"#.to_vec())).await);
    judge.refused_with("ETAPI PATCH branch, notePosition a string", 400, send(Method::PATCH, &format!("/branches/{branch}"), Some(br#"{"notePosition": "x"}"#.to_vec())).await);
    let attribute = |kind: &str, name: &str, value: &str| json!({"noteId": target, "type": kind, "name": name, "value": value}).to_string().into_bytes();
    judge.refused_with("ETAPI attribute, isInheritable a string", 400, send(Method::POST, "/attributes", Some(json!({"noteId": target, "type": "label", "name": "x", "value": "", "isInheritable": "yes"}).to_string().into_bytes())).await);

    // Hostile ids, names and values everywhere an id goes.
    for bad in HOSTILE {
        let id = encode(bad);
        for (method, path) in [
            (Method::GET, format!("/notes/{id}")),
            (Method::GET, format!("/notes/{id}/content")),
            (Method::GET, format!("/notes/{id}/attachments")),
            (Method::GET, format!("/notes/{id}/export")),
            (Method::POST, format!("/notes/{id}/revision")),
            (Method::POST, format!("/refresh-note-ordering/{id}")),
            (Method::GET, format!("/branches/{id}")),
            (Method::GET, format!("/attributes/{id}")),
            (Method::GET, format!("/attachments/{id}")),
            (Method::GET, format!("/attachments/{id}/content")),
            (Method::PUT, format!("/backup/{id}")),
            (Method::GET, format!("/inbox/{id}")),
            (Method::GET, format!("/calendar/days/{id}")),
            (Method::GET, format!("/calendar/weeks/{id}")),
            (Method::GET, format!("/calendar/months/{id}")),
            (Method::GET, format!("/calendar/years/{id}")),
            (Method::GET, format!("/notes/{target}/export?format={id}")),
        ] {
            judge.refused(&format!("ETAPI {method} {path}"), send(method.clone(), &path, None).await);
        }
        for (method, path) in [
            (Method::PATCH, format!("/notes/{id}")),
            (Method::PATCH, format!("/branches/{id}")),
            (Method::PATCH, format!("/attributes/{id}")),
            (Method::PATCH, format!("/attachments/{id}")),
        ] {
            judge.refused(&format!("ETAPI {method} {path}"), send(method.clone(), &path, Some(br#"{"title": "x"}"#.to_vec())).await);
        }
        judge.refused(&format!("ETAPI PUT content of {bad:?}"), send(Method::PUT, &format!("/notes/{id}/content"), Some(b"x".to_vec())).await);
        judge.refused(&format!("ETAPI PUT attachment content of {bad:?}"), send(Method::PUT, &format!("/attachments/{id}/content"), Some(b"x".to_vec())).await);
        // Trilium answers 204 to deleting what is not there; nothing may change either way.
        for path in [format!("/notes/{id}"), format!("/branches/{id}"), format!("/attributes/{id}"), format!("/attachments/{id}")] {
            judge.unchanged(&format!("ETAPI DELETE {path}"), send(Method::DELETE, &path, None).await);
        }
        let create = |field: &str| {
            let mut body = json!({"parentNoteId": "root", "title": "t", "type": "text", "content": ""});
            body[field] = json!(bad);
            body.to_string().into_bytes()
        };
        for field in ["parentNoteId", "noteId", "type", "dateCreated", "utcDateCreated"] {
            judge.refused_with(&format!("ETAPI create-note with {field} {bad:?}"), 400, send(Method::POST, "/create-note", Some(create(field))).await);
        }
        judge.refused_with(&format!("ETAPI branch of {bad:?}"), 400, send(Method::POST, "/branches", Some(json!({"noteId": bad, "parentNoteId": "root"}).to_string().into_bytes())).await);
        judge.refused_with(&format!("ETAPI branch under {bad:?}"), 400, send(Method::POST, "/branches", Some(json!({"noteId": target, "parentNoteId": bad}).to_string().into_bytes())).await);
        // A name is written as a valid one (each character that may not be in a name becomes `_`).
        judge.survived(&format!("ETAPI attribute named {bad:?}"), send(Method::POST, "/attributes", Some(attribute("label", bad, "v"))).await);
        judge.refused_with(&format!("ETAPI attribute of type {bad:?}"), 400, send(Method::POST, "/attributes", Some(attribute(bad, "x", "v"))).await);
        judge.refused(&format!("ETAPI relation to {bad:?}"), send(Method::POST, "/attributes", Some(attribute("relation", "x", bad))).await);
        let on_note = json!({"ownerId": bad, "role": "file", "mime": "text/plain", "title": "x", "content": "y"});
        judge.refused(&format!("ETAPI attachment of {bad:?}"), send(Method::POST, "/attachments", Some(on_note.to_string().into_bytes())).await);
        // As data (a title, a label's value, a search) the same text is only text.
        let titled = json!({"parentNoteId": target, "title": bad, "type": "text", "content": bad});
        judge.survived(&format!("ETAPI note titled {bad:?}"), send(Method::POST, "/create-note", Some(titled.to_string().into_bytes())).await);
        judge.survived(&format!("ETAPI label valued {bad:?}"), send(Method::POST, "/attributes", Some(attribute("label", "x", bad))).await);
        judge.unchanged(&format!("ETAPI search {bad:?}"), send(Method::GET, &format!("/notes?search={id}"), None).await);
    }
    for (what, query) in deep_queries() {
        judge.unchanged(&format!("ETAPI search of {what}"), send(Method::GET, &format!("/notes?search={}", encode(&query)), None).await);
    }
    // Dates: not dates, impossible dates. Far-future dates that are real ones are Trilium's to
    // accept in ETAPI (a note's creation date is only shown); in sync they decide conflicts (below).
    for date in ["yesterday", "2024-13-01 00:00:00.000Z", "2024-02-30 00:00:00.000Z", "99999-01-01 00:00:00.000Z", "2024-01-01 25:00:00.000Z", "2024-01-01T00:00:00.000Z\u{0}"] {
        let body = json!({"parentNoteId": "root", "title": "t", "type": "text", "content": "", "utcDateCreated": date});
        judge.refused_with(&format!("ETAPI create-note dated {date:?}"), 400, send(Method::POST, "/create-note", Some(body.to_string().into_bytes())).await);
        judge.refused_with(&format!("ETAPI PATCH dated {date:?}"), 400, send(Method::PATCH, &format!("/notes/{target}"), Some(json!({"utcDateCreated": date}).to_string().into_bytes())).await);
    }
    for path in ["/calendar/days/2024-13-01", "/calendar/days/2024-02-30", "/calendar/days/99999-01-01", "/calendar/weeks/2024-00-00", "/calendar/months/2024-13", "/calendar/months/0000-00", "/calendar/years/-1", "/calendar/years/99999", "/inbox/2024-1-1"] {
        judge.refused_with(&format!("ETAPI GET {path}"), 400, send(Method::GET, path, None).await);
    }
    let far = json!({"parentNoteId": target, "title": "far", "type": "text", "content": "", "utcDateCreated": "9999-12-31 23:59:59.999Z", "dateCreated": "9999-12-31 23:59:59.999+0000"});
    judge.survived("ETAPI create-note dated 9999", send(Method::POST, "/create-note", Some(far.to_string().into_bytes())).await);
    // Imports: not a zip, a truncated zip, a zip whose entries climb out of any directory.
    let zip_of = |names: &[&str]| {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for name in names {
            zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut zip, b"<p>climbed</p>").unwrap();
        }
        zip.finish().unwrap().into_inner()
    };
    let evil = std::env::temp_dir().join(format!("canopy-hostile-{}.html", std::process::id()));
    let traversal = zip_of(&["../../../../../../../../tmp/x.html", &format!("../../../../../../../..{}", evil.display()), "/etc/cron.d/x.html"]);
    let import = |bytes: Vec<u8>| answer(http.post(format!("{base}/notes/{target}/import")).header("Authorization", &token).header("Content-Type", "application/octet-stream").body(bytes));
    judge.refused_with("ETAPI import of bytes that are no zip", 400, import(b"PK\x03\x04 garbage".to_vec()).await);
    judge.refused_with("ETAPI import of a truncated zip", 400, import(traversal[..traversal.len() / 2].to_vec()).await);
    judge.survived("ETAPI import of a zip with ../ entries", import(traversal).await);
    assert!(!evil.exists(), "an import wrote outside the document: {}", evil.display());
    // Oversized: 413 with a message, nothing stored.
    let big = format!(r#"{{"parentNoteId": "root", "title": "big", "type": "text", "content": "{}"}}"#, "x".repeat(canopy::etapi::MAX_BODY_BYTES));
    match send(Method::POST, "/create-note", Some(big.into_bytes())).await {
        // The server may cut the connection instead of reading 64 MB it will refuse.
        Err(e) if e.starts_with("no answer") => judge.document_kept("ETAPI oversized create-note (connection cut)", false),
        other => judge.refused_with("ETAPI oversized create-note", 413, other),
    }
    // A body that ends before its Content-Length, and a path that climbs, sent raw.
    let addr = addr_of(&node);
    let head = format!("PUT /etapi/notes/{target}/content HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n<p>only part");
    let (status, text) = raw_cut_short(&addr, head.as_bytes()).await;
    judge.checks += 1;
    if status >= 500 || (status != 0 && status < 400) {
        judge.fail(format!("ETAPI truncated body: {status} {}", snippet(&text)));
    }
    judge.document_kept("ETAPI truncated body", false);
    for path in ["/etapi/notes/../../../../etc/passwd", "/etapi/../../../../etc/passwd", "/etapi/notes/%2e%2e%2f%2e%2e%2fetc%2fpasswd"] {
        let (status, text) = raw(&addr, format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n").as_bytes()).await;
        judge.checks += 1;
        if !(400..500).contains(&status) || text.contains("root:x:0:0") {
            judge.fail(format!("ETAPI GET {path}: {status} {}", snippet(&text)));
        }
    }
    judge.document_kept("ETAPI raw paths", false);
    judge.finish("ETAPI with bad input");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_static_paths_never_leave_the_site() {
    let node = Node::hub().await;
    ensure_password(&node);
    let addr = addr_of(&node);
    let mut judge = Judge::new(&node);
    for path in [
        "/pkg/../../../../../../etc/passwd",
        "/pkg/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/pkg/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/pkg/..\\..\\..\\..\\..\\etc\\passwd",
        "/pkg/%00",
        "/pkg//etc/passwd",
        "/favicon.svg/../../../../../etc/passwd",
        "/../../../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/api/images/root/..%2f..%2f..%2fetc%2fpasswd",
        "/setup/../../../../etc/passwd",
    ] {
        let (status, text) = raw(&addr, format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await;
        judge.checks += 1;
        // A page path without a session goes to the login (303); a static path is not found.
        if status == 0 || status >= 500 || status == 200 || text.contains("root:x:0:0") {
            judge.fail(format!("GET {path}: {status} {}", snippet(&text)));
        }
    }
    // Request lines and headers no client should send: the server says no and stays up.
    for request in [
        b"GET /a\x01b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nCookie: a\x00b\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nnope\r\n".to_vec(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
    ] {
        let (status, text) = raw(&addr, &request).await;
        judge.checks += 1;
        // 400, a redirect to the login, or the connection closed: never 5xx, never a page.
        if status >= 500 || status == 200 {
            judge.fail(format!("{}: {status} {}", snippet(&String::from_utf8_lossy(&request)), snippet(&text)));
        }
    }
    let health = client().get(format!("{}/api/health-check", node.url())).send().await.unwrap();
    assert_eq!(health.status(), 200);
    judge.document_kept("static paths", false);
    judge.finish("static paths");
}

/// Every server function with the fields it takes: a plausible value for each.
const SERVER_FNS: &[(&str, &[&str])] = &[
    ("sync_options", &[]),
    ("save_sync_options", &["host", "timeout_ms", "proxy", "cleared"]),
    ("test_sync", &[]),
    ("revisions", &["note_id"]),
    ("revision/open", &["note_id", "revision_id"]),
    ("revision/restore", &["revision_id"]),
    ("revision/delete", &["revision_id"]),
    ("recent_changes", &[]),
    ("undelete", &["note_id"]),
    ("children", &["parent_note_id"]),
    ("tree/snapshot", &["open_note_id"]),
    ("tree/reveal", &["note_id"]),
    ("tree/create", &["parent_note_id", "after_branch_id", "note_type"]),
    ("tree/rename", &["note_id", "title"]),
    ("tree/delete", &["branch_id"]),
    ("tree/undo_delete", &["delete_id"]),
    ("tree/move", &["branch_id", "position", "target"]),
    ("tree/clone", &["note_id", "parent_note_id", "prefix"]),
    ("tree/expanded", &["branch_id", "expanded"]),
    ("tree/find", &["query"]),
    ("quick_search", &["query"]),
    ("jump_titles", &["query"]),
    ("full_search", &["query"]),
    ("save_search", &["query"]),
    ("saved_search", &["note_id"]),
    ("protected/status", &[]),
    ("protected/unlock", &["password"]),
    ("protected/lock", &[]),
    ("protected/set", &["note_id", "protected", "subtree"]),
    ("protected/change_password", &["old_password", "new_password"]),
    ("protected/timeout", &["seconds"]),
    ("note", &["note_id"]),
    ("note_source", &["note_id"]),
    ("save_note", &["note_id", "content", "expected_blob_id"]),
    ("save_note_keeping_stored", &["note_id", "content"]),
    ("rename_note", &["note_id", "title"]),
    ("set_note_type", &["note_id", "note_type", "mime"]),
    ("search_notes", &["query"]),
    ("sync_overview", &[]),
    ("sync_now", &[]),
    ("sync_deep_check", &[]),
    ("attributes", &["note_id"]),
    ("attribute_add", &["note_id", "kind", "name", "value", "is_inheritable"]),
    ("attribute_add_text", &["note_id", "text"]),
    ("attribute_update", &["note_id", "attribute_id", "name", "value", "is_inheritable"]),
    ("attribute_delete", &["note_id", "attribute_id"]),
    ("attribute_targets", &["query"]),
];

/// How a field must treat a hostile value.
#[derive(PartialEq)]
enum Field {
    /// Names an entity: a write must refuse it; a read may answer "nothing", changing nothing.
    Id,
    /// A boolean, an enum or a number: refused.
    Typed,
    /// Text a person may write (a title, a search): any answer below 500.
    Data,
}

fn field_kind(name: &str) -> Field {
    match name {
        "expanded" | "is_inheritable" | "protected" | "subtree" | "kind" | "position" | "seconds" | "timeout_ms" | "note_type" | "host" => Field::Typed,
        _ if name.ends_with("_id") || name == "target" => Field::Id,
        _ => Field::Data,
    }
}

/// A plausible value for a field (the one not under test); `None` for an optional one (left out).
fn plausible(name: &str) -> Option<&'static str> {
    Some(match name {
        "note_id" | "parent_note_id" | "target" => "root",
        "open_note_id" | "after_branch_id" | "expected_blob_id" | "host" | "timeout_ms" | "proxy" | "cleared" | "prefix" => return None,
        "branch_id" => "none_root",
        "revision_id" | "attribute_id" | "delete_id" => "aaaaaaaaaaaa",
        "title" => "t",
        "content" => "<p>x</p>",
        "query" | "name" => "x",
        "value" => "v",
        "text" => "#x",
        "note_type" => "text",
        "mime" => "text/html",
        "kind" => "Label",
        "position" => "Into",
        "expanded" | "is_inheritable" | "protected" | "subtree" => "false",
        "password" | "old_password" | "new_password" => "not-the-password",
        "seconds" => "600",
        other => panic!("no plausible value for {other}"),
    })
}

/// Server functions that read only: a hostile id gets "nothing there" or a refusal.
fn reads_only(name: &str) -> bool {
    matches!(
        name,
        "sync_options" | "revisions" | "revision/open" | "recent_changes" | "children" | "tree/snapshot" | "tree/reveal" | "tree/find"
            | "quick_search" | "jump_titles" | "full_search" | "saved_search" | "protected/status" | "note" | "note_source"
            | "search_notes" | "sync_overview" | "attributes" | "attribute_targets"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_server_function_input_is_refused_and_changes_nothing() {
    let node = Node::hub().await;
    let browser = Browser::logged_in(&node).await;
    settled(&node).await;
    let call = |name: &str, fields: Vec<(String, String)>| {
        answer(browser.http.post(format!("{}/ui/{name}", browser.base)).header("X-CSRF-Token", &browser.csrf).form(&fields))
    };
    let raw_call = |name: &str, content_type: &str, body: Vec<u8>| {
        answer(browser.http.post(format!("{}/ui/{name}", browser.base)).header("X-CSRF-Token", &browser.csrf).header("Content-Type", content_type).body(body))
    };
    let mut judge = Judge::new(&node);
    let mut long = "x".repeat(100_000);
    long.push('\u{0}');
    let values: Vec<&str> = HOSTILE.iter().copied().chain([long.as_str(), ""]).collect();
    for (name, fields) in SERVER_FNS {
        // One field hostile at a time, the others plausible.
        for field in *fields {
            for bad in values.iter().filter(|v| !(v.is_empty() && field_kind(field) == Field::Typed)) {
                let form: Vec<(String, String)> = fields
                    .iter()
                    .filter_map(|f| if f == field { Some((f.to_string(), bad.to_string())) } else { plausible(f).map(|v| (f.to_string(), v.to_owned())) })
                    .collect();
                let label = format!("/ui/{name} with {field} = {}", snippet(bad));
                let answer = call(name, form).await;
                match field_kind(field) {
                    // An optional field sent empty is a form's way of leaving it out.
                    _ if bad.is_empty() && plausible(field).is_none() => judge.survived(&label, answer),
                    Field::Id if reads_only(name) => judge.unchanged(&label, answer),
                    Field::Id | Field::Typed => judge.refused(&label, answer),
                    Field::Data => judge.survived(&label, answer),
                }
            }
        }
        let required = fields.iter().any(|f| plausible(f).is_some());
        // Bodies that are not the form it takes.
        let wrong_shapes: Vec<(&str, &str, Vec<u8>)> = vec![
            ("no fields at all", "application/x-www-form-urlencoded", Vec::new()),
            ("a JSON body", "application/json", json!({"note_id": "root"}).to_string().into_bytes()),
            ("not UTF-8", "application/x-www-form-urlencoded", vec![0xff, 0xfe, b'=', 0x80]),
            ("nested keys", "application/x-www-form-urlencoded", b"note_id[a][b]=1&query[]=x&title[x]=y".to_vec()),
            ("a key nested 1,000 deep", "application/x-www-form-urlencoded", format!("a{}=1", "[b]".repeat(1000)).into_bytes()),
            ("percent signs that decode to nothing", "application/x-www-form-urlencoded", b"%zz%=%&%=%".to_vec()),
        ];
        for (what, content_type, body) in wrong_shapes {
            let label = format!("/ui/{name} with {what}");
            if required {
                judge.refused(&label, raw_call(name, content_type, body).await);
            } else {
                judge.survived(&label, raw_call(name, content_type, body).await);
            }
        }
        // Typed fields with values of another type.
        for field in fields.iter().filter(|f| field_kind(f) == Field::Typed && **f != "host") {
            for bad in ["maybe", "1e999", "-1", "true; DROP TABLE notes", "Into\u{0}"] {
                let form: Vec<(String, String)> = fields
                    .iter()
                    .filter_map(|f| if f == field { Some((f.to_string(), bad.to_owned())) } else { plausible(f).map(|v| (f.to_string(), v.to_owned())) })
                    .collect();
                let label = format!("/ui/{name} with {field} = {bad:?}");
                // Seconds and timeouts are numbers: -1 is refused as out of range, like the rest.
                judge.refused(&label, call(name, form).await);
            }
        }
    }
    for name in ["quick_search", "jump_titles", "full_search", "search_notes", "tree/find", "attribute_targets", "save_search"] {
        for (what, query) in deep_queries() {
            judge.survived(&format!("/ui/{name} with {what}"), call(name, vec![("query".into(), query)]).await);
        }
    }
    // A save far over the body limit: 413 (or the connection cut), nothing stored.
    let big = format!("note_id=root&content={}", "x".repeat(canopy::etapi::MAX_BODY_BYTES));
    match raw_call("save_note", "application/x-www-form-urlencoded", big.into_bytes()).await {
        Err(e) if e.starts_with("no answer") => judge.document_kept("/ui/save_note oversized (connection cut)", false),
        // 400: server_fn reports the body limit as arguments it could not read ("length limit exceeded").
        other => judge.refused("/ui/save_note oversized", other),
    }
    judge.finish("server functions with bad input");
}

// =============================================================================================
// Sync: logins and pushes
// =============================================================================================

/// A sync session with the hub: the cookie a Trilium client sends back.
async fn sync_login(hub: &Node) -> String {
    let body = crate::sync::login_body(hub, 32.into(), None, chrono::Duration::zero());
    let response = client().post(format!("{}/api/login/sync", hub.url())).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200, "sync login");
    response.headers()["set-cookie"].to_str().unwrap().to_owned()
}

fn signed(secret: &str, timestamp: &str, sync_version: Value) -> Value {
    json!({ "timestamp": timestamp, "syncVersion": sync_version, "hash": canopy::sync::hub::login_hash(secret, timestamp) })
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_sync_logins_forged_or_stale_are_refused() {
    let hub = Node::hub().await;
    settled(&hub).await;
    let secret = hub.document().read(|c| canopy::db::options::get(c, "documentSecret")).unwrap().unwrap();
    let now = || canopy::hashing::utc_date_time_str(chrono::Utc::now());
    let at = |minutes: i64| canopy::hashing::utc_date_time_str(chrono::Utc::now() + chrono::Duration::minutes(minutes));
    let http = client();
    let login = |body: Vec<u8>| answer(http.post(format!("{}/api/login/sync", hub.url())).header("Content-Type", "application/json").body(body));
    let mut judge = Judge::new(&hub);
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |what: &str, body: Value| cases.push((what.to_owned(), body.to_string().into_bytes()));
    let t = now();
    add("a random hash", json!({"timestamp": t, "syncVersion": 32, "hash": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}));
    add("a hash that is no base64", json!({"timestamp": t, "syncVersion": 32, "hash": "'; DROP TABLE notes;--"}));
    add("an empty hash", json!({"timestamp": t, "syncVersion": 32, "hash": ""}));
    add("the HMAC of another secret", signed("another document's secret", &t, json!(32)));
    add("the HMAC with an empty secret", signed("", &t, json!(32)));
    let mut altered = signed(&secret, &t, json!(32));
    altered["timestamp"] = json!(at(1));
    add("a timestamp changed after signing", altered);
    add("a correctly signed login ten minutes old (a replay)", signed(&secret, &at(-10), json!(32)));
    add("a correctly signed login ten minutes ahead", signed(&secret, &at(10), json!(32)));
    add("signed for the year 9999", signed(&secret, "9999-12-31 23:59:59.999Z", json!(32)));
    add("signed with a timestamp that is no date", signed(&secret, "yesterday", json!(32)));
    add("signed with a NUL in the timestamp", signed(&secret, &format!("{t}\u{0}"), json!(32)));
    add("signed with an empty timestamp", signed(&secret, "", json!(32)));
    add("sync version as a string", signed(&secret, &t, json!("32")));
    add("sync version 33", signed(&secret, &t, json!(33)));
    add("sync version null", signed(&secret, &t, Value::Null));
    add("no hash", json!({"timestamp": t, "syncVersion": 32}));
    add("no timestamp", json!({"syncVersion": 32, "hash": "AAAA"}));
    add("hash a number", json!({"timestamp": t, "syncVersion": 32, "hash": 5}));
    add("timestamp an object", json!({"timestamp": {"a": 1}, "syncVersion": 32, "hash": "AAAA"}));
    add("database version a string", {
        let mut v = signed(&secret, &t, json!(32));
        v["canopyDbVersion"] = json!("228");
        v
    });
    for (what, body) in malformed_json_bodies() {
        cases.push((what.to_owned(), body));
    }
    cases.push(("a 3 MB body".to_owned(), format!(r#"{{"timestamp": "{}"}}"#, "x".repeat(3_000_000)).into_bytes()));
    for (what, body) in cases {
        let answer = login(body).await;
        if let Ok(a) = &answer {
            if !a.set_cookie.is_empty() {
                judge.fail(format!("sync login with {what}: a session was given: {}", a.set_cookie));
            }
        }
        judge.refused(&format!("sync login with {what}"), answer);
    }
    // A session cookie nobody was given opens nothing.
    for cookie in ["trilium.sid=s%3Aforged", "trilium.sid=", "trilium.sid=s%3A'; DROP TABLE notes;--", "trilium.sid=../../etc/passwd"] {
        let a = answer(http.get(format!("{}/api/sync/changed?instanceId=x&lastEntityChangeId=0", hub.url())).header("Cookie", cookie)).await;
        judge.refused_with(&format!("pull with the cookie {cookie:?}"), 401, a);
    }
    judge.finish("sync logins");
}

/// A replayed sync login (the same signed body again, within the clock window) opens nothing; a new
/// login with its own timestamp still does.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_a_replayed_sync_login_is_refused() {
    let hub = Node::hub().await;
    let body = crate::sync::login_body(&hub, 32.into(), None, chrono::Duration::zero());
    let http = client();
    let first = http.post(format!("{}/api/login/sync", hub.url())).json(&body).send().await.unwrap();
    assert_eq!(first.status(), 200);
    for _ in 0..2 {
        let replay = answer(http.post(format!("{}/api/login/sync", hub.url())).json(&body)).await.unwrap();
        assert_eq!(replay.status, 401, "the same signed timestamp again: {}", replay.body);
        assert!(replay.set_cookie.is_empty(), "a replay opened a session");
        assert!(message_of(&replay.body).contains("already used"), "{}", replay.body);
    }
    let fresh = crate::sync::login_body(&hub, 32.into(), None, chrono::Duration::zero());
    let again = http.post(format!("{}/api/login/sync", hub.url())).json(&fresh).send().await.unwrap();
    assert_eq!(again.status(), 200, "a new login after the replays");
}

/// Records of a valid push from a peer, made from the hub's own: new ids for a blob, a note and its
/// branch under root.
struct Templates {
    blob: Value,
    note: Value,
    branch: Value,
}

async fn templates(hub: &Node, cookie: &str) -> Templates {
    let page: Value = client()
        .get(format!("{}/api/sync/changed?instanceId=hostilePeer1&lastEntityChangeId=0", hub.url()))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let records = page["entityChanges"].as_array().unwrap();
    let of = |name: &str, id: &str| {
        records
            .iter()
            .find(|r| r["entityChange"]["entityName"] == name && r["entityChange"]["entityId"] == id && r["entity"].is_object())
            .unwrap_or_else(|| panic!("no {name} {id} in the hub's records"))
            .clone()
    };
    let note = records
        .iter()
        .find(|r| r["entityChange"]["entityName"] == "notes" && r["entity"]["noteId"] != "root" && r["entity"]["blobId"].is_string())
        .expect("a note")
        .clone();
    let blob = of("blobs", note["entity"]["blobId"].as_str().unwrap());
    let branch = records
        .iter()
        .find(|r| r["entityChange"]["entityName"] == "branches" && r["entity"]["noteId"] == note["entity"]["noteId"])
        .expect("its branch")
        .clone();
    Templates { blob, note, branch }
}

fn random_id(rng: &mut StdRng) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..12).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

/// A new note (blob, note, branch under root) as a peer pushes it.
fn new_note(t: &Templates, rng: &mut StdRng) -> Vec<Value> {
    let (note_id, blob_id) = (random_id(rng), random_id(rng));
    let now = canopy::hashing::utc_date_time_str(chrono::Utc::now());
    let stamp = |record: &Value, entity_id: &str, rng: &mut StdRng| {
        let mut r = record.clone();
        r["entityChange"]["entityId"] = json!(entity_id);
        r["entityChange"]["changeId"] = json!(random_id(rng));
        r["entityChange"]["utcDateChanged"] = json!(now);
        r["entityChange"]["instanceId"] = json!("hostilePeer1");
        r["entityChange"]["id"] = Value::Null;
        r
    };
    let mut blob = stamp(&t.blob, &blob_id, rng);
    blob["entity"]["blobId"] = json!(blob_id);
    blob["entity"]["content"] = json!(base64::engine::general_purpose::STANDARD.encode(format!("<p>pushed {note_id}</p>")));
    let mut note = stamp(&t.note, &note_id, rng);
    note["entity"]["noteId"] = json!(note_id);
    note["entity"]["blobId"] = json!(blob_id);
    note["entity"]["title"] = json!(format!("pushed {note_id}"));
    let branch_id = format!("root_{note_id}");
    let mut branch = stamp(&t.branch, &branch_id, rng);
    branch["entity"]["branchId"] = json!(branch_id);
    branch["entity"]["noteId"] = json!(note_id);
    branch["entity"]["parentNoteId"] = json!("root");
    vec![blob, note, branch]
}

fn push_body(records: Vec<Value>) -> Value {
    json!({ "entities": records, "instanceId": "hostilePeer1" })
}

/// One `PUT /api/sync/update` page: its headers (name, value) and body.
type Page = (Vec<(String, String)>, Vec<u8>);

async fn push_page(hub: &Node, cookie: &str, (headers, body): &Page) -> Result<Answer, String> {
    let mut request = client().put(format!("{}/api/sync/update", hub.url())).header("Cookie", cookie).header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    answer(request.body(body.clone())).await
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_sync_payloads_are_refused_and_change_nothing() {
    let hub = Node::hub().await;
    settled(&hub).await;
    let cookie = sync_login(&hub).await;
    let t = templates(&hub, &cookie).await;
    let mut rng = StdRng::seed_from_u64(7);
    let mut judge = Judge::new(&hub);
    let single = |body: Vec<u8>| -> Page { (Vec::new(), body) };
    let push = |value: Value| single(value.to_string().into_bytes());

    // A valid push is taken (the shape below is right).
    let valid = new_note(&t, &mut rng);
    let a = push_page(&hub, &cookie, &push(push_body(valid.clone()))).await;
    judge.survived("a valid push", a);
    let title: Option<String> = hub.note(valid[1]["entity"]["noteId"].as_str().unwrap()).map(|n| n.title);
    assert!(title.is_some_and(|t| t.starts_with("pushed")), "the valid push was applied");

    let mut cases: Vec<(String, Page)> = Vec::new();
    for (what, body) in malformed_json_bodies() {
        cases.push((what.to_owned(), single(body)));
    }
    let mut with = |what: &str, edit: &dyn Fn(&mut Vec<Value>)| {
        let mut records = new_note(&t, &mut rng);
        edit(&mut records);
        cases.push((what.to_owned(), push(push_body(records))));
    };
    with("entities not records", &|r| *r = vec![json!(5), json!("x")]);
    with("an entityChange of the wrong types", &|r| r[1]["entityChange"] = json!({"entityName": 5, "entityId": [], "isErased": "yes", "id": "x"}));
    with("isErased a string", &|r| r[1]["entityChange"]["isErased"] = json!("false"));
    with("no changeId", &|r| {
        r[1]["entityChange"].as_object_mut().unwrap().remove("changeId");
    });
    with("no entityChange", &|r| {
        r[1].as_object_mut().unwrap().remove("entityChange");
    });
    for name in ["evil_table", "notes; DROP TABLE notes;--", "sqlite_master", "../../etc/passwd", "", "NOTES", "notes\u{0}"] {
        with(&format!("the entity name {name:?}"), &|r| r[1]["entityChange"]["entityName"] = json!(name));
    }
    with("a row that is not an object", &|r| r[1]["entity"] = json!("row"));
    with("a row without its primary key", &|r| {
        r[1]["entity"].as_object_mut().unwrap().remove("noteId");
    });
    with("a primary key that is a number", &|r| r[1]["entity"]["noteId"] = json!(5));
    with("blob content that is no base64", &|r| r[0]["entity"]["content"] = json!("'; DROP TABLE notes;-- not base64!"));
    with("a row nested 1,000 deep", &|r| r[1]["entity"]["title"] = nested(1000));
    with("note positions that are no numbers", &|r| {
        r[2]["entityChange"]["entityName"] = json!("note_reordering");
        r[2]["entityChange"]["entityId"] = json!("root");
        r[2]["entity"] = json!({"root_x": "first"});
    });
    cases.push(("instanceId a number".to_owned(), push(json!({"entities": [], "instanceId": 5}))));
    cases.push(("entities an object".to_owned(), push(json!({"entities": {}, "instanceId": "p"}))));
    cases.push(("no instanceId".to_owned(), push(json!({"entities": []}))));
    // The first of many bad records stops the batch: nothing of the good ones before it is kept.
    let mut many = Vec::new();
    for _ in 0..600 {
        many.extend(new_note(&t, &mut rng));
    }
    let mut bad_last = many.clone();
    bad_last.push(json!({"entityChange": {"entityName": "evil_table", "entityId": "x", "hash": "h", "isErased": 0, "changeId": "c", "componentId": "c", "instanceId": "i", "isSynced": 1, "utcDateChanged": "2024-01-01 00:00:00.000Z"}, "entity": {}}));
    cases.push(("1,800 good records, then one of an unknown entity".to_owned(), push(push_body(bad_last))));
    cases.push(("a 3 MB push".to_owned(), single(format!(r#"{{"entities": [], "instanceId": "{}"}}"#, "x".repeat(3_000_000)).into_bytes())));
    // Pages: a page of a push that was never started, a multi-page push without its id.
    let body = push_body(new_note(&t, &mut rng)).to_string().into_bytes();
    let pages = |pairs: &[(&str, &str)]| -> Vec<(String, String)> { pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect() };
    cases.push(("page 2 of 2 of a push never started".to_owned(), (pages(&[("pageCount", "2"), ("pageIndex", "1"), ("requestId", "neverStarted")]), body.clone())));
    cases.push(("page 1 of 2 without a requestId".to_owned(), (pages(&[("pageCount", "2"), ("pageIndex", "0")]), body.clone())));
    cases.push(("page 5 of 2 of a push never started".to_owned(), (pages(&[("pageCount", "2"), ("pageIndex", "4"), ("requestId", "neverStarted")]), body.clone())));
    for (what, (headers, body)) in cases {
        let label = format!("sync push, {what}");
        judge.refused(&label, push_page(&hub, &cookie, &(headers, body)).await);
    }
    // A multi-page push whose last page does not complete valid JSON: nothing is applied.
    let text = push_body(new_note(&t, &mut rng)).to_string();
    let (first, second) = text.split_at(text.len() / 2);
    let start = (pages(&[("pageCount", "2"), ("pageIndex", "0"), ("requestId", "halfPush")]), first.as_bytes().to_vec());
    judge.unchanged("sync push, first of two pages", push_page(&hub, &cookie, &start).await);
    let end = (pages(&[("pageCount", "2"), ("pageIndex", "1"), ("requestId", "halfPush")]), second[..second.len() - 3].as_bytes().to_vec());
    judge.refused("sync push, a last page cut short", push_page(&hub, &cookie, &end).await);
    // Two pages completing a valid push are taken.
    let text = push_body(new_note(&t, &mut rng)).to_string();
    let (first, second) = text.split_at(text.len() / 3);
    let start = (pages(&[("pageCount", "2"), ("pageIndex", "0"), ("requestId", "goodPush")]), first.as_bytes().to_vec());
    judge.unchanged("sync push, page 1 of 2 (kept until the last)", push_page(&hub, &cookie, &start).await);
    let end = (pages(&[("pageCount", "2"), ("pageIndex", "1"), ("requestId", "goodPush")]), second.as_bytes().to_vec());
    judge.survived("sync push, page 2 of 2", push_page(&hub, &cookie, &end).await);
    // Other sync calls with bad parameters.
    let http = client();
    for query in ["instanceId=x&lastEntityChangeId='; DROP TABLE notes;--", "instanceId=x&lastEntityChangeId=", "instanceId=x", "lastEntityChangeId=0", "instanceId=x&lastEntityChangeId=99999999999999999999999"] {
        let a = answer(http.get(format!("{}/api/sync/changed?{query}", hub.url())).header("Cookie", &cookie)).await;
        judge.refused(&format!("pull with {query}"), a);
    }
    for query in ["instanceId=x&after=abc", "instanceId=x", "after=0"] {
        let a = answer(http.get(format!("{}/api/canopy/changes?{query}", hub.url())).header("Cookie", &cookie)).await;
        judge.refused(&format!("long poll with {query}"), a);
    }
    for (entity, sector) in [("evil_table".to_owned(), "a".to_owned()), ("notes".into(), encode("'; DROP")), ("notes".into(), "%00".into()), (encode("../../etc"), "a".into()), ("notes".into(), "".into())] {
        let a = answer(http.post(format!("{}/api/sync/queue-sector/{entity}/{sector}", hub.url())).header("Cookie", &cookie)).await;
        // An unknown entity has nothing to queue: 204 or a refusal, and nothing changes.
        judge.unchanged(&format!("queue sector {entity}/{sector}"), a);
    }
    let addr = addr_of(&hub);
    let truncated = format!("PUT /api/sync/update HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{}", &text[..text.len() / 2]);
    let (status, reply) = raw_cut_short(&addr, truncated.as_bytes()).await;
    judge.checks += 1;
    if status >= 500 || (status != 0 && status < 400) {
        judge.fail(format!("sync push cut short of its Content-Length: {status} {}", snippet(&reply)));
    }
    judge.document_kept("sync push cut short of its Content-Length", false);
    judge.finish("sync payloads");
}

/// Pushed records a peer should never send: each is refused with a 4xx naming the fault and changes
/// nothing, or, where Trilium stores it as it comes and refusing would stop a real peer's sync, is
/// stored without harm.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_sync_records_with_bad_values_are_refused_or_harmless() {
    let hub = Node::hub().await;
    settled(&hub).await;
    let cookie = sync_login(&hub).await;
    let t = templates(&hub, &cookie).await;
    let mut rng = StdRng::seed_from_u64(11);
    let mut judge = Judge::new(&hub);
    type Edit = Box<dyn Fn(&mut Vec<Value>)>;
    let refused: Vec<(&str, Edit)> = vec![
        ("a branch row without its parent", Box::new(|r| {
            r[2]["entity"].as_object_mut().unwrap().remove("parentNoteId");
        })),
        ("a note id with a NUL", Box::new(|r| {
            r[1]["entityChange"]["entityId"] = json!("a\u{0}b");
            r[1]["entity"]["noteId"] = json!("a\u{0}b");
        })),
        ("an empty note id", Box::new(|r| {
            r[1]["entityChange"]["entityId"] = json!("");
            r[1]["entity"]["noteId"] = json!("");
        })),
        ("a row whose key is not the change's entity id", Box::new(|r| r[1]["entity"]["noteId"] = json!("someOtherNote"))),
    ];
    for (what, edit) in refused {
        let mut records = new_note(&t, &mut rng);
        edit(&mut records);
        let page: Page = (Vec::new(), push_body(records).to_string().into_bytes());
        judge.refused(&format!("sync push, {what}"), push_page(&hub, &cookie, &page).await);
    }
    // Stored as they come, as Trilium does: ids are bound as values, never spliced into SQL or paths.
    // (A far-future date wins later conflicts; a peer whose clock is off cannot log in at all.)
    let harmless: Vec<(&str, Edit)> = vec![
        // A column with a default (the title's is `note`) takes it, as in Trilium's `REPLACE`.
        ("a note row without its title", Box::new(|r| {
            r[1]["entity"].as_object_mut().unwrap().remove("title");
        })),
        ("a note row whose title is null", Box::new(|r| r[1]["entity"]["title"] = Value::Null)),
        ("a change dated 9999", Box::new(|r| r[1]["entityChange"]["utcDateChanged"] = json!("9999-12-31 23:59:59.999Z"))),
        ("a note id with SQL", Box::new(|r| {
            r[1]["entityChange"]["entityId"] = json!("'; DROP TABLE notes;--");
            r[1]["entity"]["noteId"] = json!("'; DROP TABLE notes;--");
        })),
        ("a note id that climbs", Box::new(|r| {
            r[1]["entityChange"]["entityId"] = json!("../../etc/passwd");
            r[1]["entity"]["noteId"] = json!("../../etc/passwd");
        })),
    ];
    for (what, edit) in harmless {
        let mut records = new_note(&t, &mut rng);
        edit(&mut records);
        let page: Page = (Vec::new(), push_body(records).to_string().into_bytes());
        judge.survived(&format!("sync push, {what}"), push_page(&hub, &cookie, &page).await);
    }
    let health = client().get(format!("{}/api/health-check", hub.url())).send().await.unwrap().status();
    assert_eq!(health, 200);
    judge.finish("sync records with bad values");
}

// =============================================================================================
// 3. Fuzzing the hub's push
// =============================================================================================

pub const DEFAULT_FUZZ_SEED: u64 = 0x5EED_CA70;

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// Any JSON value, some of them hostile.
fn random_value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..10) {
        0 => Value::Null,
        1 => json!(rng.random_bool(0.5)),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>() * 1e300),
        4 => json!(HOSTILE[rng.random_range(0..HOSTILE.len())]),
        5 => json!([]),
        6 => json!({}),
        7 => json!("9999-12-31 23:59:59.999Z"),
        8 => json!(random_id(rng)),
        _ => json!((0..rng.random_range(0..20)).map(|_| char::from_u32(rng.random_range(0..0x11_0000)).unwrap_or('\u{fffd}')).collect::<String>()),
    }
}

/// A random field path into a record: `[entityChange|entity, key]`.
fn random_field(record: &Value, rng: &mut StdRng) -> Option<(&'static str, String)> {
    let part = if rng.random_bool(0.5) { "entityChange" } else { "entity" };
    let keys: Vec<String> = record.get(part)?.as_object()?.keys().cloned().collect();
    (!keys.is_empty()).then(|| (part, keys[rng.random_range(0..keys.len())].clone()))
}

/// A mutated push: what was done, its pages, and whether the hub may apply any of it (a page that
/// ends a push, by its headers as the hub reads them).
fn mutated_push(t: &Templates, rng: &mut StdRng) -> (String, Vec<Page>) {
    let mut records: Vec<Value> = (0..rng.random_range(1..4)).flat_map(|_| new_note(t, rng)).collect();
    let mut what = Vec::new();
    let mut body: Option<Vec<u8>> = None;
    for _ in 0..rng.random_range(1..4) {
        let i = rng.random_range(0..records.len());
        match rng.random_range(0..9) {
            0 => {
                if let Some((part, key)) = random_field(&records[i], rng) {
                    what.push(format!("drop {part}.{key} of record {i}"));
                    records[i][part].as_object_mut().unwrap().remove(&key);
                }
            }
            1 => {
                if let Some(("entityChange", key)) = random_field(&records[i], rng) {
                    what.push(format!("drop entityChange.{key} of record {i}"));
                    records[i]["entityChange"].as_object_mut().unwrap().remove(&key);
                } else {
                    what.push(format!("drop the row of record {i}"));
                    records[i].as_object_mut().unwrap().remove("entity");
                }
            }
            2 => {
                if let Some((part, key)) = random_field(&records[i], rng) {
                    let value = random_value(rng);
                    what.push(format!("{part}.{key} of record {i} = {}", snippet(&value.to_string())));
                    records[i][part][&key] = value;
                }
            }
            3 => {
                let n = rng.random_range(2..50);
                what.push(format!("record {i} {n} times"));
                let copy = records[i].clone();
                records.extend(std::iter::repeat_n(copy, n));
            }
            4 => {
                let name = ["evil", "sqlite_master", "notes;--", "", "Notes", "note_reordering", "options", "etapi_tokens"][rng.random_range(0..8)];
                what.push(format!("entityName of record {i} = {name:?}"));
                records[i]["entityChange"]["entityName"] = json!(name);
                if name == "note_reordering" {
                    records[i]["entity"] = json!({ "root_x": random_value(rng) });
                }
            }
            5 => {
                let depth = rng.random_range(1..400);
                what.push(format!("a value nested {depth} deep in record {i}"));
                records[i]["entity"]["title"] = nested(depth);
            }
            6 => {
                let text = push_body(records.clone()).to_string().into_bytes();
                let mut bytes = body.take().unwrap_or(text);
                let flips = rng.random_range(1..9);
                for _ in 0..flips {
                    let at = rng.random_range(0..bytes.len());
                    bytes[at] = rng.random();
                }
                what.push(format!("{flips} bytes flipped"));
                body = Some(bytes);
            }
            7 => {
                let text = push_body(records.clone()).to_string().into_bytes();
                let bytes = body.take().unwrap_or(text);
                let at = rng.random_range(0..bytes.len());
                what.push(format!("cut at byte {at} of {}", bytes.len()));
                body = Some(bytes[..at].to_vec());
            }
            _ => {
                let key = ["entities", "instanceId"][rng.random_range(0..2)];
                let value = random_value(rng);
                what.push(format!("top-level {key} = {}", snippet(&value.to_string())));
                let mut top = push_body(records.clone());
                top[key] = value;
                body = Some(top.to_string().into_bytes());
            }
        }
    }
    let bytes = body.unwrap_or_else(|| push_body(records).to_string().into_bytes());
    // Pages, as Trilium sends a push over 1 MB: sometimes with bogus numbers or ids.
    if rng.random_bool(0.3) && bytes.len() > 1 {
        let parts = rng.random_range(2..5).min(bytes.len().max(2));
        let size = bytes.len().div_ceil(parts).max(1);
        let request_id = random_id(rng);
        let bogus = rng.random_bool(0.5);
        let mut pages = Vec::new();
        for (index, chunk) in bytes.chunks(size).enumerate() {
            let mut count = parts.to_string();
            let mut page = index.to_string();
            let mut id = request_id.clone();
            if bogus {
                match rng.random_range(0..8) {
                    0 => count = ["0", "1", "-1", "abc", "", "99999999999999999999", " 2 "][rng.random_range(0..7)].to_owned(),
                    1 => page = ["-1", "x", "", "3", "1000000"][rng.random_range(0..5)].to_owned(),
                    // `usize::MAX` overflows the hub's `pageIndex + 1` (a panic in a debug build).
                    2 => page = usize::MAX.to_string(),
                    3 => id = random_id(rng),
                    4 => id = String::new(),
                    5 => page = "0".to_owned(),
                    _ => {}
                }
            }
            let mut headers = vec![("pageCount".to_owned(), count), ("pageIndex".to_owned(), page)];
            if !id.is_empty() {
                headers.push(("requestId".to_owned(), id));
            }
            pages.push((headers, chunk.to_vec()));
        }
        if bogus && rng.random_bool(0.3) {
            let last = pages.len() - 1;
            pages.swap(0, last);
        }
        what.push(format!("in {} pages{}", pages.len(), if bogus { ", bogus headers" } else { "" }));
        return (what.join("; "), pages);
    }
    (what.join("; "), vec![(Vec::new(), bytes)])
}

/// Whether the hub may apply something on this page (it ends a push), reading its headers as the
/// hub does.
fn page_ends_push((headers, _): &Page) -> bool {
    let number = |name: &str| headers.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.trim().parse::<usize>().ok());
    let count = number("pageCount").unwrap_or(1);
    let index = number("pageIndex").unwrap_or(0);
    count <= 1 || index.saturating_add(1) >= count
}

async fn fuzz_pushes() {
    let seed = env_number("CANOPY_FUZZ_SEED", DEFAULT_FUZZ_SEED);
    let secs = env_number("CANOPY_FUZZ_SECS", 8);
    eprintln!("fuzzing PUT /api/sync/update for {secs} s with CANOPY_FUZZ_SEED={seed}");
    let hub = Node::hub().await;
    settled(&hub).await;
    let cookie = sync_login(&hub).await;
    let t = templates(&hub, &cookie).await;
    let mut rng = StdRng::seed_from_u64(seed);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let health = format!("{}/api/health-check", hub.url());
    let (mut findings, mut iterations, mut taken) = (Vec::new(), 0, 0);
    let mut before = fingerprint(&hub);
    while Instant::now() < deadline && findings.len() < 10 {
        iterations += 1;
        let (what, pages) = mutated_push(&t, &mut rng);
        let label = format!("seed {seed}, push {iterations} ({what})");
        let mut may_apply = false;
        for page in &pages {
            match push_page(&hub, &cookie, page).await {
                Err(e) => findings.push(format!("{label}: {e}; body {}", snippet(&String::from_utf8_lossy(&page.1)))),
                Ok(a) if a.status >= 500 => {
                    findings.push(format!("{label}: {} {}; body {}", a.status, snippet(&a.body), snippet(&String::from_utf8_lossy(&page.1))))
                }
                Ok(a) if a.status < 300 => may_apply |= page_ends_push(page),
                Ok(a) if !readable(&message_of(&a.body)) => findings.push(format!("{label}: {} without a readable message: {}", a.status, snippet(&a.body))),
                Ok(_) => {}
            }
        }
        match client().get(&health).send().await {
            Ok(r) if r.status() == 200 => {}
            other => {
                findings.push(format!("{label}: the hub no longer answers its health check: {other:?}"));
                break;
            }
        }
        let now = fingerprint(&hub);
        if now != before {
            if may_apply {
                taken += 1;
            } else {
                findings.push(format!("{label}: refused, yet the document changed"));
            }
            before = now;
        }
    }
    eprintln!("{iterations} mutated pushes, {taken} changed the document, {} findings", findings.len());
    assert!(iterations > 20, "the fuzz ran ({iterations} pushes)");
    assert!(findings.is_empty(), "replay with CANOPY_FUZZ_SEED={seed}:\n{}", findings.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_fuzzed_sync_pushes_never_break_the_hub() {
    fuzz_pushes().await;
}

// =============================================================================================
// The setup page of an instance without a document
// =============================================================================================

/// The forms posted before any login take at most 64 KiB: a larger body is refused, even with the
/// right password in it, and opens no session. (`/logout` without a session only redirects; with
/// one, a body too large to read has no CSRF token and gets 403.)
#[tokio::test(flavor = "multi_thread")]
async fn hostile_login_forms_over_their_limit_are_refused() {
    let node = Node::hub().await;
    ensure_password(&node);
    let http = client();
    let mut judge = Judge::new(&node);
    let padding = "x".repeat(canopy::auth::MAX_FORM_BYTES);
    for path in ["/login", "/set-password"] {
        let body = format!("password={PASSWORD}&password1={PASSWORD}&password2={PASSWORD}&padding={padding}");
        let a = answer(http.post(format!("{}{path}", node.url())).header("Content-Type", "application/x-www-form-urlencoded").body(body)).await;
        if let Ok(a) = &a {
            if !a.set_cookie.is_empty() {
                judge.fail(format!("POST {path} over the limit: a cookie was set: {}", a.set_cookie));
            }
        }
        judge.refused_with(&format!("POST {path} over the limit"), 413, a);
    }
    // Just under the limit, the right password still logs in.
    let body = format!("password={PASSWORD}&padding={}", "x".repeat(canopy::auth::MAX_FORM_BYTES - 100));
    let a = answer(http.post(format!("{}/login", node.url())).header("Content-Type", "application/x-www-form-urlencoded").body(body)).await.unwrap();
    assert_eq!(a.status, 303, "{}", snippet(&a.body));
    assert!(!a.set_cookie.is_empty(), "a login just under the limit opens a session");
    judge.finish("login forms over their limit");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_setup_page_input_is_refused_and_makes_no_document() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    // The two files the setup page links to.
    let site = parent.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("pkg/canopy.css"), "body {}").unwrap();
    std::fs::write(site.join("favicon.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    let options = canopy::StartOptions {
        data_dir: data.clone(),
        site_root: site.clone(),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        offer_setup_page: true,
        ..Default::default()
    };
    let canopy::Launch::AwaitingSetup(setup) = canopy::launch(options).await.unwrap() else { panic!("a new data directory shows the setup page") };
    let base = setup.url();
    let http = client();
    let (mut checks, mut findings) = (0, Vec::new());
    let mut check = |label: String, answer: Result<Answer, String>, allowed: &[u16]| {
        checks += 1;
        match answer {
            Ok(a) if allowed.contains(&a.status) && (a.status < 400 || readable(&message_of(&a.body))) => {}
            Ok(a) => findings.push(format!("{label}: {} {}", a.status, snippet(&a.body))),
            Err(e) => findings.push(format!("{label}: {e}")),
        }
    };
    // Every call of the full router: 503 (no document yet), every page to /setup.
    for (method, pattern, access) in ROUTES {
        // Without an Origin (no browser) "new document" is a choice the setup page takes: tested below
        // from another site only.
        if *pattern == "/setup/new-document" {
            continue;
        }
        let path = concrete(pattern);
        let allowed: &[u16] = match (access, *method) {
            _ if ["/setup", "/api/health-check", "/api/setup/status", "/pkg/canopy.css", "/favicon.svg"].contains(pattern) => &[200, 404],
            (_, "GET") if !path.starts_with("/api/") && !path.starts_with("/ui") && !path.starts_with("/etapi") => &[303],
            // The setup forms from a client that is no browser on this page: refused.
            _ if pattern.starts_with("/setup/") => &[400, 403],
            _ => &[503],
        };
        check(format!("setup phase: {method} {path}"), answer(http.request(method.parse().unwrap(), format!("{base}{path}"))).await, allowed);
    }
    // The forms with hostile values, from the page's own origin.
    let form = |path: &str, fields: Vec<(&str, String)>| answer(http.post(format!("{base}{path}")).header("Origin", &base).form(&fields));
    let mut long = "http://".to_owned();
    long.push_str(&"x".repeat(100_000));
    for host in HOSTILE.iter().map(|s| s.to_string()).chain(["".into(), long, "file:///etc/passwd".into(), "javascript:alert(1)".into(), "http://\u{0}x".into()]) {
        let label = format!("setup: sync from {}", snippet(&host));
        check(label, form("/setup/sync-from-server", vec![("sync_server_host", host), ("password", "x".into())]).await, &[400]);
    }
    check("setup: sync from a server without a password".into(), form("/setup/sync-from-server", vec![("sync_server_host", "http://127.0.0.1:9".into())]).await, &[400]);
    let raw_form = |body: Vec<u8>| answer(http.post(format!("{base}/setup/sync-from-server")).header("Origin", &base).header("Content-Type", "application/x-www-form-urlencoded").body(body));
    check("setup: a form that is not UTF-8".into(), raw_form(vec![0xff, 0xfe, b'=', 0x80]).await, &[400]);
    check("setup: a form of nothing".into(), raw_form(Vec::new()).await, &[400]);
    check("setup: new document from another site".into(), answer(http.post(format!("{base}/setup/new-document")).header("Origin", "http://evil.example")).await, &[403]);
    assert!(!data.join("document.db").exists(), "no document was made");
    setup.stop().await;
    eprintln!("setup page: {checks} checks");
    assert!(findings.is_empty(), "{} of {checks} setup-page checks failed:\n{}", findings.len(), findings.join("\n"));
}
