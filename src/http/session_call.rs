//! Forwarding a validated command to a session's Durable Object, and the one way the worker
//! (or an object) sends JSON to any of our Durable Objects, which answer it: an RPC call of
//! the object's `command` method (src/entry.js), answered with status, body and headers.

use crate::json;
use wasm_bindgen::prelude::*;
use worker::js_sys::{Array, Promise};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys;
use worker::{Env, Headers, Response, ResponseBody, ResponseBuilder};

use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
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
    post(stub(edge.env, id)?, command, Some(edge.request_id)).await
}

#[wasm_bindgen]
extern "C" {
    /// A stub of one of our Durable Objects, as its RPC method `command` is called (the
    /// object's side is [`answer`]; src/entry.js makes the objects take RPC calls), and as a
    /// socket upgrade is handed to it.
    type ObjectStub;
    #[wasm_bindgen(method, catch, js_name = command)]
    fn command(this: &ObjectStub, text: &str, request_id: Option<&str>)
        -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = fetch)]
    fn fetch(this: &ObjectStub, req: &web_sys::Request) -> Result<Promise, JsValue>;
}

/// Hands a socket upgrade to a Durable Object as it came, and answers the object's answer.
pub async fn upgrade(stub: worker::Stub, req: &Incoming) -> ApiResult<Response> {
    let stub: ObjectStub = stub.into_rpc();
    let answered = stub.fetch(req.raw()).map_err(worker::Error::from)?;
    let answer = JsFuture::from(answered)
        .await
        .map_err(worker::Error::from)?;
    Ok(Response::from(web_sys::Response::from(answer)))
}

/// Sends `body` as JSON to a Durable Object (any of ours) by calling its `command` method
/// over RPC, with `request_id` for its log lines, and answers its answer as it is.
pub async fn post<T: serde::Serialize>(
    stub: worker::Stub,
    body: &T,
    request_id: Option<&str>,
) -> ApiResult<Response> {
    let text = serde_json::to_string(body).map_err(|e| ApiError::internal(e.to_string()))?;
    crate::log::object_call();
    let stub: ObjectStub = stub.into_rpc();
    let called = stub
        .command(&text, request_id)
        .map_err(worker::Error::from)?;
    let answer = JsFuture::from(called).await.map_err(worker::Error::from)?;
    from_answer(&answer)
}

/// What an object's `command` answers: `[status, body, [[name, value], ...]]`.
fn from_answer(answer: &JsValue) -> ApiResult<Response> {
    let bad = || ApiError::internal("a Durable Object answered a command in an unknown form");
    let answer: &Array = answer.dyn_ref().ok_or_else(bad)?;
    let status = answer.get(0).as_f64().ok_or_else(bad)? as u16;
    let body = answer.get(1).as_string().ok_or_else(bad)?;
    let headers = Headers::new();
    for pair in answer.get(2).dyn_into::<Array>().map_err(|_| bad())?.iter() {
        let pair: Array = pair.dyn_into().map_err(|_| bad())?;
        let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) else {
            return Err(bad());
        };
        headers.append(&name, &value)?;
    }
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .fixed(body.into_bytes()))
}

/// The command [`post`] sent, as an object reads it.
pub fn read<T: serde::de::DeserializeOwned>(text: &str) -> ApiResult<T> {
    json::read(text).map_err(|e| {
        ApiError::internal(format!(
            "bad command: {}",
            e.unwrap_or_else(|| "not JSON".into())
        ))
    })
}

/// An object's answer to a command, as [`post`] reads it back: errors become their JSON
/// answer; a body is always one the object wrote whole.
pub fn answer(result: ApiResult<Response>) -> Result<JsValue, JsValue> {
    let resp = crate::http::respond::finish(result)?;
    let status = resp.status_code();
    let headers: Array = resp
        .headers()
        .entries()
        .map(|(name, value)| Array::of2(&name.into(), &value.into()))
        .collect();
    let body = match resp.into_parts().1 {
        ResponseBody::Body(bytes) => String::from_utf8(bytes).ok(),
        ResponseBody::Empty => Some(String::new()),
        ResponseBody::Stream(_) => None,
    };
    let Some(body) = body else {
        return Err(JsValue::from_str("a command was answered with a stream"));
    };
    Ok(Array::of3(&status.into(), &body.into(), &headers).into())
}
