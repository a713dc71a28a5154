//! The prompt queue: prompts are queued in order, started one at a time, and completed or
//! failed; every change of "is something processing" is broadcast from here, once. The
//! queue never talks to the sandbox: the runner takes the next prompt from it and sends it.

use crate::auth::random;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::raw::Object;
use crate::session::client::link::broadcast;
use crate::session::client::protocol::ServerMessage;
use crate::session::command::{ParticipantInput, PromptInput};
use crate::session::ctx::Ctx;
use crate::session::model::{
    completion_id, MessageRow, ParticipantRow, Role, SessionRow, SessionStatus,
};
use crate::session::notify;
use crate::session::status::{self, Change};

/// Prompts a session takes per [`RATE_WINDOW_MS`] at most.
pub const MAX_PROMPTS_PER_WINDOW: i64 = 30;
/// Prompts one author may send per [`RATE_WINDOW_MS`]: no one uses up the session's share.
pub const MAX_PROMPTS_PER_AUTHOR: i64 = 10;
pub const RATE_WINDOW_MS: i64 = 60_000;

/// Unfinished prompts a session holds at most (Open-Inspect's limit).
pub const MAX_UNFINISHED_PROMPTS: usize = 10;

/// Whether another prompt may be queued after `recent` in the current window.
pub fn prompt_allowed(recent: i64) -> bool {
    recent < MAX_PROMPTS_PER_WINDOW
}

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
    let now = now_ms();
    let recent = ctx.store.messages_since(now - RATE_WINDOW_MS)?;
    let theirs = ctx
        .store
        .messages_by_since(&p.author_id, now - RATE_WINDOW_MS)?;
    if !prompt_allowed(recent) || theirs >= MAX_PROMPTS_PER_AUTHOR {
        return Err(ApiError::new(
            429,
            "rate_limited",
            format!(
                "at most {MAX_PROMPTS_PER_AUTHOR} prompts a minute per person and \
                 {MAX_PROMPTS_PER_WINDOW} per session; wait a little"
            ),
        ));
    }
    if ctx.store.unfinished_messages()?.len() >= MAX_UNFINISHED_PROMPTS {
        return Err(ApiError::new(
            409,
            "PROMPT_QUEUE_FULL",
            format!("at most {MAX_UNFINISHED_PROMPTS} prompts may wait or run at once"),
        ));
    }
    // An author who is no participant yet joins as a member.
    if author.is_none() && ctx.store.participant_by_user(&p.author_id)?.is_none() {
        ctx.store.upsert_participant(
            &random::id()?,
            &ParticipantInput {
                user_id: p.author_id.clone(),
                ..Default::default()
            },
            false,
            Role::Member,
            now,
        )?;
    }
    let message_id = random::id()?;
    let model = p.model.clone().or(session.model.clone());
    let effort = p
        .reasoning_effort
        .clone()
        .or(session.reasoning_effort.clone());
    let position =
        ctx.store
            .insert_message(&message_id, p, model.as_deref(), effort.as_deref(), now)?;
    // The prompt shows in the queue now, and in the timeline once it starts.
    announce_queue(ctx)?;
    change_status(ctx, session.status, Change::Prompt, now)?;
    // A new prompt lifts a stop on spawn retries.
    ctx.store.sandbox_set_blocked(false)?;
    Ok(Queued {
        message_id,
        position,
    })
}

/// Stores an event the session writes (`raw`: its JSON text) and broadcasts it to every
/// subscribed client.
pub fn record_event(ctx: &Ctx, kind: &str, raw: &str, message_id: Option<&str>) -> ApiResult<()> {
    let row = ctx
        .store
        .insert_event(&random::id()?, kind, raw, message_id, now_ms())?;
    broadcast(ctx, &ServerMessage::SandboxEvent { event: row.data });
    Ok(())
}

/// Whose credentials act for the session now: the author of the running prompt, else the
/// session's owner.
pub fn current_author(ctx: &Ctx, session: &SessionRow) -> ApiResult<String> {
    Ok(ctx
        .store
        .processing_message()?
        .map(|m| m.author_id)
        .unwrap_or_else(|| session.created_by.clone()))
}

/// The prompt to send next, if any.
pub fn next(ctx: &Ctx) -> ApiResult<Option<MessageRow>> {
    ctx.store.next_pending()
}

/// Tells every client the unfinished prompts (`prompt_queue_updated`).
pub fn announce_queue(ctx: &Ctx) -> ApiResult<()> {
    let prompt_queue = crate::session::snapshot::prompt_queue(ctx)?;
    broadcast(ctx, &ServerMessage::PromptQueueUpdated { prompt_queue });
    Ok(())
}

/// Withdraws a prompt that has not started (only the web's; a bot's has a caller waiting).
pub fn cancel(ctx: &Ctx, message_id: &str) -> ApiResult<()> {
    let not_cancellable = || {
        ApiError::new(
            409,
            "PROMPT_NOT_CANCELLABLE",
            "only a prompt that has not started can be cancelled",
        )
    };
    let message = ctx.store.message(message_id)?.ok_or_else(not_cancellable)?;
    if message.source != "web" || !ctx.store.cancel_pending(message_id, now_ms())? {
        return Err(not_cancellable());
    }
    announce_queue(ctx)
}

