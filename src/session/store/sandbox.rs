//! The `sandbox` row (one per session: the current sandbox) and the spawn failure log.

use serde::Deserialize;

use super::Store;
use crate::error::ApiResult;
use crate::session::model::SandboxRow;
use crate::session::model::SandboxStatus as Status;

impl Store {
    pub fn sandbox(&self) -> ApiResult<Option<SandboxRow>> {
        self.first("SELECT * FROM sandbox WHERE id = 1", vec![])
    }

    /// Records a new spawn: a new sandbox id and token hash, status `spawning`.
    pub fn sandbox_begin_spawn(
        &self,
        sandbox_id: &str,
        token_hash: &str,
        now: i64,
    ) -> ApiResult<()> {
        self.run(
            "INSERT INTO sandbox (id, sandbox_id, provider_id, token_hash, status, status_since,
                last_heartbeat, last_activity, created_at, last_error)
             VALUES (1, ?, NULL, ?, 'spawning', ?, NULL, ?, ?, NULL)
             ON CONFLICT(id) DO UPDATE SET sandbox_id = excluded.sandbox_id, provider_id = NULL,
                token_hash = excluded.token_hash, status = 'spawning', status_since = excluded.status_since,
                last_heartbeat = NULL, last_activity = excluded.last_activity,
                created_at = excluded.created_at, last_error = NULL",
            vec![sandbox_id.into(), token_hash.into(), now.into(), now.into(), now.into()],
        )
    }

    pub fn sandbox_set_status(&self, status: Status, now: i64) -> ApiResult<()> {
        self.run(
            "UPDATE sandbox SET status = ?, status_since = ? WHERE id = 1",
            vec![status.as_str().into(), now.into()],
        )
    }

    pub fn sandbox_started(&self, provider_id: Option<&str>, now: i64) -> ApiResult<()> {
        self.run(
            "UPDATE sandbox SET provider_id = ?, status = 'connecting', status_since = ? WHERE id = 1",
            vec![super::opt_str(provider_id), now.into()],
        )
    }

    pub fn sandbox_ready(&self, now: i64) -> ApiResult<()> {
        self.run(
            "UPDATE sandbox SET status = 'ready', status_since = ?, last_heartbeat = ?, last_activity = ?
             WHERE id = 1",
            vec![now.into(), now.into(), now.into()],
        )
    }

    pub fn sandbox_heartbeat(&self, now: i64) -> ApiResult<()> {
        self.run(
            "UPDATE sandbox SET last_heartbeat = ? WHERE id = 1",
            vec![now.into()],
        )
    }

    pub fn sandbox_activity(&self, now: i64) -> ApiResult<()> {
        self.run(
            "UPDATE sandbox SET last_activity = ? WHERE id = 1",
            vec![now.into()],
        )
    }

    /// Records a failed start; answers the times of the permanent failures so far.
    pub fn sandbox_failed(&self, permanent: bool, error: &str, now: i64) -> ApiResult<Vec<i64>> {
        self.run(
            "UPDATE sandbox SET status = 'failed', status_since = ?, last_error = ?, last_failure_at = ?
             WHERE id = 1",
            vec![now.into(), error.into(), now.into()],
        )?;
        self.run(
            "INSERT INTO spawn_failures (at, permanent, error) VALUES (?, ?, ?)",
            vec![now.into(), i64::from(permanent).into(), error.into()],
        )?;
        #[derive(Deserialize)]
        struct At {
            at: i64,
        }
        Ok(self
            .rows::<At>(
                "SELECT at FROM spawn_failures WHERE permanent = 1 ORDER BY seq DESC LIMIT 10",
                vec![],
            )?
            .into_iter()
            .map(|a| a.at)
            .collect())
    }

    pub fn sandbox_set_blocked(&self, blocked: bool) -> ApiResult<()> {
        self.run(
            "UPDATE sandbox SET blocked = ? WHERE id = 1",
            vec![i64::from(blocked).into()],
        )
    }
}
