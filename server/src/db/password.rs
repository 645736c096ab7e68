//! The document password, compatible with Trilium: scrypt (N=16384, r=8, p=1, 32 bytes)
//! with the base64 salt *string* as salt bytes; the verification hash and the wrapped
//! data key live in synced options.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rusqlite::Connection;

use super::{options, DbError, SqlResult, WriteTx};
use crate::hashing;
use crate::protected::crypto;

/// `my_scrypt.getScryptHash`.
pub use crate::protected::crypto::scrypt_hash;

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
    Ok(B64.encode(&scrypt_hash(password, &salt)[..]) == hash)
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
    let verification = B64.encode(&scrypt_hash(password, &verification_salt)[..]);
    options::create(tx, "passwordVerificationHash", &verification, true)?;
    options::create(tx, "encryptedDataKey", "", true)?;
    // The data key is the *text* of a base64 token, as in Trilium.
    let data_key = hashing::random_secure_token(16);
    let wrapped = encrypt(&scrypt_hash(password, &derived_key_salt)[..], data_key.as_bytes());
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
    let derived = scrypt_hash(new_password, &derived_key_salt);
    options::set(tx, "encryptedDataKey", &crypto::encrypt(&derived[..], unwrapped))?;
    options::set(tx, "passwordVerificationHash", &B64.encode(&scrypt_hash(new_password, &verification_salt)[..]))?;
    Ok(())
}

/// Unwraps the data key (for protected notes) with the password; `None` if wrong.
pub fn data_key(conn: &Connection, password: &str) -> SqlResult<Option<Vec<u8>>> {
    let (Some(salt), Some(wrapped)) = (options::get(conn, "passwordDerivedKeySalt")?, options::get(conn, "encryptedDataKey")?)
    else {
        return Ok(None);
    };
    Ok(crypto::decrypt_strict(&scrypt_hash(password, &salt)[..], &wrapped).ok().map(|b| b.to_vec()))
}

/// `data_encryption.encrypt` ([`crate::protected::crypto::encrypt`]).
pub fn encrypt(key: &[u8], plain: &[u8]) -> String {
    crypto::encrypt(key, plain)
}

/// `data_encryption.decrypt`: `None` when it does not decrypt (wrong key, damaged data).
pub fn decrypt(key: &[u8], cipher_b64: &str) -> Option<Vec<u8>> {
    crypto::decrypt(key, cipher_b64).ok().map(|b| b.to_vec())
}

/// Decrypts a protected title or text blob with an unwrapped data key.
pub fn decrypt_string(data_key: &[u8], cipher_b64: &str) -> Option<String> {
    decrypt(data_key, cipher_b64).map(|b| String::from_utf8_lossy(&b).into_owned())
}
