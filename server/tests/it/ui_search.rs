//! Search on real instances: the full-text index beside the document (built at start, kept current by
//! ETAPI, UI and sync writes, rebuilt when missing, corrupt or of another document), the quick search
//! and saved searches of the UI, and ETAPI's search giving the same answers with and without the index.
use std::path::Path;
use std::time::Duration;

use app::search::api::ssr::SearchPort;
use canopy::db::graph::Graph;
use canopy::db::{Document, InstanceId};
use canopy::domain::search::{run, SearchParams};
use canopy::search::SearchIndex;
use canopy::ui::search::DocumentSearch;

use crate::auth::Browser;
use crate::cluster::{eventually, Node};
use crate::common::{copy_fixture, manifest};

fn role(name: &str) -> String {
    manifest()["roles"][name].as_str().unwrap().to_owned()
}

fn note_id(title: &str) -> String {
    manifest()["notes"][title].as_str().unwrap().to_owned()
}

/// A data directory holding a copy of the Trilium fixture, with no backups.
fn fixture_data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    std::fs::write(dir.path().join("config.ini"), "[General]\nnoBackup=true\n").unwrap();
    dir
}

async fn start(data_dir: &Path) -> canopy::RunningInstance {
    canopy::start(canopy::StartOptions {
        data_dir: data_dir.to_path_buf(),
        site_root: "/nonexistent-site".into(),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn ready(index: &SearchIndex) {
    assert!(eventually(Duration::from_secs(30), || index.is_ready()).await, "the index was not ready in 30 s");
}

fn port(instance: &canopy::RunningInstance) -> DocumentSearch {
    DocumentSearch {
        document: instance.document.clone(),
        instance_id: InstanceId::from("searchTest01"),
        index: instance.search.clone(),
        protected: Default::default(),
    }
}

/// The ids the index holds, read from its file as it is on disk.
fn indexed_ids(data_dir: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(data_dir.join(canopy::search::FILE_NAME)).unwrap();
    let mut stmt = conn.prepare("SELECT noteId FROM docs").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

/// Whether a quick search for `word` lists `note_id` among its text hits, with `word` marked.
fn text_hit(search: &DocumentSearch, word: &str, note_id: &str) -> bool {
    let found = search.quick(word, 8).unwrap();
    found.texts.iter().chain(found.titles.iter()).any(|h| {
        h.note_id == note_id && (h.snippet.is_empty() || h.snippet.iter().any(|p| p.marked && p.text.to_lowercase().contains(word)))
    })
}

async fn etapi_token(url: &str) -> String {
    crate::common::etapi_token(url, manifest()["password"].as_str().unwrap()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_index_is_built_at_start_and_follows_etapi_and_ui_writes() {
    let dir = fixture_data_dir();
    let instance = start(dir.path()).await;
    ready(&instance.search).await;
    let search = port(&instance);

    // Built beside the document, without protected or deleted notes.
    assert!(dir.path().join("search-index.db").exists());
    let ids = indexed_ids(dir.path());
    assert!(ids.contains(&note_id("Pancakes")));
    assert!(!ids.contains(&role("protectedNote")), "a protected note is indexed");
    assert!(!ids.contains(&manifest()["roles"]["deletedNote"]["noteId"].as_str().unwrap().to_owned()), "a deleted note is indexed");

    // A word only in the body, with the word in the snippet; a title first.
    let found = search.quick("flour", 8).unwrap();
    let pancakes = found.texts.iter().find(|h| h.note_id == note_id("Pancakes")).expect("Pancakes by its body");
    assert!(pancakes.snippet.iter().any(|p| p.marked && p.text == "flour"), "{:?}", pancakes.snippet);
    assert!(pancakes.path.contains("Recipes"), "{}", pancakes.path);
    let found = search.quick("pancak", 8).unwrap();
    assert_eq!(found.titles.first().map(|h| h.note_id.clone()), Some(note_id("Pancakes")));

    // An ETAPI write is in the index moments later; a deleted note leaves it.
    let url = instance.url();
    let token = etapi_token(&url).await;
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{url}/etapi/create-note"))
        .header("Authorization", &token)
        .json(&serde_json::json!({ "parentNoteId": "root", "title": "Via ETAPI", "type": "text", "content": "<p>zanzibarquux</p>" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = created["note"]["noteId"].as_str().unwrap().to_owned();
    assert!(eventually(Duration::from_secs(5), || text_hit(&search, "zanzibarquux", &created)).await, "ETAPI's note is not found");
    let deleted = http.delete(format!("{url}/etapi/notes/{created}")).header("Authorization", &token).send().await.unwrap();
    assert!(deleted.status().is_success());
    assert!(eventually(Duration::from_secs(5), || search.quick("zanzibarquux", 8).unwrap().texts.is_empty()).await);

    // A rename through the UI's server function.
    let mut browser = Browser::new(&url);
    assert_eq!(browser.login(manifest()["password"].as_str().unwrap(), false).await.status(), 303);
    browser.load_page().await;
    let response = browser
        .http
        .post(format!("{}/ui/rename_note", browser.base))
        .header("X-CSRF-Token", &browser.csrf)
        .form(&[("note_id", note_id("Lisbon").as_str()), ("title", "Lisbon Pastéis")])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let renamed = || search.quick("pasteis", 8).unwrap().titles.iter().any(|h| h.note_id == note_id("Lisbon"));
    assert!(eventually(Duration::from_secs(5), renamed).await, "the renamed title is not found (folded)");

    // The quick-search server function answers the page too.
    let response = browser
        .http
        .post(format!("{}/ui/quick_search", browser.base))
        .header("X-CSRF-Token", &browser.csrf)
        .form(&[("query", "flour")])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["texts"].as_array().unwrap().iter().any(|h| h["note_id"] == note_id("Pancakes").as_str()));
    instance.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_index_catches_up_after_a_restart_and_rebuilds_when_deleted_corrupt_or_foreign() {
    let dir = fixture_data_dir();
    let index_path = dir.path().join("search-index.db");
    let instance = start(dir.path()).await;
    ready(&instance.search).await;
    let covered = instance.search.covered_change_id();
    instance.stop().await.unwrap();

    // Written while the instance was down: caught up from the index's mark.
    let document = Document::open_existing(&dir.path().join("document.db")).unwrap();
    let written = document
        .write(&crate::common::source(), |tx| canopy::db::tree::create_note(tx, canopy::db::tree::NewNote::text("root", "Offline", "<p>pelicanword</p>")))
        .unwrap()
        .0
        .note_id;
    document.checkpoint().unwrap();
    drop(document);
    let instance = start(dir.path()).await;
    ready(&instance.search).await;
    assert!(instance.search.covered_change_id() > covered);
    assert!(text_hit(&port(&instance), "pelicanword", &written));
    instance.stop().await.unwrap();

    for damage in ["deleted", "corrupt", "foreign", "ahead"] {
        match damage {
            "deleted" => std::fs::remove_file(&index_path).unwrap(),
            "corrupt" => std::fs::write(&index_path, b"this is not a database, it is a cache that went bad".repeat(100)).unwrap(),
            "foreign" | "ahead" => {
                let conn = rusqlite::Connection::open(&index_path).unwrap();
                let (key, value) = if damage == "foreign" { ("documentId", "someOtherDoc") } else { ("coveredChangeId", "999999999") };
                conn.execute("UPDATE meta SET value = ?2 WHERE key = ?1", [key, value]).unwrap();
                // Its rows no longer say anything true: a rebuild must not keep them.
                conn.execute("DELETE FROM docs", []).unwrap();
            }
            _ => unreachable!(),
        }
        let instance = start(dir.path()).await;
        ready(&instance.search).await;
        let search = port(&instance);
        assert!(text_hit(&search, "pelicanword", &written), "{damage}: not found after the rebuild");
        assert!(text_hit(&search, "flour", &note_id("Pancakes")), "{damage}");
        assert!(indexed_ids(dir.path()).contains(&note_id("Pancakes")), "{damage}: not rebuilt");
        instance.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_apply_reaches_the_index() {
    let hub = Node::hub().await;
    let a = Node::client_of(&hub).await;
    let b = Node::client_of(&hub).await;
    a.sync().await;
    b.sync().await;
    ready(&b.running().search).await;
    let note = a.create_note("root", "Arrived by sync", "<p>quetzalword travels</p>");
    a.sync().await;
    b.sync().await;
    let search = port(b.running());
    assert!(eventually(Duration::from_secs(5), || text_hit(&search, "quetzalword", &note)).await, "the synced note is not found");
    a.set_content(&note, "<p>now ocelotword</p>");
    a.sync().await;
    b.sync().await;
    assert!(eventually(Duration::from_secs(5), || text_hit(&search, "ocelotword", &note)).await, "the synced edit is not found");
    assert!(!text_hit(&search, "quetzalword", &note), "the old text is still indexed");
}

#[tokio::test(flavor = "multi_thread")]
async fn etapi_search_answers_the_same_with_and_without_the_index() {
    let dir = fixture_data_dir();
    let instance = start(dir.path()).await;
    ready(&instance.search).await;
    for query in [
        "flour",
        "checksum",
        "fixture document",
        "entry #project",
        "\"written for the\"",
        "sync or flour",
        "hash sectors",
        "zz",
        "münchen",
        "nothingmatchesthis",
        "note.content *=* pinch",
    ] {
        let params = SearchParams { query: query.into(), ..Default::default() };
        let (with, without) = instance
            .document
            .read(|c| {
                let with = run(&mut Graph::load_all(c)?, &params, Some(&instance.search))?;
                let without = run(&mut Graph::load_all(c)?, &params, None)?;
                Ok((with, without))
            })
            .unwrap();
        assert_eq!(with, without, "{query}");
    }
    let params = SearchParams { query: "flour".into(), ..Default::default() };
    let found = instance.document.read(|c| run(&mut Graph::load_all(c)?, &params, Some(&instance.search))).unwrap();
    assert!(found.contains(&note_id("Pancakes")), "{found:?}");
    instance.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_search_is_a_trilium_search_note_that_lists_its_results() {
    let dir = fixture_data_dir();
    let instance = start(dir.path()).await;
    ready(&instance.search).await;
    let search = port(&instance);
    let saved = search.save("flour").unwrap();
    let (note_type, mime, parent, content, labels) = instance
        .document
        .read(|c| {
            let (t, m, content): (String, String, Option<String>) = c.query_row(
                "SELECT n.type, n.mime, CAST(b.content AS TEXT) FROM notes n LEFT JOIN blobs b ON b.blobId = n.blobId WHERE noteId = ?1",
                [&saved],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let parent: String = c.query_row("SELECT parentNoteId FROM branches WHERE noteId = ?1 AND isDeleted = 0", [&saved], |r| r.get(0))?;
            let mut stmt = c.prepare("SELECT name, value FROM attributes WHERE noteId = ?1 AND type = 'label' AND isDeleted = 0 ORDER BY position")?;
            let labels: Vec<(String, String)> = stmt.query_map([&saved], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
            Ok((t, m, parent, content, labels))
        })
        .unwrap();
    assert_eq!((note_type.as_str(), mime.as_str(), parent.as_str()), ("search", "application/json", "root"));
    assert_eq!(content.as_deref(), Some(""));
    assert_eq!(labels, vec![("searchString".into(), "flour".into()), ("keepCurrentHoisting".into(), String::new())]);
    let results = search.saved(&saved).unwrap();
    assert_eq!(results.query, "flour");
    let pancakes = results.hits.iter().find(|h| h.note_id == note_id("Pancakes")).expect("Pancakes is listed");
    assert!(pancakes.snippet.iter().any(|p| p.marked && p.text == "flour"), "{:?}", pancakes.snippet);
    assert!(results.hits.iter().all(|h| h.note_id != saved), "the search lists itself");
    assert_eq!(results.total, results.hits.len());
    // Not a search note, an empty or unparsable query: refused with a reason.
    assert!(matches!(search.saved(&note_id("Pancakes")), Err(app::error::AppError::Invalid(_))));
    assert!(matches!(search.save("  "), Err(app::error::AppError::Invalid(_))));
    assert!(matches!(search.save("#a = "), Err(app::error::AppError::Invalid(_))));
    // The full search page's query: the language, with snippets; protected notes never show text.
    let page = search.full("#project").unwrap();
    assert!(page.total > 0 && page.error.is_none());
    let page = search.full("(#a").unwrap();
    assert!(page.error.is_some() && page.total == 0);
    for hit in search.full("note.noteId != x").unwrap().hits {
        if hit.note_id == role("protectedNote") {
            assert_eq!(hit.title, "[protected]");
            assert!(hit.snippet.is_empty());
        }
    }
    instance.stop().await.unwrap();
}

/// `run_narrowed` (candidates from the index, read one by one) answers exactly as `run` over the whole
/// tree, for queries it narrows and for those it falls back on, on the fixture and on a generated
/// document with inheritable labels, templates, relations, prefixes, code notes and folded words.
#[tokio::test(flavor = "multi_thread")]
async fn narrowed_search_answers_exactly_as_the_whole_tree() {
    use canopy::domain::search::{narrow, parse, run_narrowed};
    let dir = fixture_data_dir();
    let instance = start(dir.path()).await;
    ready(&instance.search).await;
    let url = instance.url();
    let token = etapi_token(&url).await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        let (http, token, url) = (http.clone(), token.clone(), url.clone());
        let path = path.to_owned();
        async move {
            let response = http.post(format!("{url}/etapi/{path}")).header("Authorization", &token).json(&body).send().await.unwrap();
            assert!(response.status().is_success(), "{path}: {}", response.status());
            response.json::<serde_json::Value>().await.unwrap()
        }
    };

    // A generated tree: words drawn by a fixed LCG, some with diacritics, in titles, bodies and labels.
    const WORDS: &[&str] = &["quartz", "lumen", "Café", "münchen", "zebra", "ramen", "delta", "orbit", "fjord", "nectar"];
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n
    };
    let mut ids: Vec<String> = vec!["root".into()];
    for i in 0..120 {
        let parent = ids[next(ids.len())].clone();
        let title = format!("{} {} {i}", WORDS[next(WORDS.len())], WORDS[next(WORDS.len())]);
        let body: Vec<&str> = (0..6).map(|_| WORDS[next(WORDS.len())]).collect();
        let (note_type, content) = if i % 7 == 0 {
            ("code", body.join("\n"))
        } else {
            ("text", format!("<p>{}</p><p>{}</p>", body[..3].join(" "), body[3..].join(" ")))
        };
        let mut create = serde_json::json!({ "parentNoteId": parent, "title": title, "type": note_type, "content": content });
        if note_type == "code" {
            create["mime"] = "text/x-rustsrc".into();
        }
        let created = post("create-note", create).await;
        let id = created["note"]["noteId"].as_str().unwrap().to_owned();
        if i % 5 == 0 {
            let value = WORDS[next(WORDS.len())];
            post("attributes", serde_json::json!({ "noteId": id, "type": "label", "name": "topic", "value": value })).await;
        }
        if i % 15 == 0 {
            post("attributes", serde_json::json!({ "noteId": id, "type": "label", "name": "lineage", "value": "heirloom", "isInheritable": true })).await;
        }
        if i % 11 == 0 && ids.len() > 2 {
            let target = ids[1 + next(ids.len() - 1)].clone();
            post("attributes", serde_json::json!({ "noteId": id, "type": "relation", "name": "seeAlso", "value": target })).await;
        }
        if i % 13 == 0 {
            let parent = ids[next(ids.len())].clone();
            if parent != id {
                post("branches", serde_json::json!({ "noteId": id, "parentNoteId": parent, "prefix": format!("kelpie {}", WORDS[next(WORDS.len())]) })).await;
            }
        }
        ids.push(id);
    }
    // A template whose own label reaches the notes that use it.
    let template = post("create-note", serde_json::json!({ "parentNoteId": "root", "title": "Blueprint", "type": "text", "content": "<p>plain</p>" })).await;
    let template = template["note"]["noteId"].as_str().unwrap().to_owned();
    post("attributes", serde_json::json!({ "noteId": template, "type": "label", "name": "stencil", "value": "quasar" })).await;
    for user in &ids[1..4] {
        post("attributes", serde_json::json!({ "noteId": user, "type": "relation", "name": "template", "value": template })).await;
    }
    let index = instance.search.clone();
    assert!(eventually(Duration::from_secs(30), || index.is_current()).await, "the index did not catch up");

    let id_fragment = ids[7][2..6].to_lowercase();
    // (query, whether it narrows: `None` for the fixture's words, whatever its labels are).
    let queries: Vec<(String, Option<bool>)> = [
        ("quartz", Some(true)), ("lumen orbit", Some(true)), ("cafe", Some(true)), ("münchen", Some(true)),
        ("\"zebra ramen\"", Some(false)), ("fjord #topic", Some(true)), ("quartz or nectar", Some(false)), ("#topic and (quartz or nectar)", Some(true)),
        ("kelpie", Some(true)), ("rustsrc", Some(true)), ("seealso", Some(true)), ("topic", Some(true)),
        ("text", None), ("delta orbit", Some(true)), ("nothingmatchesthis", Some(true)),
        ("delta and not(#topic)", None), ("(quartz or orbit) and #topic", Some(true)),
        (id_fragment.as_str(), Some(true)),
        ("#topic", Some(true)), ("#TOPIC=zebra", Some(true)), ("not(#topic)", Some(false)), ("#lineage", Some(false)),
        ("#stencil=quasar", Some(false)), ("#nosuchlabel", Some(true)),
        ("note.title *=* orbit", Some(false)), ("zz", Some(false)), ("delta 37", Some(false)), ("\"a b\"", Some(false)),
        ("heirloom", Some(false)), ("lineage", Some(false)), ("quasar", Some(false)), ("stencil", Some(false)),
        ("~seeAlso", Some(true)), ("~template.title = Blueprint", None), ("quartz or #topic", Some(true)),
        ("pancakes", None), ("flour", None), ("pinch", None), ("fixture document", None), ("entry #project", None),
        ("sync or flour", None),
    ]
    .into_iter()
    .map(|(q, n)| (q.to_owned(), n))
    .collect();
    let run_both = |params: &SearchParams| {
        instance
            .document
            .read(|c| {
                let whole = run(&mut Graph::load_all(c)?, params, Some(&index))?;
                let without_index = run(&mut Graph::load_all(c)?, params, None)?;
                let (_, narrowed) = run_narrowed(c, params, &index)?;
                let narrowable = narrow::candidates(c, &parse(&params.query).unwrap(), params, &index)?.is_some();
                Ok((whole, without_index, narrowed, narrowable))
            })
            .unwrap()
    };
    let mut found_some = 0;
    let mut wrongly_narrowed = Vec::new();
    for (query, expect_narrowed) in queries {
        for variant in 0..4 {
            let mut params = SearchParams { query: query.clone(), ..Default::default() };
            match variant {
                1 => params.fast_search = true,
                2 => params.ancestor_note_id = Some(ids[3].clone()),
                3 => {
                    params.include_archived_notes = true;
                    params.order_by = Some("title".into());
                    params.limit = Some(5);
                }
                _ => {}
            }
            let (whole, without_index, narrowed, narrowable) = run_both(&params);
            assert_eq!(narrowed, whole, "{query} (variant {variant})");
            assert_eq!(whole, without_index, "{query} (variant {variant}, without the index)");
            if variant == 0 {
                if expect_narrowed.is_some_and(|expected| expected != narrowable) {
                    wrongly_narrowed.push(format!("{query}: narrowed {narrowable}"));
                }
                found_some += usize::from(!whole.is_empty());
            }
        }
    }
    assert!(wrongly_narrowed.is_empty(), "{wrongly_narrowed:?}");
    assert!(found_some >= 20, "too few queries found anything ({found_some}) to compare");
    instance.stop().await.unwrap();
}

/// Not a check but a measurement (`-- --ignored --nocapture`; `SEARCH_NOTES`, 10,000 by default): the
/// search page's query evaluated over the candidates the index narrows it to, and over the whole tree.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn narrowed_and_whole_tree_search_times() {
    use canopy::db::tree::{self, NewNote};
    use canopy::db::ChangeSource;
    use canopy::domain::search::run_narrowed;
    use std::time::Instant;
    let notes: usize = std::env::var("SEARCH_NOTES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let dir = fixture_data_dir();
    let instance = start(dir.path()).await;
    let source = ChangeSource::new("searchBench0");
    let text = "<p>".to_string() + &"Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(18) + "</p>";
    let parents: Vec<String> = instance
        .document
        .write(&source, |tx| (0..100).map(|f| Ok(tree::create_note(tx, NewNote::text("root", &format!("Folder {f}"), ""))?.0.note_id)).collect())
        .unwrap();
    for chunk in (0..notes).collect::<Vec<_>>().chunks(5_000) {
        instance
            .document
            .write(&source, |tx| {
                for &i in chunk {
                    tree::create_note(tx, NewNote::text(&parents[i % 100], &format!("Note {i}"), &format!("{text}<p>{i} kw{}</p>", i % 997)))?;
                }
                Ok(())
            })
            .unwrap();
    }
    let index = instance.search.clone();
    assert!(eventually(Duration::from_secs(600), || index.is_current()).await, "the index did not catch up");
    for query in ["4242", "kw123", "kw123 dolor", "\"dolor sit\" 777", "#iconClass"] {
        let params = SearchParams { query: query.into(), ..Default::default() };
        instance
            .document
            .read(|c| {
                let mut times = Vec::new();
                for _ in 0..3 {
                    let t = Instant::now();
                    let (_, narrowed) = run_narrowed(c, &params, &index)?;
                    let n = t.elapsed();
                    let t = Instant::now();
                    let whole = run(&mut Graph::load_all(c)?, &params, Some(&index))?;
                    times.push((n, t.elapsed()));
                    assert_eq!(narrowed, whole, "{query}");
                }
                let found = run(&mut Graph::load_all(c)?, &params, Some(&index))?.len();
                println!("`{query}` ({found} found) at {notes} notes: narrowed {:?}, whole tree {:?}", times.iter().map(|t| t.0).collect::<Vec<_>>(), times.iter().map(|t| t.1).collect::<Vec<_>>());
                Ok(())
            })
            .unwrap();
    }
    instance.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_note_that_becomes_protected_leaves_no_trace_of_its_text_in_the_index_file() {
    let dir = fixture_data_dir();
    let instance = start(dir.path()).await;
    ready(&instance.search).await;
    let secret = "quetzalsecretword";
    let source = crate::common::source();
    let note = instance
        .document
        .write(&source, |tx| {
            canopy::db::tree::create_note(tx, canopy::db::tree::NewNote::text("root", "Diary", &format!("<p>{secret} under the stairs</p>")))
        })
        .unwrap()
        .0
        .note_id;
    let search = port(&instance);
    assert!(eventually(Duration::from_secs(10), || text_hit(&search, secret, &note)).await, "indexed first");

    let key = instance.document.read_with(|c| canopy::protected::unlock_key(c, manifest()["password"].as_str().unwrap())).unwrap();
    instance.document.write_with(&source, |tx| canopy::domain::protected::set_protected(tx, &note, true, false, &key)).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || !indexed_ids(dir.path()).contains(&note)).await,
        "a protected note leaves the index"
    );
    instance.stop().await.unwrap();

    // Not in the file's freed pages nor in FTS5's segments: the bytes of the index as they are on disk.
    for name in [canopy::search::FILE_NAME.to_owned(), format!("{}-wal", canopy::search::FILE_NAME)] {
        let Ok(bytes) = std::fs::read(dir.path().join(&name)) else { continue };
        let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "{name} still holds the protected note's text");
    }
}
