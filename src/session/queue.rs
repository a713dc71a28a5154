//! The prompt queue: prompts are queued in order, started one at a time, and completed or
//! failed; every change of "is something processing" is broadcast from here, once. The
//! queue never talks to the sandbox: the runner takes the next prompt from it and sends it.

use serde_json::{json, Value};

use crate::auth::random;
use crate::clock::now_ms;
use crate::error::ApiResult;
use crate::session::client::link::broadcast;
use crate::session::client::protocol::ServerMessage;
use crate::session::command::{ParticipantInput, PromptInput};
use crate::session::ctx::Ctx;
use crate::session::model::{MessageRow, ParticipantRow, Role};
use crate::session::status::{self, Change};
use crate::session::store::SealedTokens;

/// A prompt just queued: its id and its place in the queue (1 = next).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub message_id: String,
    pub position: u32,
}

/// Queues a prompt from `p.author_id` (joining them as a member if new; `author` when the
/// caller already knows them), records it as an event for every client, activates the
/// session, and lifts a stop on spawn retries. The caller keeps the index and the alarm.
pub fn enqueue(ctx: &Ctx, p: &PromptInput, author: Option<&ParticipantRow>) -> ApiResult<Queued> {
    let session = ctx.store.existing_session()?;
    let next_status = status::transition(session.status, Change::Prompt)?;
    let now = now_ms();
    if author.is_none() && ctx.store.participant_by_user(&p.author_id)?.is_none() {
        let author = ParticipantInput {
            user_id: p.author_id.clone(),
            ..Default::default()
        };
        ctx.store.upsert_participant(
            &random::id()?,
            &author,
            &SealedTokens::default(),
            Role::Member,
            now,
        )?;
    }
    let message_id = random::id()?;
    let model = p.model.clone().or(session.model.clone());
    let position = ctx
        .store
        .insert_message(&message_id, p, model.as_deref(), now)?;
    let data = json!({
        "messageId": message_id,
        "content": p.content,
        "authorId": p.author_id,
        "source": p.source.as_deref().unwrap_or("web"),
        "model": model,
    });
    record_event(ctx, "user_message", &data, Some(&message_id))?;
    if next_status != session.status {
        ctx.store.set_status(next_status, now)?;
    } else {
        ctx.store.touch(now)?;
    }
    // A new prompt lifts a stop on spawn retries.
    ctx.store.sandbox_set_blocked(false)?;
    Ok(Queued {
        message_id,
        position,
    })
}

/// Stores an event and broadcasts it to every subscribed client.
pub fn record_event(
    ctx: &Ctx,
    kind: &str,
    data: &Value,
    message_id: Option<&str>,
) -> ApiResult<()> {
    let row = ctx
        .store
        .insert_event(&random::id()?, kind, data, message_id, now_ms())?;
    let event = row.view_with(data);
    broadcast(ctx, &ServerMessage::SandboxEvent { event });
    Ok(())
}

/// The prompt to send next, if any.
pub fn next(ctx: &Ctx) -> ApiResult<Option<MessageRow>> {
    ctx.store.next_pending()
}

/// The prompt was handed to the sandbox: it is processing now.
pub fn started(ctx: &Ctx, message_id: &str, now: i64) -> ApiResult<()> {
    ctx.store.mark_processing(message_id, now)?;
    ctx.store.sandbox_activity(now)?;
    processing_status(ctx, true);
    Ok(())
}

/// The sandbox finished `message_id`; answers whether it was the one processing.
pub fn complete(ctx: &Ctx, message_id: &str, success: bool, now: i64) -> ApiResult<bool> {
    let error = (!success).then_some("the agent reported a failure");
    let done = ctx
        .store
        .complete_message(message_id, success, error, now)?;
    if done {
        processing_status(ctx, false);
    }
    Ok(done)
}

/// Fails the running message (if any) with `reason`; answers whether there was one.
pub fn fail_running(ctx: &Ctx, reason: &str) -> ApiResult<bool> {
    let failed = ctx.store.fail_processing(reason, now_ms())?;
    if failed {
        processing_status(ctx, false);
    }
    Ok(failed)
}

/// Tells every client whether a prompt is being processed.
fn processing_status(ctx: &Ctx, is_processing: bool) {
    broadcast(ctx, &ServerMessage::ProcessingStatus { is_processing });
}
