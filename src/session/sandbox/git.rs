//! The session's side of git through the control plane (`crate::git`): tickets for its live
//! sandbox (in the spawn request, from `scm-credentials`, in a push's remote), whose right
//! reaches the forge, and the answer to a git request the worker forwards: this session's
//! live sandbox, this session's repository, pushes only where the session may push.

use worker::Response;

use crate::auth::credentials::Credentials;
use crate::config::{self, RepoAccess};
use crate::error::{ApiError, ApiResult};
use crate::git::ask::{GitAsk, GitGrant};
use crate::git::pktline::RefUpdate;
use crate::git::rules::{self, PushScope, Service};
use crate::git::ticket::{self, Ticket};
use crate::http::respond;
use crate::index::{self, RouteMatch};
use crate::session::ctx::Ctx;
use crate::session::model::SessionRow;
use crate::session::queue;
use crate::session::sandbox::policy::Status;
use crate::urls;
use crate::vcs::git_auth::{self, GitAuth};
use crate::vcs::service;
use crate::webhooks::RouteKey;

/// A ticket as a sandbox is given it.
pub struct Issued {
    /// The git user name that goes with it (any works; the provider's usual one).
    pub username: &'static str,
    pub ticket: String,
    pub expires_ms: i64,
}

/// Where sandboxes reach the control plane, and so git: `CONTROL_PLANE_URL`, else the origin
/// the session was created on.
pub fn proxy_base(ctx: &Ctx, session: &SessionRow) -> ApiResult<String> {
    config::secret(&ctx.env, "CONTROL_PLANE_URL")
        .or(session.control_plane_url.clone())
        .ok_or_else(|| ApiError::misconfigured("CONTROL_PLANE_URL"))
}

/// The git host sandboxes clone from (`VCS_HOST`): the control plane's `host[:port]`.
pub fn proxy_host(base: &str) -> ApiResult<String> {
    urls::host_port(base).ok_or_else(|| ApiError::misconfigured("CONTROL_PLANE_URL"))
}

/// A ticket for the sandbox `sandbox_id`, good for [`ticket::TTL_MS`]; every issuance is
/// logged with `why`.
pub fn issue(
    ctx: &Ctx,
    session: &SessionRow,
    sandbox_id: &str,
    now: i64,
    why: &str,
) -> ApiResult<Issued> {
    let key = config::git_ticket_key(&ctx.env)?;
    let t = Ticket {
        session_id: ctx.session_id.clone(),
        sandbox_id: sandbox_id.to_string(),
        user_id: None,
        expires_ms: now + ticket::TTL_MS,
    };
    ctx.info(
        "a git ticket was issued",
        format!("{why}, sandbox {sandbox_id}"),
    );
    Ok(Issued {
        username: git_auth::token_user(session.vcs_provider),
        ticket: ticket::issue(&key, &t),
        expires_ms: t.expires_ms,
    })
}

/// The user whose own right the sandbox's git traffic carries now: whom a pull request's
/// push under way is for, else [`rules::git_user`].
pub fn current_user(ctx: &Ctx) -> ApiResult<Option<String>> {
    if let Some(user) = ctx.pushing_for.borrow().clone() {
        return Ok(Some(user));
    }
    let processing = ctx.store.processing_message()?.map(|m| m.author_id);
    let pending = queue::next(ctx)?.map(|m| m.author_id);
    let starting_for = ctx
        .store
        .sandbox()?
        .filter(|r| matches!(r.status, Status::Spawning | Status::Connecting))
        .and_then(|r| r.spawned_for);
    Ok(rules::git_user(
        processing.as_deref(),
        pending.as_deref(),
        starting_for.as_deref(),
    )
    .map(str::to_string))
}

/// Whether the deployment's own account reaches the forge for sandboxes at `provider`
/// (`REPO_ACCESS=deployment` with the Bitbucket bot or the GitHub App configured).
pub fn deployment_account(ctx: &Ctx, provider: crate::vcs::VcsProvider) -> bool {
    config::repo_access(&ctx.env) == RepoAccess::Deployment
        && match provider {
            crate::vcs::VcsProvider::Bitbucket => {
                matches!(config::bitbucket_bot(&ctx.env), (Some(_), Some(_)))
            }
            crate::vcs::VcsProvider::Github => config::github(&ctx.env).app.is_some(),
        }
}

