//! Carries out the sandbox lifecycle: gathers a snapshot, asks `policy::plan` what to do,
//! does it (spawn through the provider API, send the next prompt, stop one that ran too
//! long, mark stale, fail a stuck start, shut down), and answers when the sandbox next needs looking at. Arming the alarm
//! is `alarm`'s job.

use crate::auth::random;
use crate::clock::now_ms;
use crate::config;
use crate::error::ApiResult;
use crate::redact;
use crate::sandbox_api::{self, SpawnOutcome, SpawnRequest};
use crate::session::access::{self, Ask, Level};
use crate::session::client::link::{broadcast, subscribed_count};
use crate::session::client::protocol::ServerMessage;
use crate::session::ctx::Ctx;
use crate::session::model::{MessageRow, SessionRow};
use crate::session::queue;
use crate::session::sandbox::git;
use crate::session::sandbox::link;
use crate::session::sandbox::policy::{self, Snapshot, Status, Step};
use crate::session::sandbox::protocol::{provider_model, Author, Outbound};
use crate::upstream::fetch;

/// Tells every client the sandbox's status.
pub fn announce(ctx: &Ctx, status: Status) {
    broadcast(
        ctx,
        &ServerMessage::SandboxStatus {
            status: status.as_str().into(),
        },
    );
}

fn set_status(ctx: &Ctx, status: Status) -> ApiResult<()> {
    ctx.store.sandbox_set_status(status, now_ms())?;
    announce(ctx, status);
    Ok(())
}

fn snapshot(ctx: &Ctx, now: i64) -> ApiResult<Snapshot> {
    let row = ctx.store.sandbox()?;
    Ok(Snapshot {
        status: row.as_ref().map_or(Status::None, |r| r.status),
        status_since: row.as_ref().and_then(|r| r.status_since).unwrap_or(now),
        last_heartbeat: row.as_ref().and_then(|r| r.last_heartbeat),
        last_activity: row.as_ref().and_then(|r| r.last_activity),
        socket_connected: link::socket(ctx).is_some(),
        disconnected_at: row.as_ref().and_then(|r| r.disconnected_at),
        clients: subscribed_count(ctx),
        pending: ctx.store.pending_count()?,
        processing_since: ctx
            .store
            .processing_message()?
            .map(|m| m.started_at.unwrap_or(now)),
        busy: ctx.pr_under_way.get(),
        last_failure_at: row.as_ref().and_then(|r| r.last_failure_at),
        blocked: row.as_ref().is_some_and(|r| r.blocked != 0),
    })
}

/// Runs the steps that are due; answers when the sandbox next needs looking at.
pub async fn run_due(ctx: &Ctx) -> ApiResult<Option<i64>> {
    let timeouts = config::sandbox_timeouts(&ctx.env);
    let mut wake = None;
    // A handful of steps at most per run (e.g. mark stale, then respawn).
    for _ in 0..4 {
        let now = now_ms();
        let (step, next) = policy::plan(&snapshot(ctx, now)?, &timeouts, now);
        wake = next;
        match step {
            None => break,
            Some(Step::Spawn) => {
                if let Some(first) = queue::next(ctx)? {
                    spawn(ctx, &first.author_id, Some(&first)).await?
                }
            }
            Some(Step::SendNext) => send_next(ctx)?,
            Some(Step::TimeOut) => {
                let secs = timeouts.execution_ms / 1000;
                let reason = format!("execution timed out: the prompt ran for {secs} s");
                queue::fail_running(ctx, &reason)?;
                link::send(ctx, &Outbound::Stop);
            }
            Some(Step::MarkStale) => mark_stale(ctx).await?,
            Some(Step::FailConnecting) => {
                let secs = timeouts.connect_ms / 1000;
                let reason = format!("the sandbox did not connect within {secs} s");
                let id = ctx.store.sandbox()?.and_then(|r| r.sandbox_id);
                fail_start(ctx, id.as_deref().unwrap_or_default(), false, &reason)?;
                end_at_provider(ctx).await;
            }
            Some(Step::Shutdown) => shutdown(ctx).await?,
        }
    }
    Ok(wake)
}

