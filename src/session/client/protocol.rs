//! The client side of the WebSocket protocol (docs/contract.md §3): what clients send to the
//! session and what the session sends back. Text frames of JSON tagged by `type`. Events
//! travel as the raw JSON the sandbox (or the session) wrote, never re-encoded.

use crate::raw::{Object, Raw};
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::json::Field;
use crate::session::model::SessionStatus;

/// Where a history page starts: the `createdAt` and id of the oldest event already shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryCursor {
    pub timestamp: i64,
    pub id: String,
}

/// Client → session (read by [`parse_client`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Subscribe {
        token: Option<String>,
        client_id: Option<String>,
    },
    Ping,
    Prompt {
        content: String,
        model: Option<String>,
        reasoning_effort: Option<String>,
    },
    Stop,
    /// Someone is typing: warm the sandbox up.
    Typing,
    Presence {
        status: Option<PresenceStatus>,
    },
    FetchHistory {
        cursor: Option<HistoryCursor>,
        limit: Option<i64>,
    },
}

/// A participant's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PresenceStatus {
    #[default]
    Active,
    Idle,
    Away,
}

crate::wire::wire_names!(PresenceStatus {
    Active => "active",
    Idle => "idle",
    Away => "away",
});

/// A page of stored events, oldest first, as the sandbox (or session) wrote them.
#[derive(Debug, Clone)]
pub struct Replay {
    pub events: Vec<Raw>,
    pub has_more: bool,
    pub cursor: Option<HistoryCursor>,
}

/// Who a client is, as the other clients see them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantInfo {
    pub participant_id: String,
    pub name: String,
}

/// One subscribed participant, as presence frames list them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Present {
    pub participant_id: String,
    pub user_id: String,
    pub name: String,
    pub status: PresenceStatus,
    pub last_seen: i64,
}

/// Session → client. The frames that carry stored events are written by [`Self::to_text`]
/// with the events' texts as they are; serde writes the others.
#[derive(Debug, Clone, Serialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ServerMessage {
    #[serde(skip_serializing)]
    Subscribed {
        session_id: String,
        state: Raw,
        participant_id: String,
        participant: ParticipantInfo,
        replay: Replay,
        spawn_error: Option<String>,
    },
    Pong {
        timestamp: i64,
    },
    PromptQueued {
        message_id: String,
        position: u32,
    },
    /// `event`: exactly what the sandbox sent (or the session wrote for `user_message`).
    #[serde(skip_serializing)]
    SandboxEvent {
        event: Raw,
    },
    ProcessingStatus {
        is_processing: bool,
    },
    SessionStatus {
        status: SessionStatus,
    },
    SandboxStatus {
        status: String,
    },
    SandboxWarming,
    SandboxSpawning,
    SandboxReady,
    SandboxError {
        error: String,
    },
    #[serde(skip_serializing)]
    ArtifactCreated {
        artifact: Raw,
    },
    /// An artifact changed (a pull request's state, from the forge).
    #[serde(skip_serializing)]
    ArtifactUpdated {
        artifact: Raw,
    },
    #[serde(skip_serializing)]
    HistoryPage {
        items: Vec<Raw>,
        has_more: bool,
        cursor: Option<HistoryCursor>,
    },
    PresenceSync {
        participants: Vec<Present>,
    },
    PresenceUpdate {
        participants: Vec<Present>,
    },
    PresenceLeave {
        user_id: String,
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
        let frame = |kind: &str| Object::new().field("type", kind);
        match self {
            ServerMessage::Subscribed {
                session_id,
                state,
                participant_id,
                participant,
                replay,
                spawn_error,
            } => frame("subscribed")
                .field("sessionId", session_id)
                .raw("state", state)
                .field("participantId", participant_id)
                .field("participant", participant)
                .object(
                    "replay",
                    Object::new()
                        .raws("events", &replay.events)
                        .field("hasMore", &replay.has_more)
                        .field("cursor", &replay.cursor),
                )
                .field("spawnError", spawn_error)
                .end(),
            ServerMessage::SandboxEvent { event } => {
                frame("sandbox_event").raw("event", event).end()
            }
            ServerMessage::ArtifactCreated { artifact } => {
                frame("artifact_created").raw("artifact", artifact).end()
            }
            ServerMessage::ArtifactUpdated { artifact } => {
                frame("artifact_updated").raw("artifact", artifact).end()
            }
            ServerMessage::HistoryPage {
                items,
                has_more,
                cursor,
            } => frame("history_page")
                .raws("items", items)
                .field("hasMore", has_more)
                .field("cursor", cursor)
                .end(),
            // Serialising these plain data types cannot fail.
            other => Raw::of(other).into_string(),
        }
    }
}

