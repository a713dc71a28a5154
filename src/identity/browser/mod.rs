//! Browser sign-in, as Open-Inspect's web app proxies it (each call signed by the web app):
//! the offered providers and the start of a sign-in or of connecting an account (the
//! provider's authorize URL and the flow cookie) here; the provider's callback (`callback`),
//! the session check, sign-out and the error page (`session`), the account list and
//! unlinking (`accounts`). Shared here: the settings, the answers, the origin rule, the
//! signed-in user.

mod accounts;
mod callback;
mod session;

pub use accounts::{list_accounts, unlink_account};
pub use callback::callback;
pub use session::{error_page, get_session, sign_out};

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Env, Headers, Response, ResponseBuilder};

use crate::auth::credentials::{Credentials, Offer};
use crate::auth::random;
use crate::clock::{iso8601, now_ms};
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::respond;
use crate::identity::admission::Applicant;
use crate::identity::cookies::{self, Jar, FLOW, SESSION};
use crate::identity::flow::{self, Callback, Flow, Stop};
use crate::identity::google;
use crate::identity::settings::{Provider, Settings};
use crate::identity::users::{self, Profile, Session, Users, SESSION_TTL_MS};
use crate::log;
use crate::vcs::{self, Failure, TokenGrant, VcsProvider};

/// The settings, or 503 when sign-in is not configured (the reason is logged).
fn settings(env: &Env) -> ApiResult<Settings> {
    Settings::read(|name| config::secret(env, name)).map_err(|why| {
        log::error(
            "browser sign-in is not configured",
            &[("detail", why.into())],
        );
        ApiError::new(
            503,
            "auth_not_configured",
            "Browser authentication is not configured",
        )
    })
}

/// An answer of the auth routes: never cached, never a referrer, with its cookies.
fn answer(
    status: u16,
    body: Option<&Value>,
    location: Option<&str>,
    cookies: &[String],
) -> ApiResult<Response> {
    let headers = Headers::new();
    headers.set("cache-control", "no-store")?;
    headers.set("referrer-policy", "no-referrer")?;
    if let Some(to) = location {
        headers.set("location", to)?;
    }
    for c in cookies {
        headers.append("set-cookie", c)?;
    }
    let bytes = match body {
        Some(v) => {
            headers.set("content-type", "application/json")?;
            v.to_string().into_bytes()
        }
        None => Vec::new(),
    };
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .fixed(bytes))
}

/// A change asked with the browser's cookies must come from the web app's own pages: its
/// `Origin` (else its `Referer`) is the web app's origin (Better Auth's check against
/// cross-site requests), else 403.
fn same_origin(req: &Incoming, s: &Settings) -> ApiResult<()> {
    let headers = req.headers();
    if headers.get("cookie")?.is_none() {
        return Ok(());
    }
    let from = match headers.get("origin")?.filter(|o| o != "null") {
        Some(origin) => Some(origin),
        None => headers
            .get("referer")?
            .and_then(|r| url::Url::parse(&r).ok())
            .map(|u| u.origin().ascii_serialization()),
    };
    match from {
        Some(origin) if origin == s.web_origin => Ok(()),
        Some(_) => Err(ApiError::new(403, "invalid_origin", "Invalid origin")),
        None => Err(ApiError::new(
            403,
            "missing_or_null_origin",
            "Missing or null Origin",
        )),
    }
}

fn vcs_provider(p: Provider) -> Option<VcsProvider> {
    match p {
        Provider::Github => Some(VcsProvider::Github),
        Provider::Bitbucket => Some(VcsProvider::Bitbucket),
        Provider::Google => None,
    }
}

fn cookie_header(req: &Incoming) -> ApiResult<String> {
    Ok(req.headers().get("cookie")?.unwrap_or_default())
}

/// The session of the request's cookie, if it is live; also the token it holds.
async fn current(
    req: &Incoming,
    env: &Env,
    s: &Settings,
) -> ApiResult<Option<(String, Option<Session>)>> {
    let jar = Jar { secure: s.secure };
    let Some(token) = jar.read(&cookie_header(req)?, SESSION, s.secret.as_bytes()) else {
        return Ok(None);
    };
    let session = Users::new(env)?.session(&token).await?;
    Ok(Some((token, session)))
}

/// The user signed in with the request's session cookie, if any.
pub async fn signed_in_user(req: &Incoming, env: &Env) -> ApiResult<Option<String>> {
    let s = settings(env)?;
    Ok(current(req, env, &s)
        .await?
        .and_then(|(_, session)| session)
        .map(|session| session.user.id))
}