fn author_of(ctx: &Ctx, msg: &MessageRow) -> ApiResult<Author> {
    let p = ctx.store.participant_by_user(&msg.author_id)?;
    Ok(Author::new(
        msg.author_id.clone(),
        p.as_ref().and_then(|p| p.scm_name.clone()),
        p.as_ref().and_then(|p| p.scm_email.clone()),
    ))
}

/// The model of a prompt (else the session's, else the default), as `provider/model`.
fn model_for(ctx: &Ctx, session: &SessionRow, msg: Option<&MessageRow>) -> String {
    let model = msg
        .and_then(|m| m.model.clone())
        .or_else(|| session.model.clone())
        .unwrap_or_else(|| config::default_model(&ctx.env));
    provider_model(&model)
}

fn send_next(ctx: &Ctx) -> ApiResult<()> {
    let Some(msg) = queue::next(ctx)? else {
        return Ok(());
    };
    let session = ctx.store.existing_session()?;
    let prompt = Outbound::Prompt {
        message_id: msg.id.clone(),
        content: msg.content.clone(),
        model: model_for(ctx, &session, Some(&msg)),
        reasoning_effort: msg
            .reasoning_effort
            .clone()
            .or(session.reasoning_effort.clone()),
        author: author_of(ctx, &msg)?,
    };
    if link::send(ctx, &prompt) {
        queue::started(ctx, &msg.id, now_ms())?;
    }
    Ok(())
}

/// How long the provider may take to answer a spawn or a stop.
const PROVIDER_TIMEOUT_MS: u64 = 30_000;

/// Ends the current sandbox at the provider (best effort: the provider's own lifetime limit
/// is the backstop), so no orphan keeps running with its clone credentials.
async fn end_at_provider(ctx: &Ctx) {
    let Ok(Some(row)) = ctx.store.sandbox() else {
        return;
    };
    let Some(id) = row.provider_id.or(row.sandbox_id) else {
        return;
    };
    let (Some(api_url), Some(secret)) = (
        config::secret(&ctx.env, "SANDBOX_API_URL"),
        config::secret(&ctx.env, "SANDBOX_API_SECRET"),
    ) else {
        return;
    };
    let Some(req) = sandbox_api::stop(&api_url, &secret, now_ms(), &id) else {
        let why = "SANDBOX_API_URL is no http(s) base URL, or the id no path segment";
        return ctx.warn("the provider was not told to stop a sandbox", why);
    };
    match fetch::send_within(&req, PROVIDER_TIMEOUT_MS).await {
        Ok(resp) if resp.status < 300 || resp.status == 404 => {}
        Ok(resp) => ctx.warn("the provider did not stop a sandbox", resp.status),
        Err(e) => ctx.warn("the provider did not stop a sandbox", e),
    }
}

/// Ends the sandbox of a cancelled session: `stop`, `shutdown`, its sockets closed, marked
/// stopped, and the provider told.
pub async fn stop_for_good(ctx: &Ctx, why: &str) {
    link::send(ctx, &Outbound::Stop);
    link::send(ctx, &Outbound::Shutdown);
    if let Err(e) = set_status(ctx, Status::Stopped) {
        ctx.warn("the sandbox was not marked stopped", e);
    }
    link::close(ctx, 1000, why);
    end_at_provider(ctx).await;
}

/// Ends the sandbox for good (the session is being deleted): `shutdown`, its sockets
/// closed, and the provider told.
pub async fn terminate(ctx: &Ctx) {
    link::send(ctx, &Outbound::Shutdown);
    link::close(ctx, 1000, "session deleted");
    end_at_provider(ctx).await;
}

async fn mark_stale(ctx: &Ctx) -> ApiResult<()> {
    link::send(ctx, &Outbound::Shutdown);
    set_status(ctx, Status::Stale)?;
    ctx.warn(
        "the sandbox is given up",
        "no heartbeat, or its socket did not come back in time",
    );
    queue::fail_running(ctx, "the sandbox stopped responding")?;
    link::close(ctx, 1000, "stale");
    end_at_provider(ctx).await;
    Ok(())
}

