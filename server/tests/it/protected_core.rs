//! Protected notes: Trilium 0.63.7's formats on the real fixture, notes protected by Canopy re-derived
//! here with the crypto crates alone (independently of `canopy::protected`), bad input, protected
//! sessions, and two instances syncing protected notes through a hub.

use std::time::Duration;

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use canopy::db::{options, password, ChangeSource, Document};
use canopy::domain::{self, protected as dp, DomainError};
use canopy::entities::{self, Blob, BlobContent, Note, Revision};
use canopy::protected::{unlock_key, DataKey, ProtectedError, ProtectedSessions};
use sha1::{Digest, Sha1};
use sha2::Sha512;

use crate::cluster::Node;
use crate::common::*;

const PASSWORD: &str = "test-pass";

// ------------------------------------------------------------------ independent re-derivation

/// scrypt as Trilium's `my_scrypt` calls it (N=16384, r=8, p=1, 32 bytes, the salt's text as bytes).
fn scrypt32(password: &str, salt: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &scrypt::Params::new(14, 8, 1, 32).unwrap(), &mut out).unwrap();
    out
}

/// Trilium's `data_encryption.decrypt`: 16-byte IV, AES-128-CBC with the key's first 16 bytes, then the
/// first 4 bytes of the plaintext must be the SHA-1 of the rest.
fn trilium_decrypt(key: &[u8], b64: &str) -> Vec<u8> {
    let raw = B64.decode(b64).expect("base64");
    assert_eq!(raw.len() % 16, 0, "a 16-byte IV and whole blocks");
    let (iv, ct) = raw.split_at(16);
    let mut k = [0u8; 16];
    k.copy_from_slice(&key[..16]);
    let plain = cbc::Decryptor::<aes::Aes128>::new(&k.into(), iv.into()).decrypt_padded_vec_mut::<Pkcs7>(ct).expect("decrypts");
    let (digest, payload) = plain.split_at(4);
    assert_eq!(&Sha1::digest(payload)[..4], digest, "Trilium's 4-byte SHA-1 check");
    payload.to_vec()
}

/// The data key Trilium uses: `encryptedDataKey` unwrapped by the password-derived key, cut to 16 bytes.
fn trilium_data_key(conn: &rusqlite::Connection, password: &str) -> Vec<u8> {
    let get = |name: &str| -> String {
        conn.query_row("SELECT value FROM options WHERE name = ?1", [name], |r| r.get(0)).unwrap()
    };
    let verification = scrypt32(password, &get("passwordVerificationSalt"));
    assert_eq!(B64.encode(verification), get("passwordVerificationHash"));
    let derived = scrypt32(password, &get("passwordDerivedKeySalt"));
    let unwrapped = trilium_decrypt(&derived, &get("encryptedDataKey"));
    unwrapped[..16].to_vec()
}

/// `utils.hashedBlobId`.
fn trilium_blob_id(bytes: &[u8]) -> String {
    B64.encode(Sha512::digest(bytes)).chars().take(20).map(|c| match c {
        '+' => 'X',
        '/' => 'Y',
        c => c,
    }).collect()
}

/// `generateHash` over the given values (ASCII test values: NFC changes nothing).
fn trilium_entity_hash(parts: &[&str]) -> String {
    let text: String = parts.iter().map(|p| format!("|{p}")).collect();
    B64.encode(Sha1::digest(text.as_bytes()))[..10].to_owned()
}

fn stored_hash(conn: &rusqlite::Connection, entity: &str, id: &str) -> String {
    conn.query_row("SELECT hash FROM entity_changes WHERE entityName = ?1 AND entityId = ?2", [entity, id], |r| r.get(0))
        .unwrap()
}

fn max_change_id(doc: &Document) -> i64 {
    doc.read(|c| Ok(c.query_row("SELECT COALESCE(MAX(id), 0) FROM entity_changes", [], |r| r.get(0))?)).unwrap()
}

// ------------------------------------------------------------------ fixture

/// What the fixture says the protected note holds: its id and revisions from manifest.json, the
/// plaintext title from the manifest's hash verification, the texts from the recorded build calls.
struct FixtureProtected {
    note_id: String,
    title: String,
    content: String,
    revision_ids: Vec<String>,
    first_content: String,
}

