//! Forwarding a validated command to a session's Durable Object, and the one way the worker
//! (or an object) POSTs JSON to any of our Durable Objects.

use worker::{Env, Headers, Method, Request, RequestInit, Response};

use crate::error::{ApiError, ApiResult};
use crate::http::Edge;
use crate::session::command::Command;
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

/// POSTs `body` as JSON to a Durable Object (any of ours), with `request_id` for its log
/// lines, and answers its answer as it is.
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
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let req = Request::new_with_init(url, &init)?;
    crate::log::object_call();
    Ok(stub.fetch_with_request(req).await?)
}
