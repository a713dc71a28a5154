//! The `GET /repos` cache in KV: its key (per provider and user, never the raw token) and
//! what it holds.

use serde::{Deserialize, Serialize};

use crate::auth::random::sha256_hex;
use crate::vcs::Repo;
use crate::vcs::VcsProvider;

/// How long a listing is served from the cache.
pub const TTL_SECS: u64 = 300;

/// Who is asking: a user with stored credentials, or a raw token.
pub enum Caller<'a> {
    User(&'a str),
    Token(&'a str),
}

pub fn key(provider: VcsProvider, caller: &Caller<'_>) -> String {
    match caller {
        Caller::User(u) => format!("repos:v1:{}:user:{}", provider.as_str(), sha256_hex(u)),
        Caller::Token(t) => format!("repos:v1:{}:token:{}", provider.as_str(), sha256_hex(t)),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cached {
    pub repos: Vec<Repo>,
    pub cached_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_hold_the_token() {
        let k = key(VcsProvider::Bitbucket, &Caller::Token("SECRET-TOKEN"));
        assert!(!k.contains("SECRET"));
        assert!(k.starts_with("repos:v1:bitbucket:token:"));
        assert_ne!(k, key(VcsProvider::Github, &Caller::Token("SECRET-TOKEN")));
        assert_ne!(
            key(VcsProvider::Bitbucket, &Caller::User("u")),
            key(VcsProvider::Bitbucket, &Caller::Token("u"))
        );
    }
}
