//! What a client sends on its socket: `subscribe` (ws-token check, state, replay, presence),
//! `ping`, `presence`, `fetch_history`, and `prompt`/`stop`/`typing`, which are handed back
//! to the dispatcher as a [`Request`] because the queue and the sandbox own them. Unknown
//! types are ignored; errors are answered on the socket, never fatal.

use crate::raw::{Object, Raw};
use worker::{WebSocket, WebSocketIncomingMessage};

use crate::auth::random;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::session::client::link::{self, attachment, broadcast, present, send};
use crate::session::client::policy::{
    history_too_soon, ws_token_valid, ClientAttachment, CLOSE_AUTH_FAILED, CLOSE_IDENTITY_LOST,
};
use crate::session::client::protocol::{
    parse_client, ClientMessage, HistoryCursor, ParticipantInfo, Replay, ServerMessage,
};
use crate::session::command::PromptInput;
use crate::session::ctx::Ctx;
use crate::session::model::{EventRow, ParticipantRow, SandboxRow, SandboxStatus, SessionRow};
use crate::session::paging::Page;
use crate::session::socket;

/// Events replayed on subscribe, newest first (sent oldest first).
pub const REPLAY_LIMIT: u32 = 500;
/// `fetch_history`'s default and largest page.
pub const HISTORY_DEFAULT: i64 = 200;
pub const HISTORY_MAX: i64 = 500;

/// A client's request that another part of the session carries out.
#[derive(Debug)]
pub enum Request {
    /// Queue this validated prompt by this participant; answer `prompt_queued`.
    Prompt {
        input: PromptInput,
        author: Box<ParticipantRow>,
    },
    /// Stop the message in progress.
    Stop,
    /// Someone is typing: warm the sandbox up for this user.
    Typing { user_id: String },
}

/// Handles one frame; answers what is left for the dispatcher to do, if anything.
pub fn on_message(ctx: &Ctx, ws: &WebSocket, message: WebSocketIncomingMessage) -> Option<Request> {
    let WebSocketIncomingMessage::String(text) = message else {
        send(
            ws,
            &ServerMessage::error("invalid_message", "frames must be JSON text"),
        );
        return None;
    };
    let Some(att) = attachment(ws) else {
        let _ = ws.close(Some(CLOSE_IDENTITY_LOST), Some("session expired"));
        return None;
    };
    let result = match parse_client(&text) {
        Ok(Some(msg)) => handle(ctx, ws, att, msg),
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    answer(ws, result).flatten()
}

/// Answers an error on the socket; passes a success through.
pub fn answer<T>(ws: &WebSocket, result: ApiResult<T>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            send(ws, &ServerMessage::error(&e.code, e.message));
            None
        }
    }
}

fn handle(
    ctx: &Ctx,
    ws: &WebSocket,
    att: ClientAttachment,
    msg: ClientMessage,
) -> ApiResult<Option<Request>> {
    let now = now_ms();
    match msg {
        ClientMessage::Ping => send(ws, &ServerMessage::Pong { timestamp: now }),
        ClientMessage::Subscribe { token, client_id } => {
            subscribe(ctx, ws, att, token.as_deref(), client_id)?
        }
        _ if !att.is_subscribed() => {
            return Err(ApiError::new(401, "NOT_SUBSCRIBED", "send subscribe first"));
        }
        ClientMessage::Prompt {
            content,
            model,
            reasoning_effort,
        } => {
            let author = att
                .user_id
                .as_deref()
                .and_then(|u| ctx.store.participant_by_user(u).ok().flatten())
                .ok_or_else(|| ApiError::forbidden("participant no longer exists"))?;
            let input = PromptInput {
                content,
                author_id: author.user_id.clone(),
                source: Some("web".into()),
                model,
                reasoning_effort,
            };
            input.validate()?;
            return Ok(Some(Request::Prompt {
                input,
                author: Box::new(author),
            }));
        }
        ClientMessage::Stop => return Ok(Some(Request::Stop)),
        ClientMessage::Typing => {
            let user_id = att.user_id.unwrap_or_default();
            return Ok(Some(Request::Typing { user_id }));
        }
        ClientMessage::Presence { status } => {
            socket::attach(
                ws,
                &ClientAttachment {
                    presence: status.unwrap_or_default(),
                    last_seen: now,
                    ..att
                },
            )?;
            link::subscribers_changed(ctx);
            let participants = present(ctx);
            broadcast(ctx, &ServerMessage::PresenceUpdate { participants });
        }
        ClientMessage::FetchHistory { cursor, limit } => {
            if history_too_soon(&att, now) {
                return Err(ApiError::new(
                    429,
                    "RATE_LIMITED",
                    "fetch_history too often",
                ));
            }
            socket::attach(
                ws,
                &ClientAttachment {
                    last_history_at: Some(now),
                    ..att
                },
            )?;
            let before = match cursor {
                None => None,
                Some(c) => Some(ctx.store.event_seq(&c.id)?.ok_or_else(|| {
                    ApiError::new(400, "INVALID_CURSOR", "the cursor names no stored event")
                })?),
            };
            let limit = limit.unwrap_or(HISTORY_DEFAULT).clamp(1, HISTORY_MAX) as u32;
            let page = replay(ctx, before, limit)?;
            send(
                ws,
                &ServerMessage::HistoryPage {
                    items: page.events,
                    has_more: page.has_more,
                    cursor: page.cursor,
                },
            );
        }
    }
    Ok(None)
}

