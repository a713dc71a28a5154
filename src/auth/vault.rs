//! The token vault: stored VCS tokens are AES-256-GCM encrypted by the `aes-gcm` crate
//! (96-bit IV, 128-bit tag, no associated data) and kept as
//! `base64(iv(12) || ciphertext || tag(16))`, with a fresh random IV per value. Sans-IO: the
//! only thing it takes from the platform is the IV's randomness (`auth::random`); sealing
//! under a given IV and opening are pure.

use aes_gcm::aead::{AeadInPlace, KeyInit, Nonce};
use aes_gcm::{Aes256Gcm, Tag};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

pub const KEY_LEN: usize = 32;
pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// Why a value could not be sealed or opened. Carries no secret: neither key nor token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultError {
    /// The configured key is not base64 of exactly 32 bytes.
    BadKey,
    /// The stored value is not valid base64, too short, or not UTF-8 once opened.
    Malformed,
    /// Authentication failed: wrong key or tampered value.
    Tampered,
    /// No randomness was available for the IV.
    Random,
    /// The cipher refused the plaintext (longer than AES-GCM allows).
    Encrypt,
}

/// Seals and opens stored tokens with one key. Deliberately not `Debug`: it holds the key.
pub struct Vault {
    cipher: Aes256Gcm,
}

impl Vault {
    /// The vault for `TOKEN_ENCRYPTION_KEY` (base64 of 32 bytes).
    pub fn from_base64_key(key: &str) -> Result<Self, VaultError> {
        Ok(Vault {
            cipher: Aes256Gcm::new(&key_bytes(key)?.into()),
        })
    }

    /// Encrypts `plaintext` under a fresh random IV, in the stored format.
    pub fn encrypt(&self, plaintext: &str) -> Result<String, VaultError> {
        let iv = crate::auth::random::bytes::<IV_LEN>().map_err(|_| VaultError::Random)?;
        self.seal(&iv, plaintext)
    }

    /// Encrypts `plaintext` when there is one.
    pub fn encrypt_optional(&self, plaintext: Option<&str>) -> Result<Option<String>, VaultError> {
        plaintext.map(|p| self.encrypt(p)).transpose()
    }

    /// Decrypts a stored value; a wrong key or a changed value is `Tampered`.
    pub fn decrypt(&self, stored: &str) -> Result<String, VaultError> {
        let mut raw = B64.decode(stored).map_err(|_| VaultError::Malformed)?;
        let text_end = raw
            .len()
            .checked_sub(TAG_LEN)
            .filter(|&end| end >= IV_LEN)
            .ok_or(VaultError::Malformed)?;
        let (head, tag) = raw.split_at_mut(text_end);
        let (iv, text) = head.split_at_mut(IV_LEN);
        self.cipher
            .decrypt_in_place_detached(
                Nonce::<Aes256Gcm>::from_slice(iv),
                b"",
                text,
                Tag::from_slice(tag),
            )
            .map_err(|_| VaultError::Tampered)?;
        raw.truncate(text_end);
        raw.drain(..IV_LEN);
        String::from_utf8(raw).map_err(|_| VaultError::Malformed)
    }

    /// `plaintext` sealed under `iv`, in the stored format (the IV, then the ciphertext, encrypted
    /// in place, then the tag).
    fn seal(&self, iv: &[u8; IV_LEN], plaintext: &str) -> Result<String, VaultError> {
        let mut raw = Vec::with_capacity(IV_LEN + plaintext.len() + TAG_LEN);
        raw.extend_from_slice(iv);
        raw.extend_from_slice(plaintext.as_bytes());
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::<Aes256Gcm>::from_slice(iv), b"", &mut raw[IV_LEN..])
            .map_err(|_| VaultError::Encrypt)?;
        raw.extend_from_slice(&tag);
        Ok(B64.encode(raw))
    }
}

