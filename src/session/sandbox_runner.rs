//! Carries out the sandbox lifecycle: gathers a snapshot, asks `sandbox_policy` what to do,
//! does it (spawn through the provider API, send the next prompt, mark stale, fail a stuck
//! start, shut down), and arms the alarm for the next thing due.

use worker::WebSocket;

use crate::auth::credentials::Credentials;
use crate::auth::random;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::sandbox_api::{self, SpawnOutcome, SpawnRequest};
use crate::session::clients;
use crate::session::command::VcsProvider;
use crate::session::model::{MessageRow, SessionRow};
use crate::session::object::{now_ms, SessionObject};
use crate::session::protocol::ServerMessage;
use crate::session::sandbox_policy::{self, Snapshot, Status, Step};
use crate::session::sandbox_protocol::{Author, Outbound};
use crate::vcs::fetch;
use crate::vcs::git_auth::GitAuth;

/// The tag of the sandbox's socket.
pub const SANDBOX_TAG: &str = "sandbox";

/// The attachment of the sandbox's socket.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxAttachment {
    pub sandbox_id: String,
    pub connected_at: i64,
}

/// The open socket of the current sandbox, if any (never one of an earlier sandbox).
pub fn socket(obj: &SessionObject) -> Option<WebSocket> {
    let current = obj.store.sandbox().ok()??;
    if Status::parse(&current.status) == Status::Stopped {
        return None;
    }
    let id = current.sandbox_id?;
    obj.state
        .get_websockets_with_tag(SANDBOX_TAG)
        .into_iter()
        .find(|ws| {
            ws.deserialize_attachment::<SandboxAttachment>()
                .ok()
                .flatten()
                .is_some_and(|a| a.sandbox_id == id)
        })
}

/// Sends a message to the sandbox; answers whether there was a socket to send on.
pub fn send(obj: &SessionObject, msg: &Outbound) -> bool {
    match socket(obj) {
        Some(ws) => ws.send_with_str(msg.to_text()).is_ok(),
        None => false,
    }
}

pub fn set_status(obj: &SessionObject, status: Status) -> ApiResult<()> {
    obj.store.sandbox_set_status(status.as_str(), now_ms())?;
    broadcast_status(obj, status);
    Ok(())
}

pub fn broadcast_status(obj: &SessionObject, status: Status) {
    clients::broadcast(
        obj,
        &ServerMessage::SandboxStatus {
            status: status.as_str().into(),
        },
    );
}

fn snapshot(obj: &SessionObject, now: i64) -> ApiResult<Snapshot> {
    let row = obj.store.sandbox()?;
    let status = row
        .as_ref()
        .map_or(Status::None, |r| Status::parse(&r.status));
    Ok(Snapshot {
        status,
        status_since: row.as_ref().and_then(|r| r.status_since).unwrap_or(now),
        last_heartbeat: row.as_ref().and_then(|r| r.last_heartbeat),
        last_activity: row.as_ref().and_then(|r| r.last_activity),
        socket_connected: socket(obj).is_some(),
        clients: clients::subscribed_count(obj),
        pending: obj.store.pending_count()?,
        processing: obj.store.processing_message()?.is_some(),
        last_failure_at: row.as_ref().and_then(|r| r.last_failure_at),
        blocked: row.as_ref().is_some_and(|r| r.blocked != 0),
    })
}

/// Runs due steps, then arms the alarm for the next deadline (sandbox or client).
pub async fn tick(obj: &SessionObject) -> ApiResult<()> {
    let stepped = run_steps(obj).await;
    // The alarm is armed whatever the steps did, so no deadline is ever lost.
    let wake = match &stepped {
        Ok(wake) => *wake,
        // Look again soon rather than never.
        Err(_) => Some(now_ms() + 5_000),
    };
    let client_wake = clients::expire_unsubscribed(obj, now_ms());
    let next = [wake, client_wake].into_iter().flatten().min();
    let storage = obj.state.storage();
    match next {
        Some(at) => storage.set_alarm((at - now_ms()).max(1)).await?,
        None => storage.delete_alarm().await?,
    }
    stepped.map(|_| ())
}

