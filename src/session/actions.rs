//! The command runner: the session's answers to the worker's commands (create, read,
//! delete, archive, prompt, stop, lists, participants, ws-tokens). Each reads or writes the
//! store, keeps the D1 index in step, tells connected clients what changed, and re-plans the
//! sandbox through the alarm when the queue changed.

use crate::raw::Object;
use worker::Response;

use crate::auth::random;
use crate::clock::now_ms;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::respond;
use crate::index;
use crate::session::access::{self, Ask, Level};
use crate::session::alarm;
use crate::session::children;
use crate::session::client::link::broadcast;
use crate::session::client::link::close_all;
use crate::session::client::policy::WS_TOKEN_TTL_MS;
use crate::session::client::protocol::ServerMessage;
use crate::session::command::{
    Command, NewSession, ParticipantInput, PromptInput, TitleInput, UserRef,
};
use crate::session::ctx::Ctx;
use crate::session::model::{ParticipantRow, Role};
use crate::session::paging::{ListKind, Page};
use crate::session::participants::{can_keep_tokens, given_token, join};
use crate::session::queue::{self, Queued};
use crate::session::sandbox::protocol::Outbound;
use crate::session::sandbox::{link, runner};
use crate::session::status::Change;
use crate::vcs::Client;

/// Runs one command from the worker (all but `CreatePr`, which `pull_request` owns) and
/// answers it as the HTTP response the worker passes on.
pub async fn run(ctx: &Ctx, command: Command) -> ApiResult<Response> {
    match command {
        Command::Create(new) => create(ctx, *new).await,
        Command::Get => get(ctx),
        Command::Delete => delete(ctx).await,
        Command::Archive(u) => set_archived(ctx, u, Change::Archive).await,
        Command::Unarchive(u) => set_archived(ctx, u, Change::Unarchive).await,
        Command::Prompt(p) => {
            let q = prompt(ctx, &p, None).await?;
            respond::object(
                200,
                Object::new()
                    .field("messageId", &q.message_id)
                    .field("status", "queued")
                    .field("position", &q.position),
            )
        }
        Command::Stop => {
            stop(ctx).await?;
            respond::object(200, Object::new().field("status", "stopping"))
        }
        Command::List { kind, page } => list(ctx, kind, &page),
        Command::AddParticipant(p) => {
            let row = join(ctx, &p, Role::Member).await?;
            respond::object(
                200,
                Object::new().field("id", &row.id).field("status", "added"),
            )
        }
        Command::WsToken(p) => ws_token(ctx, &p).await,
        Command::SetTitle(t) => set_title(ctx, t),
        Command::ParticipantProfiles => participant_profiles(ctx),
        Command::SpawnContext(caller) => children::spawn_context(ctx, &caller),
        Command::ChildUpdate(update) => children::child_update(ctx, update),
        Command::Cancel => children::cancel(ctx).await,
        Command::ChildSummary(q) => children::summary(ctx, &q),
        Command::CreatePr { .. }
        | Command::Sandbox { .. }
        | Command::Webhook { .. }
        | Command::RefreshPr
        | Command::Git(_) => Err(ApiError::internal(
            "pull requests, webhooks, git and sandbox routes are not plain commands",
        )),
    }
}

async fn create(ctx: &Ctx, new: NewSession) -> ApiResult<Response> {
    if ctx.store.session()?.is_some() {
        return Err(ApiError::conflict("session already exists"));
    }
    // Fail before storing anything if the tokens cannot be sealed, or if the owner cannot
    // read the repository with their own token (REPO_ACCESS=user).
    can_keep_tokens(ctx, &new.owner)?;
    let checked = access::require(
        ctx,
        &Ask {
            provider: new.vcs_provider,
            user_id: &new.owner.user_id,
            token: given_token(ctx, &new.owner, new.vcs_provider),
            workspace: &new.repo_owner,
            slug: &new.repo_name,
            level: Level::Read,
        },
    )
    .await?;
    ctx.store.insert_session(&new, now_ms())?;
    let row = match join(ctx, &new.owner, Role::Owner).await {
        Ok(_) => {
            match checked {
                Some(repo) => learned(ctx, &new, &repo)?,
                None if new.branch.is_none() => resolve_base_branch(ctx, &new).await?,
                None => {}
            }
            ctx.store.existing_session()?
        }
        Err(e) => {
            ctx.wipe().await?;
            return Err(e);
        }
    };
    if let Err(e) = index::upsert(&ctx.db()?, &row, None).await {
        // Without its index row nobody could find the session: undo it.
        ctx.wipe().await?;
        return Err(e);
    }
    respond::object(
        201,
        Object::new()
            .field("sessionId", &row.id)
            .field("status", &row.status),
    )
}

/// Without a branch, a session works from the repository's default branch, looked
/// up with the token its owner brought. Best effort: without it the sandbox is given
/// `main`, and the pull request looks the main branch up again.
async fn resolve_base_branch(ctx: &Ctx, new: &NewSession) -> ApiResult<()> {
    let Some(token) = given_token(ctx, &new.owner, new.vcs_provider) else {
        return Ok(());
    };
    let cfg = config::vcs(&ctx.env, new.vcs_provider);
    let client = Client::user(&cfg, token);
    match client.repository(&new.repo_owner, &new.repo_name).await {
        Ok(repo) => learned(ctx, new, &repo),
        Err(e) => {
            let code = ApiError::from(e).code;
            ctx.warn("could not look up the main branch", code);
            Ok(())
        }
    }
}

