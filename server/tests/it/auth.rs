//! Logins, sessions and CSRF against real instances, with a cookie-keeping HTTP client as the browser.
use std::sync::Arc;

use reqwest::cookie::CookieStore;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

use crate::cluster::Node;

pub const PASSWORD: &str = "test-password";

/// A browser: keeps cookies, never follows redirects (the tests look at them).
pub struct Browser {
    pub http: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    pub base: String,
    /// The CSRF token of the last page loaded.
    pub csrf: String,
}

/// Gives `node`'s document the test password unless it has one.
pub fn ensure_password(node: &Node) {
    ensure_document_password(node.document(), node.instance_id());
}

pub fn ensure_document_password(document: &canopy::Document, instance_id: canopy::db::InstanceId) {
    if !document.read(canopy::db::password::is_password_set).unwrap() {
        document.write(&canopy::db::ChangeSource::new(instance_id), |tx| canopy::db::password::set_password(tx, PASSWORD)).unwrap();
    }
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        Browser::with_client(base, |b| b)
    }

    pub fn with_client(base: &str, configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let builder = reqwest::Client::builder().cookie_provider(jar.clone()).redirect(reqwest::redirect::Policy::none());
        let http = configure(builder).build().unwrap();
        Browser { http, jar, base: base.to_owned(), csrf: String::new() }
    }

    /// A browser logged into `node` with the test password, holding the page's CSRF token.
    pub async fn logged_in(node: &Node) -> Browser {
        ensure_password(node);
        Browser::logged_in_at(&node.url()).await
    }

    /// A browser logged in at `base`, whose document has the test password.
    pub async fn logged_in_at(base: &str) -> Browser {
        let mut browser = Browser::new(base);
        let response = browser.login(PASSWORD, false).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login succeeds");
        browser.load_page().await;
        browser
    }

    pub async fn login(&self, password: &str, remember: bool) -> reqwest::Response {
        let mut form = vec![("password", password), ("next", "/")];
        if remember {
            form.push(("remember_me", "1"));
        }
        self.http.post(format!("{}/login", self.base)).form(&form).send().await.unwrap()
    }

    /// Loads `/` and keeps the CSRF token from its `<meta name="csrf-token">`.
    pub async fn load_page(&mut self) -> String {
        let response = self.http.get(format!("{}/", self.base)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "the page loads");
        let html = response.text().await.unwrap();
        self.csrf = csrf_token_of(&html).unwrap_or_else(|| panic!("no csrf-token meta tag in {html}"));
        html
    }

    /// Calls a server function the way the hydrated page does (a form POST with the CSRF header).
    pub async fn server_fn_response(&self, name: &str, field: (&str, &str), csrf: Option<&str>) -> reqwest::Response {
        let mut request = self.http.post(format!("{}/ui/{name}", self.base)).form(&[field]);
        if let Some(token) = csrf {
            request = request.header("X-CSRF-Token", token);
        }
        request.send().await.unwrap()
    }

    pub async fn server_fn<T: serde::de::DeserializeOwned>(&self, name: &str, field: (&str, &str)) -> T {
        let response = self.server_fn_response(name, field, Some(&self.csrf)).await;
        assert_eq!(response.status(), StatusCode::OK, "server function {name}");
        response.json().await.unwrap()
    }

    /// The session cookie's value as the browser would send it.
    pub fn cookie_header(&self) -> Option<String> {
        self.jar.cookies(&self.base.parse().unwrap()).map(|v| v.to_str().unwrap().to_owned())
    }
}

