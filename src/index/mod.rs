//! The D1 session index: what spans sessions. Written by each session's Durable Object on
//! creation, status changes, prompts and PR state changes (at most one write each); read by
//! `GET /sessions`. Also the webhook routes: which session opened which pull request.

use serde::Serialize;
use worker::wasm_bindgen::JsValue;
use worker::D1Database;

use crate::error::{ApiError, ApiResult};
use crate::log::{self, D1};
use crate::rows::{self, FromRow, Read, Row};
use crate::session::model::{SessionRow, SessionStatus, Summary};
use crate::session::paging::clamp_limit;
use crate::vcs::VcsProvider;
use crate::webhooks::{RepoRef, RouteKey};

pub mod children;
pub mod inbox;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;

/// `GET /sessions?limit&offset&status&excludeStatus&createdBy&excludeAutomationLineage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: u32,
    pub offset: u32,
    pub status: Option<SessionStatus>,
    pub exclude_status: Option<SessionStatus>,
    /// Only sessions these users created (`me` is the caller, resolved by the handler).
    pub created_by: Vec<CreatedBy>,
}

/// One `createdBy`: the caller, or a user id (32 lowercase hex digits, as Open-Inspect's
/// canonical user ids are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreatedBy {
    Me,
    User(String),
}

fn created_by(v: &str) -> ApiResult<CreatedBy> {
    if v == "me" {
        return Ok(CreatedBy::Me);
    }
    let hex = v.len() == 32
        && v.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex {
        Ok(CreatedBy::User(v.to_string()))
    } else {
        Err(ApiError::bad_request("Invalid createdBy"))
    }
}

fn status(v: &str) -> ApiResult<SessionStatus> {
    SessionStatus::parse(v).ok_or_else(|| {
        ApiError::bad_request(
            "status must be one of created, active, completed, failed, archived, cancelled",
        )
    })
}

