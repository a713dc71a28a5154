//! `GET /repos` and `GET /repos/{owner}/{name}/branches`: what a user (or, without user
//! headers, the bot) can reach at the provider, from the provider or the KV cache.

use crate::json;
use crate::raw::Object;
use serde::Serialize;
use serde_json::json;
use worker::{Env, Response};

use crate::auth::credentials::{reauth, Credentials, Fresh};
use crate::clock::{iso8601, now_ms};
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::respond;
use crate::identity::principal::{pick_provider, Caller as Principal};
use crate::identity::users::Users;
use crate::log;
use crate::validate;
use crate::vcs::repos_cache::{self, Cache, Cached, Caller};
use crate::vcs::service::{self, Service};
use crate::vcs::{Client, VcsError, VcsProvider};

fn header(req: &Incoming, name: &str) -> ApiResult<Option<String>> {
    Ok(req
        .headers()
        .get(name)?
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty()))
}

/// Who a listing is for, with what it takes to ask the provider.
struct Asker {
    provider: VcsProvider,
    caller: Caller,
    /// The user's stored credentials (for `Caller::User`).
    credentials: Option<Credentials>,
}

/// Reads `X-VCS-Provider`, and who asks: a signed-in person always as themselves (their
/// stored credentials; the user headers are ignored), else `X-User-Token` / `X-User-Id`
/// (neither: the bot).
async fn asker(req: &Incoming, env: &Env, who: &Principal) -> ApiResult<Asker> {
    let provider = match (header(req, "x-vcs-provider")?, who) {
        (Some(p), _) => VcsProvider::from_input(&p).ok_or_else(|| {
            ApiError::bad_request("X-VCS-Provider must be \"bitbucket\" or \"github\"")
        })?,
        (None, Principal::User { user_id }) => pick_provider(
            config::default_provider(env),
            &Users::new(env)?.connected(user_id).await?,
        ),
        (None, _) => config::default_provider(env),
    };
    let caller = match (who, header(req, "x-user-token")?, header(req, "x-user-id")?) {
        (Principal::User { user_id }, _, _) => Caller::User(user_id.clone()),
        (_, Some(t), _) => Caller::Token(t),
        (_, None, Some(u)) => Caller::User(u),
        (_, None, None) => Caller::Bot,
    };
    let credentials = match &caller {
        Caller::User(u) => {
            let creds = Credentials::new(env, provider)?;
            match creds.state(u).await? {
                None => {
                    return Err(ApiError::unauthorized(format!(
                        "no stored {} credentials for this user; sign in first",
                        provider.display_name()
                    )))
                }
                Some(s) if s.needs_reauth => {
                    return Err(reauth(&format!(
                        "the user's {} authorization was revoked; sign in again",
                        provider.display_name()
                    )))
                }
                Some(_) => Some(creds),
            }
        }
        _ => None,
    };
    Ok(Asker {
        provider,
        caller,
        credentials,
    })
}

/// Runs `call` against the provider as the asker: the user's fresh token (flagged for a new
/// sign-in when the provider refuses it), the raw token given, or the deployment's own
/// account (Bitbucket's bot, the GitHub App's installation).
async fn as_asker<T>(
    env: &Env,
    asker: &Asker,
    call: impl AsyncFnOnce(&Client<'_>) -> Result<T, VcsError>,
) -> ApiResult<T> {
    let cfg = config::vcs(env, asker.provider);
    match (&asker.caller, &asker.credentials) {
        (Caller::User(u), Some(creds)) => {
            let Fresh { token, version, .. } = creds.access_token(u).await?;
            let answer = call(&Client::user(&cfg, &token)).await;
            if answer.as_ref().is_err_and(VcsError::is_reauth) {
                // The provider no longer accepts this token: say so to every later caller.
                creds.mark_reauth(u, version).await?;
            }
            Ok(answer?)
        }
        (Caller::Token(t), _) => Ok(call(&Client::user(&cfg, t)).await?),
        (Caller::Bot, _) => {
            let account = Service::of(env, asker.provider).await?;
            let client = account
                .as_ref()
                .and_then(|a| a.client(&cfg))
                .ok_or_else(|| ApiError::misconfigured(service::settings(asker.provider)))?;
            Ok(call(&client).await?)
        }
        (Caller::User(_), None) => Err(ApiError::internal("credentials missing")),
    }
}

/// Answers from the KV cache under `key`, else fetches, caches and answers. The body is
/// `{<field>: [...], cached, cachedAt}` with `cachedAt` in ISO 8601.
async fn cached<T: Serialize + serde::de::DeserializeOwned>(
    env: &Env,
    key: &str,
    field: &str,
    fetch: impl AsyncFnOnce() -> ApiResult<T>,
) -> ApiResult<Response> {
    let cache = Cache::open(env)?;
    let answer = |items: &T, hit: bool, at: i64| {
        let body = Object::new()
            .field(field, items)
            .field("cached", &hit)
            .field("cachedAt", &iso8601(at));
        respond::object(200, body)
    };
    let hit = cache.get(key).await;
    if let Some(hit) = hit.and_then(|text| json::read::<Cached<T>>(&text).ok()) {
        return answer(&hit.items, true, hit.cached_at);
    }
    let fresh = Cached {
        items: fetch().await?,
        cached_at: now_ms(),
    };
    if let Err(e) = cache.put(key, &fresh, repos_cache::TTL_SECS).await {
        log::warn("could not cache a listing", &[("detail", e.into())]);
    }
    answer(&fresh.items, false, fresh.cached_at)
}

/// `GET /repos`.
pub async fn list(req: &Incoming, env: &Env, who: &Principal) -> ApiResult<Response> {
    let asker = asker(req, env, who).await?;
    let key = repos_cache::key(asker.provider, &asker.caller, None);
    cached(env, &key, "repos", async || {
        as_asker(env, &asker, async |c| c.repos().await).await
    })
    .await
}

/// `GET /repos/{owner}/{name}/branches` → `{branches: [{name}]}`.
pub async fn branches(
    req: &Incoming,
    env: &Env,
    who: &Principal,
    owner: &str,
    name: &str,
) -> ApiResult<Response> {
    validate::slug("owner", owner)?;
    validate::slug("name", name)?;
    let asker = asker(req, env, who).await?;
    let repo = format!("{owner}/{name}");
    let key = repos_cache::key(asker.provider, &asker.caller, Some(&repo));
    cached(env, &key, "branches", async || {
        let names = as_asker(env, &asker, async |c| c.branches(owner, name).await).await?;
        Ok(names
            .into_iter()
            .map(|name| json!({"name": name}))
            .collect::<Vec<_>>())
    })
    .await
}
