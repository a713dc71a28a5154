//! The client side of the WebSocket protocol (DESIGN.md): what clients send to the session
//! and what the session sends back. Text frames of JSON tagged by `type`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// Client → session.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ClientMessage {
    Subscribe {
        token: String,
        client_id: String,
    },
    Ping,
    Prompt {
        content: String,
        #[serde(default)]
        model: Option<String>,
    },
    Stop,
    FetchHistory {
        #[serde(default)]
        cursor: Option<i64>,
        #[serde(default)]
        limit: Option<u32>,
    },
}

/// A page of stored events.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    pub events: Vec<Value>,
    pub has_more: bool,
    pub cursor: Option<i64>,
}

/// Session → client.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ServerMessage {
    Subscribed {
        session_id: String,
        state: Value,
        participant_id: String,
        replay: Replay,
    },
    Pong {
        timestamp: i64,
    },
    PromptQueued {
        message_id: String,
        position: u32,
    },
    SandboxEvent {
        event: Value,
    },
    ProcessingStatus {
        is_processing: bool,
    },
    SandboxStatus {
        status: String,
    },
    SandboxError {
        error: String,
    },
    ArtifactCreated {
        artifact: Value,
    },
    HistoryPage {
        #[serde(flatten)]
        page: Replay,
    },
    Error {
        code: String,
        message: String,
    },
}

impl ServerMessage {
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            code: code.to_string(),
            message: message.into(),
        }
    }

    pub fn to_text(&self) -> String {
        // Serialising these plain data types cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "{\"type\":\"error\"}".to_string())
    }
}

/// Parses one client frame; an unreadable frame becomes an error to answer, never fatal.
pub fn parse_client(text: &str) -> Result<ClientMessage, ApiError> {
    serde_json::from_str(text).map_err(|e| {
        let unknown = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_string));
        match unknown {
            Some(t) if !KNOWN_CLIENT_TYPES.contains(&t.as_str()) => {
                ApiError::new(400, "unknown_type", format!("unknown message type {t:?}"))
            }
            _ => ApiError::new(400, "invalid_message", format!("invalid message: {e}")),
        }
    })
}

const KNOWN_CLIENT_TYPES: &[&str] = &["subscribe", "ping", "prompt", "stop", "fetch_history"];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_client_messages() {
        assert_eq!(
            parse_client(r#"{"type":"subscribe","token":"t","clientId":"c"}"#).unwrap(),
            ClientMessage::Subscribe {
                token: "t".into(),
                client_id: "c".into()
            }
        );
        assert_eq!(
            parse_client(r#"{"type":"ping"}"#).unwrap(),
            ClientMessage::Ping
        );
        assert_eq!(
            parse_client(r#"{"type":"fetch_history","cursor":3}"#).unwrap(),
            ClientMessage::FetchHistory {
                cursor: Some(3),
                limit: None
            }
        );
    }

    #[test]
    fn bad_frames_become_errors() {
        let e = parse_client(r#"{"type":"dance"}"#).unwrap_err();
        assert_eq!(e.code, "unknown_type");
        assert_eq!(
            parse_client("not json").unwrap_err().code,
            "invalid_message"
        );
        let e = parse_client(r#"{"type":"subscribe"}"#).unwrap_err();
        assert_eq!(e.code, "invalid_message");
    }

    #[test]
    fn server_messages_use_wire_names() {
        let m = ServerMessage::PromptQueued {
            message_id: "m".into(),
            position: 2,
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"type":"prompt_queued","messageId":"m","position":2})
        );
        let h = ServerMessage::HistoryPage {
            page: Replay {
                events: vec![],
                has_more: false,
                cursor: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            json!({"type":"history_page","events":[],"hasMore":false,"cursor":null})
        );
    }
}
