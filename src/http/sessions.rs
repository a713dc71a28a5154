//! The `/sessions` route group: validation of inputs, then a command to the session's
//! Durable Object (or the D1 index for the list of sessions).

use worker::Response;

use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::{guard, respond, session_call, Edge};
use crate::index;
use crate::session::command::{
    Command, CreateSession, ParticipantInput, PrCaller, PromptInput, SandboxAsk, TitleInput,
    UserRef,
};
use crate::session::paging::{ListKind, Page};
use crate::urls;
use crate::validate;

pub async fn create(req: Incoming, edge: &Edge<'_>) -> ApiResult<Response> {
    let body: CreateSession = respond::body(&req).await?;
    let ns = edge.env.durable_object("SESSION")?;
    let session_id = ns.unique_id()?.to_string();
    let mut new = body.into_new(session_id.clone(), config::default_provider(edge.env))?;
    new.control_plane_url = req.url().as_ref().and_then(urls::origin);
    session_call::call(edge, &session_id, &Command::Create(Box::new(new))).await
}

pub async fn list(req: &Incoming, edge: &Edge<'_>) -> ApiResult<Response> {
    let query = index::ListQuery::from_query(req.query_pairs())?;
    // `createdBy=me` is the calling user; a caller who is nobody has no "me".
    let creators = query
        .created_by
        .iter()
        .map(|who| match who {
            index::CreatedBy::Me => edge
                .caller
                .participant()
                .map(str::to_string)
                .ok_or_else(|| ApiError::bad_request("Invalid createdBy")),
            index::CreatedBy::User(id) => Ok(id.clone()),
        })
        .collect::<ApiResult<Vec<String>>>()?;
    let creators = (!creators.is_empty()).then_some(creators.as_slice());
    respond::json(
        200,
        &index::list(&edge.env.d1("DB")?, &query, creators).await?,
    )
}

pub async fn get(edge: &Edge<'_>, id: &str) -> ApiResult<Response> {
    session_call::call(edge, id, &Command::Get).await
}

pub async fn delete(edge: &Edge<'_>, id: &str) -> ApiResult<Response> {
    session_call::call(edge, id, &Command::Delete).await
}

pub async fn archive(
    req: Incoming,
    edge: &Edge<'_>,
    id: &str,
    archived: bool,
) -> ApiResult<Response> {
    let user: UserRef = respond::body(&req).await?;
    validate::ident("userId", &user.user_id)?;
    let command = if archived {
        Command::Archive(user)
    } else {
        Command::Unarchive(user)
    };
    session_call::call(edge, id, &command).await
}

/// `PATCH /sessions/{id}/title`: `{title}` (and `userId` from a bearer caller).
pub async fn set_title(req: Incoming, edge: &Edge<'_>, id: &str) -> ApiResult<Response> {
    let input: TitleInput = respond::body(&req).await?;
    let command = Command::SetTitle(input.validated()?);
    session_call::call(edge, id, &command).await
}

pub async fn prompt(req: Incoming, edge: &Edge<'_>, id: &str) -> ApiResult<Response> {
    let p: PromptInput = respond::body(&req).await?;
    p.validate()?;
    session_call::call(edge, id, &Command::Prompt(p)).await
}

pub async fn stop(edge: &Edge<'_>, id: &str) -> ApiResult<Response> {
    session_call::call(edge, id, &Command::Stop).await
}

/// `GET /sessions/{id}/{events|messages|artifacts|participants}`.
pub async fn list_of(
    req: &Incoming,
    edge: &Edge<'_>,
    id: &str,
    kind: ListKind,
) -> ApiResult<Response> {
    let page = Page::from_query(kind, req.query_pairs())?;
    session_call::call(edge, id, &Command::List { kind, page }).await
}

async fn participant(req: &Incoming) -> ApiResult<ParticipantInput> {
    let p: ParticipantInput = respond::body(req).await?;
    p.validate()?;
    Ok(p)
}

pub async fn add_participant(req: Incoming, edge: &Edge<'_>, id: &str) -> ApiResult<Response> {
    let p = participant(&req).await?;
    session_call::call(edge, id, &Command::AddParticipant(p)).await
}

pub async fn ws_token(req: Incoming, edge: &Edge<'_>, id: &str) -> ApiResult<Response> {
    let p = participant(&req).await?;
    session_call::call(edge, id, &Command::WsToken(p)).await
}

/// The caller of a route of session `id` that the service or the session's sandbox may call:
/// a sandbox's token is checked by the session before any body is read.
pub async fn service_or_sandbox(req: &Incoming, edge: &Edge<'_>, id: &str) -> ApiResult<PrCaller> {
    let caller = guard::service_or_sandbox(req, edge.env, id).await?;
    if let PrCaller::Sandbox(token) = &caller {
        let ask = Command::Sandbox {
            token: token.clone(),
            ask: SandboxAsk::Authenticate,
        };
        let answer = session_call::call(edge, id, &ask).await?;
        if answer.status_code() != 200 {
            return Err(ApiError::unauthorized("invalid service or sandbox token"));
        }
    }
    Ok(caller)
}

/// `POST /sessions/{id}/pr`, by the web app (service token) or the session's sandbox
/// (its own token, which the session checks before it reads the body).
pub async fn create_pr(req: Incoming, edge: &Edge<'_>, id: &str) -> ApiResult<Response> {
    let caller = service_or_sandbox(&req, edge, id).await?;
    let raw = respond::raw_body(&req).await?;
    let body =
        String::from_utf8(raw).map_err(|_| ApiError::invalid_json("request body is not UTF-8"))?;
    session_call::call(edge, id, &Command::CreatePr { body, caller }).await
}

/// A route of the session's sandbox: its bearer token goes to the session, which checks it.
pub async fn sandbox(
    req: &Incoming,
    edge: &Edge<'_>,
    id: &str,
    ask: SandboxAsk,
) -> ApiResult<Response> {
    let token = guard::sandbox_token(req, edge.env, id)?;
    session_call::call(edge, id, &Command::Sandbox { token, ask }).await
}

/// `GET /sessions/{id}/ws`: the WebSocket upgrade, handed to the session as it is.
pub async fn websocket(req: Incoming, edge: &Edge<'_>, id: &str) -> ApiResult<Response> {
    let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(ApiError::new(
            426,
            "upgrade_required",
            "expected a WebSocket upgrade",
        ));
    }
    session_call::upgrade(session_call::stub(edge.env, id)?, &req).await
}
