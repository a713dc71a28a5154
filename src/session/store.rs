//! The session's SQLite storage: schema migrations and typed reads and writes of its
//! tables. Holds only encrypted tokens and token hashes.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use worker::{SqlStorage, SqlStorageValue as V};

use crate::error::ApiResult;
use crate::session::command::{ListKind, NewSession, ParticipantInput, PromptInput};
use crate::session::migrations;
use crate::session::model::{
    ArtifactRow, EventRow, Listed, MessageRow, ParticipantRow, SandboxRow, SessionRow,
};
use crate::session::paging::Page;
use crate::vcs::Identity;

/// Encrypted forms of a participant's tokens, ready to store.
#[derive(Debug, Default)]
pub struct SealedTokens {
    pub access: Option<String>,
    pub refresh: Option<String>,
}

pub struct Store {
    sql: SqlStorage,
}

fn opt(v: &Option<String>) -> V {
    v.clone().into()
}

const PARTICIPANT_COLUMNS: &str = "rowid AS seq, id, user_id, scm_user_id, scm_login, scm_name,
    scm_email, scm_access_token_encrypted, scm_token_expires_at, ws_token_issued_at, role, joined_at";

impl Store {
    pub fn new(sql: SqlStorage) -> Self {
        Self { sql }
    }

    fn rows<T: DeserializeOwned>(&self, query: &str, bindings: Vec<V>) -> ApiResult<Vec<T>> {
        Ok(self.sql.exec(query, Some(bindings))?.to_array()?)
    }

    fn first<T: DeserializeOwned>(&self, query: &str, bindings: Vec<V>) -> ApiResult<Option<T>> {
        Ok(self.rows(query, bindings)?.into_iter().next())
    }

    fn run(&self, query: &str, bindings: Vec<V>) -> ApiResult<()> {
        self.sql.exec(query, Some(bindings))?;
        Ok(())
    }

    /// Applies the migrations not yet recorded.
    pub fn migrate(&self, now: i64) -> ApiResult<()> {
        self.run(
            "CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
            vec![],
        )?;
        #[derive(Deserialize)]
        struct Current {
            v: Option<i64>,
        }
        let current = self
            .first::<Current>("SELECT MAX(version) AS v FROM _migrations", vec![])?
            .and_then(|c| c.v)
            .unwrap_or(0);
        for (version, statements) in migrations::pending(current) {
            for s in statements.iter() {
                self.run(s, vec![])?;
            }
            self.run(
                "INSERT INTO _migrations (version, applied_at) VALUES (?, ?)",
                vec![(*version).into(), now.into()],
            )?;
        }
        Ok(())
    }

    pub fn session(&self) -> ApiResult<Option<SessionRow>> {
        self.first("SELECT * FROM session LIMIT 1", vec![])
    }

