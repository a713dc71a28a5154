//! The token vault: AES-256-GCM encryption of stored VCS tokens. A stored value is
//! `base64(iv(12) || ciphertext || tag)`, with a fresh random 96-bit IV per value.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultError {
    /// The configured key is not base64 of exactly 32 bytes.
    BadKey,
    /// The stored value is not valid base64 or too short.
    Malformed,
    /// Authentication failed: wrong key or tampered value.
    Tampered,
    /// No randomness was available for the IV.
    Random,
    /// The cipher refused the plaintext (longer than AES-GCM allows).
    Encrypt,
}

pub struct Vault {
    cipher: Aes256Gcm,
}

impl Vault {
    /// Builds the vault from `TOKEN_ENCRYPTION_KEY` (base64 of 32 bytes).
    pub fn from_base64_key(key: &str) -> Result<Self, VaultError> {
        let raw = B64.decode(key.trim()).map_err(|_| VaultError::BadKey)?;
        if raw.len() != 32 {
            return Err(VaultError::BadKey);
        }
        Ok(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&raw)),
        })
    }

    /// Encrypts with a fresh random IV.
    pub fn encrypt(&self, plaintext: &str) -> Result<String, VaultError> {
        let iv = crate::auth::random::bytes::<IV_LEN>().map_err(|_| VaultError::Random)?;
        self.encrypt_with_iv(plaintext, iv)
    }

    /// Encrypts with the given IV (never reuse one with the same key).
    pub fn encrypt_with_iv(&self, plaintext: &str, iv: [u8; IV_LEN]) -> Result<String, VaultError> {
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&iv), plaintext.as_bytes())
            .map_err(|_| VaultError::Encrypt)?;
        let mut out = Vec::with_capacity(IV_LEN + ct.len());
        out.extend_from_slice(&iv);
        out.extend_from_slice(&ct);
        Ok(B64.encode(out))
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, VaultError> {
        let raw = B64.decode(stored).map_err(|_| VaultError::Malformed)?;
        if raw.len() < IV_LEN + TAG_LEN {
            return Err(VaultError::Malformed);
        }
        let (iv, ct) = raw.split_at(IV_LEN);
        let pt = self
            .cipher
            .decrypt(Nonce::from_slice(iv), ct)
            .map_err(|_| VaultError::Tampered)?;
        String::from_utf8(pt).map_err(|_| VaultError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> String {
        B64.encode([b; 32])
    }

    #[test]
    fn round_trip_with_fresh_ivs() {
        let v = Vault::from_base64_key(&key(7)).unwrap();
        let token = "x".repeat(3000);
        let a = v.encrypt(&token).unwrap();
        let b = v.encrypt(&token).unwrap();
        assert_ne!(a, b, "each value gets its own IV");
        assert_eq!(v.decrypt(&a).unwrap(), token);
        assert_eq!(v.decrypt(&b).unwrap(), token);
        assert!(!a.contains("xxxx"));
    }

    #[test]
    fn layout_is_iv_then_ciphertext_and_tag() {
        let v = Vault::from_base64_key(&key(1)).unwrap();
        let s = v.encrypt_with_iv("abc", [9; 12]).unwrap();
        let raw = B64.decode(s).unwrap();
        assert_eq!(&raw[..12], &[9; 12]);
        assert_eq!(raw.len(), 12 + 3 + 16);
    }

    #[test]
    fn tampering_is_detected() {
        let v = Vault::from_base64_key(&key(7)).unwrap();
        let s = v.encrypt("secret-token").unwrap();
        let mut raw = B64.decode(&s).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(v.decrypt(&B64.encode(&raw)), Err(VaultError::Tampered));
        raw[last] ^= 1;
        raw[13] ^= 0x80;
        assert_eq!(v.decrypt(&B64.encode(&raw)), Err(VaultError::Tampered));
    }

    #[test]
    fn wrong_key_fails() {
        let s = Vault::from_base64_key(&key(7))
            .unwrap()
            .encrypt("secret")
            .unwrap();
        let other = Vault::from_base64_key(&key(8)).unwrap();
        assert_eq!(other.decrypt(&s), Err(VaultError::Tampered));
    }

    #[test]
    fn bad_keys_and_values_are_rejected() {
        assert!(Vault::from_base64_key("not base64!").is_err());
        assert!(Vault::from_base64_key(&B64.encode([1u8; 16])).is_err());
        let v = Vault::from_base64_key(&key(7)).unwrap();
        assert_eq!(v.decrypt("%%%"), Err(VaultError::Malformed));
        assert_eq!(
            v.decrypt(&B64.encode([0u8; 20])),
            Err(VaultError::Malformed)
        );
    }
}
