//! The sandbox's socket: the upgrade (checked by `auth`; a new connection replaces the
//! old), finding the current sandbox's socket (never one of an earlier sandbox), sending to
//! it, and closing it.

use std::rc::Rc;

use worker::{Response, WebSocket, WebSocketPair};

use crate::auth::service_token;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::session::ctx::Ctx;
use crate::session::sandbox::auth;
use crate::session::sandbox::policy::Status;
use crate::session::sandbox::protocol::Outbound;
use crate::session::socket;

/// The tag of the sandbox's socket.
pub const SANDBOX_TAG: &str = "sandbox";

/// The attachment of the sandbox's socket.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxAttachment {
    pub sandbox_id: String,
    pub connected_at: i64,
}

fn attachment(ws: &WebSocket) -> Option<SandboxAttachment> {
    socket::attachment(ws)
}

/// The sandbox `ws` belongs to, if it is the sandbox socket that sent last.
fn remembered(ctx: &Ctx, ws: &WebSocket) -> Option<Rc<str>> {
    match &*ctx.sandbox_socket.borrow() {
        Some((known, id)) if known.as_ref() == ws.as_ref() => Some(Rc::clone(id)),
        _ => None,
    }
}

/// Whether `ws` is a sandbox socket (by its tag).
pub fn is_sandbox_socket(ctx: &Ctx, ws: &WebSocket) -> bool {
    remembered(ctx, ws).is_some() || ctx.state.get_tags(ws).iter().any(|t| t == SANDBOX_TAG)
}

/// Whether a sandbox socket other than `closing` is open for the current sandbox: the one
/// that replaced it.
pub fn replaced(ctx: &Ctx, closing: &WebSocket) -> bool {
    let Some(id) = ctx
        .store
        .sandbox()
        .ok()
        .flatten()
        .and_then(|r| r.sandbox_id)
    else {
        return false;
    };
    ctx.state
        .get_websockets_with_tag(SANDBOX_TAG)
        .into_iter()
        .filter(|ws| ws.as_ref() != closing.as_ref())
        .filter(|ws| ws.as_ref().ready_state() == 1)
        .any(|ws| attachment(&ws).is_some_and(|a| a.sandbox_id == id))
}

/// Checks a sandbox's bearer token (the PR route, where the sandbox does not say its id).
pub fn authenticate_token(ctx: &Ctx, token: &str) -> ApiResult<String> {
    auth::authenticate(ctx.store.sandbox()?.as_ref(), None, Some(token))
}

/// [`authenticate_token`] as a sandbox route answers it: a sandbox given up on is told so
/// (410); any other failure is one 401.
pub fn authenticate_route(ctx: &Ctx, token: &str) -> ApiResult<String> {
    authenticate_token(ctx, token).map_err(|e| match e.status {
        410 => e,
        _ => ApiError::unauthorized("invalid sandbox token"),
    })
}

/// Accepts the sandbox's socket after checking who it is.
pub fn accept(ctx: &Ctx, req: &Incoming) -> ApiResult<Response> {
    ctx.store.existing_session()?;
    let headers = req.headers();
    let claimed = headers.get("x-sandbox-id")?.unwrap_or_default();
    let authorization = headers.get("authorization")?;
    let token = service_token::bearer(authorization.as_deref())
        .map_err(|e| ApiError::unauthorized(e.message()));
    let current = ctx.store.sandbox()?;
    let sandbox_id = match auth::authenticate(
        current.as_ref(),
        Some(&claimed),
        token.as_ref().ok().copied(),
    ) {
        // Without a readable bearer, say why in the bearer's own words.
        Err(e) if e.status == 401 => return Err(token.err().unwrap_or(e)),
        other => other?,
    };
    // A new connection replaces the old one.
    close(ctx, 1000, "replaced by a new connection");
    let pair = WebSocketPair::new()?;
    ctx.state
        .accept_websocket_with_tags(&pair.server, &[SANDBOX_TAG]);
    let now = now_ms();
    socket::attach(
        &pair.server,
        &SandboxAttachment {
            sandbox_id,
            connected_at: now,
        },
    )?;
    ctx.store.sandbox_activity(now)?;
    ctx.store.sandbox_disconnected(None)?;
    Ok(Response::from_websocket(pair.client)?)
}

/// Whether this sandbox socket belongs to the current, live sandbox. Which sandbox it
/// belongs to is read from its attachment once, then remembered while it keeps sending.
pub fn is_current(ctx: &Ctx, ws: &WebSocket) -> bool {
    let id = match remembered(ctx, ws) {
        Some(id) => id,
        None => {
            let Some(a) = attachment(ws) else {
                return false;
            };
            let id: Rc<str> = a.sandbox_id.into();
            *ctx.sandbox_socket.borrow_mut() = Some((ws.clone(), Rc::clone(&id)));
            id
        }
    };
    match ctx.store.sandbox().ok().flatten() {
        Some(r) => r.sandbox_id.as_deref() == Some(&*id) && r.status != Status::Stopped,
        None => false,
    }
}

/// The open socket of the current sandbox, if any (never one of an earlier sandbox).
pub fn socket(ctx: &Ctx) -> Option<WebSocket> {
    let current = ctx.store.sandbox().ok()??;
    if current.status == Status::Stopped {
        return None;
    }
    let id = current.sandbox_id?;
    ctx.state
        .get_websockets_with_tag(SANDBOX_TAG)
        .into_iter()
        .find(|ws| attachment(ws).is_some_and(|a| a.sandbox_id == id))
}

/// Sends a message to the sandbox; answers whether there was a socket to send on.
pub fn send(ctx: &Ctx, msg: &Outbound) -> bool {
    match socket(ctx) {
        Some(ws) => ws.send_with_str(msg.to_text()).is_ok(),
        None => false,
    }
}

/// Sends a message on this very socket (answers to what it sent).
pub fn reply(ws: &WebSocket, msg: &Outbound) {
    let _ = ws.send_with_str(msg.to_text());
}

/// Closes every sandbox socket.
pub fn close(ctx: &Ctx, code: u16, reason: &str) {
    for ws in ctx.state.get_websockets_with_tag(SANDBOX_TAG) {
        let _ = ws.close(Some(code), Some(reason));
    }
}
