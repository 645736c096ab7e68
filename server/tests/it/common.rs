//! Shared helpers: fixture location, copies, file digests, a change source.

use std::path::{Path, PathBuf};

use canopy::db::{ChangeSource, Document, InstanceId};
use sha2::{Digest, Sha256};

/// The Trilium fixture: `CANOPY_TRILIUM_FIXTURES`, else the copy in `server/tests/fixtures/`.
pub fn fixture_dir() -> PathBuf {
    match std::env::var_os("CANOPY_TRILIUM_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trilium-0.63.7"),
    }
}

pub fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture_dir().join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest parses")
}

/// Copies the fixture's `document.db` (alone: it is checkpointed) into `dir`.
pub fn copy_fixture(dir: &Path) -> PathBuf {
    let dest = dir.join("document.db");
    std::fs::copy(fixture_dir().join("document.db"), &dest).expect("copy fixture");
    dest
}

pub fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read file");
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn source() -> ChangeSource {
    ChangeSource::new(InstanceId::from("testInstance"))
}

pub fn new_document(dir: &Path) -> Document {
    Document::open_or_create(&dir.join("document.db"), "testInstance").expect("create document")
}

/// Logs in to ETAPI at `url` with `password` and returns the token (201 expected).
pub async fn etapi_token(url: &str, password: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{url}/etapi/auth/login"))
        .json(&serde_json::json!({ "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "ETAPI login at {url}");
    response.json::<serde_json::Value>().await.unwrap()["authToken"].as_str().unwrap().to_owned()
}
