//! Structured logs: every line is one JSON object (`level`, `msg`, and where known
//! `requestId`, `sessionId`, `route` or `event`, `durationMs`, upstream `status`), so Workers
//! Logs and Logpush can filter it. Messages are built from our own errors and codes, which
//! never carry a secret; the types that hold secrets do not print them (`Debug` redacts).

use std::sync::OnceLock;

use serde_json::{Map, Value};

/// How serious a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// One log line as JSON text: `level`, `msg`, then the fields given (nulls left out).
pub fn line(level: Level, msg: &str, fields: &[(&str, Value)]) -> String {
    let mut m = Map::new();
    m.insert("level".into(), level.as_str().into());
    m.insert("msg".into(), msg.into());
    for (k, v) in fields {
        if !v.is_null() {
            m.insert((*k).to_string(), v.clone());
        }
    }
    Value::Object(m).to_string()
}

/// Writes one line to the runtime's log.
pub fn emit(level: Level, msg: &str, fields: &[(&str, Value)]) {
    let text = line(level, msg, fields);
    match level {
        Level::Info => worker::console_log!("{text}"),
        Level::Warn => worker::console_warn!("{text}"),
        Level::Error => worker::console_error!("{text}"),
    }
}

pub fn warn(msg: &str, fields: &[(&str, Value)]) {
    emit(Level::Warn, msg, fields);
}

pub fn error(msg: &str, fields: &[(&str, Value)]) {
    emit(Level::Error, msg, fields);
}

/// What one D1 round trip did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum D1 {
    Read,
    Write,
}

/// The logging settings, read from the environment once per isolate.
struct Settings {
    /// A line per D1 round trip and Durable Object call (`D1_TRACE=1`).
    trace_d1: bool,
    /// A line per answered request, not only failed and slow ones (`LOG_REQUESTS=all`).
    requests_all: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Reads the logging settings once per isolate (before any line is written).
pub fn configure(env: &worker::Env) {
    SETTINGS.get_or_init(|| {
        let var = |name: &str, on: &str| env.var(name).is_ok_and(|v| v.to_string() == on);
        Settings {
            trace_d1: var("D1_TRACE", "1"),
            requests_all: var("LOG_REQUESTS", "all"),
        }
    });
}

/// Whether every answered request gets a log line (`LOG_REQUESTS=all`).
pub fn requests_all() -> bool {
    SETTINGS.get().is_some_and(|s| s.requests_all)
}

/// Counts one call from the worker to a Durable Object in the log when `D1_TRACE=1` (the
/// webhook tests and the benchmark count them, next to the D1 round trips).
pub fn object_call() {
    if SETTINGS.get().is_some_and(|s| s.trace_d1) {
        emit(Level::Info, "object", &[]);
    }
}

/// Counts one D1 round trip in the log when `D1_TRACE=1` (the benchmark counts them).
pub fn d1(op: D1) {
    if SETTINGS.get().is_some_and(|s| s.trace_d1) {
        let op = match op {
            D1::Read => "read",
            D1::Write => "write",
        };
        emit(Level::Info, "d1", &[("op", op.into())]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_are_json_objects_without_nulls() {
        let l = line(
            Level::Warn,
            "upstream slow",
            &[
                ("requestId", json!("r1")),
                ("sessionId", Value::Null),
                ("durationMs", json!(12.5)),
            ],
        );
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(
            v,
            json!({"level": "warn", "msg": "upstream slow", "requestId": "r1", "durationMs": 12.5})
        );
    }
}
