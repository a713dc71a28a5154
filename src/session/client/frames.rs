//! What a client sends on its socket: `subscribe` (ws-token check, state, replay, presence),
//! `ping`, `presence`, `fetch_history`, and `prompt`/`stop`/`typing`, which are handed back
//! to the dispatcher as a [`Request`] because the queue and the sandbox own them. Unknown
//! types are ignored; errors are answered on the socket, never fatal.

use worker::{WebSocket, WebSocketIncomingMessage};

use crate::auth::random;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::session::client::link::{self, attachment, broadcast, present, send};
use crate::session::client::policy::{
    history_too_soon, presence_too_soon, ws_token_valid, ClientAttachment, CLOSE_AUTH_FAILED,
    CLOSE_IDENTITY_LOST,
};
use crate::session::client::protocol::{
    parse_client, ClientMessage, ParticipantInfo, ServerMessage,
};
use crate::session::command::PromptInput;
use crate::session::ctx::Ctx;
use crate::session::model::ParticipantRow;
use crate::session::snapshot;
use crate::session::socket;

/// `fetch_history`'s default and largest page.
pub const HISTORY_DEFAULT: i64 = 200;
pub const HISTORY_MAX: i64 = 500;

/// A client's request that another part of the session carries out.
#[derive(Debug)]
pub enum Request {
    /// Queue this validated prompt by this participant; answer `prompt_queued` (echoing
    /// `client_request_id`).
    Prompt {
        input: PromptInput,
        author: Box<ParticipantRow>,
        client_request_id: Option<String>,
    },
    /// Withdraw this pending prompt; answer `prompt_cancelled`.
    Cancel {
        message_id: String,
        client_request_id: Option<String>,
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
            client_request_id,
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
                callback_context: None,
            };
            if let Err(e) = input.validate() {
                let refused =
                    ServerMessage::error_for("INVALID_PROMPT", e.message, client_request_id);
                send(ws, &refused);
                return Ok(None);
            }
            return Ok(Some(Request::Prompt {
                input,
                author: Box::new(author),
                client_request_id,
            }));
        }
        ClientMessage::CancelPrompt {
            message_id,
            client_request_id,
        } => {
            return Ok(Some(Request::Cancel {
                message_id,
                client_request_id,
            }))
        }
        ClientMessage::Stop => return Ok(Some(Request::Stop)),
        ClientMessage::Typing => {
            let user_id = att.user_id.unwrap_or_default();
            return Ok(Some(Request::Typing { user_id }));
        }
        ClientMessage::Presence { status } => {
            // Relayed to everyone: at most as often as history may be fetched.
            if presence_too_soon(&att, now) {
                return Ok(None);
            }
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
            let page = snapshot::timeline(ctx, before, limit)?;
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
    ctx.store.existing_session()?;
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
    send(
        ws,
        &ServerMessage::Subscribed {
            snapshot: Box::new(snapshot::build(ctx)?),
            participant_id: participant.id.clone(),
            participant: ParticipantInfo {
                participant_id: participant.id,
                user_id: participant.user_id,
                name,
            },
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
