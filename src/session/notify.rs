//! Tells a prompt's bot how it went (the shell of `bots::callback`): when a prompt that a
//! Slack or Linear bot sent ends, when the agent calls a tool while it runs, and (the Linear
//! bot) when it reaches the sandbox. Sent after
//! the session's work, never holding it up or failing it: through the bot's service binding
//! (`SLACK_BOT`, `LINEAR_BOT`), else to its URL (`SLACK_BOT_URL`, `LINEAR_BOT_URL`); without
//! either, or without the bot's secret, nothing is sent and a line is logged.

use std::rc::Rc;
use std::time::Duration;

use serde_json::Value;
use worker::{Delay, Env};

use crate::bots::callback::{self, Bot};
use crate::bots::context::CallbackContext;
use crate::clock::now_ms;
use crate::config;
use crate::session::ctx::Ctx;
use crate::upstream::fetch::{self, Via};
use crate::upstream::http::HttpRequest;

/// The prompt `message_id` ended: its bot, if it has one, hears so (two tries).
pub fn completed(ctx: &Ctx, message_id: &str, success: bool, error: Option<&str>) {
    let Some(context) = called_back(ctx, message_id) else {
        return;
    };
    let session_id = &ctx.session_id;
    let payload = callback::completion(session_id, message_id, success, error, now_ms(), &context);
    send_later(
        ctx,
        context.bot(),
        callback::COMPLETE,
        payload,
        callback::COMPLETE_TRIES,
        None,
    );
}

/// The prompt `message_id` was handed to the sandbox: a Linear bot hears so (two tries).
pub fn started(ctx: &Ctx, message_id: &str) {
    let Some(context) = called_back(ctx, message_id) else {
        return;
    };
    if context.bot() != Bot::Linear {
        return;
    }
    let payload = callback::start(&ctx.session_id, message_id, now_ms(), &context);
    send_later(
        ctx,
        Bot::Linear,
        callback::START,
        payload,
        callback::COMPLETE_TRIES,
        None,
    );
}

/// The agent called a tool (`event`, a `tool_call`) for `message_id`: its bot hears it, once
/// per call and at most every 3 s (`callback::ToolCalls`).
pub fn tool_call(ctx: &Ctx, message_id: &str, event: &Value) {
    let Some(context) = called_back(ctx, message_id) else {
        return;
    };
    if !context.wants_tool_calls() {
        return;
    }
    let now = now_ms();
    let Some(payload) = callback::tool_call(&ctx.session_id, event, now, &context) else {
        return;
    };
    let call_id = callback::call_id(event).to_string();
    if !ctx.tool_calls.borrow_mut().send_now(&call_id, now) {
        return;
    }
    let delivered = Rc::clone(&ctx.tool_calls);
    let on_delivered = move || delivered.borrow_mut().delivered(&call_id);
    send_later(
        ctx,
        context.bot(),
        callback::TOOL_CALL,
        payload,
        1,
        Some(Box::new(on_delivered)),
    );
}

/// The prompt's context, when its bot is to be called back (the object's id is the session's
/// id). The last prompt looked up is remembered: a prompt's many tool calls read its row once.
fn called_back(ctx: &Ctx, message_id: &str) -> Option<CallbackContext> {
    let remembered = match &*ctx.callback_memo.borrow() {
        Some((id, context)) if id == message_id => Some(context.clone()),
        _ => None,
    };
    match remembered {
        Some(c) => c,
        None => {
            let read = match ctx.store.callback_context(message_id) {
                Ok(c) => c,
                Err(e) => {
                    ctx.warn("a bot is not called back: its prompt could not be read", e);
                    return None;
                }
            };
            *ctx.callback_memo.borrow_mut() = Some((message_id.to_string(), read.clone()));
            read
        }
    }
}

/// Where a bot is reached.
enum Door {
    Binding(worker::Fetcher),
    Url(String),
}

fn door(env: &Env, bot: Bot) -> Option<Door> {
    if let Ok(f) = env.service(bot.binding()) {
        return Some(Door::Binding(f));
    }
    config::secret(env, bot.url_var()).map(|u| Door::Url(u.trim_end_matches('/').to_string()))
}

/// Sends the signed `payload` to `bot`'s `path` after the session's work, up to `tries`
/// times a second apart; `on_delivered` runs once the bot took it.
fn send_later(
    ctx: &Ctx,
    bot: Bot,
    path: &'static str,
    payload: Value,
    tries: u32,
    on_delivered: Option<Box<dyn FnOnce()>>,
) {
    let Some(secret) = config::secret(&ctx.env, bot.secret_var()) else {
        ctx.info("a bot is not called back: no secret", bot.secret_var());
        return;
    };
    let Some(door) = door(&ctx.env, bot) else {
        ctx.info("a bot is not called back: no binding or URL", bot.binding());
        return;
    };
    let body = callback::signed_body(&payload, &secret);
    let session_id = ctx.session_id.clone();
    ctx.state.wait_until(async move {
        for attempt in 1..=tries {
            match deliver(&door, path, &body).await {
                Ok(()) => {
                    if let Some(f) = on_delivered {
                        f();
                    }
                    return;
                }
                Err(why) => crate::log::error(
                    "a bot callback failed",
                    &[
                        ("sessionId", session_id.as_str().into()),
                        ("path", path.into()),
                        ("attempt", attempt.into()),
                        ("detail", why.into()),
                    ],
                ),
            }
            if attempt < tries {
                Delay::from(Duration::from_millis(callback::RETRY_DELAY_MS)).await;
            }
        }
    });
}

/// One try: answered 2xx within `callback::TRY_TIMEOUT_MS`, or why not.
async fn deliver(door: &Door, path: &str, body: &str) -> Result<(), String> {
    let (via, url) = match door {
        Door::Binding(f) => (Via::Binding(f), format!("https://internal{path}")),
        Door::Url(base) => (Via::Internet, format!("{base}{path}")),
    };
    let req = HttpRequest::post(url, "application/json", body.to_string());
    match fetch::send_within_via(via, &req, callback::TRY_TIMEOUT_MS).await {
        Ok(resp) if (200..300).contains(&resp.status) => Ok(()),
        Ok(resp) => Err(format!("answered {}", resp.status)),
        Err(e) => Err(e.to_string()),
    }
}
