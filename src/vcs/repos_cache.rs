//! The cache in KV: listings (`GET /repos`, `GET /repos/{o}/{n}/branches`) with their key
//! (per provider, caller and repository; never a raw token) and what they hold, and the one
//! way anything is read from it or written to it ([`Cache`]: the runtime's KV namespace,
//! text in and out).

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use worker::js_sys::{Object, Promise, Reflect};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

use crate::auth::random::sha256_hex;
use crate::error::{ApiError, ApiResult};
use crate::vcs::VcsProvider;

#[wasm_bindgen]
extern "C" {
    /// A KV namespace binding as JavaScript sees it.
    type KvNamespace;
    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_text(this: &KvNamespace, key: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn put(
        this: &KvNamespace,
        key: &str,
        value: &str,
        options: &Object,
    ) -> Result<Promise, JsValue>;
}

/// The `REPOS_CACHE` namespace.
pub struct Cache(KvNamespace);

impl Cache {
    pub fn open(env: &Env) -> ApiResult<Self> {
        match Reflect::get(env, &JsValue::from_str("REPOS_CACHE")) {
            Ok(kv) if kv.is_object() => Ok(Cache(kv.unchecked_into())),
            _ => Err(ApiError::misconfigured("REPOS_CACHE")),
        }
    }

    /// The text stored under `key`; `None` when there is none, or it could not be read (a
    /// cache that fails only costs an upstream call).
    pub async fn get(&self, key: &str) -> Option<String> {
        let promise = self.0.get_text(key).ok()?;
        JsFuture::from(promise).await.ok()?.as_string()
    }

    /// Stores `value` as JSON text under `key` for `ttl_secs`. A failure is answered for the
    /// caller to log, never fatal.
    pub async fn put<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl_secs: u64,
    ) -> Result<(), String> {
        let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
        let options = Object::new();
        Reflect::set(
            &options,
            &JsValue::from_str("expirationTtl"),
            &JsValue::from_f64(ttl_secs as f64),
        )
        .map_err(|_| "bad KV options".to_string())?;
        let failed = |e: JsValue| worker::Error::from(e).to_string();
        let promise = self.0.put(key, &text, &options).map_err(failed)?;
        JsFuture::from(promise).await.map(|_| ()).map_err(failed)
    }
}

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

/// A cached listing and when it was fetched (Unix ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cached<T> {
    pub items: T,
    pub cached_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listing as it is stored, read back.
    #[test]
    fn cached_listings_round_trip() {
        let repos = Cached {
            items: vec![crate::vcs::Repo {
                id: 1,
                owner: "o".into(),
                name: "n".into(),
                full_name: "o/n".into(),
                description: None,
                private: true,
                default_branch: "main".into(),
                archived: false,
            }],
            cached_at: 5,
        };
        let text = serde_json::to_string(&repos).unwrap();
        assert_eq!(crate::json::read(&text), Ok(repos));
        let branches = Cached {
            items: vec![serde_json::json!({"name": "main"})],
            cached_at: 6,
        };
        let text = serde_json::to_string(&branches).unwrap();
        assert_eq!(crate::json::read(&text), Ok(branches));
        assert!(crate::json::read::<Cached<Vec<crate::vcs::Repo>>>(r#"{"items":{}}"#).is_err());
    }

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