fn fixture_protected() -> FixtureProtected {
    let m = manifest();
    let note_id = m["roles"]["protectedNote"].as_str().unwrap().to_owned();
    let command = m["hashVerification"]["command"].as_str().unwrap();
    let needle = format!("--plain-title={note_id}=");
    let title = command.split(&needle).nth(1).unwrap().split('\'').next().unwrap().to_owned();
    let revision_ids = m["roles"]["protectedNoteRevisions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    let calls = std::fs::read_to_string(fixture_dir().join("build-calls.jsonl")).unwrap();
    let (mut first_content, mut content) = (None, None);
    for line in calls.lines() {
        let call: serde_json::Value = serde_json::from_str(line).unwrap();
        let path = call["path"].as_str().unwrap_or_default();
        if call["response"]["note"]["noteId"] == note_id.as_str() {
            first_content = call["body"]["content"].as_str().map(str::to_owned);
        }
        if path == format!("/api/notes/{note_id}/data") {
            content = call["body"]["content"].as_str().map(str::to_owned);
        }
    }
    FixtureProtected { note_id, title, content: content.unwrap(), revision_ids, first_content: first_content.unwrap() }
}

fn fixture_copy() -> (tempfile::TempDir, Document) {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path());
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&path, permissions).unwrap();
    let doc = Document::open_existing(&path).unwrap();
    (dir, doc)
}

#[test]
fn the_fixtures_protected_note_decrypts_with_its_password() {
    let (_dir, doc) = fixture_copy();
    let expected = fixture_protected();
    let password = manifest()["password"].as_str().unwrap().to_owned();
    let key = doc.read_with(|c| unlock_key(c, &password)).unwrap();
    // The key is Trilium's: the test's own unwrapping gives the same bytes.
    let independent = doc.read(|c| Ok(trilium_data_key(c, &password))).unwrap();
    assert_eq!(&key.as_bytes()[..], &independent[..]);

    let note: Note = doc.read(|c| entities::get(c, &expected.note_id)).unwrap();
    assert!(note.is_protected);
    assert_ne!(note.title, expected.title, "stored as ciphertext");
    assert_eq!(dp::title_of(&note, Some(&key)).unwrap(), expected.title);
    let content = doc.read_with(|c| domain::notes::content(c, &expected.note_id, Some(&key))).unwrap();
    assert_eq!(content, BlobContent::Text(expected.content.clone()));
    for revision_id in &expected.revision_ids {
        let (revision, content) = doc.read_with(|c| domain::revisions::with_content(c, revision_id, Some(&key))).unwrap();
        assert_eq!(revision.title, expected.title);
        assert_eq!(content, BlobContent::Text(expected.first_content.clone()));
    }
    // Its stored hashes are over the decrypted title, which the store reproduces with the key.
    let stored = doc.read(|c| Ok(stored_hash(c, "notes", &expected.note_id))).unwrap();
    assert_eq!(canopy::db::protected::note_hash(&note, Some(&key)).unwrap(), stored);
    let revision: Revision = doc.read(|c| entities::get(c, &expected.revision_ids[0])).unwrap();
    let stored = doc.read(|c| Ok(stored_hash(c, "revisions", &revision.revision_id))).unwrap();
    assert_eq!(canopy::db::protected::revision_hash(&revision, Some(&key)).unwrap(), stored);

    // Without the key: refused, naming the note; the view shows Trilium's placeholder.
    let locked = doc.read_with(|c| domain::notes::content(c, &expected.note_id, None)).unwrap_err();
    assert!(matches!(&locked, DomainError::ProtectedLocked { note_id } if *note_id == expected.note_id), "{locked:?}");
    assert!(locked.user_message().contains(&expected.note_id));
    assert_eq!(dp::shown_title(&note.note_id, &note.title, true, None), dp::LOCKED_TITLE);
    assert_eq!(dp::shown_title(&note.note_id, &note.title, true, Some(&key)), expected.title);

    // A protected session finds it by its text, decrypted in memory; the full-text source never lists it.
    let words: Vec<&str> = expected.content.trim_start_matches("<p>").split_whitespace().take(2).collect();
    let found = doc.read_with(|c| dp::search(c, &key, &words.join(" "))).unwrap();
    assert_eq!(found, vec![dp::ProtectedMatch { note_id: expected.note_id.clone(), title: expected.title.clone() }]);
    assert!(doc.read(|c| Ok(canopy::search::store::source_note(c, &expected.note_id)?)).unwrap().is_none());
}

