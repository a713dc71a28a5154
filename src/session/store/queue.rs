//! The `messages` table: the prompt queue (pending → processing → completed or failed).

use super::Store;
use crate::bots::context::CallbackContext;
use crate::error::{ApiError, ApiResult};
use crate::session::command::PromptInput;
use crate::session::model::MessageRow;

impl Store {
    /// The latest prompt that finished (completed, or failed but not cancelled), if any: what
    /// the inbox's read state is about.
    pub fn latest_finished(&self) -> ApiResult<Option<String>> {
        Ok(self
            .first::<MessageRow>(
                "SELECT rowid AS seq, * FROM messages WHERE status IN ('completed', 'failed')
                 AND (error IS NULL OR error != 'cancelled') ORDER BY completed_at DESC LIMIT 1",
                vec![],
            )?
            .map(|m| m.id))
    }

    /// When the last prompt completed, and whose it was, if any did.
    pub fn last_completed(&self) -> ApiResult<Option<(i64, String)>> {
        Ok(self
            .first::<MessageRow>(
                "SELECT rowid AS seq, * FROM messages WHERE status = 'completed'
                 ORDER BY completed_at DESC LIMIT 1",
                vec![],
            )?
            .and_then(|m| Some((m.completed_at?, m.author_id))))
    }

    pub fn pending_count(&self) -> ApiResult<usize> {
        let n = self.count(
            "SELECT COUNT(*) AS n FROM messages WHERE status = 'pending'",
            vec![],
        )?;
        Ok(n.max(0) as usize)
    }

    /// How many prompts were queued at or after `since` (Unix ms).
    pub fn messages_since(&self, since: i64) -> ApiResult<i64> {
        self.count(
            "SELECT COUNT(*) AS n FROM messages WHERE created_at >= ?",
            vec![since.into()],
        )
    }

    /// The unfinished prompts: the processing one first, then the pending ones in order.
    pub fn unfinished_messages(&self) -> ApiResult<Vec<MessageRow>> {
        self.rows(
            "SELECT rowid AS seq, * FROM messages WHERE status IN ('processing', 'pending')
             ORDER BY status = 'pending', rowid LIMIT 100",
            vec![],
        )
    }

    /// Withdraws a prompt that has not started (it ends failed, "cancelled"); answers whether
    /// it was pending.
    pub fn cancel_pending(&self, id: &str, now: i64) -> ApiResult<bool> {
        self.changed(
            "UPDATE messages SET status = 'failed', error = 'cancelled', completed_at = ?
             WHERE id = ? AND status = 'pending'",
            vec![now.into(), id.into()],
        )
    }

    /// Fails every prompt that has not started with `reason`.
    pub fn fail_pending(&self, reason: &str, now: i64) -> ApiResult<bool> {
        self.changed(
            "UPDATE messages SET status = 'failed', error = ?, completed_at = ? WHERE status = 'pending'",
            vec![reason.into(), now.into()],
        )
    }

    /// One message, if it exists.
    pub fn message(&self, id: &str) -> ApiResult<Option<MessageRow>> {
        self.first(
            "SELECT rowid AS seq, * FROM messages WHERE id = ?",
            vec![id.into()],
        )
    }

    /// Where the prompt `id` is called back, if a bot sent it (an unreadable stored context
    /// is none).
    pub fn callback_context(&self, id: &str) -> ApiResult<Option<CallbackContext>> {
        let stored = self.message(id)?.and_then(|m| m.callback_context);
        Ok(stored.and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// How many prompts `author` queued since `since`.
    pub fn messages_by_since(&self, author: &str, since: i64) -> ApiResult<i64> {
        self.count(
            "SELECT COUNT(*) AS n FROM messages WHERE created_at >= ? AND author_id = ?",
            vec![since.into(), author.into()],
        )
    }

    /// How many prompts the session has had.
    pub fn message_count(&self) -> ApiResult<i64> {
        self.count("SELECT COUNT(*) AS n FROM messages", vec![])
    }

    pub fn processing_message(&self) -> ApiResult<Option<MessageRow>> {
        self.first(
            "SELECT rowid AS seq, * FROM messages WHERE status = 'processing' LIMIT 1",
            vec![],
        )
    }

    pub fn next_pending(&self) -> ApiResult<Option<MessageRow>> {
        self.first(
            "SELECT rowid AS seq, * FROM messages WHERE status = 'pending' ORDER BY rowid LIMIT 1",
            vec![],
        )
    }

    pub fn mark_processing(&self, id: &str, now: i64) -> ApiResult<()> {
        self.run(
            "UPDATE messages SET status = 'processing', started_at = ? WHERE id = ?",
            vec![now.into(), id.into()],
        )
    }

    /// Closes a processing message; answers whether it was processing.
    pub fn complete_message(
        &self,
        id: &str,
        success: bool,
        error: Option<&str>,
        now: i64,
    ) -> ApiResult<bool> {
        self.changed(
            "UPDATE messages SET status = ?, error = ?, completed_at = ?
             WHERE id = ? AND status = 'processing'",
            vec![
                if success { "completed" } else { "failed" }.into(),
                super::opt_str(error),
                now.into(),
                id.into(),
            ],
        )
    }

    /// Fails the message being processed, if any; answers whether there was one.
    pub fn fail_processing(&self, reason: &str, now: i64) -> ApiResult<bool> {
        self.changed(
            "UPDATE messages SET status = 'failed', error = ?, completed_at = ? WHERE status = 'processing'",
            vec![reason.into(), now.into()],
        )
    }

    /// Queues a prompt; answers its position among unfinished messages (1 = next).
    pub fn insert_message(
        &self,
        id: &str,
        p: &PromptInput,
        model: Option<&str>,
        reasoning_effort: Option<&str>,
        now: i64,
    ) -> ApiResult<u32> {
        let callback = match &p.callback_context {
            Some(c) => {
                Some(serde_json::to_string(c).map_err(|e| ApiError::internal(e.to_string()))?)
            }
            None => None,
        };
        self.run(
            "INSERT INTO messages (id, author_id, content, source, model, reasoning_effort,
                status, created_at, callback_context)
             VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            vec![
                id.into(),
                p.author_id.as_str().into(),
                p.content.as_str().into(),
                p.source.as_deref().unwrap_or("web").into(),
                super::opt_str(model),
                super::opt_str(reasoning_effort),
                now.into(),
                super::opt_str(callback.as_deref()),
            ],
        )?;
        let n = self.count(
            "SELECT COUNT(*) AS n FROM messages WHERE status IN ('pending', 'processing')",
            vec![],
        )?;
        Ok(n.clamp(1, u32::MAX as i64) as u32)
    }
}