/// The prompt `message_id`'s `user_message` event, as the web shows the user's prompt:
/// written by the session as the sandbox would write an event (timestamp in seconds), under
/// a stable id.
fn user_message(ctx: &Ctx, message: &MessageRow, now: i64) -> ApiResult<()> {
    let author = ctx.store.participant_by_user(&message.author_id)?;
    let name = author
        .as_ref()
        .map_or_else(|| message.author_id.clone(), ParticipantRow::display_name);
    let participant_id = author.as_ref().map_or("", |a| a.id.as_str());
    let event = Object::new()
        .field("type", "user_message")
        .field("content", &message.content)
        .field("messageId", &message.id)
        .field("timestamp", &(now as f64 / 1000.0))
        .object(
            "author",
            Object::new()
                .field("participantId", participant_id)
                .field("userId", &message.author_id)
                .field("name", &name),
        )
        .field("authorId", &message.author_id)
        .field("source", &message.source)
        .end();
    let id = format!("user_message:{}", message.id);
    if let Some(row) =
        ctx.store
            .upsert_event(&id, "user_message", &event, Some(&message.id), false, now)?
    {
        broadcast(ctx, &ServerMessage::SandboxEvent { event: row.data });
    }
    Ok(())
}

/// The prompt was handed to the sandbox: it is processing now, and shows in the timeline.
pub fn started(ctx: &Ctx, message_id: &str, now: i64) -> ApiResult<()> {
    ctx.store.mark_processing(message_id, now)?;
    if let Some(message) = ctx.store.message(message_id)? {
        user_message(ctx, &message, now)?;
    }
    notify::started(ctx, message_id);
    announce_queue(ctx)?;
    // The agent runs again: it works on top of whatever someone else pushed meanwhile.
    if ctx.store.existing_session()?.foreign_push_at.is_some() {
        ctx.store.set_foreign_push(None)?;
    }
    ctx.store.sandbox_activity(now)?;
    processing_status(ctx, true);
    Ok(())
}

/// The sandbox finished `message_id` (with its `error`, if it said one); answers whether it
/// was the one processing. A bot's prompt has its bot told.
pub fn complete(
    ctx: &Ctx,
    message_id: &str,
    success: bool,
    error: Option<&str>,
    now: i64,
) -> ApiResult<bool> {
    let error = (!success).then_some(error.unwrap_or("the agent reported a failure"));
    let done = ctx
        .store
        .complete_message(message_id, success, error, now)?;
    if done {
        finished(ctx, success, now)?;
        notify::completed(ctx, message_id, success, error);
    }
    Ok(done)
}

/// Fails the running message (if any) with `reason`; answers whether there was one. Every
/// client sees a completion for it (`success: false`, `error: reason`, as the sandbox would
/// send it, which a late one from the sandbox does not repeat) and the new status; a bot's
/// prompt has its bot told.
pub fn fail_running(ctx: &Ctx, reason: &str) -> ApiResult<bool> {
    let now = now_ms();
    let Some(running) = ctx.store.processing_message()? else {
        return Ok(false);
    };
    let event = Object::new()
        .field("type", "execution_complete")
        .field("messageId", &running.id)
        .field("success", &false)
        .field("error", reason)
        .field("sandboxId", "")
        .field("timestamp", &(now as f64 / 1000.0))
        .end();
    let id = completion_id(&running.id);
    let kind = "execution_complete";
    if let Some(row) = ctx
        .store
        .upsert_event(&id, kind, &event, Some(&running.id), false, now)?
    {
        broadcast(ctx, &ServerMessage::SandboxEvent { event: row.data });
    }
    let failed = ctx.store.fail_processing(reason, now)?;
    if failed {
        finished(ctx, false, now)?;
        notify::completed(ctx, &running.id, false, Some(reason));
    }
    Ok(failed)
}

/// Stops the running prompt, if any ([`fail_running`], "stopped by user"). Answers whether a
/// prompt was running; `processing_status` is false afterwards either way.
pub fn stop(ctx: &Ctx) -> ApiResult<bool> {
    let stopped = fail_running(ctx, "stopped by user")?;
    if !stopped {
        processing_status(ctx, false);
    }
    Ok(stopped)
}

/// The running prompt ended: nothing is processing, and the session's status follows.
fn finished(ctx: &Ctx, success: bool, now: i64) -> ApiResult<()> {
    processing_status(ctx, false);
    announce_queue(ctx)?;
    let session = ctx.store.existing_session()?;
    let more_queued = ctx.store.pending_count()? > 0;
    let change = Change::Finished {
        success,
        more_queued,
    };
    change_status(ctx, session.status, change, now)?;
    // The list and the inbox show the new status and an unread answer.
    ctx.index_later("after a prompt finished");
    Ok(())
}

/// Applies a status change: stored (with `updated_at`) and, when the status moved,
/// broadcast as `session_status`. Answers the new status.
pub fn change_status(
    ctx: &Ctx,
    current: SessionStatus,
    change: Change,
    now: i64,
) -> ApiResult<SessionStatus> {
    let next = status::transition(current, change);
    ctx.store.set_status(next, now)?;
    if next != current {
        broadcast(ctx, &ServerMessage::SessionStatus { status: next });
        crate::session::children::tell_parent(ctx, next);
    }
    Ok(next)
}

/// Tells every client whether a prompt is being processed.
fn processing_status(ctx: &Ctx, is_processing: bool) {
    broadcast(ctx, &ServerMessage::ProcessingStatus { is_processing });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_prompts_a_minute() {
        assert!(prompt_allowed(0));
        assert!(prompt_allowed(MAX_PROMPTS_PER_WINDOW - 1));
        assert!(!prompt_allowed(MAX_PROMPTS_PER_WINDOW));
    }
}
