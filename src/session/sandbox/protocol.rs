//! The sandbox side of the WebSocket protocol: what a sandbox sends (parsed once into a typed
//! kind that decides storage, acknowledgement and de-duplication) and what the session sends.

use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::raw::Object;
use crate::session::model::completion_id;

/// One frame from the sandbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Ready,
    Heartbeat,
    Event(Event),
}

/// What a sandbox event is, parsed once from its `type` and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Cumulative text of the agent's answer so far (one stored row per message).
    Token,
    /// The agent finished the message (`success` absent means success).
    ExecutionComplete { success: bool },
    /// The sandbox pushed `branch`.
    PushComplete { branch: String },
    /// The sandbox could not push `branch`.
    PushError { branch: String, error: String },
    /// The agent reported an error.
    Error,
    /// The sandbox saved a snapshot.
    SnapshotReady,
    /// The agent named the session (used when it has no title yet; not stored).
    SessionTitle { title: String },
    /// Anything else, stored and broadcast as it is.
    Other,
}

impl Kind {
    fn parse(kind: &str, data: &Value) -> Kind {
        let branch = || string_field(data, "branchName").unwrap_or_default();
        match kind {
            "token" => Kind::Token,
            "execution_complete" => Kind::ExecutionComplete {
                success: data.get("success").and_then(Value::as_bool).unwrap_or(true),
            },
            "push_complete" => Kind::PushComplete { branch: branch() },
            "push_error" => Kind::PushError {
                branch: branch(),
                error: string_field(data, "error").unwrap_or_else(|| "unknown error".into()),
            },
            "error" => Kind::Error,
            "snapshot_ready" => Kind::SnapshotReady,
            "session_title" => Kind::SessionTitle {
                title: string_field(data, "title").unwrap_or_default(),
            },
            _ => Kind::Other,
        }
    }

    /// Whether losing the event would break the session: stored, then acknowledged.
    pub fn is_critical(&self) -> bool {
        !matches!(self, Kind::Token | Kind::Other | Kind::SessionTitle { .. })
    }

    /// Whether the event is kept in the session's log (and replayed).
    pub fn is_stored(&self) -> bool {
        !matches!(self, Kind::SessionTitle { .. })
    }

    /// Whether the event is stored when the log holds `count` events of `bytes` in all: past
    /// [`MAX_STORED_EVENTS`] or [`MAX_STORED_BYTES`] only critical events are (the rest are
    /// still relayed live).
    pub fn is_stored_at(&self, count: i64, bytes: i64) -> bool {
        let room = count < MAX_STORED_EVENTS && bytes < MAX_STORED_BYTES;
        self.is_stored() && (room || self.is_critical())
    }
}

/// The largest frame a sandbox may send (events past 64 KiB are cut when stored, but a
/// frame is read whole first).
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// How many events one session's log keeps before it keeps only critical ones.
pub const MAX_STORED_EVENTS: i64 = 50_000;
/// How many bytes of events one session's log keeps before it keeps only critical ones.
pub const MAX_STORED_BYTES: i64 = 128 * 1024 * 1024;

/// What ends a text cut to fit.
pub const CUT_MARK: &str = "…[truncated]";

/// The JSON pointer of the longest string in `v`, and its length.
fn longest_string(v: &Value, at: String) -> Option<(String, usize)> {
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match v {
        Value::String(s) => Some((at, s.len())),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, x)| longest_string(x, format!("{at}/{i}")))
            .max_by_key(|(_, n)| *n),
        Value::Object(fields) => fields
            .iter()
            .filter_map(|(k, x)| longest_string(x, format!("{at}/{}", escape(k))))
            .max_by_key(|(_, n)| *n),
        _ => None,
    }
}