#[test]
fn protected_sessions_unlock_lock_and_time_out() {
    let (_dir, doc) = fixture_copy();
    let password = manifest()["password"].as_str().unwrap().to_owned();
    let sessions = ProtectedSessions::new();
    let mut ended = sessions.subscribe_ended();
    assert!(matches!(sessions.unlock(&doc, "s1", "wrong"), Err(ProtectedError::WrongPassword)));
    let empty = tempfile::tempdir().unwrap();
    let no_password = new_document(empty.path());
    let e = sessions.unlock(&no_password, "s1", "anything").unwrap_err();
    assert!(matches!(e, ProtectedError::NoPassword), "{e:?}");
    assert!(!sessions.is_unlocked("s1"));
    sessions.unlock(&doc, "s1", &password).unwrap();
    sessions.unlock(&doc, "s2", &password).unwrap();
    assert!(sessions.is_unlocked("s1") && sessions.key("s1").is_some());
    sessions.lock("s1");
    assert_eq!(ended.try_recv().unwrap(), "s1");
    assert!(sessions.key("s1").is_none(), "locked");
    assert!(sessions.key("s2").is_some(), "each browser session on its own");

    sessions.set_timeout(1);
    std::thread::sleep(Duration::from_millis(600));
    sessions.touch("s2");
    std::thread::sleep(Duration::from_millis(600));
    sessions.sweep();
    assert!(sessions.is_unlocked("s2"), "use keeps it open");
    std::thread::sleep(Duration::from_millis(1100));
    sessions.sweep();
    assert!(!sessions.is_unlocked("s2"), "idle past the timeout");
    assert_eq!(ended.try_recv().unwrap(), "s2");
    assert!(sessions.key("s2").is_none());
}

// ------------------------------------------------------------------ protected by Canopy

fn document_with_password(dir: &std::path::Path) -> Document {
    let doc = new_document(dir);
    doc.write(&source(), |tx| password::set_password(tx, PASSWORD)).unwrap();
    doc
}

fn create_text(doc: &Document, parent: &str, title: &str, html: &str, key: Option<&DataKey>) -> String {
    doc.write_with(&source(), |tx| {
        domain::notes::create_note(
            tx,
            domain::notes::CreateNote {
                parent_note_id: parent.into(),
                title: title.into(),
                note_type: "text".into(),
                mime: None,
                content: BlobContent::Text(html.into()),
                position: domain::notes::Position::Last,
                prefix: None,
                note_id: None,
            },
            key,
        )
    })
    .unwrap()
    .0
    .note_id
}

