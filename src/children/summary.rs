//! A child session as its parent's agent reads it (`get-child-status` with a child id): what
//! the detail route's query asks for, and the child's latest result (its last finished
//! prompt's answer, tool calls and outcome) and recent events, built from its rows. Pure.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ApiError;

/// The most events of a result read (its newest first).
pub const MAX_RESULT_EVENTS: usize = 1000;
/// The largest trajectory page asked for (a page also stops at about 2 MiB).
pub const MAX_TRAJECTORY: u32 = 1000;
/// Events looked at for the recent ones, and how many are shown.
pub const RECENT_FETCHED: u32 = 50;
pub const RECENT_SHOWN: usize = 5;

/// What `GET /sessions/{id}/children/{child}` is asked to include.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Query {
    /// The latest result (`include=result`).
    pub result: bool,
    /// A page of the event timeline (`include=trajectory`): its size and where it starts.
    pub trajectory: Option<(u32, Option<i64>)>,
}

/// Reads `include` (repeated or comma-separated: `result`, `trajectory`), and with a
/// trajectory `trajectoryLimit` (default 200, at most 1000) and `trajectoryCursor`.
pub fn query<K: AsRef<str>, V: AsRef<str>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Result<Query, ApiError> {
    let (mut result, mut trajectory) = (false, false);
    let (mut limit, mut cursor) = (None, None);
    for (k, v) in pairs {
        match k.as_ref() {
            "include" => {
                for part in v
                    .as_ref()
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                {
                    match part {
                        "result" => result = true,
                        "trajectory" => trajectory = true,
                        other => {
                            return Err(ApiError::bad_request(format!("Invalid include: {other}")))
                        }
                    }
                }
            }
            "trajectoryLimit" => limit = Some(v.as_ref().to_string()),
            "trajectoryCursor" => cursor = Some(v.as_ref().to_string()),
            _ => {}
        }
    }
    let trajectory = if trajectory {
        let limit = match limit.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            None => 200,
            Some(l) => match l.parse::<u32>() {
                Ok(n) if n > 0 => n.min(MAX_TRAJECTORY),
                _ => return Err(ApiError::bad_request("Invalid trajectoryLimit")),
            },
        };
        let cursor = match cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => match c.parse::<i64>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(ApiError::bad_request("Invalid trajectoryCursor")),
            },
        };
        Some((limit, cursor))
    } else {
        None
    };
    Ok(Query { result, trajectory })
}

/// One stored event as the summary reads it.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: String,
    pub data: Value,
    pub created_at: i64,
}

/// A tool call in one line, as Open-Inspect's result shows it.
pub fn tool_summary(tool: &str, args: &Value) -> String {
    let arg = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| args.get(*k).and_then(Value::as_str))
            .unwrap_or("")
            .to_string()
    };
    let file = || arg(&["file_path", "filePath", "path"]);
    match tool.to_ascii_lowercase().as_str() {
        "read" => format!("Read {}", file()),
        "edit" => format!("Edited {}", file()),
        "write" => format!("Created {}", file()),
        "bash" => {
            let cmd = arg(&["command", "cmd"]);
            match cmd.char_indices().nth(40) {
                Some((at, _)) => format!("Ran: {}...", &cmd[..at]),
                None => format!("Ran: {cmd}"),
            }
        }
        "grep" => format!("Searched for \"{}\"", arg(&["pattern"])),
        _ => format!("Used {tool}"),
    }
}

/// The newest events worth showing (no tokens, heartbeats or steps), newest first, each
/// `{type, data, createdAt}`.
pub fn recent(newest_first: &[Event]) -> Vec<Value> {
    newest_first
        .iter()
        .filter(|e| {
            !matches!(
                e.kind.as_str(),
                "token" | "heartbeat" | "step_start" | "step_finish"
            )
        })
        .take(RECENT_SHOWN)
        .map(|e| json!({"type": e.kind, "data": e.data, "createdAt": e.created_at}))
        .collect()
}

/// The finished prompt a result is about.
pub struct Finished<'a> {
    pub message_id: &'a str,
    pub completed: bool,
    pub completed_at: Option<i64>,
}

