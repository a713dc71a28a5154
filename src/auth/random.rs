//! Random identifiers and bearer tokens, and the SHA-256 digests under which tokens are stored.

use sha2::{Digest, Sha256};

/// `n` random bytes from the platform's CSPRNG (Web Crypto in workerd).
pub fn bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf)?;
    Ok(buf)
}

/// A random 128-bit identifier as 32 lowercase hex characters.
pub fn id() -> Result<String, getrandom::Error> {
    Ok(hex::encode(bytes::<16>()?))
}

/// A random 256-bit bearer token as 64 lowercase hex characters.
pub fn token() -> Result<String, getrandom::Error> {
    Ok(hex::encode(bytes::<32>()?))
}

/// The lowercase hex SHA-256 of a token: the only form in which tokens are stored.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_tokens_are_random_hex() {
        let a = id().unwrap();
        let b = id().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_eq!(token().unwrap().len(), 64);
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