/// `TOKEN_ENCRYPTION_KEY` (base64 of 32 bytes) as the key's bytes.
fn key_bytes(key: &str) -> Result<[u8; KEY_LEN], VaultError> {
    let raw = B64.decode(key.trim()).map_err(|_| VaultError::BadKey)?;
    raw.try_into().map_err(|_| VaultError::BadKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known-answer vector's key: bytes 0..=31, as `TOKEN_ENCRYPTION_KEY`.
    const KAT_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    /// Its IV: bytes 0xa0..=0xab.
    const KAT_IV: [u8; IV_LEN] = [
        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
    ];
    const KAT_PLAINTEXT: &str = "ghp_known-answer-token";
    /// `KAT_PLAINTEXT` sealed under `KAT_KEY` and `KAT_IV` in the stored format, computed
    /// outside this crate (Python's `cryptography` AESGCM and Node's `crypto` agree).
    const KAT_STORED: &str = "oKGio6SlpqeoqaqrgXAMci6lbcgMSOa9dA2lrF3YNnv32ViKil3w59c180c3Xs+nW5A=";

    fn vault(key: [u8; KEY_LEN]) -> Vault {
        Vault::from_base64_key(&B64.encode(key)).expect("a 32-byte key")
    }

    #[test]
    fn keys_are_32_bytes_of_base64() {
        assert_eq!(key_bytes(&B64.encode([7u8; 32])), Ok([7u8; 32]));
        assert_eq!(
            key_bytes(&format!(" {}\n", B64.encode([1u8; 32]))),
            Ok([1; 32])
        );
        assert_eq!(key_bytes("not base64!"), Err(VaultError::BadKey));
        assert_eq!(key_bytes(&B64.encode([1u8; 16])), Err(VaultError::BadKey));
        assert_eq!(key_bytes(""), Err(VaultError::BadKey));
        assert!(Vault::from_base64_key("").is_err());
    }

    #[test]
    fn sealed_values_open_to_their_plaintext() {
        let v = vault([3; 32]);
        for text in ["", "ghp_x", "a token with ünïcode and \"quotes\""] {
            let stored = v.encrypt(text).unwrap();
            assert_eq!(v.decrypt(&stored).as_deref(), Ok(text));
            let raw = B64.decode(&stored).unwrap();
            assert_eq!(raw.len(), IV_LEN + text.len() + TAG_LEN);
        }
        // A fresh IV per value: the same token is stored differently each time.
        assert_ne!(v.encrypt("same").unwrap(), v.encrypt("same").unwrap());
        assert_eq!(v.encrypt_optional(None), Ok(None));
        let some = v.encrypt_optional(Some("t")).unwrap().unwrap();
        assert_eq!(v.decrypt(&some).as_deref(), Ok("t"));
    }

    #[test]
    fn matches_the_known_answer() {
        let v = Vault::from_base64_key(KAT_KEY).unwrap();
        assert_eq!(v.decrypt(KAT_STORED).as_deref(), Ok(KAT_PLAINTEXT));
        assert_eq!(v.seal(&KAT_IV, KAT_PLAINTEXT).as_deref(), Ok(KAT_STORED));
    }

    #[test]
    fn a_changed_value_is_refused() {
        let v = Vault::from_base64_key(KAT_KEY).unwrap();
        let raw = B64.decode(KAT_STORED).unwrap();
        // One bit flipped in the IV, the ciphertext, and the tag.
        for at in [0, IV_LEN + 1, raw.len() - 1] {
            let mut changed = raw.clone();
            changed[at] ^= 1;
            assert_eq!(
                v.decrypt(&B64.encode(&changed)),
                Err(VaultError::Tampered),
                "byte {at}"
            );
        }
        // Cut short by one byte: still long enough to parse, no longer authentic.
        assert_eq!(
            v.decrypt(&B64.encode(&raw[..raw.len() - 1])),
            Err(VaultError::Tampered)
        );
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let sealed = vault([1; 32]).encrypt("ghp_secret").unwrap();
        assert_eq!(vault([2; 32]).decrypt(&sealed), Err(VaultError::Tampered));
        assert_eq!(vault([1; 32]).decrypt(&sealed).as_deref(), Ok("ghp_secret"));
    }

    #[test]
    fn malformed_values_are_refused() {
        let v = vault([1; 32]);
        assert_eq!(v.decrypt("%%%"), Err(VaultError::Malformed));
        assert_eq!(v.decrypt(""), Err(VaultError::Malformed));
        // Shorter than an IV and a tag: nothing could have sealed it.
        assert_eq!(
            v.decrypt(&B64.encode([0u8; IV_LEN + TAG_LEN - 1])),
            Err(VaultError::Malformed)
        );
        // Exactly an IV and a tag: an empty plaintext, whose tag does not match.
        assert_eq!(
            v.decrypt(&B64.encode([0u8; IV_LEN + TAG_LEN])),
            Err(VaultError::Tampered)
        );
    }
}
