//! Browser sign-in, as Open-Inspect's web app proxies it (each call signed by the web app):
//! the offered providers, the start of a sign-in (the provider's authorize URL and the flow
//! cookie), the provider's callback (code → tokens → profile → admission → user, stored
//! tokens, browser session cookie → back to the web app), the session check, sign-out, and
//! the error page a failed sign-in lands on.

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

/// The error page's address for `stop` (the caller's error callback, else ours).
fn error_location(s: &Settings, flow: Option<&Flow>, stop: &Stop) -> String {
    let base = flow
        .and_then(|f| f.error_callback.clone())
        .unwrap_or_else(|| format!("{}/api/auth/error", s.web_origin));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("error", stop.code)
        .append_pair("error_description", &stop.message)
        .finish();
    let joiner = if base.contains('?') { '&' } else { '?' };
    format!("{base}{joiner}{query}")
}

/// A provider's failure as the reason a sign-in stops.
fn upstream_stop(provider: Provider, failure: Failure) -> Stop {
    let e = ApiError::from(vcs::VcsError {
        provider: vcs_provider(provider).unwrap_or_default(),
        failure,
    });
    log::warn(
        "a sign-in failed at the provider",
        &[
            ("provider", provider.as_str().into()),
            ("detail", e.message.clone().into()),
        ],
    );
    Stop {
        code: "provider_error",
        message: format!(
            "{} did not complete the sign-in: {}",
            provider.display_name(),
            e.message
        ),
    }
}

/// Who signed in, the tokens they granted (kept for a forge, not for Google), and what
/// admission needs to know of them.
struct SignedIn {
    profile: Profile,
    grant: Option<TokenGrant>,
    applicant: Applicant,
}

async fn bitbucket_sign_in(env: &Env, s: &Settings, code: &str) -> Result<SignedIn, Stop> {
    let p = Provider::Bitbucket;
    let cfg = config::bitbucket(env);
    let grant = vcs::bitbucket::client::exchange_code(&cfg, code)
        .await
        .map_err(|e| upstream_stop(p, e))?;
    if grant.refresh_token.is_none() {
        return Err(Stop {
            code: "no_refresh_token",
            message: "Bitbucket issued no refresh token, so this sign-in would end in two hours. \
                      The OAuth consumer must be private: in Bitbucket, open the workspace's \
                      settings, OAuth consumers, edit this consumer and check \"This is a \
                      private consumer\"."
                .into(),
        });
    }
    let client = vcs::bitbucket::client::Client::new(&cfg, &grant.access_token);
    let identity = client.identity().await.map_err(|e| upstream_stop(p, e))?;
    let workspaces = if s.admission.needs_workspaces(p) {
        client.workspaces().await.map_err(|e| upstream_stop(p, e))?
    } else {
        Vec::new()
    };
    signed_in(p, identity, grant, Vec::new(), workspaces)
}

async fn github_sign_in(
    env: &Env,
    s: &Settings,
    code: &str,
    flow: &Flow,
) -> Result<SignedIn, Stop> {
    let p = Provider::Github;
    let cfg = config::github(env);
    let verifier = flow.verifier.as_deref().unwrap_or_default();
    let grant = vcs::github::client::exchange_code(&cfg, code, &s.callback_url(p), verifier)
        .await
        .map_err(|e| upstream_stop(p, e))?;
    let client = vcs::github::client::Client::user(&cfg, &grant.access_token);
    let identity = client
        .verified_identity()
        .await
        .map_err(|e| upstream_stop(p, e))?;
    let mut orgs = Vec::new();
    if s.admission.needs_orgs(p) {
        for org in &s.admission.github_orgs {
            if client
                .active_member_of(org)
                .await
                .map_err(|e| upstream_stop(p, e))?
            {
                orgs.push(org.clone());
            }
        }
    }
    signed_in(p, identity, grant, orgs, Vec::new())
}

async fn google_sign_in(
    env: &Env,
    s: &Settings,
    code: &str,
    flow: &Flow,
) -> Result<SignedIn, Stop> {
    let p = Provider::Google;
    let cfg = config::google(env);
    let verifier = flow.verifier.as_deref().unwrap_or_default();
    let stop = |e| upstream_stop(p, e);
    let exchange = google::exchange_code(&cfg, code, &s.callback_url(p), verifier).map_err(stop)?;
    let access = vcs::call(&exchange, google::access_token)
        .await
        .map_err(stop)?;
    let who = google::userinfo(&cfg, &access).map_err(stop)?;
    let profile = vcs::call(&who, google::profile).await.map_err(stop)?;
    Ok(SignedIn {
        applicant: Applicant {
            provider: Some(p),
            email: profile.email.clone(),
            ..Applicant::default()
        },
        profile,
        grant: None,
    })
}

