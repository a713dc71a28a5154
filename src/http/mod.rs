//! The HTTP surface: each request is parsed once into a `Route`, checked against the route's
//! access rule, and handed to its handler by the table in [`dispatch`]; every failure is
//! answered as JSON in one place.

pub mod children;
pub mod guard;
pub mod health;
pub mod inbox;
pub mod incoming;
pub mod not_offered;
pub mod openapi;
pub mod preferences;
pub mod repo_metadata;
pub mod repos;
pub mod respond;
pub mod route;
pub mod secrets;
pub mod session_call;
pub mod sessions;
pub mod shortcuts;
pub mod webhooks;

use incoming::Incoming;
use worker::{Env, Headers, Response, Result};

use crate::auth::random;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::identity::browser;
use crate::identity::principal::{Caller, IdentityRoute};
use crate::log::{self, Level};
use crate::session::command::{Command, SandboxAsk};
use route::{Access, Route, Unmatched};

/// `resp` with the `x-request-id` header. Answers are built in this worker (a session's from
/// its command's answer, `session_call::post`), so the header is set on them; one with
/// immutable headers would have them copied. A WebSocket answer's headers are not ours to
/// change.
fn with_request_id(mut resp: Response, request_id: &str) -> Response {
    if resp.status_code() == 101 || resp.headers_mut().set("x-request-id", request_id).is_ok() {
        return resp;
    }
    let headers = Headers::new();
    for (name, value) in resp.headers().entries() {
        let _ = headers.append(&name, &value);
    }
    let _ = headers.set("x-request-id", request_id);
    resp.with_headers(headers)
}

/// A request taking this long is logged even when it succeeded.
const SLOW_MS: i64 = 1_000;

/// What every route handler is given besides its request: the environment, the request's
/// id (passed on to the session's Durable Object) and what keeps detached work alive.
pub struct Edge<'a> {
    pub env: &'a Env,
    pub request_id: &'a str,
    /// Who calls a service route (the bearer on other routes).
    pub caller: Caller,
}

/// Handles one request to the worker: answers it, echoes (or gives) its `x-request-id`, and
/// logs one JSON line with the route, the status and the time taken.
pub async fn handle(req: Incoming, env: Env) -> Result<Response> {
    let started = now_ms();
    log::configure(&env);
    let request_id = req
        .headers()
        .get("x-request-id")
        .ok()
        .flatten()
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .or_else(|| random::unique_id().ok())
        .unwrap_or_default();
    let route = Route::parse(&req.method(), &req.path());
    let name = route.as_ref().map_or("unmatched", Route::name);
    let is_health = matches!(route, Ok(Route::Health));
    let log_all = log::requests_all();
    let edge = Edge {
        env: &env,
        request_id: &request_id,
        caller: Caller::Bearer,
    };
    let resp = respond::finish(serve(route, req, &edge).await)?;
    let resp = with_request_id(resp, &request_id);
    // Health checks are polled constantly: they are answered, not logged. Answered requests
    // are in the platform's own invocation log; ours adds a line for what went wrong (or
    // was slow), and for every request with LOG_REQUESTS=all.
    let status = resp.status_code();
    let took = now_ms() - started;
    if is_health || !(log_all || status >= 400 || took >= SLOW_MS) {
        return Ok(resp);
    }
    log::emit(
        if status >= 500 {
            Level::Error
        } else {
            Level::Info
        },
        "request",
        &[
            ("requestId", request_id.into()),
            ("route", name.into()),
            ("status", status.into()),
            ("durationMs", took.into()),
        ],
    );
    Ok(resp)
}

async fn serve(
    route: Result<Route, Unmatched>,
    req: Incoming,
    edge: &Edge<'_>,
) -> ApiResult<Response> {
    // The route is decided before auth: an unknown route is 404 for everyone.
    let route = match route {
        Ok(route) => route,
        Err(Unmatched::NotFound) => return Err(ApiError::no_route()),
        Err(Unmatched::MethodNotAllowed) => return Err(ApiError::method_not_allowed()),
    };
    let caller = match route.access() {
        Access::Service => guard::require_service(&req, edge.env).await?,
        Access::WebService => {
            guard::require_web_service(&req, edge.env).await?;
            Caller::Bearer
        }
        Access::Public | Access::ServiceOrSandbox | Access::Sandbox => Caller::Bearer,
    };
    if let Some(kind) = identity_route(&route) {
        guard::enforce_identity(&req, edge.env, kind, &caller).await?;
    }
    let edge = Edge { caller, ..*edge };
    dispatch(route, req, &edge).await
}

/// The routes whose bodies say who acts.
fn identity_route(route: &Route) -> Option<IdentityRoute> {
    match route {
        Route::CreateSession => Some(IdentityRoute::CreateSession),
        Route::WsToken(_) => Some(IdentityRoute::WsToken),
        Route::Prompt(_) => Some(IdentityRoute::Prompt),
        Route::Archive(_) | Route::Unarchive(_) => Some(IdentityRoute::Lifecycle),
        Route::SetTitle(_) => Some(IdentityRoute::Title),
        _ => None,
    }
}

