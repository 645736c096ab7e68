//! A test cluster: real instances (HTTP on 127.0.0.1, port 0, their own data directories) started
//! in this process, and helpers to act on their documents.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use canopy::db::tree::{self, NewNote};
use canopy::db::{ChangeSource, Document, InstanceId};
use canopy::entities::{self, BlobContent, Note};
use canopy::{RunningInstance, StartOptions};
use tempfile::TempDir;

pub struct Node {
    pub dir: TempDir,
    pub instance: Option<RunningInstance>,
    listen: SocketAddr,
    https: bool,
}

/// A hub and two clients, both synced once.
pub async fn cluster() -> (Node, Node, Node) {
    let hub = Node::hub().await;
    let a = Node::client_of(&hub).await;
    let b = Node::client_of(&hub).await;
    a.sync().await;
    b.sync().await;
    (hub, a, b)
}

impl Node {
    /// A hub with a new document.
    pub async fn hub() -> Node {
        Node::with_config("[General]\nnoBackup=true\n").await
    }

    /// A hub with a new document and this `config.ini`.
    pub async fn with_config(config_ini: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.ini"), config_ini).unwrap();
        Node::start_in(dir, "127.0.0.1:0".parse().unwrap()).await
    }

    /// A client made the way users make one: the hub's `document.db` copied into a new data
    /// directory, `syncServerHost` set in `config.ini`.
    pub async fn client_of(hub: &Node) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let source = hub.document().path().to_path_buf();
        canopy::db::backup::backup_to(&source, &dir.path().join("document.db")).unwrap();
        write_config(dir.path(), &hub.url());
        Node::start_in(dir, "127.0.0.1:0".parse().unwrap()).await
    }

    /// A client from a copy of `origin`'s document, syncing with the server at `url` (any server).
    pub async fn client_of_url(origin: &Node, url: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        canopy::db::backup::backup_to(origin.document().path(), &dir.path().join("document.db")).unwrap();
        write_config(dir.path(), url);
        Node::start_in(dir, "127.0.0.1:0".parse().unwrap()).await
    }

    /// An instance on a copy of `hub`'s document with this `config.ini` (a moved hub, or a client
    /// whose sync server is set later).
    pub async fn copy_of(hub: &Node, config_ini: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        canopy::db::backup::backup_to(hub.document().path(), &dir.path().join("document.db")).unwrap();
        std::fs::write(dir.path().join("config.ini"), config_ini).unwrap();
        Node::start_in(dir, "127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_in(dir: TempDir, listen: SocketAddr) -> Node {
        let instance = canopy::start(StartOptions {
            data_dir: dir.path().to_path_buf(),
            site_root: PathBuf::from("/nonexistent-site"),
            listen: Some(listen),
            ..Default::default()
        })
        .await
        .expect("instance starts");
        let (listen, https) = (instance.addr, instance.https);
        Node { dir, instance: Some(instance), listen, https }
    }

    pub fn running(&self) -> &RunningInstance {
        self.instance.as_ref().expect("instance is running")
    }

    pub fn url(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.listen)
    }

    pub fn document(&self) -> &Document {
        &self.running().document
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn instance_id(&self) -> InstanceId {
        InstanceId::from(std::fs::read_to_string(self.dir.path().join("instance-id")).unwrap().trim())
    }

    pub async fn stop(&mut self) {
        if let Some(instance) = self.instance.take() {
            instance.stop().await.unwrap();
        }
    }

    /// Starts again on the same data directory and port.
    pub async fn restart(&mut self) {
        self.stop().await;
        let instance = canopy::start(StartOptions {
            data_dir: self.dir.path().to_path_buf(),
            site_root: PathBuf::from("/nonexistent-site"),
            listen: Some(self.listen),
            ..Default::default()
        })
        .await
        .expect("instance restarts");
        self.instance = Some(instance);
    }

    /// Runs a full sync cycle now; panics if it fails.
    pub async fn sync(&self) {
        let client = self.running().client().expect("a client instance");
        client.sync_now().await.expect("sync succeeds");
    }

    fn source(&self) -> ChangeSource {
        ChangeSource::new(self.instance_id())
    }

    pub fn create_note(&self, parent: &str, title: &str, html: &str) -> String {
        self.document()
            .write(&self.source(), |tx| Ok(tree::create_note(tx, NewNote::text(parent, title, html))?.0.note_id))
            .unwrap()
    }

    pub fn set_content(&self, note_id: &str, html: &str) {
        self.document()
            .write(&self.source(), |tx| tree::update_note_content(tx, note_id, BlobContent::Text(html.into())).map(|_| ()))
            .unwrap();
    }

    pub fn set_title(&self, note_id: &str, title: &str) {
        self.document().write(&self.source(), |tx| tree::update_note_title(tx, note_id, title).map(|_| ())).unwrap();
    }

    pub fn note(&self, note_id: &str) -> Option<Note> {
        self.document().read(|c| entities::load::<Note>(c, note_id)).unwrap()
    }

    pub fn content(&self, note_id: &str) -> Option<String> {
        content_of(self.document(), note_id)
    }

    /// Every revision's title and text for a note.
    pub fn revision_texts(&self, note_id: &str) -> Vec<(String, String)> {
        self.document()
            .read(|c| {
                let mut stmt = c.prepare(
                    "SELECT r.title, b.content FROM revisions r JOIN blobs b ON b.blobId = r.blobId WHERE r.noteId = ?1 ORDER BY r.utcDateCreated",
                )?;
                let rows = stmt
                    .query_map([note_id], |r| {
                        let content = match r.get_ref(1)? {
                            rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
                            _ => String::new(),
                        };
                        Ok((r.get(0)?, content))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .unwrap()
    }

    pub fn sector_hashes(&self) -> canopy::sync::wire::SectorHashes {
        canopy::sync::check::local_hashes(self.document(), &self.instance_id()).unwrap().0
    }
}

pub fn content_of(document: &Document, note_id: &str) -> Option<String> {
    document
        .read(|c| Ok(tree::note_content(c, note_id).ok().map(|b| b.to_text())))
        .unwrap()
}

pub fn write_config(dir: &Path, hub_url: &str) {
    std::fs::write(dir.join("config.ini"), format!("[General]\nnoBackup=true\n[Sync]\nsyncServerHost={hub_url}\n")).unwrap();
}

/// Polls `check` until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