pub fn csrf_token_of(html: &str) -> Option<String> {
    let start = html.find(r#"<meta name="csrf-token" content=""#)? + r#"<meta name="csrf-token" content=""#.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned()).filter(|t| !t.is_empty())
}

fn location(headers: &HeaderMap) -> &str {
    headers.get(LOCATION).map(|v| v.to_str().unwrap()).unwrap_or("")
}

fn set_cookie(headers: &HeaderMap) -> String {
    headers.get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>().join("\n")
}

fn max_change_id(node: &Node) -> i64 {
    node.document().read(canopy::db::entity_changes::max_id).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_session_pages_go_to_the_login_and_calls_get_401() {
    let node = Node::hub().await;
    ensure_password(&node);
    let browser = Browser::new(&node.url());
    let page = browser.http.get(format!("{}/?note=root", node.url())).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(page.headers()), "/login?next=/%3Fnote%3Droot");
    let html = page.text().await.unwrap();
    assert!(!html.contains("Welcome to Canopy"), "no note leaks into the redirect");
    for name in ["children", "note"] {
        let field = if name == "children" { ("parent_note_id", "root") } else { ("note_id", "root") };
        let response = browser.server_fn_response(name, field, None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "/ui/{name}");
        // In the form the page decodes, so it can say what happened.
        assert_eq!(response.json::<app::error::AppError>().await.unwrap(), app::error::AppError::NotAuthenticated);
    }
    for (method, path) in [("GET", "/api/canopy/sync-status"), ("POST", "/api/sync/now"), ("POST", "/api/canopy/deep-check"), ("GET", "/api/images/x/y.png"), ("POST", "/api/ui/anything")] {
        let response = browser.http.request(method.parse().unwrap(), format!("{}{path}", node.url())).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(response.text().await.unwrap(), canopy::auth::NOT_LOGGED_IN, "Trilium's answer");
    }
    // The login page itself, its style sheet and the icon are open.
    let login = browser.http.get(format!("{}/login?next=/%3Fnote%3Droot", node.url())).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let html = login.text().await.unwrap();
    assert!(html.contains(r#"name="password""#) && html.contains(r#"name="remember_me""#), "{html}");
    assert!(html.contains(r#"value="/?note=root""#), "the wanted page is kept: {html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_opens_a_session_that_pages_and_server_functions_accept() {
    let node = Node::hub().await;
    ensure_password(&node);
    let mut browser = Browser::new(&node.url());
    let response = browser
        .http
        .post(format!("{}/login", node.url()))
        .form(&[("password", PASSWORD), ("next", "/?note=root")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(response.headers()), "/?note=root", "back to the page the user wanted");
    let cookie = set_cookie(response.headers());
    assert!(cookie.starts_with(&format!("canopy.sid.{}=", node.instance_id())), "{cookie}");
    for attribute in ["; Path=/", "; HttpOnly", "; SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert!(!cookie.contains("Max-Age"), "without remember me the cookie ends with the browser: {cookie}");

    let html = browser.load_page().await;
    assert!(html.contains("Welcome to Canopy"), "{html}");
    assert_eq!(browser.csrf.len(), 43);
    // A page carries the session's CSRF token and notes: never cached, never framed by another site.
    let page = browser.http.get(format!("{}/", node.url())).send().await.unwrap();
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["content-security-policy"], "frame-ancestors 'none'");
    let children: Vec<app::tree::api::TreeEntry> = browser.server_fn("children", ("parent_note_id", "root")).await;
    assert!(children.iter().any(|c| c.title == "Welcome to Canopy"));
    let status = browser.http.get(format!("{}/api/canopy/sync-status", node.url())).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::OK);

    // Another browser's session has another token.
    let other = Browser::logged_in(&node).await;
    assert_ne!(other.csrf, browser.csrf);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let node = Node::hub().await;
    let browser = Browser::logged_in(&node).await;
    let other = Browser::logged_in(&node).await;
    let before = max_change_id(&node);
    for csrf in [None, Some(""), Some("wrong"), Some(other.csrf.as_str())] {
        let response = browser.server_fn_response("children", ("parent_note_id", "root"), csrf).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "token {csrf:?}");
        assert_eq!(
            response.json::<app::error::AppError>().await.unwrap(),
            app::error::AppError::Forbidden(canopy::auth::CSRF_REFUSED.into())
        );
        for path in ["/api/sync/now", "/api/canopy/deep-check", "/api/ui/anything"] {
            let mut request = browser.http.post(format!("{}{path}", node.url()));
            if let Some(token) = csrf {
                request = request.header("X-CSRF-Token", token);
            }
            assert_eq!(request.send().await.unwrap().status(), StatusCode::FORBIDDEN, "{path} with {csrf:?}");
        }
        // Logging out is a change too: refused, and the session goes on.
        let mut request = browser.http.post(format!("{}/logout", node.url()));
        if let Some(token) = csrf {
            request = request.form(&[("csrf_token", token)]);
        }
        assert_eq!(request.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(max_change_id(&node), before, "nothing was written");
    let response = browser.server_fn_response("children", ("parent_note_id", "root"), Some(&browser.csrf)).await;
    assert_eq!(response.status(), StatusCode::OK, "the session still works");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_refused_and_guessing_is_limited_with_etapi() {
    let node = Node::hub().await;
    ensure_password(&node);
    let browser = Browser::new(&node.url());
    let response = browser.login("wrong", false).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(response.headers()).is_empty(), "no session for a wrong password");
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"class="auth-error""#) && html.contains("Wrong password."), "{html}");
    assert_eq!(browser.http.get(format!("{}/", node.url())).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    for _ in 1..canopy::login_limit::MAX_FAILURES {
        assert_eq!(browser.login("wrong", false).await.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = browser.login(PASSWORD, false).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password, for now");
    assert!(refused.text().await.unwrap().contains(canopy::login_limit::MESSAGE));
    // One limiter for every password check.
    let etapi = browser.http.post(format!("{}/etapi/auth/login", node.url())).json(&serde_json::json!({ "password": PASSWORD })).send().await.unwrap();
    assert_eq!(etapi.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cross_site_login_or_password_form_is_refused_and_next_stays_on_the_site() {
    let node = Node::hub().await;
    let browser = Browser::new(&node.url());
    // A new document: nobody may set its password from another site.
    let forged = browser
        .http
        .post(format!("{}/set-password", node.url()))
        .header("Origin", "http://evil.example")
        .form(&[("password", "attacker"), ("password_repeat", "attacker")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(!node.document().read(canopy::db::password::is_password_set).unwrap());
    ensure_password(&node);
    let forged = browser
        .http
        .post(format!("{}/login", node.url()))
        .header("Origin", "http://evil.example")
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(forged.headers()).is_empty());
    // The same form from the site's own page works, and `next` cannot leave the site.
    let own = browser
        .http
        .post(format!("{}/login", node.url()))
        .header("Origin", node.url())
        .form(&[("password", PASSWORD), ("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(own.headers()), "/");
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_the_session_for_good() {
    let node = Node::hub().await;
    let browser = Browser::logged_in(&node).await;
    let cookie = browser.cookie_header().expect("a session cookie");
    let response = browser.http.post(format!("{}/logout", node.url())).header("X-CSRF-Token", &browser.csrf).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(response.headers()), "/login");
    assert!(set_cookie(response.headers()).contains("Max-Age=0"), "the browser forgets the cookie");
    assert_eq!(browser.http.get(format!("{}/", node.url())).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    // A copy of the old cookie is no good either: the session is gone on the server.
    let replay = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = replay.get(format!("{}/", node.url())).header("Cookie", cookie).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // The plain form of the page logs out too.
    let browser = Browser::logged_in(&node).await;
    let response = browser.http.post(format!("{}/logout", node.url())).form(&[("csrf_token", browser.csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(browser.http.get(format!("{}/", node.url())).send().await.unwrap().status(), StatusCode::SEE_OTHER);
}

/// The `sessions.db` rows: (remember, createdMs, expiresMs).
fn stored_sessions(node: &Node) -> Vec<(bool, i64, i64)> {
    let conn = rusqlite::Connection::open(node.data_dir().join("sessions.db")).unwrap();
    let mut stmt = conn.prepare("SELECT remember, createdMs, expiresMs FROM sessions ORDER BY createdMs").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_survive_a_restart_last_a_day_or_three_weeks_and_expire() {
    let mut node = Node::hub().await;
    let mut browser = Browser::logged_in(&node).await;
    node.restart().await;
    browser.load_page().await;
    let children: Vec<app::tree::api::TreeEntry> = browser.server_fn("children", ("parent_note_id", "root")).await;
    assert!(!children.is_empty(), "the session and its CSRF token survived the restart");
    let in_document: i64 = node
        .document()
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'sessions'", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(in_document, 0, "sessions are not in document.db, which users copy");

    let remembered = Browser::new(&node.url());
    let response = remembered.login(PASSWORD, true).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(response.headers()).contains("; Max-Age=1814400"), "three weeks: {}", set_cookie(response.headers()));
    let rows = stored_sessions(&node);
    assert_eq!(rows.len(), 2);
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let (remember, created, expires) = rows[0];
    assert!(!remember);
    assert!((expires - created - DAY_MS).abs() < 60_000, "a day");
    let (remember, created, expires) = rows[1];
    assert!(remember);
    assert!((expires - created - 21 * DAY_MS).abs() < 60_000, "three weeks");

    // Use slides the expiry forward; a remembered cookie is sent again with its three weeks.
    {
        let conn = rusqlite::Connection::open(node.data_dir().join("sessions.db")).unwrap();
        conn.execute("UPDATE sessions SET expiresMs = expiresMs - 3600000", []).unwrap();
    }
    let page = remembered.http.get(format!("{}/", node.url())).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(set_cookie(page.headers()).contains("; Max-Age=1814400"), "{}", set_cookie(page.headers()));
    let page = browser.http.get(format!("{}/", node.url())).send().await.unwrap();
    assert!(set_cookie(page.headers()).is_empty(), "a browser-session cookie needs no new copy");
    for (remember, created, expires) in stored_sessions(&node) {
        let lifetime = if remember { 21 * DAY_MS } else { DAY_MS };
        assert!(expires - created > lifetime, "moved forward past its first expiry");
    }

    // An expired session is refused, and forgotten at the next start.
    {
        let conn = rusqlite::Connection::open(node.data_dir().join("sessions.db")).unwrap();
        conn.execute("UPDATE sessions SET expiresMs = 1 WHERE remember = 0", []).unwrap();
    }
    assert_eq!(browser.http.get(format!("{}/", node.url())).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    node.restart().await;
    assert_eq!(stored_sessions(&node).len(), 1);
    assert_eq!(remembered.http.get(format!("{}/", node.url())).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_document_asks_for_a_password_first_then_logs_in() {
    let node = Node::hub().await;
    let mut browser = Browser::new(&node.url());
    let login = browser.http.get(format!("{}/login?next=/%3Fnote%3Droot", node.url())).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(login.headers()), "/set-password?next=/%3Fnote%3Droot");
    let page = browser.http.get(format!("{}/set-password", node.url())).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"name="password""#) && html.contains(r#"name="password_repeat""#), "{html}");

    let http = browser.http.clone();
    let set = |password: &'static str, repeat: &'static str| {
        http
            .post(format!("{}/set-password", node.url()))
            .form(&[("password", password), ("password_repeat", repeat), ("next", "/?note=root")])
            .send()
    };
    let mismatch = set("first pass", "other pass").await.unwrap();
    assert_eq!(mismatch.status(), StatusCode::BAD_REQUEST);
    assert!(mismatch.text().await.unwrap().contains("not the same"));
    let short = set("abc", "abc").await.unwrap();
    assert_eq!(short.status(), StatusCode::BAD_REQUEST);
    assert!(short.text().await.unwrap().contains("at least 4"));
    assert!(!node.document().read(canopy::db::password::is_password_set).unwrap());

    let done = set("first pass", "first pass").await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(done.headers()), "/?note=root");
    assert!(node.document().read(|c| canopy::db::password::verify_password(c, "first pass")).unwrap());
    browser.load_page().await;
    // Once set, the page is gone and the password cannot be set again.
    let again = browser.http.get(format!("{}/set-password", node.url())).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let again = set("second pass", "second pass").await.unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(again.headers()), "/login?next=/%3Fnote%3Droot");
    assert!(node.document().read(|c| canopy::db::password::verify_password(c, "first pass")).unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_authentication_pages_need_no_login_but_calls_still_need_the_token() {
    let node = Node::with_config("[General]\nnoBackup=true\nnoAuthentication=true\n").await;
    let mut browser = Browser::new(&node.url());
    browser.load_page().await;
    let children: Vec<app::tree::api::TreeEntry> = browser.server_fn("children", ("parent_note_id", "root")).await;
    assert!(!children.is_empty());
    let forged = browser.server_fn_response("children", ("parent_note_id", "root"), None).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let login = browser.http.get(format!("{}/login", node.url())).send().await.unwrap();
    assert_eq!(location(login.headers()), "/");
    let status = Browser::new(&node.url()).http.get(format!("{}/api/canopy/sync-status", node.url())).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    // Another site's post carries no cookie (SameSite=Lax): without a session it cannot make the instance work.
    let cross_site = Browser::new(&node.url()).http.post(format!("{}/api/canopy/deep-check", node.url())).send().await.unwrap();
    assert_eq!(cross_site.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_serves_the_ui_with_a_secure_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), certified.key_pair.serialize_pem()).unwrap();
    let data_dir = dir.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    let config = format!(
        "[General]\nnoBackup=true\n[Network]\nhttps=true\ncertPath={}\nkeyPath=../key.pem\n",
        dir.path().join("cert.pem").display()
    );
    std::fs::write(data_dir.join("config.ini"), &config).unwrap();
    let options = canopy::StartOptions {
        data_dir: data_dir.clone(),
        site_root: "/nonexistent-site".into(),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    };
    let instance = canopy::start(options.clone()).await.unwrap();
    assert!(instance.url().starts_with("https://"));
    let instance_id = std::fs::read_to_string(data_dir.join("instance-id")).unwrap();
    ensure_document_password(&instance.document, canopy::db::InstanceId::from(instance_id.trim()));
    let root = reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap();
    let mut browser = Browser::with_client(&instance.url(), |b| b.add_root_certificate(root).tls_built_in_root_certs(false));
    let response = browser.login(PASSWORD, false).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(response.headers()).contains("; Secure"), "{}", set_cookie(response.headers()));
    browser.load_page().await;
    let children: Vec<app::tree::api::TreeEntry> = browser.server_fn("children", ("parent_note_id", "root")).await;
    assert!(!children.is_empty());
    // Plain http on the https port gets nothing.
    let plain = reqwest::get(format!("http://{}/login", instance.addr)).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    instance.stop().await.unwrap();

    // A missing key stops the start with one line naming it.
    std::fs::write(data_dir.join("config.ini"), config.replace("../key.pem", "../missing.pem")).unwrap();
    let error = canopy::start(options).await.err().expect("refused").to_string();
    assert!(error.contains("keyPath") && error.contains("missing.pem") && !error.contains('\n'), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    async fn fail_logins(node: &Node, forwarded_for: &str, times: usize) -> StatusCode {
        let http = reqwest::Client::new();
        let mut status = StatusCode::OK;
        for _ in 0..times {
            status = http
                .post(format!("{}/login", node.url()))
                .header("X-Forwarded-For", forwarded_for)
                .form(&[("password", "wrong")])
                .send()
                .await
                .unwrap()
                .status();
        }
        status
    }
    // Not trusted: every request is 127.0.0.1's, whatever it claims.
    let node = Node::hub().await;
    ensure_password(&node);
    fail_logins(&node, "203.0.113.1", canopy::login_limit::MAX_FAILURES).await;
    assert_eq!(fail_logins(&node, "203.0.113.2", 1).await, StatusCode::TOO_MANY_REQUESTS);

    let node = Node::with_config("[General]\nnoBackup=true\n[Network]\ntrustedReverseProxy=loopback\n").await;
    ensure_password(&node);
    fail_logins(&node, "203.0.113.1", canopy::login_limit::MAX_FAILURES).await;
    assert_eq!(fail_logins(&node, "203.0.113.1", 1).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(fail_logins(&node, "203.0.113.2", 1).await, StatusCode::UNAUTHORIZED, "another client behind the proxy");

    // A trusted proxy that terminates https gets a Secure cookie, and its forwarded host is the origin.
    let login = |proto: &'static str| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}/login", node.url()))
            .header("X-Forwarded-For", "203.0.113.3")
            .header("X-Forwarded-Proto", proto)
            .header("X-Forwarded-Host", "notes.example")
            .header("Origin", "https://notes.example")
            .form(&[("password", PASSWORD)])
            .send()
    };
    let response = login("https").await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(response.headers()).contains("; Secure"), "{}", set_cookie(response.headers()));
    let response = login("http").await.unwrap();
    assert!(!set_cookie(response.headers()).contains("Secure"));
    // Without the trust, the same headers are a cross-site post to 127.0.0.1.
    let untrusted = Node::hub().await;
    ensure_password(&untrusted);
    let response = reqwest::Client::new()
        .post(format!("{}/login", untrusted.url()))
        .header("X-Forwarded-Host", "notes.example")
        .header("Origin", "https://notes.example")
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn peers_scripts_and_static_files_need_no_session() {
    let node = Node::hub().await;
    ensure_password(&node);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = |path: &str| http.get(format!("{}{path}", node.url())).send();
    assert_eq!(get("/api/health-check").await.unwrap().status(), StatusCode::OK);
    assert_eq!(get("/api/setup/status").await.unwrap().status(), StatusCode::OK);
    assert_eq!(get("/favicon.svg").await.unwrap().status(), StatusCode::NOT_FOUND, "no site in these tests, but no redirect");
    // Sync answers with its own credentials' errors, not the browser's.
    let sync = get("/api/sync/changed?instanceId=x&lastEntityChangeId=0").await.unwrap();
    assert_eq!(sync.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sync.text().await.unwrap(), "Logged in session not found");
    let login = http.post(format!("{}/api/login/sync", node.url())).body("{}").send().await.unwrap();
    assert_eq!(login.status(), StatusCode::BAD_REQUEST);
    // ETAPI with its token, and the token also opens the local sync API.
    let etapi = get("/etapi/app-info").await.unwrap();
    assert_eq!(etapi.status(), StatusCode::UNAUTHORIZED);
    let token: serde_json::Value = http
        .post(format!("{}/etapi/auth/login", node.url()))
        .json(&serde_json::json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["authToken"].as_str().unwrap().to_owned();
    let with_token = |method: reqwest::Method, path: &str, token: &str| {
        http.request(method, format!("{}{path}", node.url())).header("Authorization", token.to_owned()).send()
    };
    assert_eq!(with_token(reqwest::Method::GET, "/etapi/app-info", &token).await.unwrap().status(), StatusCode::OK);
    assert_eq!(with_token(reqwest::Method::GET, "/api/canopy/sync-status", &token).await.unwrap().status(), StatusCode::OK);
    let deep = with_token(reqwest::Method::POST, "/api/canopy/deep-check", &token).await.unwrap();
    assert_eq!(deep.status(), StatusCode::OK, "no CSRF token needed with an ETAPI token");
    let bogus = with_token(reqwest::Method::GET, "/api/canopy/sync-status", "nope_nope").await.unwrap();
    assert_eq!(bogus.status(), StatusCode::UNAUTHORIZED);
    // A token does not open pages or server functions: those are the browser's.
    assert_eq!(with_token(reqwest::Method::GET, "/", &token).await.unwrap().status(), StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_waiting_for_its_first_sync_takes_no_password() {
    let hub = Node::hub().await;
    let client = Node::with_config(&format!("[General]\nnoBackup=true\n[Sync]\nsyncServerHost={}\n", hub.url())).await;
    let browser = Browser::new(&client.url());
    let login = browser.http.get(format!("{}/login", client.url())).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(login.text().await.unwrap().contains("waiting for its first sync"));
    let set = browser
        .http
        .post(format!("{}/set-password", client.url()))
        .form(&[("password", "mine!"), ("password_repeat", "mine!")])
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(!client.document().read(canopy::db::password::is_password_set).unwrap(), "the password comes with the document");
}
