//! The six secrets routes (Open-Inspect's shapes): `GET`/`PUT /secrets`,
//! `DELETE /secrets/{key}`, and the same under `/repos/{owner}/{name}/secrets` (the provider
//! from `X-VCS-Provider`, else the deployment's default). Values are never answered.

use serde_json::{json, Value};
use worker::Response;

use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::respond;
use crate::secrets::store::{self, Scope};
use crate::validate;
use crate::vcs::VcsProvider;
use worker::Env;

/// The repository scope of `owner/name` at the caller's provider.
fn repo_scope(req: &Incoming, env: &Env, owner: &str, name: &str) -> ApiResult<Scope> {
    validate::slug("owner", owner)?;
    validate::slug("name", name)?;
    let provider = match req.headers().get("x-vcs-provider")? {
        Some(p) => VcsProvider::from_input(&p)
            .ok_or_else(|| ApiError::bad_request("X-VCS-Provider must be bitbucket or github"))?,
        None => crate::config::default_provider(env),
    };
    Ok(Scope::Repo {
        provider,
        owner: owner.into(),
        name: name.into(),
    })
}

/// `GET /secrets`, or a repository's with the global ones it inherits.
pub async fn list(req: &Incoming, env: &Env, repo: Option<(&str, &str)>) -> ApiResult<Response> {
    match repo {
        None => respond::json(
            200,
            &json!({"secrets": store::list(env, &Scope::Global).await?}),
        ),
        Some((owner, name)) => {
            let scope = repo_scope(req, env, owner, name)?;
            respond::json(
                200,
                &json!({
                    "repo": format!("{owner}/{name}"),
                    "secrets": store::list(env, &scope).await?,
                    "globalSecrets": store::list(env, &Scope::Global).await?,
                }),
            )
        }
    }
}

/// `PUT /secrets` or a repository's: `{"secrets": {KEY: value}}`, only the listed keys.
pub async fn put(req: &Incoming, env: &Env, repo: Option<(&str, &str)>) -> ApiResult<Response> {
    let scope = match repo {
        None => Scope::Global,
        Some((owner, name)) => repo_scope(req, env, owner, name)?,
    };
    let bytes = respond::read_up_to(req, respond::MAX_BODY_BYTES).await?;
    let body: Value =
        serde_json::from_slice(&bytes).map_err(|_| ApiError::bad_request("Invalid JSON body"))?;
    let existing: Vec<String> = store::list(env, &scope)
        .await?
        .into_iter()
        .map(|l| l.key)
        .collect();
    let label = if repo.is_some() {
        "Repository"
    } else {
        "Global"
    };
    let secrets = crate::secrets::to_put(&body, &existing, label).map_err(ApiError::bad_request)?;
    let created = store::put(env, &scope, &secrets, now_ms()).await?;
    let keys: Vec<&str> = secrets.iter().map(|(k, _)| k.as_str()).collect();
    let mut answer = json!({
        "status": "updated",
        "keys": keys,
        "created": created,
        "updated": secrets.len() - created,
    });
    if let Some((owner, name)) = repo {
        answer["repo"] = json!(format!("{owner}/{name}"));
    }
    respond::json(200, &answer)
}

/// `DELETE /secrets/{key}` or a repository's.
pub async fn delete(
    req: &Incoming,
    env: &Env,
    repo: Option<(&str, &str)>,
    raw_key: &str,
) -> ApiResult<Response> {
    let scope = match repo {
        None => Scope::Global,
        Some((owner, name)) => repo_scope(req, env, owner, name)?,
    };
    let key = crate::secrets::key(raw_key).map_err(ApiError::bad_request)?;
    if !store::delete(env, &scope, &key).await? {
        return Err(ApiError::not_found("Secret not found"));
    }
    let mut answer = json!({"status": "deleted", "key": key});
    if let Some((owner, name)) = repo {
        answer["repo"] = json!(format!("{owner}/{name}"));
    }
    respond::json(200, &answer)
}
