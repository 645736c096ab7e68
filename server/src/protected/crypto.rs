//! Trilium 0.63.7's encryption formats (`services/encryption/`), built on RustCrypto.
//!
//! * Password hashes: scrypt N=16384, r=8, p=1, 32 bytes; the salt is the *text* of a base64 token.
//! * Everything encrypted (the wrapped data key, protected titles and blobs): AES-128-CBC with PKCS#7
//!   over `sha1(plain)[0..4] ++ plain`, a random 16-byte IV in front, all base64. Keys and IVs are cut
//!   or zero-padded to 16 bytes first, so the 32-byte password-derived key is used by its first half,
//!   and the data key (the 24-character text of a base64 token) by its first 16 characters.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::Rng;
use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// `my_scrypt.getScryptHash`.
pub fn scrypt_hash(password: &str, salt: &str) -> Zeroizing<[u8; 32]> {
    let params = scrypt::Params::new(14, 8, 1, 32).expect("valid scrypt params");
    let mut out = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut out[..]).expect("32-byte output is valid");
    out
}

/// Trilium's `pad`: keys and IVs cut or zero-padded to 16 bytes.
pub fn pad16(data: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    let n = data.len().min(16);
    out[..n].copy_from_slice(&data[..n]);
    out
}

/// Why a ciphertext did not decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// The PKCS#7 padding is wrong: almost always the wrong key, or damaged data.
    #[error("the padding is wrong (wrong key or damaged data)")]
    BadPadding,
    /// The 4-byte SHA-1 check in front of the plaintext does not match.
    #[error("the checksum does not match (wrong key or damaged data)")]
    BadDigest,
    /// Not base64, or too short to hold an IV and a block.
    #[error("it is not an encrypted value")]
    NotCiphertext,
}

/// `data_encryption.encrypt`.
pub fn encrypt(key: &[u8], plain: &[u8]) -> String {
    let mut iv = [0u8; 16];
    rand::rng().fill(&mut iv);
    encrypt_with_iv(key, &iv, plain)
}

/// [`encrypt`] with a given IV (tests re-derive ciphertexts with it).
pub fn encrypt_with_iv(key: &[u8], iv: &[u8; 16], plain: &[u8]) -> String {
    let mut payload = Zeroizing::new(Sha1::digest(plain)[..4].to_vec());
    payload.extend_from_slice(plain);
    let key = Zeroizing::new(pad16(key));
    let ct = Aes128CbcEnc::new(&(*key).into(), &(*iv).into()).encrypt_padded_vec_mut::<Pkcs7>(&payload);
    let mut out = iv.to_vec();
    out.extend_from_slice(&ct);
    B64.encode(out)
}

/// `data_encryption.decrypt` without Trilium's recovery: the plaintext, or why not.
pub fn decrypt_strict(key: &[u8], cipher_b64: &str) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let raw = B64.decode(cipher_b64.trim()).map_err(|_| DecryptError::NotCiphertext)?;
    // Data from old versions has a 13-byte IV (Trilium issue 3017): told apart by the length.
    let iv_len = if raw.len() % 16 == 0 { 16 } else { 13 };
    if raw.len() < iv_len + 16 || (raw.len() - iv_len) % 16 != 0 {
        return Err(DecryptError::NotCiphertext);
    }
    let (iv, ct) = raw.split_at(iv_len);
    let key = Zeroizing::new(pad16(key));
    let plain = Zeroizing::new(
        Aes128CbcDec::new(&(*key).into(), &pad16(iv).into())
            .decrypt_padded_vec_mut::<Pkcs7>(ct)
            .map_err(|_| DecryptError::BadPadding)?,
    );
    if plain.len() < 4 {
        return Err(DecryptError::BadDigest);
    }
    let (digest, payload) = plain.split_at(4);
    if Sha1::digest(payload)[..4] != *digest {
        return Err(DecryptError::BadDigest);
    }
    Ok(Zeroizing::new(payload.to_vec()))
}

/// `data_encryption.decrypt` as Trilium reads protected titles and blobs: a value whose ciphertext is
/// not whole AES blocks (Node's "wrong final block length") is taken to be plaintext stored unencrypted
/// by an old bug (Trilium issue 510) and is returned as it is stored; Canopy also takes text that is
/// not base64 at all that way (Node's lenient base64 reaches the same branch for such text).
pub fn decrypt(key: &[u8], cipher_b64: &str) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    match decrypt_strict(key, cipher_b64) {
        Err(DecryptError::NotCiphertext) => Ok(Zeroizing::new(cipher_b64.as_bytes().to_vec())),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let key = b"0123456789abcdefXXXX";
        for plain in [&b""[..], b"a", b"exactly 12 b", b"twelve bytes + four = 16!", "Grüße 🌳".as_bytes()] {
            let ct = encrypt(key, plain);
            assert_eq!(&decrypt(key, &ct).unwrap()[..], plain);
            // Only the first 16 key bytes count, as in Trilium's pad().
            assert_eq!(&decrypt(b"0123456789abcdef", &ct).unwrap()[..], plain);
            assert!(decrypt_strict(b"another key 1234", &ct).is_err());
        }
    }

    #[test]
    fn old_13_byte_ivs_still_decrypt() {
        // Old Trilium versions wrote 13-byte IVs (zero-padded to 16 for the cipher).
        let key = b"0123456789abcdef";
        let iv = [9u8, 8, 7, 6, 5, 4, 3, 2, 1, 9, 8, 7, 6, 0, 0, 0];
        let full = B64.decode(encrypt_with_iv(key, &iv, b"from an old version")).unwrap();
        let short: Vec<u8> = full[..13].iter().chain(&full[16..]).copied().collect();
        assert_eq!(&decrypt_strict(key, &B64.encode(short)).unwrap()[..], b"from an old version");
    }

    #[test]
    fn unencrypted_text_is_returned_as_stored() {
        let key = b"0123456789abcdef";
        assert_eq!(&decrypt(key, "<p>plain</p>").unwrap()[..], b"<p>plain</p>");
        assert_eq!(decrypt_strict(key, "<p>plain</p>").unwrap_err(), DecryptError::NotCiphertext);
    }
}
