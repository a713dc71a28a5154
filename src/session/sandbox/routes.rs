//! The routes a sandbox calls with its own token (docs/contract.md §2.6, the newer
//! runtime): commit signing (off), its skills manifest (empty), and fresh git credentials for
//! the session's repository (the git credential helper). Bound to this session's current
//! sandbox.

use worker::Response;

use crate::auth::credentials::Credentials;
use crate::auth::random;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::http::respond;
use crate::raw::Object;
use crate::session::command::SandboxAsk;
use crate::session::ctx::Ctx;
use crate::session::queue;
use crate::session::sandbox::link;
use crate::vcs::git_auth::GitAuth;
use crate::vcs::service;

/// How long credentials without an expiry of their own are good for.
const DEFAULT_TTL_MS: i64 = 60 * 60 * 1000;

/// Answers a sandbox route after checking the caller is this session's sandbox.
pub async fn answer(ctx: &Ctx, token: &str, ask: SandboxAsk) -> ApiResult<Response> {
    ctx.store.existing_session()?;
    link::authenticate_token(ctx, token)
        .map_err(|_| ApiError::unauthorized("invalid sandbox token"))?;
    match ask {
        SandboxAsk::Authenticate => {
            respond::object(200, Object::new().field("authenticated", &true))
        }
        SandboxAsk::CommitSigning => respond::object(200, Object::new().field("enabled", &false)),
        SandboxAsk::Skills => respond::object(
            200,
            Object::new()
                .field("schemaVersion", &1)
                .field("manifestSha256", &random::sha256_hex("[]"))
                .field("skills", &[(); 0])
                .field("nextCursor", &()),
        ),
        SandboxAsk::ScmCredentials => scm_credentials(ctx).await,
    }
}

/// Git credentials for the session's repository: the deployment's own account's when
/// configured (Bitbucket bot, GitHub App), else the current author's refreshed OAuth token.
/// Never cached by anyone.
async fn scm_credentials(ctx: &Ctx) -> ApiResult<Response> {
    let session = ctx.store.existing_session()?;
    let provider = session.vcs_provider;
    let now = now_ms();
    let (auth, expires) = match service::git_auth(&ctx.env, provider).await? {
        Some(auth) => (auth, now + DEFAULT_TTL_MS),
        None => {
            let author = queue::current_author(ctx, &session)?;
            let creds = Credentials::new(&ctx.env, provider)?;
            let fresh = creds
                .access_token(&author)
                .await
                .map_err(|e| match e.status {
                    401 | 403 | 404 => ApiError::new(
                        503,
                        "credentials_unavailable",
                        format!("no usable git credentials for this session: {}", e.message),
                    ),
                    _ => e,
                })?;
            let expires = fresh
                .expires_at
                .filter(|at| *at > now)
                .unwrap_or(now + DEFAULT_TTL_MS);
            (GitAuth::token(provider, fresh.token), expires)
        }
    };
    let mut resp = respond::object(
        200,
        Object::new()
            .field("username", auth.username())
            .field("password", auth.secret())
            .field("expires_at_epoch_ms", &expires),
    )?;
    resp.headers_mut().set("cache-control", "no-store")?;
    Ok(resp)
}