/// Shuts an idle sandbox down, saving its work first (its commits pushed to the session's
/// branch) when a prompt completed since the session's last push. When that push fails the
/// sandbox is kept (its idle time starts again) rather than its work discarded.
async fn shutdown(ctx: &Ctx) -> ApiResult<()> {
    let last = ctx.store.last_completed()?;
    let own_push_at = ctx.store.existing_session()?.own_push_at;
    let unpushed = policy::has_unpushed_work(last.as_ref().map(|(at, _)| *at), own_push_at);
    if unpushed && link::socket(ctx).is_some() {
        let author = last.as_ref().map(|(_, who)| who.as_str());
        match crate::session::pull_request::save_work(ctx, author).await {
            Ok(branch) => ctx.info("work saved before an idle shutdown", branch),
            Err(e) => {
                ctx.warn("the idle sandbox is kept: its work could not be pushed", e);
                ctx.store.sandbox_activity(now_ms())?;
                return Ok(());
            }
        }
    }
    link::send(ctx, &Outbound::Shutdown);
    set_status(ctx, Status::Stopped)?;
    link::close(ctx, 1000, "shutdown");
    end_at_provider(ctx).await;
    Ok(())
}

/// Records a failed start of `sandbox_id`, tells the clients, and stops retries after too
/// many permanent failures. A failure that comes after the sandbox connected is ignored.
fn fail_start(ctx: &Ctx, sandbox_id: &str, permanent: bool, message: &str) -> ApiResult<()> {
    let now = now_ms();
    let Some(failures) = ctx
        .store
        .sandbox_failed(sandbox_id, permanent, message, now)?
    else {
        ctx.warn("a late spawn failure was ignored", "the sandbox moved on");
        return Ok(());
    };
    if permanent && policy::should_block(&failures, now) {
        ctx.store.sandbox_set_blocked(true)?;
    }
    broadcast(
        ctx,
        &ServerMessage::SandboxError {
            error: message.to_string(),
        },
    );
    announce(ctx, Status::Failed);
    Ok(())
}

/// The secrets a sandbox of `session` is given (`crate::secrets`).
async fn secrets_for(
    ctx: &Ctx,
    session: &crate::session::model::SessionRow,
) -> ApiResult<serde_json::Map<String, serde_json::Value>> {
    use crate::secrets::store::{open, Scope};
    let global = open(&ctx.env, &Scope::Global).await?;
    let repo = Scope::Repo {
        provider: session.vcs_provider,
        owner: session.repo_owner.clone(),
        name: session.repo_name.clone(),
    };
    let repo = open(&ctx.env, &repo).await?;
    crate::secrets::for_sandbox(global, repo)
        .map_err(|why| crate::error::ApiError::new(400, "secrets_too_large", why))
}

/// Warms the sandbox up for `user_id` (someone is typing) when none is up or coming and
/// retries are not on hold; answers whether a spawn started.
pub async fn warm(ctx: &Ctx, user_id: &str) -> ApiResult<bool> {
    let timeouts = config::sandbox_timeouts(&ctx.env);
    let now = now_ms();
    if !policy::should_warm(&snapshot(ctx, now)?, &timeouts, now) {
        return Ok(false);
    }
    broadcast(ctx, &ServerMessage::SandboxWarming);
    spawn(ctx, user_id, None).await?;
    Ok(true)
}

