//! Open-Inspect's per-service request signature, `sig1`, checked as pure functions: the
//! header's grammar and freshness, the canonical request string (method, path, sorted query,
//! body hash, asserted actor) and its HMAC-SHA256 under the calling service's own secret.
//! Open-Inspect's golden vectors pin the layout (`tests/fixtures/open-inspect`).
//!
//! A caller sends `X-OpenInspect-Service: <service>`, `X-OpenInspect-Service-Signature:
//! sig1.<ms>.<nonce>.<hex>` and, for a bot acting for someone, `X-OpenInspect-Actor`.

use percent_encoding::utf8_percent_encode;
use sha2::{Digest, Sha256};

use crate::auth::mac;

use crate::urls::URI_COMPONENT;

pub const SERVICE_HEADER: &str = "x-openinspect-service";
pub const SIGNATURE_HEADER: &str = "x-openinspect-service-signature";
pub const ACTOR_HEADER: &str = "x-openinspect-actor";

/// How far a signature's time may be from ours (Open-Inspect's token validity).
pub const VALIDITY_MS: i64 = 5 * 60 * 1000;

/// The services that sign their calls, each with its own secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Web,
    SlackBot,
    GithubBot,
    LinearBot,
}

crate::wire::wire_names!(Service {
    Web => "web",
    SlackBot => "slack-bot",
    GithubBot => "github-bot",
    LinearBot => "linear-bot",
});

impl Service {
    /// The setting that holds this service's secret (Open-Inspect's names).
    pub fn secret_setting(self) -> &'static str {
        match self {
            Service::Web => "SERVICE_AUTH_SECRET_WEB",
            Service::SlackBot => "SERVICE_AUTH_SECRET_SLACK_BOT",
            Service::GithubBot => "SERVICE_AUTH_SECRET_GITHUB_BOT",
            Service::LinearBot => "SERVICE_AUTH_SECRET_LINEAR_BOT",
        }
    }

    /// The actor namespace this service may assert (`slack:U123`); the web app asserts none.
    pub fn actor_namespace(self) -> Option<&'static str> {
        match self {
            Service::Web => None,
            Service::SlackBot => Some("slack"),
            Service::GithubBot => Some("github"),
            Service::LinearBot => Some("linear"),
        }
    }

    /// Whether this service may assert `actor` (`<namespace>:<id>` in its own namespace).
    pub fn may_assert(self, actor: &str) -> bool {
        match (self.actor_namespace(), actor.split_once(':')) {
            (Some(ns), Some((given, id))) => given == ns && !id.is_empty(),
            _ => false,
        }
    }
}

/// Why a signature was refused (all answered 401; the reason is logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not the `sig1.<ms>.<nonce>.<hex>` grammar.
    Format,
    /// Outside the validity window.
    Expired,
    /// Not signed by this service's secret for this request.
    Mismatch,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Format => "format",
            Refusal::Expired => "expired",
            Refusal::Mismatch => "mismatch",
        }
    }
}

/// A signature header that is well formed and fresh; its HMAC is not checked yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub timestamp_ms: i64,
    /// 1 to 64 lowercase hex digits; accepted once per service within the window.
    pub nonce: String,
    signature: [u8; 32],
}

fn lower_hex(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Reads a signature header and checks its time against `now_ms`: what needs no body.
pub fn parse_header(header: &str, now_ms: i64) -> Result<Header, Refusal> {
    let parts: Vec<&str> = header.split('.').collect();
    let [tag, ms, nonce, signature] = parts[..] else {
        return Err(Refusal::Format);
    };
    if tag != "sig1" || ms.is_empty() || ms.len() > 16 || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::Format);
    }
    let timestamp_ms: i64 = ms.parse().map_err(|_| Refusal::Format)?;
    if timestamp_ms <= 0 || !lower_hex(nonce, 64) || signature.len() != 64 {
        return Err(Refusal::Format);
    }
    let mut sig = [0u8; 32];
    if !lower_hex(signature, 64) || hex::decode_to_slice(signature, &mut sig).is_err() {
        return Err(Refusal::Format);
    }
    if (now_ms - timestamp_ms).abs() > VALIDITY_MS {
        return Err(Refusal::Expired);
    }
    Ok(Header {
        timestamp_ms,
        nonce: nonce.to_string(),
        signature: sig,
    })
}

/// The canonical form of a query (without its `?`): its pairs decoded as `URLSearchParams`
/// decodes them, sorted by the UTF-8 bytes of `key\0value`, each part encoded as
/// `encodeURIComponent` encodes it, joined by `&`. No query is the empty string.
pub fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    // `str` orders by UTF-8 bytes.
    pairs.sort_by_cached_key(|(k, v)| format!("{k}\0{v}"));
    let encode = |s: &str| utf8_percent_encode(s, URI_COMPONENT).to_string();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One request as a signature covers it.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub service: Service,
    pub method: &'a str,
    /// The URL as the runtime serialized it (its path is already percent-encoded).
    pub url: &'a url::Url,
    pub body: &'a [u8],
    /// The actor header, empty when absent.
    pub actor: &'a str,
}

