//! What Open-Inspect's current web app accepts of a sandbox event (its `sandboxEventSchema`,
//! ecc3d7b81): the web closes its socket on the first live event that does not match. Before
//! an event is stored and relayed, what it lacks that the session knows (the sandbox's id, a
//! timestamp) is filled in and `null`s where a value may only be absent are dropped; an event
//! that still does not match (an unknown type, a required field missing) is stored but not
//! relayed. Pure.

use serde_json::{Map, Value};

/// A field's JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Str,
    Num,
    Bool,
    Obj,
    Arr,
    /// A number, or an object with at least one token count (`step_finish.tokens`).
    Tokens,
    /// One of these strings.
    OneOf(&'static [&'static str]),
}

fn is(ty: Ty, v: &Value) -> bool {
    match ty {
        Ty::Str => v.is_string(),
        Ty::Num => v.is_number(),
        Ty::Bool => v.is_boolean(),
        Ty::Obj => v.is_object(),
        Ty::Arr => v.is_array(),
        Ty::OneOf(words) => v.as_str().is_some_and(|s| words.contains(&s)),
        Ty::Tokens => {
            v.is_number()
                || ["total", "input", "output", "reasoning"]
                    .iter()
                    .any(|k| v.get(k).is_some_and(Value::is_number))
                || ["read", "write"].iter().any(|k| {
                    v.get("cache")
                        .and_then(|c| c.get(k))
                        .is_some_and(Value::is_number)
                })
        }
    }
}

/// Which base fields a type carries: the sandbox's id and a timestamp (`B`), those and the
/// message (`BM`), or only a timestamp (`T`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    B,
    BM,
    T,
}

/// One event type: its base, its required fields, its optional ones (beyond `ackId`).
struct Shape {
    name: &'static str,
    base: Base,
    required: &'static [(&'static str, Ty)],
    optional: &'static [(&'static str, Ty)],
}

const SUB: &[(&str, Ty)] = &[
    ("isSubtask", Ty::Bool),
    ("childSessionId", Ty::Str),
    ("taskCallId", Ty::Str),
];
const REPO: &[(&str, Ty)] = &[
    ("branchName", Ty::Str),
    ("repoOwner", Ty::Str),
    ("repoName", Ty::Str),
    ("sandboxId", Ty::Str),
];

const SHAPES: &[Shape] = &[
    Shape {
        name: "heartbeat",
        base: Base::B,
        required: &[("status", Ty::Str)],
        optional: &[],
    },
    Shape {
        name: "ready",
        base: Base::B,
        required: &[],
        optional: &[("runtimeVersion", Ty::Str), ("repositories", Ty::Arr)],
    },
    Shape {
        name: "token",
        base: Base::BM,
        required: &[("content", Ty::Str)],
        optional: &[],
    },
    Shape {
        name: "tool_call",
        base: Base::BM,
        required: &[("tool", Ty::Str), ("args", Ty::Obj), ("callId", Ty::Str)],
        optional: &[("status", Ty::Str), ("output", Ty::Str)],
    },
    Shape {
        name: "step_start",
        base: Base::BM,
        required: &[],
        optional: &[],
    },
    Shape {
        name: "step_finish",
        base: Base::BM,
        required: &[],
        optional: &[
            ("cost", Ty::Num),
            ("tokens", Ty::Tokens),
            ("reason", Ty::Str),
        ],
    },
    Shape {
        name: "tool_result",
        base: Base::BM,
        required: &[("callId", Ty::Str), ("result", Ty::Str)],
        optional: &[("error", Ty::Str)],
    },
    Shape {
        name: "git_sync",
        base: Base::B,
        required: &[(
            "status",
            Ty::OneOf(&["pending", "in_progress", "completed", "failed"]),
        )],
        optional: &[("sha", Ty::Str)],
    },
    Shape {
        name: "error",
        base: Base::BM,
        required: &[("error", Ty::Str)],
        optional: &[],
    },
    Shape {
        name: "execution_complete",
        base: Base::BM,
        required: &[("success", Ty::Bool)],
        optional: &[("error", Ty::Str)],
    },
    Shape {
        name: "context_compacted",
        base: Base::BM,
        required: &[],
        optional: &[],
    },
    Shape {
        name: "artifact",
        base: Base::B,
        required: &[("artifactType", Ty::Str), ("url", Ty::Str)],
        optional: &[
            ("artifactId", Ty::Str),
            ("metadata", Ty::Obj),
            ("messageId", Ty::Str),
        ],
    },
    Shape {
        name: "push_complete",
        base: Base::T,
        required: &[],
        optional: REPO,
    },
    Shape {
        name: "push_error",
        base: Base::T,
        required: &[("error", Ty::Str)],
        optional: REPO,
    },
    Shape {
        name: "warning",
        base: Base::T,
        required: &[
            (
                "scope",
                Ty::OneOf(&["sync", "setup", "start", "assembly", "secrets", "media"]),
            ),
            ("message", Ty::Str),
        ],
        optional: REPO,
    },
    Shape {
        name: "session_title",
        base: Base::B,
        required: &[("title", Ty::Str)],
        optional: &[],
    },
];

/// Whether `name` is an event type the web knows (the session's own `user_message` aside).
pub fn is_known(name: &str) -> bool {
    SHAPES.iter().any(|s| s.name == name)
}