fn signed_in(
    provider: Provider,
    identity: vcs::Identity,
    grant: TokenGrant,
    orgs: Vec<String>,
    workspaces: Vec<String>,
) -> Result<SignedIn, Stop> {
    let account_id = identity.user_id.clone().ok_or_else(|| Stop {
        code: "unable_to_get_user_info",
        message: format!("{} did not say who signed in.", provider.display_name()),
    })?;
    Ok(SignedIn {
        applicant: Applicant {
            provider: Some(provider),
            login: identity.login.clone(),
            email: identity.email.clone(),
            orgs,
            workspaces,
        },
        profile: Profile {
            account_id,
            login: identity.login,
            name: identity.name,
            email: identity.email,
            image: None,
        },
        grant: Some(grant),
    })
}

fn query(req: &Incoming) -> Callback {
    let mut back = Callback::default();
    for (k, v) in req.query_pairs() {
        match k.as_str() {
            "code" => back.code = Some(v),
            "state" => back.state = Some(v),
            "error" => back.error = Some(v),
            "error_description" => back.error_description = Some(v),
            _ => {}
        }
    }
    back
}

fn cookie_header(req: &Incoming) -> ApiResult<String> {
    Ok(req.headers().get("cookie")?.unwrap_or_default())
}

/// `GET /api/auth/callback/{provider}`: completes a sign-in and sends the browser back to
/// the web app signed in, or to the error page with the reason.
pub async fn callback(req: &Incoming, env: &Env, provider: Provider) -> ApiResult<Response> {
    let s = settings(env)?;
    let jar = Jar { secure: s.secure };
    let secret = s.secret.as_bytes();
    let flow = jar
        .read(&cookie_header(req)?, FLOW, secret)
        .and_then(|v| Flow::decode(&v));
    let back = query(req);
    let clear_flow = jar.remove(FLOW);
    let fail = |flow: Option<&Flow>, stop: Stop| {
        answer(
            302,
            None,
            Some(&error_location(&s, flow, &stop)),
            std::slice::from_ref(&clear_flow),
        )
    };
    if !s.offers(provider) {
        let stop = Stop {
            code: "provider_not_found",
            message: format!(
                "Sign-in with {} is not offered here.",
                provider.display_name()
            ),
        };
        return fail(flow.as_ref(), stop);
    }
    let (code, flow) = match (flow::check(provider, flow.as_ref(), &back, now_ms()), flow) {
        (Ok(code), Some(flow)) => (code, flow),
        (Err(stop), flow) => return fail(flow.as_ref(), stop),
        (Ok(_), None) => return Err(ApiError::internal("a checked flow is missing")),
    };
    let signed = match provider {
        Provider::Bitbucket => bitbucket_sign_in(env, &s, &code).await,
        Provider::Github => github_sign_in(env, &s, &code, &flow).await,
        Provider::Google => google_sign_in(env, &s, &code, &flow).await,
    };
    let signed = match signed {
        Ok(signed) => signed,
        Err(stop) => return fail(Some(&flow), stop),
    };
    if let Some(user_id) = &flow.link_user {
        return connect(req, env, &s, &flow, user_id, signed, fail).await;
    }
    if let Err(why) = s.admission.admit(&signed.applicant) {
        let stop = Stop {
            code: "access_denied",
            message: format!("You cannot sign in: {why}."),
        };
        return fail(Some(&flow), stop);
    }
    let users = Users::new(env)?;
    let user_id = users.sign_in(provider, &signed.profile).await?;
    if let Some(grant) = &signed.grant {
        store_tokens(env, provider, &user_id, grant).await?;
    }
    let headers = req.headers();
    let ip = headers.get("x-openinspect-client-ip")?;
    let agent = headers.get("user-agent")?;
    let token = users
        .start_session(&user_id, ip.as_deref(), agent.as_deref())
        .await?;
    log::emit(
        log::Level::Info,
        "signed in",
        &[
            ("provider", provider.as_str().into()),
            ("userId", user_id.into()),
        ],
    );
    let session = jar.set(
        SESSION,
        &cookies::sign(secret, &token),
        SESSION_TTL_MS / 1000,
    );
    answer(302, None, Some(&flow.callback), &[clear_flow, session])
}

