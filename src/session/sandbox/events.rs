//! What the sandbox sends on its socket: `ready`, `heartbeat`, and events, each stored once,
//! broadcast to every client, and acknowledged when critical. A completion closes the
//! running prompt in the queue. What other parts of the session must do next is answered as
//! a [`Followup`] for the dispatcher.

use crate::raw::Raw;
use std::rc::Rc;
use std::time::Duration;

use worker::{Delay, WebSocket, WebSocketIncomingMessage};

use crate::auth::random;
use crate::clock::now_ms;
use crate::error::ApiResult;
use crate::session::client::link::broadcast;
use crate::session::client::protocol::ServerMessage;
use crate::session::ctx::Ctx;
use crate::session::notify;
use crate::session::queue;
use crate::session::sandbox::link::{self, reply};
use crate::session::sandbox::policy::Status;
use crate::session::sandbox::protocol::{
    parse_inbound, Event, Inbound, Kind, Outbound, MAX_STORED_BYTES, MAX_STORED_EVENTS,
};
use crate::session::sandbox::runner;
use crate::session::store::PendingEvent;

/// Frames larger than this are stored and relayed cut down (see `Event::cap`).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// A `step_finish`'s cost in millionths of a dollar, when it states a sane one.
fn step_cost_micros(e: &Event) -> Option<i64> {
    if e.name != "step_finish" {
        return None;
    }
    let cost = e.data.get("cost").and_then(serde_json::Value::as_f64)?;
    (cost.is_finite() && cost > 0.0 && cost < 1e6).then(|| (cost * 1e6).round() as i64)
}

/// What the dispatcher does after a sandbox frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Followup {
    /// Run the lifecycle again (the sandbox became ready, or a prompt finished).
    Schedule,
    /// The sandbox reported the push of `branch`.
    PushResult {
        branch: String,
        result: Result<(), String>,
    },
}

/// Handles one frame from a sandbox socket.
pub fn on_message(
    ctx: &Ctx,
    ws: &WebSocket,
    message: WebSocketIncomingMessage,
) -> Option<Followup> {
    if !link::is_current(ctx, ws) {
        // A socket of a replaced or stopped sandbox is never re-adopted.
        let _ = ws.close(Some(4010), Some("not the current sandbox"));
        return None;
    }
    let WebSocketIncomingMessage::String(text) = message else {
        return None;
    };
    let result = match parse_inbound(&text) {
        Ok(Inbound::Ready) => ready(ctx),
        Ok(Inbound::Heartbeat) => ctx.store.sandbox_heartbeat(now_ms()).map(|_| None),
        Ok(Inbound::Event(e)) => event(ctx, ws, e),
        Err(e) => Err(e),
    };
    result.unwrap_or_else(|e| {
        ctx.warn(
            "sandbox message not handled",
            format!("{} {}", e.code, e.message),
        );
        None
    })
}

/// How long non-critical events wait in memory before they are written as one batch.
const FLUSH_AFTER_MS: u64 = 20;

/// Schedules one write of the pending events shortly (one transaction for many events).
fn flush_soon(ctx: &Ctx) {
    if !ctx.store.claim_flush() {
        return;
    }
    let store = Rc::clone(&ctx.store);
    let session_id = ctx.session_id.clone();
    ctx.state.wait_until(async move {
        Delay::from(Duration::from_millis(FLUSH_AFTER_MS)).await;
        if let Err(e) = store.flush_scheduled_events() {
            crate::log::error(
                "sandbox events could not be stored",
                &[
                    ("sessionId", session_id.into()),
                    ("detail", e.to_string().into()),
                ],
            );
        }
    });
}

fn ready(ctx: &Ctx) -> ApiResult<Option<Followup>> {
    ctx.store.sandbox_ready(now_ms())?;
    runner::announce(ctx, Status::Ready);
    broadcast(ctx, &ServerMessage::SandboxReady);
    Ok(Some(Followup::Schedule))
}

