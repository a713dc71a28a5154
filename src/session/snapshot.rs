//! The session as Open-Inspect's current web app reads it (`sessionSnapshotSchema`,
//! ecc3d7b81): `GET /sessions/{id}` answers it, and the socket's `subscribed` frame carries it.
//! `{session, artifacts, timeline: {events, hasMore, cursor}, spawnError, promptQueue}`; the
//! timeline's items are envelopes `{eventId, timelineSequence, event}`, strict on the web's
//! side. Fields the web does not know (ours: `vcsProvider`, `prState`, `sandbox`, ...) are
//! dropped by its schema and kept for our own callers.

use crate::error::ApiResult;
use crate::raw::{Object, Raw};
use crate::session::client::protocol::{HistoryCursor, Replay};
use crate::session::ctx::Ctx;
use crate::session::model::{EventRow, Listed, SandboxRow, SandboxStatus, SessionRow};
use crate::session::paging::Page;

/// The events replayed with a snapshot, newest first (sent oldest first).
pub const REPLAY_LIMIT: u32 = 500;

/// The session's snapshot, in parts (the `subscribed` frame writes them beside its own).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub session: Raw,
    pub artifacts: Vec<Raw>,
    pub timeline: Replay,
    pub spawn_error: Option<String>,
    pub prompt_queue: Raw,
}

impl Snapshot {
    /// Writes the snapshot's fields into `o`.
    pub fn write(&self, o: Object) -> Object {
        o.raw("session", &self.session)
            .raws("artifacts", &self.artifacts)
            .object("timeline", self.timeline.write(Object::new(), "events"))
            .field("spawnError", &self.spawn_error)
            .raw("promptQueue", &self.prompt_queue)
    }
}

/// One stored event as the timeline shows it: `{eventId, timelineSequence, event}`.
pub fn envelope(row: &EventRow) -> Raw {
    Object::new()
        .field("eventId", &row.id)
        .field("timelineSequence", &row.seq)
        .raw("event", &row.data)
        .into_raw()
}

/// The newest `limit` events before the log position `before`, oldest first, as envelopes,
/// with the cursor of the oldest.
pub fn timeline(ctx: &Ctx, before: Option<i64>, limit: u32) -> ApiResult<Replay> {
    let page = Page {
        cursor: before,
        limit,
        ..Page::default()
    };
    let w = ctx.store.events(&page)?;
    let cursor = w.rows.last().map(|oldest: &EventRow| HistoryCursor {
        timestamp: oldest.created_at,
        id: oldest.id.clone(),
        sequence: Some(oldest.seq),
    });
    Ok(Replay {
        events: w.rows.iter().rev().map(envelope).collect(),
        has_more: w.has_more,
        cursor,
    })
}

/// The session's state as the snapshot's `session` (`sessionStateSchema`): the web's fields
/// (optional ones left out rather than `null`), then ours.
fn state(ctx: &Ctx, s: &SessionRow, sandbox: Option<&SandboxRow>) -> ApiResult<Raw> {
    let model = s
        .model
        .clone()
        .unwrap_or_else(|| crate::config::default_model(&ctx.env));
    let mut o = Object::new()
        .field("id", &s.id)
        .field("title", &s.title)
        .field("repoOwner", &s.repo_owner)
        .field("repoName", &s.repo_name)
        .field("baseBranch", &s.base_branch)
        .field("branchName", &s.branch_name)
        .field("status", &s.status)
        .field(
            "sandboxStatus",
            &sandbox
                .map_or(SandboxStatus::None, |r| r.status)
                .client_name(),
        )
        .field("messageCount", &ctx.store.message_count()?)
        .field("createdAt", &s.created_at)
        .field("model", &model);
    if let Some(effort) = &s.reasoning_effort {
        o = o.field("reasoningEffort", effort);
    }
    Ok(
        o.field("isProcessing", &ctx.store.processing_message()?.is_some())
            .field("totalCost", &(s.cost_micros as f64 / 1e6))
            .field("parentSessionId", &s.parent_session_id)
            .field("spawnSource", s.spawn_source())
            .field("spawnDepth", &s.spawn_depth)
            .field("updatedAt", &s.updated_at)
            .field("createdBy", &s.created_by)
            .field("vcsProvider", &s.vcs_provider)
            .field("prState", &s.pr_state)
            .field("sandbox", &sandbox.map(SandboxRow::view))
            .into_raw(),
    )
}

/// The unfinished prompts, the processing one first: `[{messageId, content, status}]`.
pub fn prompt_queue(ctx: &Ctx) -> ApiResult<Raw> {
    let items: Vec<Raw> = ctx
        .store
        .unfinished_messages()?
        .iter()
        .map(|m| {
            Object::new()
                .field("messageId", &m.id)
                .field("content", &m.content)
                .field("status", &m.status)
                .into_raw()
        })
        .collect();
    Ok(Raw::array(&items))
}

/// The snapshot of the session now.
pub fn build(ctx: &Ctx) -> ApiResult<Snapshot> {
    let session = ctx.store.existing_session()?;
    let sandbox = ctx.store.sandbox()?;
    let spawn_error = sandbox
        .as_ref()
        .filter(|s| s.status == SandboxStatus::Failed)
        .and_then(|s| s.last_error.clone());
    let artifacts = ctx.store.artifacts()?.iter().map(Listed::view).collect();
    Ok(Snapshot {
        session: state(ctx, &session, sandbox.as_ref())?,
        artifacts,
        timeline: timeline(ctx, None, REPLAY_LIMIT)?,
        spawn_error,
        prompt_queue: prompt_queue(ctx)?,
    })
}
