//! The callbacks to a prompt's bot, as Open-Inspect's bots take them: where each goes (the
//! bot's service binding, else its URL), what it says (`/callbacks/complete` when the prompt
//! ends, `/callbacks/tool_call` when the agent calls a tool, `/callbacks/start` to the Linear
//! bot when its prompt reaches the sandbox), how it is signed (lowercase hex
//! HMAC-SHA256, under the bot's `SERVICE_AUTH_SECRET_*`, of the JSON without `signature`,
//! which is then added as the last field), and when a tool call is worth sending (once per
//! call id, at most one every 3 s per session). Pure.

use std::collections::VecDeque;

use serde_json::{json, Value};

use super::context::CallbackContext;
use super::js_json;
use crate::auth::mac;

/// A bot that takes callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bot {
    Slack,
    Linear,
}

impl Bot {
    /// The service binding to the bot's worker.
    pub fn binding(self) -> &'static str {
        match self {
            Bot::Slack => "SLACK_BOT",
            Bot::Linear => "LINEAR_BOT",
        }
    }

    /// The variable with the bot's base URL, used when there is no binding.
    pub fn url_var(self) -> &'static str {
        match self {
            Bot::Slack => "SLACK_BOT_URL",
            Bot::Linear => "LINEAR_BOT_URL",
        }
    }

    /// The secret the bot shares with us (it signs its own requests with it too).
    pub fn secret_var(self) -> &'static str {
        match self {
            Bot::Slack => "SERVICE_AUTH_SECRET_SLACK_BOT",
            Bot::Linear => "SERVICE_AUTH_SECRET_LINEAR_BOT",
        }
    }
}

/// The path of a completion callback.
pub const COMPLETE: &str = "/callbacks/complete";
/// The path of a start callback (the Linear bot's only).
pub const START: &str = "/callbacks/start";
/// The path of a tool-call callback.
pub const TOOL_CALL: &str = "/callbacks/tool_call";
/// Tries of a completion (a second one a second after a failed first); a tool call is tried once.
pub const COMPLETE_TRIES: u32 = 2;
/// Between a completion's tries.
pub const RETRY_DELAY_MS: u64 = 1_000;
/// How long one try may take.
pub const TRY_TIMEOUT_MS: u64 = 10_000;
/// At most one tool call every this many ms per session.
pub const TOOL_CALL_EVERY_MS: i64 = 3_000;
/// How many delivered tool-call ids are remembered.
pub const REMEMBERED_CALLS: usize = 500;

/// `/callbacks/complete`: the prompt `message_id` of `session_id` ended.
pub fn completion(
    session_id: &str,
    message_id: &str,
    success: bool,
    error: Option<&str>,
    now: i64,
    context: &CallbackContext,
) -> Value {
    let mut v = json!({
        "sessionId": session_id,
        "messageId": message_id,
        "success": success,
        "timestamp": now,
        "context": context,
    });
    if let Some(e) = error {
        v["error"] = json!(e);
    }
    v
}

/// `/callbacks/start`: the prompt `message_id` reached the sandbox (the Linear bot moves its
/// issue along when the context asks it to).
pub fn start(session_id: &str, message_id: &str, now: i64, context: &CallbackContext) -> Value {
    json!({
        "sessionId": session_id,
        "messageId": message_id,
        "timestamp": now,
        "context": context,
    })
}

/// `/callbacks/tool_call`: the agent called `tool` with `args` (no message id: the bots
/// find their thread by the context).
pub fn tool_call(
    session_id: &str,
    event: &Value,
    now: i64,
    context: &CallbackContext,
) -> Option<Value> {
    let tool = event
        .get("tool")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    if tool.is_empty() && matches!(context, CallbackContext::Linear(_)) {
        return None;
    }
    let args = match event.get("args") {
        Some(a @ Value::Object(_)) => a.clone(),
        _ => json!({}),
    };
    let call_id = call_id(event);
    let mut v = json!({
        "sessionId": session_id,
        "tool": tool,
        "args": args,
        "callId": call_id,
        "timestamp": now,
        "context": context,
    });
    if let Some(s) = event.get("status").and_then(Value::as_str) {
        v["status"] = json!(s);
    }
    Some(v)
}

