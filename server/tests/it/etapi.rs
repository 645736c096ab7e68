//! ETAPI over HTTP against a real server (`canopy::start` on port 0).
//!
//! Shapes are checked against the ETAPI calls recorded from Trilium 0.63.7 in
//! the fixture's `build-calls.jsonl` (see `common::fixture_dir`): the key sets and JSON types of our answers must equal the
//! recorded ones. Values are always read from the live server, never hard-coded.

use std::collections::BTreeMap;

use base64::Engine;
use canopy::db::{ChangeSource, InstanceId};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "etapi-test-pass";

struct Api {
    inst: Option<canopy::RunningInstance>,
    _dir: tempfile::TempDir,
    base: String,
    http: reqwest::Client,
    token: String,
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
    /// Asserts Trilium's error shape with this status and code; returns the message.
    #[track_caller]
    fn error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        let v = self.json();
        assert_eq!(v["status"], json!(status), "{v}");
        assert_eq!(v["code"], json!(code), "{v}");
        assert_eq!(v.as_object().unwrap().len(), 3, "exactly status, code, message: {v}");
        v["message"].as_str().expect("message").to_owned()
    }
}

impl Api {
    async fn start() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let inst = canopy::start(canopy::StartOptions {
            data_dir: dir.path().join("data"),
            site_root: dir.path().join("site"),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            ..Default::default()
        })
        .await
        .expect("server starts");
        inst.document
            .write(&ChangeSource::new(InstanceId::generate()), |tx| canopy::db::password::set_password(tx, PASSWORD))
            .unwrap();
        let base = format!("{}/etapi", inst.url());
        let mut api = Api { inst: Some(inst), _dir: dir, base, http: reqwest::Client::new(), token: String::new() };
        let login = api.send(Method::POST, "/auth/login", Some(json!({"password": PASSWORD, "tokenName": "tests"}))).await;
        assert_eq!(login.status, StatusCode::CREATED, "{}", login.text());
        api.token = login.json()["authToken"].as_str().unwrap().to_owned();
        api
    }

    fn doc(&self) -> &canopy::Document {
        &self.inst.as_ref().unwrap().document
    }

    async fn stop(mut self) {
        self.inst.take().unwrap().stop().await.unwrap();
    }

    async fn raw(&self, method: Method, path: &str, auth: Option<&str>, body: Option<(Vec<u8>, &str)>) -> Answer {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        if let Some((bytes, content_type)) = body {
            req = req.header("Content-Type", content_type).body(bytes);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap().to_vec();
        Answer { status, headers, bytes }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let body = body.map(|b| (serde_json::to_vec(&b).unwrap(), "application/json"));
        let token = self.token.clone();
        self.raw(method, path, Some(&token), body).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    /// `POST /create-note` under `parent`, asserting 201; returns `{note, branch}`.
    async fn create_note(&self, parent: &str, title: &str, extra: Value) -> Value {
        let mut body = json!({"parentNoteId": parent, "title": title, "type": "text", "content": format!("<p>{title}</p>")});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let a = self.send(Method::POST, "/create-note", Some(body)).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        a.json()
    }

    fn count(&self, sql: &str, param: &str) -> i64 {
        self.doc().read(|c| Ok(c.query_row(sql, [param], |r| r.get(0))?)).unwrap()
    }
}

// ------------------------------------------------------------------ golden shapes

fn fixture_calls() -> Vec<Value> {
    let text = std::fs::read_to_string(crate::common::fixture_dir().join("build-calls.jsonl")).expect("fixture build-calls.jsonl");
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The first recorded ETAPI response for `method path-prefix` with this status.
fn golden(method: &str, path_prefix: &str, status: u16) -> Value {
    fixture_calls()
        .into_iter()
        .find(|c| {
            c["api"] == "etapi" && c["method"] == method && c["status"] == json!(status)
                && c["path"].as_str().is_some_and(|p| p.starts_with(path_prefix))
        })
        .and_then(|c| c.get("response").cloned())
        .unwrap_or_else(|| panic!("no recorded {method} {path_prefix}"))
}

/// Key → JSON type, recursively for objects, first element for arrays.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(items) => json!(["array", items.first().map(shape)]),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

/// Same keys and types; arrays compared by element shape when both are non-empty.
#[track_caller]
fn assert_same_shape(ours: &Value, theirs: &Value) {
    fn walk(a: &Value, b: &Value, at: &str) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let kx: Vec<_> = x.keys().collect();
                let ky: Vec<_> = y.keys().collect();
                let (mut sx, mut sy) = (kx.clone(), ky.clone());
                sx.sort();
                sy.sort();
                assert_eq!(sx, sy, "keys differ at {at}");
                for k in x.keys() {
                    walk(&x[k], &y[k], &format!("{at}.{k}"));
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                if let (Some(p), Some(q)) = (x.first(), y.first()) {
                    walk(p, q, &format!("{at}[0]"));
                }
            }
            // A prefix may be null or a string in either recording.
            (Value::Null, _) | (_, Value::Null) => {}
            _ => assert_eq!(shape(a), shape(b), "type differs at {at}"),
        }
    }
    walk(ours, theirs, "$");
}

// ------------------------------------------------------------------ auth

