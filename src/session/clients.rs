//! Browser WebSockets on the session: accepting them (hibernatable, tagged), the
//! `subscribe` handshake, the client messages, broadcasts, and the subscription deadline.

use worker::{Response, WebSocket, WebSocketIncomingMessage, WebSocketPair};

use crate::auth::random;
use crate::error::{ApiError, ApiResult};
use crate::session::command::{ListKind, PromptInput};
use crate::session::object::{now_ms, SessionObject};
use crate::session::paging::{Page, DEFAULT_LIMIT, MAX_LIMIT};
use crate::session::protocol::{parse_client, ClientMessage, Replay, ServerMessage};
use crate::session::sockets::{
    next_deadline, subscribe_expired, ws_token_valid, ClientAttachment, CLIENT_TAG,
    CLOSE_AUTH_FAILED, CLOSE_SUBSCRIBE_TIMEOUT,
};
use crate::session::{actions, sandbox_runner};

/// Accepts a client socket; it must `subscribe` within the deadline.
pub async fn accept(obj: &SessionObject) -> ApiResult<Response> {
    actions::existing(obj)?;
    let pair = WebSocketPair::new()?;
    obj.state
        .accept_websocket_with_tags(&pair.server, &[CLIENT_TAG]);
    let now = now_ms();
    pair.server.serialize_attachment(ClientAttachment {
        connected_at: now,
        participant_id: None,
        user_id: None,
        client_id: None,
    })?;
    // Arms the alarm for this socket's subscription deadline.
    sandbox_runner::kick(obj).await;
    Ok(Response::from_websocket(pair.client)?)
}

fn send(ws: &WebSocket, msg: &ServerMessage) {
    // A socket that is already closing cannot be written to; nothing to do then.
    let _ = ws.send_with_str(msg.to_text());
}

fn attachment(ws: &WebSocket) -> Option<ClientAttachment> {
    ws.deserialize_attachment::<ClientAttachment>()
        .ok()
        .flatten()
}

/// The subscribed client sockets. Derived from the sockets' attachments and kept in memory
/// until a client subscribes or a socket closes (and rebuilt after hibernation, when memory
/// starts empty), so a broadcast does not re-read every attachment.
fn subscribers(obj: &SessionObject) -> Vec<WebSocket> {
    if let Some(list) = obj.subscribers.borrow().as_ref() {
        return list.clone();
    }
    let list: Vec<WebSocket> = obj
        .state
        .get_websockets_with_tag(CLIENT_TAG)
        .into_iter()
        .filter(|ws| attachment(ws).is_some_and(|a| a.is_subscribed()))
        .collect();
    *obj.subscribers.borrow_mut() = Some(list.clone());
    list
}

/// Forgets the derived list of subscribers (a client subscribed or a socket closed).
pub fn subscribers_changed(obj: &SessionObject) {
    *obj.subscribers.borrow_mut() = None;
}

/// Sends `msg` to every subscribed client.
pub fn broadcast(obj: &SessionObject, msg: &ServerMessage) {
    let text = msg.to_text();
    for ws in subscribers(obj) {
        let _ = ws.send_with_str(&text);
    }
}

/// How many clients are subscribed.
pub fn subscribed_count(obj: &SessionObject) -> usize {
    subscribers(obj).len()
}

/// Closes every socket (clients and sandbox).
pub fn close_all(obj: &SessionObject, code: u16, reason: &str) {
    subscribers_changed(obj);
    for ws in obj.state.get_websockets() {
        let _ = ws.close(Some(code), Some(reason));
    }
}

/// Handles one frame from a client; errors are answered on the socket, never fatal.
pub async fn on_message(obj: &SessionObject, ws: &WebSocket, message: WebSocketIncomingMessage) {
    let WebSocketIncomingMessage::String(text) = message else {
        send(
            ws,
            &ServerMessage::error("invalid_message", "frames must be JSON text"),
        );
        return;
    };
    let Some(att) = attachment(ws) else {
        let _ = ws.close(Some(1011), Some("unknown connection"));
        return;
    };
    let result = match parse_client(&text) {
        Ok(msg) => handle(obj, ws, att, msg).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        send(ws, &ServerMessage::error(&e.code, e.message));
    }
}

async fn handle(
    obj: &SessionObject,
    ws: &WebSocket,
    att: ClientAttachment,
    msg: ClientMessage,
) -> ApiResult<()> {
    match msg {
        ClientMessage::Ping => send(
            ws,
            &ServerMessage::Pong {
                timestamp: now_ms(),
            },
        ),
        ClientMessage::Subscribe { token, client_id } => {
            subscribe(obj, ws, att, &token, client_id)?
        }
        _ if !att.is_subscribed() => {
            return Err(ApiError::new(401, "not_subscribed", "send subscribe first"));
        }
        ClientMessage::Prompt { content, model } => {
            let author = att
                .user_id
                .as_deref()
                .and_then(|u| obj.store.participant_by_user(u).ok().flatten())
                .ok_or_else(|| ApiError::forbidden("participant no longer exists"))?;
            let input = PromptInput {
                content,
                author_id: author.user_id.clone(),
                source: Some("web".into()),
                model,
            };
            input.validate()?;
            let (message_id, position) = actions::enqueue(obj, input, Some(&author)).await?;
            send(
                ws,
                &ServerMessage::PromptQueued {
                    message_id,
                    position,
                },
            );
        }
        ClientMessage::Stop => {
            actions::stop_processing(obj).await?;
        }
        ClientMessage::FetchHistory { cursor, limit } => {
            let page = Page {
                cursor,
                limit: limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
                event_type: None,
            };
            send(
                ws,
                &ServerMessage::HistoryPage {
                    page: replay(obj, &page)?,
                },
            );
        }
    }
    Ok(())
}

/// A page of events in the order they happened (the page itself is the newest ones
/// before `page.cursor`).
fn replay(obj: &SessionObject, page: &Page) -> ApiResult<Replay> {
    let (mut events, has_more, cursor) = actions::page(obj, ListKind::Events, page)?;
    events.reverse();
    Ok(Replay {
        events,
        has_more,
        cursor,
    })
}

fn subscribe(
    obj: &SessionObject,
    ws: &WebSocket,
    att: ClientAttachment,
    token: &str,
    client_id: String,
) -> ApiResult<()> {
    let participant = obj
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
    let session = actions::existing(obj)?;
    subscribers_changed(obj);
    ws.serialize_attachment(ClientAttachment {
        participant_id: Some(participant.id.clone()),
        user_id: Some(participant.user_id.clone()),
        client_id: Some(client_id),
        ..att
    })?;
    let sandbox = obj.store.sandbox()?;
    send(
        ws,
        &ServerMessage::Subscribed {
            session_id: session.id.clone(),
            state: session.view(sandbox.as_ref()),
            participant_id: participant.id,
            replay: replay(obj, &Page::default())?,
        },
    );
    Ok(())
}

/// Closes sockets that never subscribed in time; answers the next deadline still ahead.
pub fn expire_unsubscribed(obj: &SessionObject, now: i64) -> Option<i64> {
    let mut waiting = Vec::new();
    for ws in obj.state.get_websockets_with_tag(CLIENT_TAG) {
        let Some(att) = attachment(&ws) else { continue };
        if subscribe_expired(&att, now) {
            let _ = ws.close(Some(CLOSE_SUBSCRIBE_TIMEOUT), Some("subscribe timeout"));
        } else {
            waiting.push(att);
        }
    }
    next_deadline(&waiting, now)
}
