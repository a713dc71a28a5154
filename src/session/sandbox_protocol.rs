//! The sandbox side of the WebSocket protocol: what a sandbox sends (classified for
//! storage, acknowledgement and de-duplication) and what the session sends it.

use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;

/// Events whose loss would break the session: stored, then acknowledged.
pub const CRITICAL: &[&str] = &["execution_complete", "error", "push_complete", "push_error"];

/// One frame from the sandbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Ready,
    Heartbeat,
    Event(Event),
}

/// A sandbox event: stored and broadcast to clients; unknown types included.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: String,
    pub message_id: Option<String>,
    pub ack_id: Option<String>,
    pub data: Value,
}

impl Event {
    pub fn is_critical(&self) -> bool {
        CRITICAL.contains(&self.kind.as_str())
    }

    /// A stable id for events that must be stored once however often they arrive: token
    /// events (cumulative, one row per message), acknowledged events, and completions.
    pub fn stable_id(&self) -> Option<String> {
        match (&self.ack_id, self.kind.as_str(), &self.message_id) {
            (_, "token", Some(m)) => Some(format!("token:{m}")),
            (Some(ack), _, _) => Some(format!("ack:{ack}")),
            (None, "execution_complete", Some(m)) => Some(format!("complete:{m}")),
            _ => None,
        }
    }

    /// Whether a repeat replaces the stored event (cumulative token text) rather than
    /// being dropped as a duplicate.
    pub fn replaces_on_repeat(&self) -> bool {
        self.kind == "token"
    }

    /// For `execution_complete`: whether it succeeded (absent means success).
    pub fn success(&self) -> bool {
        self.data
            .get("success")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }
}

fn string_field(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_string)
}

/// Parses one text frame from the sandbox.
pub fn parse_inbound(text: &str) -> Result<Inbound, ApiError> {
    let data: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::new(400, "invalid_message", format!("invalid JSON: {e}")))?;
    let kind = data
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.len() <= 64)
        .ok_or_else(|| ApiError::new(400, "invalid_message", "a message needs a string type"))?
        .to_string();
    Ok(match kind.as_str() {
        "ready" => Inbound::Ready,
        "heartbeat" => Inbound::Heartbeat,
        _ => Inbound::Event(Event {
            message_id: string_field(&data, "messageId"),
            ack_id: string_field(&data, "ackId"),
            kind,
            data,
        }),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Author {
    pub user_id: String,
    pub scm_name: Option<String>,
    pub scm_email: Option<String>,
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
        model: String,
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
        assert!(e.is_critical() && !e.success());
        assert_eq!(e.stable_id().as_deref(), Some("ack:a9"));
        let Inbound::Event(e) = parse_inbound(r#"{"type":"brand_new_thing","x":1}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(e.kind, "brand_new_thing");
        assert_eq!(e.stable_id(), None);
        assert!(parse_inbound("nope").is_err());
        assert!(parse_inbound(r#"{"type":5}"#).is_err());
    }

    #[test]
    fn outbound_wire_names() {
        let p = Outbound::Prompt {
            message_id: "m".into(),
            content: "c".into(),
            model: "x".into(),
            author: Author {
                user_id: "u".into(),
                scm_name: Some("N".into()),
                scm_email: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"type":"prompt","messageId":"m","content":"c","model":"x",
                   "author":{"userId":"u","scmName":"N","scmEmail":null}})
        );
        assert_eq!(
            serde_json::to_value(Outbound::Ack { ack_id: "a".into() }).unwrap(),
            json!({"type":"ack","ackId":"a"})
        );
        assert_eq!(
            serde_json::to_value(Outbound::Stop).unwrap(),
            json!({"type":"stop"})
        );
    }
}
