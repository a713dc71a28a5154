//! The `/sessions` route group: validation of inputs, then a command to the session's
//! Durable Object (or the D1 index for the list of sessions).

use worker::{Request, Response, Result, RouteContext};

use crate::auth::service_token;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::{guard, respond, session_call};
use crate::index;
use crate::session::command::{
    Command, CreateSession, ListKind, ParticipantInput, PromptInput, UserRef,
};
use crate::session::paging::Page;
use crate::validate;

type Ctx = RouteContext<()>;

fn id(ctx: &Ctx) -> ApiResult<String> {
    ctx.param("id")
        .cloned()
        .ok_or_else(|| ApiError::not_found("session not found"))
}

async fn forward(ctx: &Ctx, command: Command) -> Result<Response> {
    respond::finish(async { session_call::call(&ctx.env, &id(ctx)?, &command).await }.await)
}

pub async fn create(mut req: Request, ctx: Ctx) -> Result<Response> {
    respond::finish(
        async {
            let body: CreateSession = respond::body(&mut req).await?;
            let ns = ctx.env.durable_object("SESSION")?;
            let session_id = ns.unique_id()?.to_string();
            let mut new = body.into_new(session_id.clone(), config::default_provider(&ctx.env))?;
            new.control_plane_url = Some(req.url()?.origin().ascii_serialization());
            session_call::call(&ctx.env, &session_id, &Command::Create(new)).await
        }
        .await,
    )
}

pub async fn list(req: Request, ctx: Ctx) -> Result<Response> {
    respond::finish(
        async {
            let query = index::ListQuery::from_url(&req.url()?)?;
            let db = ctx.env.d1("DB")?;
            respond::json(200, &index::list(&db, &query).await?)
        }
        .await,
    )
}

pub async fn get(_req: Request, ctx: Ctx) -> Result<Response> {
    forward(&ctx, Command::Get).await
}

pub async fn delete(_req: Request, ctx: Ctx) -> Result<Response> {
    forward(&ctx, Command::Delete).await
}

async fn user_ref(req: &mut Request) -> ApiResult<UserRef> {
    let body: UserRef = respond::body(req).await?;
    validate::ident("userId", &body.user_id)?;
    Ok(body)
}

pub async fn archive(req: Request, ctx: Ctx) -> Result<Response> {
    set_archived(req, ctx, true).await
}

pub async fn unarchive(req: Request, ctx: Ctx) -> Result<Response> {
    set_archived(req, ctx, false).await
}

async fn set_archived(mut req: Request, ctx: Ctx, archived: bool) -> Result<Response> {
    match user_ref(&mut req).await {
        Ok(u) if archived => forward(&ctx, Command::Archive(u)).await,
        Ok(u) => forward(&ctx, Command::Unarchive(u)).await,
        Err(e) => respond::error(&e),
    }
}

pub async fn prompt(mut req: Request, ctx: Ctx) -> Result<Response> {
    let body: ApiResult<PromptInput> = async {
        let p: PromptInput = respond::body(&mut req).await?;
        p.validate()?;
        Ok(p)
    }
    .await;
    match body {
        Ok(p) => forward(&ctx, Command::Prompt(p)).await,
        Err(e) => respond::error(&e),
    }
}

pub async fn stop(_req: Request, ctx: Ctx) -> Result<Response> {
    forward(&ctx, Command::Stop).await
}

/// `GET /sessions/{id}/{events|messages|artifacts|participants}`.
pub async fn list_of(req: Request, ctx: Ctx) -> Result<Response> {
    let command: ApiResult<Command> = (|| {
        let path = req.path();
        let kind = path
            .rsplit('/')
            .next()
            .and_then(ListKind::parse)
            .ok_or_else(|| ApiError::not_found("no such route"))?;
        let url = req.url()?;
        let page = Page::from_query(url.query_pairs())?;
        Ok(Command::List { kind, page })
    })();
    match command {
        Ok(c) => forward(&ctx, c).await,
        Err(e) => respond::error(&e),
    }
}

async fn participant(req: &mut Request) -> ApiResult<ParticipantInput> {
    let p: ParticipantInput = respond::body(req).await?;
    p.validate()?;
    Ok(p)
}

pub async fn add_participant(mut req: Request, ctx: Ctx) -> Result<Response> {
    match participant(&mut req).await {
        Ok(p) => forward(&ctx, Command::AddParticipant(p)).await,
        Err(e) => respond::error(&e),
    }
}

pub async fn ws_token(mut req: Request, ctx: Ctx) -> Result<Response> {
    match participant(&mut req).await {
        Ok(p) => forward(&ctx, Command::WsToken(p)).await,
        Err(e) => respond::error(&e),
    }
}

/// `POST /sessions/{id}/pr`, by the web app (service token) or the session's sandbox
/// (its own token, which the session checks before it reads the body).
pub async fn create_pr(mut req: Request, ctx: Ctx) -> Result<Response> {
    respond::finish(
        async {
            let sandbox_token = match guard::require_service_token(&req, &ctx.env) {
                Ok(()) => None,
                Err(e) if e.status == 401 => {
                    let header = req.headers().get("authorization")?;
                    let token = service_token::bearer(header.as_deref()).map_err(|_| e.clone())?;
                    // An unknown session says nothing to an unauthenticated caller.
                    session_call::stub(&ctx.env, &id(&ctx)?).map_err(|_| e.clone())?;
                    Some(token.to_string())
                }
                Err(e) => return Err(e),
            };
            let raw = respond::raw_body(&mut req).await?;
            let body = String::from_utf8(raw)
                .map_err(|_| ApiError::invalid_json("request body is not UTF-8"))?;
            let command = Command::CreatePr {
                body,
                sandbox_token,
            };
            session_call::call(&ctx.env, &id(&ctx)?, &command).await
        }
        .await,
    )
}

/// `GET /sessions/{id}/ws`: the WebSocket upgrade, handed to the session as it is.
pub async fn websocket(req: Request, ctx: Ctx) -> Result<Response> {
    respond::finish(
        async {
            let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
            if !upgrade.eq_ignore_ascii_case("websocket") {
                return Err(ApiError::new(
                    426,
                    "upgrade_required",
                    "expected a WebSocket upgrade",
                ));
            }
            let stub = session_call::stub(&ctx.env, &id(&ctx)?)?;
            Ok(stub.fetch_with_request(req).await?)
        }
        .await,
    )
}
