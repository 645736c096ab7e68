//! Content of a brand-new document, as Trilium's `new-document` setup creates it (without
//! the demo import and without the hidden subtree, which Trilium rebuilds at startup).

use rusqlite::Connection;

use super::{options, run_write, tree, ChangeSource, InstanceId, SqlResult, TRILIUM_DB_VERSION};
use crate::entities::{BlobContent, Branch, Note};
use crate::hashing;

/// Writes root note + `none_root` branch + all default options in one transaction.
pub fn initialize_new_document(conn: &mut Connection, instance_id: &InstanceId) -> SqlResult<()> {
    let source = ChangeSource::new(instance_id.clone());
    run_write(conn, &source, None, |tx| {
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

        // initNotSyncedOptions(initialized = true)
        options::create(tx, "openNoteContexts", r#"[{"notePath":"root","active":true}]"#, false)?;
        let now = tx.utc_now();
        for name in ["lastDailyBackupDate", "lastWeeklyBackupDate", "lastMonthlyBackupDate"] {
            options::create(tx, name, &now, false)?;
        }
        options::create_numeric(tx, "dbVersion", TRILIUM_DB_VERSION, false)?;
        options::create(tx, "initialized", "true", false)?;
        options::create(tx, "lastSyncedPull", "0", false)?;
        options::create(tx, "lastSyncedPush", "0", false)?;
        options::create(tx, "theme", "dark", false)?;
        options::create(tx, "syncServerHost", "", false)?;
        options::create(tx, "syncServerTimeout", "120000", false)?;
        options::create(tx, "syncProxy", "", false)?;

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
