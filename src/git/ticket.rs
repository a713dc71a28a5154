//! The git ticket: the only credential a sandbox holds for git. `oig1.<payload>.<mac>`, the
//! payload the JSON of [`Ticket`] and the mac its HMAC-SHA256 under a key derived from
//! `TOKEN_ENCRYPTION_KEY`, both base64url. Stateless to check; the session still checks that
//! the sandbox it names is its live one, so a ticket dies with its sandbox. Pure.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::auth::mac;

/// Every ticket starts with this (and redaction finds tickets by it).
pub const PREFIX: &str = "oig1.";

/// How long a ticket is good for.
pub const TTL_MS: i64 = 60 * 60 * 1000;

/// What a ticket stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// The session (its Durable Object id).
    #[serde(rename = "s")]
    pub session_id: String,
    /// The sandbox it was issued to.
    #[serde(rename = "b")]
    pub sandbox_id: String,
    /// Whose right it carries (the prompting user), when it carries a user's.
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Unix ms after which it is refused.
    #[serde(rename = "e")]
    pub expires_ms: i64,
}

/// Why a ticket is refused (never says more to the caller than "invalid").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    BadSignature,
    Expired,
}

/// The ticket key: HMAC-SHA256 of a fixed label under the vault key's text, so one secret
/// serves both and a ticket never reveals it.
pub fn key(vault_key: &str) -> [u8; 32] {
    mac::sign(vault_key.as_bytes(), b"control-plane git ticket v1")
}

/// The ticket's text.
pub fn issue(key: &[u8], ticket: &Ticket) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(ticket).unwrap_or_default());
    let signed = format!("{PREFIX}{payload}");
    let tag = URL_SAFE_NO_PAD.encode(mac::sign(key, signed.as_bytes()));
    format!("{signed}.{tag}")
}

/// The ticket `text` stands for, if it is ours and not expired at `now_ms`.
pub fn verify(key: &[u8], text: &str, now_ms: i64) -> Result<Ticket, Refusal> {
    let rest = text.strip_prefix(PREFIX).ok_or(Refusal::Malformed)?;
    let (payload, tag) = rest.split_once('.').ok_or(Refusal::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| Refusal::Malformed)?;
    let signed = &text[..PREFIX.len() + payload.len()];
    if !mac::verify(key, signed.as_bytes(), &tag) {
        return Err(Refusal::BadSignature);
    }
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Refusal::Malformed)?;
    let ticket: Ticket = serde_json::from_slice(&json).map_err(|_| Refusal::Malformed)?;
    if now_ms >= ticket.expires_ms {
        return Err(Refusal::Expired);
    }
    Ok(ticket)
}

/// `text` with every ticket in it masked (events and errors the sandbox relays).
pub fn mask(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(PREFIX) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at]);
        out.push_str("***");
        let tail = &rest[at + PREFIX.len()..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Ticket {
        Ticket {
            session_id: "s1".into(),
            sandbox_id: "b1".into(),
            user_id: Some("u1".into()),
            expires_ms: 2_000,
        }
    }

    #[test]
    fn issued_tickets_verify_until_they_expire() {
        let k = key("vault-key");
        let text = issue(&k, &t());
        assert!(text.starts_with(PREFIX));
        assert_eq!(verify(&k, &text, 1_999), Ok(t()));
        assert_eq!(verify(&k, &text, 2_000), Err(Refusal::Expired));
        assert_eq!(
            verify(&key("other"), &text, 1_000),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn changed_or_foreign_texts_are_refused() {
        let k = key("vault-key");
        let text = issue(&k, &t());
        let (signed, tag) = text.rsplit_once('.').unwrap();
        let forged = Ticket {
            sandbox_id: "b2".into(),
            ..t()
        };
        let forged = issue(&key("attacker"), &forged);
        let forged_payload = forged.rsplit_once('.').unwrap().0;
        assert_eq!(
            verify(&k, &format!("{forged_payload}.{tag}"), 1_000),
            Err(Refusal::BadSignature)
        );
        assert!(verify(&k, signed, 1_000).is_err());
        for bad in ["", "oig1.", "oig1..", "x.y.z", "oig1.a.!!", "ghp_token"] {
            assert!(verify(&k, bad, 1_000).is_err(), "{bad}");
        }
    }

    #[test]
    fn tickets_are_masked_wherever_they_stand() {
        let k = key("vault-key");
        let text = issue(&k, &t());
        let line = format!("remote: https://x-token-auth:{text}@cp.example/acme/web.git done");
        let masked = mask(&line);
        assert_eq!(
            masked,
            "remote: https://x-token-auth:***@cp.example/acme/web.git done"
        );
        assert_eq!(mask("nothing here"), "nothing here");
        assert_eq!(mask(&format!("{text} {text}")), "*** ***");
    }
}