    pub fn insert_session(&self, s: &NewSession, now: i64) -> ApiResult<()> {
        self.run(
            "INSERT INTO session (id, title, repo_owner, repo_name, vcs_provider, model,
                base_branch, branch_name, status, created_by, created_at, updated_at,
                control_plane_url)
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 'created', ?, ?, ?, ?)",
            vec![
                s.session_id.as_str().into(),
                opt(&s.title),
                s.repo_owner.as_str().into(),
                s.repo_name.as_str().into(),
                s.vcs_provider.as_str().into(),
                opt(&s.model),
                opt(&s.branch),
                s.owner.user_id.as_str().into(),
                now.into(),
                now.into(),
                opt(&s.control_plane_url),
            ],
        )
    }

    pub fn set_status(&self, status: &str, now: i64) -> ApiResult<()> {
        self.run(
            "UPDATE session SET status = ?, updated_at = ?",
            vec![status.into(), now.into()],
        )
    }

    pub fn set_base_branch(&self, branch: &str) -> ApiResult<()> {
        self.run("UPDATE session SET base_branch = ?", vec![branch.into()])
    }

    pub fn touch(&self, now: i64) -> ApiResult<()> {
        self.run("UPDATE session SET updated_at = ?", vec![now.into()])
    }

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

    pub fn sandbox_set_status(&self, status: &str, now: i64) -> ApiResult<()> {
        self.run(
            "UPDATE sandbox SET status = ?, status_since = ? WHERE id = 1",
            vec![status.into(), now.into()],
        )
    }

    pub fn sandbox_started(&self, provider_id: Option<&str>, now: i64) -> ApiResult<()> {
        self.run(
            "UPDATE sandbox SET provider_id = ?, status = 'connecting', status_since = ? WHERE id = 1",
            vec![provider_id.map(str::to_string).into(), now.into()],
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

    /// The session's pull request artifact, if it has one.
    pub fn pr_artifact(&self) -> ApiResult<Option<ArtifactRow>> {
        self.first(
            "SELECT rowid AS seq, * FROM artifacts WHERE type = 'pr' LIMIT 1",
            vec![],
        )
    }

    pub fn insert_artifact(
        &self,
        id: &str,
        kind: &str,
        url: &str,
        metadata: &Value,
        now: i64,
    ) -> ApiResult<ArtifactRow> {
        let rows: Vec<ArtifactRow> = self.rows(
            "INSERT INTO artifacts (id, type, url, metadata, created_at) VALUES (?, ?, ?, ?, ?)
             RETURNING rowid AS seq, id, type, url, metadata, created_at",
            vec![
                id.into(),
                kind.into(),
                url.into(),
                metadata.to_string().into(),
                now.into(),
            ],
        )?;
        rows.into_iter()
            .next()
            .ok_or_else(|| crate::error::ApiError::internal("artifact was not stored"))
    }

    pub fn pending_count(&self) -> ApiResult<usize> {
        #[derive(Deserialize)]
        struct N {
            n: i64,
        }
        Ok(self
            .first::<N>(
                "SELECT COUNT(*) AS n FROM messages WHERE status = 'pending'",
                vec![],
            )?
            .map_or(0, |c| c.n.max(0) as usize))
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
        let cursor = self.sql.exec(
            "UPDATE messages SET status = ?, error = ?, completed_at = ?
             WHERE id = ? AND status = 'processing'",
            Some(vec![
                if success { "completed" } else { "failed" }.into(),
                error.map(str::to_string).into(),
                now.into(),
                id.into(),
            ]),
        )?;
        Ok(cursor.rows_written() > 0)
    }

    /// Stores an event under a stable id: a repeat either replaces it (`replace`) or is
    /// dropped, answered with `None`.
    pub fn upsert_event(
        &self,
        id: &str,
        kind: &str,
        data: &Value,
        message_id: Option<&str>,
        replace: bool,
        now: i64,
    ) -> ApiResult<Option<EventRow>> {
        let conflict = if replace {
            "ON CONFLICT(id) DO UPDATE SET data = excluded.data, created_at = excluded.created_at"
        } else {
            "ON CONFLICT(id) DO NOTHING"
        };
        let rows: Vec<EventRow> = self.rows(
            &format!(
                "INSERT INTO events (id, type, data, message_id, created_at) VALUES (?, ?, ?, ?, ?)
                 {conflict} RETURNING seq, id, type, data, message_id, created_at"
            ),
            vec![
                id.into(),
                kind.into(),
                data.to_string().into(),
                message_id.map(str::to_string).into(),
                now.into(),
            ],
        )?;
        Ok(rows.into_iter().next())
    }

    pub fn participant_by_user(&self, user_id: &str) -> ApiResult<Option<ParticipantRow>> {
        self.first(
            &format!("SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE user_id = ?"),
            vec![user_id.into()],
        )
    }

    pub fn participant_by_ws_token(&self, hash: &str) -> ApiResult<Option<ParticipantRow>> {
        self.first(
            &format!("SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE ws_token_hash = ?"),
            vec![hash.into()],
        )
    }

    /// Adds a participant, or updates the one with the same user id: identity fields
    /// given replace stored ones, tokens given replace stored tokens, absent ones are kept.
    pub fn upsert_participant(
        &self,
        new_id: &str,
        p: &ParticipantInput,
        sealed: &SealedTokens,
        role: &str,
        now: i64,
    ) -> ApiResult<ParticipantRow> {
        self.run(
            "INSERT INTO participants (id, user_id, scm_user_id, scm_login, scm_name, scm_email,
                scm_access_token_encrypted, scm_refresh_token_encrypted, scm_token_expires_at,
                role, joined_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(user_id) DO UPDATE SET
                scm_user_id = COALESCE(excluded.scm_user_id, scm_user_id),
                scm_login = COALESCE(excluded.scm_login, scm_login),
                scm_name = COALESCE(excluded.scm_name, scm_name),
                scm_email = COALESCE(excluded.scm_email, scm_email),
                scm_access_token_encrypted = COALESCE(excluded.scm_access_token_encrypted, scm_access_token_encrypted),
                scm_refresh_token_encrypted = COALESCE(excluded.scm_refresh_token_encrypted, scm_refresh_token_encrypted),
                scm_token_expires_at = CASE WHEN excluded.scm_access_token_encrypted IS NULL
                    THEN scm_token_expires_at ELSE excluded.scm_token_expires_at END",
            vec![
                new_id.into(),
                p.user_id.as_str().into(),
                opt(&p.scm_user_id),
                opt(&p.scm_login),
                opt(&p.scm_name),
                opt(&p.scm_email),
                opt(&sealed.access),
                opt(&sealed.refresh),
                p.scm_token_expires_at.into(),
                role.into(),
                now.into(),
            ],
        )?;
        self.participant_by_user(&p.user_id)?
            .ok_or_else(|| crate::error::ApiError::internal("participant was not stored"))
    }

    /// Fills the participant's missing identity fields (given ones are kept).
    pub fn fill_identity(&self, participant_id: &str, identity: &Identity) -> ApiResult<()> {
        self.run(
            "UPDATE participants SET scm_user_id = COALESCE(scm_user_id, ?),
                scm_login = COALESCE(scm_login, ?), scm_name = COALESCE(scm_name, ?),
                scm_email = COALESCE(scm_email, ?)
             WHERE id = ?",
            vec![
                opt(&identity.user_id),
                opt(&identity.login),
                opt(&identity.name),
                opt(&identity.email),
                participant_id.into(),
            ],
        )
    }

    pub fn set_ws_token(&self, participant_id: &str, hash: &str, now: i64) -> ApiResult<()> {
        self.run(
            "UPDATE participants SET ws_token_hash = ?, ws_token_issued_at = ? WHERE id = ?",
            vec![hash.into(), now.into(), participant_id.into()],
        )
    }

    /// Queues a prompt; answers its position among unfinished messages (1 = next).
    pub fn insert_message(
        &self,
        id: &str,
        p: &PromptInput,
        model: Option<&str>,
        now: i64,
    ) -> ApiResult<u32> {
        self.run(
            "INSERT INTO messages (id, author_id, content, source, model, status, created_at)
             VALUES (?, ?, ?, ?, ?, 'pending', ?)",
            vec![
                id.into(),
                p.author_id.as_str().into(),
                p.content.as_str().into(),
                p.source.as_deref().unwrap_or("web").into(),
                model.map(str::to_string).into(),
                now.into(),
            ],
        )?;
        #[derive(Deserialize)]
        struct N {
            n: i64,
        }
        let n = self
            .first::<N>(
                "SELECT COUNT(*) AS n FROM messages WHERE status IN ('pending', 'processing')",
                vec![],
            )?
            .map(|c| c.n)
            .unwrap_or(1);
        Ok(n.clamp(1, u32::MAX as i64) as u32)
    }

    /// Fails the message being processed, if any; answers whether there was one.
    pub fn fail_processing(&self, reason: &str, now: i64) -> ApiResult<bool> {
        let cursor = self.sql.exec(
            "UPDATE messages SET status = 'failed', error = ?, completed_at = ? WHERE status = 'processing'",
            Some(vec![reason.into(), now.into()]),
        )?;
        Ok(cursor.rows_written() > 0)
    }

    pub fn insert_event(
        &self,
        id: &str,
        kind: &str,
        data: &Value,
        message_id: Option<&str>,
        now: i64,
    ) -> ApiResult<EventRow> {
        self.upsert_event(id, kind, data, message_id, false, now)?
            .ok_or_else(|| crate::error::ApiError::internal("event was not stored"))
    }

    /// Rows of a list, each shown with its `seq` (the paging cursor).
    fn listed<T: Listed>(&self, query: &str, bindings: Vec<V>) -> ApiResult<Vec<Value>> {
        Ok(self
            .rows::<T>(query, bindings)?
            .iter()
            .map(|r| {
                let mut v = r.view();
                if let Value::Object(m) = &mut v {
                    m.insert("seq".into(), r.seq().into());
                }
                v
            })
            .collect())
    }

    /// One page, newest first, fetching `limit + 1` rows so the caller can tell if more exist.
    pub fn page(&self, kind: ListKind, page: &Page) -> ApiResult<Vec<Value>> {
        // Larger than any row number, and safe as a JavaScript number.
        let cursor: V = page.cursor.unwrap_or(1 << 53).into();
        let limit: V = (i64::from(page.limit) + 1).into();
        let by_rowid = |table: &str, columns: &str| {
            format!("SELECT {columns} FROM {table} WHERE rowid < ? ORDER BY rowid DESC LIMIT ?")
        };
        match kind {
            ListKind::Events => self.listed::<EventRow>(
                "SELECT seq, id, type, data, message_id, created_at FROM events
                 WHERE seq < ? AND (? IS NULL OR type = ?) ORDER BY seq DESC LIMIT ?",
                vec![cursor, opt(&page.event_type), opt(&page.event_type), limit],
            ),
            ListKind::Messages => self.listed::<MessageRow>(
                &by_rowid("messages", "rowid AS seq, *"),
                vec![cursor, limit],
            ),
            ListKind::Artifacts => self.listed::<ArtifactRow>(
                &by_rowid("artifacts", "rowid AS seq, *"),
                vec![cursor, limit],
            ),
            ListKind::Participants => self.listed::<ParticipantRow>(
                &by_rowid("participants", PARTICIPANT_COLUMNS),
                vec![cursor, limit],
            ),
        }
    }
}
