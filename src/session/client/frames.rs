//! What a client sends on its socket: `subscribe` (ws-token check, state and replay),
//! `ping`, `fetch_history`, and `prompt`/`stop`, which are handed back to the dispatcher as
//! a [`Request`] because the queue and the sandbox own them. Errors are answered on the
//! socket, never fatal.

use worker::{WebSocket, WebSocketIncomingMessage};

use crate::auth::random;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::session::client::link::{self, attachment, send};
use crate::session::client::policy::{ws_token_valid, ClientAttachment, CLOSE_AUTH_FAILED};
use crate::session::client::protocol::{parse_client, ClientMessage, Replay, ServerMessage};
use crate::session::command::{ListKind, PromptInput};
use crate::session::ctx::Ctx;
use crate::session::model::ParticipantRow;
use crate::session::paging::{Page, DEFAULT_LIMIT, MAX_LIMIT};

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
        let _ = ws.close(Some(1011), Some("unknown connection"));
        return None;
    };
    let result = parse_client(&text).and_then(|msg| handle(ctx, ws, att, msg));
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
    match msg {
        ClientMessage::Ping => send(
            ws,
            &ServerMessage::Pong {
                timestamp: now_ms(),
            },
        ),
        ClientMessage::Subscribe { token, client_id } => {
            subscribe(ctx, ws, att, &token, client_id)?
        }
        _ if !att.is_subscribed() => {
            return Err(ApiError::new(401, "not_subscribed", "send subscribe first"));
        }
        ClientMessage::Prompt { content, model } => {
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
            };
            input.validate()?;
            return Ok(Some(Request::Prompt {
                input,
                author: Box::new(author),
            }));
        }
        ClientMessage::Stop => return Ok(Some(Request::Stop)),
        ClientMessage::FetchHistory { cursor, limit } => {
            let page = Page {
                cursor,
                limit: limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
                event_type: None,
            };
            send(
                ws,
                &ServerMessage::HistoryPage {
                    page: replay(ctx, &page)?,
                },
            );
        }
    }
    Ok(None)
}

/// A page of events in the order they happened (the page itself is the newest ones
/// before `page.cursor`).
fn replay(ctx: &Ctx, page: &Page) -> ApiResult<Replay> {
    ctx.store.existing_session()?;
    let mut w = ctx.store.page(ListKind::Events, page)?;
    w.rows.reverse();
    Ok(Replay {
        events: w.rows,
        has_more: w.has_more,
        cursor: w.cursor,
    })
}

fn subscribe(
    ctx: &Ctx,
    ws: &WebSocket,
    att: ClientAttachment,
    token: &str,
    client_id: String,
) -> ApiResult<()> {
    let participant = ctx
        .store
        .participant_by_ws_token(&random::sha256_hex(token))?
        .filter(|p| {
            p.ws_token_issued_at
                .is_some_and(|at| ws_token_valid(at, now_ms()))
        });
    let Some(participant) = participant else {
        let _ = ws.close(Some(CLOSE_AUTH_FAILED), Some("invalid or expired token"));
        return Ok(());
    };
    let session = ctx.store.existing_session()?;
    link::subscribers_changed(ctx);
    ws.serialize_attachment(ClientAttachment {
        participant_id: Some(participant.id.clone()),
        user_id: Some(participant.user_id.clone()),
        client_id: Some(client_id),
        ..att
    })?;
    let sandbox = ctx.store.sandbox()?;
    send(
        ws,
        &ServerMessage::Subscribed {
            session_id: session.id.clone(),
            state: session.view(sandbox.as_ref()),
            participant_id: participant.id,
            replay: replay(ctx, &Page::default())?,
        },
    );
    Ok(())
}
