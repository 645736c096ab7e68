//! A Trilium 0.63 client of a hub, simulated step by step: its own document (a copy of the hub's, as
//! a Trilium client made from a copy), its own instance id, and the wire as Trilium speaks it. Each
//! cycle logs in afresh, pushes in batches and moves its push cursor after each, pulls page by page
//! (each page and its cursor in one transaction, changes it applied already skipped), pushes again,
//! says it finished and compares sector hashes after erasing its unused blobs; a differing sector is
//! queued again on both sides, as Trilium does. It sends no `canopy*` field, and it applies what it
//! pulls as Trilium's `sync_update` does: the newer change wins, no revision of the loser is kept, no
//! tree repair is made (the hub's repairs reach it by sync).
//!
//! Everything that talks to the hub answers `Err` with what went wrong instead of panicking, so that a
//! torture run can kill the hub under it.
use std::path::Path;

use canopy::db::{entity_changes, options, ChangeSource, Document, InstanceId, WriteTx};
use canopy::entities::BlobContent;
use canopy::sync::records;
use canopy::sync::wire::{CheckResponse, EntityChangeRecord};
use serde_json::json;

use crate::cluster::Node;

pub type PeerResult<T> = Result<T, String>;

pub struct TriliumPeer {
    /// The peer's data directory when it made one of its own.
    _dir: Option<tempfile::TempDir>,
    pub doc: Document,
    pub id: InstanceId,
    http: reqwest::Client,
    hub_url: String,
    hub_id: String,
    cookie: String,
}

/// What one full cycle did.
#[derive(Debug, Default)]
pub struct PeerCycle {
    pub pushed: usize,
    pub pulled: usize,
    /// Sectors whose hashes differed (queued again on both sides).
    pub differing: Vec<(String, String)>,
    /// The check was skipped, as Trilium skips it while pulls are outstanding.
    pub check_skipped: bool,
    /// The hub said (in a field Trilium ignores) that another peer's push was open, so it kept its
    /// unused blobs for it, where this peer had erased its own.
    pub hub_push_open: bool,
}

impl PeerCycle {
    /// The hash check ran and found nothing.
    pub fn clean(&self) -> bool {
        !self.check_skipped && self.differing.is_empty()
    }
}

impl TriliumPeer {
    /// A peer from a copy of an in-process hub's document, logged in.
    pub async fn of(hub: &Node) -> TriliumPeer {
        let dir = tempfile::tempdir().unwrap();
        let mut peer = TriliumPeer::from_copy(hub.document().path(), &hub.url(), dir.path());
        peer._dir = Some(dir);
        peer.login().await.unwrap();
        peer
    }

    /// A peer in the directory `dir` from a copy of the document at `hub_db` (a running hub's or
    /// not), not yet logged in.
    pub fn from_copy(hub_db: &Path, hub_url: &str, dir: &Path) -> TriliumPeer {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join("document.db");
        canopy::db::backup::backup_to(hub_db, &path).unwrap();
        let doc = Document::open_existing(&path).unwrap();
        let peer = TriliumPeer {
            _dir: None,
            doc,
            id: InstanceId::generate(),
            http: reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().unwrap(),
            hub_url: hub_url.to_owned(),
            hub_id: String::new(),
            cookie: String::new(),
        };
        // A copy starts both cursors at the newest change it holds, as Trilium's sync-from-copy does.
        let max = peer.doc.read(entity_changes::max_id).unwrap();
        peer.set_option("lastSyncedPull", max);
        peer.set_option("lastSyncedPush", max);
        peer
    }

    pub fn path(&self) -> &Path {
        self.doc.path()
    }

    pub fn source(&self) -> ChangeSource {
        ChangeSource::new(&self.id)
    }

    pub fn set_option(&self, name: &str, value: i64) {
        self.doc.write(&self.source(), |tx| options::set(tx, name, &value.to_string())).unwrap();
    }

    pub fn option(&self, name: &str) -> i64 {
        self.doc.read(|c| options::get_int(c, name)).unwrap().unwrap_or(0)
    }

