//! The web → control plane bearer scheme: `<ms>.<hex>` where `<hex>` is the lowercase hex
//! HMAC-SHA256 of `<ms>` under `INTERNAL_CALLBACK_SECRET`, valid within ±5 minutes.

use crate::auth::mac;

/// How far the token's clock may be from ours.
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Missing,
    Malformed,
    Expired,
    BadSignature,
}

impl TokenError {
    pub fn message(self) -> &'static str {
        match self {
            TokenError::Missing => "missing bearer token",
            TokenError::Malformed => "malformed bearer token",
            TokenError::Expired => "bearer token is outside the allowed clock window",
            TokenError::BadSignature => "bearer token signature is invalid",
        }
    }
}

/// Signs `ms` as a service token (used by tests, benchmarks and callers of other services).
pub fn sign(secret: &[u8], ms: i64) -> String {
    let tag = mac::sign(secret, ms.to_string().as_bytes());
    format!("{ms}.{}", hex::encode(tag))
}

/// Extracts the token from an `Authorization` header value (`Bearer <token>`).
pub fn bearer(header: Option<&str>) -> Result<&str, TokenError> {
    let value = header.ok_or(TokenError::Missing)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(TokenError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(TokenError::Malformed);
    }
    Ok(token.trim())
}

/// Verifies a service token at time `now_ms`, in constant time over the signature.
pub fn verify(secret: &[u8], token: &str, now_ms: i64) -> Result<(), TokenError> {
    let (ms, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
    if ms.is_empty() || ms.len() > 16 || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TokenError::Malformed);
    }
    let ts: i64 = ms.parse().map_err(|_| TokenError::Malformed)?;
    let sig = hex::decode(sig).map_err(|_| TokenError::Malformed)?;
    if (now_ms - ts).abs() > MAX_SKEW_MS {
        return Err(TokenError::Expired);
    }
    if mac::verify(secret, ms.as_bytes(), &sig) {
        Ok(())
    } else {
        Err(TokenError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_000_000;

    #[test]
    fn signed_token_verifies_within_window() {
        let t = sign(b"k", NOW);
        assert_eq!(verify(b"k", &t, NOW), Ok(()));
        assert_eq!(verify(b"k", &t, NOW + MAX_SKEW_MS), Ok(()));
        assert_eq!(verify(b"k", &t, NOW - MAX_SKEW_MS), Ok(()));
    }

    #[test]
    fn stale_and_future_tokens_are_rejected() {
        let t = sign(b"k", NOW);
        assert_eq!(
            verify(b"k", &t, NOW + MAX_SKEW_MS + 1),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(b"k", &t, NOW - MAX_SKEW_MS - 1),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn forged_tokens_are_rejected() {
        let t = sign(b"other", NOW);
        assert_eq!(verify(b"k", &t, NOW), Err(TokenError::BadSignature));
        // Same signature, other timestamp.
        let sig = sign(b"k", NOW).split_once('.').unwrap().1.to_string();
        let moved = format!("{}.{sig}", NOW + 1);
        assert_eq!(verify(b"k", &moved, NOW), Err(TokenError::BadSignature));
        // Truncated signature.
        let short = &t[..t.len() - 2];
        assert!(verify(b"k", short, NOW).is_err());
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for bad in [
            "",
            ".",
            "abc.def",
            "123",
            "-5.00",
            "12.zz",
            "99999999999999999999.00",
        ] {
            assert!(verify(b"k", bad, NOW).is_err(), "{bad}");
        }
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer(None), Err(TokenError::Missing));
        assert_eq!(bearer(Some("Basic abc")), Err(TokenError::Malformed));
        assert_eq!(bearer(Some("Bearer")), Err(TokenError::Malformed));
    }
}
