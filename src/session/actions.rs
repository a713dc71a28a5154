//! The session's answers to the worker's commands: create, read, delete, archive, prompt,
//! lists, participants and ws-tokens. Each reads or writes the store, keeps the D1 index
//! in step, and tells connected clients what changed.

use serde_json::{json, Value};
use worker::Response;

use crate::auth::credentials::{Credentials, Offer};
use crate::auth::lifecycle;
use crate::auth::random;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::respond;
use crate::index;
use crate::session::clients;
use crate::session::command::{
    Command, ListKind, NewSession, ParticipantInput, PromptInput, UserRef, VcsProvider,
};
use crate::session::model::{Listed, ParticipantRow, SessionRow};
use crate::session::object::{now_ms, SessionObject};
use crate::session::paging::{window, Page};
use crate::session::protocol::ServerMessage;
use crate::session::sandbox_protocol::Outbound;
use crate::session::sandbox_runner;
use crate::session::store::SealedTokens;
use crate::vcs::bitbucket::{requests, responses};
use crate::vcs::{fetch, identity, retry, Identity};

pub async fn run(obj: &SessionObject, command: Command) -> ApiResult<Response> {
    match command {
        Command::Create(new) => create(obj, new).await,
        Command::Get => get(obj),
        Command::Delete => delete(obj).await,
        Command::Archive(u) => set_archived(obj, u, true).await,
        Command::Unarchive(u) => set_archived(obj, u, false).await,
        Command::Prompt(p) => {
            let (message_id, position) = enqueue(obj, p, None).await?;
            respond::json(
                200,
                &json!({"messageId": message_id, "status": "queued", "position": position}),
            )
        }
        Command::Stop => stop(obj).await,
        Command::List { kind, page } => list(obj, kind, &page),
        Command::AddParticipant(p) => {
            let row = join(obj, &p, "member").await?;
            respond::json(
                201,
                &json!({"participantId": row.id, "participant": row.view()}),
            )
        }
        Command::WsToken(p) => ws_token(obj, &p).await,
        Command::CreatePr {
            body,
            sandbox_token,
        } => crate::session::pull_request::create(obj, &body, sandbox_token).await,
    }
}

/// The session, or 404.
pub fn existing(obj: &SessionObject) -> ApiResult<SessionRow> {
    obj.store
        .session()?
        .ok_or_else(|| ApiError::not_found("session not found"))
}

fn db(obj: &SessionObject) -> ApiResult<worker::D1Database> {
    Ok(obj.env.d1("DB")?)
}

/// Encrypts the participant's tokens with `TOKEN_ENCRYPTION_KEY` (fails closed without it).
fn seal(obj: &SessionObject, p: &ParticipantInput) -> ApiResult<SealedTokens> {
    if !p.has_tokens() {
        return Ok(SealedTokens::default());
    }
    let vault = config::vault(&obj.env)?;
    let enc = |t: &Option<String>| -> ApiResult<Option<String>> {
        t.as_deref()
            .map(|t| vault.encrypt(t))
            .transpose()
            .map_err(|_| ApiError::internal("could not encrypt the token"))
    };
    Ok(SealedTokens {
        access: enc(&p.scm_token)?,
        refresh: enc(&p.scm_refresh_token)?,
    })
}

/// Adds or updates a participant: tokens sealed into the session and offered to the
/// user's stored credentials; a Bitbucket identity filled in when name or email is missing.
async fn join(obj: &SessionObject, p: &ParticipantInput, role: &str) -> ApiResult<ParticipantRow> {
    let session = existing(obj)?;
    let sealed = seal(obj, p)?;
    let id = random::id().map_err(|_| ApiError::internal("no randomness available"))?;
    let row = obj
        .store
        .upsert_participant(&id, p, &sealed, role, now_ms())?;
    let provider = VcsProvider::parse(&session.vcs_provider).unwrap_or_default();
    if let Some(access) = p.scm_token.as_deref() {
        let offer = Offer {
            access_token: access,
            refresh_token: p.scm_refresh_token.as_deref(),
            expires_at: p.scm_token_expires_at,
        };
        Credentials::new(&obj.env, provider)?
            .offer(&p.user_id, &offer)
            .await?;
    }
    if provider == VcsProvider::Bitbucket && (row.scm_name.is_none() || row.scm_email.is_none()) {
        if let Some(identity) = bitbucket_identity(obj, p).await {
            obj.store.fill_identity(&row.id, &identity)?;
            return obj
                .store
                .participant_by_user(&p.user_id)?
                .ok_or_else(|| ApiError::internal("participant was not stored"));
        }
    }
    Ok(row)
}