fn event(ctx: &Ctx, ws: &WebSocket, mut e: Event) -> ApiResult<Option<Followup>> {
    let now = now_ms();
    // What the web needs of the event and the session knows (the sandbox's id, a timestamp)
    // is filled in first; one the web would refuse is stored but not relayed.
    let sandbox_id = ctx.store.sandbox()?.and_then(|r| r.sandbox_id);
    let relayable = e.fit_for_clients(sandbox_id.as_deref().unwrap_or_default(), now);
    // Neither the bot's token nor a git ticket reaches a client or the log, whatever git
    // printed.
    e.redact(&[ctx.bot_token().unwrap_or_default()]);
    ctx.store.sandbox_activity(now)?;
    if let Kind::SessionTitle { title } = &e.kind {
        if !title.trim().is_empty() {
            ctx.store.set_title_if_unset(title.trim())?;
        }
    }
    // An oversized frame is kept (and acknowledged) as a stand-in rather than dropped.
    e.cap(MAX_EVENT_BYTES);
    let so_far = match ctx.stored_events.get() {
        Some(n) => n,
        None => ctx.store.event_count()?,
    };
    let bytes = match ctx.stored_bytes.get() {
        Some(n) => n,
        None => ctx.store.event_bytes()?,
    };
    let stored = if e.kind.is_stored_at(so_far, bytes) {
        let stable = e.stable_id();
        let replace = e.replaces_on_repeat();
        let id = match &stable {
            Some(id) => id.clone(),
            None => random::unique_id()?,
        };
        if !e.is_critical() && (stable.is_none() || replace) {
            // Never a dropped repeat: kept and written with the next batch.
            let full = ctx.store.defer_event(PendingEvent {
                id,
                kind: e.name.clone(),
                data: e.raw.clone(),
                message_id: e.message_id.clone(),
                replace,
                at: now,
            });
            if full {
                ctx.store.flush_events()?;
            } else {
                flush_soon(ctx);
            }
            true
        } else {
            // Written now, after the pending ones, before it is acknowledged.
            let message_id = e.message_id.as_deref();
            ctx.store
                .put_event(&id, &e.name, &e.raw, message_id, replace, now)?
        }
    } else {
        if e.kind.is_stored() && so_far == MAX_STORED_EVENTS {
            ctx.warn(
                "the event log is full; only critical events are stored",
                so_far,
            );
        }
        false
    };
    // Counted as seen (a coalesced token stream adds no row): past the cap the count only
    // decides "full", and the warning above is given once.
    let added =
        e.kind.is_stored() && !e.replaces_on_repeat() && (stored || so_far >= MAX_STORED_EVENTS);
    ctx.stored_events.set(Some(so_far + i64::from(added)));
    // A step's cost adds to the session's (once: a repeat is not stored again).
    if let (true, Some(micros)) = (stored, step_cost_micros(&e)) {
        ctx.store.add_cost(micros)?;
    }
    let grown = if stored { e.raw.len() as i64 } else { 0 };
    if bytes < MAX_STORED_BYTES && bytes + grown >= MAX_STORED_BYTES {
        ctx.warn(
            "the event log reached its byte budget; only critical events are stored",
            bytes + grown,
        );
    }
    ctx.stored_bytes.set(Some(bytes + grown));
    // A completion counts only for the prompt that is running (a stale one is kept quiet).
    // It is applied from the message's state, not from "stored for the first time", so one
    // re-sent after a failure half-way through is still processed.
    let completed = match (&e.kind, &e.message_id) {
        (Kind::ExecutionComplete { success }, Some(m)) => {
            let error = e.data.get("error").and_then(serde_json::Value::as_str);
            queue::complete(ctx, m, *success, error, now)?
        }
        _ => false,
    };
    let relay = relayable
        && match e.kind {
            Kind::ExecutionComplete { .. } => completed,
            Kind::SessionTitle { .. } => true,
            _ => stored,
        };
    // A bot's prompt has its bot told of the agent's tool calls.
    if let ("tool_call", Some(m)) = (e.name.as_str(), &e.message_id) {
        notify::tool_call(ctx, m, &e.data);
    }
    if relay {
        // Parsed as JSON when it arrived (or written by serde when it was cut down).
        let event = Raw::trusted(std::mem::take(&mut e.raw));
        broadcast(ctx, &ServerMessage::SandboxEvent { event });
    }
    // Acknowledged once handled, repeats included: the sandbox may stop re-sending.
    if let (true, Some(ack_id)) = (e.is_critical(), &e.ack_id) {
        reply(
            ws,
            &Outbound::Ack {
                ack_id: ack_id.clone(),
            },
        );
    }
    Ok(match e.kind {
        Kind::PushComplete { branch } => Some(Followup::PushResult {
            branch,
            result: Ok(()),
        }),
        Kind::PushError { branch, error } => Some(Followup::PushResult {
            branch,
            result: Err(error),
        }),
        Kind::ExecutionComplete { .. } if stored || completed => Some(Followup::Schedule),
        _ => None,
    })
}
