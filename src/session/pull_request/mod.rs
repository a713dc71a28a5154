//! Creating the session's pull requests: who may ask (the service, or the session's sandbox
//! by its token), a fresh user token, the push through the sandbox (`push`), then the pull
//! request at the session's provider as the user, stored as an artifact and broadcast. One
//! open pull request per head branch: asking again for a head that has one pushes and answers
//! it (`existing`). The request's rules are pure (`plan`, `existing`).

pub mod existing;
pub mod plan;
pub mod push;
pub mod status;
pub mod summary;

use worker::Response;

use crate::auth::credentials::Credentials;
use crate::auth::random;
use crate::clock::now_ms;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::respond;
use crate::index;
use crate::raw::Object;
use crate::session::access::{self, Ask, Level};
use crate::session::client::link::broadcast;
use crate::session::client::protocol::ServerMessage;
use crate::session::command::PrCaller;
use crate::session::ctx::Ctx;
use crate::session::model::{ArtifactKind, SessionRow};
use crate::session::queue;
use crate::session::sandbox::git as sandbox_git;
use crate::session::sandbox::link;
use crate::vcs::git_auth::GitAuth;
use crate::vcs::service::Service;
use crate::vcs::{Client, NewPullRequest};
use crate::webhooks;
use existing::Step;
use plan::PrInput;

/// Authenticates a sandbox caller first, then reads and checks the request, and creates
/// or updates a pull request (one request at a time per session).
pub async fn create(ctx: &Ctx, body: &str, caller: PrCaller) -> ApiResult<Response> {
    if let PrCaller::Sandbox(token) = &caller {
        link::authenticate_token(ctx, token)
            .map_err(|_| ApiError::unauthorized("invalid service or sandbox token"))?;
    }
    let input: PrInput = respond::parse_body(body.as_bytes())?;
    input.validate()?;
    let session = ctx.store.existing_session()?;
    if ctx.pr_under_way.replace(true) {
        return Err(ApiError::conflict(
            "a pull request is already being created for this session",
        ));
    }
    let result = run(ctx, &session, input).await;
    ctx.pr_under_way.set(false);
    result
}

