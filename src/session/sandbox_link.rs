//! The sandbox's WebSocket: the upgrade (410 stopped, 403 wrong sandbox, 401 bad token,
//! in that order; a new connection replaces the old), and the frames it sends: `ready`,
//! `heartbeat`, and events, stored once, broadcast, and acknowledged when critical.

use subtle::ConstantTimeEq;
use worker::{Request, Response, WebSocket, WebSocketIncomingMessage, WebSocketPair};

use crate::auth::{random, service_token};
use crate::error::{ApiError, ApiResult};
use crate::session::object::{now_ms, SessionObject};
use crate::session::protocol::ServerMessage;
use crate::session::sandbox_policy::Status;
use crate::session::sandbox_protocol::{parse_inbound, Event, Inbound, Outbound};
use crate::session::sandbox_runner::{self, SandboxAttachment, SANDBOX_TAG};
use crate::session::{actions, clients};

/// Checks the sandbox's credentials against the current sandbox.
pub fn authenticate(
    obj: &SessionObject,
    sandbox_id: Option<&str>,
    bearer: Option<&str>,
) -> ApiResult<String> {
    let sandbox = obj
        .store
        .sandbox()?
        .filter(|s| s.sandbox_id.is_some())
        .ok_or_else(|| ApiError::new(410, "sandbox_gone", "this session has no sandbox"))?;
    if Status::parse(&sandbox.status) == Status::Stopped {
        return Err(ApiError::new(
            410,
            "sandbox_gone",
            "the sandbox was stopped",
        ));
    }
    let current = sandbox.sandbox_id.unwrap_or_default();
    // `None`: the caller did not say which sandbox it is (the PR route); the token decides.
    if sandbox_id.is_some_and(|id| id != current) {
        return Err(ApiError::forbidden(
            "X-Sandbox-ID does not match this session's sandbox",
        ));
    }
    let token = service_token::bearer(bearer).map_err(|e| ApiError::unauthorized(e.message()))?;
    let expected = sandbox.token_hash.unwrap_or_default();
    let given = random::sha256_hex(token);
    if expected.is_empty() || !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(ApiError::unauthorized("invalid sandbox token"));
    }
    Ok(current)
}

pub async fn accept(obj: &SessionObject, req: &Request) -> ApiResult<Response> {
    actions::existing(obj)?;
    let headers = req.headers();
    let claimed = headers.get("x-sandbox-id")?.unwrap_or_default();
    let sandbox_id = authenticate(
        obj,
        Some(&claimed),
        headers.get("authorization")?.as_deref(),
    )?;
    // A new connection replaces the old one.
    for old in obj.state.get_websockets_with_tag(SANDBOX_TAG) {
        let _ = old.close(Some(1000), Some("replaced by a new connection"));
    }
    let pair = WebSocketPair::new()?;
    obj.state
        .accept_websocket_with_tags(&pair.server, &[SANDBOX_TAG]);
    let now = now_ms();
    pair.server.serialize_attachment(SandboxAttachment {
        sandbox_id,
        connected_at: now,
    })?;
    obj.store.sandbox_activity(now)?;
    Ok(Response::from_websocket(pair.client)?)
}

/// Whether this socket belongs to the current, live sandbox.
fn is_current(obj: &SessionObject, ws: &WebSocket) -> bool {
    let att = ws
        .deserialize_attachment::<SandboxAttachment>()
        .ok()
        .flatten();
    let row = obj.store.sandbox().ok().flatten();
    match (att, row) {
        (Some(a), Some(r)) => {
            r.sandbox_id.as_deref() == Some(a.sandbox_id.as_str())
                && Status::parse(&r.status) != Status::Stopped
        }
        _ => false,
    }
}

pub async fn on_message(obj: &SessionObject, ws: &WebSocket, message: WebSocketIncomingMessage) {
    if !is_current(obj, ws) {
        // A socket of a replaced or stopped sandbox is never re-adopted.
        let _ = ws.close(Some(4010), Some("not the current sandbox"));
        return;
    }
    let WebSocketIncomingMessage::String(text) = message else {
        return;
    };
    let result = match parse_inbound(&text) {
        Ok(Inbound::Ready) => ready(obj).await,
        Ok(Inbound::Heartbeat) => obj.store.sandbox_heartbeat(now_ms()),
        Ok(Inbound::Event(e)) => event(obj, ws, e).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        worker::console_warn!("sandbox message not handled: {} {}", e.code, e.message);
    }
}

async fn ready(obj: &SessionObject) -> ApiResult<()> {
    obj.store.sandbox_ready(now_ms())?;
    sandbox_runner::broadcast_status(obj, Status::Ready);
    sandbox_runner::tick(obj).await
}

async fn event(obj: &SessionObject, ws: &WebSocket, e: Event) -> ApiResult<()> {
    let now = now_ms();
    let id = match e.stable_id() {
        Some(id) => id,
        None => random::id().map_err(|_| ApiError::internal("no randomness available"))?,
    };
    let stored = obj.store.upsert_event(
        &id,
        &e.kind,
        &e.data,
        e.message_id.as_deref(),
        e.replaces_on_repeat(),
        now,
    )?;
    obj.store.sandbox_activity(now)?;
    if let Some(row) = &stored {
        use crate::session::model::Listed;
        clients::broadcast(obj, &ServerMessage::SandboxEvent { event: row.view() });
    }
    // Acknowledged once stored, repeats included: the sandbox may stop re-sending.
    if let (true, Some(ack_id)) = (e.is_critical(), &e.ack_id) {
        let _ = ws.send_with_str(
            Outbound::Ack {
                ack_id: ack_id.clone(),
            }
            .to_text(),
        );
    }
    if matches!(e.kind.as_str(), "push_complete" | "push_error") {
        let branch = e
            .data
            .get("branchName")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        let result = match e.kind.as_str() {
            "push_complete" => Ok(()),
            _ => Err(e
                .data
                .get("error")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("unknown error")
                .to_string()),
        };
        crate::session::pull_request::push_result(obj, branch, result);
    }
    if stored.is_some() && e.kind == "execution_complete" {
        if let Some(message_id) = &e.message_id {
            let error = (!e.success()).then_some("the agent reported a failure");
            if obj
                .store
                .complete_message(message_id, e.success(), error, now)?
            {
                clients::broadcast(
                    obj,
                    &ServerMessage::ProcessingStatus {
                        is_processing: false,
                    },
                );
            }
        }
        sandbox_runner::tick(obj).await?;
    }
    Ok(())
}
