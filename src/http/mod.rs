//! The HTTP surface: each request is parsed once into a `Route`, checked against the route's
//! access rule, and handed to its handler by the table in [`dispatch`]; every failure is
//! answered as JSON in one place.

pub mod guard;
pub mod health;
pub mod repos;
pub mod respond;
pub mod route;
pub mod session_call;
pub mod sessions;

use worker::{Env, Request, Response, Result};

use crate::error::{ApiError, ApiResult};
use route::{Access, Route, Unmatched};

/// Handles one request to the worker.
pub async fn handle(req: Request, env: Env) -> Result<Response> {
    respond::finish(serve(req, &env).await)
}

async fn serve(req: Request, env: &Env) -> ApiResult<Response> {
    let route = Route::parse(&req.method(), &req.path());
    if route::access(&route) == Access::Service {
        guard::require_service_token(&req, env)?;
    }
    match route {
        Ok(route) => dispatch(route, req, env).await,
        Err(Unmatched::NotFound) => Err(ApiError::not_found("no such route")),
        Err(Unmatched::MethodNotAllowed) => Err(ApiError::method_not_allowed()),
    }
}

/// The route table.
async fn dispatch(route: Route, req: Request, env: &Env) -> ApiResult<Response> {
    match route {
        Route::Health => health::get(),
        Route::ListRepos => repos::list(&req, env).await,
        Route::ListSessions => sessions::list(&req, env).await,
        Route::CreateSession => sessions::create(req, env).await,
        Route::GetSession(id) => sessions::get(env, &id).await,
        Route::DeleteSession(id) => sessions::delete(env, &id).await,
        Route::Archive(id) => sessions::archive(req, env, &id, true).await,
        Route::Unarchive(id) => sessions::archive(req, env, &id, false).await,
        Route::Prompt(id) => sessions::prompt(req, env, &id).await,
        Route::Stop(id) => sessions::stop(env, &id).await,
        Route::List(id, kind) => sessions::list_of(&req, env, &id, kind).await,
        Route::AddParticipant(id) => sessions::add_participant(req, env, &id).await,
        Route::WsToken(id) => sessions::ws_token(req, env, &id).await,
        Route::CreatePr(id) => sessions::create_pr(req, env, &id).await,
        Route::WebSocket(id) => sessions::websocket(req, env, &id).await,
    }
}