async fn run(ctx: &Ctx, session: &SessionRow, input: PrInput) -> ApiResult<Response> {
    let provider = session.vcs_provider;
    let name = provider.display_name();
    let cfg = config::vcs(&ctx.env, provider);
    // Authored by whoever's message is running, else the session's owner.
    let user = queue::current_author(ctx, session)?;
    let creds = Credentials::new(&ctx.env, provider)?;
    let fresh = match creds.state(&user).await? {
        None => Err(ApiError::new(
            401,
            "reauth_required",
            format!("the pull request's author has no stored {name} credentials; sign in first"),
        )),
        Some(_) => creds.access_token(&user).await,
    };
    // Without a usable token of the author's, the deployment's own account opens the pull
    // request, but only in Open-Inspect's model (REPO_ACCESS=deployment).
    let deployment = config::repo_access(&ctx.env) == config::RepoAccess::Deployment;
    let (fresh, account) = match fresh {
        Ok(f) => (Some(f), None),
        Err(e) if e.status == 401 && deployment => match Service::of(&ctx.env, provider).await? {
            Some(account) => (None, Some(account)),
            None => return Err(e),
        },
        Err(e) => return Err(e),
    };
    if link::socket(ctx).is_none() {
        return Err(not_connected());
    }
    if let Some(f) = &fresh {
        // The author must be able to push with their own token before anything is pushed,
        // with whichever credentials (REPO_ACCESS=user).
        let ask = Ask {
            provider,
            user_id: &user,
            token: Some(&f.token),
            workspace: &session.repo_owner,
            slug: &session.repo_name,
            level: Level::Write,
        };
        access::require(ctx, &ask).await?;
    }
    // Who calls the provider.
    let client = match (&fresh, &account) {
        (Some(f), _) => Client::user(&cfg, &f.token),
        (None, Some(a)) => a
            .client(&cfg)
            .ok_or_else(|| ApiError::internal("no credentials to open the pull request"))?,
        (None, None) => {
            return Err(ApiError::internal(
                "no credentials to open the pull request",
            ))
        }
    };
    let (ws, slug) = (&session.repo_owner, &session.repo_name);
    // The base: asked for, else the session's own base branch, else the repository's main.
    let mut read_id = None;
    let base = match input.base_branch.as_ref().or(session.base_branch.as_ref()) {
        Some(b) => b.clone(),
        None => {
            let repo = client.repository(ws, slug).await.map_err(plan::pr_error)?;
            read_id = Some(repo.id);
            repo.default_branch
        }
    };
    learn_repo_id(ctx, session, &client, read_id).await;
    let head = plan::head_branch(
        input.head_branch.as_deref(),
        session.branch_name.as_deref(),
        &session.id,
        &base,
    );

    if session.foreign_push_at.is_some() && session.branch_name.as_deref() == Some(&head) {
        return Err(ApiError::new(
            409,
            "branch_pushed_elsewhere",
            format!(
                "someone else pushed {head} since the agent did; send a prompt so the agent works on top of their commits before pushing again"
            ),
        ));
    }
    let checkout = plan::head_is_checkout(input.head_branch.as_deref(), &head, &session.id);
    let reuse = open_on_head(ctx, session, &client, &head, checkout, &input).await?;
    // Only a branch this session created is force-pushed (and deleted once merged); any
    // other branch is pushed without force, so existing history is never replaced.
    let owned = plan::owned_by_session(&head, &session.id);
    let author = fresh.as_ref().map(|_| user.as_str());
    push_through_us(ctx, session, &head, owned, author, "pull request push").await?;
    if let Some(Step::Reuse {
        number,
        url,
        base: known,
    }) = reuse
    {
        let base = known.unwrap_or(base);
        return answer(number, &url, "open", &head, &base, true);
    }

    let new_pr = NewPullRequest {
        title: input.title.clone(),
        description: plan::description(
            &input.body,
            config::secret(&ctx.env, "WEB_APP_URL").as_deref(),
            &session.id,
        ),
        source_branch: head.clone(),
        destination_branch: base.clone(),
        close_source_branch: owned,
    };
    let created = match client.create_pull_request(ws, slug, &new_pr).await {
        Ok(pr) => pr,
        Err(e) => {
            if let (true, Some(f)) = (e.is_reauth(), &fresh) {
                creds.mark_reauth(&user, f.version).await?;
            }
            return Err(plan::pr_error(e));
        }
    };

    let state = plan::state_name(&created.state);
    // As Open-Inspect writes a PR artifact's metadata (lifecycleState, isDraft, the
    // repository), with ours beside it.
    let metadata = Object::new()
        .field("number", &created.number)
        .field("state", &state)
        .field("lifecycleState", &state)
        .field("isDraft", &false)
        .field("head", &head)
        .field("base", &base)
        .field("repoOwner", ws)
        .field("repoName", slug)
        .field("vcsProvider", &provider)
        .end();
    let row = ctx.store.insert_artifact(
        &random::id()?,
        ArtifactKind::Pr,
        &created.url,
        &metadata,
        now_ms(),
    )?;
    ctx.store.set_pr_state(webhooks::PrState::Open, now_ms())?;
    // The forge's webhooks about this pull request find the session here.
    route(ctx, provider, ("pr", &created.number.to_string())).await;
    ctx.index_later("after a pull request was opened");
    let artifact = row.json().field("prNumber", &created.number).into_raw();
    broadcast(ctx, &ServerMessage::ArtifactCreated { artifact });
    answer(created.number, &created.url, &state, &head, &base, false)
}

/// The answer to `POST /sessions/{id}/pr`.
fn answer(
    number: u64,
    url: &str,
    state: &str,
    head: &str,
    base: &str,
    updated: bool,
) -> ApiResult<Response> {
    respond::object(
        200,
        Object::new()
            .field("prNumber", &number)
            .field("prUrl", url)
            .field("state", state)
            .field("headBranch", head)
            .field("baseBranch", base)
            .field("updated", &updated),
    )
}

/// The open pull request of this session that `head` already carries, to be pushed and
/// answered instead of a new one: each candidate is read at the provider (stored facts
/// decide when it cannot be), those merged or closed since are stored so and passed over.
async fn open_on_head(
    ctx: &Ctx,
    session: &SessionRow,
    client: &Client<'_>,
    head: &str,
    checkout: bool,
    input: &PrInput,
) -> ApiResult<Option<Step>> {
    let generated = plan::session_branch(&session.id);
    let rows = ctx.store.pr_artifacts()?;
    let mut unverifiable = false;
    for pr in existing::candidates(&rows, head, &generated) {
        let live = match pr.number {
            Some(n) => match client
                .pull_request(&session.repo_owner, &session.repo_name, n)
                .await
            {
                Ok(p) => existing::Live::of(&p).map(|l| (l, p)),
                Err(e) => {
                    ctx.warn(
                        "the stored pull request decides: it could not be read",
                        ApiError::from(e),
                    );
                    None
                }
            },
            None => None,
        };
        let (live, read) = live.unzip();
        match existing::judge(&pr, live, head, checkout, input.base_branch.as_deref()) {
            Step::Unverifiable => unverifiable = true,
            Step::OtherBase => {}
            Step::Heal(l) => {
                if let (Some(n), Some(p)) = (pr.number, read) {
                    status::apply(ctx, n, &status::update_of(l.state, &p))?;
                }
            }
            Step::Conflict(e) => return Err(e),
            reuse @ Step::Reuse { .. } => return Ok(Some(reuse)),
        }
    }
    existing::unverifiable_holds(unverifiable)?;
    Ok(None)
}

