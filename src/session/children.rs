//! A session's side of child sessions (rules in `crate::children`): as a parent, the context
//! a child is spawned with (whose prompt runs, the repository, the base branch, the depth),
//! checked against its sandbox's token, and `child_session_update` to its clients when a
//! child changes; as a child, its parent told of each status change, a cancel by the parent,
//! and the summary the parent's agent reads.

use serde_json::{json, Value};
use worker::Response;

use crate::children::summary::{self, Event, Finished, Query};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::http::{respond, session_call};
use crate::raw::Object;
use crate::session::client::link::broadcast;
use crate::session::client::protocol::ServerMessage;
use crate::session::command::{ChildUpdate, Command, PrCaller};
use crate::session::ctx::Ctx;
use crate::session::model::{ArtifactKind, MessageStatus, SessionStatus};
use crate::session::paging::Page;
use crate::session::queue;
use crate::session::sandbox::{link, runner};
use crate::session::status::Change;

/// The context a child of this session is spawned with, for its sandbox (by its token) or
/// the service: only while a prompt runs, whose author owns the child.
pub fn spawn_context(ctx: &Ctx, caller: &PrCaller) -> ApiResult<Response> {
    let session = ctx.store.existing_session()?;
    if let PrCaller::Sandbox(token) = caller {
        link::authenticate_route(ctx, token)?;
    }
    let Some(running) = ctx.store.processing_message()? else {
        return Err(ApiError::bad_request(
            "No active prompt found. Child operations must be triggered by an active prompt.",
        ));
    };
    respond::object(
        200,
        Object::new()
            .field("userId", &running.author_id)
            .field("repoOwner", &session.repo_owner)
            .field("repoName", &session.repo_name)
            .field("vcsProvider", &session.vcs_provider)
            .field("baseBranch", &session.base_branch)
            .field("model", &session.model)
            .field("reasoningEffort", &session.reasoning_effort)
            .field("spawnDepth", &session.spawn_depth)
            .field("controlPlaneUrl", &session.control_plane_url),
    )
}

/// A child of this session changed: every client hears it.
pub fn child_update(ctx: &Ctx, update: ChildUpdate) -> ApiResult<Response> {
    ctx.store.existing_session()?;
    broadcast(
        ctx,
        &ServerMessage::ChildSessionUpdate {
            child_session_id: update.child_session_id,
            status: update.status,
            title: update.title,
        },
    );
    respond::object(200, Object::new().field("ok", &true))
}