/// The newest `limit` events before the event at `before` (a log position), oldest first,
/// with the cursor of the oldest.
fn replay(ctx: &Ctx, before: Option<i64>, limit: u32) -> ApiResult<Replay> {
    let page = Page {
        cursor: before,
        limit,
        ..Page::default()
    };
    let w = ctx.store.events(&page)?;
    let cursor = w.rows.last().map(|oldest: &EventRow| HistoryCursor {
        timestamp: oldest.created_at,
        id: oldest.id.clone(),
    });
    Ok(Replay {
        events: w.rows.into_iter().rev().map(|e| e.data).collect(),
        has_more: w.has_more,
        cursor,
    })
}

/// The session as a subscribing client sees it.
fn state(ctx: &Ctx, s: &SessionRow, sandbox: Option<&SandboxRow>) -> ApiResult<Raw> {
    let state = Object::new()
        .field("id", &s.id)
        .field("title", &s.title)
        .field("repoOwner", &s.repo_owner)
        .field("repoName", &s.repo_name)
        .field("baseBranch", &s.base_branch)
        .field("branchName", &s.branch_name)
        .field("status", &s.status)
        .field(
            "sandboxStatus",
            &sandbox
                .map_or(SandboxStatus::None, |r| r.status)
                .client_name(),
        )
        .field("messageCount", &ctx.store.message_count()?)
        .field("createdAt", &s.created_at)
        .field("model", &s.model)
        .field("reasoningEffort", &s.reasoning_effort)
        .field("isProcessing", &ctx.store.processing_message()?.is_some())
        .field("parentSessionId", &())
        .field("vcsProvider", &s.vcs_provider)
        .field("sandbox", &sandbox.map(SandboxRow::view))
        .into_raw();
    Ok(state)
}

fn subscribe(
    ctx: &Ctx,
    ws: &WebSocket,
    att: ClientAttachment,
    token: Option<&str>,
    client_id: Option<String>,
) -> ApiResult<()> {
    let participant = match token.filter(|t| !t.is_empty()) {
        Some(t) => ctx
            .store
            .participant_by_ws_token(&random::sha256_hex(t))?
            .filter(|(_, issued_at)| ws_token_valid(*issued_at, now_ms()))
            .map(|(p, _)| p),
        None => None,
    };
    let Some(participant) = participant else {
        let _ = ws.close(Some(CLOSE_AUTH_FAILED), Some("invalid or expired token"));
        return Ok(());
    };
    let session = ctx.store.existing_session()?;
    let name = participant.display_name();
    socket::attach(
        ws,
        &ClientAttachment {
            participant_id: Some(participant.id.clone()),
            user_id: Some(participant.user_id.clone()),
            client_id,
            name: Some(name.clone()),
            last_seen: now_ms(),
            ..att
        },
    )?;
    link::subscribers_changed(ctx);
    let sandbox = ctx.store.sandbox()?;
    let spawn_error = sandbox
        .as_ref()
        .filter(|s| s.status == SandboxStatus::Failed)
        .and_then(|s| s.last_error.clone());
    send(
        ws,
        &ServerMessage::Subscribed {
            session_id: session.id.clone(),
            state: state(ctx, &session, sandbox.as_ref())?,
            participant_id: participant.id.clone(),
            participant: ParticipantInfo {
                participant_id: participant.id,
                name,
            },
            replay: replay(ctx, None, REPLAY_LIMIT)?,
            spawn_error,
        },
    );
    let participants = present(ctx);
    send(
        ws,
        &ServerMessage::PresenceSync {
            participants: participants.clone(),
        },
    );
    broadcast(ctx, &ServerMessage::PresenceUpdate { participants });
    Ok(())
}