/// Parses one client frame: `Ok(None)` for a type this session does not know (ignored, as
/// the contract says); an unreadable frame becomes an error to answer, never fatal. Fields
/// are read by name (`json::Field`); an optional field of another type is absent.
pub fn parse_client(text: &str) -> Result<Option<ClientMessage>, ApiError> {
    let bad = |message: String| ApiError::new(400, "invalid_message", message);
    let value: Value = serde_json::from_str(text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let m = Field::of(&value);
    let Some(kind) = m.get("type").str() else {
        return Err(bad("a message needs a string type".into()));
    };
    Ok(Some(match kind {
        "subscribe" => ClientMessage::Subscribe {
            token: m.text("token"),
            client_id: m.text("clientId"),
        },
        "ping" => ClientMessage::Ping,
        "prompt" => ClientMessage::Prompt {
            content: m
                .text("content")
                .ok_or_else(|| bad("invalid message: a prompt needs a string content".into()))?,
            model: m.text("model"),
            reasoning_effort: m.text("reasoningEffort"),
        },
        "stop" => ClientMessage::Stop,
        "typing" => ClientMessage::Typing,
        "presence" => ClientMessage::Presence {
            status: match m.get("status") {
                s if s.is_absent() => None,
                s => Some(s.str().and_then(PresenceStatus::parse).ok_or_else(|| {
                    bad("invalid message: status is one of active, idle, away".into())
                })?),
            },
        },
        "fetch_history" => ClientMessage::FetchHistory {
            cursor: match m.get("cursor") {
                c if c.is_absent() => None,
                c => match (c.int("timestamp"), c.text("id")) {
                    (Some(timestamp), Some(id)) => Some(HistoryCursor { timestamp, id }),
                    _ => {
                        return Err(bad(
                            "invalid message: a cursor has a timestamp and an id".into()
                        ))
                    }
                },
            },
            limit: m.int("limit"),
        },
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> ClientMessage {
        parse_client(text).unwrap().unwrap()
    }

    #[test]
    fn parses_client_messages() {
        assert_eq!(
            parse(r#"{"type":"subscribe","token":"t","clientId":"c"}"#),
            ClientMessage::Subscribe {
                token: Some("t".into()),
                client_id: Some("c".into())
            }
        );
        assert_eq!(
            parse(r#"{"type":"subscribe"}"#),
            ClientMessage::Subscribe {
                token: None,
                client_id: None
            }
        );
        assert_eq!(parse(r#"{"type":"ping"}"#), ClientMessage::Ping);
        assert_eq!(parse(r#"{"type":"typing"}"#), ClientMessage::Typing);
        assert_eq!(
            parse(r#"{"type":"prompt","content":"hi","reasoningEffort":"high","attachments":[]}"#),
            ClientMessage::Prompt {
                content: "hi".into(),
                model: None,
                reasoning_effort: Some("high".into())
            }
        );
        assert_eq!(
            parse(r#"{"type":"fetch_history","cursor":{"timestamp":5,"id":"e1"},"limit":900}"#),
            ClientMessage::FetchHistory {
                cursor: Some(HistoryCursor {
                    timestamp: 5,
                    id: "e1".into()
                }),
                limit: Some(900)
            }
        );
    }

    #[test]
    fn unknown_types_are_ignored_and_bad_frames_are_errors() {
        assert_eq!(parse_client(r#"{"type":"dance"}"#).unwrap(), None);
        assert_eq!(
            parse_client("not json").unwrap_err().code,
            "invalid_message"
        );
        assert_eq!(
            parse_client(r#"{"type":"prompt"}"#).unwrap_err().code,
            "invalid_message"
        );
        assert_eq!(
            parse_client(r#"{"x":1}"#).unwrap_err().code,
            "invalid_message"
        );
        for untyped in [r#"{"type":5}"#, r#"{"x":1}"#, "[]"] {
            let e = parse_client(untyped).unwrap_err();
            assert_eq!(e.message, "a message needs a string type", "{untyped}");
        }
        let e = parse_client("{\"type\":").unwrap_err();
        assert!(e.message.starts_with("invalid JSON"), "{}", e.message);
        // An escaped type is still read.
        assert_eq!(parse(r#"{"type":"p\u0069ng"}"#), ClientMessage::Ping);
        for bad in [
            r#"{"type":"prompt","content":5}"#,
            r#"{"type":"presence","status":"dancing"}"#,
            r#"{"type":"fetch_history","cursor":{"id":"e1"}}"#,
        ] {
            assert_eq!(
                parse_client(bad).unwrap_err().code,
                "invalid_message",
                "{bad}"
            );
        }
        assert_eq!(
            parse(r#"{"type":"presence","status":"idle"}"#),
            ClientMessage::Presence {
                status: Some(PresenceStatus::Idle)
            }
        );
        assert_eq!(
            parse(r#"{"type":"presence"}"#),
            ClientMessage::Presence { status: None }
        );
    }

    #[test]
    fn server_messages_use_wire_names_and_keep_raw_events() {
        let m = ServerMessage::PromptQueued {
            message_id: "m".into(),
            position: 2,
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"type":"prompt_queued","messageId":"m","position":2})
        );
        let raw = r#"{"type":"token","timestamp":1733000000.1234567,"x":[1]}"#;
        let ev = ServerMessage::SandboxEvent {
            event: Raw::trusted(raw.into()),
        };
        assert_eq!(
            ev.to_text(),
            format!(r#"{{"type":"sandbox_event","event":{raw}}}"#)
        );
        // Frames with raw events are written only by to_text, never half by serde.
        assert!(serde_json::to_string(&ev).is_err());
        let cursor = HistoryCursor {
            timestamp: 5,
            id: "e1".into(),
        };
        let h = ServerMessage::HistoryPage {
            items: vec![Raw::trusted(raw.into()), Raw::trusted("{}".into())],
            has_more: true,
            cursor: Some(cursor.clone()),
        };
        assert_eq!(
            h.to_text(),
            format!(
                r#"{{"type":"history_page","items":[{raw},{{}}],"hasMore":true,"cursor":{{"timestamp":5,"id":"e1"}}}}"#
            )
        );
        let s = ServerMessage::Subscribed {
            session_id: "s".into(),
            state: Raw::of(&json!({"id": "s"})),
            participant_id: "p".into(),
            participant: ParticipantInfo {
                participant_id: "p".into(),
                name: "Ann".into(),
            },
            replay: Replay {
                events: vec![Raw::trusted("{\"type\":\"token\"}".into())],
                has_more: false,
                cursor: Some(cursor),
            },
            spawn_error: None,
        };
        let v: Value = serde_json::from_str(&s.to_text()).unwrap();
        assert_eq!(
            v,
            json!({
                "type": "subscribed",
                "sessionId": "s",
                "state": {"id": "s"},
                "participantId": "p",
                "participant": {"participantId": "p", "name": "Ann"},
                "replay": {
                    "events": [{"type": "token"}],
                    "hasMore": false,
                    "cursor": {"timestamp": 5, "id": "e1"},
                },
                "spawnError": null,
            })
        );
        assert_eq!(
            serde_json::to_value(ServerMessage::SandboxWarming).unwrap(),
            json!({"type":"sandbox_warming"})
        );
    }
}
