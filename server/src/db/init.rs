//! Content of a brand-new document, as Trilium's `new-document` setup creates it (without
//! the demo import and without the hidden subtree, which Trilium rebuilds at startup).

use rusqlite::Connection;

use super::{options, run_write, tree, ChangeSource, DbError, InstanceId, SqlResult, TRILIUM_DB_VERSION};
use crate::entities::{BlobContent, Branch, Note};
use crate::hashing;

/// Writes root note + `none_root` branch + all default options in one transaction.
pub fn initialize_new_document(conn: &mut Connection, instance_id: &InstanceId) -> SqlResult<()> {
    let source = ChangeSource::new(instance_id.clone());
    run_write::<_, DbError>(conn, &source, None, |tx| {
        let now_utc = tx.utc_now();
        let now_local = tx.local_now();
        let mut root = Note {
            note_id: "root".into(),
            title: "root".into(),
            is_protected: false,
            note_type: "text".into(),
            mime: "text/html".into(),
            blob_id: None,
            is_deleted: false,
            delete_id: None,
            date_created: now_local.clone(),
            date_modified: now_local,
            utc_date_created: now_utc.clone(),
            utc_date_modified: now_utc,
        };
        tree::save_note(tx, &mut root)?;
        tree::set_note_content(tx, &mut root, BlobContent::Text(String::new()))?;
        let mut branch = Branch {
            branch_id: String::new(),
            note_id: "root".into(),
            parent_note_id: "none".into(),
            note_position: 10,
            prefix: None,
            is_expanded: true,
            is_deleted: false,
            delete_id: None,
            utc_date_modified: String::new(),
        };
        tree::save_branch(tx, &mut branch)?;

        // initDocumentOptions: identity of the document, never synced.
        options::create(tx, "documentId", &hashing::random_secure_token(16), false)?;
        options::create(tx, "documentSecret", &hashing::random_secure_token(16), false)?;

        not_synced_options(tx, true, "", "")?;

        // initStartupOptions
        for (name, value, synced) in options::DEFAULT_OPTIONS {
            options::create(tx, name, value, *synced)?;
        }
        for (name, value) in options::keyboard_shortcut_options() {
            options::create(tx, &name, value, false)?;
        }

        // resetPassword(): the password options exist, empty and (being created by
        // setOption) not synced, until a password is set.
        for name in ["passwordVerificationSalt", "passwordDerivedKeySalt", "encryptedDataKey", "passwordVerificationHash"] {
            options::set(tx, name, "")?;
        }

        // Trilium opens the first child of root after setup, or nothing in particular.
        let first: Option<String> = tree::child_branches(tx.conn(), "root")?.into_iter().next().map(|b| b.note_id);
        let contexts = match first {
            Some(id) => serde_json::json!([{ "notePath": id, "active": true }]).to_string(),
            None => r#"[{"active":true}]"#.to_owned(),
        };
        options::set(tx, "openNoteContexts", &contexts)?;
        Ok(())
    })?;
    Ok(())
}

/// `initNotSyncedOptions`: the options every document has and never syncs.
fn not_synced_options(tx: &mut super::WriteTx<'_>, initialized: bool, sync_server_host: &str, sync_proxy: &str) -> SqlResult<()> {
    options::create(tx, "openNoteContexts", r#"[{"notePath":"root","active":true}]"#, false)?;
    let now = tx.utc_now();
    for name in ["lastDailyBackupDate", "lastWeeklyBackupDate", "lastMonthlyBackupDate"] {
        options::create(tx, name, &now, false)?;
    }
    options::create_numeric(tx, "dbVersion", TRILIUM_DB_VERSION, false)?;
    options::create(tx, "initialized", if initialized { "true" } else { "false" }, false)?;
    options::create(tx, "lastSyncedPull", "0", false)?;
    options::create(tx, "lastSyncedPush", "0", false)?;
    options::create(tx, "theme", "dark", false)?;
    options::create(tx, "syncServerHost", sync_server_host, false)?;
    options::create(tx, "syncServerTimeout", "120000", false)?;
    options::create(tx, "syncProxy", sync_proxy, false)?;
    Ok(())
}

/// An option row as the sync seed carries it (`GET /api/setup/sync-seed`).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedOption {
    pub name: String,
    pub value: String,
}

/// Writes `documentId` and `documentSecret` from a sync seed (never synced themselves).
pub fn store_seed(tx: &mut super::WriteTx<'_>, seed: &[SeedOption]) -> SqlResult<()> {
    for name in ["documentId", "documentSecret"] {
        let option = seed
            .iter()
            .find(|o| o.name == name)
            .ok_or_else(|| super::DbError::Invalid(format!("the sync seed has no {name}")))?;
        options::create(tx, name, &option.value, false)?;
    }
    Ok(())
}

/// `createDatabaseForSync`: a document that is only a shell until the first sync fills it: the
/// not-synced options (`initialized` false, the hub's address) and the seed (`documentId`,
/// `documentSecret`). Everything else, root note and synced options included, comes from the hub.
pub fn initialize_for_sync(
    conn: &mut Connection,
    instance_id: &InstanceId,
    seed: &[SeedOption],
    sync_server_host: &str,
    sync_proxy: &str,
) -> SqlResult<()> {
    let source = ChangeSource::new(instance_id.clone());
    run_write::<_, DbError>(conn, &source, None, |tx| {
        not_synced_options(tx, false, sync_server_host, sync_proxy)?;
        if !seed.is_empty() {
            store_seed(tx, seed)?;
        }
        // Options Trilium creates at every start when missing, all of them local to this instance.
        for (name, value) in options::keyboard_shortcut_options() {
            options::create(tx, &name, value, false)?;
        }
        for (name, value, synced) in options::DEFAULT_OPTIONS {
            if !*synced {
                options::create(tx, name, value, false)?;
            }
        }
        // No password options: a password set on the hub is synced and arrives with the first pull.
        Ok(())
    })?;
    Ok(())
}