/// The result of the prompt `done`, from its events (newest first, at most
/// [`MAX_RESULT_EVENTS`]; `limit_reached` when there were more) and its pull requests
/// (`{type, url, label, metadata}`).
pub fn final_response(
    done: &Finished<'_>,
    newest_first: &[Event],
    limit_reached: bool,
    artifacts: Vec<Value>,
) -> Value {
    let text = newest_first
        .iter()
        .find(|e| e.kind == "token")
        .and_then(|e| e.data.get("content").and_then(Value::as_str))
        .unwrap_or("");
    // Every tool call once (the sandbox reports each state of a call), in the order called.
    let mut calls: Vec<(String, Value)> = Vec::new();
    for e in newest_first.iter().rev().filter(|e| e.kind == "tool_call") {
        let id = e
            .data
            .get("callId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let tool = e
            .data
            .get("tool")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        let summary = json!({"tool": tool,
            "summary": tool_summary(tool, e.data.get("args").unwrap_or(&Value::Null))});
        match calls.iter_mut().find(|(c, _)| !id.is_empty() && *c == id) {
            Some(slot) => slot.1 = summary,
            None => calls.push((id, summary)),
        }
    }
    let completion = newest_first.iter().find(|e| e.kind == "execution_complete");
    let success = completion
        .and_then(|e| e.data.get("success").and_then(Value::as_bool))
        .unwrap_or(done.completed);
    let error = completion
        .and_then(|e| e.data.get("error").and_then(Value::as_str))
        .or_else(|| {
            newest_first
                .iter()
                .find(|e| e.kind == "error")
                .and_then(|e| e.data.get("error").and_then(Value::as_str))
        });
    let mut v = json!({
        "textContent": text,
        "toolCalls": calls.into_iter().map(|(_, s)| s).collect::<Vec<_>>(),
        "artifacts": artifacts,
        "mediaArtifacts": [],
        "success": success,
        "messageId": done.message_id,
        "completedAt": done.completed_at,
        "eventCount": newest_first.len(),
        "eventLimitReached": limit_reached,
    });
    if let Some(e) = error {
        v["error"] = json!(e);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Result<Query, ApiError> {
        let url = url::Url::parse(&format!("http://x/{s}")).unwrap();
        query(url.query_pairs())
    }

    #[test]
    fn queries() {
        assert_eq!(q("").unwrap(), Query::default());
        assert_eq!(
            q("?include=result,trajectory&trajectoryLimit=5000&trajectoryCursor=17").unwrap(),
            Query {
                result: true,
                trajectory: Some((1000, Some(17)))
            }
        );
        assert_eq!(
            q("?include=result&include=trajectory").unwrap().trajectory,
            Some((200, None))
        );
        // Without a trajectory its parameters are not read.
        assert_eq!(q("?trajectoryLimit=x").unwrap(), Query::default());
        assert_eq!(
            q("?include=everything").unwrap_err().message,
            "Invalid include: everything"
        );
        assert_eq!(
            q("?include=trajectory&trajectoryLimit=0")
                .unwrap_err()
                .message,
            "Invalid trajectoryLimit"
        );
        assert_eq!(
            q("?include=trajectory&trajectoryCursor=abc")
                .unwrap_err()
                .message,
            "Invalid trajectoryCursor"
        );
    }

    fn ev(kind: &str, data: Value) -> Event {
        Event {
            kind: kind.into(),
            data,
            created_at: 1,
        }
    }

    #[test]
    fn a_result_from_the_events() {
        // Newest first.
        let events = vec![
            ev(
                "execution_complete",
                json!({"success": false, "error": "gave up"}),
            ),
            ev("token", json!({"content": "All done"})),
            ev(
                "tool_call",
                json!({"tool": "bash", "callId": "c1", "status": "completed",
                                   "args": {"command": "cargo test --workspace --all-features --no-fail-fast"}}),
            ),
            ev("token", json!({"content": "All"})),
            ev(
                "tool_call",
                json!({"tool": "bash", "callId": "c1", "status": "running", "args": {}}),
            ),
            ev(
                "tool_call",
                json!({"tool": "read", "callId": "c0", "args": {"filePath": "src/a.rs"}}),
            ),
            ev("step_start", json!({})),
        ];
        let done = Finished {
            message_id: "m1",
            completed: true,
            completed_at: Some(9),
        };
        let r = final_response(&done, &events, false, vec![]);
        assert_eq!(r["textContent"], "All done");
        assert_eq!(
            r["toolCalls"],
            json!([{"tool": "read", "summary": "Read src/a.rs"},
                   {"tool": "bash", "summary": "Ran: cargo test --workspace --all-features --..."}])
        );
        assert_eq!(
            (r["success"].clone(), r["error"].clone()),
            (json!(false), json!("gave up"))
        );
        assert_eq!(
            (r["eventCount"].clone(), r["messageId"].clone()),
            (json!(7), json!("m1"))
        );
        let shown = recent(&events);
        assert_eq!(shown.len(), 4);
        assert_eq!(shown[1]["type"], "tool_call");
        assert_eq!(
            tool_summary("Grep", &json!({"pattern": "x"})),
            "Searched for \"x\""
        );
        assert_eq!(tool_summary("todowrite", &json!({})), "Used todowrite");
    }
}
