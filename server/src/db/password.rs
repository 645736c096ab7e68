//! The document password, compatible with Trilium: scrypt (N=16384, r=8, p=1, 32 bytes)
//! with the base64 salt *string* as salt bytes; the verification hash and the wrapped
//! data key live in synced options.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::Rng;
use rusqlite::Connection;
use sha1::{Digest, Sha1};

use super::{options, DbError, SqlResult, WriteTx};
use crate::hashing;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// `my_scrypt.getScryptHash`.
pub fn scrypt_hash(password: &str, salt: &str) -> [u8; 32] {
    let params = scrypt::Params::new(14, 8, 1, 32).expect("valid scrypt params");
    let mut out = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut out).expect("32-byte output is valid");
    out
}

pub fn is_password_set(conn: &Connection) -> SqlResult<bool> {
    Ok(options::get(conn, "passwordVerificationHash")?.is_some_and(|v| !v.is_empty()))
}

/// `passwordEncryptionService.verifyPassword`.
pub fn verify_password(conn: &Connection, password: &str) -> SqlResult<bool> {
    let (Some(hash), Some(salt)) =
        (options::get(conn, "passwordVerificationHash")?, options::get(conn, "passwordVerificationSalt")?)
    else {
        return Ok(false);
    };
    if hash.is_empty() {
        return Ok(false);
    }
    Ok(B64.encode(scrypt_hash(password, &salt)) == hash)
}

/// `password.setPassword` on a document without a password: new salts, verification
/// hash and a fresh data key wrapped by the password (all synced options).
pub fn set_password(tx: &mut WriteTx<'_>, password: &str) -> SqlResult<()> {
    if is_password_set(tx.conn())? {
        return Err(DbError::PasswordAlreadySet);
    }
    let verification_salt = hashing::random_secure_token(32);
    let derived_key_salt = hashing::random_secure_token(32);
    options::create(tx, "passwordVerificationSalt", &verification_salt, true)?;
    options::create(tx, "passwordDerivedKeySalt", &derived_key_salt, true)?;
    let verification = B64.encode(scrypt_hash(password, &verification_salt));
    options::create(tx, "passwordVerificationHash", &verification, true)?;
    options::create(tx, "encryptedDataKey", "", true)?;
    // The data key is the *text* of a base64 token, as in Trilium.
    let data_key = hashing::random_secure_token(16);
    let wrapped = encrypt(&scrypt_hash(password, &derived_key_salt), data_key.as_bytes());
    options::set(tx, "encryptedDataKey", &wrapped)?;
    Ok(())
}

/// `password.changePassword` once the old password is checked: new salts and verification hash, the
/// same data key (`unwrapped`, as stored inside `encryptedDataKey`) wrapped by the new password, so
/// every protected note stays readable and nothing else changes (ETAPI tokens, sync, sessions).
pub fn rewrap_data_key(tx: &mut WriteTx<'_>, unwrapped: &[u8], new_password: &str) -> SqlResult<()> {
    let verification_salt = hashing::random_secure_token(32);
    let derived_key_salt = hashing::random_secure_token(32);
    options::set(tx, "passwordVerificationSalt", &verification_salt)?;
    options::set(tx, "passwordDerivedKeySalt", &derived_key_salt)?;
    let derived = crate::protected::crypto::scrypt_hash(new_password, &derived_key_salt);
    options::set(tx, "encryptedDataKey", &crate::protected::crypto::encrypt(&derived[..], unwrapped))?;
    options::set(tx, "passwordVerificationHash", &B64.encode(scrypt_hash(new_password, &verification_salt)))?;
    Ok(())
}

/// Unwraps the data key (for protected notes) with the password; `None` if wrong.
pub fn data_key(conn: &Connection, password: &str) -> SqlResult<Option<Vec<u8>>> {
    let (Some(salt), Some(wrapped)) = (options::get(conn, "passwordDerivedKeySalt")?, options::get(conn, "encryptedDataKey")?)
    else {
        return Ok(None);
    };
    Ok(decrypt(&scrypt_hash(password, &salt), &wrapped))
}

/// Trilium pads/truncates keys and IVs to 16 bytes.
fn pad16(data: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    let n = data.len().min(16);
    out[..n].copy_from_slice(&data[..n]);
    out
}

/// `data_encryption.encrypt`: AES-128-CBC over `sha1(plain)[0..4] + plain`, IV prepended,
/// base64.
pub fn encrypt(key: &[u8], plain: &[u8]) -> String {
    let mut iv = [0u8; 16];
    rand::rng().fill(&mut iv);
    let mut payload = Sha1::digest(plain)[..4].to_vec();
    payload.extend_from_slice(plain);
    let ct = Aes128CbcEnc::new(&pad16(key).into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(&payload);
    let mut out = iv.to_vec();
    out.extend_from_slice(&ct);
    B64.encode(out)
}

/// `data_encryption.decrypt`: `None` when the digest does not match (wrong key).
pub fn decrypt(key: &[u8], cipher_b64: &str) -> Option<Vec<u8>> {
    let raw = B64.decode(cipher_b64.trim()).ok()?;
    // Very old data used a 13-byte IV.
    let iv_len = if raw.len() % 16 == 0 { 16 } else { 13 };
    if raw.len() < iv_len {
        return None;
    }
    let (iv, ct) = raw.split_at(iv_len);
    let plain = Aes128CbcDec::new(&pad16(key).into(), &pad16(iv).into()).decrypt_padded_vec_mut::<Pkcs7>(ct).ok()?;
    if plain.len() < 4 {
        return None;
    }
    let (digest, payload) = plain.split_at(4);
    (Sha1::digest(payload)[..4] == *digest).then(|| payload.to_vec())
}

/// Decrypts a protected title or text blob with an unwrapped data key.
pub fn decrypt_string(data_key: &[u8], cipher_b64: &str) -> Option<String> {
    decrypt(data_key, cipher_b64).map(|b| String::from_utf8_lossy(&b).into_owned())
}