/// Runs the steps that are due; answers when the sandbox next needs looking at.
async fn run_steps(obj: &SessionObject) -> ApiResult<Option<i64>> {
    let timeouts = config::sandbox_timeouts(&obj.env);
    let mut wake = None;
    // A handful of steps at most per tick (e.g. mark stale, then respawn).
    for _ in 0..4 {
        let now = now_ms();
        let (step, next) = sandbox_policy::plan(&snapshot(obj, now)?, &timeouts, now);
        wake = next;
        match step {
            None => break,
            Some(Step::Spawn) => spawn(obj).await?,
            Some(Step::SendNext) => send_next(obj)?,
            Some(Step::MarkStale) => mark_stale(obj)?,
            Some(Step::FailConnecting) => {
                let secs = timeouts.connect_ms / 1000;
                fail_start(
                    obj,
                    false,
                    &format!("the sandbox did not connect within {secs} s"),
                )?
            }
            Some(Step::Shutdown) => shutdown(obj)?,
        }
    }
    Ok(wake)
}

/// Runs [`tick`], logging instead of failing the caller (whose own work is already done).
pub async fn kick(obj: &SessionObject) {
    if let Err(e) = tick(obj).await {
        worker::console_error!("sandbox lifecycle step failed: {e}");
    }
}

fn author_of(obj: &SessionObject, msg: &MessageRow) -> ApiResult<Author> {
    let p = obj.store.participant_by_user(&msg.author_id)?;
    Ok(Author {
        user_id: msg.author_id.clone(),
        scm_name: p.as_ref().and_then(|p| p.scm_name.clone()),
        scm_email: p.as_ref().and_then(|p| p.scm_email.clone()),
    })
}

fn model_for(obj: &SessionObject, session: &SessionRow, msg: Option<&MessageRow>) -> String {
    msg.and_then(|m| m.model.clone())
        .or_else(|| session.model.clone())
        .unwrap_or_else(|| config::default_model(&obj.env))
}

fn send_next(obj: &SessionObject) -> ApiResult<()> {
    let Some(msg) = obj.store.next_pending()? else {
        return Ok(());
    };
    let session = crate::session::actions::existing(obj)?;
    let prompt = Outbound::Prompt {
        message_id: msg.id.clone(),
        content: msg.content.clone(),
        model: model_for(obj, &session, Some(&msg)),
        author: author_of(obj, &msg)?,
    };
    if !send(obj, &prompt) {
        return Ok(());
    }
    let now = now_ms();
    obj.store.mark_processing(&msg.id, now)?;
    obj.store.sandbox_activity(now)?;
    clients::broadcast(
        obj,
        &ServerMessage::ProcessingStatus {
            is_processing: true,
        },
    );
    Ok(())
}

/// Fails the running message (if any) with `reason` and tells the clients.
pub fn fail_running(obj: &SessionObject, reason: &str) -> ApiResult<bool> {
    let failed = obj.store.fail_processing(reason, now_ms())?;
    if failed {
        clients::broadcast(
            obj,
            &ServerMessage::ProcessingStatus {
                is_processing: false,
            },
        );
    }
    Ok(failed)
}

fn close_sandbox_sockets(obj: &SessionObject, code: u16, reason: &str) {
    for ws in obj.state.get_websockets_with_tag(SANDBOX_TAG) {
        let _ = ws.close(Some(code), Some(reason));
    }
}

fn mark_stale(obj: &SessionObject) -> ApiResult<()> {
    set_status(obj, Status::Stale)?;
    fail_running(obj, "the sandbox stopped responding")?;
    close_sandbox_sockets(obj, 4000, "stale");
    Ok(())
}

fn shutdown(obj: &SessionObject) -> ApiResult<()> {
    send(obj, &Outbound::Shutdown);
    set_status(obj, Status::Stopped)?;
    close_sandbox_sockets(obj, 1000, "shutdown");
    Ok(())
}

