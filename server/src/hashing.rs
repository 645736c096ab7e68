//! Hashes, ids and date strings exactly as Trilium 0.63.7 makes them.
//!
//! Every function here must produce byte-identical output to Trilium, because the
//! results are stored in `entity_changes` and compared across instances during sync.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Local, Utc};
use rand::Rng;
use sha1::{Digest, Sha1};
use sha2::Sha512;
use unicode_normalization::UnicodeNormalization;

/// Trilium's id alphabet (`rand-token`'s default): `[0-9A-Za-z]`.
const ID_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `utils.randomString(n)`: n characters from the id alphabet, cryptographically random.
pub fn random_string(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())] as char)
        .collect()
}

/// `utils.newEntityId()`: the 12-character ids of notes, attributes, revisions, changes, ...
pub fn new_entity_id() -> String {
    random_string(12)
}

/// Same as [`new_entity_id`] (instance ids, task ids).
pub fn random_id() -> String {
    random_string(12)
}

/// `utils.randomSecureToken(bytes)`: random bytes, standard base64 (used for documentId/secret, salts).
pub fn random_secure_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    B64.encode(buf)
}

/// `utils.hash(text)`: sha1 over the NFC-normalised UTF-8 text, standard base64 (28 chars).
/// Sector hashes and blob hashes use it untruncated.
pub fn js_hash(text: &str) -> String {
    // Normalising char by char is most of a note's hashing cost; text already in NFC (all ASCII
    // text, nearly all other text) hashes as it is.
    let digest = if text.is_ascii() || unicode_normalization::is_nfc_quick(text.chars()) == unicode_normalization::IsNormalized::Yes {
        Sha1::digest(text.as_bytes())
    } else {
        Sha1::digest(text.nfc().collect::<String>().as_bytes())
    };
    B64.encode(digest)
}

/// One value of an entity's `hashedProperties`, converted the way JS template strings do.
#[derive(Debug, Clone, Copy)]
pub enum HashPart<'a> {
    Str(&'a str),
    /// `null` in JS (a NULL column) renders as the text `null`.
    Null,
    /// Becca holds booleans for isProtected/isInheritable/isDeleted: `true`/`false`.
    Bool(bool),
    /// A JS number (integers only in practice).
    Int(i64),
}

impl<'a> From<&'a str> for HashPart<'a> {
    fn from(s: &'a str) -> Self {
        HashPart::Str(s)
    }
}

impl<'a> From<&'a Option<String>> for HashPart<'a> {
    fn from(s: &'a Option<String>) -> Self {
        match s {
            Some(s) => HashPart::Str(s),
            None => HashPart::Null,
        }
    }
}

impl<'a> From<&'a String> for HashPart<'a> {
    fn from(s: &'a String) -> Self {
        HashPart::Str(s)
    }
}

/// `AbstractBeccaEntity.generateHash`: `"|" + v1 + "|" + v2 ...`, `"|deleted"` appended
/// for deleted rows, `utils.hash`, first 10 characters.
pub fn entity_hash(parts: &[HashPart<'_>], is_deleted: bool) -> String {
    let mut content = String::new();
    for part in parts {
        content.push('|');
        match part {
            HashPart::Str(s) => content.push_str(s),
            HashPart::Null => content.push_str("null"),
            HashPart::Bool(b) => content.push_str(if *b { "true" } else { "false" }),
            HashPart::Int(i) => content.push_str(&i.to_string()),
        }
    }
    if is_deleted {
        content.push_str("|deleted");
    }
    let mut h = js_hash(&content);
    h.truncate(10);
    h
}

/// `blob.calculateContentHash`: `utils.hash(blobId + "|" + content.toString())`, full length.
/// Binary content goes through Node's `Buffer.toString()` (UTF-8, invalid sequences become
/// U+FFFD), which `from_utf8_lossy` reproduces.
pub fn blob_content_hash(blob_id: &str, content: Option<&[u8]>) -> String {
    let text = content.map(String::from_utf8_lossy).unwrap_or_default();
    js_hash(&format!("{blob_id}|{text}"))
}

/// Prefix Trilium mixes into the blobId of protected content, so encrypted and plain
/// copies of the same text get different blob ids.
pub const PROTECTED_BLOB_ID_PREFIX: &str = "t$[nvQg7q)&_ENCRYPTED_?M:Bf&j3jr_";

/// `utils.hashedBlobId`: sha512 base64 with `+`→`X`, `/`→`Y`, first 20 characters.
pub fn hashed_blob_id(content: &[u8]) -> String {
    let b64 = B64.encode(Sha512::digest(content));
    b64.chars()
        .take(20)
        .map(|c| match c {
            '+' => 'X',
            '/' => 'Y',
            c => c,
        })
        .collect()
}

/// `dateUtils.utcDateTimeStr`: `YYYY-MM-DD HH:MM:SS.sssZ`.
pub fn utc_date_time_str(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string()
}

/// `dateUtils.localNowDateTime` format: `YYYY-MM-DD HH:MM:SS.sss+HHMM` in the server's zone.
pub fn local_date_time_str(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S%.3f%z").to_string()
}

/// Parses Trilium's UTC format back (used for age comparisons).
pub fn parse_utc_date_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim_end_matches('Z');
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// Sector hash (`content_hash.getEntityHashes`): `utils.hash` over `hash + isErased` of
/// every row of one sector, rows already sorted by entityId.
pub fn sector_hash<'a>(rows: impl IntoIterator<Item = (&'a str, bool)>) -> String {
    let mut s = String::new();
    for (hash, erased) in rows {
        s.push_str(hash);
        s.push(if erased { '1' } else { '0' });
    }
    js_hash(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_use_trilium_alphabet() {
        let id = new_entity_id();
        assert_eq!(id.len(), 12);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(id, new_entity_id());
    }

    #[test]
    fn js_hash_normalises_to_nfc() {
        // "é" precomposed vs "e" + combining acute must hash the same.
        assert_eq!(js_hash("caf\u{e9}"), js_hash("cafe\u{301}"));
        assert_eq!(js_hash("").len(), 28);
    }

    #[test]
    fn entity_hash_formats_values() {
        let a = entity_hash(&[HashPart::Str("x"), HashPart::Null, HashPart::Bool(true)], false);
        let b = js_hash("|x|null|true");
        assert_eq!(a, b[..10]);
        let d = entity_hash(&[HashPart::Str("x")], true);
        assert_eq!(d, js_hash("|x|deleted")[..10]);
    }

    #[test]
    fn blob_id_is_kinda_base62() {
        let id = hashed_blob_id(b"");
        assert_eq!(id.len(), 20);
        assert!(!id.contains('+') && !id.contains('/'));
    }

    #[test]
    fn dates_round_trip() {
        let t = parse_utc_date_time("2026-11-27 14:56:14.901Z").unwrap();
        assert_eq!(utc_date_time_str(t), "2026-11-27 14:56:14.901Z");
        let local = local_date_time_str(t);
        assert_eq!(local.len(), "2026-11-27 15:56:14.901+0100".len());
    }
}