/// Starts a sandbox with `user_id`'s clone credentials, for `first` (the prompt it will
/// run) or ahead of any prompt.
async fn spawn(ctx: &Ctx, user_id: &str, first: Option<&MessageRow>) -> ApiResult<()> {
    let session = ctx.store.existing_session()?;
    let now = now_ms();
    let sandbox_id = random::id()?;
    let token = random::token()?;
    // Recorded before any await, so a concurrent run sees the spawn under way.
    ctx.store
        .sandbox_begin_spawn(&sandbox_id, &random::sha256_hex(&token), user_id, now)?;
    announce(ctx, Status::Spawning);
    broadcast(ctx, &ServerMessage::SandboxSpawning);

    let provider = session.vcs_provider;
    // The prompting user must still be able to read the repository with their own token
    // before anything is cloned for them (REPO_ACCESS=user).
    let ask = Ask {
        provider,
        user_id,
        token: None,
        workspace: &session.repo_owner,
        slug: &session.repo_name,
        level: Level::Read,
    };
    if let Err(e) = access::require(ctx, &ask).await {
        let reason = format!("the sandbox was not started: {}", e.message);
        return fail_start(ctx, &sandbox_id, e.status < 500, &reason);
    }
    let (Some(api_url), Some(api_secret)) = (
        config::secret(&ctx.env, "SANDBOX_API_URL"),
        config::secret(&ctx.env, "SANDBOX_API_SECRET"),
    ) else {
        return fail_start(
            ctx,
            &sandbox_id,
            true,
            "the sandbox provider is not configured",
        );
    };
    // The sandbox clones through the control plane with a ticket; whose credentials we add
    // there is checked now, so a start that could not clone fails here.
    let proxy = git::proxy_base(ctx, &session).and_then(|base| {
        let host = git::proxy_host(&base)?;
        Ok((base, host))
    });
    let ready = match proxy {
        Ok(p) => git::forge_auth(ctx, &session).await.map(|_| p),
        Err(e) => Err(e),
    };
    // The secrets its environment gets: the repository's over the global ones.
    let secrets = match secrets_for(ctx, &session).await {
        Ok(s) => s,
        Err(e) => {
            let reason = format!("the sandbox's secrets could not be given: {}", e.message);
            return fail_start(ctx, &sandbox_id, e.status < 500, &reason);
        }
    };
    let ((control_plane_url, vcs_host), ticket) =
        match ready.and_then(|p| Ok((p, git::issue(ctx, &session, &sandbox_id, now, "spawn")?))) {
            Ok(x) => x,
            Err(e) => {
                let reason = format!("no credentials to clone with: {}", e.message);
                return fail_start(ctx, &sandbox_id, e.status < 500, &reason);
            }
        };
    let body = SpawnRequest {
        session_id: session.id.clone(),
        sandbox_id: sandbox_id.clone(),
        repo_owner: session.repo_owner.clone(),
        repo_name: session.repo_name.clone(),
        branch: session.base_branch.clone().unwrap_or_else(|| "main".into()),
        vcs_provider: provider.as_str().into(),
        vcs_host,
        clone_username: ticket.username.into(),
        clone_token: ticket.ticket.clone(),
        control_plane_url,
        sandbox_auth_token: token,
        model: model_for(ctx, &session, first),
        timeout_seconds: config::sandbox_lifetime_secs(&ctx.env),
        secrets,
    };
    let Some(request) = sandbox_api::spawn(&api_url, &api_secret, now_ms(), &body) else {
        let reason = "the sandbox provider is misconfigured (SANDBOX_API_URL)";
        return fail_start(ctx, &sandbox_id, true, reason);
    };
    let outcome = match fetch::send_within(&request, PROVIDER_TIMEOUT_MS).await {
        Ok(resp) => sandbox_api::parse_spawn(&resp),
        Err(e) => SpawnOutcome::Failed {
            permanent: false,
            message: format!("could not reach the sandbox provider: {}", e.0),
        },
    };
    match outcome {
        SpawnOutcome::Started { provider_id } => {
            // The sandbox may have connected before the provider answered: never undo that.
            if ctx
                .store
                .sandbox_started(&sandbox_id, provider_id.as_deref(), now_ms())?
            {
                announce(ctx, Status::Connecting);
            }
            Ok(())
        }
        SpawnOutcome::Failed { permanent, message } => {
            // The provider may echo what it was sent: mask the credentials, cap the text.
            let message = redact::clean(&message, &[&ticket.ticket, &body.sandbox_auth_token], 500);
            fail_start(ctx, &sandbox_id, permanent, &message)
        }
    }
}