/// The exact text `sig1` signs for `request` at `timestamp_ms` with `nonce`.
pub fn canonical_string(request: &Signed, timestamp_ms: i64, nonce: &str) -> String {
    format!(
        "sig1\n{}\n{timestamp_ms}\n{nonce}\n{}\n{}\n{}\n{}\n{}",
        request.service.as_str(),
        request.method.to_ascii_uppercase(),
        request.url.path(),
        canonical_query(request.url.query()),
        hex::encode(Sha256::digest(request.body)),
        request.actor,
    )
}

/// The lowercase hex signature of `request` (what a signing service sends).
pub fn sign(secret: &[u8], request: &Signed, timestamp_ms: i64, nonce: &str) -> String {
    let text = canonical_string(request, timestamp_ms, nonce);
    hex::encode(mac::sign(secret, text.as_bytes()))
}

/// Checks `header` (already parsed) against `request` and the service's `secret`, in
/// constant time over the signature.
pub fn verify(secret: &[u8], header: &Header, request: &Signed) -> Result<(), Refusal> {
    let text = canonical_string(request, header.timestamp_ms, &header.nonce);
    if mac::verify(secret, text.as_bytes(), &header.signature) {
        Ok(())
    } else {
        Err(Refusal::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::Value;

    fn vectors() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/open-inspect/service-auth-vectors.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn text<'a>(v: &'a Value, key: &str) -> &'a str {
        v[key].as_str().unwrap_or_default()
    }

    #[test]
    fn open_inspects_golden_vectors_sign_and_verify() {
        let all = vectors();
        let list = all["vectors"].as_array().unwrap();
        assert_eq!(list.len(), 14);
        for v in list {
            let name = text(v, "name");
            let body = match v.get("bodyBase64").and_then(Value::as_str) {
                Some(b64) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap(),
                None => text(v, "body").as_bytes().to_vec(),
            };
            let url = url::Url::parse(text(v, "url")).unwrap();
            let request = Signed {
                service: Service::parse(text(v, "service")).unwrap(),
                method: text(v, "method"),
                url: &url,
                body: &body,
                actor: text(v, "actor"),
            };
            let want = &v["expected"];
            let ts = v["timestampMs"].as_i64().unwrap();
            let nonce = text(v, "nonce");
            assert_eq!(url.path(), text(want, "pathname"), "{name}");
            assert_eq!(
                canonical_query(url.query()),
                text(want, "canonicalQuery"),
                "{name}"
            );
            assert_eq!(
                canonical_string(&request, ts, nonce),
                text(want, "canonicalString"),
                "{name}"
            );
            let secret = text(v, "secret").as_bytes();
            assert_eq!(
                sign(secret, &request, ts, nonce),
                text(want, "signatureHex")
            );
            let header = parse_header(text(want, "signatureHeader"), ts + 1000).unwrap();
            assert_eq!(verify(secret, &header, &request), Ok(()), "{name}");
            assert_eq!(
                verify(b"another secret", &header, &request),
                Err(Refusal::Mismatch)
            );
            let other = Signed {
                actor: "slack:U-someone-else",
                ..request
            };
            assert_eq!(verify(secret, &header, &other), Err(Refusal::Mismatch));
        }
    }

    #[test]
    fn open_inspects_malformed_headers_are_refused_as_it_refuses_them() {
        let all = vectors();
        for v in all["malformedHeaders"].as_array().unwrap() {
            let reason = match text(v, "reason") {
                "format" => Refusal::Format,
                "expired" => Refusal::Expired,
                other => panic!("unknown reason {other}"),
            };
            let got = parse_header(text(v, "signatureHeader"), 1_753_142_400_000);
            assert_eq!(got, Err(reason), "{}", text(v, "name"));
        }
    }

    #[test]
    fn a_signature_is_fresh_for_five_minutes_either_way() {
        let h = format!("sig1.1000000.ab.{}", "0".repeat(64));
        assert!(parse_header(&h, 1_000_000 + VALIDITY_MS).is_ok());
        assert!(parse_header(&h, 1_000_000 - VALIDITY_MS).is_ok());
        assert_eq!(
            parse_header(&h, 1_000_001 + VALIDITY_MS),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn bots_assert_actors_only_in_their_own_namespace() {
        assert!(Service::SlackBot.may_assert("slack:U1"));
        assert!(!Service::SlackBot.may_assert("github:1"));
        assert!(!Service::SlackBot.may_assert("slack:"));
        assert!(!Service::SlackBot.may_assert("slackU1"));
        assert!(!Service::Web.may_assert("web:u"));
        assert!(Service::LinearBot.may_assert("linear:usr_42"));
        assert_eq!(Service::parse("slack-bot"), Some(Service::SlackBot));
        assert_eq!(
            Service::GithubBot.secret_setting(),
            "SERVICE_AUTH_SECRET_GITHUB_BOT"
        );
    }
}
