//! The cache in KV: listings (`GET /repos`, `GET /repos/{o}/{n}/branches`) with their key
//! (per provider, caller and repository; never a raw token) and what they hold, and the one
//! way anything is written to it (`put`).

use serde::{Deserialize, Serialize};

use crate::auth::random::sha256_hex;
use crate::vcs::VcsProvider;

/// How long a listing is served from the cache.
pub const TTL_SECS: u64 = 300;

/// Who is asking: a user with stored credentials, a raw token, or nobody (the bot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    User(String),
    Token(String),
    Bot,
}

/// The cache key of a listing: repositories (`repo: None`) or one repository's branches.
pub fn key(provider: VcsProvider, caller: &Caller, repo: Option<&str>) -> String {
    let who = match caller {
        Caller::User(u) => format!("user:{}", sha256_hex(u)),
        Caller::Token(t) => format!("token:{}", sha256_hex(t)),
        Caller::Bot => "bot".to_string(),
    };
    match repo {
        None => format!("repos:v2:{}:{who}", provider.as_str()),
        Some(r) => format!("branches:v1:{}:{who}:{}", provider.as_str(), sha256_hex(r)),
    }
}

/// Stores `value` under `key` for `ttl_secs`. A failure only costs a later upstream call,
/// so it is answered for the caller to log, never fatal. The value is stored as JSON text
/// made here (worker's generic `put` would convert it to a JavaScript object first).
pub async fn put<T: Serialize>(
    kv: &worker::KvStore,
    key: &str,
    value: &T,
    ttl_secs: u64,
) -> Result<(), String> {
    let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
    kv.put(key, text.as_str())
        .map_err(|e| e.to_string())?
        .expiration_ttl(ttl_secs)
        .execute()
        .await
        .map_err(|e| e.to_string())
}

/// A cached listing and when it was fetched (Unix ms).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cached<T> {
    pub items: T,
    pub cached_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_hold_the_token() {
        let token = Caller::Token("SECRET-TOKEN".into());
        let k = key(VcsProvider::Bitbucket, &token, None);
        assert!(!k.contains("SECRET"));
        assert!(k.starts_with("repos:v2:bitbucket:token:"));
        assert_ne!(k, key(VcsProvider::Github, &token, None));
        assert_ne!(
            key(VcsProvider::Bitbucket, &Caller::User("u".into()), None),
            key(VcsProvider::Bitbucket, &Caller::Token("u".into()), None)
        );
        assert_ne!(k, key(VcsProvider::Bitbucket, &token, Some("a/b")));
        assert_ne!(
            key(VcsProvider::Bitbucket, &Caller::Bot, Some("a/b")),
            key(VcsProvider::Bitbucket, &Caller::Bot, Some("a/c"))
        );
    }
}
