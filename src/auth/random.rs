//! Random identifiers and bearer tokens, and the SHA-256 digests under which tokens are stored.

use std::cell::Cell;

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

thread_local! {
    /// This instance's random prefix for [`unique_id`] (drawn on first use) and its counter.
    static UNIQUE: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

/// An identifier unique for all practical purposes, not secret (events, requests): this
/// instance's random 64-bit prefix and a counter, 32 lowercase hex characters like [`id`],
/// without a call to the platform's random source each time.
pub fn unique_id() -> Result<String, getrandom::Error> {
    let (prefix, n) = match UNIQUE.with(Cell::get) {
        Some(at) => at,
        None => (u64::from_le_bytes(bytes::<8>()?), 0),
    };
    UNIQUE.with(|u| u.set(Some((prefix, n.wrapping_add(1)))));
    Ok(format!("{prefix:016x}{n:016x}"))
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
    fn unique_ids_share_a_prefix_and_count() {
        let a = unique_id().unwrap();
        let b = unique_id().unwrap();
        assert_eq!((a.len(), b.len()), (32, 32));
        assert_eq!(a[..16], b[..16]);
        let n = |s: &str| u64::from_str_radix(&s[16..], 16).unwrap();
        assert_eq!(n(&b), n(&a) + 1);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
