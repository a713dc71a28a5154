//! The token vault's format, pure: stored VCS tokens are AES-256-GCM encrypted (96-bit IV,
//! 128-bit tag, no associated data) and kept as `base64(iv(12) || ciphertext || tag(16))`,
//! with a fresh random IV per value. The cipher itself is the runtime's (`auth::webcrypto`);
//! this module owns the key's and the stored value's shapes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

pub const KEY_LEN: usize = 32;
pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultError {
    /// The configured key is not base64 of exactly 32 bytes, or the runtime refused it.
    BadKey,
    /// The stored value is not valid base64 or too short.
    Malformed,
    /// Authentication failed: wrong key or tampered value.
    Tampered,
    /// No randomness was available for the IV.
    Random,
    /// The cipher refused the plaintext.
    Encrypt,
}

/// `TOKEN_ENCRYPTION_KEY` (base64 of 32 bytes) as the key's bytes.
pub fn key_bytes(key: &str) -> Result<[u8; KEY_LEN], VaultError> {
    let raw = B64.decode(key.trim()).map_err(|_| VaultError::BadKey)?;
    raw.try_into().map_err(|_| VaultError::BadKey)
}

/// The stored form of `sealed` (ciphertext and tag) encrypted under `iv`.
pub fn envelope(iv: &[u8; IV_LEN], sealed: &[u8]) -> String {
    let mut out = Vec::with_capacity(IV_LEN + sealed.len());
    out.extend_from_slice(iv);
    out.extend_from_slice(sealed);
    B64.encode(out)
}

/// A stored value split into its IV and its sealed bytes (ciphertext and tag).
pub fn open_envelope(stored: &str) -> Result<([u8; IV_LEN], Vec<u8>), VaultError> {
    let mut raw = B64.decode(stored).map_err(|_| VaultError::Malformed)?;
    if raw.len() < IV_LEN + TAG_LEN {
        return Err(VaultError::Malformed);
    }
    let sealed = raw.split_off(IV_LEN);
    let iv = raw.try_into().map_err(|_| VaultError::Malformed)?;
    Ok((iv, sealed))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn a_value_is_its_iv_then_the_sealed_bytes() {
        let stored = envelope(&[9; 12], &[1, 2, 3]);
        assert_eq!(
            B64.decode(&stored).unwrap(),
            [[9u8; 12].as_slice(), &[1, 2, 3]].concat()
        );
        let sealed = vec![5u8; TAG_LEN + 3];
        assert_eq!(
            open_envelope(&envelope(&[4; 12], &sealed)),
            Ok(([4; 12], sealed))
        );
        assert_eq!(open_envelope("%%%"), Err(VaultError::Malformed));
        // Shorter than an IV and a tag: nothing could have sealed it.
        assert_eq!(
            open_envelope(&B64.encode([0u8; IV_LEN + TAG_LEN - 1])),
            Err(VaultError::Malformed)
        );
    }
}
