//! The child-session routes (rules in `crate::children`): the session's agent, by its
//! sandbox's token (or the web app, by its service signature), spawns a child on the same
//! repository, lists its children, reads one, cancels one (and, by default, the unfinished
//! sessions below it) and, by the sandbox's token only, sends one a follow-up. Each route
//! asks the parent session first (its sandbox's token, its running prompt), then the index
//! and the child.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use worker::Response;

use crate::children::{self, summary, ChildPrompt, SpawnInput};
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::{guard, respond, session_call, sessions, Edge};
use crate::index;
use crate::raw::Object;
use crate::session::command::{
    ChildUpdate, Command, Lineage, NewSession, ParticipantInput, PrCaller, PromptInput,
};
use crate::session::model::SessionStatus;
use crate::validate;
use crate::vcs::VcsProvider;

/// What the parent says a child is spawned with (`session::children::spawn_context`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpawnContext {
    user_id: String,
    repo_owner: String,
    repo_name: String,
    vcs_provider: VcsProvider,
    base_branch: Option<String>,
    model: Option<String>,
    reasoning_effort: Option<String>,
    spawn_depth: i64,
    control_plane_url: Option<String>,
}

/// A session's answer to `command`: read as `T` when it succeeded, else the answer itself
/// (to be passed on as it is).
async fn ask<T: DeserializeOwned>(
    edge: &Edge<'_>,
    id: &str,
    command: &Command,
) -> ApiResult<Result<T, Response>> {
    let mut resp = session_call::call(edge, id, command).await?;
    if !(200..300).contains(&resp.status_code()) {
        return Ok(Err(resp));
    }
    let text = resp.text().await?;
    serde_json::from_str(&text)
        .map(Ok)
        .map_err(|e| ApiError::internal(format!("a session answered in an unknown form: {e}")))
}

/// `POST /sessions/{id}/children` → 201 `{sessionId, status: "created"}`.
pub async fn spawn(req: Incoming, edge: &Edge<'_>, parent: &str) -> ApiResult<Response> {
    let caller = guard::service_or_sandbox(&req, edge.env, parent).await?;
    // The parent checks its sandbox's token and that a prompt runs, before the body is read.
    let ctx: SpawnContext = match ask(edge, parent, &Command::SpawnContext(caller)).await? {
        Ok(c) => c,
        Err(answer) => return Ok(answer),
    };
    let raw = respond::raw_body(&req).await?;
    let input: SpawnInput = serde_json::from_slice(&raw)
        .map_err(|_| ApiError::bad_request("title and prompt are required"))?;
    input.validate(&ctx.repo_owner, &ctx.repo_name)?;
    if let Some(m) = &input.model {
        validate::text("model", m, 200, false)?;
    }
    if let Some(e) = &input.reasoning_effort {
        validate::text("reasoningEffort", e, 32, false)?;
    }
    let db = edge.env.d1("DB")?;
    let (total, running) = index::children::counts(&db, parent).await?;
    children::admit(ctx.spawn_depth, total, running)?;

    let child = edge.env.durable_object("SESSION")?.unique_id()?.to_string();
    let new = NewSession {
        session_id: child.clone(),
        repo_owner: ctx.repo_owner,
        repo_name: ctx.repo_name,
        vcs_provider: ctx.vcs_provider,
        title: Some(input.title.trim().to_string()),
        model: input.model.or(ctx.model),
        reasoning_effort: input.reasoning_effort.or(ctx.reasoning_effort),
        branch: ctx.base_branch,
        owner: ParticipantInput {
            user_id: ctx.user_id.clone(),
            ..ParticipantInput::default()
        },
        control_plane_url: ctx.control_plane_url,
        parent: Some(Lineage {
            session_id: parent.to_string(),
            depth: ctx.spawn_depth + 1,
        }),
    };
    let title = new.title.clone();
    let created = session_call::call(edge, &child, &Command::Create(Box::new(new))).await?;
    if created.status_code() != 201 {
        return Ok(created);
    }
    let prompt = PromptInput::by_agent(input.prompt, ctx.user_id);
    let queued = session_call::call(edge, &child, &Command::Prompt(prompt)).await?;
    if !(200..300).contains(&queued.status_code()) {
        return Ok(queued);
    }
    let update = Command::ChildUpdate(ChildUpdate {
        child_session_id: child.clone(),
        status: SessionStatus::Created,
        title,
    });
    // The spawn stands even if the parent's clients miss this (they refresh on the next).
    let _ = session_call::call(edge, parent, &update).await;
    respond::object(
        201,
        Object::new()
            .field("sessionId", &child)
            .field("status", "created"),
    )
}