/// The participant's Bitbucket identity, looked up with the token they brought or their
/// stored credentials. Best effort: a failure leaves the identity as it was.
async fn bitbucket_identity(obj: &SessionObject, p: &ParticipantInput) -> Option<Identity> {
    let cfg = config::bitbucket(&obj.env);
    let token = match given_token(p) {
        Some(t) => t.to_string(),
        None => {
            let creds = Credentials::new(&obj.env, VcsProvider::Bitbucket).ok()?;
            creds.state(&p.user_id).await.ok()??;
            creds.access_token(&cfg, &p.user_id).await.ok()?.token
        }
    };
    match identity::bitbucket_identity(&cfg, &token).await {
        Ok(identity) => Some(identity),
        Err(e) => {
            let e: ApiError = e.into();
            worker::console_warn!("could not look up the Bitbucket identity: {}", e.code);
            None
        }
    }
}

async fn create(obj: &SessionObject, new: NewSession) -> ApiResult<Response> {
    if obj.store.session()?.is_some() {
        return Err(ApiError::conflict("session already exists"));
    }
    // Fail before storing anything if the tokens cannot be sealed.
    seal(obj, &new.owner)?;
    obj.store.insert_session(&new, now_ms())?;
    let row = match join(obj, &new.owner, "owner").await {
        Ok(_) => {
            if new.branch.is_none() {
                resolve_base_branch(obj, &new).await?;
            }
            existing(obj)?
        }
        Err(e) => {
            obj.state.storage().delete_all().await?;
            obj.forget_schema();
            return Err(e);
        }
    };
    if let Err(e) = index::upsert(&db(obj)?, &row).await {
        // Without its index row nobody could find the session: undo it.
        obj.state.storage().delete_all().await?;
        obj.forget_schema();
        return Err(e);
    }
    respond::json(201, &json!({"sessionId": row.id, "status": row.status}))
}

/// The token a participant brought, unless it says it has already expired.
fn given_token(p: &ParticipantInput) -> Option<&str> {
    p.scm_token
        .as_deref()
        .filter(|_| lifecycle::usable_now(p.scm_token_expires_at, now_ms()))
}

/// Without a branch, a Bitbucket session works from the repository's main branch, looked
/// up with the token its owner brought. Best effort: without it the sandbox is given
/// `main`, and the pull request looks the main branch up again.
async fn resolve_base_branch(obj: &SessionObject, new: &NewSession) -> ApiResult<()> {
    let Some(token) = given_token(&new.owner) else {
        return Ok(());
    };
    if new.vcs_provider != VcsProvider::Bitbucket {
        return Ok(());
    }
    let cfg = config::bitbucket(&obj.env);
    let req = requests::repository(&cfg, token, &new.repo_owner, &new.repo_name)?;
    let found = match fetch::send_with_retry(&req, retry::RATE_LIMIT).await {
        Ok(resp) => responses::repository(&resp),
        Err(e) => Err(e),
    };
    match found {
        Ok(repo) => obj.store.set_base_branch(&repo.default_branch),
        Err(e) => {
            worker::console_warn!(
                "could not look up the main branch: {}",
                ApiError::from(e).code
            );
            Ok(())
        }
    }
}

fn get(obj: &SessionObject) -> ApiResult<Response> {
    let row = existing(obj)?;
    let sandbox = obj.store.sandbox()?;
    respond::json(200, &row.view(sandbox.as_ref()))
}

async fn delete(obj: &SessionObject) -> ApiResult<Response> {
    let row = existing(obj)?;
    index::remove(&db(obj)?, &row.id).await?;
    clients::close_all(obj, 1000, "session deleted");
    obj.state.storage().delete_all().await?;
    obj.forget_schema();
    respond::json(200, &json!({"sessionId": row.id, "status": "deleted"}))
}

async fn set_archived(obj: &SessionObject, user: UserRef, archived: bool) -> ApiResult<Response> {
    existing(obj)?;
    if obj.store.participant_by_user(&user.user_id)?.is_none() {
        return Err(ApiError::forbidden(
            "only participants can archive or unarchive a session",
        ));
    }
    let status = if archived { "archived" } else { "active" };
    obj.store.set_status(status, now_ms())?;
    let row = existing(obj)?;
    index::upsert(&db(obj)?, &row).await?;
    respond::json(200, &json!({"sessionId": row.id, "status": row.status}))
}