/// The event `raw` (a JSON object, `size` bytes as sent) with its longest texts cut until it
/// fits in `max` bytes, marked `truncated`; `None` when it cannot be made to fit that way.
fn cut_to(raw: &str, max: usize, size: usize) -> Option<String> {
    let mut v: Value = serde_json::from_str(raw).ok()?;
    let fields = v.as_object_mut()?;
    fields.insert("truncated".into(), Value::Bool(true));
    fields.insert("size".into(), Value::from(size));
    for _ in 0..16 {
        let text = serde_json::to_string(&v).ok()?;
        if text.len() <= max {
            return Some(text);
        }
        let (pointer, len) = longest_string(&v, String::new())?;
        let excess = text.len() - max + CUT_MARK.len();
        if len <= CUT_MARK.len() || len < excess / 4 {
            return None;
        }
        let Some(Value::String(s)) = v.pointer_mut(&pointer) else {
            return None;
        };
        let mut keep = s.len().saturating_sub(excess);
        while !s.is_char_boundary(keep) {
            keep -= 1;
        }
        s.truncate(keep);
        s.push_str(CUT_MARK);
    }
    None
}

/// A sandbox event: stored and broadcast to clients; unknown types included.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The wire `type`, as sent.
    pub name: String,
    pub kind: Kind,
    pub message_id: Option<String>,
    pub ack_id: Option<String>,
    pub data: Value,
    /// The frame exactly as the sandbox sent it: stored and relayed as it is.
    pub raw: String,
    /// The frame as sent, when fitting it for the web changed `raw` (repeats are recognised
    /// by what the sandbox sent, not by what was filled in).
    pub as_sent: Option<String>,
}

impl Event {
    pub fn is_critical(&self) -> bool {
        self.kind.is_critical()
    }

    /// A stable id for events that must be stored once however often they arrive: token
    /// events (cumulative, one row per message), completions (one per message), and
    /// acknowledged events. Errors share an ack id across sub-tasks, so only an identical
    /// payload counts as a repeat.
    pub fn stable_id(&self) -> Option<String> {
        match (&self.ack_id, &self.kind, &self.message_id) {
            (_, Kind::Token, Some(m)) => Some(format!("token:{m}")),
            (_, Kind::ExecutionComplete { .. }, Some(m)) => Some(completion_id(m)),
            (Some(ack), Kind::Error, _) => {
                let sent = self.as_sent.as_deref().unwrap_or(&self.raw);
                let digest = crate::auth::random::sha256_hex(sent);
                Some(format!("ack:{ack}:{}", &digest[..16]))
            }
            (Some(ack), _, _) => Some(format!("ack:{ack}")),
            _ => None,
        }
    }

    /// Keeps the frame as sent; past `max` bytes its longest texts are cut (each ending in
    /// [`CUT_MARK`]) and `truncated: true, size: <bytes as sent>` added, so what the agent
    /// did stays readable. A frame that still does not fit becomes a small stand-in that keeps
    /// its type and message and says it was cut (never dropped silently).
    pub fn cap(&mut self, max: usize) {
        if self.raw.len() <= max {
            return;
        }
        let size = self.raw.len();
        self.raw = cut_to(&self.raw, max, size).unwrap_or_else(|| {
            self.stand_in()
                .field("truncated", &true)
                .field("size", &size)
                .end()
        });
    }

    /// Masks `secret` wherever the frame shows it. The frame is relayed as text, so a mask
    /// that left it no longer JSON (a secret that matched outside a string) gives way to a
    /// stand-in.
    pub fn redact(&mut self, secrets: &[&str]) {
        let known = secrets
            .iter()
            .any(|s| !s.is_empty() && self.raw.contains(s));
        if !known && !self.raw.contains(crate::git::ticket::PREFIX) {
            return;
        }
        self.raw = crate::redact::clean(&self.raw, secrets, usize::MAX);
        if crate::json::parse(&self.raw).is_none() {
            self.raw = self.stand_in().field("redacted", &true).end();
        }
    }

    /// Fits the event to the web's schema ([`super::schema::fit`]), writing its text again
    /// when that changed it; answers whether it may be relayed.
    pub fn fit_for_clients(&mut self, sandbox_id: &str, now_ms: i64) -> bool {
        let fit = super::schema::fit(&mut self.data, sandbox_id, now_ms);
        if fit.changed {
            let fitted = self.data.to_string();
            self.as_sent = Some(std::mem::replace(&mut self.raw, fitted));
        }
        fit.relayable
    }

    /// What is kept of a frame that cannot be relayed as sent: its type and message.
    fn stand_in(&self) -> Object {
        Object::new()
            .field("type", &self.name)
            .field("messageId", &self.message_id)
            .field("ackId", &self.ack_id)
    }

