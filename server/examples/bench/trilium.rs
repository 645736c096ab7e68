//! The same workloads on a real Trilium 0.63.7 (`TRILIUM_DIR`, see `../shared/tools/trilium/`), in the
//! same run, through the same HTTP APIs, each figure set beside Canopy's in the report.
//!
//! Its hub starts on a copy of the document Canopy's hub was made with; its two clients are set up
//! from it as a Trilium user does (`/api/setup/sync-from-server`); the new notes are written into
//! client 1's stopped document by the same code as for Canopy. Where Trilium cannot do what Canopy's
//! cluster does by itself, the benchmark asks it: a Trilium client syncs only every 60 s or when asked
//! (`/api/sync/now`), so its travel times run from that request, and both clients are asked.
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{etapi_create, has_note, proc_status_kib, settle, timed_edits, wait_initialized, write_offline, Instance, Report, PASSWORD};

/// Single edits on Trilium: each takes two whole sync cycles with their hash checks (about 5 s at
/// 100,000 notes), so fewer rounds than Canopy's keep the benchmark under ten minutes.
const EDITS: usize = 20;

/// Trilium's internal API as its own front end uses it: a session cookie and the page's CSRF token.
struct TriliumApi {
    http: reqwest::Client,
    url: String,
    csrf: String,
}

impl TriliumApi {
    async fn login(url: &str) -> anyhow::Result<TriliumApi> {
        let http = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()?;
        let response = http.post(format!("{url}/login")).form(&[("password", PASSWORD)]).send().await?;
        anyhow::ensure!(response.status().as_u16() == 302, "Trilium's login at {url} answered {}", response.status());
        let page = http.get(format!("{url}/")).send().await?.text().await?;
        let csrf = page
            .split("csrfToken: '")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .ok_or_else(|| anyhow::anyhow!("Trilium's page at {url} carries no CSRF token"))?
            .to_owned();
        Ok(TriliumApi { http, url: url.to_owned(), csrf })
    }

    /// One whole sync cycle; Trilium answers when it is done.
    async fn sync_now(&self) -> anyhow::Result<()> {
        let response = self.http.post(format!("{}/api/sync/now", self.url)).header("x-csrf-token", &self.csrf).send().await?;
        let status = response.status();
        let outcome: serde_json::Value = response.json().await?;
        anyhow::ensure!(status.is_success() && outcome["success"] == true, "Trilium at {} did not sync: {status} {outcome}", self.url);
        Ok(())
    }

    /// The hash check a client asks of its hub after each sync (`GET /api/sync/check`).
    async fn sync_check(&self) -> anyhow::Result<()> {
        let response = self.http.get(format!("{}/api/sync/check", self.url)).header("x-csrf-token", &self.csrf).send().await?;
        anyhow::ensure!(response.status().is_success(), "Trilium's sync check answered {}", response.status());
        response.bytes().await?;
        Ok(())
    }
}

/// A new, empty Trilium data directory listening on `port`.
fn data_dir(dir: &Path, port: u16) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("config.ini"), format!("[General]\nnoBackup=true\n[Network]\nhost=127.0.0.1\nport={port}\n"))?;
    Ok(())
}

