//! `GET /sessions/inbox` and `PATCH /sessions/{id}/read-state`, over the index
//! (`index::inbox`): the viewer's own sessions by category, and what they have read. The
//! viewer is the signed-in user (or a bot's actor); the shared-secret bearer names one with
//! `X-User-Id`, as it does for `/repos`.

use serde_json::{json, Map, Value};
use worker::{D1Database, Response};

use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::{respond, Edge};
use crate::index::inbox::{self, Category, ReadAction, PAGE};
use crate::validate;

/// Who is looking.
fn viewer(req: &Incoming, edge: &Edge<'_>) -> ApiResult<String> {
    if let Some(user) = edge.caller.participant() {
        return Ok(user.to_string());
    }
    let named = req.headers().get("x-user-id")?.unwrap_or_default();
    validate::ident("X-User-Id", &named)?;
    Ok(named)
}

/// One page of a category, as the web reads it.
async fn page(db: &D1Database, user: &str, category: Category, offset: u32) -> ApiResult<Value> {
    let (rows, more) = inbox::page(db, user, category, offset).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| json!({"rootSession": r.item(), "descendantSessions": []}))
        .collect();
    Ok(json!({
        "items": items,
        "hasMore": more,
        "nextCursor": more.then(|| (offset + PAGE).to_string()),
    }))
}

/// `GET /sessions/inbox?category&cursor&mine`: every category's first page, or one page of
/// one category.
pub async fn list(req: &Incoming, edge: &Edge<'_>) -> ApiResult<Response> {
    let user = viewer(req, edge)?;
    let (mut category, mut cursor) = (None, None);
    for (k, v) in req.query_pairs() {
        match k.as_str() {
            "category" => {
                let c =
                    Category::parse(&v).ok_or_else(|| ApiError::bad_request("Invalid category"))?;
                category = Some(c);
            }
            "cursor" => cursor = Some(inbox::cursor(&v)?),
            // Always the viewer's own sessions here.
            "mine" if v != "true" => return Err(ApiError::bad_request("Invalid mine")),
            _ => {}
        }
    }
    let db = edge.env.d1("DB")?;
    let body = match category {
        Some(c) => page(&db, &user, c, cursor.unwrap_or(0)).await?,
        None if cursor.is_some() => {
            return Err(ApiError::bad_request("Category required for pagination"))
        }
        None => {
            let mut categories = Map::new();
            for &c in Category::ALL {
                categories.insert(c.as_str().into(), page(&db, &user, c, 0).await?);
            }
            json!({ "categories": categories })
        }
    };
    let mut resp = respond::json(200, &body)?;
    resp.headers_mut()
        .set("cache-control", "private, no-store")?;
    Ok(resp)
}

/// `PATCH /sessions/{id}/read-state`: `{action: mark_latest_message_read}` or
/// `{action: mark_message_read, messageId}` → `{sessionId, outcome, unread, latestMessageId}`.
pub async fn mark(req: &Incoming, edge: &Edge<'_>, id: &str) -> ApiResult<Response> {
    let user = viewer(req, edge)?;
    let action: ReadAction = respond::body(req).await.map_err(|e| match e.status {
        400 => ApiError::bad_request("Invalid session read action"),
        _ => e,
    })?;
    let db = edge.env.d1("DB")?;
    let (latest, read) = inbox::state(&db, &user, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Session not found"))?;
    let (outcome, unread, write) = inbox::mark(&action, latest.as_deref(), read.as_deref());
    if let Some(message) = &write {
        inbox::record(&db, &user, id, message, now_ms()).await?;
    }
    let mut resp = respond::json(
        200,
        &json!({
            "sessionId": id,
            "outcome": outcome,
            "unread": unread,
            "latestMessageId": latest,
        }),
    )?;
    resp.headers_mut()
        .set("cache-control", "private, no-store")?;
    Ok(resp)
}