/// `GET /internal/auth/sign-in-providers`: `{"providers": [...]}`, in the web app's order.
pub fn providers(env: &Env) -> ApiResult<Response> {
    let s = settings(env)?;
    let names: Vec<&str> = s.providers.iter().map(|p| p.as_str()).collect();
    answer(200, Some(&json!({ "providers": names })), None, &[])
}

/// The body of `POST /api/auth/sign-in/social`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignIn {
    provider: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
    #[serde(rename = "errorCallbackURL")]
    error_callback_url: Option<String>,
    #[serde(default)]
    disable_redirect: bool,
}

/// `POST /api/auth/sign-in/social`: `{url, redirect}`, and the flow cookie that binds the
/// OAuth state to this browser.
pub async fn sign_in_social(req: &Incoming, env: &Env) -> ApiResult<Response> {
    let s = settings(env)?;
    start(req, env, &s, None).await
}

/// `POST /api/auth/link-social`: as a sign-in's start, for the signed-in user to connect
/// another account (the flow binds the user too).
pub async fn link_social(req: &Incoming, env: &Env) -> ApiResult<Response> {
    let s = settings(env)?;
    let user = required_user(req, env, &s).await?;
    start(req, env, &s, Some(user)).await
}

/// The signed-in user of the request, else 401.
async fn required_user(req: &Incoming, env: &Env, s: &Settings) -> ApiResult<String> {
    current(req, env, s)
        .await?
        .and_then(|(_, session)| session)
        .map(|session| session.user.id)
        .ok_or_else(|| ApiError::unauthorized("sign in first"))
}

/// The start of a sign-in, or of connecting an account to `link_user`.
async fn start(
    req: &Incoming,
    env: &Env,
    s: &Settings,
    link_user: Option<String>,
) -> ApiResult<Response> {
    same_origin(req, s)?;
    let body: SignIn = respond::body(req).await?;
    let provider = Provider::parse(&body.provider)
        .filter(|p| s.offers(*p))
        .ok_or_else(|| {
            ApiError::new(
                404,
                "provider_not_found",
                format!("sign-in with {} is not offered", body.provider),
            )
        })?;
    let target = |given: Option<&str>, field: &str| -> ApiResult<Option<String>> {
        given
            .map(|g| {
                s.redirect_target(g).ok_or_else(|| {
                    ApiError::new(403, "invalid_callback_url", format!("invalid {field}"))
                })
            })
            .transpose()
    };
    let callback = target(body.callback_url.as_deref(), "callbackURL")?
        .unwrap_or_else(|| format!("{}/", s.web_origin));
    let error_callback = target(body.error_callback_url.as_deref(), "errorCallbackURL")?;
    let random = || random::token().map_err(|_| ApiError::internal("no randomness"));
    let flow = Flow {
        state: random()?,
        provider,
        // Bitbucket takes no PKCE.
        verifier: (provider != Provider::Bitbucket).then(random).transpose()?,
        callback,
        error_callback,
        started_at: now_ms(),
        link_user,
    };
    let challenge = flow.challenge().unwrap_or_default();
    let url = match (
        provider,
        config::vcs(env, vcs_provider(provider).unwrap_or_default()),
    ) {
        (Provider::Google, _) => google::authorize_url(
            &config::google(env),
            &flow.state,
            &s.callback_url(provider),
            &challenge,
        ),
        (Provider::Bitbucket, vcs::Config::Bitbucket(cfg)) => {
            vcs::bitbucket::requests::authorize_url(&cfg, &flow.state)
        }
        (Provider::Github, vcs::Config::Github(cfg)) => vcs::github::requests::authorize_url(
            &cfg,
            &flow.state,
            &s.callback_url(provider),
            &challenge,
        ),
        _ => {
            return Err(ApiError::new(
                404,
                "provider_not_found",
                "sign-in with this provider is not offered",
            ))
        }
    }
    .map_err(|failure| {
        ApiError::from(vcs::VcsError {
            provider: vcs_provider(provider).unwrap_or_default(),
            failure,
        })
    })?;
    let jar = Jar { secure: s.secure };
    let cookie = jar.set(
        FLOW,
        &cookies::sign(s.secret.as_bytes(), &flow.encode()),
        flow::MAX_AGE_MS / 1000,
    );
    let url = url.to_string();
    let location = (!body.disable_redirect).then_some(url.as_str());
    let reply = json!({ "url": url, "redirect": !body.disable_redirect });
    answer(200, Some(&reply), location, &[cookie])
}