impl ListQuery {
    /// From the request's query pairs.
    pub fn from_query<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> ApiResult<Self> {
        let mut q = ListQuery {
            limit: DEFAULT_LIMIT,
            offset: 0,
            status: None,
            exclude_status: None,
            created_by: Vec::new(),
        };
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            match k {
                "limit" if !v.is_empty() => q.limit = clamp_limit(v, MAX_LIMIT)?,
                "offset" if !v.is_empty() => {
                    q.offset = v.parse::<u32>().map_err(|_| {
                        ApiError::bad_request("offset must be a non-negative integer")
                    })?
                }
                "status" if !v.is_empty() => q.status = Some(status(v)?),
                "excludeStatus" if !v.is_empty() => q.exclude_status = Some(status(v)?),
                "createdBy" => {
                    let who = created_by(v)?;
                    if !q.created_by.contains(&who) {
                        q.created_by.push(who);
                    }
                }
                // No session descends from an automation here: either way, the same list.
                "excludeAutomationLineage" if v != "true" && v != "false" => {
                    return Err(ApiError::bad_request("Invalid excludeAutomationLineage"))
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

fn opt(v: &Option<String>) -> JsValue {
    v.as_deref().map(JsValue::from).unwrap_or(JsValue::NULL)
}

/// Writes the session's index row (insert or full update), with its latest finished prompt
/// (`latest`, for the inbox's read state). An older snapshot never overwrites a newer one,
/// and a deleted session's row is never written again.
pub async fn upsert(db: &D1Database, s: &SessionRow, latest: Option<&str>) -> ApiResult<()> {
    log::d1(D1::Write);
    db.prepare(
        "INSERT INTO sessions (id, title, repo_owner, repo_name, vcs_provider, model, base_branch,
            status, created_by, created_at, updated_at, reasoning_effort, pr_state,
            latest_message_id, parent_session_id, spawn_source, spawn_depth, pr_summary)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18
         WHERE NOT EXISTS (SELECT 1 FROM deleted_sessions WHERE id = ?1)
         ON CONFLICT(id) DO UPDATE SET title = excluded.title, model = excluded.model,
            base_branch = excluded.base_branch, status = excluded.status,
            updated_at = excluded.updated_at, reasoning_effort = excluded.reasoning_effort,
            pr_state = excluded.pr_state, latest_message_id = excluded.latest_message_id,
            pr_summary = excluded.pr_summary
         WHERE excluded.updated_at >= sessions.updated_at",
    )
    .bind(&[
        s.id.as_str().into(),
        opt(&s.title),
        s.repo_owner.as_str().into(),
        s.repo_name.as_str().into(),
        s.vcs_provider.as_str().into(),
        opt(&s.model),
        opt(&s.base_branch),
        s.status.as_str().into(),
        s.created_by.as_str().into(),
        (s.created_at as f64).into(),
        (s.updated_at as f64).into(),
        opt(&s.reasoning_effort),
        s.pr_state
            .map_or(JsValue::NULL, |p| JsValue::from(p.as_str())),
        latest.map_or(JsValue::NULL, JsValue::from),
        s.parent_session_id
            .as_deref()
            .map_or(JsValue::NULL, JsValue::from),
        s.spawn_source().into(),
        (s.spawn_depth as f64).into(),
        s.pr_summary
            .and_then(|p| serde_json::to_string(&p).ok())
            .map_or(JsValue::NULL, JsValue::from),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Routes the forge's webhooks about `repo` to a session: its pull request's number (kind
/// `pr`) or its branch (kind `branch`), under the repository's id when known
/// ([`RepoRef::route_ref`]). A route another session holds is never taken over (a deleted
/// session's routes go with it).
pub async fn add_route(
    db: &D1Database,
    provider: VcsProvider,
    repo: &RepoRef,
    (kind, key): (&str, &str),
    session_id: &str,
    now: i64,
) -> ApiResult<()> {
    log::d1(D1::Write);
    db.prepare(
        "INSERT INTO webhook_routes (provider, repo_ref, repo, kind, key, session_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (provider, repo_ref, kind, key) DO NOTHING",
    )
    .bind(&[
        provider.as_str().into(),
        repo.route_ref().into(),
        repo.name.as_str().into(),
        kind.into(),
        key.into(),
        session_id.into(),
        (now as f64).into(),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Which routes a lookup may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMatch {
    /// A delivery's: routes of the repository's id, or written by its name alone.
    Delivery,
    /// A push's guard: any route of the id or of the name (refusing more, never less).
    Guard,
}

/// The session a webhook (or a push) is about, if any: one read.
pub async fn route(
    db: &D1Database,
    provider: VcsProvider,
    key: &RouteKey,
    how: RouteMatch,
) -> ApiResult<Option<String>> {
    // A push names few branches; more than a handful is not one of ours.
    let keys: Vec<&String> = key.keys.iter().take(MAX_ROUTE_KEYS).collect();
    if keys.is_empty() {
        return Ok(None);
    }
    let refs = key.repo.lookup_refs();
    let ref_marks = vec!["?"; refs.len()].join(", ");
    let marks = vec!["?"; keys.len()].join(", ");
    let by_name = match how {
        RouteMatch::Delivery => "",
        RouteMatch::Guard => " OR repo = ?",
    };
    let mut binds: Vec<JsValue> = vec![provider.as_str().into(), key.kind.into()];
    binds.extend(refs.iter().map(|r| JsValue::from(r.as_str())));
    if how == RouteMatch::Guard {
        binds.push(key.repo.name.as_str().into());
    }
    binds.extend(keys.iter().map(|k| JsValue::from(k.as_str())));
    log::d1(D1::Read);
    let stmt = db
        .prepare(format!(
            "SELECT session_id FROM webhook_routes WHERE provider = ? AND kind = ?
             AND (repo_ref IN ({ref_marks}){by_name}) AND key IN ({marks}) LIMIT 1"
        ))
        .bind(&binds)?;
    Ok(rows::d1_first::<Routed>(&stmt).await?.map(|r| r.0))
}

/// The most branches of one push looked up.
const MAX_ROUTE_KEYS: usize = 20;

/// Removes the session's index row and its webhook routes, and remembers it is gone (one
/// batch): a later delivery about its pull request or branch finds no session.
pub async fn remove(db: &D1Database, id: &str, now: i64) -> ApiResult<()> {
    let tombstone = db
        .prepare("INSERT OR IGNORE INTO deleted_sessions (id, deleted_at) VALUES (?1, ?2)")
        .bind(&[id.into(), (now as f64).into()])?;
    let delete = db
        .prepare("DELETE FROM sessions WHERE id = ?1")
        .bind(&[id.into()])?;
    let routes = db
        .prepare("DELETE FROM webhook_routes WHERE session_id = ?1")
        .bind(&[id.into()])?;
    log::d1(D1::Write);
    rows::d1_batch(db, &[tombstone, delete, routes]).await?;
    Ok(())
}

/// The session a route names.
struct Routed(String);

impl FromRow for Routed {
    fn from_row(r: &Row) -> Read<Self> {
        r.done(Routed(r.text("session_id")))
    }
}

/// The `n` of a `COUNT(*) AS n`.
struct Count(i64);

impl FromRow for Count {
    fn from_row(r: &Row) -> Read<Self> {
        r.done(Count(r.int("n")))
    }
}

/// One page of the index, as rows.
pub struct IndexPage {
    rows: Vec<SessionRow>,
    total: u64,
    has_more: bool,
}

/// One page of the index as callers see it, serialized straight from the rows.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listing<'a> {
    sessions: Vec<Summary<'a>>,
    total: u64,
    has_more: bool,
}

impl Serialize for IndexPage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Listing {
            sessions: self.rows.iter().map(SessionRow::summary).collect(),
            total: self.total,
            has_more: self.has_more,
        }
        .serialize(s)
    }
}

/// One page of the index, most recently updated first: the page and the total in one
/// round trip (a batch). `creators`: only sessions these users created (`None`: anyone's).
pub async fn list(
    db: &D1Database,
    q: &ListQuery,
    creators: Option<&[String]>,
) -> ApiResult<IndexPage> {
    let status = q.status.map_or(JsValue::NULL, |s| s.as_str().into());
    let exclude = q
        .exclude_status
        .map_or(JsValue::NULL, |s| s.as_str().into());
    let creators = creators.map_or(JsValue::NULL, |ids| {
        serde_json::to_string(ids).unwrap_or_default().into()
    });
    const FILTER: &str = "(?1 IS NULL OR status = ?1) AND (?2 IS NULL OR status != ?2)
        AND (?3 IS NULL OR created_by IN (SELECT value FROM json_each(?3)))";
    let page = db
        .prepare(format!(
            "SELECT * FROM sessions WHERE {FILTER} ORDER BY updated_at DESC, id{} OFFSET ?4",
            rows::limit(i64::from(q.limit))
        ))
        .bind(&[
            status.clone(),
            exclude.clone(),
            creators.clone(),
            (q.offset as f64).into(),
        ])?;
    let count = db
        .prepare(format!("SELECT COUNT(*) AS n FROM sessions WHERE {FILTER}"))
        .bind(&[status, exclude, creators])?;
    log::d1(D1::Read);
    let answers = rows::d1_batch(db, &[page, count]).await?;
    let [page, count] = answers.as_slice() else {
        return Err(ApiError::internal("the index answered an incomplete batch"));
    };
    let rows: Vec<SessionRow> = page.rows()?;
    let total = count
        .rows::<Count>()?
        .first()
        .map_or(0, |c| c.0.max(0) as u64);
    let has_more = (q.offset as u64 + rows.len() as u64) < total;
    Ok(IndexPage {
        rows,
        total,
        has_more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> ApiResult<ListQuery> {
        let url = url::Url::parse(&format!("http://x/sessions{s}")).unwrap();
        ListQuery::from_query(url.query_pairs())
    }

    #[test]
    fn parses_list_query() {
        assert_eq!(q("").unwrap().limit, DEFAULT_LIMIT);
        let l = q("?limit=5&offset=10&status=archived&excludeStatus=failed").unwrap();
        assert_eq!(
            (l.limit, l.offset, l.status, l.exclude_status),
            (
                5,
                10,
                Some(SessionStatus::Archived),
                Some(SessionStatus::Failed)
            )
        );
        assert_eq!(q("?limit=0").unwrap().limit, 1);
        assert_eq!(q("?limit=101").unwrap().limit, MAX_LIMIT);
        let mine = q("?createdBy=me&createdBy=0123456789abcdef0123456789abcdef&createdBy=me&excludeAutomationLineage=true").unwrap();
        assert_eq!(
            mine.created_by,
            vec![
                CreatedBy::Me,
                CreatedBy::User("0123456789abcdef0123456789abcdef".into())
            ]
        );
        for bad in [
            "?limit=x",
            "?offset=-1",
            "?status=DROP%20TABLE",
            "?excludeStatus=done",
            "?createdBy=alice",
            "?createdBy=",
            "?excludeAutomationLineage=yes",
        ] {
            assert!(q(bad).is_err(), "{bad}");
        }
    }
}