/// Keeps a grant as the user's credentials at `provider` (sealed; refreshed by the refresher).
async fn store_tokens(
    env: &Env,
    provider: Provider,
    user_id: &str,
    grant: &TokenGrant,
) -> ApiResult<()> {
    if let Some(vp) = vcs_provider(provider) {
        let offer = Offer {
            access_token: &grant.access_token,
            refresh_token: grant.refresh_token.as_deref(),
            expires_at: Some(now_ms() + grant.expires_in_secs * 1000),
        };
        Credentials::new(env, vp)?.offer(user_id, &offer).await?;
    }
    Ok(())
}

/// Completes connecting an account to `user_id`, who must still be the browser's
/// signed-in user; another user's account is refused.
async fn connect(
    req: &Incoming,
    env: &Env,
    s: &Settings,
    flow: &Flow,
    user_id: &str,
    signed: SignedIn,
    fail: impl Fn(Option<&Flow>, Stop) -> ApiResult<Response>,
) -> ApiResult<Response> {
    let provider = flow.provider;
    let current = current(req, env, s).await?.and_then(|(_, session)| session);
    if current.map(|session| session.user.id).as_deref() != Some(user_id) {
        let stop = Stop {
            code: "state_mismatch",
            message: "The user who started connecting this account is no longer signed in here."
                .into(),
        };
        return fail(Some(flow), stop);
    }
    let users = Users::new(env)?;
    if users
        .link(user_id, provider, &signed.profile)
        .await?
        .is_err()
    {
        let name = provider.display_name();
        let stop = Stop {
            code: "account_already_linked",
            message: format!("This {name} account is connected to another user."),
        };
        return fail(Some(flow), stop);
    }
    if let Some(grant) = &signed.grant {
        store_tokens(env, provider, user_id, grant).await?;
    }
    let jar = Jar { secure: s.secure };
    answer(302, None, Some(&flow.callback), &[jar.remove(FLOW)])
}

/// `GET /api/auth/list-accounts`: the signed-in user's accounts, each with its login and
/// whether it must be connected again.
pub async fn list_accounts(req: &Incoming, env: &Env) -> ApiResult<Response> {
    let s = settings(env)?;
    let user_id = required_user(req, env, &s).await?;
    let users = Users::new(env)?;
    let stale = users.needing_reauth(&user_id).await?;
    let list: Vec<Value> = users
        .accounts(&user_id)
        .await?
        .into_iter()
        .map(|a| {
            json!({
                "id": a.id,
                "providerId": a.provider,
                "accountId": a.account_id,
                "userId": user_id,
                "login": a.login,
                "scopes": [],
                "reauthRequired": stale.contains(&a.provider),
                "createdAt": iso8601(a.created_at),
                "updatedAt": iso8601(a.updated_at),
            })
        })
        .collect();
    answer(200, Some(&Value::Array(list)), None, &[])
}

/// The body of `POST /api/auth/unlink-account`: the provider (Better Auth 1.6), or the
/// account's id (1.7), or both.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Unlink {
    provider_id: Option<String>,
    account_id: Option<String>,
}

