//! The client sockets: accepting them (hibernatable, tagged), their attachments, the derived
//! list of subscribers, broadcasts to all of them, closing, and the subscription deadline.

use std::rc::Rc;

use worker::js_sys::JsString;
use worker::worker_sys::web_sys;
use worker::{Response, WebSocket, WebSocketPair};

use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::session::client::policy::{
    admit, next_deadline, subscribe_expired, Admit, ClientAttachment, CLIENT_TAG,
    CLOSE_SUBSCRIBE_TIMEOUT, MAX_CLIENT_SOCKETS, SUBSCRIBE_DEADLINE_MS,
};
use crate::session::client::protocol::{Present, ServerMessage};
use crate::session::ctx::Ctx;
use crate::session::socket;

/// Accepts a client socket; it must `subscribe` before the deadline answered with it (the
/// caller arms the alarm for it).
pub fn accept(ctx: &Ctx) -> ApiResult<(Response, i64)> {
    ctx.store.existing_session()?;
    let sockets = ctx.state.get_websockets_with_tag(CLIENT_TAG);
    let (mut subscribed, mut waiting) = (0, Vec::new());
    for ws in &sockets {
        match attachment(ws) {
            Some(a) if a.is_subscribed() => subscribed += 1,
            Some(a) => waiting.push((ws, a.connected_at)),
            None => {}
        }
    }
    let since: Vec<i64> = waiting.iter().map(|(_, at)| *at).collect();
    match admit(subscribed, &since) {
        Admit::Refuse => {
            return Err(ApiError::new(
                429,
                "too_many_connections",
                format!("at most {MAX_CLIENT_SOCKETS} clients may connect to one session"),
            ))
        }
        Admit::Evict(i) => {
            let _ = waiting[i].0.close(
                Some(CLOSE_SUBSCRIBE_TIMEOUT),
                Some("made room for a new connection"),
            );
        }
        Admit::Accept => {}
    }
    let pair = WebSocketPair::new()?;
    ctx.state
        .accept_websocket_with_tags(&pair.server, &[CLIENT_TAG]);
    let now = now_ms();
    socket::attach(&pair.server, &ClientAttachment::new(now))?;
    Ok((
        Response::from_websocket(pair.client)?,
        now + SUBSCRIBE_DEADLINE_MS,
    ))
}

/// Sends one message to one socket.
pub fn send(ws: &WebSocket, msg: &ServerMessage) {
    // A socket that is already closing cannot be written to; nothing to do then.
    let _ = ws.send_with_str(msg.to_text());
}

/// What the session remembers about a client socket.
pub fn attachment(ws: &WebSocket) -> Option<ClientAttachment> {
    socket::attachment(ws)
}

/// The subscribed client sockets. Derived from the sockets' attachments and kept in memory
/// until a client subscribes or a socket closes (and rebuilt after hibernation, when memory
/// starts empty), so a broadcast does not re-read every attachment.
fn subscribers(ctx: &Ctx) -> Rc<[WebSocket]> {
    if let Some(list) = ctx.subscribers.borrow().as_ref() {
        return Rc::clone(list);
    }
    let list: Rc<[WebSocket]> = ctx
        .state
        .get_websockets_with_tag(CLIENT_TAG)
        .into_iter()
        .filter(|ws| is_open(ws) && attachment(ws).is_some_and(|a| a.is_subscribed()))
        .collect();
    *ctx.subscribers.borrow_mut() = Some(Rc::clone(&list));
    list
}

/// Whether a socket is open: one whose close is being handled is still listed by the
/// runtime, and is no longer here.
fn is_open(ws: &WebSocket) -> bool {
    ws.as_ref().ready_state() == web_sys::WebSocket::OPEN
}

/// Forgets the derived list of subscribers (a client subscribed or a socket closed).
pub fn subscribers_changed(ctx: &Ctx) {
    *ctx.subscribers.borrow_mut() = None;
}

/// Sends `msg` to every subscribed client (serialized, and made a JavaScript string, once).
pub fn broadcast(ctx: &Ctx, msg: &ServerMessage) {
    let subscribers = subscribers(ctx);
    if subscribers.is_empty() {
        return;
    }
    let text = JsString::from(msg.to_text());
    for ws in subscribers.iter() {
        socket::send_shared(ws, &text);
    }
}

/// How many clients are subscribed.
pub fn subscribed_count(ctx: &Ctx) -> usize {
    subscribers(ctx).len()
}

/// Who is here: one entry per subscribed participant (several tabs count once).
pub fn present(ctx: &Ctx) -> Vec<Present> {
    let mut out: Vec<Present> = Vec::new();
    for a in subscribers(ctx).iter().filter_map(attachment) {
        let (Some(participant_id), Some(user_id)) = (a.participant_id, a.user_id) else {
            continue;
        };
        if out.iter().any(|p| p.participant_id == participant_id) {
            continue;
        }
        out.push(Present {
            name: a.name.unwrap_or_else(|| user_id.clone()),
            participant_id,
            user_id,
            status: a.presence,
            last_seen: a.last_seen,
        });
    }
    out
}

/// A client socket closed: the others are told when its user has no socket left. Answers
/// how many subscribed clients remain.
pub fn left(ctx: &Ctx, ws: &WebSocket) -> usize {
    subscribers_changed(ctx);
    // The closing socket is no longer open, so it is not among them.
    let subscribers = subscribers(ctx);
    let remaining = subscribers.len();
    let Some(user_id) = attachment(ws).and_then(|a| a.participant_id.and(a.user_id)) else {
        return remaining;
    };
    let still_here = subscribers
        .iter()
        .filter_map(attachment)
        .any(|a| a.user_id.as_deref() == Some(user_id.as_str()));
    if !still_here {
        broadcast(ctx, &ServerMessage::PresenceLeave { user_id });
    }
    remaining
}

/// Closes every socket of the session (clients and sandbox).
pub fn close_all(ctx: &Ctx, code: u16, reason: &str) {
    subscribers_changed(ctx);
    for ws in ctx.state.get_websockets() {
        let _ = ws.close(Some(code), Some(reason));
    }
}

/// Closes sockets that never subscribed in time; answers the next deadline still ahead.
pub fn expire_unsubscribed(ctx: &Ctx, now: i64) -> Option<i64> {
    let mut waiting = Vec::new();
    for ws in ctx.state.get_websockets_with_tag(CLIENT_TAG) {
        let Some(att) = attachment(&ws) else { continue };
        if subscribe_expired(&att, now) {
            let _ = ws.close(Some(CLOSE_SUBSCRIBE_TIMEOUT), Some("subscribe timeout"));
        } else {
            waiting.push(att);
        }
    }
    next_deadline(&waiting, now)
}