    /// `POST /api/login/sync` with a fresh timestamp, as at the start of every Trilium cycle.
    pub async fn login(&mut self) -> PeerResult<()> {
        let secret = self.doc.read(|c| options::get(c, "documentSecret")).unwrap().unwrap();
        let timestamp = canopy::sync::hub::login_timestamp();
        let body = json!({
            "timestamp": timestamp,
            "syncVersion": 32,
            "hash": canopy::sync::hub::login_hash(&secret, &timestamp),
        });
        let response = self.send(self.http.post(self.at("/api/login/sync")).json(&body)).await?;
        self.cookie = response.headers().get("set-cookie").ok_or("login answered without a cookie")?.to_str().unwrap().to_owned();
        let answer: serde_json::Value = response.json().await.map_err(|e| format!("login answer: {e}"))?;
        self.hub_id = answer["instanceId"].as_str().ok_or("login answer without instanceId")?.to_owned();
        Ok(())
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.hub_url)
    }

    /// Sends with the session cookie; an answer other than 2xx is an error naming it.
    async fn send(&self, request: reqwest::RequestBuilder) -> PeerResult<reqwest::Response> {
        let response = request.header("Cookie", &self.cookie).send().await.map_err(|e| format!("no answer: {e}"))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            let status = response.status();
            Err(format!("answered {status}: {}", response.text().await.unwrap_or_default()))
        }
    }

    /// One page of `GET /api/sync/changed` from its cursor: the changes and the cursor after them.
    async fn fetch_page(&self) -> PeerResult<(Vec<EntityChangeRecord>, i64)> {
        let after = self.option("lastSyncedPull");
        let url = self.at(&format!("/api/sync/changed?instanceId={}&lastEntityChangeId={after}", self.id));
        let page: serde_json::Value = self.send(self.http.get(url)).await?.json().await.map_err(|e| format!("pull page: {e}"))?;
        let records = serde_json::from_value(page["entityChanges"].clone()).map_err(|e| format!("pull records: {e}"))?;
        let cursor = page["lastEntityChangeId"].as_i64().ok_or("pull page without lastEntityChangeId")?;
        Ok((records, cursor))
    }

    /// One page pulled and applied with its cursor in one transaction; returns how many changes it
    /// held (0: nothing outstanding).
    pub async fn pull_page(&self) -> PeerResult<usize> {
        let (records, cursor) = self.fetch_page().await?;
        let hub = self.hub_id.clone();
        self.doc
            .write(&self.source(), |tx| {
                for record in &records {
                    apply_as_trilium(tx, record, &hub)?;
                }
                options::set(tx, "lastSyncedPull", &cursor.to_string())
            })
            .map_err(|e| format!("applying a pulled page: {e}"))?;
        Ok(records.len())
    }

    /// Pulls until nothing is outstanding; returns how many changes came.
    pub async fn pull(&self) -> PeerResult<usize> {
        let mut total = 0;
        loop {
            match self.pull_page().await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    /// The batch of changes after `cursor`, as Trilium sends them (no `canopy*` fields, none of the
    /// hub's own), and the push cursor after it; empty when nothing is left.
    fn batch_after(&self, cursor: i64) -> (Vec<EntityChangeRecord>, i64) {
        let (records, next) = self.doc.read(|c| records::batch_after(c, cursor, &self.hub_id)).unwrap();
        let records = records
            .into_iter()
            .map(|mut r| {
                r.canopy_parent_hash = None;
                r
            })
            .collect();
        (records, next.max(cursor))
    }

    /// Every change not yet pushed, in one list, and the push cursor after them.
    pub fn unpushed(&self) -> (Vec<EntityChangeRecord>, i64) {
        let mut all = Vec::new();
        let mut cursor = self.option("lastSyncedPush");
        loop {
            let (records, next) = self.batch_after(cursor);
            if records.is_empty() {
                return (all, next);
            }
            all.extend(records);
            cursor = next;
        }
    }

    /// One `PUT /api/sync/update` with these records.
    pub async fn push_records(&self, records: &[EntityChangeRecord]) -> PeerResult<()> {
        let body = json!({ "entities": records, "instanceId": self.id.to_string() });
        self.send(self.http.put(self.at("/api/sync/update")).json(&body)).await.map(drop)
    }

    /// Pushes batch by batch, moving the cursor after each; returns how many changes went.
    pub async fn push(&self) -> PeerResult<usize> {
        let mut total = 0;
        loop {
            let (records, cursor) = self.batch_after(self.option("lastSyncedPush"));
            if !records.is_empty() {
                self.push_records(&records).await?;
            }
            self.set_option("lastSyncedPush", cursor);
            if records.is_empty() {
                return Ok(total);
            }
            total += records.len();
        }
    }

    pub async fn finished(&self) -> PeerResult<()> {
        self.send(self.http.post(self.at("/api/sync/finished"))).await.map(drop)
    }

    async fn hub_hashes(&self) -> PeerResult<CheckResponse> {
        self.send(self.http.get(self.at("/api/sync/check"))).await?.json().await.map_err(|e| format!("check answer: {e}"))
    }

    /// The differing sectors between the hub's hashes and its own, after erasing its unused blobs.
    fn compare(&self, remote: &CheckResponse) -> Vec<(String, String)> {
        let (local, _) = canopy::sync::check::local_hashes(&self.doc, &self.id).unwrap();
        canopy::sync::check::differing_sectors(&local, &remote.entity_hashes)
    }

    /// The hub's sectors against its own now, whatever is outstanding.
    pub async fn check(&self) -> PeerResult<Vec<(String, String)>> {
        Ok(self.compare(&self.hub_hashes().await?))
    }

    /// Trilium's answer to a differing sector: re-sends its own rows of it and asks the hub for its.
    pub async fn queue_sector(&self, entity_name: &str, sector: &str) -> PeerResult<()> {
        canopy::sync::check::requeue_sector(&self.doc, &self.id, entity_name, sector).map_err(|e| e.to_string())?;
        self.send(self.http.post(self.at(&format!("/api/sync/queue-sector/{entity_name}/{sector}")))).await.map(drop)
    }

    /// A full Trilium cycle: login, push, pull, push, finished, check; differing sectors are queued
    /// again on both sides (the next cycle sends them).
    pub async fn cycle(&mut self) -> PeerResult<PeerCycle> {
        self.login().await?;
        let mut done = PeerCycle { pushed: self.push().await?, ..Default::default() };
        done.pulled = self.pull().await?;
        done.pushed += self.push().await?;
        self.finished().await?;
        // Trilium skips the check while the hub has changes it did not pull, or it has some not pushed.
        let remote = self.hub_hashes().await?;
        let not_pushed = !self.batch_after(self.option("lastSyncedPush")).0.is_empty();
        if self.option("lastSyncedPull") < remote.max_entity_change_id || not_pushed {
            done.check_skipped = true;
            return Ok(done);
        }
        done.differing = self.compare(&remote);
        done.hub_push_open = remote.canopy_push_open;
        for (entity_name, sector) in &done.differing {
            self.queue_sector(entity_name, sector).await?;
        }
        Ok(done)
    }

    /// Trilium killed right after the hub took a push: the batch went, the cursor did not move, so
    /// the next cycle sends it again. Returns how many changes went.
    pub async fn crash_after_a_push(&mut self) -> PeerResult<usize> {
        self.login().await?;
        let (records, _) = self.batch_after(self.option("lastSyncedPush"));
        if !records.is_empty() {
            self.push_records(&records).await?;
        }
        Ok(records.len())
    }

    /// Trilium killed during the first page of a pull: after its transaction committed (the rest
    /// comes next time), or before (the page is lost; the hub never hears that it was taken). Returns
    /// how many changes the page held.
    pub async fn crash_in_a_pull(&mut self, committed: bool) -> PeerResult<usize> {
        self.login().await?;
        self.push().await?;
        if committed {
            self.pull_page().await
        } else {
            Ok(self.fetch_page().await?.0.len())
        }
    }

    pub fn set_content(&self, note_id: &str, html: &str) {
        // Trilium erases the old blob when nothing uses it any more (at the latest before its check).
        self.doc
            .write(&self.source(), |tx| {
                canopy::db::tree::update_note_content(tx, note_id, BlobContent::Text(html.into())).map(|_| ())
            })
            .unwrap();
    }

    pub fn has_blob(&self, blob_id: &str) -> bool {
        self.doc
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM blobs WHERE blobId = ?1", [blob_id], |r| r.get::<_, i64>(0))?))
            .unwrap()
            == 1
    }
}

/// One pulled change applied as Trilium's `sync_update.updateEntity` does: skipped if its `changeId`
/// is known; otherwise the row is replaced (or erased) when the local change is not newer, and a newer
/// local change is stamped again so that it goes back to the hub.
fn apply_as_trilium(tx: &mut WriteTx<'_>, record: &EntityChangeRecord, hub_id: &str) -> canopy::db::SqlResult<()> {
    let remote = &record.entity_change;
    if remote.entity_name == "options" && record.entity.is_none() {
        return Ok(()); // an option that is not synced
    }
    let known: bool = tx
        .conn()
        .query_row("SELECT EXISTS(SELECT 1 FROM entity_changes WHERE changeId = ?1)", [&remote.change_id], |r| r.get(0))?;
    if known {
        return Ok(());
    }
    let mut stored = remote.clone();
    stored.instance_id = hub_id.to_owned();
    if remote.entity_name == "note_reordering" {
        let positions = record.entity.as_ref().and_then(|row| row.as_object()).cloned().unwrap_or_default();
        for (branch_id, position) in positions {
            tx.conn().execute("UPDATE branches SET notePosition = ?1 WHERE branchId = ?2", rusqlite::params![position.as_i64(), branch_id])?;
        }
        entity_changes::put_raw(tx, &stored)?;
        return Ok(());
    }
    let local = entity_changes::get(tx.conn(), &remote.entity_name, &remote.entity_id)?;
    match &local {
        Some(local) if local.utc_date_changed > remote.utc_date_changed => {
            if local.hash != remote.hash || local.is_erased != remote.is_erased {
                entity_changes::restamp(tx, local.clone())?;
            }
        }
        _ => {
            if remote.is_erased {
                records::delete_row(tx.conn(), &remote.entity_name, &remote.entity_id)?;
            } else if let Some(row) = &record.entity {
                records::store_row(tx.conn(), &remote.entity_name, row)?;
            } else {
                // Trilium throws here, failing the pull.
                return Err(canopy::db::DbError::Invalid(format!("a pulled {} change came without its row", remote.entity_name)));
            }
            let differs = local.as_ref().is_none_or(|l| {
                l.utc_date_changed < remote.utc_date_changed || l.hash != remote.hash || l.is_erased != remote.is_erased
            });
            if differs {
                entity_changes::put_raw(tx, &stored)?;
            }
        }
    }
    Ok(())
}