/// No prompt runs or waits: nobody's right may reach the forge.
fn nobody() -> ApiError {
    ApiError::new(
        409,
        "no_prompt_running",
        "no prompt is running, so no one's credentials reach the repository",
    )
}

/// The forge credentials a sandbox's git traffic is sent with: the deployment's own account
/// (Bitbucket bot, GitHub App) under `REPO_ACCESS=deployment` when configured, else the
/// current user's own fresh token ([`current_user`]; never the owner's on anyone's behalf).
pub async fn forge_auth(ctx: &Ctx, session: &SessionRow) -> ApiResult<GitAuth> {
    let provider = session.vcs_provider;
    if config::repo_access(&ctx.env) == RepoAccess::Deployment {
        if let Some(auth) = service::git_auth(&ctx.env, provider, &session.repo_name).await? {
            return Ok(auth);
        }
    }
    let user = current_user(ctx)?.ok_or_else(nobody)?;
    let creds = Credentials::new(&ctx.env, provider)?;
    if creds.state(&user).await?.is_none() {
        return Err(ApiError::new(
            401,
            "reauth_required",
            format!(
                "the prompting user has no stored {} credentials",
                provider.display_name()
            ),
        ));
    }
    let fresh = creds.access_token(&user).await?;
    Ok(GitAuth::token(provider, fresh.token))
}

/// Refuses the push unless every update is one the session may make ([`rules::may_push`]);
/// a branch another session routes is never taken over.
async fn check_pushes(ctx: &Ctx, session: &SessionRow, updates: &[RefUpdate]) -> ApiResult<()> {
    let scope = PushScope {
        session_id: &session.id,
        base: session.base_branch.as_deref().unwrap_or("main"),
        own_branch: session.branch_name.as_deref(),
    };
    for update in updates {
        let branch = update.name.strip_prefix("refs/heads/").unwrap_or_default();
        let mine = rules::owned_by_session(branch, &session.id) || scope.own_branch == Some(branch);
        let elsewhere = if branch.is_empty() || mine {
            false
        } else {
            let key = RouteKey {
                repo: session.repo_ref(),
                kind: "branch",
                keys: vec![branch.to_string()],
            };
            let db = ctx.db()?;
            let owner = index::route(&db, session.vcs_provider, &key, RouteMatch::Guard).await?;
            owner.is_some_and(|id| id != session.id)
        };
        rules::may_push(update, &scope, elsewhere)
            .map_err(|why| ApiError::forbidden(format!("push refused: {why}")))?;
    }
    Ok(())
}

/// Answers a git request the worker forwards with a verified ticket.
pub async fn answer(ctx: &Ctx, ask: GitAsk) -> ApiResult<Response> {
    let session = ctx.store.existing_session()?;
    let live = ctx.store.sandbox()?.is_some_and(|r| {
        r.status.is_live() && r.sandbox_id.as_deref() == Some(ask.sandbox_id.as_str())
    });
    if !live {
        return Err(ApiError::new(
            410,
            "sandbox_gone",
            "this ticket's sandbox is no longer the session's",
        ));
    }
    let path = rules::GitPath {
        owner: ask.owner.clone(),
        name: ask.name.clone(),
        endpoint: rules::Endpoint::Rpc,
        service: Some(ask.service),
    };
    if !path.is_repo(&session.repo_owner, &session.repo_name) {
        ctx.warn(
            "a sandbox asked for another repository",
            format!("{}/{}", ask.owner, ask.name),
        );
        return Err(ApiError::forbidden(format!(
            "this sandbox reaches only {}/{}",
            session.repo_owner, session.repo_name
        )));
    }
    if ask.service == Service::ReceivePack {
        check_pushes(ctx, &session, &ask.updates).await?;
    }
    let auth = forge_auth(ctx, &session).await?;
    respond::json(
        200,
        &GitGrant {
            provider: session.vcs_provider,
            owner: session.repo_owner.clone(),
            name: session.repo_name.clone(),
            username: auth.username().to_string(),
            password: auth.secret().to_string(),
        },
    )
}