#[test]
fn a_note_protected_by_canopy_is_in_trilium_format_and_hashes_as_trilium() {
    let dir = tempfile::tempdir().unwrap();
    let doc = document_with_password(dir.path());
    let key = doc.read_with(|c| unlock_key(c, PASSWORD)).unwrap();
    let raw_key = doc.read(|c| Ok(trilium_data_key(c, PASSWORD))).unwrap();
    let html = "<p>Grüße, a secret 🌳 of some length to span blocks.</p>";
    let id = create_text(&doc, "root", "Diary", html, None);
    let image = doc
        .write_with(&source(), |tx| {
            domain::attachments::create(
                tx,
                &id,
                domain::attachments::NewAttachment {
                    role: "file".into(),
                    mime: "text/plain".into(),
                    title: "notes.txt".into(),
                    position: None,
                    content: BlobContent::Text("attached words".into()),
                },
                None,
            )
        })
        .unwrap();
    let revision = doc.write(&source(), |tx| canopy::db::revisions::save_revision(tx, &entities::get(tx.conn(), &id)?)).unwrap();

    let changes = doc.write_with(&source(), |tx| dp::set_protected(tx, &id, true, true, &key)).unwrap();
    // The attachment, and its copy that the revision owns.
    assert_eq!(changes, dp::ProtectChanges { notes: 1, revisions: 1, attachments: 2 });

    doc.read(|c| {
        let note: Note = entities::get(c, &id)?;
        assert!(note.is_protected);
        assert_eq!(trilium_decrypt(&raw_key, &note.title), b"Diary");
        let blob: Blob = entities::get(c, note.blob_id.as_deref().unwrap())?;
        let plain = trilium_decrypt(&raw_key, &blob.content.to_text());
        assert_eq!(plain, html.as_bytes());
        let prefixed = [b"t$[nvQg7q)&_ENCRYPTED_?M:Bf&j3jr_".as_slice(), html.as_bytes()].concat();
        assert_eq!(note.blob_id.as_deref().unwrap(), trilium_blob_id(&prefixed));
        // Trilium's rule for protected rows: the hash covers the decrypted title.
        let expected = trilium_entity_hash(&[&id, "Diary", "true", "text", "text/html", note.blob_id.as_deref().unwrap()]);
        assert_eq!(stored_hash(c, "notes", &id), expected);
        // The blob's hash covers what is stored: the ciphertext.
        let blob_hash = B64.encode(Sha1::digest(format!("{}|{}", blob.blob_id, blob.content.to_text()).as_bytes()));
        assert_eq!(stored_hash(c, "blobs", &blob.blob_id), blob_hash);

        let r: Revision = entities::get(c, &revision.revision_id)?;
        assert!(r.is_protected);
        assert_eq!(trilium_decrypt(&raw_key, &r.title), b"Diary");
        let r_blob: Blob = entities::get(c, r.blob_id.as_deref().unwrap())?;
        assert_eq!(trilium_decrypt(&raw_key, &r_blob.content.to_text()), html.as_bytes());
        let expected = trilium_entity_hash(&[
            &r.revision_id, &r.note_id, "Diary", "true", &r.date_last_edited, &r.date_created, &r.utc_date_last_edited,
            &r.utc_date_created, &r.utc_date_modified, r.blob_id.as_deref().unwrap(),
        ]);
        assert_eq!(stored_hash(c, "revisions", &r.revision_id), expected);

        let a: entities::Attachment = entities::get(c, &image.attachment_id)?;
        assert!(a.is_protected);
        assert_eq!(trilium_decrypt(&raw_key, &a.title), b"notes.txt");
        let a_blob: Blob = entities::get(c, a.blob_id.as_deref().unwrap())?;
        assert_eq!(trilium_decrypt(&raw_key, &a_blob.content.to_text()), b"attached words");
        // No plaintext copy is left behind.
        let plain_left: i64 = c.query_row("SELECT COUNT(*) FROM blobs WHERE content LIKE '%secret%' OR content LIKE '%attached words%'", [], |r| r.get(0))?;
        assert_eq!(plain_left, 0);
        Ok(())
    })
    .unwrap();

    // Edits in the protected session stay encrypted; a child created under it is protected.
    let note = doc.read_with(|c| domain::notes::live_note(c, &id)).unwrap();
    doc.write_with(&source(), |tx| domain::notes::save_content(tx, &id, BlobContent::Text("<p>v2</p>".into()), note.blob_id.as_deref(), Some(&key)))
        .unwrap();
    doc.write_with(&source(), |tx| domain::notes::rename(tx, &id, "Diary 2", Some(&key))).unwrap();
    let child = create_text(&doc, &id, "Inner", "<p>inner</p>", Some(&key));
    doc.read(|c| {
        let note: Note = entities::get(c, &id)?;
        assert_eq!(trilium_decrypt(&raw_key, &note.title), b"Diary 2");
        assert_eq!(trilium_entity_hash(&[&id, "Diary 2", "true", "text", "text/html", note.blob_id.as_deref().unwrap()]), stored_hash(c, "notes", &id));
        let child: Note = entities::get(c, &child)?;
        assert!(child.is_protected);
        assert_eq!(trilium_decrypt(&raw_key, &child.title), b"Inner");
        Ok(())
    })
    .unwrap();
    assert_eq!(doc.read_with(|c| domain::notes::content(c, &id, Some(&key))).unwrap(), BlobContent::Text("<p>v2</p>".into()));
    // Restoring the protected revision brings back its title and content, still protected, and first
    // keeps the current state as a protected revision.
    doc.write_with(&source(), |tx| domain::revisions::restore(tx, &revision.revision_id, Some(&key))).unwrap();
    assert_eq!(doc.read_with(|c| domain::notes::content(c, &id, Some(&key))).unwrap(), BlobContent::Text(html.into()));
    doc.read(|c| {
        let note: Note = entities::get(c, &id)?;
        assert!(note.is_protected);
        assert_eq!(trilium_decrypt(&raw_key, &note.title), b"Diary");
        assert_eq!(trilium_entity_hash(&[&id, "Diary", "true", "text", "text/html", note.blob_id.as_deref().unwrap()]), stored_hash(c, "notes", &id));
        let kept: Vec<Revision> = entities::load_where(c, "noteId = ?1 AND revisionId != ?2", [&id, &revision.revision_id])?;
        assert_eq!(kept.len(), 1);
        assert!(kept[0].is_protected);
        assert_eq!(trilium_decrypt(&raw_key, &kept[0].title), b"Diary 2");
        let blob: Blob = entities::get(c, kept[0].blob_id.as_deref().unwrap())?;
        assert_eq!(trilium_decrypt(&raw_key, &blob.content.to_text()), b"<p>v2</p>");
        Ok(())
    })
    .unwrap();
    // Without the key nothing changes.
    let before = max_change_id(&doc);
    let refused = doc.write_with(&source(), |tx| domain::notes::rename(tx, &id, "plain", None)).unwrap_err();
    assert!(matches!(refused, DomainError::ProtectedLocked { .. }), "{refused:?}");
    assert_eq!(max_change_id(&doc), before);

    // Unprotecting the subtree gives plain rows with plain blob ids and plain hashes.
    doc.write_with(&source(), |tx| dp::set_protected(tx, &id, false, true, &key)).unwrap();
    doc.read(|c| {
        for nid in [&id, &child] {
            let note: Note = entities::get(c, nid)?;
            assert!(!note.is_protected);
            let blob: Blob = entities::get(c, note.blob_id.as_deref().unwrap())?;
            assert_eq!(note.blob_id.as_deref().unwrap(), trilium_blob_id(blob.content.as_bytes().unwrap()));
            assert_eq!(
                stored_hash(c, "notes", nid),
                trilium_entity_hash(&[nid, &note.title, "false", "text", "text/html", note.blob_id.as_deref().unwrap()])
            );
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(doc.read_with(|c| domain::notes::live_note(c, &id)).unwrap().title, "Diary");
    assert!(canopy::sync::check::deep_check(&doc).unwrap().is_empty());
}

// ------------------------------------------------------------------ bad input

#[test]
fn bad_passwords_keys_and_blobs_get_clear_errors_and_write_nothing() {
    let (_dir, doc) = fixture_copy();
    let expected = fixture_protected();
    let password = manifest()["password"].as_str().unwrap().to_owned();
    let key = doc.read_with(|c| unlock_key(c, &password)).unwrap();
    let before = max_change_id(&doc);

    // A wrong password: to unlock, and as the old password of a change.
    assert!(matches!(doc.read_with(|c| unlock_key(c, "wrong")), Err(ProtectedError::WrongPassword)));
    let e = doc.write_with(&source(), |tx| dp::change_password(tx, "wrong", "new-pass")).unwrap_err();
    assert!(matches!(e, DomainError::Password(ProtectedError::WrongPassword)), "{e:?}");
    assert_eq!(max_change_id(&doc), before);
    assert!(doc.read(|c| password::verify_password(c, &password)).unwrap());

    // A damaged blob: named, no panic, and protecting/unprotecting writes nothing.
    doc.read(|c| {
        let note: Note = entities::get(c, &expected.note_id)?;
        let blob: Blob = entities::get(c, note.blob_id.as_deref().unwrap())?;
        let mut raw = B64.decode(blob.content.to_text()).unwrap();
        let last = raw.len() - 20;
        raw[last] ^= 0x55;
        // Damaged behind Canopy's back, as a disk or another program would.
        let raw_conn = rusqlite::Connection::open(doc.path()).unwrap();
        raw_conn.execute("UPDATE blobs SET content = ?1 WHERE blobId = ?2", [B64.encode(raw), blob.blob_id])?;
        Ok(())
    })
    .unwrap();
    let e = doc.read_with(|c| domain::notes::content(c, &expected.note_id, Some(&key))).unwrap_err();
    assert!(matches!(&e, DomainError::Undecryptable { id, .. } if *id == expected.note_id), "{e:?}");
    assert!(e.user_message().contains(&expected.note_id), "{}", e.user_message());
    let before = max_change_id(&doc);
    let e = doc.write_with(&source(), |tx| dp::set_protected(tx, &expected.note_id, false, false, &key)).unwrap_err();
    assert!(matches!(e, DomainError::Undecryptable { .. }), "{e:?}");
    assert_eq!(max_change_id(&doc), before);
    assert!(doc.read_with(|c| domain::notes::live_note(c, &expected.note_id)).unwrap().is_protected);

    // A damaged encryptedDataKey: the password still verifies, the key does not unwrap.
    for damaged in [B64.encode([7u8; 48]), "not base64 at all!".to_owned(), String::new()] {
        doc.write(&source(), |tx| options::set(tx, "encryptedDataKey", &damaged).map(drop)).unwrap();
        let e = doc.read_with(|c| unlock_key(c, &password)).unwrap_err();
        assert!(matches!(e, ProtectedError::Corrupt { what: "encryptedDataKey", .. }), "{damaged:?}: {e:?}");
        assert!(e.to_string().contains("encryptedDataKey"));
        let sessions = ProtectedSessions::new();
        assert!(sessions.unlock(&doc, "s", &password).is_err());
        assert!(!sessions.is_unlocked("s"));
        let before = max_change_id(&doc);
        assert!(doc.write_with(&source(), |tx| dp::change_password(tx, &password, "x")).is_err());
        assert_eq!(max_change_id(&doc), before);
    }
}

#[test]
fn a_password_change_rewraps_the_same_key() {
    let (_dir, doc) = fixture_copy();
    let password = manifest()["password"].as_str().unwrap().to_owned();
    let key = doc.read_with(|c| unlock_key(c, &password)).unwrap();
    let before: Vec<String> = doc.read(|c| Ok(["passwordVerificationSalt", "passwordDerivedKeySalt", "encryptedDataKey"].map(|n| options::get(c, n).unwrap().unwrap()).to_vec())).unwrap();
    doc.write_with(&source(), |tx| dp::change_password(tx, &password, "brand new")).unwrap();
    assert!(matches!(doc.read_with(|c| unlock_key(c, &password)), Err(ProtectedError::WrongPassword)));
    let again = doc.read_with(|c| unlock_key(c, "brand new")).unwrap();
    assert_eq!(again, key, "the same data key");
    assert_eq!(doc.read(|c| Ok(trilium_data_key(c, "brand new"))).unwrap(), key.as_bytes().to_vec());
    let after: Vec<String> = doc.read(|c| Ok(["passwordVerificationSalt", "passwordDerivedKeySalt", "encryptedDataKey"].map(|n| options::get(c, n).unwrap().unwrap()).to_vec())).unwrap();
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(b, a, "new salts and a new wrapping");
    }
    // The wrapped key is still Trilium's 24-character token text.
    let derived = scrypt32("brand new", &after[1]);
    assert_eq!(trilium_decrypt(&derived, &after[2]).len(), 24);
}

#[test]
fn set_password_refuses_a_document_with_one_unless_given_the_old() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let db = dir.path().join("document.db");
    let mut permissions = std::fs::metadata(&db).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&db, permissions).unwrap();
    let run = |old: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_canopy"));
        cmd.arg("--set-password").env("TRILIUM_DATA_DIR", dir.path()).env("CANOPY_PASSWORD", "second").env_remove("CANOPY_OLD_PASSWORD");
        if let Some(old) = old {
            cmd.env("CANOPY_OLD_PASSWORD", old);
        }
        cmd.output().unwrap()
    };
    let out = run(None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("CANOPY_OLD_PASSWORD"), "{}", String::from_utf8_lossy(&out.stdout));
    let out = run(Some("wrong"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("password is wrong"), "{}", String::from_utf8_lossy(&out.stdout));
    let password = manifest()["password"].as_str().unwrap().to_owned();
    let out = run(Some(&password));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let doc = Document::open_existing(&db).unwrap();
    let expected = fixture_protected();
    let key = doc.read_with(|c| unlock_key(c, "second")).unwrap();
    let note = doc.read_with(|c| domain::notes::live_note(c, &expected.note_id)).unwrap();
    assert_eq!(dp::title_of(&note, Some(&key)).unwrap(), expected.title);
}