    /// Whether a repeat replaces the stored event (cumulative token text) rather than
    /// being dropped as a duplicate.
    pub fn replaces_on_repeat(&self) -> bool {
        self.kind == Kind::Token
    }
}

/// Event types only the session writes: a sandbox sending one is refused (it could pass
/// itself off as a user, or report someone else's push to the branch, which only a signed
/// webhook may).
pub const SERVER_ONLY: &[&str] = &["user_message", "branch_pushed"];

fn string_field(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_string)
}

/// Parses one text frame from the sandbox.
pub fn parse_inbound(text: &str) -> Result<Inbound, ApiError> {
    let data: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::new(400, "invalid_message", format!("invalid JSON: {e}")))?;
    let name = data
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.len() <= 64)
        .ok_or_else(|| ApiError::new(400, "invalid_message", "a message needs a string type"))?
        .to_string();
    if SERVER_ONLY.contains(&name.as_str()) {
        return Err(ApiError::new(
            403,
            "server_only_event",
            format!("a sandbox cannot send {name} events"),
        ));
    }
    Ok(match name.as_str() {
        "ready" => Inbound::Ready,
        "heartbeat" => Inbound::Heartbeat,
        _ => Inbound::Event(Event {
            kind: Kind::parse(&name, &data),
            message_id: string_field(&data, "messageId"),
            ack_id: string_field(&data, "ackId"),
            name,
            data,
            raw: text.to_string(),
            as_sent: None,
        }),
    })
}

/// Who a prompt is from, and the git identity its commits carry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Author {
    pub user_id: String,
    pub scm_name: Option<String>,
    pub scm_email: Option<String>,
    pub git_identity: GitIdentity,
}

impl Author {
    /// The author, attributed in git when both their name and e-mail are known.
    pub fn new(user_id: String, scm_name: Option<String>, scm_email: Option<String>) -> Self {
        let git_identity = match (&scm_name, &scm_email) {
            (Some(name), Some(email)) => GitIdentity::AttributedUser {
                name: name.clone(),
                email: email.clone(),
            },
            _ => GitIdentity::AgentOnly,
        };
        Self {
            user_id,
            scm_name,
            scm_email,
            git_identity,
        }
    }
}

/// The git author of the agent's commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum GitIdentity {
    AttributedUser { name: String, email: String },
    AgentOnly,
}

