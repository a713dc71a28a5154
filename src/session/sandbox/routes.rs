//! The routes a sandbox calls with its own token (docs/contract.md §2.6, the newer
//! runtime): commit signing (off), its skills manifest (empty), and a git ticket for the
//! session's repository (the git credential helper). Bound to this session's current
//! sandbox.

use worker::Response;

use crate::auth::random;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::http::respond;
use crate::raw::Object;
use crate::session::command::SandboxAsk;
use crate::session::ctx::Ctx;
use crate::session::sandbox::{git, link};

/// Answers a sandbox route after checking the caller is this session's sandbox.
pub async fn answer(ctx: &Ctx, token: &str, ask: SandboxAsk) -> ApiResult<Response> {
    ctx.store.existing_session()?;
    let sandbox_id = link::authenticate_route(ctx, token)?;
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
        SandboxAsk::ScmCredentials => scm_credentials(ctx, &sandbox_id).await,
    }
}

/// Git credentials for the session's repository: a ticket of this sandbox for the control
/// plane's git (`crate::git`), never a forge token. Under `REPO_ACCESS=user` (or without a
/// deployment account) one is issued only while someone's prompt runs or waits, since their
/// right is what reaches the forge. Never cached by anyone; every issuance is logged.
async fn scm_credentials(ctx: &Ctx, sandbox_id: &str) -> ApiResult<Response> {
    let session = ctx.store.existing_session()?;
    if !git::deployment_account(ctx, session.vcs_provider) && git::current_user(ctx)?.is_none() {
        return Err(ApiError::new(
            409,
            "no_prompt_running",
            "no prompt is running, so no one's credentials reach the repository",
        ));
    }
    let issued = git::issue(ctx, &session, sandbox_id, now_ms(), "scm-credentials")?;
    let mut resp = respond::object(
        200,
        Object::new()
            .field("username", issued.username)
            .field("password", &issued.ticket)
            .field("expires_at_epoch_ms", &issued.expires_ms),
    )?;
    resp.headers_mut().set("cache-control", "no-store")?;
    Ok(resp)
}
