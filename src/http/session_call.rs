//! Forwarding a validated command to a session's Durable Object.

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
    let stub = stub(edge.env, id)?;
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("x-request-id", edge.request_id)?;
    let body = serde_json::to_string(command).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let req = Request::new_with_init("https://session/command", &init)?;
    crate::log::object_call();
    Ok(stub.fetch_with_request(req).await?)
}
