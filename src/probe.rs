//! Panics on request, for the test that proves the worker recovers from a broken wasm
//! instance (tests/recovery.rs). Compiled only with the `panic-probe` feature, which no
//! deploy build has: a panic cannot be reached from any input otherwise.

use std::time::Duration;

use worker::{Delay, Env, Response, Result};

use crate::http::incoming::Incoming;
use crate::http::session_call;

/// The command that makes a session's object panic (see [`in_object`]).
const PANIC: &str = "panic-probe";
/// The command that makes it panic after an await (see [`in_object_later`]).
const PANIC_LATER: &str = "panic-probe-later";

/// Answers the probe routes: `/__probe/panic` panics at once, `/__probe/panic-later` after an
/// await, `/__probe/session/{id}` makes the session's object panic. Any other path is not a
/// probe (`None`).
pub async fn answer(req: &Incoming, env: &Env) -> Option<Result<Response>> {
    let path = req.path();
    match path.as_str() {
        "/__probe/panic" => panic!("probe: a panic in the worker"),
        "/__probe/panic-later" => {
            Delay::from(Duration::from_millis(1)).await;
            panic!("probe: a panic in the worker after an await")
        }
        _ => {}
    }
    let (id, command) = match path.strip_prefix("/__probe/session-later/") {
        Some(id) => (id, PANIC_LATER),
        None => (path.strip_prefix("/__probe/session/")?, PANIC),
    };
    let stub = match session_call::stub(env, id) {
        Ok(stub) => stub,
        Err(e) => return Some(crate::http::respond::error(&e)),
    };
    let answer = session_call::post(stub, &command, None).await;
    Some(crate::http::respond::finish(answer))
}

/// Panics when `text` is the probe's command.
pub fn in_object(text: &str) {
    if text == format!("\"{PANIC}\"") {
        panic!("probe: a panic in a session's object");
    }
}

/// Panics after an await when `text` is the probe's later command.
pub async fn in_object_later(text: &str) {
    if text == format!("\"{PANIC_LATER}\"") {
        Delay::from(Duration::from_millis(1)).await;
        panic!("probe: a panic in a session's object after an await");
    }
}