/// A model as `provider/model` (a bare name is Anthropic's, or OpenAI's for `gpt-`).
pub fn provider_model(model: &str) -> String {
    if model.contains('/') {
        model.to_string()
    } else if model.starts_with("gpt-") {
        format!("openai/{model}")
    } else {
        format!("anthropic/{model}")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushSpec {
    pub remote_url: String,
    pub redacted_remote_url: String,
    pub refspec: String,
    pub target_branch: String,
    pub force: bool,
}

/// Session → sandbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Outbound {
    Prompt {
        message_id: String,
        content: String,
        /// `provider/model`.
        model: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reasoning_effort: Option<String>,
        author: Author,
    },
    Stop,
    Shutdown,
    Ack {
        ack_id: String,
    },
    Push {
        push_spec: PushSpec,
        vcs_provider: String,
    },
}

impl Outbound {
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_frames() {
        assert_eq!(
            parse_inbound(r#"{"type":"ready"}"#).unwrap(),
            Inbound::Ready
        );
        assert_eq!(
            parse_inbound(r#"{"type":"heartbeat","ts":1}"#).unwrap(),
            Inbound::Heartbeat
        );
        let Inbound::Event(e) =
            parse_inbound(r#"{"type":"token","content":"he","messageId":"m1"}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(e.stable_id().as_deref(), Some("token:m1"));
        assert!(e.replaces_on_repeat() && !e.is_critical());
        let Inbound::Event(e) = parse_inbound(
            r#"{"type":"execution_complete","messageId":"m1","success":false,"ackId":"a9"}"#,
        )
        .unwrap() else {
            panic!()
        };
        assert!(e.is_critical());
        assert_eq!(e.kind, Kind::ExecutionComplete { success: false });
        assert_eq!(e.stable_id().as_deref(), Some("complete:m1"));
        let Inbound::Event(e) = parse_inbound(r#"{"type":"brand_new_thing","x":1}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (e.name.as_str(), &e.kind),
            ("brand_new_thing", &Kind::Other)
        );
        assert_eq!(e.stable_id(), None);
        assert!(parse_inbound("nope").is_err());
        let forged =
            parse_inbound(r#"{"type":"user_message","content":"rm -rf","authorId":"alice"}"#);
        assert_eq!(forged.unwrap_err().code, "server_only_event");
        let pushed = parse_inbound(r#"{"type":"branch_pushed","branchName":"main"}"#);
        assert_eq!(pushed.unwrap_err().code, "server_only_event");
        assert!(parse_inbound(r#"{"type":5}"#).is_err());
    }

    fn kind(text: &str) -> Kind {
        match parse_inbound(text).unwrap() {
            Inbound::Event(e) => e.kind,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn event_kinds_are_typed_once() {
        assert_eq!(
            kind(r#"{"type":"execution_complete","messageId":"m"}"#),
            Kind::ExecutionComplete { success: true }
        );
        assert_eq!(
            kind(r#"{"type":"push_complete","branchName":"agent/x"}"#),
            Kind::PushComplete {
                branch: "agent/x".into()
            }
        );
        assert_eq!(
            kind(r#"{"type":"push_error","branchName":"b","error":"rejected"}"#),
            Kind::PushError {
                branch: "b".into(),
                error: "rejected".into()
            }
        );
        assert_eq!(
            kind(r#"{"type":"push_error"}"#),
            Kind::PushError {
                branch: String::new(),
                error: "unknown error".into()
            }
        );
        let critical = |t: &str| kind(&format!(r#"{{"type":"{t}"}}"#)).is_critical();
        for t in [
            "execution_complete",
            "error",
            "push_complete",
            "push_error",
            "snapshot_ready",
        ] {
            assert!(critical(t), "{t}");
        }
        for t in ["token", "tool_call", "brand_new", "session_title"] {
            assert!(!critical(t), "{t}");
        }
    }

    #[test]
    fn oversized_events_keep_what_fits_with_a_marker() {
        let out = "y".repeat(200_000);
        let big = format!(
            r#"{{"type":"tool_result","messageId":"m1","callId":"c1","output":"{out}","title":"read é"}}"#
        );
        let mut e = event(&big);
        e.cap(65_536);
        assert!(e.raw.len() <= 65_536, "{}", e.raw.len());
        let kept: Value = serde_json::from_str(&e.raw).unwrap();
        assert_eq!(kept["truncated"], true);
        assert_eq!(kept["size"], big.len());
        assert_eq!(
            (kept["callId"].as_str(), kept["title"].as_str()),
            (Some("c1"), Some("read é"))
        );
        let output = kept["output"].as_str().unwrap();
        assert!(output.starts_with("yyyy") && output.ends_with(CUT_MARK));
        assert!(output.len() > 60_000, "most of it is kept");
        // Many small texts cannot be cut to fit: a stand-in, still marked.
        let many: Vec<String> = (0..5_000).map(|i| format!("f{i}")).collect();
        let raw = serde_json::json!({"type": "tool_result", "messageId": "m1", "parts": many})
            .to_string();
        let mut e = event(&raw);
        e.cap(1_000);
        let kept: Value = serde_json::from_str(&e.raw).unwrap();
        assert_eq!(
            (kept["truncated"].as_bool(), kept.get("parts")),
            (Some(true), None)
        );
    }

    #[test]
    fn oversized_events_are_kept_as_a_stand_in() {
        let big = format!(
            r#"{{"type":"execution_complete","messageId":"m1","error":"{}"}}"#,
            "x".repeat(1000)
        );
        let mut e = event(&big);
        e.cap(10_000);
        assert_eq!(e.raw, big);
        e.cap(100);
        let kept: Value = serde_json::from_str(&e.raw).unwrap();
        assert_eq!(kept["type"], "execution_complete");
        assert_eq!(kept["messageId"], "m1");
        assert_eq!(kept["truncated"], true);
        assert_eq!(kept["size"], big.len());
    }

    #[test]
    fn a_secret_is_masked_and_the_frame_stays_json() {
        let secret = "ATATT3xBOT-SECRET";
        let text = format!(
            r#"{{"type":"tool_result","messageId":"m1","output":"push https://bot:{secret}@host failed"}}"#
        );
        let mut e = event(&text);
        e.redact(&[secret]);
        assert!(!e.raw.contains(secret));
        let kept: Value = serde_json::from_str(&e.raw).unwrap();
        assert_eq!(kept["output"], "push https://bot:***@host failed");
        // A secret that matches where no string is: the frame could not stay JSON.
        let mut e = event(r#"{"type":"tool_result","messageId":"m1","n":123456789}"#);
        e.redact(&["123456789"]);
        let kept: Value = serde_json::from_str(&e.raw).unwrap();
        assert_eq!(
            kept,
            json!({"type": "tool_result", "messageId": "m1", "ackId": null, "redacted": true})
        );
        // A git ticket is masked wherever git printed it, with no secret named.
        let text = r#"{"type":"tool_result","messageId":"m1","output":"origin http://x-token-auth:oig1.eyJzIjoiYSJ9.c2ln@cp/acme/web.git (fetch)"}"#;
        let mut e = event(text);
        e.redact(&[""]);
        let kept: Value = serde_json::from_str(&e.raw).unwrap();
        assert_eq!(
            kept["output"],
            "origin http://x-token-auth:***@cp/acme/web.git (fetch)"
        );
    }

    fn event(text: &str) -> Event {
        match parse_inbound(text).unwrap() {
            Inbound::Event(e) => e,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn errors_repeat_only_when_identical_and_completions_once_per_message() {
        let a = event(r#"{"type":"error","ackId":"error:m1","error":"sub-task 1 failed"}"#);
        let b = event(r#"{"type":"error","ackId":"error:m1","error":"sub-task 2 failed"}"#);
        let a2 = event(r#"{"type":"error","ackId":"error:m1","error":"sub-task 1 failed"}"#);
        assert_ne!(a.stable_id(), b.stable_id());
        assert_eq!(a.stable_id(), a2.stable_id());
        let c = event(r#"{"type":"execution_complete","messageId":"m1","ackId":"x"}"#);
        assert_eq!(c.stable_id(), Some(completion_id("m1")));
        let t = event(r#"{"type":"session_title","title":"Fix login"}"#);
        assert_eq!(
            t.kind,
            Kind::SessionTitle {
                title: "Fix login".into()
            }
        );
        assert!(!t.kind.is_stored());
        assert!(!t.kind.is_stored_at(0, 0));
        let raw = r#"{"type":"token","timestamp":1733000000.1234567,"extra":{"kept":true}}"#;
        assert_eq!(event(raw).raw, raw);
    }

    #[test]
    fn outbound_wire_names() {
        let p = Outbound::Prompt {
            message_id: "m".into(),
            content: "c".into(),
            model: provider_model("claude-sonnet-4-5"),
            reasoning_effort: None,
            author: Author::new("u".into(), Some("N".into()), None),
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"type":"prompt","messageId":"m","content":"c","model":"anthropic/claude-sonnet-4-5",
                   "author":{"userId":"u","scmName":"N","scmEmail":null,
                             "gitIdentity":{"mode":"agent-only"}}})
        );
        let a = Author::new("u".into(), Some("N".into()), Some("n@x".into()));
        assert_eq!(
            serde_json::to_value(&a.git_identity).unwrap(),
            json!({"mode":"attributed-user","name":"N","email":"n@x"})
        );
        assert_eq!(provider_model("openai/gpt-5.2"), "openai/gpt-5.2");
        assert_eq!(provider_model("gpt-5.2"), "openai/gpt-5.2");
        assert_eq!(
            serde_json::to_value(Outbound::Ack { ack_id: "a".into() }).unwrap(),
            json!({"type":"ack","ackId":"a"})
        );
        assert_eq!(
            serde_json::to_value(Outbound::Stop).unwrap(),
            json!({"type":"stop"})
        );
    }

    #[test]
    fn a_full_log_keeps_only_critical_events() {
        let (token, done) = (Kind::Token, Kind::ExecutionComplete { success: true });
        assert!(token.is_stored_at(MAX_STORED_EVENTS - 1, 0));
        assert!(!token.is_stored_at(MAX_STORED_EVENTS, 0));
        assert!(!token.is_stored_at(0, MAX_STORED_BYTES));
        assert!(done.is_stored_at(MAX_STORED_EVENTS + 10, MAX_STORED_BYTES));
    }
}
