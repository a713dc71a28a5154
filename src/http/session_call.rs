//! Forwarding a validated command to a session's Durable Object, and the one way the worker
//! (or an object) POSTs JSON to any of our Durable Objects and an object reads it back.

use crate::json::{self, FromJson};
use worker::{Env, Headers, Request, Response};

use crate::error::{ApiError, ApiResult};
use crate::http::Edge;
use crate::session::command::Command;
use crate::upstream::fetch;
use crate::upstream::http::Method;
use crate::validate;

/// The stub of the session `id`, or 404 when `id` is not a session id.
pub fn stub(env: &Env, id: &str) -> ApiResult<worker::Stub> {
    let unknown = || ApiError::not_found("session not found");
    if !validate::is_session_id(id) {
        return Err(unknown());
    }
    let ns = env.durable_object("SESSION")?;
    let object_id = ns.id_from_string(id).map_err(|_| unknown())?;
    Ok(object_id.get_stub()?)
}

/// Sends `command` to the session `id` (with the request's id, for the session's log
/// lines); its answer (JSON, with status) is passed through.
pub async fn call(edge: &Edge<'_>, id: &str, command: &Command) -> ApiResult<Response> {
    post(
        &stub(edge.env, id)?,
        "https://session/command",
        command,
        Some(edge.request_id),
    )
    .await
}

/// The header a small command rides in (see [`post`]).
const COMMAND_HEADER: &str = "x-command";

/// A command at most this long (and ASCII, as header values must be) is sent in
/// [`COMMAND_HEADER`]: the object then answers without opening a body stream.
const COMMAND_HEADER_BYTES: usize = 4096;

/// POSTs `body` as JSON to a Durable Object (any of ours), with `request_id` for its log
/// lines, and answers its answer as it is. The object reads it with [`command`].
pub async fn post<T: serde::Serialize>(
    stub: &worker::Stub,
    url: &str,
    body: &T,
    request_id: Option<&str>,
) -> ApiResult<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    if let Some(id) = request_id {
        headers.set("x-request-id", id)?;
    }
    let body = serde_json::to_string(body).map_err(|e| ApiError::internal(e.to_string()))?;
    let small = body.len() <= COMMAND_HEADER_BYTES && body.is_ascii();
    if small {
        headers.set(COMMAND_HEADER, &body)?;
    }
    let body = (!small).then_some(body.as_str());
    let req = fetch::request(url, Method::Post, &headers, body)?;
    crate::log::object_call();
    Ok(stub.fetch_with_request(req).await?)
}

/// The command [`post`] sent to this object: from its header, else from the body (which
/// the worker has already bounded).
pub async fn command<T: FromJson>(req: &mut Request) -> ApiResult<T> {
    let text = match req.headers().get(COMMAND_HEADER)? {
        Some(text) => text,
        None => req.text().await?,
    };
    json::read(&text).map_err(|e| {
        ApiError::internal(format!(
            "bad command: {}",
            e.unwrap_or_else(|| "not JSON".into())
        ))
    })
}