/// Has the sandbox push `head` (forced only when `owned`) through the control plane with a
/// ticket: the author's right (or the deployment's account, REPO_ACCESS=deployment) is added
/// there, never sent to the sandbox. Then `head` is the session's branch, its own push is
/// remembered, and pushes to it by anyone else reach the session.
async fn push_through_us(
    ctx: &Ctx,
    session: &SessionRow,
    head: &str,
    owned: bool,
    author: Option<&str>,
    why: &str,
) -> ApiResult<()> {
    let provider = session.vcs_provider;
    let (ws, slug) = (&session.repo_owner, &session.repo_name);
    let sandbox_id = ctx
        .store
        .sandbox()?
        .and_then(|r| r.sandbox_id)
        .ok_or_else(not_connected)?;
    let git_base = sandbox_git::proxy_base(ctx, session)?;
    let issued = sandbox_git::issue(ctx, session, &sandbox_id, now_ms(), why)?;
    let ticket = GitAuth::token(provider, issued.ticket);
    let remote = push::Remote {
        git_base: &git_base,
        auth: &ticket,
    };
    *ctx.pushing_for.borrow_mut() = author.map(str::to_string);
    let pushed = push::push(ctx, provider, remote, (ws, slug), head, owned).await;
    *ctx.pushing_for.borrow_mut() = None;
    pushed?;
    ctx.store.set_branch_name(head)?;
    ctx.store.set_own_push(now_ms())?;
    broadcast(
        ctx,
        &ServerMessage::SessionBranch {
            branch_name: head.to_string(),
            repo_owner: ws.to_string(),
            repo_name: slug.to_string(),
        },
    );
    route(ctx, provider, ("branch", head)).await;
    Ok(())
}

/// Saves the sandbox's work before it is shut down for inactivity: its commits are pushed to
/// the session's branch (its own, so forced), with the last prompt's author's right. Answers
/// the branch; a failure means the work is not saved, and the caller keeps the sandbox.
pub async fn save_work(ctx: &Ctx, author: Option<&str>) -> ApiResult<String> {
    let session = ctx.store.existing_session()?;
    let branch = match session.branch_name.clone() {
        Some(own) if plan::owned_by_session(&own, &session.id) => own,
        _ => plan::head_branch(
            None,
            None,
            &session.id,
            session.base_branch.as_deref().unwrap_or("main"),
        ),
    };
    ctx.pr_under_way.set(true);
    let saved = push_through_us(ctx, &session, &branch, true, author, "saving work").await;
    ctx.pr_under_way.set(false);
    saved.map(|_| branch)
}

/// Routes webhooks about the session's repository's `key` to this session (by the
/// repository's id when known); a failure is logged, not fatal (the work is done; only later
/// state updates would be missed).
async fn route(ctx: &Ctx, provider: crate::vcs::VcsProvider, key: (&str, &str)) {
    let routed = match (ctx.db(), ctx.store.existing_session()) {
        (Ok(db), Ok(session)) => {
            let repo = session.repo_ref();
            index::add_route(&db, provider, &repo, key, &ctx.session_id, now_ms()).await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    if let Err(e) = routed {
        ctx.warn("webhooks will not find this session", e);
    }
}

/// Learns the session's repository id before anything is routed, from `read` (the
/// repository was just read) or the forge. Best effort: without it, routes go by name.
async fn learn_repo_id(ctx: &Ctx, session: &SessionRow, client: &Client<'_>, read: Option<u64>) {
    if session.repo_id.is_some() {
        return;
    }
    let id = match read {
        Some(id) => Ok(id),
        None => client
            .repository(&session.repo_owner, &session.repo_name)
            .await
            .map(|r| r.id)
            .map_err(ApiError::from),
    };
    if let Err(e) = id.and_then(|id| ctx.store.set_repo_id(id)) {
        ctx.warn("webhook routes go by the repository's name: no id", e);
    }
}

/// No sandbox to push from (we never assume the branch was pushed).
pub fn not_connected() -> ApiError {
    ApiError::new(
        409,
        "sandbox_not_connected",
        "no sandbox is connected, so the branch cannot be pushed; send a prompt to start one",
    )
}