/// What the session keeps of its repository as read at the forge: its id (webhook routes go
/// by it), and its main branch as the base when none was asked for.
fn learned(ctx: &Ctx, new: &NewSession, repo: &crate::vcs::Repo) -> ApiResult<()> {
    ctx.store.set_repo_id(repo.id)?;
    match new.branch {
        Some(_) => Ok(()),
        None => ctx.store.set_base_branch(&repo.default_branch),
    }
}

/// A participant renames the session: stored, every client told (`session_title`), the
/// index updated after the answer, and a parent session told (a child's new title).
fn set_title(ctx: &Ctx, t: TitleInput) -> ApiResult<Response> {
    let session = ctx.store.existing_session()?;
    if ctx.store.participant_by_user(&t.user_id)?.is_none() {
        return Err(ApiError::forbidden(
            "Not authorized to update the session title",
        ));
    }
    ctx.store.set_title(&t.title, now_ms())?;
    broadcast(
        ctx,
        &ServerMessage::SessionTitle {
            title: t.title.clone(),
        },
    );
    ctx.index_later("after a rename");
    children::tell_parent(ctx, session.status);
    respond::object(200, Object::new().field("title", &t.title))
}

/// The participants' display names by user id (`{profiles: {<userId>: {userId, displayName,
/// avatarUrl}}}`; no avatars are known).
fn participant_profiles(ctx: &Ctx) -> ApiResult<Response> {
    ctx.store.existing_session()?;
    let mut profiles = serde_json::Map::new();
    for p in ctx.store.participants()? {
        profiles.insert(
            p.user_id.clone(),
            serde_json::json!({
                "userId": p.user_id,
                "displayName": p.scm_name.clone().or(p.scm_login.clone()),
                "avatarUrl": null,
            }),
        );
    }
    respond::json(200, &serde_json::json!({ "profiles": profiles }))
}

/// The session's snapshot (`sessionSnapshotSchema`, as the web's session page reads it).
fn get(ctx: &Ctx) -> ApiResult<Response> {
    let snapshot = crate::session::snapshot::build(ctx)?;
    respond::object(200, snapshot.write(Object::new()))
}

async fn delete(ctx: &Ctx) -> ApiResult<Response> {
    let row = ctx.store.existing_session()?;
    index::remove(&ctx.db()?, &row.id, now_ms()).await?;
    // The sandbox is told and ended at the provider before the sockets close.
    runner::terminate(ctx).await;
    close_all(ctx, 1000, "session deleted");
    ctx.wipe().await?;
    respond::object(
        200,
        Object::new()
            .field("sessionId", &row.id)
            .field("status", "deleted"),
    )
}

async fn set_archived(ctx: &Ctx, user: UserRef, change: Change) -> ApiResult<Response> {
    let session = ctx.store.existing_session()?;
    if ctx.store.participant_by_user(&user.user_id)?.is_none() {
        return Err(ApiError::forbidden(
            "only participants can archive or unarchive a session",
        ));
    }
    queue::change_status(ctx, session.status, change, now_ms())?;
    let row = ctx.store.index_row()?;
    let latest = ctx.store.latest_finished()?;
    index::upsert(&ctx.db()?, &row, latest.as_deref()).await?;
    respond::object(
        200,
        Object::new()
            .field("sessionId", &row.id)
            .field("status", &row.status),
    )
}

/// Queues a prompt (see `queue::enqueue`) and starts it (the sandbox is re-planned), then
/// keeps the index's `updatedAt` current with one write after the answer. A stored prompt
/// is always started and reported as queued: an index failure is logged, and the next change
/// writes the row.
pub async fn prompt(
    ctx: &Ctx,
    p: &PromptInput,
    author: Option<&ParticipantRow>,
) -> ApiResult<Queued> {
    // Every prompt's author must still read the repository (REPO_ACCESS=user).
    let session = ctx.store.existing_session()?;
    let author_id = author.map_or(p.author_id.as_str(), |a| a.user_id.as_str());
    access::require_reader(ctx, &session, author_id, None).await?;
    let queued = queue::enqueue(ctx, p, author)?;
    alarm::kick(ctx).await;
    ctx.index_later("after a prompt");
    Ok(queued)
}

/// Stops the message in progress, if any (see `queue::stop`), tells the sandbox to stop,
/// and moves the queue on.
pub async fn stop(ctx: &Ctx) -> ApiResult<bool> {
    ctx.store.existing_session()?;
    let stopped = queue::stop(ctx)?;
    link::send(ctx, &Outbound::Stop);
    if stopped {
        alarm::kick(ctx).await;
    }
    Ok(stopped)
}

/// One page of a list, newest first: `{<kind>: [...], cursor, hasMore}` (`cursor`: an
/// opaque string, set when the page is not empty).
fn list(ctx: &Ctx, kind: ListKind, page: &Page) -> ApiResult<Response> {
    ctx.store.existing_session()?;
    let w = ctx.store.page(kind, page)?;
    // The rows are kept as the JSON texts they already are.
    let body = Object::new()
        .raws(kind.as_str(), &w.rows)
        .field("cursor", &w.cursor.map(|c| c.to_string()))
        .field("hasMore", &w.has_more);
    respond::object(200, body)
}

async fn ws_token(ctx: &Ctx, p: &ParticipantInput) -> ApiResult<Response> {
    let row = join(ctx, p, Role::Member).await?;
    let token = random::token()?;
    let now = now_ms();
    let expired_before = now - WS_TOKEN_TTL_MS;
    ctx.store
        .add_ws_token(&row.id, &random::sha256_hex(&token), now, expired_before)?;
    respond::object(
        200,
        Object::new()
            .field("token", &token)
            .field("participantId", &row.id),
    )
}