/// `POST /api/auth/unlink-account`: disconnects an account and discards its tokens; the
/// last one stays.
pub async fn unlink_account(req: &Incoming, env: &Env) -> ApiResult<Response> {
    let s = settings(env)?;
    same_origin(req, &s)?;
    let user_id = required_user(req, env, &s).await?;
    let body: Unlink = respond::body(req).await?;
    let users = Users::new(env)?;
    let accounts = users.accounts(&user_id).await?;
    let chosen = accounts.iter().find(|a| {
        body.provider_id.as_ref().is_none_or(|p| *p == a.provider)
            && body
                .account_id
                .as_ref()
                .is_none_or(|id| *id == a.id || *id == a.account_id)
            && (body.provider_id.is_some() || body.account_id.is_some())
    });
    let Some(account) = chosen else {
        return Err(ApiError::new(400, "account_not_found", "Account not found"));
    };
    if accounts.len() == 1 {
        return Err(ApiError::new(
            400,
            "failed_to_unlink_last_account",
            "You can't unlink your last account",
        ));
    }
    users.unlink(&user_id, &account.provider).await?;
    if let Some(vp) = Provider::parse(&account.provider).and_then(vcs_provider) {
        Credentials::new(env, vp)?.discard(&user_id).await?;
    }
    answer(200, Some(&json!({ "status": true })), None, &[])
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

/// `GET /api/auth/get-session`: `{session, user}`, or `null` when signed out.
pub async fn get_session(req: &Incoming, env: &Env) -> ApiResult<Response> {
    let s = settings(env)?;
    let jar = Jar { secure: s.secure };
    match current(req, env, &s).await? {
        Some((token, Some(mut session))) => {
            let users = Users::new(env)?;
            // In use: once a day the session (and its cookie) runs seven days again.
            let mut cookies = Vec::new();
            if let Some(expires_at) = users::extended_expiry(session.expires_at, now_ms()) {
                users.extend_session(&session.id, expires_at).await?;
                session.expires_at = expires_at;
                let value = cookies::sign(s.secret.as_bytes(), &token);
                cookies.push(jar.set(SESSION, &value, SESSION_TTL_MS / 1000));
            }
            let stale = users.needing_reauth(&session.user.id).await?;
            let mut body = session_json(&session);
            body["user"]["reauthRequired"] = json!(stale);
            answer(200, Some(&body), None, &cookies)
        }
        // A cookie without a live session is removed.
        Some((_, None)) => answer(200, Some(&Value::Null), None, &[jar.remove(SESSION)]),
        None => answer(200, Some(&Value::Null), None, &[]),
    }
}

/// A session as Better Auth's get-session shows it (the token itself is never answered);
/// the caller adds the user's accounts that must be connected again (`reauthRequired`).
fn session_json(s: &Session) -> Value {
    let u = &s.user;
    json!({
        "session": {
            "id": s.id,
            "userId": u.id,
            "expiresAt": iso8601(s.expires_at),
            "createdAt": iso8601(s.created_at),
            "updatedAt": iso8601(s.updated_at),
            "ipAddress": s.ip_address,
            "userAgent": s.user_agent,
        },
        "user": {
            "id": u.id,
            "name": u.name,
            "email": u.email,
            "emailVerified": u.email_verified,
            "image": u.image,
            "createdAt": iso8601(u.created_at),
            "updatedAt": iso8601(u.updated_at),
        },
    })
}

/// `POST /api/auth/sign-out`: ends the session and removes its cookie.
pub async fn sign_out(req: &Incoming, env: &Env) -> ApiResult<Response> {
    let s = settings(env)?;
    same_origin(req, &s)?;
    if let Some((token, _)) = current(req, env, &s).await? {
        Users::new(env)?.end_session(&token).await?;
    }
    let jar = Jar { secure: s.secure };
    answer(
        200,
        Some(&json!({ "success": true })),
        None,
        &[jar.remove(SESSION)],
    )
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// `GET /api/auth/error`: a page saying why the sign-in failed (`error`, and its
/// description).
pub fn error_page(req: &Incoming) -> ApiResult<Response> {
    let (mut code, mut description) = ("UNKNOWN".to_string(), None);
    for (k, v) in req.query_pairs() {
        match k.as_str() {
            "error"
                if v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "'_-".contains(c)) =>
            {
                code = v
            }
            "error_description" => description = Some(v),
            _ => {}
        }
    }
    let message = description.unwrap_or_else(|| "Signing in did not complete.".into());
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in failed</title></head>\
         <body><main><h1>Sign-in failed</h1><p>{}</p><p><code>{}</code></p><p><a href=\"/\">Back</a></p></main></body></html>",
        escape(&message),
        escape(&code)
    );
    let headers = Headers::new();
    headers.set("content-type", "text/html; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    headers.set("referrer-policy", "no-referrer")?;
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(html.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_page_address_carries_the_reason() {
        let s = Settings::read(|k| {
            match k {
                "BROWSER_AUTH_SECRET" => Some("0123456789abcdef0123456789abcdef"),
                "WEB_APP_URL" => Some("https://app.example.com"),
                "GITHUB_CLIENT_ID" | "GITHUB_CLIENT_SECRET" => Some("x"),
                _ => None,
            }
            .map(str::to_string)
        })
        .unwrap();
        let stop = Stop {
            code: "access_denied",
            message: "You cancelled & left".into(),
        };
        assert_eq!(
            error_location(&s, None, &stop),
            "https://app.example.com/api/auth/error?error=access_denied&error_description=You+cancelled+%26+left"
        );
        assert_eq!(
            escape("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