// ------------------------------------------------------------------ two instances through a hub

#[tokio::test(flavor = "multi_thread")]
async fn protected_notes_travel_between_instances_and_unlock_with_the_new_password() {
    let hub = Node::hub().await;
    hub.document().write(&ChangeSource::new(hub.instance_id()), |tx| password::set_password(tx, PASSWORD)).unwrap();
    let a = Node::client_of(&hub).await;
    let b = Node::client_of(&hub).await;
    a.sync().await;
    b.sync().await;
    let src_a = ChangeSource::new(a.instance_id());

    // Protect on a, then edit in a protected session there.
    let key_a = ProtectedSessions::new();
    key_a.unlock(a.document(), "browser-a", PASSWORD).unwrap();
    let key = key_a.key("browser-a").unwrap();
    let id = a.create_note("root", "Plans", "<p>first</p>");
    a.document().write_with(&src_a, |tx| dp::set_protected(tx, &id, true, false, &key)).unwrap();
    let blob = a.note(&id).unwrap().blob_id;
    a.document()
        .write_with(&src_a, |tx| domain::notes::save_content(tx, &id, BlobContent::Text("<p>edited in secret</p>".into()), blob.as_deref(), Some(&key)))
        .unwrap();
    a.document().write_with(&src_a, |tx| domain::notes::rename(tx, &id, "Secret plans", Some(&key))).unwrap();
    a.sync().await;
    b.sync().await;

    let on_b = b.note(&id).expect("the note reached b");
    assert!(on_b.is_protected);
    assert!(b.content(&id).is_some_and(|c| !c.contains("secret")), "only ciphertext on disk");
    let sessions_b = ProtectedSessions::new();
    assert!(matches!(b.document().read_with(|c| domain::notes::content(c, &id, None)), Err(DomainError::ProtectedLocked { .. })));
    sessions_b.unlock(b.document(), "browser-b", PASSWORD).unwrap();
    let key_b = sessions_b.key("browser-b").unwrap();
    assert_eq!(dp::title_of(&on_b, Some(&key_b)).unwrap(), "Secret plans");
    assert_eq!(b.document().read_with(|c| domain::notes::content(c, &id, Some(&key_b))).unwrap(), BlobContent::Text("<p>edited in secret</p>".into()));
    for node in [&hub, &a, &b] {
        assert_eq!(node.sector_hashes(), hub.sector_hashes(), "sector hashes agree");
        assert!(canopy::sync::check::deep_check(node.document()).unwrap().is_empty());
    }

    // The password changes on a; b unlocks with the new one only.
    a.document().write_with(&src_a, |tx| dp::change_password(tx, PASSWORD, "new secret")).unwrap();
    a.sync().await;
    b.sync().await;
    let fresh = ProtectedSessions::new();
    assert!(matches!(fresh.unlock(b.document(), "browser-b2", PASSWORD), Err(ProtectedError::WrongPassword)));
    fresh.unlock(b.document(), "browser-b2", "new secret").unwrap();
    let key_b2 = fresh.key("browser-b2").unwrap();
    assert_eq!(b.document().read_with(|c| domain::notes::content(c, &id, Some(&key_b2))).unwrap(), BlobContent::Text("<p>edited in secret</p>".into()));
    assert_eq!(hub.sector_hashes(), b.sector_hashes());
    // ETAPI logins take the new password too.
    let token = etapi_token(&b.url(), "new secret").await;
    assert!(!token.is_empty());
}

