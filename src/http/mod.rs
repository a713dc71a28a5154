//! The HTTP surface: the route table, the auth guard in front of it, and JSON errors for
//! everything the table does not know.

pub mod guard;
pub mod health;
pub mod repos;
pub mod respond;
pub mod session_call;
pub mod sessions;

use worker::{Env, Request, Response, Result, Router};

use crate::error::ApiError;

/// Handles one request to the worker.
pub async fn handle(req: Request, env: Env) -> Result<Response> {
    if guard::access(&req.method(), &req.path()) == guard::Access::Service {
        if let Err(e) = guard::require_service_token(&req, &env) {
            return respond::error(&e);
        }
    }
    let resp = routes().run(req, env).await?;
    normalize(resp)
}

/// The route table.
fn routes() -> Router<'static, ()> {
    Router::new()
        .get("/health", health::get)
        .get_async("/repos", repos::list)
        .get_async("/sessions", sessions::list)
        .post_async("/sessions", sessions::create)
        .get_async("/sessions/:id", sessions::get)
        .delete_async("/sessions/:id", sessions::delete)
        .post_async("/sessions/:id/archive", sessions::archive)
        .post_async("/sessions/:id/unarchive", sessions::unarchive)
        .post_async("/sessions/:id/prompt", sessions::prompt)
        .post_async("/sessions/:id/stop", sessions::stop)
        .get_async("/sessions/:id/events", sessions::list_of)
        .get_async("/sessions/:id/messages", sessions::list_of)
        .get_async("/sessions/:id/artifacts", sessions::list_of)
        .get_async("/sessions/:id/participants", sessions::list_of)
        .post_async("/sessions/:id/participants", sessions::add_participant)
        .post_async("/sessions/:id/ws-token", sessions::ws_token)
        .post_async("/sessions/:id/pr", sessions::create_pr)
        .get_async("/sessions/:id/ws", sessions::websocket)
}

/// The router answers unknown routes and wrong methods in plain text; answer them in JSON.
fn normalize(resp: Response) -> Result<Response> {
    let is_json = resp
        .headers()
        .get("content-type")?
        .is_some_and(|c| c.contains("json"));
    match resp.status_code() {
        404 if !is_json => respond::error(&ApiError::not_found("no such route")),
        405 if !is_json => respond::error(&ApiError::method_not_allowed()),
        _ => Ok(resp),
    }
}