/// Tells this session's parent, if it has one, that its status is now `status` (after the
/// session's own work; a failure is logged).
pub fn tell_parent(ctx: &Ctx, status: SessionStatus) {
    let Ok(session) = ctx.store.existing_session() else {
        return;
    };
    let Some(parent) = session.parent_session_id else {
        return;
    };
    let update = Command::ChildUpdate(ChildUpdate {
        child_session_id: session.id,
        status,
        title: session.title,
    });
    let (env, child) = (ctx.env.clone(), ctx.session_id.clone());
    ctx.state.wait_until(async move {
        let told = match session_call::stub(&env, &parent) {
            Ok(stub) => session_call::post(stub, &update, None).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = told {
            crate::log::error(
                "the parent session was not told of a child's status",
                &[
                    ("sessionId", child.into()),
                    ("detail", e.to_string().into()),
                ],
            );
        }
    });
}

/// Cancelled by its parent's agent: for good. Its prompts fail (the running one stopped),
/// its sandbox is shut down, and its parent hears it. A finished session is 409.
pub async fn cancel(ctx: &Ctx) -> ApiResult<Response> {
    let session = ctx.store.existing_session()?;
    if session.status.is_finished() {
        return Err(ApiError::conflict(format!(
            "Session already {}",
            session.status.as_str()
        )));
    }
    let now = now_ms();
    queue::change_status(ctx, session.status, Change::Cancel, now)?;
    ctx.store
        .fail_pending("Execution was cancelled before it started", now)?;
    queue::fail_running(ctx, "Execution was cancelled")?;
    queue::announce_queue(ctx)?;
    runner::stop_for_good(ctx, "cancelled").await;
    ctx.index_later("after the session was cancelled");
    respond::object(200, Object::new().field("status", "cancelled"))
}

fn event(row: &crate::session::model::EventRow) -> Event {
    Event {
        kind: row.kind.clone(),
        data: serde_json::from_str(row.data.as_str()).unwrap_or(Value::Null),
        created_at: row.created_at,
    }
}

/// What the parent's agent reads of this child: its state, its sandbox's, its artifacts and
/// recent events, and, as asked, its latest result and a page of its timeline.
pub fn summary(ctx: &Ctx, q: &Query) -> ApiResult<Response> {
    let s = ctx.store.existing_session()?;
    let sandbox = ctx.store.sandbox()?.map(|r| json!({"status": r.status}));
    let unfinished = ctx.store.pending_count()? > 0 || ctx.store.processing_message()?.is_some();
    let artifacts = ctx.store.artifacts()?;
    let shown: Vec<Value> = artifacts
        .iter()
        .map(|a| json!({"type": a.kind, "url": a.url.clone().unwrap_or_default(), "metadata": a.meta()}))
        .collect();
    let recent_page = Page {
        limit: summary::RECENT_FETCHED,
        ..Page::default()
    };
    let recent: Vec<Event> = ctx
        .store
        .events(&recent_page)?
        .rows
        .iter()
        .map(event)
        .collect();
    let mut detail = json!({
        "session": {
            "id": s.id, "title": s.title.clone().unwrap_or_default(), "status": s.status,
            "repoOwner": s.repo_owner, "repoName": s.repo_name, "branchName": s.branch_name,
            "model": s.model, "createdAt": s.created_at, "updatedAt": s.updated_at,
        },
        "sandbox": sandbox,
        "hasUnfinishedPrompt": unfinished,
        "artifacts": shown,
        "recentEvents": summary::recent(&recent),
    });
    if q.result {
        detail["finalResponse"] = final_response(ctx, &artifacts)?;
    }
    if let Some((limit, cursor)) = q.trajectory {
        let page = Page {
            cursor,
            limit: limit.min(crate::session::paging::MAX_LIMIT),
            ..Page::default()
        };
        let w = ctx.store.events(&page)?;
        // Oldest first within the page; the cursor reads older events.
        let events: Vec<Value> = w
            .rows
            .iter()
            .rev()
            .map(|r| {
                json!({"id": r.id, "type": r.kind, "data": event(r).data,
                       "messageId": r.message_id, "createdAt": r.created_at})
            })
            .collect();
        let mut t = json!({"events": events, "hasMore": w.has_more, "limit": page.limit});
        if let (true, Some(c)) = (w.has_more, w.cursor) {
            t["cursor"] = json!(c.to_string());
        }
        detail["trajectory"] = t;
    }
    respond::json(200, &detail)
}

/// The latest finished prompt's result, or `null`.
fn final_response(ctx: &Ctx, artifacts: &[crate::session::model::ArtifactRow]) -> ApiResult<Value> {
    let Some(id) = ctx.store.latest_finished()? else {
        return Ok(Value::Null);
    };
    let Some(message) = ctx.store.message(&id)? else {
        return Ok(Value::Null);
    };
    let mut events = Vec::new();
    let mut page = Page {
        limit: crate::session::paging::MAX_LIMIT,
        message_id: Some(id.clone()),
        ..Page::default()
    };
    let mut limit_reached = false;
    loop {
        let w = ctx.store.events(&page)?;
        events.extend(w.rows.iter().map(event));
        if !w.has_more {
            break;
        }
        if events.len() >= summary::MAX_RESULT_EVENTS {
            limit_reached = true;
            break;
        }
        page.cursor = w.cursor;
    }
    let until = message.completed_at.unwrap_or(i64::MAX);
    let prs: Vec<Value> = artifacts
        .iter()
        .filter(|a| a.kind == ArtifactKind::Pr)
        .filter(|a| a.created_at >= message.created_at && a.created_at <= until)
        .map(|a| {
            let metadata = a.meta();
            let label = metadata
                .get("number")
                .and_then(Value::as_u64)
                .map_or_else(|| "Pull Request".to_string(), |n| format!("PR #{n}"));
            json!({"type": "pr", "url": a.url, "label": label, "metadata": metadata})
        })
        .collect();
    let done = Finished {
        message_id: &message.id,
        completed: message.status == MessageStatus::Completed,
        completed_at: message.completed_at,
    };
    Ok(summary::final_response(&done, &events, limit_reached, prs))
}