// ------------------------------------------------------------------ ETAPI and export

#[tokio::test(flavor = "multi_thread")]
async fn etapi_and_export_treat_protected_notes_as_trilium_does() {
    let hub = Node::hub().await;
    let src = ChangeSource::new(hub.instance_id());
    hub.document().write(&src, |tx| password::set_password(tx, PASSWORD)).unwrap();
    let key = hub.document().read_with(|c| unlock_key(c, PASSWORD)).unwrap();
    let parent = hub.create_note("root", "Vault", "<p>hidden words</p>");
    hub.create_note(&parent, "Inner vault", "<p>more hidden words</p>");
    hub.document().write_with(&src, |tx| dp::set_protected(tx, &parent, true, true, &key)).unwrap();
    let stored_title = hub.note(&parent).unwrap().title;

    let token = etapi_token(&hub.url(), PASSWORD).await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        let mut r = http.request(method, format!("{}/etapi{path}", hub.url())).header("Authorization", &token);
        if let Some(body) = body {
            r = r.json(&body);
        }
        r.send()
    };
    // No protected session in ETAPI: the title as stored, the content refused, writes refused.
    let note: serde_json::Value = call(reqwest::Method::GET, format!("/notes/{parent}"), None).await.unwrap().json().await.unwrap();
    assert_eq!(note["isProtected"], true);
    assert_eq!(note["title"], stored_title.as_str());
    for (method, path) in [
        (reqwest::Method::GET, format!("/notes/{parent}/content")),
        (reqwest::Method::POST, format!("/notes/{parent}/revision")),
    ] {
        let r = call(method, path.clone(), None).await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "NOTE_IS_PROTECTED", "{path}: {body}");
    }
    // A note created through ETAPI under a protected parent is not protected (as in Trilium).
    let created: serde_json::Value = call(
        reqwest::Method::POST,
        "/create-note".into(),
        Some(serde_json::json!({ "parentNoteId": parent, "title": "via etapi", "type": "text", "content": "<p>open</p>" })),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(created["note"]["isProtected"], false, "{created}");

    // The export leaves the protected notes' titles and contents out.
    let r = call(reqwest::Method::GET, format!("/notes/{parent}/export?format=html"), None).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        names.push(entry.name().to_owned());
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut entry, &mut text);
        assert!(!text.contains("hidden words") && !text.contains("Vault"), "{}: {text}", entry.name());
    }
    assert!(names.iter().any(|n| n.contains("[protected]")), "{names:?}");
    assert!(names.iter().any(|n| n.contains("via etapi")), "{names:?}");
}