/// Queues a prompt from `p.author_id` (joining them as a member if new), records it as an
/// event for every client, and keeps the index's `updatedAt` current with one write.
pub async fn enqueue(
    obj: &SessionObject,
    p: PromptInput,
    author: Option<&ParticipantRow>,
) -> ApiResult<(String, u32)> {
    let session = existing(obj)?;
    if session.status == "archived" {
        return Err(ApiError::conflict(
            "session is archived; unarchive it first",
        ));
    }
    let now = now_ms();
    if author.is_none() && obj.store.participant_by_user(&p.author_id)?.is_none() {
        let author = ParticipantInput {
            user_id: p.author_id.clone(),
            ..Default::default()
        };
        let id = random::id().map_err(|_| ApiError::internal("no randomness available"))?;
        obj.store
            .upsert_participant(&id, &author, &SealedTokens::default(), "member", now)?;
    }
    let message_id = random::id().map_err(|_| ApiError::internal("no randomness available"))?;
    let model = p.model.clone().or(session.model.clone());
    let position = obj
        .store
        .insert_message(&message_id, &p, model.as_deref(), now)?;
    let data = json!({
        "messageId": message_id,
        "content": p.content,
        "authorId": p.author_id,
        "source": p.source.as_deref().unwrap_or("web"),
        "model": model,
    });
    record_event(obj, "user_message", &data, Some(&message_id))?;
    if session.status == "created" {
        obj.store.set_status("active", now)?;
    } else {
        obj.store.touch(now)?;
    }
    // A new prompt lifts a stop on spawn retries.
    obj.store.sandbox_set_blocked(false)?;
    index::upsert(&db(obj)?, &existing(obj)?).await?;
    sandbox_runner::kick(obj).await;
    Ok((message_id, position))
}

/// Stores an event and broadcasts it to every subscribed client.
pub fn record_event(
    obj: &SessionObject,
    kind: &str,
    data: &Value,
    message_id: Option<&str>,
) -> ApiResult<()> {
    let id = random::id().map_err(|_| ApiError::internal("no randomness available"))?;
    let row = obj
        .store
        .insert_event(&id, kind, data, message_id, now_ms())?;
    clients::broadcast(obj, &ServerMessage::SandboxEvent { event: row.view() });
    Ok(())
}

/// Fails the message in progress, if any, tells the clients and the sandbox, and moves
/// the queue on.
pub async fn stop_processing(obj: &SessionObject) -> ApiResult<bool> {
    existing(obj)?;
    let stopped = sandbox_runner::fail_running(obj, "stopped by user")?;
    if stopped {
        sandbox_runner::send(obj, &Outbound::Stop);
        sandbox_runner::kick(obj).await;
    }
    Ok(stopped)
}

async fn stop(obj: &SessionObject) -> ApiResult<Response> {
    let stopped = stop_processing(obj).await?;
    respond::json(200, &json!({"stopped": stopped}))
}

/// One page of a list, newest first: `{<kind>: [...], cursor, hasMore}`.
pub fn page(
    obj: &SessionObject,
    kind: ListKind,
    page: &Page,
) -> ApiResult<(Vec<Value>, bool, Option<i64>)> {
    existing(obj)?;
    let rows = obj.store.page(kind, page)?;
    Ok(window(rows, page.limit, |v| {
        v.get("seq").and_then(Value::as_i64).unwrap_or(0)
    }))
}

fn list(obj: &SessionObject, kind: ListKind, p: &Page) -> ApiResult<Response> {
    let (rows, has_more, cursor) = page(obj, kind, p)?;
    let mut body = serde_json::Map::new();
    body.insert(kind.as_str().into(), Value::Array(rows));
    body.insert("cursor".into(), cursor.into());
    body.insert("hasMore".into(), has_more.into());
    respond::json(200, &Value::Object(body))
}

async fn ws_token(obj: &SessionObject, p: &ParticipantInput) -> ApiResult<Response> {
    let row = join(obj, p, "member").await?;
    let token = random::token().map_err(|_| ApiError::internal("no randomness available"))?;
    obj.store
        .set_ws_token(&row.id, &random::sha256_hex(&token), now_ms())?;
    respond::json(200, &json!({"token": token, "participantId": row.id}))
}