/// `GET /sessions/{id}/children` → `{children: [...]}`, newest first, as the list shows them.
pub async fn list(req: Incoming, edge: &Edge<'_>, parent: &str) -> ApiResult<Response> {
    sessions::service_or_sandbox(&req, edge, parent).await?;
    let rows = index::children::list(&edge.env.d1("DB")?, parent).await?;
    let children: Vec<_> = rows.iter().map(|r| r.summary()).collect();
    respond::json(200, &serde_json::json!({ "children": children }))
}

/// The parent's own child `child`, else 404.
async fn own_child(
    edge: &Edge<'_>,
    parent: &str,
    child: &str,
) -> ApiResult<crate::session::model::SessionRow> {
    index::children::child_of(&edge.env.d1("DB")?, parent, child)
        .await?
        .ok_or_else(|| ApiError::not_found("Child session not found"))
}

/// `GET /sessions/{id}/children/{child}`: the child's detail (`include=result,trajectory`).
pub async fn get(req: Incoming, edge: &Edge<'_>, parent: &str, child: &str) -> ApiResult<Response> {
    sessions::service_or_sandbox(&req, edge, parent).await?;
    own_child(edge, parent, child).await?;
    let q = summary::query(req.query_pairs())?;
    session_call::call(edge, child, &Command::ChildSummary(q)).await
}

/// `POST /sessions/{id}/children/{child}/cancel` (`{cancelNested}`, default true).
pub async fn cancel(
    req: Incoming,
    edge: &Edge<'_>,
    parent: &str,
    child: &str,
) -> ApiResult<Response> {
    sessions::service_or_sandbox(&req, edge, parent).await?;
    let nested = children::cancel_nested(&respond::raw_body(&req).await?)?;
    own_child(edge, parent, child).await?;
    let answer = session_call::call(edge, child, &Command::Cancel).await?;
    let status = answer.status_code();
    if (status != 200 && status != 409) || !nested {
        return Ok(answer);
    }
    let below = index::children::running_descendants(&edge.env.d1("DB")?, child).await?;
    let (mut cancelled, mut failed) = (Vec::new(), Vec::new());
    for id in below {
        match session_call::call(edge, &id, &Command::Cancel).await {
            Ok(r) if r.status_code() == 200 => cancelled.push(id),
            Ok(r) if r.status_code() == 409 => {}
            _ => failed.push(id),
        }
    }
    if !failed.is_empty() {
        return respond::object(
            502,
            Object::new()
                .field(
                    "error",
                    &format!("Nested tasks could not be cancelled: {}", failed.join(", ")),
                )
                .field("code", "upstream_failed")
                .field("cancelledDescendantIds", &cancelled),
        );
    }
    if status == 200 || !cancelled.is_empty() {
        return respond::object(
            200,
            Object::new()
                .field("status", "cancelled")
                .field("cancelledDescendantIds", &cancelled),
        );
    }
    Ok(answer)
}

/// `POST /sessions/{id}/children/{child}/prompt` (`{content}`, the parent's sandbox only):
/// queued for the child as the parent's running prompt's author.
pub async fn prompt(
    req: Incoming,
    edge: &Edge<'_>,
    parent: &str,
    child: &str,
) -> ApiResult<Response> {
    let token = guard::sandbox_token(&req, edge.env, parent)?;
    let ctx: SpawnContext = match ask(
        edge,
        parent,
        &Command::SpawnContext(PrCaller::Sandbox(token)),
    )
    .await?
    {
        Ok(c) => c,
        Err(answer) => return Ok(answer),
    };
    let input = ChildPrompt::read(&respond::raw_body(&req).await?)?;
    let row = own_child(edge, parent, child).await?;
    if matches!(
        row.status,
        SessionStatus::Cancelled | SessionStatus::Archived
    ) {
        return Err(ApiError::conflict(format!(
            "Child session is {}",
            row.status.as_str()
        )));
    }
    let prompt = PromptInput::by_agent(input.content, ctx.user_id);
    session_call::call(edge, child, &Command::Prompt(prompt)).await
}
