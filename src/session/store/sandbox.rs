//! The `sandbox` row (one per session: the current sandbox) and the spawn failure log.

use worker::SqlStorageValue as V;

use super::Store;
use crate::error::ApiResult;
use crate::session::model::SandboxRow;
use crate::session::model::SandboxStatus as Status;

/// Activity is written at most this often.
const ACTIVITY_EVERY_MS: i64 = 1_000;

impl Store {
    /// The sandbox row, read once and kept until the next write to it.
    pub fn sandbox(&self) -> ApiResult<Option<SandboxRow>> {
        self.sandbox_row
            .get_or(|| self.first("SELECT * FROM sandbox WHERE id = 1", vec![]))
    }

    /// A write to the sandbox row: what was kept of it is dropped first.
    fn write(&self, query: &str, bindings: Vec<V>) -> ApiResult<()> {
        self.write_changed(query, bindings).map(|_| ())
    }

    /// [`Self::write`], answering whether a row changed.
    fn write_changed(&self, query: &str, bindings: Vec<V>) -> ApiResult<bool> {
        self.sandbox_row.forget();
        self.changed(query, bindings)
    }

    /// Records a new spawn for `user_id`: a new sandbox id and token hash, status `spawning`.
    pub fn sandbox_begin_spawn(
        &self,
        sandbox_id: &str,
        token_hash: &str,
        user_id: &str,
        now: i64,
    ) -> ApiResult<()> {
        self.write(
            "INSERT INTO sandbox (id, sandbox_id, provider_id, token_hash, status, status_since,
                last_heartbeat, last_activity, created_at, last_error, spawned_for)
             VALUES (1, ?, NULL, ?, 'spawning', ?, NULL, ?, ?, NULL, ?)
             ON CONFLICT(id) DO UPDATE SET sandbox_id = excluded.sandbox_id, provider_id = NULL,
                token_hash = excluded.token_hash, status = 'spawning', status_since = excluded.status_since,
                last_heartbeat = NULL, last_activity = excluded.last_activity,
                created_at = excluded.created_at, last_error = NULL,
                spawned_for = excluded.spawned_for, disconnected_at = NULL",
            vec![
                sandbox_id.into(),
                token_hash.into(),
                now.into(),
                now.into(),
                now.into(),
                user_id.into(),
            ],
        )
    }

    pub fn sandbox_set_status(&self, status: Status, now: i64) -> ApiResult<()> {
        self.write(
            "UPDATE sandbox SET status = ?, status_since = ? WHERE id = 1",
            vec![status.as_str().into(), now.into()],
        )
    }

    /// The provider started sandbox `sandbox_id`: `connecting`, unless that sandbox is gone or
    /// already further along (it may connect before the provider answers). Answers whether
    /// the row changed; the provider id is recorded either way.
    pub fn sandbox_started(
        &self,
        sandbox_id: &str,
        provider_id: Option<&str>,
        now: i64,
    ) -> ApiResult<bool> {
        self.write(
            "UPDATE sandbox SET provider_id = ? WHERE id = 1 AND sandbox_id = ?",
            vec![super::opt_str(provider_id), sandbox_id.into()],
        )?;
        self.write_changed(
            "UPDATE sandbox SET status = 'connecting', status_since = ?
             WHERE id = 1 AND sandbox_id = ? AND status = 'spawning'",
            vec![now.into(), sandbox_id.into()],
        )
    }

    pub fn sandbox_ready(&self, now: i64) -> ApiResult<()> {
        self.write(
            "UPDATE sandbox SET status = 'ready', status_since = ?, last_heartbeat = ?, last_activity = ?
             WHERE id = 1",
            vec![now.into(), now.into(), now.into()],
        )
    }

    pub fn sandbox_heartbeat(&self, now: i64) -> ApiResult<()> {
        self.write(
            "UPDATE sandbox SET last_heartbeat = ? WHERE id = 1",
            vec![now.into()],
        )
    }

    /// Records whether the current sandbox's socket is gone (since `at`) or back (`None`).
    pub fn sandbox_disconnected(&self, at: Option<i64>) -> ApiResult<()> {
        self.write(
            "UPDATE sandbox SET disconnected_at = ? WHERE id = 1",
            vec![at.into()],
        )
    }

    /// Records activity, at most about once a second (every sandbox event calls this).
    pub fn sandbox_activity(&self, now: i64) -> ApiResult<()> {
        if now - self.activity_written.get() < ACTIVITY_EVERY_MS {
            return Ok(());
        }
        self.activity_written.set(now);
        self.write(
            "UPDATE sandbox SET last_activity = ? WHERE id = 1",
            vec![now.into()],
        )
    }

    /// Records a failed start of sandbox `sandbox_id` (only while it is still starting: a
    /// late failure never overwrites a sandbox that connected); answers the times of the
    /// permanent failures so far, or `None` when the row had moved on.
    pub fn sandbox_failed(
        &self,
        sandbox_id: &str,
        permanent: bool,
        error: &str,
        now: i64,
    ) -> ApiResult<Option<Vec<i64>>> {
        let failed = self.write_changed(
            "UPDATE sandbox SET status = 'failed', status_since = ?, last_error = ?, last_failure_at = ?
             WHERE id = 1 AND sandbox_id = ? AND status IN ('spawning', 'connecting')",
            vec![now.into(), error.into(), now.into(), sandbox_id.into()],
        )?;
        if !failed {
            return Ok(None);
        }
        self.run(
            "INSERT INTO spawn_failures (at, permanent, error) VALUES (?, ?, ?)",
            vec![now.into(), i64::from(permanent).into(), error.into()],
        )?;
        Ok(Some(self.ints(
            "SELECT at FROM spawn_failures WHERE permanent = 1 ORDER BY seq DESC LIMIT 10",
            vec![],
            "at",
        )?))
    }

    pub fn sandbox_set_blocked(&self, blocked: bool) -> ApiResult<()> {
        // Nothing to write when the row is known to say so already (or to be absent).
        let settled = self
            .sandbox_row
            .known(|row| row.is_none_or(|r| (r.blocked != 0) == blocked));
        if settled == Some(true) {
            return Ok(());
        }
        self.write(
            "UPDATE sandbox SET blocked = ? WHERE id = 1",
            vec![i64::from(blocked).into()],
        )
    }
}