/// Runs every workload on Trilium and sets its figures beside Canopy's. `document` is a copy of the
/// document Canopy's hub started its cluster with; `parent` the folder Canopy's ETAPI create wrote to.
pub async fn run(trilium_dir: &Path, document: &Path, work: &Path, parent: &str, new_notes: usize, report: &mut Report) -> anyhow::Result<()> {
    report.note(
        "Trilium's travel times run from its `sync now` request, Canopy's from client 1's process start with no request: \
         a Trilium client syncs only every 60 s or when asked, so client 2 is asked once the hub has the notes, and each \
         edit asks client 1, then client 2",
    );
    let hub_dir = work.join("trilium-hub");
    let mut hub = Instance::trilium(trilium_dir, &hub_dir, |dir, port| {
        data_dir(dir, port)?;
        std::fs::copy(document, dir.join("document.db"))?;
        Ok(())
    })?;
    let answered = hub.wait_answering(Duration::from_secs(300)).await?;
    report.trilium("startup", answered.as_secs_f64());
    report.trilium("startup_memory", proc_status_kib(hub.pid(), "VmRSS:").unwrap_or(0) as f64 / 1024.0);

    report.trilium("etapi_create", etapi_create(&hub.url, parent).await?);

    // Its hash check after one edit: Trilium computes it from every row each time it is asked.
    let hub_api = TriliumApi::login(&hub.url).await?;
    let http = reqwest::Client::new();
    let token = crate::etapi_login(&http, &hub.url).await?;
    let response = http
        .put(format!("{}/etapi/notes/{parent}/content", hub.url))
        .header("Authorization", &token)
        .header("Content-Type", "text/plain")
        .body("<p>edited</p>")
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "Trilium's PUT content answered {}", response.status());
    let t = Instant::now();
    hub_api.sync_check().await?;
    report.trilium("hash_check", t.elapsed().as_secs_f64() * 1000.0);

    let (client1, took, peak_kib) = first_sync(trilium_dir, &hub, &work.join("trilium-client1")).await?;
    report.trilium("first_sync", took.as_secs_f64());
    report.trilium("first_sync_memory", peak_kib as f64 / 1024.0);
    report.trilium("hub_peak_memory", proc_status_kib(hub.pid(), "VmHWM:").unwrap_or(0) as f64 / 1024.0);
    let (client2, _, _) = first_sync(trilium_dir, &hub, &work.join("trilium-client2")).await?;

    // New notes written into client 1's stopped document, then one sync asked of it.
    let client1_dir = client1.dir.clone();
    client1.stop();
    let last = write_offline(&client1_dir, "benchTrilium", new_notes)?;
    let mut client1 = Instance::trilium(trilium_dir, &client1_dir, data_dir)?;
    client1.wait_answering(Duration::from_secs(300)).await?;
    let (api1, api2) = (TriliumApi::login(&client1.url).await?, TriliumApi::login(&client2.url).await?);
    let started = Instant::now();
    let (first, second) = (api1.sync_now(), async {
        let (mut hub_probe, mut client2_probe) = (None, None);
        while !has_note(&hub_dir, &last, &mut hub_probe) {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "Trilium's hub did not get the new notes in 10 minutes");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let at_hub = started.elapsed();
        api2.sync_now().await?;
        while !has_note(&client2.dir, &last, &mut client2_probe) {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "Trilium's client 2 did not get the new notes in 10 minutes");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok((at_hub, started.elapsed()))
    });
    let (pushed, travelled) = tokio::join!(first, second);
    pushed?;
    let (at_hub, at_client2) = travelled?;
    report.trilium("new_notes_hub", at_hub.as_secs_f64());
    report.trilium("new_notes_client2", at_client2.as_secs_f64());

    // Single edits on client 1, each until client 2 holds it, with a sync asked of both.
    let mut times = timed_edits(&client1.url, &client2.dir, EDITS, async || {
        api1.sync_now().await?;
        api2.sync_now().await
    })
    .await?;
    report.trilium_times("edit_travel", &mut times);

    // Trilium's clients learn only when they sync: one more round, then the three hash checks.
    api1.sync_now().await?;
    api2.sync_now().await?;
    api1.sync_now().await?;
    let equal = settle(&[("Trilium's hub", &hub.dir), ("Trilium's client 1", &client1.dir), ("Trilium's client 2", &client2.dir)]).await;
    for instance in [hub, client1, client2] {
        instance.stop();
    }
    equal
}

/// A new Trilium client set up from the hub as a user does it, until its first sync has finished:
/// the client, the time, and its peak resident memory (KiB).
async fn first_sync(trilium_dir: &Path, hub: &Instance, dir: &Path) -> anyhow::Result<(Instance, Duration, u64)> {
    let started = Instant::now();
    let mut client = Instance::trilium(trilium_dir, dir, data_dir)?;
    client.wait_answering(Duration::from_secs(120)).await?;
    let response = reqwest::Client::new()
        .post(format!("{}/api/setup/sync-from-server", client.url))
        .json(&serde_json::json!({ "syncServerHost": hub.url, "password": PASSWORD }))
        .send()
        .await?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    anyhow::ensure!(status.is_success() && answer["result"] == "success", "Trilium's sync-from-server answered {status} {answer}");
    wait_initialized(&mut client, started, Duration::from_secs(1200)).await?;
    let took = started.elapsed();
    let peak_kib = proc_status_kib(client.pid(), "VmHWM:").unwrap_or(0);
    client.wait_answering(Duration::from_secs(60)).await?;
    Ok((client, took, peak_kib))
}