// ------------------------------------------------------------------ in a running instance

/// The protected-session key of a logged-in browser: the stored hash of its cookie's session id.
fn session_key_of(browser: &crate::auth::Browser, node: &Node) -> String {
    use sha2::Sha256;
    let cookies = reqwest::cookie::CookieStore::cookies(&*browser.jar, &node.url().parse().unwrap()).unwrap();
    let sid = cookies
        .to_str()
        .unwrap()
        .split(';')
        .find_map(|c| c.trim().split_once('=').filter(|(n, _)| n.starts_with("canopy.sid")).map(|(_, v)| v.to_owned()))
        .unwrap();
    Sha256::digest(sid.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_and_the_timeout_option_end_a_running_instances_protected_session() {
    let hub = Node::hub().await;
    let browser = crate::auth::Browser::logged_in(&hub).await;
    let session_key = session_key_of(&browser, &hub);
    let sessions = hub.running().protected.clone();
    let mut ended = sessions.subscribe_ended();
    sessions.unlock(hub.document(), &session_key, crate::auth::PASSWORD).unwrap();
    assert!(sessions.is_unlocked(&session_key));
    let r = browser.http.post(format!("{}/logout", hub.url())).header("X-CSRF-Token", &browser.csrf).send().await.unwrap();
    assert!(r.status().is_redirection());
    assert!(!sessions.is_unlocked(&session_key), "logout ends the protected session");
    assert_eq!(ended.try_recv().unwrap(), session_key);

    // The option (synced, so it may change anywhere) is followed by the sweeper within a few seconds.
    let other = crate::auth::Browser::logged_in(&hub).await;
    let other_key = session_key_of(&other, &hub);
    sessions.unlock(hub.document(), &other_key, crate::auth::PASSWORD).unwrap();
    hub.document().write(&ChangeSource::new(hub.instance_id()), |tx| options::set(tx, "protectedSessionTimeout", "1").map(drop)).unwrap();
    let ended_by_timeout = tokio::time::timeout(Duration::from_secs(15), ended.recv()).await.expect("ends within the sweep").unwrap();
    assert_eq!(ended_by_timeout, other_key);
    assert!(sessions.key(&other_key).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protected_session_ends_with_its_login_and_wrong_passwords_are_limited_per_login() {
    let hub = Node::hub().await;
    let sessions = hub.running().protected.clone();
    let mut ended = sessions.subscribe_ended();

    // A login that expires (here: its expiry moved into the past in sessions.db, as time would) takes
    // its key with it at the next sweep, long before the protected-session timeout.
    let expiring = crate::auth::Browser::logged_in(&hub).await;
    let expiring_key = session_key_of(&expiring, &hub);
    sessions.unlock(hub.document(), &expiring_key, crate::auth::PASSWORD).unwrap();
    let logins = rusqlite::Connection::open(hub.dir.path().join("sessions.db")).unwrap();
    logins.busy_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(logins.execute("UPDATE sessions SET expiresMs = 1 WHERE idHash = ?1", [&expiring_key]).unwrap(), 1);
    let gone = tokio::time::timeout(Duration::from_secs(15), ended.recv()).await.expect("ends within the sweep").unwrap();
    assert_eq!(gone, expiring_key);
    assert!(sessions.key(&expiring_key).is_none());

    // A login that no longer exists gets no key, even with the right password.
    let err = sessions.unlock(hub.document(), &expiring_key, crate::auth::PASSWORD).unwrap_err();
    assert!(matches!(err, ProtectedError::LoginEnded), "{err:?}");
    assert!(!sessions.is_unlocked(&expiring_key));

    // Ten wrong passwords from one login, and that login is refused even the right one for a while;
    // another login is not affected.
    let guesser = crate::auth::Browser::logged_in(&hub).await;
    let guesser_key = session_key_of(&guesser, &hub);
    for _ in 0..canopy::login_limit::MAX_FAILURES {
        let err = sessions.unlock(hub.document(), &guesser_key, "guess").unwrap_err();
        assert!(matches!(err, ProtectedError::WrongPassword), "{err:?}");
    }
    let err = sessions.unlock(hub.document(), &guesser_key, crate::auth::PASSWORD).unwrap_err();
    assert!(matches!(err, ProtectedError::TooManyAttempts), "{err:?}");
    assert!(!sessions.is_unlocked(&guesser_key));
    let honest = crate::auth::Browser::logged_in(&hub).await;
    let honest_key = session_key_of(&honest, &hub);
    sessions.unlock(hub.document(), &honest_key, crate::auth::PASSWORD).unwrap();
    assert!(sessions.is_unlocked(&honest_key));

    // Through the page's own call, the refusal is a 403 with words a person understands.
    let r = guesser.server_fn_response("protected/unlock", ("password", crate::auth::PASSWORD), Some(&guesser.csrf)).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Too many wrong passwords"));
}

#[test]
fn deleting_and_undeleting_in_a_protected_session_hash_over_the_decrypted_title() {
    let dir = tempfile::tempdir().unwrap();
    let doc = document_with_password(dir.path());
    let key = doc.read_with(|c| unlock_key(c, PASSWORD)).unwrap();
    let parent = create_text(&doc, "root", "Box", "<p>box</p>", None);
    let id = create_text(&doc, &parent, "Letter", "<p>dear</p>", None);
    doc.write_with(&source(), |tx| dp::set_protected(tx, &id, true, false, &key)).unwrap();
    let hash_of = |deleted: bool| {
        doc.read(|c| {
            let note: Note = entities::get(c, &id)?;
            let mut parts = vec![id.as_str(), "Letter", "true", "text", "text/html", note.blob_id.as_deref().unwrap()];
            if deleted {
                parts.push("deleted");
            }
            Ok((trilium_entity_hash(&parts), stored_hash(c, "notes", &id)))
        })
        .unwrap()
    };
    doc.write_with(&source(), |tx| domain::notes::delete_note(tx, &id, Some(&key))).unwrap();
    let (expected, stored) = hash_of(true);
    assert_eq!(stored, expected);
    // Operations without a key parameter run in the protected session the transaction is given.
    doc.write_with(&source(), |tx| {
        tx.set_key(Some(&key));
        domain::recent_changes::undelete_note(tx, &id)
    })
    .unwrap();
    let (expected, stored) = hash_of(false);
    assert_eq!(stored, expected);
    assert!(!doc.read_with(|c| domain::notes::live_note(c, &id)).unwrap().is_deleted);
}
