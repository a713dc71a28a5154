//! The client side of the WebSocket protocol (docs/contract.md §3): what clients send to the
//! session and what the session sends back. Text frames of JSON tagged by `type`. Events
//! travel as the raw JSON the sandbox (or the session) wrote, never re-encoded.

use crate::raw::{Object, Raw};
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::json::Field;
use crate::session::model::SessionStatus;

/// Where a history page starts: the `createdAt`, id and log position of the oldest event
/// already shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryCursor {
    pub timestamp: i64,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
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
        /// The web's id for this request, echoed in its answer.
        client_request_id: Option<String>,
    },
    /// Withdraw a prompt that has not started.
    CancelPrompt {
        message_id: String,
        client_request_id: Option<String>,
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

/// A page of the timeline, oldest first: envelopes `{eventId, timelineSequence, event}`.
#[derive(Debug, Clone)]
pub struct Replay {
    pub events: Vec<Raw>,
    pub has_more: bool,
    pub cursor: Option<HistoryCursor>,
}

impl Replay {
    /// Writes the page into `o`: its envelopes under `key`, `hasMore` and `cursor`.
    pub fn write(&self, o: Object, key: &str) -> Object {
        o.raws(key, &self.events)
            .field("hasMore", &self.has_more)
            .field("cursor", &self.cursor)
    }
}

/// Who a client is, as the other clients see them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantInfo {
    pub participant_id: String,
    pub user_id: String,
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
    /// The session's snapshot and who the subscriber is.
    #[serde(skip_serializing)]
    Subscribed {
        snapshot: Box<crate::session::snapshot::Snapshot>,
        participant_id: String,
        participant: ParticipantInfo,
    },
    Pong {
        timestamp: i64,
    },
    PromptQueued {
        #[serde(skip_serializing_if = "Option::is_none")]
        client_request_id: Option<String>,
        message_id: String,
        position: u32,
    },
    PromptCancelled {
        #[serde(skip_serializing_if = "Option::is_none")]
        client_request_id: Option<String>,
        message_id: String,
    },
    /// The unfinished prompts changed: `[{messageId, content, status}]`.
    #[serde(skip_serializing)]
    PromptQueueUpdated {
        prompt_queue: Raw,
    },
    SessionTitle {
        title: String,
    },
    /// A child session of this one started, changed status or was renamed (a refresh
    /// signal for the web app's list of children).
    ChildSessionUpdate {
        child_session_id: String,
        status: SessionStatus,
        title: Option<String>,
    },
    /// The session's branch was pushed (first, or again).
    SessionBranch {
        branch_name: String,
        repo_owner: String,
        repo_name: String,
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
        #[serde(skip_serializing_if = "Option::is_none")]
        client_request_id: Option<String>,
    },
}

impl ServerMessage {
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            code: code.to_string(),
            message: message.into(),
            client_request_id: None,
        }
    }

    /// An error answering the request `client_request_id`.
    pub fn error_for(
        code: &str,
        message: impl Into<String>,
        client_request_id: Option<String>,
    ) -> Self {
        ServerMessage::Error {
            code: code.to_string(),
            message: message.into(),
            client_request_id,
        }
    }

    pub fn to_text(&self) -> String {
        let frame = |kind: &str| Object::new().field("type", kind);
        match self {
            ServerMessage::Subscribed {
                snapshot,
                participant_id,
                participant,
            } => snapshot
                .write(frame("subscribed"))
                .field("participantId", participant_id)
                .field("participant", participant)
                .end(),
            ServerMessage::PromptQueueUpdated { prompt_queue } => frame("prompt_queue_updated")
                .raw("promptQueue", prompt_queue)
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

/// A frame's `clientRequestId` (1 to 128 characters), if it has one.
fn request_id(m: &Field) -> Result<Option<String>, ApiError> {
    match m.get("clientRequestId") {
        id if id.is_absent() => Ok(None),
        id => id
            .str()
            .filter(|s| !s.is_empty() && s.chars().count() <= 128)
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| {
                ApiError::new(
                    400,
                    "invalid_message",
                    "invalid message: clientRequestId is 1 to 128 characters",
                )
            }),
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
            client_request_id: request_id(&m)?,
        },
        "cancel_prompt" => ClientMessage::CancelPrompt {
            message_id: m
                .text("messageId")
                .filter(|id| !id.is_empty())
                .ok_or_else(|| bad("invalid message: cancel_prompt needs a messageId".into()))?,
            client_request_id: request_id(&m)?,
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
                    (Some(timestamp), Some(id)) => Some(HistoryCursor {
                        timestamp,
                        id,
                        sequence: c.int("sequence").filter(|s| *s >= 0),
                    }),
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
                reasoning_effort: Some("high".into()),
                client_request_id: None,
            }
        );
        assert_eq!(
            parse(r#"{"type":"cancel_prompt","messageId":"m1","clientRequestId":"r1"}"#),
            ClientMessage::CancelPrompt {
                message_id: "m1".into(),
                client_request_id: Some("r1".into()),
            }
        );
        for bad in [
            r#"{"type":"prompt","content":"x","clientRequestId":""}"#,
            r#"{"type":"cancel_prompt"}"#,
        ] {
            assert!(parse_client(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse(
                r#"{"type":"fetch_history","cursor":{"timestamp":5,"id":"e1","sequence":7},"limit":900}"#
            ),
            ClientMessage::FetchHistory {
                cursor: Some(HistoryCursor {
                    timestamp: 5,
                    id: "e1".into(),
                    sequence: Some(7),
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
            client_request_id: Some("r".into()),
            message_id: "m".into(),
            position: 2,
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"type":"prompt_queued","clientRequestId":"r","messageId":"m","position":2})
        );
        // Optional fields are left out, never null (Open-Inspect's schema takes no null there).
        let e = ServerMessage::error("X", "m");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"type":"error","code":"X","message":"m"})
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
            sequence: None,
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
            snapshot: Box::new(crate::session::snapshot::Snapshot {
                session: Raw::of(&json!({"id": "s"})),
                artifacts: vec![],
                timeline: Replay {
                    events: vec![Raw::trusted(
                        r#"{"eventId":"e1","timelineSequence":3,"event":{"type":"token"}}"#.into(),
                    )],
                    has_more: false,
                    cursor: Some(HistoryCursor {
                        sequence: Some(3),
                        ..cursor
                    }),
                },
                spawn_error: None,
                prompt_queue: Raw::trusted("[]".into()),
            }),
            participant_id: "p".into(),
            participant: ParticipantInfo {
                participant_id: "p".into(),
                user_id: "u".into(),
                name: "Ann".into(),
            },
        };
        let v: Value = serde_json::from_str(&s.to_text()).unwrap();
        assert_eq!(
            v,
            json!({
                "type": "subscribed",
                "session": {"id": "s"},
                "artifacts": [],
                "timeline": {
                    "events": [{"eventId": "e1", "timelineSequence": 3, "event": {"type": "token"}}],
                    "hasMore": false,
                    "cursor": {"timestamp": 5, "id": "e1", "sequence": 3},
                },
                "spawnError": null,
                "promptQueue": [],
                "participantId": "p",
                "participant": {"participantId": "p", "userId": "u", "name": "Ann"},
            })
        );
        assert_eq!(
            serde_json::to_value(ServerMessage::SandboxWarming).unwrap(),
            json!({"type":"sandbox_warming"})
        );
    }
}
