//! `GET /repos`: the repositories a user can reach, from the provider or the KV cache.

use serde_json::json;
use worker::{Env, Request, Response};

use crate::auth::credentials::{reauth, Credentials};
use crate::clock::now_ms;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::respond;
use crate::vcs::bitbucket::{self, BitbucketError};
use crate::vcs::repos_cache::{self, Cached, Caller};
use crate::vcs::VcsProvider;

fn header(req: &Request, name: &str) -> ApiResult<Option<String>> {
    Ok(req
        .headers()
        .get(name)?
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty()))
}

/// `GET /repos`.
pub async fn list(req: &Request, env: &Env) -> ApiResult<Response> {
    let provider = match header(req, "x-vcs-provider")? {
        None => config::default_provider(env),
        Some(p) => VcsProvider::parse(&p).ok_or_else(|| {
            ApiError::bad_request("X-VCS-Provider must be \"bitbucket\" or \"github\"")
        })?,
    };
    if provider != VcsProvider::Bitbucket {
        return Err(ApiError::new(
            501,
            "not_implemented",
            "repository listing is not available for GitHub yet",
        ));
    }
    let user_token = header(req, "x-user-token")?;
    let user_id = header(req, "x-user-id")?;
    let caller = match (&user_token, &user_id) {
        (Some(t), _) => Caller::Token(t),
        (None, Some(u)) => Caller::User(u),
        (None, None) => {
            return Err(ApiError::unauthorized(
                "missing credentials: send X-User-Id (stored credentials) or X-User-Token",
            ))
        }
    };
    let credentials = match caller {
        Caller::User(u) => {
            let creds = Credentials::new(env, provider)?;
            match creds.state(u).await? {
                None => {
                    return Err(ApiError::unauthorized(
                        "no stored Bitbucket credentials for this user; sign in first",
                    ))
                }
                Some(s) if s.needs_reauth => {
                    return Err(reauth(
                        "the user's Bitbucket authorization was revoked; sign in again",
                    ))
                }
                Some(_) => Some(creds),
            }
        }
        Caller::Token(_) => None,
    };

    let kv = env.kv("REPOS_CACHE")?;
    let key = repos_cache::key(provider, &caller);
    if let Ok(Some(hit)) = kv.get(&key).json::<Cached>().await {
        return respond::json(
            200,
            &json!({"repos": hit.repos, "cached": true, "cachedAt": hit.cached_at}),
        );
    }

    let cfg = config::bitbucket(env);
    let repos = match (&caller, &credentials) {
        (Caller::User(u), Some(creds)) => {
            let fresh = creds.access_token(u).await?;
            let listed = bitbucket::Client::new(&cfg, &fresh.token).repos().await;
            if let Err(BitbucketError::Reauth(_)) = &listed {
                // Bitbucket no longer accepts this token: say so to every later caller.
                creds.mark_reauth(u, fresh.version).await?;
            }
            listed?
        }
        (Caller::Token(t), _) => bitbucket::Client::new(&cfg, t).repos().await?,
        (Caller::User(_), None) => return Err(ApiError::internal("credentials missing")),
    };
    let cached = Cached {
        repos,
        cached_at: now_ms(),
    };
    match kv.put(&key, &cached) {
        Ok(put) => {
            if let Err(e) = put.expiration_ttl(repos_cache::TTL_SECS).execute().await {
                worker::console_warn!("could not cache the repository list: {e}");
            }
        }
        Err(e) => worker::console_warn!("could not cache the repository list: {e}"),
    }
    respond::json(
        200,
        &json!({"repos": cached.repos, "cached": false, "cachedAt": cached.cached_at}),
    )
}
