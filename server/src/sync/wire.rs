//! Sync wire types: the JSON bodies Trilium's sync protocol 32 exchanges, shared by hub and client.
//!
//! Fields named `canopy*` are Canopy-only. Trilium peers ignore unknown fields, so they cost nothing
//! in a mixed cluster and let two Canopy peers know more (database version, edit ancestry).
use serde::{Deserialize, Serialize};

pub use crate::db::EntityChange;

/// One change on the wire: the `entity_changes` row plus the entity's row (absent when erased).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityChangeRecord {
    pub entity_change: EntityChange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<serde_json::Value>,
    /// For notes: the hash of the version this one was edited from, so the receiver can tell a
    /// sequential edit from a concurrent one (see `sync::ancestry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canopy_parent_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    pub timestamp: String,
    pub sync_version: serde_json::Value,
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canopy_db_version: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    pub instance_id: String,
    pub max_entity_change_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canopy_db_version: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangedResponse {
    pub entity_changes: Vec<EntityChangeRecord>,
    pub last_entity_change_id: i64,
    pub outstanding_pull_count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRequest {
    pub entities: Vec<EntityChangeRecord>,
    pub instance_id: String,
}

/// `entityName → sector → hash`.
pub type SectorHashes = std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResponse {
    pub entity_hashes: SectorHashes,
    pub max_entity_change_id: i64,
    /// Canopy-only: the hub is receiving another peer's push, so it kept its unused blobs and its
    /// hashes are a moment in the middle of that push; a Canopy client checks again later.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub canopy_push_open: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupStatus {
    pub is_initialized: bool,
    pub schema_exists: bool,
    pub sync_version: i64,
}

/// Error bodies of Trilium's API: `{"message": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
}

/// Canopy-only long poll: the hub answers when it has changes the client has not pulled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitResponse {
    pub max_entity_change_id: i64,
}