#[tokio::test]
async fn etapi_auth_login_tokens_and_logout() {
    let api = Api::start().await;
    // Shape of the login answer as Trilium recorded it.
    let token = api.token.clone();
    assert_same_shape(&json!({"authToken": token}), &golden("POST", "/etapi/auth/login", 201));
    let (id, secret) = token.split_once('_').expect("<id>_<secret>");
    // Stored like Trilium: sha256(secret) base64, plus a synced entity change.
    let stored: String = api
        .doc()
        .read(|c| Ok(c.query_row("SELECT tokenHash FROM etapi_tokens WHERE etapiTokenId = ?1 AND name = 'tests'", [id], |r| r.get(0))?))
        .unwrap();
    use sha2::Digest;
    assert_eq!(stored, base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(secret.as_bytes())));
    assert_eq!(api.count("SELECT COUNT(*) FROM entity_changes WHERE entityName = 'etapi_tokens' AND entityId = ?1 AND isSynced = 1", id), 1);

    // Wrong password, missing password, not JSON.
    let a = api.raw(Method::POST, "/auth/login", None, Some((br#"{"password":"nope"}"#.to_vec(), "application/json"))).await;
    assert_eq!(a.error(401, "WRONG_PASSWORD"), "Wrong password.");
    let a = api.raw(Method::POST, "/auth/login", None, Some((b"{}".to_vec(), "application/json"))).await;
    a.error(401, "WRONG_PASSWORD");
    let a = api.raw(Method::POST, "/auth/login", None, Some((b"{nope".to_vec(), "application/json"))).await;
    a.error(400, "GENERIC");

    // No header, garbage, wrong secret, right secret.
    let a = api.raw(Method::GET, "/app-info", None, None).await;
    assert_eq!(a.error(401, "NOT_AUTHENTICATED"), "Not authenticated");
    api.raw(Method::GET, "/app-info", Some("garbage"), None).await.error(401, "NOT_AUTHENTICATED");
    api.raw(Method::GET, "/app-info", Some(&format!("{id}_AAAA")), None).await.error(401, "NOT_AUTHENTICATED");
    api.raw(Method::GET, "/app-info", Some("Bearer x_y_z"), None).await.error(401, "NOT_AUTHENTICATED");
    assert_eq!(api.raw(Method::GET, "/app-info", Some(&token), None).await.status, StatusCode::OK);
    // Legacy form: the secret alone.
    assert_eq!(api.raw(Method::GET, "/app-info", Some(secret), None).await.status, StatusCode::OK);
    // Basic auth with user "etapi" only.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let basic = format!("Basic {}", b64(&format!("etapi:{token}")));
    assert_eq!(api.raw(Method::GET, "/app-info", Some(&basic), None).await.status, StatusCode::OK);
    let other_user = format!("Basic {}", b64(&format!("admin:{token}")));
    api.raw(Method::GET, "/app-info", Some(&other_user), None).await.error(401, "NOT_AUTHENTICATED");

    // Logout needs a token with id; the legacy form cannot log out.
    let a = api.raw(Method::POST, "/auth/logout", Some(secret), None).await;
    assert_eq!(a.error(400, "GENERIC"), "Cannot logout this token.");
    // A second token, logged out: gone for good, the first one still works.
    let second = api.raw(Method::POST, "/auth/login", None, Some((json!({"password": PASSWORD}).to_string().into_bytes(), "application/json"))).await;
    assert_eq!(second.status, StatusCode::CREATED);
    let second = second.json()["authToken"].as_str().unwrap().to_owned();
    let second_id = second.split('_').next().unwrap().to_owned();
    assert_eq!(api.count("SELECT COUNT(*) FROM etapi_tokens WHERE etapiTokenId = ?1 AND name = 'ETAPI login'", &second_id), 1);
    assert_eq!(api.raw(Method::POST, "/auth/logout", Some(&second), None).await.status, StatusCode::NO_CONTENT);
    api.raw(Method::GET, "/app-info", Some(&second), None).await.error(401, "NOT_AUTHENTICATED");
    assert_eq!(api.count("SELECT isDeleted FROM etapi_tokens WHERE etapiTokenId = ?1", &second_id), 1);
    assert_eq!(api.raw(Method::GET, "/app-info", Some(&token), None).await.status, StatusCode::OK);
    api.stop().await;
}

#[tokio::test]
async fn etapi_app_info_and_unknown_routes() {
    let api = Api::start().await;
    let info = api.get("/app-info").await;
    assert_eq!(info.status, StatusCode::OK);
    let v = info.json();
    assert_eq!(v["appVersion"], json!(canopy::APP_VERSION));
    assert_eq!(v["dbVersion"], json!(228));
    assert_eq!(v["syncVersion"], json!(32));
    assert_eq!(v["clipperProtocolVersion"], json!("1.0"));
    for key in ["nodeVersion", "buildDate", "buildRevision", "dataDirectory", "utcDateTime"] {
        assert!(v[key].is_string(), "{key} in {v}");
    }
    assert!(v["dataDirectory"].as_str().unwrap().ends_with("data"));
    api.get("/no-such-endpoint").await.error(404, "NOT_FOUND");
    let a = api.send(Method::PUT, "/app-info", None).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    api.stop().await;
}

// ------------------------------------------------------------------ notes

#[tokio::test]
async fn etapi_create_read_patch_delete_note() {
    let api = Api::start().await;
    let created = api.create_note("root", "ETAPI note", json!({})).await;
    assert_same_shape(&created, &golden("POST", "/etapi/create-note", 201));
    let note = &created["note"];
    let id = note["noteId"].as_str().unwrap().to_owned();
    assert_eq!(note["title"], "ETAPI note");
    assert_eq!(note["mime"], "text/html");
    assert_eq!(note["parentNoteIds"], json!(["root"]));
    assert_eq!(created["branch"]["branchId"], json!(format!("root_{id}")));
    assert_eq!(note["parentBranchIds"], json!([format!("root_{id}")]));
    // The write went through the one write path, stamped with component "etapi".
    assert!(api.count("SELECT COUNT(*) FROM entity_changes WHERE entityName = 'notes' AND entityId = ?1 AND componentId = 'etapi'", &id) == 1);
    // ... and with this server's persisted instance id, so sync attributes it correctly.
    let instance = api.inst.as_ref().unwrap().data_dir.instance_id(|| panic!("instance id file exists")).unwrap();
    assert!(instance.chars().all(|c| c.is_ascii_alphanumeric()));
    let sql = format!("SELECT COUNT(*) FROM entity_changes WHERE entityId = ?1 AND instanceId = '{instance}'");
    assert_eq!(api.count(&sql, &id), 1);

    // GET returns the same note.
    let got = api.get(&format!("/notes/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json(), created["note"]);
    // The parent lists it as a child.
    let root = api.get("/notes/root").await.json();
    assert!(root["childNoteIds"].as_array().unwrap().contains(&json!(id)));

    // Forced id, dates, position, prefix, isExpanded, code note mime.
    let forced = api
        .create_note(
            &id,
            "forced",
            json!({"noteId": "forcedNote01", "dateCreated": "2020-01-02 03:04:05.678+0100",
                   "utcDateCreated": "2020-01-02 02:04:05.678Z", "notePosition": 5, "prefix": "pre",
                   "isExpanded": true, "type": "code", "mime": "text/x-python", "content": "print(1)"}),
        )
        .await;
    assert_eq!(forced["note"]["noteId"], "forcedNote01");
    assert_eq!(forced["note"]["dateCreated"], "2020-01-02 03:04:05.678+0100");
    assert_eq!(forced["note"]["utcDateCreated"], "2020-01-02 02:04:05.678Z");
    assert_eq!(forced["note"]["type"], "code");
    assert_eq!(forced["note"]["mime"], "text/x-python");
    assert_eq!(forced["branch"]["notePosition"], 5);
    assert_eq!(forced["branch"]["prefix"], "pre");
    assert_eq!(forced["branch"]["isExpanded"], true);
    // Same id again: refused.
    let again = api.send(Method::POST, "/create-note", Some(json!({"parentNoteId": "root", "title": "x", "type": "text", "content": "", "noteId": "forcedNote01"}))).await;
    again.error(400, "GENERIC");

    // Validation errors, with Trilium's codes and messages.
    let bad = |body: Value| {
        let api = &api;
        async move { api.send(Method::POST, "/create-note", Some(body)).await }
    };
    let m = bad(json!({"parentNoteId": "root", "title": "t", "type": "text", "content": "", "color": 1})).await.error(400, "PROPERTY_NOT_ALLOWED");
    assert_eq!(m, "Property 'color' is not allowed for this method.");
    let m = bad(json!({"parentNoteId": "nope0000", "title": "t", "type": "text", "content": ""})).await.error(400, "PROPERTY_VALIDATION_ERROR");
    assert_eq!(m, "Validation failed on property 'parentNoteId': Note 'nope0000' does not exist.");
    let m = bad(json!({"parentNoteId": "root", "title": 5, "type": "text", "content": ""})).await.error(400, "PROPERTY_VALIDATION_ERROR");
    assert_eq!(m, "Validation failed on property 'title': '5' is not a string.");
    let m = bad(json!({"parentNoteId": "root", "title": "t", "type": "spreadsheet", "content": ""})).await.error(400, "PROPERTY_VALIDATION_ERROR");
    assert!(m.starts_with("Validation failed on property 'type': 'spreadsheet' is not a valid note type, allowed types are: text, code"), "{m}");
    let m = bad(json!({"parentNoteId": "root", "title": "t", "type": "text", "content": "", "notePosition": "3"})).await.error(400, "PROPERTY_VALIDATION_ERROR");
    assert_eq!(m, "Validation failed on property 'notePosition': '3' is not an integer.");
    bad(json!({"parentNoteId": "root", "title": "t", "type": "text", "content": "", "noteId": "a-b"})).await.error(400, "PROPERTY_VALIDATION_ERROR");
    bad(json!({"parentNoteId": "root", "title": "t", "type": "text", "content": "", "dateCreated": "yesterday"})).await.error(400, "PROPERTY_VALIDATION_ERROR");
    bad(json!({"parentNoteId": "root", "title": "t", "type": "text", "content": "", "utcDateCreated": "2020-13-01 00:00:00.000Z"})).await.error(400, "PROPERTY_VALIDATION_ERROR");
    bad(json!({"parentNoteId": "root", "title": null, "type": "text", "content": ""})).await.error(400, "PROPERTY_VALIDATION_ERROR");
    bad(json!({"title": "t", "type": "text", "content": ""})).await.error(400, "PROPERTY_VALIDATION_ERROR");
    bad(json!({"parentNoteId": "root", "title": "t", "type": "text"})).await.error(400, "PROPERTY_VALIDATION_ERROR");
    let launcher = api.create_note("root", "launcher", json!({"type": "launcher", "content": ""})).await;
    let launcher = launcher["note"]["noteId"].as_str().unwrap().to_owned();
    let m = bad(json!({"parentNoteId": launcher, "title": "t", "type": "text", "content": ""})).await.error(400, "GENERIC");
    assert_eq!(m, "Creating child notes into launcher notes is not allowed.");
    bad(json!([1, 2])).await.error(400, "GENERIC");
    let a = api.raw(Method::POST, "/create-note", Some(&api.token), Some((b"{\"parentNoteId\":".to_vec(), "application/json"))).await;
    a.error(400, "GENERIC");
    let a = api.raw(Method::POST, "/create-note", Some(&api.token), Some((vec![0xff, 0xfe], "application/octet-stream"))).await;
    a.error(400, "GENERIC");

    // PATCH: title and backdating, as the fixture recorded it.
    let patched = api
        .send(Method::PATCH, &format!("/notes/{id}"), Some(json!({"title": "renamed", "dateCreated": "2021-05-06 07:08:09.010+0200", "utcDateCreated": "2021-05-06 05:08:09.010Z"})))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    let p = patched.json();
    assert_same_shape(&p, &golden("PATCH", "/etapi/notes/", 200));
    assert_eq!(p["title"], "renamed");
    assert_eq!(p["utcDateCreated"], "2021-05-06 05:08:09.010Z");
    assert_ne!(p["utcDateModified"], created["note"]["utcDateModified"]);
    assert_eq!(api.get(&format!("/notes/{id}")).await.json()["title"], "renamed");
    api.send(Method::PATCH, &format!("/notes/{id}"), Some(json!({"isProtected": true}))).await.error(400, "PROPERTY_NOT_ALLOWED");
    api.send(Method::PATCH, &format!("/notes/{id}"), Some(json!({"title": null}))).await.error(400, "PROPERTY_VALIDATION_ERROR");
    api.send(Method::PATCH, "/notes/missing0001", Some(json!({"title": "x"}))).await.error(404, "NOTE_NOT_FOUND");

    // Unknown note.
    let m = api.get("/notes/missing0001").await.error(404, "NOTE_NOT_FOUND");
    assert_eq!(m, "Note 'missing0001' not found.");

    // DELETE takes the subtree along; deleting again or an unknown id is still 204.
    assert_eq!(api.send(Method::DELETE, &format!("/notes/{id}"), None).await.status, StatusCode::NO_CONTENT);
    api.get(&format!("/notes/{id}")).await.error(404, "NOTE_NOT_FOUND");
    api.get("/notes/forcedNote01").await.error(404, "NOTE_NOT_FOUND");
    assert_eq!(api.send(Method::DELETE, &format!("/notes/{id}"), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.send(Method::DELETE, "/notes/missing0001", None).await.status, StatusCode::NO_CONTENT);
    api.send(Method::DELETE, "/notes/root", None).await.error(400, "GENERIC");
    api.stop().await;
}

#[tokio::test]
async fn etapi_note_content_text_and_binary() {
    let api = Api::start().await;
    let created = api.create_note("root", "Content", json!({"content": "<p>Grüße 🎉</p>"})).await;
    let id = created["note"]["noteId"].as_str().unwrap().to_owned();
    let a = api.get(&format!("/notes/{id}/content")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.text(), "<p>Grüße 🎉</p>");
    assert_eq!(a.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(a.headers["cache-control"], "no-cache, no-store, must-revalidate");
    assert!(a.headers["content-disposition"].to_str().unwrap().contains("Content.html"));

    let put = api.raw(Method::PUT, &format!("/notes/{id}/content"), Some(&api.token), Some((b"<p>v2</p>".to_vec(), "text/plain"))).await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.text());
    assert_eq!(api.get(&format!("/notes/{id}/content")).await.text(), "<p>v2</p>");
    let after = api.get(&format!("/notes/{id}")).await.json();
    assert_ne!(after["blobId"], created["note"]["blobId"]);
    // The old blob is gone (no other user).
    assert_eq!(api.count("SELECT COUNT(*) FROM blobs WHERE blobId = ?1", created["note"]["blobId"].as_str().unwrap()), 0);

    // A file note keeps raw bytes, stored as an SQLite BLOB.
    let file = api.create_note("root", "data.bin", json!({"type": "file", "content": ""})).await;
    let fid = file["note"]["noteId"].as_str().unwrap().to_owned();
    assert_eq!(file["note"]["mime"], "application/octet-stream");
    let bytes: Vec<u8> = (0u8..=255).chain([0xff, 0xfe, 0x00]).collect();
    let put = api.raw(Method::PUT, &format!("/notes/{fid}/content"), Some(&api.token), Some((bytes.clone(), "application/octet-stream"))).await;
    assert_eq!(put.status, StatusCode::NO_CONTENT);
    let got = api.get(&format!("/notes/{fid}/content")).await;
    assert_eq!(got.bytes, bytes);
    assert_eq!(got.headers["content-type"], "application/octet-stream");
    let blob_id = api.get(&format!("/notes/{fid}")).await.json()["blobId"].as_str().unwrap().to_owned();
    assert_eq!(api.count("SELECT COUNT(*) FROM blobs WHERE blobId = ?1 AND typeof(content) = 'blob'", &blob_id), 1);

    api.get("/notes/missing0001/content").await.error(404, "NOTE_NOT_FOUND");
    api.raw(Method::PUT, "/notes/missing0001/content", Some(&api.token), Some((b"x".to_vec(), "text/plain"))).await.error(404, "NOTE_NOT_FOUND");
    api.stop().await;
}

#[tokio::test]
async fn etapi_revision_and_note_ordering() {
    let api = Api::start().await;
    let id = api.create_note("root", "Revisioned", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let before = api.count("SELECT COUNT(*) FROM revisions WHERE noteId = ?1", &id);
    let a = api.send(Method::POST, &format!("/notes/{id}/revision"), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert!(a.bytes.is_empty());
    assert_eq!(api.count("SELECT COUNT(*) FROM revisions WHERE noteId = ?1", &id), before + 1);
    api.send(Method::POST, "/notes/missing0001/revision", None).await.error(404, "NOTE_NOT_FOUND");

    let a = api.send(Method::POST, &format!("/refresh-note-ordering/{id}"), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(api.count("SELECT COUNT(*) FROM entity_changes WHERE entityName = 'note_reordering' AND entityId = ?1", &id), 1);
    api.send(Method::POST, "/refresh-note-ordering/missing0001", None).await.error(404, "NOTE_NOT_FOUND");
    api.stop().await;
}

#[tokio::test]
async fn etapi_oversized_body_is_413() {
    let api = Api::start().await;
    let id = api.create_note("root", "Big", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let big = vec![b'a'; canopy::etapi::MAX_BODY_BYTES + 1];
    let req = api
        .http
        .put(format!("{}/notes/{id}/content", api.base))
        .header("Authorization", &api.token)
        .header("Content-Type", "text/plain")
        .body(big)
        .send()
        .await;
    eprintln!("oversized answer: {:?}", req.as_ref().map(|r| r.status()));
    // The server may answer before reading everything; either way it must not accept it.
    match req {
        Ok(resp) => {
            assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["code"], "PAYLOAD_TOO_LARGE");
        }
        // Only a connection cut short by the server is acceptable instead of the answer.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e:?}"),
    }
    // A JSON body over the limit is refused the same way.
    let big_json = format!("{{\"title\": \"{}\"}}", "x".repeat(canopy::etapi::MAX_BODY_BYTES));
    let resp = api.http.patch(format!("{}/notes/{id}", api.base)).header("Authorization", &api.token).header("Content-Type", "application/json").body(big_json).send().await;
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    assert_eq!(api.get(&format!("/notes/{id}")).await.json()["title"], "Big");
    assert_eq!(api.get(&format!("/notes/{id}/content")).await.text(), "<p>Big</p>");
    api.stop().await;
}

// ------------------------------------------------------------------ branches

#[tokio::test]
async fn etapi_branches() {
    let api = Api::start().await;
    let a = api.create_note("root", "A", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let b = api.create_note("root", "B", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    // Clone B under A: 201.
    let r = api.send(Method::POST, "/branches", Some(json!({"noteId": b, "parentNoteId": a, "prefix": "clone"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let branch = r.json();
    assert_same_shape(&branch, &golden("POST", "/etapi/create-note", 201)["branch"]);
    let bid = branch["branchId"].as_str().unwrap().to_owned();
    assert_eq!(bid, format!("{a}_{b}"));
    assert_eq!(branch["prefix"], "clone");
    let note_b = api.get(&format!("/notes/{b}")).await.json();
    assert_eq!(note_b["parentNoteIds"].as_array().unwrap().len(), 2);
    // Same placement again: 200, values taken over.
    let r = api.send(Method::POST, "/branches", Some(json!({"noteId": b, "parentNoteId": a, "notePosition": 7}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["notePosition"], 7);
    assert_eq!(r.json()["prefix"], Value::Null);
    // A cycle is refused.
    let r = api.send(Method::POST, "/branches", Some(json!({"noteId": a, "parentNoteId": b}))).await;
    r.error(400, "GENERIC");
    api.send(Method::POST, "/branches", Some(json!({"noteId": b}))).await.error(400, "PROPERTY_VALIDATION_ERROR");
    api.send(Method::POST, "/branches", Some(json!({"noteId": b, "parentNoteId": "missing0001"}))).await.error(400, "PROPERTY_VALIDATION_ERROR");
    api.send(Method::POST, "/branches", Some(json!({"noteId": b, "parentNoteId": a, "isExpanded": "yes"}))).await.error(400, "PROPERTY_VALIDATION_ERROR");

    let got = api.get(&format!("/branches/{bid}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["noteId"], json!(b));
    let p = api.send(Method::PATCH, &format!("/branches/{bid}"), Some(json!({"prefix": "renamed", "isExpanded": true, "notePosition": 3}))).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.json()["prefix"], "renamed");
    assert_eq!(p.json()["isExpanded"], true);
    assert_eq!(p.json()["notePosition"], 3);
    api.send(Method::PATCH, &format!("/branches/{bid}"), Some(json!({"parentNoteId": "root"}))).await.error(400, "PROPERTY_NOT_ALLOWED");
    api.send(Method::PATCH, "/branches/nope_nope", Some(json!({"prefix": "x"}))).await.error(404, "BRANCH_NOT_FOUND");
    let m = api.get("/branches/nope_nope").await.error(404, "BRANCH_NOT_FOUND");
    assert_eq!(m, "Branch 'nope_nope' not found.");

    // Deleting the clone keeps the note (it has another parent).
    assert_eq!(api.send(Method::DELETE, &format!("/branches/{bid}"), None).await.status, StatusCode::NO_CONTENT);
    api.get(&format!("/branches/{bid}")).await.error(404, "BRANCH_NOT_FOUND");
    assert_eq!(api.get(&format!("/notes/{b}")).await.json()["parentNoteIds"], json!(["root"]));
    assert_eq!(api.send(Method::DELETE, "/branches/nope_nope", None).await.status, StatusCode::NO_CONTENT);
    // Deleting the last branch deletes the note.
    assert_eq!(api.send(Method::DELETE, &format!("/branches/root_{b}"), None).await.status, StatusCode::NO_CONTENT);
    api.get(&format!("/notes/{b}")).await.error(404, "NOTE_NOT_FOUND");
    api.stop().await;
}

// ------------------------------------------------------------------ attributes

#[tokio::test]
async fn etapi_attributes_and_inheritance() {
    let api = Api::start().await;
    let top = api.create_note("root", "Top", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let child = api.create_note(&top, "Child", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();

    let r = api.send(Method::POST, "/attributes", Some(json!({"noteId": top, "type": "label", "name": "project", "value": "x", "isInheritable": true}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let inheritable = r.json();
    assert_same_shape(&inheritable, &golden("POST", "/etapi/attributes", 201));
    assert_eq!(inheritable["position"], 10);
    let r = api.send(Method::POST, "/attributes", Some(json!({"noteId": top, "type": "label", "name": "own", "value": ""}))).await;
    assert_eq!(r.json()["position"], 20);
    // The child's first own attribute goes after the inherited one (position 10).
    let r = api.send(Method::POST, "/attributes", Some(json!({"noteId": child, "type": "relation", "name": "seeAlso", "value": top}))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let relation = r.json();
    assert_eq!(relation["position"], 20);

    // Note JSON: owned first, then the inheritable one from the parent; not the non-inheritable.
    let attrs = api.get(&format!("/notes/{child}")).await.json()["attributes"].clone();
    let names: Vec<&str> = attrs.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["seeAlso", "project"]);
    assert_eq!(attrs[1]["noteId"], json!(top));

    // Read, patch, errors.
    let id = inheritable["attributeId"].as_str().unwrap().to_owned();
    assert_eq!(api.get(&format!("/attributes/{id}")).await.json(), inheritable);
    let p = api.send(Method::PATCH, &format!("/attributes/{id}"), Some(json!({"value": "y", "position": 42}))).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.json()["value"], "y");
    assert_eq!(p.json()["position"], 42);
    api.send(Method::PATCH, &format!("/attributes/{id}"), Some(json!({"name": "z"}))).await.error(400, "PROPERTY_NOT_ALLOWED");
    let rid = relation["attributeId"].as_str().unwrap().to_owned();
    api.send(Method::PATCH, &format!("/attributes/{rid}"), Some(json!({"value": top}))).await.error(400, "PROPERTY_NOT_ALLOWED");
    api.send(Method::PATCH, &format!("/attributes/{rid}"), Some(json!({"value": "missing0001"}))).await.error(404, "NOTE_NOT_FOUND");
    api.send(Method::POST, "/attributes", Some(json!({"noteId": child, "type": "relation", "name": "r", "value": "missing0001"}))).await.error(404, "NOTE_NOT_FOUND");
    api.send(Method::POST, "/attributes", Some(json!({"noteId": child, "type": "tag", "name": "r"}))).await.error(400, "PROPERTY_VALIDATION_ERROR");
    api.send(Method::POST, "/attributes", Some(json!({"noteId": "missing0001", "type": "label", "name": "r"}))).await.error(400, "PROPERTY_VALIDATION_ERROR");
    api.send(Method::POST, "/attributes", Some(json!({"noteId": child, "type": "label", "name": " "}))).await.error(400, "GENERIC");
    api.send(Method::POST, "/attributes", Some(json!({"noteId": child, "type": "label", "name": "n", "isInheritable": 1}))).await.error(400, "PROPERTY_VALIDATION_ERROR");
    let m = api.get("/attributes/missing0001").await.error(404, "ATTRIBUTE_NOT_FOUND");
    assert_eq!(m, "Attribute 'missing0001' not found.");

    // Forced id and sanitized name.
    let r = api.send(Method::POST, "/attributes", Some(json!({"attributeId": "forcedAttr01", "noteId": child, "type": "label", "name": "a b"}))).await;
    assert_eq!(r.json()["attributeId"], "forcedAttr01");
    assert_eq!(r.json()["name"], "a_b");

    // Delete: gone from the note, 204 again.
    assert_eq!(api.send(Method::DELETE, &format!("/attributes/{id}"), None).await.status, StatusCode::NO_CONTENT);
    api.get(&format!("/attributes/{id}")).await.error(404, "ATTRIBUTE_NOT_FOUND");
    let attrs = api.get(&format!("/notes/{child}")).await.json()["attributes"].clone();
    assert!(attrs.as_array().unwrap().iter().all(|a| a["attributeId"] != json!(id)));
    assert_eq!(api.send(Method::DELETE, &format!("/attributes/{id}"), None).await.status, StatusCode::NO_CONTENT);
    api.stop().await;
}

// ------------------------------------------------------------------ attachments

#[tokio::test]
async fn etapi_attachments() {
    let api = Api::start().await;
    let owner = api.create_note("root", "Owner", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let r = api
        .send(Method::POST, "/attachments", Some(json!({"ownerId": owner, "role": "file", "mime": "text/plain", "title": "notes.txt", "content": "Grüße\n"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let created = r.json();
    assert_same_shape(&created, &golden("POST", "/etapi/attachments", 201));
    assert_eq!(created["position"], 10);
    let id = created["attachmentId"].as_str().unwrap().to_owned();

    let got = api.get(&format!("/attachments/{id}")).await.json();
    assert_eq!(got["contentLength"], 6, "SQLite LENGTH counts characters of text");
    assert_eq!(got["utcDateScheduledForErasureSince"], Value::Null);
    assert_eq!(got["title"], "notes.txt");
    let content = api.get(&format!("/attachments/{id}/content")).await;
    assert_eq!(content.text(), "Grüße\n");
    assert_eq!(content.headers["content-type"], "text/plain; charset=utf-8");

    // Binary content.
    let bin = api.send(Method::POST, "/attachments", Some(json!({"ownerId": owner, "role": "file", "mime": "application/octet-stream", "title": "b.bin", "position": 20}))).await.json();
    let bid = bin["attachmentId"].as_str().unwrap().to_owned();
    let bytes: Vec<u8> = (0u8..=255).rev().collect();
    let put = api.raw(Method::PUT, &format!("/attachments/{bid}/content"), Some(&api.token), Some((bytes.clone(), "application/octet-stream"))).await;
    assert_eq!(put.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get(&format!("/attachments/{bid}/content")).await.bytes, bytes);
    assert_eq!(api.get(&format!("/attachments/{bid}")).await.json()["contentLength"], 256);

    let list = api.get(&format!("/notes/{owner}/attachments")).await.json();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|a| a["attachmentId"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str(), bid.as_str()]);

    let p = api.send(Method::PATCH, &format!("/attachments/{id}"), Some(json!({"title": "renamed.txt", "position": 30}))).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.json()["title"], "renamed.txt");
    api.send(Method::PATCH, &format!("/attachments/{id}"), Some(json!({"ownerId": owner}))).await.error(400, "PROPERTY_NOT_ALLOWED");
    api.send(Method::POST, "/attachments", Some(json!({"ownerId": owner, "role": "file", "mime": "text/plain"}))).await.error(400, "GENERIC");
    api.send(Method::POST, "/attachments", Some(json!({"ownerId": "missing0001", "role": "file", "mime": "text/plain", "title": "t"}))).await.error(400, "PROPERTY_VALIDATION_ERROR");
    api.send(Method::POST, "/attachments", Some(json!({"ownerId": owner, "role": "file", "mime": "text/plain", "title": "t", "position": 1.5}))).await.error(400, "PROPERTY_VALIDATION_ERROR");
    let m = api.get("/attachments/missing0001").await.error(404, "ATTACHMENT_NOT_FOUND");
    assert_eq!(m, "Attachment 'missing0001' not found.");
    api.get("/attachments/missing0001/content").await.error(404, "ATTACHMENT_NOT_FOUND");
    api.get("/notes/missing0001/attachments").await.error(404, "NOTE_NOT_FOUND");

    assert_eq!(api.send(Method::DELETE, &format!("/attachments/{id}"), None).await.status, StatusCode::NO_CONTENT);
    api.get(&format!("/attachments/{id}")).await.error(404, "ATTACHMENT_NOT_FOUND");
    assert_eq!(api.get(&format!("/notes/{owner}/attachments")).await.json().as_array().unwrap().len(), 1);
    assert_eq!(api.send(Method::DELETE, &format!("/attachments/{id}"), None).await.status, StatusCode::NO_CONTENT);
    api.stop().await;
}

// ------------------------------------------------------------------ search

async fn search(api: &Api, query: String) -> Vec<String> {
    let url = format!("/notes?{}", query);
    let a = api.get(&url).await;
    assert_eq!(a.status, StatusCode::OK, "{query}: {}", a.text());
    a.json()["results"].as_array().unwrap().iter().map(|n| n["title"].as_str().unwrap().to_owned()).collect()
}

fn q(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn etapi_search() {
    let api = Api::start().await;
    let top = api.create_note("root", "Library", json!({"content": "<p>all my books</p>"})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let mk = |title: &'static str, content: &'static str| {
        let api = &api;
        let top = top.clone();
        async move { api.create_note(&top, title, json!({"content": content})).await["note"]["noteId"].as_str().unwrap().to_owned() }
    };
    let hobbit = mk("The Hobbit", "<p>a hole in the <b>ground</b></p>").await;
    let towers = mk("The Two Towers", "<p>second volume</p>").await;
    let dune = mk("Dune", "<p>spice and sand</p>").await;
    let old = mk("Old Almanac", "<p>archived stuff</p>").await;
    let label = |note: &str, name: &str, value: &str| {
        let api = &api;
        let body = json!({"noteId": note, "type": "label", "name": name, "value": value});
        async move { assert_eq!(api.send(Method::POST, "/attributes", Some(body)).await.status, StatusCode::CREATED) }
    };
    label(&hobbit, "book", "").await;
    label(&towers, "book", "").await;
    label(&hobbit, "year", "1937").await;
    label(&towers, "year", "1954").await;
    label(&dune, "year", "1965").await;
    label(&dune, "author", "Herbert").await;
    label(&old, "archived", "").await;
    let r = api.send(Method::POST, "/attributes", Some(json!({"noteId": dune, "type": "relation", "name": "seeAlso", "value": hobbit}))).await;
    assert_eq!(r.status, StatusCode::CREATED);

    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let s = |query: String| search(&api, query);
    assert_eq!(sorted(s(format!("search={}", q("hobbit"))).await), ["The Hobbit"]);
    // Words match content too, unless fastSearch.
    assert_eq!(s(format!("search={}", q("ground"))).await, ["The Hobbit"]);
    assert!(s(format!("search={}&fastSearch=true", q("ground"))).await.is_empty());
    assert_eq!(s(format!("search={}", q("\"second volume\""))).await, ["The Two Towers"]);
    assert_eq!(sorted(s(format!("search={}", q("#book"))).await), ["The Hobbit", "The Two Towers"]);
    assert_eq!(s(format!("search={}", q("#year=1954"))).await, ["The Two Towers"]);
    assert_eq!(sorted(s(format!("search={}", q("#year >= 1954"))).await), ["Dune", "The Two Towers"]);
    assert_eq!(s(format!("search={}", q("#author *=* erb"))).await, ["Dune"]);
    assert_eq!(s(format!("search={}", q("towers #book"))).await, ["The Two Towers"]);
    assert_eq!(s(format!("search={}", q("~seeAlso"))).await, ["Dune"]);
    assert_eq!(s(format!("search={}", q("~seeAlso.title = 'The Hobbit'"))).await, ["Dune"]);
    assert_eq!(s(format!("search={}", q("note.title =* dun"))).await, ["Dune"]);
    assert_eq!(sorted(s(format!("search={}", q("#book or #author"))).await), ["Dune", "The Hobbit", "The Two Towers"]);
    assert_eq!(s(format!("search={}", q("#year and not(#book)"))).await, ["Dune"]);
    assert_eq!(sorted(s(format!("search={}", q("note.parents.title = Library"))).await), ["Dune", "The Hobbit", "The Two Towers"]);
    // Archived notes only on request.
    assert!(s(format!("search={}", q("almanac"))).await.is_empty());
    assert_eq!(s(format!("search={}&includeArchivedNotes=true", q("almanac"))).await, ["Old Almanac"]);
    // orderBy, direction, limit.
    assert_eq!(s(format!("search={}&orderBy=title", q("#year"))).await, ["Dune", "The Hobbit", "The Two Towers"]);
    assert_eq!(s(format!("search={}&orderBy={}&orderDirection=desc", q("#year"), q("#year"))).await, ["Dune", "The Two Towers", "The Hobbit"]);
    assert_eq!(s(format!("search={}&orderBy={}&limit=1", q("#year"), q("#year"))).await, ["The Hobbit"]);
    // ancestorNoteId: the subtree only.
    let other = api.create_note("root", "Elsewhere", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    label(&other, "book", "").await;
    assert_eq!(s(format!("search={}", q("#book"))).await.len(), 3);
    assert_eq!(s(format!("search={}&ancestorNoteId={top}", q("#book"))).await.len(), 2);
    assert_eq!(s(format!("search={}&ancestorNoteId={top}&ancestorDepth=eq1", q("#year"))).await.len(), 3);
    // The answer carries full note objects.
    let full = api.get(&format!("/notes?search={}", q("#author"))).await.json();
    assert_same_shape(&full["results"][0], &golden("POST", "/etapi/create-note", 201)["note"]);

    // Parameter errors.
    api.get("/notes").await.error(400, "SEARCH_QUERY_PARAM_MANDATORY");
    api.get("/notes?search=%20").await.error(400, "SEARCH_QUERY_PARAM_MANDATORY");
    api.get("/notes?search=x&fastSearch=yes").await.error(400, "SEARCH_PARAM_VALIDATION_ERROR");
    api.get("/notes?search=x&orderDirection=up").await.error(400, "SEARCH_PARAM_VALIDATION_ERROR");
    api.get("/notes?search=x&limit=many").await.error(400, "SEARCH_PARAM_VALIDATION_ERROR");
    // An unparseable query finds nothing (as in Trilium), it does not fail.
    assert!(s(format!("search={}", q("#year = "))).await.is_empty());
    // debug=true adds debugInfo; without it there is none.
    let dbg = api.get(&format!("/notes?search={}&debug=true", q("#year = "))).await.json();
    assert!(dbg["debugInfo"]["error"].is_string(), "{dbg}");
    assert!(api.get(&format!("/notes?search={}", q("#year"))).await.json().get("debugInfo").is_none());
    // Ordering by a label some notes lack: those come last, first when descending.
    label(&hobbit, "rank", "2").await;
    label(&dune, "rank", "10").await;
    assert_eq!(s(format!("search={}&orderBy={}", q("#year"), q("#rank"))).await, ["The Hobbit", "Dune", "The Two Towers"]);
    assert_eq!(s(format!("search={}&orderBy={}&orderDirection=desc", q("#year"), q("#rank"))).await, ["The Two Towers", "Dune", "The Hobbit"]);
    api.stop().await;
}

// ------------------------------------------------------------------ calendar, inbox, backup

#[tokio::test]
async fn etapi_calendar_inbox_backup() {
    let api = Api::start().await;
    let day = api.get("/calendar/days/2024-03-05").await;
    assert_eq!(day.status, StatusCode::OK, "{}", day.text());
    let day = day.json();
    assert_eq!(day["title"], "05 - Tuesday");
    assert!(day["attributes"].as_array().unwrap().iter().any(|a| a["name"] == "dateNote" && a["value"] == "2024-03-05"));
    let month_id = day["parentNoteIds"][0].as_str().unwrap().to_owned();
    let month = api.get("/calendar/months/2024-03").await.json();
    assert_eq!(month["noteId"], json!(month_id));
    assert_eq!(month["title"], "03 - March");
    let year = api.get("/calendar/years/2024").await.json();
    assert_eq!(year["title"], "2024");
    assert_eq!(month["parentNoteIds"], json!([year["noteId"]]));
    let root = api.get(&format!("/notes/{}", year["parentNoteIds"][0].as_str().unwrap())).await.json();
    assert_eq!(root["title"], "Calendar");
    assert!(root["attributes"].as_array().unwrap().iter().any(|a| a["name"] == "calendarRoot"));
    // Same day again: same note. Week: the Monday's day note.
    assert_eq!(api.get("/calendar/days/2024-03-05").await.json()["noteId"], day["noteId"]);
    let week = api.get("/calendar/weeks/2024-03-07").await.json();
    assert_eq!(week["title"], "04 - Monday");
    // Inbox: the day note until a note is labelled #inbox.
    assert_eq!(api.get("/inbox/2024-03-05").await.json()["noteId"], day["noteId"]);
    let inbox = api.create_note("root", "Inbox", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    api.send(Method::POST, "/attributes", Some(json!({"noteId": inbox, "type": "label", "name": "inbox"}))).await;
    assert_eq!(api.get("/inbox/2024-03-05").await.json()["noteId"], json!(inbox));

    api.get("/calendar/days/2024-02-30").await.error(400, "DATE_INVALID");
    let m = api.get("/calendar/days/tomorrow").await.error(400, "DATE_INVALID");
    assert_eq!(m, "Date \"tomorrow\" is not valid.");
    api.get("/calendar/weeks/x").await.error(400, "DATE_INVALID");
    api.get("/inbox/x").await.error(400, "DATE_INVALID");
    api.get("/calendar/months/2024-13").await.error(400, "MONTH_INVALID");
    api.get("/calendar/years/20x4").await.error(400, "YEAR_INVALID");

    let a = api.send(Method::PUT, "/backup/etapi-now", None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    let file = api.inst.as_ref().unwrap().data_dir.path().join("backup").join("backup-etapi-now.db");
    assert!(file.metadata().unwrap().len() > 0);
    api.send(Method::PUT, "/backup/..%2Fescape", None).await.error(400, "GENERIC");
    api.stop().await;
}

// ------------------------------------------------------------------ OpenAPI

#[tokio::test]
async fn etapi_openapi_lists_only_served_routes() {
    let api = Api::start().await;
    let spec = api.raw(Method::GET, "/etapi.openapi.yaml", None, None).await;
    assert_eq!(spec.status, StatusCode::OK);
    assert!(spec.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = spec.text();
    // paths → methods, read from the YAML's indentation.
    let mut routes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut in_paths = false;
    let mut current = None;
    for line in text.lines() {
        if line == "paths:" {
            in_paths = true;
            continue;
        }
        if !in_paths {
            continue;
        }
        if !line.starts_with(' ') && !line.is_empty() {
            break;
        }
        if let Some(p) = line.strip_prefix("  /") {
            let path = format!("/{}", p.trim_end_matches(':'));
            routes.insert(path.clone(), Vec::new());
            current = Some(path);
        } else if let Some(m) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')) {
            if ["get", "post", "put", "patch", "delete"].contains(&m) {
                routes.get_mut(current.as_ref().unwrap()).unwrap().push(m.to_uppercase());
            }
        }
    }
    assert!(routes.len() >= 24, "{routes:?}");
    for (path, methods) in &routes {
        assert!(!methods.is_empty(), "{path} has no methods");
        let concrete = path
            .replace("{date}", "2024-01-01")
            .replace("{month}", "2024-01")
            .replace("{year}", "2024")
            .replace("{backupName}", "spec-check")
            .replace("{noteId}", "root")
            .replace("{parentNoteId}", "root")
            .replace('{', "")
            .replace('}', "");
        for m in methods {
            let method: Method = m.parse().unwrap();
            // Logging out uses a throwaway token so the walk can go on.
            let mut token = api.token.clone();
            if path == "/auth/logout" {
                let login = api.raw(Method::POST, "/auth/login", None, Some((json!({"password": PASSWORD}).to_string().into_bytes(), "application/json"))).await;
                token = login.json()["authToken"].as_str().unwrap().to_owned();
            }
            let a = api.raw(method, &concrete, Some(&token), Some((b"{}".to_vec(), "application/json"))).await;
            assert_ne!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
            if a.status == StatusCode::NOT_FOUND {
                assert_ne!(a.json()["code"], "NOT_FOUND", "{m} {path} is not routed");
            }
            assert!(!a.status.is_server_error(), "{m} {path}: {}", a.text());
        }
    }
    api.stop().await;
}

// ------------------------------------------------------------------ protected notes

#[tokio::test]
async fn etapi_protected_notes_and_attachments_are_refused() {
    use canopy::entities::{self, Attachment, Note};
    let api = Api::start().await;
    let id = api.create_note("root", "Secret", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let att = api
        .send(Method::POST, "/attachments", Some(json!({"ownerId": id, "role": "file", "mime": "text/plain", "title": "s.txt", "content": "s"})))
        .await
        .json();
    let aid = att["attachmentId"].as_str().unwrap().to_owned();
    api.doc()
        .write(&ChangeSource::new(InstanceId::generate()), |tx| {
            let mut n: Note = entities::get(tx.conn(), &id)?;
            n.is_protected = true;
            entities::save(tx, &n)?;
            let mut a: Attachment = entities::get(tx.conn(), &aid)?;
            a.is_protected = true;
            entities::save(tx, &a)?;
            Ok(())
        })
        .unwrap();
    assert_eq!(api.get(&format!("/notes/{id}")).await.json()["isProtected"], true);
    let m = api.get(&format!("/notes/{id}/content")).await.error(400, "NOTE_IS_PROTECTED");
    assert_eq!(m, format!("Note '{id}' is protected and content cannot be read through ETAPI."));
    let m = api.raw(Method::PUT, &format!("/notes/{id}/content"), Some(&api.token), Some((b"x".to_vec(), "text/plain"))).await.error(400, "NOTE_IS_PROTECTED");
    assert_eq!(m, format!("Note '{id}' is protected and cannot be modified through ETAPI."));
    api.send(Method::PATCH, &format!("/notes/{id}"), Some(json!({"title": "x"}))).await.error(400, "NOTE_IS_PROTECTED");
    let m = api.get(&format!("/attachments/{aid}/content")).await.error(400, "ATTACHMENT_IS_PROTECTED");
    assert_eq!(m, format!("Attachment '{aid}' is protected and content cannot be read through ETAPI."));
    api.raw(Method::PUT, &format!("/attachments/{aid}/content"), Some(&api.token), Some((b"x".to_vec(), "text/plain"))).await.error(400, "ATTACHMENT_IS_PROTECTED");
    api.send(Method::PATCH, &format!("/attachments/{aid}"), Some(json!({"title": "x"}))).await.error(400, "ATTACHMENT_IS_PROTECTED");
    api.stop().await;
}

// ------------------------------------------------------------------ a real Trilium document

/// Canopy serving the fixture's `document.db` (made by Trilium 0.63.7) must accept the
/// token Trilium issued and answer reads exactly as Trilium answered while building it.
#[tokio::test]
async fn etapi_serves_trilium_document_like_trilium() {
    let fixtures = crate::common::fixture_dir();
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(fixtures.join("manifest.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(fixtures.join("document.db"), data.join("document.db")).unwrap();
    let inst = canopy::start(canopy::StartOptions { data_dir: data, site_root: dir.path().join("site"), listen: Some("127.0.0.1:0".parse().unwrap()), ..Default::default() })
        .await
        .unwrap();
    let api = Api { base: format!("{}/etapi", inst.url()), inst: Some(inst), _dir: dir, http: reqwest::Client::new(), token: manifest["etapiToken"].as_str().unwrap().to_owned() };
    assert_eq!(api.get("/app-info").await.status, StatusCode::OK, "Trilium's token is accepted");
    // Trilium's password works too.
    let login = api.raw(Method::POST, "/auth/login", None, Some((json!({"password": manifest["password"]}).to_string().into_bytes(), "application/json"))).await;
    assert_eq!(login.status, StatusCode::CREATED, "{}", login.text());

    // The recorded PATCH answer (backdating, with the inherited label) is what GET says now.
    let calls = fixture_calls();
    let patch = calls.iter().find(|c| c["api"] == "etapi" && c["method"] == "PATCH").unwrap();
    let patched_id = patch["response"]["noteId"].as_str().unwrap();
    assert_eq!(api.get(&format!("/notes/{patched_id}")).await.json(), patch["response"]);
    // Recorded attributes read back identically; erased/deleted ones are 404.
    let mut same = 0;
    for c in calls.iter().filter(|c| c["api"] == "etapi" && c["path"] == "/etapi/attributes" && c["status"] == 201) {
        let id = c["response"]["attributeId"].as_str().unwrap();
        let a = api.get(&format!("/attributes/{id}")).await;
        if a.status == StatusCode::OK {
            assert_eq!(a.json(), c["response"]);
            same += 1;
        } else {
            a.error(404, "ATTRIBUTE_NOT_FOUND");
        }
    }
    assert_eq!(same, manifest["roles"]["labels"].as_array().unwrap().len() + 1, "five labels and one relation");
    // The recorded attachment, plus the two fields a read adds.
    let att = calls.iter().find(|c| c["api"] == "etapi" && c["path"] == "/etapi/attachments").unwrap();
    let got = api.get(&format!("/attachments/{}", att["response"]["attachmentId"].as_str().unwrap())).await.json();
    for (k, v) in att["response"].as_object().unwrap() {
        assert_eq!(&got[k], v, "{k}");
    }
    assert!(got["contentLength"].as_i64().unwrap() > 0);
    let content = api.get(&format!("/attachments/{}/content", att["response"]["attachmentId"].as_str().unwrap())).await;
    assert_eq!(content.text(), att["body"]["content"].as_str().unwrap());
    // The binary upload comes back byte for byte.
    let owner = manifest["roles"]["attachments"]["ownerId"].as_str().unwrap();
    let list = api.get(&format!("/notes/{owner}/attachments")).await.json();
    let bin = list.as_array().unwrap().iter().find(|a| a["title"] == manifest["roles"]["attachments"]["binaryTitle"]).unwrap();
    let bytes = api.get(&format!("/attachments/{}/content", bin["attachmentId"].as_str().unwrap())).await.bytes;
    assert_eq!(bytes.len() as i64, manifest["roles"]["attachments"]["binaryBytes"].as_i64().unwrap());
    assert_eq!(&bytes[..256], &(0u8..=255).collect::<Vec<_>>()[..]);

    // Clone: two parents, both branches; content of a code note as recorded.
    let clone = &manifest["roles"]["clonedNote"];
    let note = api.get(&format!("/notes/{}", clone["noteId"].as_str().unwrap())).await.json();
    assert_eq!(note["parentNoteIds"], clone["parents"]);
    assert_eq!(note["parentBranchIds"], clone["branchIds"]);
    let code_id = manifest["roles"]["codeNote"].as_str().unwrap();
    let recorded = calls.iter().find(|c| c["path"] == "/etapi/create-note" && c["response"]["note"]["noteId"] == json!(code_id)).unwrap();
    let code = api.get(&format!("/notes/{code_id}/content")).await;
    assert_eq!(code.text(), recorded["body"]["content"].as_str().unwrap());
    assert_eq!(code.headers["content-type"], "text/x-python; charset=utf-8");
    // Protected and deleted notes.
    let protected = manifest["roles"]["protectedNote"].as_str().unwrap();
    api.get(&format!("/notes/{protected}/content")).await.error(400, "NOTE_IS_PROTECTED");
    api.get(&format!("/notes/{}", manifest["roles"]["deletedNote"]["noteId"].as_str().unwrap())).await.error(404, "NOTE_NOT_FOUND");

    // Search over Trilium's data: the inherited label reaches the whole fixture tree.
    let top = manifest["roles"]["inheritableLabel"]["noteId"].as_str().unwrap();
    let hits = api.get(&format!("/notes?search={}", q("#project=trilium-fixture"))).await.json();
    let ids: Vec<&str> = hits["results"].as_array().unwrap().iter().map(|n| n["noteId"].as_str().unwrap()).collect();
    assert!(ids.contains(&top) && ids.contains(&patched_id) && ids.contains(&code_id), "{ids:?}");
    assert!(!ids.contains(&manifest["roles"]["deletedNote"]["noteId"].as_str().unwrap()));
    let munich = api.get(&format!("/notes?search={}", q("#city=München"))).await.json();
    assert_eq!(munich["results"].as_array().unwrap().len(), 1);
    assert_eq!(munich["results"][0]["noteId"], manifest["notes"]["München"]);
    api.stop().await;
}

#[tokio::test]
async fn etapi_content_links_become_relations() {
    let api = Api::start().await;
    let target = api.create_note("root", "Target", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let link = format!(r#"<p><a class="reference-link" href="http://elsewhere:8080/#root/{target}">Target</a></p>"#);
    let created = api.create_note("root", "Linking", json!({"content": link})).await;
    let id = created["note"]["noteId"].as_str().unwrap().to_owned();
    let links = |note: &Value| -> Vec<(String, String)> {
        note["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["type"] == "relation")
            .map(|a| (a["name"].as_str().unwrap().to_owned(), a["value"].as_str().unwrap().to_owned()))
            .collect()
    };
    assert_eq!(links(&created["note"]), [("internalLink".to_owned(), target.clone())]);
    // The server part of the URL is dropped, as Trilium does.
    let stored = api.get(&format!("/notes/{id}/content")).await.text();
    assert!(stored.contains(&format!(r##"href="#root/{target}""##)), "{stored}");
    // Replacing the content without the link removes the relation; links to missing notes are ignored.
    let put = api
        .raw(Method::PUT, &format!("/notes/{id}/content"), Some(&api.token), Some((br##"<p><a href="#root/missing0001">x</a></p>"##.to_vec(), "text/html")))
        .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT);
    assert!(links(&api.get(&format!("/notes/{id}")).await.json()).is_empty());
    api.stop().await;
}

// ------------------------------------------------------------------ export / import

fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let mut content = Vec::new();
        f.read_to_end(&mut content).unwrap();
        files.insert(f.name().to_owned(), content);
    }
    files
}

/// The meta entry (not a clone) of a note anywhere in the meta tree, with its zip directory.
fn find_meta<'a>(metas: &'a [Value], note_id: &str, dir: &str, clone: bool) -> Option<(&'a Value, String)> {
    for m in metas {
        if m["noteId"] == json!(note_id) && m["isClone"] == json!(clone) {
            return Some((m, dir.to_owned()));
        }
        if let Some(children) = m["children"].as_array() {
            let sub = format!("{dir}{}/", m["dirFileName"].as_str().unwrap());
            if let Some(found) = find_meta(children, note_id, &sub, clone) {
                return Some(found);
            }
        }
    }
    None
}

struct ExportFixture {
    root: String,
    alpha: String,
    code: String,
    outside: String,
    blob: Vec<u8>,
    code_src: String,
}

async fn export_fixture(api: &Api) -> ExportFixture {
    let root = api.create_note("root", "Export Root", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let alpha = api
        .create_note(&root, "Alpha", json!({"content": "<p>Some <strong>bold</strong> text</p>", "prefix": "pre"}))
        .await["note"]["noteId"]
        .as_str()
        .unwrap()
        .to_owned();
    let code_src = format!("console.log('{}');\n", rand_suffix());
    let code = api
        .create_note(&root, "Code", json!({"type": "code", "mime": "application/javascript;env=frontend", "content": code_src}))
        .await["note"]["noteId"]
        .as_str()
        .unwrap()
        .to_owned();
    let outside = api.create_note("root", "Outside", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    // A child marked #excludeFromExport is left out of the export.
    let skipped = api.create_note(&root, "Skipped", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let a = api.send(Method::POST, "/attributes", Some(json!({"noteId": skipped, "type": "label", "name": "excludeFromExport"}))).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    for (t, name, value, inh) in [
        ("label", "color", "red", true),
        ("label", "tag", "", false),
        ("relation", "rel", code.as_str(), false),
        ("relation", "away", outside.as_str(), false),
    ] {
        let a = api
            .send(Method::POST, "/attributes", Some(json!({"noteId": alpha, "type": t, "name": name, "value": value, "isInheritable": inh})))
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    }
    // Code is cloned under Alpha too.
    let b = api.send(Method::POST, "/branches", Some(json!({"noteId": code, "parentNoteId": alpha}))).await;
    assert!(b.status.is_success(), "{}", b.text());
    // A binary attachment on Alpha.
    let att = api
        .send(Method::POST, "/attachments", Some(json!({"ownerId": alpha, "role": "file", "mime": "application/octet-stream", "title": "blob.bin", "content": ""})))
        .await;
    assert_eq!(att.status, StatusCode::CREATED, "{}", att.text());
    let att_id = att.json()["attachmentId"].as_str().unwrap().to_owned();
    let blob: Vec<u8> = (0..=255u8).rev().chain([0, 0xff, 0xfe, 0x80]).collect();
    let token = api.token.clone();
    let put = api.raw(Method::PUT, &format!("/attachments/{att_id}/content"), Some(&token), Some((blob.clone(), "application/octet-stream"))).await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.text());
    // Alpha links to Code and shows the attachment: export and import rewrite both.
    let html = format!(
        "<p>Some <strong>bold</strong> text</p><p><a class=\"reference-link\" href=\"#root/{root}/{alpha}/{code}\">Code</a></p><p><img src=\"api/attachments/{att_id}/image/blob.bin\"></p>"
    );
    let put = api.raw(Method::PUT, &format!("/notes/{alpha}/content"), Some(&token), Some((html.into_bytes(), "text/html"))).await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.text());
    ExportFixture { root, alpha, code, outside, blob, code_src }
}

fn rand_suffix() -> String {
    format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}

#[tokio::test]
async fn etapi_export_zip_structure() {
    let api = Api::start().await;
    let fx = export_fixture(&api).await;
    let a = api.get(&format!("/notes/{}/export", fx.root)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.headers["content-type"], "application/zip");
    assert!(a.headers["content-disposition"].to_str().unwrap().contains("Export%20Root.zip"));
    let files = unzip(&a.bytes);
    let meta: Value = serde_json::from_slice(&files["!!!meta.json"]).expect("meta json");
    assert_eq!(meta["formatVersion"], json!(2));
    assert_eq!(meta["appVersion"], json!("0.63.7"));
    let list = meta["files"].as_array().unwrap();
    assert_eq!(list.len(), 4, "root + navigation, index, style: {meta}");
    for (i, name) in ["navigation.html", "index.html", "style.css"].iter().enumerate() {
        assert_eq!(list[i + 1]["dataFileName"], json!(name));
        assert_eq!(list[i + 1]["noImport"], json!(true));
        assert!(files.contains_key(*name), "{name} in zip");
    }
    let root = &list[0];
    assert_eq!(root["noteId"], json!(fx.root));
    assert_eq!(root["notePath"], json!([fx.root]));
    assert_eq!(root["title"], json!("Export Root"));
    assert_eq!(root["type"], json!("text"));
    assert_eq!(root["mime"], json!("text/html"));
    assert_eq!(root["format"], json!("html"));
    let children = root["children"].as_array().unwrap();
    let titles: Vec<&str> = children.iter().map(|c| c["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Alpha", "Code"]);

    // Alpha: prefix, attributes (the relation leaving the export dropped), attachment.
    let (alpha, alpha_dir) = find_meta(list, &fx.alpha, "", false).unwrap();
    assert_eq!(alpha["prefix"], json!("pre"));
    assert_eq!(alpha["notePath"], json!([fx.root, fx.alpha]));
    let attrs: Vec<(String, String, String)> = alpha["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["type"].as_str().unwrap().into(), a["name"].as_str().unwrap().into(), a["value"].as_str().unwrap().into()))
        .collect();
    assert!(attrs.contains(&("label".into(), "color".into(), "red".into())), "{attrs:?}");
    assert!(attrs.contains(&("label".into(), "tag".into(), "".into())));
    assert!(attrs.contains(&("relation".into(), "rel".into(), fx.code.clone())));
    assert!(!attrs.iter().any(|a| a.2 == fx.outside), "relation out of the export kept: {attrs:?}");
    let color = alpha["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "color").unwrap();
    assert_eq!(color["isInheritable"], json!(true));
    let alpha_file = alpha["dataFileName"].as_str().unwrap();
    assert_eq!(alpha_file, "pre - Alpha.html");
    let page = String::from_utf8(files[&format!("{alpha_dir}{alpha_file}")].clone()).unwrap();
    assert!(page.contains("<h1 data-trilium-h1>Alpha</h1>"), "{page}");
    assert!(page.contains("<p>Some <strong>bold</strong> text</p>"), "{page}");
    assert!(page.contains("href=\"../style.css\""), "{page}");
    assert!(page.contains("<a class=\"reference-link\" href=\"pre%20-%20Alpha/Code.js\">Code</a>"), "{page}");
    assert!(page.contains("<img src=\"pre - Alpha_blob.bin\">"), "{page}");
    let att = &alpha["attachments"][0];
    assert_eq!(att["title"], json!("blob.bin"));
    assert_eq!(att["role"], json!("file"));
    assert_eq!(files[&format!("{alpha_dir}{}", att["dataFileName"].as_str().unwrap())], fx.blob, "attachment bytes");

    // Code: raw content, a .js data file; its clone under Alpha is a link page.
    let (code, code_dir) = find_meta(list, &fx.code, "", false).unwrap();
    assert_eq!(code["type"], json!("code"));
    assert_eq!(code["mime"], json!("application/javascript;env=frontend"));
    assert!(code.get("format").is_none());
    let code_file = code["dataFileName"].as_str().unwrap();
    assert!(code_file.ends_with(".js"), "{code_file}");
    assert_eq!(files[&format!("{code_dir}{code_file}")], fx.code_src.as_bytes());
    // Depth-first, Code is met first under Alpha: that is the full entry; the one under
    // the root is the clone, a page linking to it.
    let root_dir = format!("{}/", root["dirFileName"].as_str().unwrap());
    assert_eq!(code_dir, format!("{root_dir}{}/", alpha["dirFileName"].as_str().unwrap()));
    assert_eq!(code["notePath"], json!([fx.root, fx.alpha, fx.code]));
    let (clone, clone_dir) = find_meta(list, &fx.code, "", true).unwrap();
    assert_eq!(clone_dir, root_dir);
    assert_eq!(clone["notePath"], json!([fx.root, fx.code]));
    assert_eq!(clone["type"], json!("text"));
    let clone_page = String::from_utf8(files[&format!("{clone_dir}{}", clone["dataFileName"].as_str().unwrap())].clone()).unwrap();
    assert!(clone_page.contains(&format!("href=\"pre%20-%20Alpha/{code_file}\"")), "{clone_page}");
    // Directory entries exist for notes with children.
    assert!(files.contains_key(&format!("{}/", root["dirFileName"].as_str().unwrap())));

    // Markdown: .md files, no frame files, content converted.
    let md = api.get(&format!("/notes/{}/export?format=markdown", fx.root)).await;
    assert_eq!(md.status, StatusCode::OK);
    let md_files = unzip(&md.bytes);
    let md_meta: Value = serde_json::from_slice(&md_files["!!!meta.json"]).unwrap();
    assert_eq!(md_meta["files"].as_array().unwrap().len(), 1);
    let (alpha_md, dir) = find_meta(md_meta["files"].as_array().unwrap(), &fx.alpha, "", false).unwrap();
    assert_eq!(alpha_md["format"], json!("markdown"));
    let text = String::from_utf8(md_files[&format!("{dir}{}", alpha_md["dataFileName"].as_str().unwrap())].clone()).unwrap();
    assert!(text.starts_with("# Alpha\r\nSome **bold** text\n\n[Code](pre%20-%20Alpha/Code.js)"), "{text}");
    assert!(text.contains("![](pre - Alpha_blob.bin)"), "{text}");
    api.stop().await;
}

async fn import_zip(api: &Api, parent: &str, zip: Vec<u8>) -> Answer {
    let token = api.token.clone();
    api.raw(Method::POST, &format!("/notes/{parent}/import"), Some(&token), Some((zip, "application/octet-stream"))).await
}

async fn child_by_title(api: &Api, parent: &str, title: &str) -> Value {
    let p = api.get(&format!("/notes/{parent}")).await.json();
    for id in p["childNoteIds"].as_array().unwrap() {
        let n = api.get(&format!("/notes/{}", id.as_str().unwrap())).await.json();
        if n["title"] == json!(title) {
            return n;
        }
    }
    panic!("no child '{title}' under {parent}");
}

#[tokio::test]
async fn etapi_import_round_trips_an_export() {
    let api = Api::start().await;
    let fx = export_fixture(&api).await;
    for format in ["html", "markdown"] {
        let zip = api.get(&format!("/notes/{}/export?format={format}", fx.root)).await;
        assert_eq!(zip.status, StatusCode::OK);
        let target = api.create_note("root", &format!("Target {format}"), json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
        let a = import_zip(&api, &target, zip.bytes.clone()).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        let v = a.json();
        let new_root = v["note"]["noteId"].as_str().unwrap().to_owned();
        assert_ne!(new_root, fx.root);
        assert_eq!(v["note"]["title"], json!("Export Root"));
        assert_eq!(v["branch"]["parentNoteId"], json!(target));
        assert_eq!(v["branch"]["noteId"], json!(new_root));
        assert_eq!(api.get(&format!("/notes/{target}")).await.json()["childNoteIds"], json!([new_root]));

        let alpha = child_by_title(&api, &new_root, "Alpha").await;
        let code = child_by_title(&api, &new_root, "Code").await;
        let alpha_id = alpha["noteId"].as_str().unwrap();
        let code_id = code["noteId"].as_str().unwrap();
        assert_ne!(alpha_id, fx.alpha);
        assert_ne!(code_id, fx.code);
        // Hierarchy: Alpha (prefixed) before Code, Code cloned under Alpha.
        let kids = api.get(&format!("/notes/{new_root}")).await.json()["childNoteIds"].clone();
        assert_eq!(kids, json!([alpha_id, code_id]));
        let mut parents: Vec<String> = code["parentNoteIds"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
        parents.sort();
        let mut expected = vec![new_root.clone(), alpha_id.to_owned()];
        expected.sort();
        assert_eq!(parents, expected, "Code under the new root and cloned under Alpha");
        let alpha_branch = api.get(&format!("/branches/{}", alpha["parentBranchIds"][0].as_str().unwrap())).await.json();
        assert_eq!(alpha_branch["prefix"], json!("pre"));

        // Contents.
        assert_eq!(code["type"], json!("code"));
        assert_eq!(code["mime"], json!("application/javascript;env=frontend"));
        assert_eq!(api.get(&format!("/notes/{code_id}/content")).await.bytes, fx.code_src.as_bytes());
        let html = api.get(&format!("/notes/{alpha_id}/content")).await.text();
        assert!(html.contains("<strong>bold</strong>"), "{format}: {html}");
        assert!(!html.contains("data-trilium-h1") && !html.contains("<html"), "{format}: wrapper kept: {html}");

        // Attributes: labels, relation re-pointed at the imported Code, none to outside.
        let attrs = alpha["attributes"].as_array().unwrap();
        let find = |name: &str| attrs.iter().find(|a| a["name"] == json!(name) && a["noteId"] == json!(alpha_id)).cloned();
        let color = find("color").expect("color label");
        assert_eq!(color["value"], json!("red"));
        assert_eq!(color["isInheritable"], json!(true));
        assert_eq!(find("tag").expect("tag label")["type"], json!("label"));
        let rel = find("rel").expect("relation");
        assert_eq!(rel["type"], json!("relation"));
        assert_eq!(rel["value"], json!(code_id));
        assert!(find("away").is_none());

        // Attachment bytes exact.
        let atts = api.get(&format!("/notes/{alpha_id}/attachments")).await.json();
        let atts = atts.as_array().unwrap();
        assert_eq!(atts.len(), 1);
        assert_eq!(atts[0]["title"], json!("blob.bin"));
        assert_eq!(atts[0]["mime"], json!("application/octet-stream"));
        let bytes = api.get(&format!("/attachments/{}/content", atts[0]["attachmentId"].as_str().unwrap())).await.bytes;
        assert_eq!(bytes, fx.blob, "{format}: attachment bytes");
        // Links point at the imported notes and attachment.
        let new_att = atts[0]["attachmentId"].as_str().unwrap();
        assert!(html.contains(&format!("href=\"#root/{code_id}\"")), "{format}: {html}");
        if format == "html" {
            assert!(html.contains(&format!("src=\"api/attachments/{new_att}/image/")), "{format}: {html}");
        } else {
            // As with Trilium: its markdown export writes the attachment's file name unencoded,
            // `![](pre - Alpha_blob.bin)`, which is no image in markdown (a link destination has
            // no spaces), so Trilium's import keeps it as text; the attachment itself comes back.
            assert!(html.contains("<p>![](pre - Alpha_blob.bin)</p>") && !html.contains("<img"), "{format}: {html}");
        }
        assert!(!html.contains(&fx.code) && !html.contains(&fx.root), "{format}: old ids left: {html}");
    }
    api.stop().await;
}

#[tokio::test]
async fn etapi_export_import_errors() {
    let api = Api::start().await;
    let id = api.create_note("root", "Err", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    api.get("/notes/doesNotExist1/export").await.error(404, "NOTE_NOT_FOUND");
    let msg = api.get(&format!("/notes/{id}/export?format=pdf")).await.error(400, "UNRECOGNIZED_EXPORT_FORMAT");
    assert!(msg.contains("'pdf'"), "{msg}");
    let ok = api.get(&format!("/notes/{id}/export")).await;
    assert_eq!(ok.status, StatusCode::OK);
    let zip = ok.bytes.clone();
    assert_eq!(import_zip(&api, "doesNotExist1", zip.clone()).await.status, StatusCode::NOT_FOUND);
    let garbage = import_zip(&api, &id, b"this is not a zip at all".to_vec()).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST, "{}", garbage.text());
    garbage.error(400, "GENERIC");
    let empty = import_zip(&api, &id, Vec::new()).await;
    assert!(empty.status.is_client_error(), "{}", empty.text());
    // A truncated zip and a zip with a broken meta file are refused too.
    let truncated = import_zip(&api, &id, zip[..zip.len() / 2].to_vec()).await;
    assert!(truncated.status.is_client_error(), "{}", truncated.text());
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("!!!meta.json", zip::write::SimpleFileOptions::default()).unwrap();
    std::io::Write::write_all(&mut w, b"{\"files\": 7}").unwrap();
    let bad_meta = w.finish().unwrap().into_inner();
    import_zip(&api, &id, bad_meta).await.error(400, "GENERIC");
    // Nothing was created by the failures.
    assert_eq!(api.get(&format!("/notes/{id}")).await.json()["childNoteIds"], json!([]));
    api.stop().await;
}

#[tokio::test]
async fn etapi_import_zip_without_meta() {
    let api = Api::start().await;
    let id = api.create_note("root", "Plain", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    w.start_file("Folder/b.png", o).unwrap();
    std::io::Write::write_all(&mut w, &[0x89, b'P', b'N', b'G', 0, 1]).unwrap();
    w.start_file("Folder/a.pdf", o).unwrap();
    std::io::Write::write_all(&mut w, b"%PDF-1").unwrap();
    let a = import_zip(&api, &id, w.finish().unwrap().into_inner()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let folder = a.json()["note"].clone();
    assert_eq!(folder["title"], json!("Folder"));
    let kids: Vec<Value> = {
        let mut v = Vec::new();
        for k in folder["childNoteIds"].as_array().unwrap() {
            v.push(api.get(&format!("/notes/{}", k.as_str().unwrap())).await.json());
        }
        v
    };
    let titles: Vec<&str> = kids.iter().map(|k| k["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["a.pdf", "b.png"], "sorted by title");
    assert_eq!(kids[1]["type"], json!("image"));
    assert_eq!(kids[0]["type"], json!("file"));
    assert!(kids[1]["attributes"].as_array().unwrap().iter().any(|a| a["name"] == "originalFileName" && a["value"] == "b.png"));
    api.stop().await;
}

/// A markdown note in an imported zip is stored as Trilium 0.63.7 stores it (its `marked` parse,
/// then its import sanitizer): GFM tables with their alignment, task items as a bare disabled
/// input (Trilium's sanitizer drops `type` and `checked`), strikethrough, bare-URL links, nested
/// lists, code classed by its fence's language; the title's `<h1>` gone, script and handlers gone.
/// The expected HTML is Trilium's for this file, newlines between tags aside.
#[tokio::test]
async fn etapi_import_markdown_note() {
    let api = Api::start().await;
    let target = api.create_note("root", "Md target", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let md = "# Tasks\n\n| Name | Qty |\n|:-----|----:|\n| apple | 1 |\n\n- [ ] todo item\n- [x] done item\n\n\
              Old ~~struck~~ text, [a link](https://example.com) and https://example.org.\n\n\
              1. first\n   - nested a\n   - nested b\n2. second\n\n```python\nprint(1 < 2)\n```\n\n\
              <script>alert(1)</script>\n<img src=\"https://example.com/x.png\" onerror=\"alert(2)\">\n";
    let meta = json!({"formatVersion": 2, "appVersion": "0.63.7", "files": [{
        "isClone": false, "noteId": "mdNoteOrig01", "notePath": ["mdNoteOrig01"], "title": "Tasks",
        "notePosition": 10, "prefix": null, "isExpanded": false, "type": "text", "mime": "text/html",
        "attributes": [], "format": "markdown", "dataFileName": "Tasks.md", "attachments": []
    }]});
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    w.start_file("!!!meta.json", o).unwrap();
    std::io::Write::write_all(&mut w, meta.to_string().as_bytes()).unwrap();
    w.start_file("Tasks.md", o).unwrap();
    std::io::Write::write_all(&mut w, md.as_bytes()).unwrap();
    let a = import_zip(&api, &target, w.finish().unwrap().into_inner()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let note = a.json()["note"].clone();
    assert_eq!((note["title"].as_str(), note["type"].as_str(), note["mime"].as_str()), (Some("Tasks"), Some("text"), Some("text/html")));
    let html = api.get(&format!("/notes/{}/content", note["noteId"].as_str().unwrap())).await.text();
    assert!(html.contains("<pre><code class=\"language-python\">print(1 &lt; 2)\n</code></pre>"), "{html}");
    assert!(!html.contains("script") && !html.contains("alert") && !html.contains("onerror"), "{html}");
    let tight = html.replace(">\n", ">").replace("\n<", "<");
    assert_eq!(
        tight,
        concat!(
            "<table><thead><tr><th align=\"left\">Name</th><th align=\"right\">Qty</th></tr></thead>",
            "<tbody><tr><td align=\"left\">apple</td><td align=\"right\">1</td></tr></tbody></table>",
            "<ul><li><input disabled=\"\"> todo item</li><li><input disabled=\"\"> done item</li></ul>",
            "<p>Old <del>struck</del> text, <a href=\"https://example.com\">a link</a> and ",
            "<a href=\"https://example.org\">https://example.org</a>.</p>",
            "<ol><li>first<ul><li>nested a</li><li>nested b</li></ul></li><li>second</li></ol>",
            "<pre><code class=\"language-python\">print(1 &lt; 2)</code></pre>",
            "<img src=\"https://example.com/x.png\">"
        )
    );
    api.stop().await;
}

/// Full-text search never fails on binary or non-UTF-8 content: an image note whose PNG went through
/// `PUT /notes/{id}/content`, a PNG attachment, a text note whose blob is not valid UTF-8. As in
/// Trilium (`note_content_fulltext.js`), only text, code and mermaid notes are searched by content.
#[tokio::test]
async fn etapi_search_survives_binary_content() {
    let api = Api::start().await;
    // PNG signature, then bytes that are not UTF-8, with the search word inside.
    let mut png: Vec<u8> = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xfe, 0xc3, 0x28];
    png.extend_from_slice(b" dfca610e ");
    png.extend_from_slice(&[0xa0, 0xa1, 0xe2, 0x28, 0xa1]);
    let image = api.create_note("root", "A picture", json!({"type": "image", "mime": "image/png", "content": ""})).await;
    let image_id = image["note"]["noteId"].as_str().unwrap().to_owned();
    let put = api.raw(Method::PUT, &format!("/notes/{image_id}/content"), Some(&api.token), Some((png.clone(), "application/octet-stream"))).await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.text());
    assert_eq!(api.get(&format!("/notes/{image_id}/content")).await.bytes, png, "the bytes are kept as they are");

    let owner = api.create_note("root", "Has a picture attached", json!({"content": "<p>see the attachment</p>"})).await["note"]["noteId"]
        .as_str()
        .unwrap()
        .to_owned();
    let att = api
        .send(Method::POST, "/attachments", Some(json!({"ownerId": owner, "role": "image", "mime": "image/png", "title": "p.png", "content": ""})))
        .await
        .json();
    let att_id = att["attachmentId"].as_str().unwrap().to_owned();
    let put = api.raw(Method::PUT, &format!("/attachments/{att_id}/content"), Some(&api.token), Some((png.clone(), "image/png"))).await;
    assert_eq!(put.status, StatusCode::NO_CONTENT);

    // A text note whose blob another tool left as bytes that are not UTF-8 (stored as TEXT).
    let broken = api.create_note("root", "Broken encoding", json!({"content": "<p>placeholder</p>"})).await["note"]["noteId"]
        .as_str()
        .unwrap()
        .to_owned();
    api.doc()
        .write(&ChangeSource::new(InstanceId::generate()), |tx| {
            let blob_id: String = tx.conn().query_row("SELECT blobId FROM notes WHERE noteId = ?1", [&broken], |r| r.get(0))?;
            tx.conn().execute(
                "UPDATE blobs SET content = CAST(X'3c703e6466636136313065206c6174696e31ff20e92074657874203c2f703e' AS TEXT)
                 WHERE blobId = ?1",
                [&blob_id],
            )?;
            // A change, so the search index looks at the blob again as it would after a sync.
            let now = tx.utc_now();
            canopy::db::entity_changes::put(
                tx,
                canopy::db::entity_changes::NewChange {
                    entity_name: "blobs",
                    entity_id: &blob_id,
                    hash: "damaged".into(),
                    is_erased: false,
                    is_synced: true,
                    utc_date_changed: now,
                },
            )?;
            Ok(())
        })
        .unwrap();

    for query in ["search=dfca610e&debug=true", "search=dfca610e", "search=latin1", "search=nothing%20like%20this", "search=note.content%20*%3D*%20dfca"] {
        let a = api.get(&format!("/notes?{query}")).await;
        assert_eq!(a.status, StatusCode::OK, "{query}: {}", a.text());
    }
    // The text note is found by its readable words; the image is not searched by its bytes.
    assert_eq!(search(&api, "search=dfca610e".into()).await, ["Broken encoding"]);
    assert_eq!(search(&api, "search=latin1".into()).await, ["Broken encoding"]);
    // The picture is still found by its title.
    assert_eq!(search(&api, "search=picture".into()).await.len(), 2);
    api.stop().await;
}

/// `POST /create-note` goes through Trilium's `createNewNote`, which copies the parent's `child:`
/// attributes (owned or inherited) onto the new note (`copyChildAttributes`).
#[tokio::test]
async fn etapi_create_note_copies_child_attributes() {
    let api = Api::start().await;
    let top = api.create_note("root", "Projects", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let parent = api.create_note(&top, "Inbox", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let attr = |body: Value| {
        let api = &api;
        async move { assert_eq!(api.send(Method::POST, "/attributes", Some(body)).await.status, StatusCode::CREATED) }
    };
    attr(json!({"noteId": parent, "type": "label", "name": "child:status", "value": "new"})).await;
    // Inherited from the grandparent.
    attr(json!({"noteId": top, "type": "label", "name": "child:project", "value": "canopy", "isInheritable": true})).await;
    let kid = api.create_note(&parent, "A task", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    let got = api.get(&format!("/notes/{kid}")).await.json();
    let mut owned: Vec<(String, String)> = got["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["noteId"] == kid.as_str())
        .map(|a| (a["name"].as_str().unwrap().to_owned(), a["value"].as_str().unwrap().to_owned()))
        .collect();
    owned.sort();
    assert_eq!(owned, [("project".to_string(), "canopy".to_string()), ("status".to_string(), "new".to_string())]);
    api.stop().await;
}

/// A new `~template` relation (Trilium's `handlers.js`): an empty text note takes the template's content,
/// type and mime; a note without children gets copies of the template's children (owned attributes
/// copied, relations inside the copied subtree pointing at the copies); a note with content keeps it.
#[tokio::test]
async fn etapi_template_relation_copies_content_and_children() {
    let api = Api::start().await;
    let id = |v: Value| v["note"]["noteId"].as_str().unwrap().to_owned();
    let template = id(api.create_note("root", "Meeting template", json!({"type": "code", "mime": "text/x-markdown", "content": "# Agenda\n"})).await);
    let step = id(api.create_note(&template, "Minutes", json!({"content": "<p>who said what</p>"})).await);
    let follow = id(api.create_note(&template, "Follow-up", json!({"content": "<p>todo</p>"})).await);
    let attr = |body: Value| {
        let api = &api;
        async move {
            let a = api.send(Method::POST, "/attributes", Some(body)).await;
            assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        }
    };
    attr(json!({"noteId": step, "type": "label", "name": "kind", "value": "minutes"})).await;
    attr(json!({"noteId": step, "type": "relation", "name": "next", "value": follow})).await;

    let empty = id(api.create_note("root", "Monday meeting", json!({"type": "text", "content": ""})).await);
    attr(json!({"noteId": empty, "type": "relation", "name": "template", "value": template})).await;
    let got = api.get(&format!("/notes/{empty}")).await.json();
    assert_eq!((got["type"].as_str(), got["mime"].as_str()), (Some("code"), Some("text/x-markdown")));
    assert_eq!(api.get(&format!("/notes/{empty}/content")).await.text(), "# Agenda\n");
    let kids: Vec<String> = got["childNoteIds"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(kids.len(), 2);
    assert!(!kids.contains(&step) && !kids.contains(&follow), "copies, not clones");
    let titles: Vec<String> = {
        let mut t = Vec::new();
        for k in &kids {
            t.push(api.get(&format!("/notes/{k}")).await.json()["title"].as_str().unwrap().to_owned());
        }
        t
    };
    assert_eq!(titles, ["Minutes", "Follow-up"]);
    let minutes = api.get(&format!("/notes/{}", kids[0])).await.json();
    let owned: Vec<(String, String)> = minutes["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["noteId"] == kids[0].as_str())
        .map(|a| (a["name"].as_str().unwrap().to_owned(), a["value"].as_str().unwrap().to_owned()))
        .collect();
    assert!(owned.contains(&("kind".into(), "minutes".into())), "{owned:?}");
    assert!(owned.contains(&("next".into(), kids[1].clone())), "the relation points at the copy: {owned:?}");
    assert_eq!(api.get(&format!("/notes/{}/content", kids[0])).await.text(), "<p>who said what</p>");

    // A note with content keeps it (and its type); having no children, it gets the copies too.
    let full = id(api.create_note("root", "Tuesday meeting", json!({"content": "<p>already written</p>"})).await);
    attr(json!({"noteId": full, "type": "relation", "name": "template", "value": template})).await;
    let got = api.get(&format!("/notes/{full}")).await.json();
    assert_eq!(got["type"], "text");
    assert_eq!(api.get(&format!("/notes/{full}/content")).await.text(), "<p>already written</p>");
    assert_eq!(got["childNoteIds"].as_array().unwrap().len(), 2);
    // A second template relation copies nothing more.
    attr(json!({"noteId": full, "type": "relation", "name": "template", "value": step})).await;
    assert_eq!(api.get(&format!("/notes/{full}")).await.json()["childNoteIds"].as_array().unwrap().len(), 2);
    api.stop().await;
}

/// An imported page with an inline `data:image` picture: as Trilium's `downloadImages` (run by the
/// import's post-processing), the picture becomes an image attachment titled "inline image.png" and
/// the `<img>` points at it. The same happens to content created through ETAPI.
#[tokio::test]
async fn etapi_inline_images_become_attachments() {
    let api = Api::start().await;
    let png: Vec<u8> = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0xff];
    let data_url = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(&png));
    let html = format!("<html><body><p>before</p><img src=\"{data_url}\" width=\"10\"><p>after</p></body></html>");
    let target = api.create_note("root", "Imports", json!({})).await["note"]["noteId"].as_str().unwrap().to_owned();
    // An export's layout: a meta file naming the page a text note in HTML.
    let meta = json!({
        "formatVersion": 2,
        "appVersion": "0.63.7",
        "files": [{
            "isClone": false, "noteId": "inlinePage01", "notePath": ["inlinePage01"], "title": "Page",
            "notePosition": 10, "prefix": null, "isExpanded": false, "type": "text", "mime": "text/html",
            "attributes": [], "format": "html", "dataFileName": "Page.html", "attachments": []
        }]
    });
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("!!!meta.json", zip::write::SimpleFileOptions::default()).unwrap();
    std::io::Write::write_all(&mut w, meta.to_string().as_bytes()).unwrap();
    w.start_file("Page.html", zip::write::SimpleFileOptions::default()).unwrap();
    std::io::Write::write_all(&mut w, html.as_bytes()).unwrap();
    let a = import_zip(&api, &target, w.finish().unwrap().into_inner()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let page = a.json()["note"]["noteId"].as_str().unwrap().to_owned();

    let check = |note: String| {
        let api = &api;
        let png = png.clone();
        async move {
            let list = api.get(&format!("/notes/{note}/attachments")).await.json();
            let list = list.as_array().unwrap();
            assert_eq!(list.len(), 1, "{list:?}");
            let att = &list[0];
            assert_eq!((att["role"].as_str(), att["mime"].as_str(), att["title"].as_str()), (Some("image"), Some("image/png"), Some("inline image.png")));
            let att_id = att["attachmentId"].as_str().unwrap();
            assert_eq!(api.get(&format!("/attachments/{att_id}/content")).await.bytes, png);
            let content = api.get(&format!("/notes/{note}/content")).await.text();
            assert!(!content.contains("data:image"), "{content}");
            assert!(content.contains(&format!("<img src=\"api/attachments/{att_id}/image/inline%20image.png\"")), "{content}");
            content
        }
    };
    let content = check(page).await;
    assert!(content.contains("<p>before</p>") && content.contains("\" width=\"10\"><p>after</p>"), "the rest stays: {content}");
    let created = api.create_note("root", "Pasted", json!({"content": format!("<p>x</p><img src=\"{data_url}\">")})).await;
    check(created["note"]["noteId"].as_str().unwrap().to_owned()).await;
    api.stop().await;
}