/// Fits the event `data` for the web: fills `sandboxId` and `timestamp` (seconds) where its
/// type carries them and they are missing, drops optional fields that are `null` or of the
/// wrong type; answers whether it now matches its type's schema (and whether it changed).
pub fn fit(data: &mut Value, sandbox_id: &str, now_ms: i64) -> Fit {
    let Some(fields) = data.as_object_mut() else {
        return Fit {
            relayable: false,
            changed: false,
        };
    };
    let name = fields
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(shape) = SHAPES.iter().find(|s| s.name == name) else {
        return Fit {
            relayable: false,
            changed: false,
        };
    };
    let mut changed = false;
    let mut put = |fields: &mut Map<String, Value>, key: &str, v: Value| {
        fields.insert(key.into(), v);
        changed = true;
    };
    if !fields.get("timestamp").is_some_and(Value::is_number) {
        put(fields, "timestamp", Value::from(now_ms as f64 / 1000.0));
    }
    if shape.base != Base::T && !fields.get("sandboxId").is_some_and(Value::is_string) {
        put(fields, "sandboxId", Value::from(sandbox_id));
    }
    let common: &[(&str, Ty)] = &[("ackId", Ty::Str)];
    let optional = common
        .iter()
        .chain(shape.optional)
        .chain(if shape.base == Base::BM { SUB } else { &[] });
    let wrong: Vec<&str> = optional
        .filter(|(k, ty)| fields.get(*k).is_some_and(|v| !is(*ty, v)))
        .map(|(k, _)| *k)
        .collect();
    for k in wrong {
        fields.remove(k);
        changed = true;
    }
    if shape.name == "ready"
        && fields
            .get("opencodeSessionId")
            .is_some_and(|v| !v.is_string() && !v.is_null())
    {
        fields.remove("opencodeSessionId");
        changed = true;
    }
    let message_ok =
        shape.base != Base::BM || fields.get("messageId").is_some_and(Value::is_string);
    let required_ok = shape
        .required
        .iter()
        .all(|(k, ty)| fields.get(*k).is_some_and(|v| is(*ty, v)));
    Fit {
        relayable: message_ok && required_ok,
        changed,
    }
}

/// What [`fit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// The event matches the web's schema now: it may be relayed.
    pub relayable: bool,
    /// Fields were added or dropped: the event's text must be written again.
    pub changed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_base_fields_are_filled_in() {
        let mut e = json!({"type": "token", "messageId": "m1", "content": "hi"});
        let f = fit(&mut e, "sb-1", 1_500);
        assert_eq!(
            f,
            Fit {
                relayable: true,
                changed: true
            }
        );
        assert_eq!(e["sandboxId"], "sb-1");
        assert_eq!(e["timestamp"], 1.5);
        // Already complete: untouched.
        let mut same = e.clone();
        assert_eq!(
            fit(&mut same, "other", 9_000),
            Fit {
                relayable: true,
                changed: false
            }
        );
        assert_eq!(same, e);
        // Push reports carry no sandbox id of their own.
        let mut p = json!({"type": "push_complete", "branchName": "b", "timestamp": 1});
        assert_eq!(
            fit(&mut p, "sb", 0),
            Fit {
                relayable: true,
                changed: false
            }
        );
        assert!(p.get("sandboxId").is_none());
    }

    #[test]
    fn nulls_and_mistyped_optionals_are_dropped() {
        let mut e = json!({"type": "execution_complete", "messageId": "m", "success": false,
                           "error": null, "ackId": null, "sandboxId": "s", "timestamp": 1});
        assert_eq!(
            fit(&mut e, "s", 0),
            Fit {
                relayable: true,
                changed: true
            }
        );
        assert!(e.get("error").is_none() && e.get("ackId").is_none());
        let mut s = json!({"type": "step_finish", "messageId": "m", "tokens": {}, "cost": 0.1,
                           "sandboxId": "s", "timestamp": 1});
        assert!(fit(&mut s, "s", 0).relayable);
        assert!(s.get("tokens").is_none() && s["cost"] == 0.1);
        let mut t = json!({"type": "step_finish", "messageId": "m", "tokens": {"cache": {"read": 3}},
                           "sandboxId": "s", "timestamp": 1});
        assert_eq!(
            fit(&mut t, "s", 0),
            Fit {
                relayable: true,
                changed: false
            }
        );
    }

    #[test]
    fn what_the_web_would_refuse_is_not_relayed() {
        for bad in [
            json!({"type": "snapshot_ready", "snapshotId": "x"}),
            json!({"type": "brand_new"}),
            json!({"type": "token", "content": "no message"}),
            json!({"type": "tool_call", "messageId": "m", "tool": "bash", "callId": "c"}),
            json!({"type": "tool_result", "messageId": "m", "callId": "c", "output": "o"}),
            json!({"type": "execution_complete", "messageId": "m"}),
            json!({"type": "git_sync", "status": "done"}),
            json!({"type": "warning", "scope": "other", "message": "m"}),
            json!("not an object"),
        ] {
            let mut e = bad.clone();
            assert!(!fit(&mut e, "s", 0).relayable, "{bad}");
        }
        assert!(is_known("tool_call") && !is_known("user_message") && !is_known("stopped"));
    }
}