/// The route table.
async fn dispatch(route: Route, req: Incoming, edge: &Edge<'_>) -> ApiResult<Response> {
    let env = edge.env;
    match route {
        Route::Health => health::get(),
        Route::OpenApi => openapi::get(),
        Route::ListRepos => repos::list(&req, env, &edge.caller).await,
        Route::ListSessions => sessions::list(&req, edge).await,
        Route::CreateSession => sessions::create(req, edge).await,
        Route::GetSession(id) => sessions::get(edge, &id).await,
        Route::DeleteSession(id) => sessions::delete(edge, &id).await,
        Route::Archive(id) => sessions::archive(req, edge, &id, true).await,
        Route::Unarchive(id) => sessions::archive(req, edge, &id, false).await,
        Route::Prompt(id) => sessions::prompt(req, edge, &id).await,
        Route::Stop(id) => sessions::stop(edge, &id).await,
        Route::List(id, kind) => sessions::list_of(&req, edge, &id, kind).await,
        Route::AddParticipant(id) => sessions::add_participant(req, edge, &id).await,
        Route::WsToken(id) => sessions::ws_token(req, edge, &id).await,
        Route::CreatePr(id) => sessions::create_pr(req, edge, &id).await,
        Route::WebSocket(id) => sessions::websocket(req, edge, &id).await,
        Route::Children(id) => children::list(req, edge, &id).await,
        Route::SpawnChild(id) => children::spawn(req, edge, &id).await,
        Route::Child(id, child) => children::get(req, edge, &id, &child).await,
        Route::CancelChild(id, child) => children::cancel(req, edge, &id, &child).await,
        Route::PromptChild(id, child) => children::prompt(req, edge, &id, &child).await,
        Route::CommitSigning(id) => {
            sessions::sandbox(&req, edge, &id, SandboxAsk::CommitSigning).await
        }
        Route::SandboxSkills(id) => sessions::sandbox(&req, edge, &id, SandboxAsk::Skills).await,
        Route::ScmCredentials(id) => {
            sessions::sandbox(&req, edge, &id, SandboxAsk::ScmCredentials).await
        }
        Route::GetModelPreferences => preferences::get(env).await,
        Route::SetModelPreferences => preferences::put(req, env).await,
        Route::RefreshPr(id) => session_call::call(edge, &id, &Command::RefreshPr).await,
        Route::SetTitle(id) => sessions::set_title(req, edge, &id).await,
        Route::Inbox => inbox::list(&req, edge).await,
        Route::RepoMetadata(owner, name) => match req.method() {
            worker::Method::Put => repo_metadata::put(&req, env, &owner, &name).await,
            _ => repo_metadata::get(env, &owner, &name).await,
        },
        Route::Secrets(repo, key) => {
            let repo = repo.as_ref().map(|(o, n)| (o.as_str(), n.as_str()));
            match (req.method(), key) {
                (worker::Method::Get, None) => secrets::list(&req, env, repo).await,
                (worker::Method::Put, None) => secrets::put(&req, env, repo).await,
                (_, Some(key)) => secrets::delete(&req, env, repo, &key).await,
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        Route::ReadState(id) => inbox::mark(&req, edge, &id).await,
        Route::ParticipantProfiles(id) => {
            session_call::call(edge, &id, &Command::ParticipantProfiles).await
        }
        Route::Webhook(provider) => webhooks::receive(req, edge, provider).await,
        Route::Branches(owner, name) => {
            repos::branches(&req, env, &edge.caller, &owner, &name).await
        }
        Route::SignInProviders => browser::providers(env),
        Route::SignInSocial => browser::sign_in_social(&req, env).await,
        Route::AuthCallback(provider) => browser::callback(&req, env, provider).await,
        Route::GetAuthSession => browser::get_session(&req, env).await,
        Route::SignOut => browser::sign_out(&req, env).await,
        Route::AuthError => browser::error_page(&req),
        Route::LinkSocial => browser::link_social(&req, env).await,
        Route::GetKeyboardShortcuts => shortcuts::get(env, &edge.caller).await,
        Route::SetKeyboardShortcuts => shortcuts::put(&req, env, &edge.caller).await,
        Route::ListAccounts => browser::list_accounts(&req, env).await,
        Route::UnlinkAccount => browser::unlink_account(&req, env).await,
        Route::Git(path) => crate::git::proxy::serve(&req, edge, path).await,
        Route::NotOffered(_) => {
            let path = req.path();
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            match not_offered::answer(&req.method(), &segments) {
                not_offered::Answer::Empty(body) => respond::json(200, &body),
                not_offered::Answer::Missing => Err(ApiError::not_found("not found")),
                not_offered::Answer::NotOffered(f) => {
                    Err(ApiError::new(501, "not_offered", not_offered::message(f)))
                }
            }
        }
    }
}