/// A tool call's id (`callId`, or the older `call_id`), empty when it has none.
pub fn call_id(event: &Value) -> &str {
    event
        .get("callId")
        .or_else(|| event.get("call_id"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The body sent: `payload` as JavaScript writes it, with its signature as the last field.
pub fn signed_body(payload: &Value, secret: &str) -> String {
    let text = js_json::to_string(payload);
    let signature = hex::encode(mac::sign(secret.as_bytes(), text.as_bytes()));
    match text.strip_suffix('}') {
        Some(open) if open.len() > 1 => format!("{open},\"signature\":\"{signature}\"}}"),
        _ => format!("{{\"signature\":\"{signature}\"}}"),
    }
}

/// What a session remembers of its tool-call callbacks (in memory: an evicted object forgets,
/// as Open-Inspect's does).
#[derive(Debug, Default)]
pub struct ToolCalls {
    last_sent: Option<i64>,
    delivered: VecDeque<String>,
}

impl ToolCalls {
    /// Whether the call `call_id` is sent now: not delivered before, and none sent in the
    /// last [`TOOL_CALL_EVERY_MS`]. Saying yes uses up the window, delivered or not.
    pub fn send_now(&mut self, call_id: &str, now: i64) -> bool {
        if !call_id.is_empty() && self.delivered.iter().any(|c| c == call_id) {
            return false;
        }
        if self.last_sent.is_some_and(|t| now - t < TOOL_CALL_EVERY_MS) {
            return false;
        }
        self.last_sent = Some(now);
        true
    }

    /// The bot took the call `call_id`: it is not sent again.
    pub fn delivered(&mut self, call_id: &str) {
        if call_id.is_empty() {
            return;
        }
        if self.delivered.len() >= REMEMBERED_CALLS {
            self.delivered.pop_front();
        }
        self.delivered.push_back(call_id.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bots::context::CallbackContext;

    fn slack() -> CallbackContext {
        CallbackContext::read(
            &json!({"source": "slack", "channel": "C123", "threadTs": "111.222",
            "repoFullName": "acme/repo", "model": "claude-haiku-4-5"}),
        )
        .unwrap()
    }

    /// Open-Inspect's own vectors (computed with its signing code): our text differs only in
    /// key order, which the bot keeps as received, so the signature of our text verifies.
    #[test]
    fn signatures_match_open_inspects() {
        let secret = "test-service-secret-slack-bot";
        let theirs = r#"{"sessionId":"sess-1","messageId":"msg-1","success":true,"timestamp":1700000000000,"context":{"source":"slack","channel":"C123","threadTs":"111.222","repoFullName":"acme/repo","model":"claude-haiku-4-5"}}"#;
        assert_eq!(
            hex::encode(mac::sign(secret.as_bytes(), theirs.as_bytes())),
            "4f8f0c62dcada4953303987e63d269cb0fac96142060dfdd562654e33effebec"
        );
        let payload = completion("sess-1", "msg-1", true, None, 1_700_000_000_000, &slack());
        let body = signed_body(&payload, secret);
        // What the bot does: parse, take the signature out, write the rest again, compare.
        let mut parsed: Value = serde_json::from_str(&body).unwrap();
        let sig = parsed.as_object_mut().unwrap().remove("signature").unwrap();
        let again = js_json::to_string(&parsed);
        assert_eq!(
            hex::encode(mac::sign(secret.as_bytes(), again.as_bytes())),
            sig
        );
        assert!(body.ends_with(&format!(",\"signature\":\"{}\"}}", sig.as_str().unwrap())));
        assert_eq!(parsed, serde_json::from_str::<Value>(theirs).unwrap());
    }

    #[test]
    fn payloads_carry_what_the_bots_read() {
        let failed = completion("s", "m", false, Some("stopped"), 5, &slack());
        assert_eq!(failed["error"], "stopped");
        assert!(completion("s", "m", true, None, 5, &slack())
            .get("error")
            .is_none());
        assert_eq!(
            start("s", "m", 5, &slack()),
            json!({"sessionId": "s", "messageId": "m", "timestamp": 5, "context": slack()})
        );
        let event = json!({"type": "tool_call", "tool": "bash", "args": {"command": "ls"},
                           "callId": "call-1", "status": "running", "messageId": "m"});
        let call = tool_call("s", &event, 7, &slack()).unwrap();
        assert_eq!(
            call,
            json!({"sessionId": "s", "tool": "bash", "args": {"command": "ls"}, "callId": "call-1",
                   "status": "running", "timestamp": 7, "context": slack()})
        );
        let bare = tool_call("s", &json!({"call_id": "c"}), 7, &slack()).unwrap();
        assert_eq!(
            (bare["tool"].clone(), bare["args"].clone()),
            (json!("unknown"), json!({}))
        );
        assert_eq!(bare["callId"], "c");
        assert!(bare.get("status").is_none());
    }

    #[test]
    fn tool_calls_once_each_and_at_most_every_three_seconds() {
        let mut t = ToolCalls::default();
        assert!(t.send_now("a", 0));
        assert!(!t.send_now("b", 2_999));
        assert!(t.send_now("b", 3_000));
        t.delivered("b");
        assert!(!t.send_now("b", 10_000), "delivered once");
        // Not delivered: tried again later.
        assert!(t.send_now("a", 10_000));
        for i in 0..REMEMBERED_CALLS {
            t.delivered(&format!("x{i}"));
        }
        assert!(t.send_now("b", 20_000), "the oldest is forgotten");
    }
}