/// Records a failed start, tells the clients, and stops retries after too many
/// permanent failures.
fn fail_start(obj: &SessionObject, permanent: bool, message: &str) -> ApiResult<()> {
    let now = now_ms();
    let failures = obj.store.sandbox_failed(permanent, message, now)?;
    if permanent && sandbox_policy::should_block(&failures, now) {
        obj.store.sandbox_set_blocked(true)?;
    }
    clients::broadcast(
        obj,
        &ServerMessage::SandboxError {
            error: message.to_string(),
        },
    );
    broadcast_status(obj, Status::Failed);
    Ok(())
}

/// The git credentials to clone with: the bot's, else the prompting user's fresh token.
async fn clone_auth(
    obj: &SessionObject,
    provider: VcsProvider,
    user_id: &str,
) -> ApiResult<GitAuth> {
    let (bot_user, bot_token) = config::bitbucket_bot(&obj.env);
    if provider == VcsProvider::Bitbucket && bot_user.is_some() && bot_token.is_some() {
        return GitAuth::choose(bot_user, bot_token, None)
            .ok_or_else(|| ApiError::internal("bot credentials vanished"));
    }
    let creds = Credentials::new(&obj.env, provider)?;
    if creds.state(user_id).await?.is_none() {
        return Err(ApiError::unauthorized(
            "no bot is configured and the prompting user has no stored credentials to clone with",
        ));
    }
    let fresh = creds
        .access_token(&config::bitbucket(&obj.env), user_id)
        .await?;
    GitAuth::choose(None, None, Some(fresh.token)).ok_or_else(|| ApiError::internal("no token"))
}

async fn spawn(obj: &SessionObject) -> ApiResult<()> {
    let session = crate::session::actions::existing(obj)?;
    let Some(first) = obj.store.next_pending()? else {
        return Ok(());
    };
    let now = now_ms();
    let sandbox_id = random::id().map_err(|_| ApiError::internal("no randomness available"))?;
    let token = random::token().map_err(|_| ApiError::internal("no randomness available"))?;
    // Recorded before any await, so a concurrent tick sees the spawn under way.
    obj.store
        .sandbox_begin_spawn(&sandbox_id, &random::sha256_hex(&token), now)?;
    broadcast_status(obj, Status::Spawning);

    let provider = VcsProvider::parse(&session.vcs_provider).unwrap_or_default();
    let (Some(api_url), Some(api_secret)) = (
        config::secret(&obj.env, "SANDBOX_API_URL"),
        config::secret(&obj.env, "SANDBOX_API_SECRET"),
    ) else {
        return fail_start(obj, true, "the sandbox provider is not configured");
    };
    let auth = match clone_auth(obj, provider, &first.author_id).await {
        Ok(a) => a,
        Err(e) => {
            return fail_start(
                obj,
                e.status < 500,
                &format!("no credentials to clone with: {}", e.message),
            )
        }
    };
    let control_plane_url = config::secret(&obj.env, "CONTROL_PLANE_URL")
        .or(session.control_plane_url.clone())
        .unwrap_or_default();
    let body = SpawnRequest {
        session_id: session.id.clone(),
        sandbox_id,
        repo_owner: session.repo_owner.clone(),
        repo_name: session.repo_name.clone(),
        branch: session.base_branch.clone().unwrap_or_else(|| "main".into()),
        vcs_provider: provider.as_str().into(),
        vcs_host: config::git_host(&obj.env, provider),
        clone_username: auth.username().into(),
        clone_token: auth.secret().into(),
        control_plane_url,
        sandbox_auth_token: token,
        model: model_for(obj, &session, Some(&first)),
        timeout_seconds: config::sandbox_lifetime_secs(&obj.env),
    };
    let outcome =
        match fetch::send(&sandbox_api::spawn(&api_url, &api_secret, now_ms(), &body)).await {
            Ok(resp) => sandbox_api::parse_spawn(&resp),
            Err(e) => SpawnOutcome::Failed {
                permanent: false,
                message: format!(
                    "could not reach the sandbox provider: {}",
                    ApiError::from(e).message
                ),
            },
        };
    match outcome {
        SpawnOutcome::Started { provider_id } => {
            obj.store
                .sandbox_started(provider_id.as_deref(), now_ms())?;
            broadcast_status(obj, Status::Connecting);
            Ok(())
        }
        SpawnOutcome::Failed { permanent, message } => fail_start(obj, permanent, &message),
    }
}
