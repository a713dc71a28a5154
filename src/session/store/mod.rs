//! The session's SQLite storage, the only place with SQL: schema migrations and typed reads
//! and writes of its tables, one file per concern (`sandbox`, `queue`, `log`). Holds only
//! encrypted tokens and token hashes.

mod log;
mod queue;
mod sandbox;

pub use log::PendingEvent;

use std::cell::{Cell, RefCell};

use worker::js_sys::{Function, Reflect};
use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{SqlStorage, SqlStorageValue as V, Storage};

use crate::error::{ApiError, ApiResult};
use crate::rows::{FromRow, Read, Row};
use crate::session::command::{NewSession, ParticipantInput};
use crate::session::migrations;
use crate::session::model::{ParticipantRow, Role, SandboxRow, SessionRow, SessionStatus};
use crate::session::pull_request::summary::PrSummary;
use crate::vcs::Identity;
use crate::webhooks::PrState;

/// A one-row table's row as last read (the inner `None`: no row), kept until the next write
/// to it. Every write goes through `Store`, so the copy cannot go stale.
struct RowCache<T>(RefCell<Option<Option<T>>>);

impl<T: Clone> RowCache<T> {
    fn new() -> Self {
        Self(RefCell::new(None))
    }

    /// The kept row, else what `read` answers (kept).
    fn get_or(&self, read: impl FnOnce() -> ApiResult<Option<T>>) -> ApiResult<Option<T>> {
        if let Some(row) = self.0.borrow().as_ref() {
            return Ok(row.clone());
        }
        let row = read()?;
        *self.0.borrow_mut() = Some(row.clone());
        Ok(row)
    }

    /// `f` of the kept row, if it is known.
    fn known<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> Option<R> {
        self.0.borrow().as_ref().map(|row| f(row.as_ref()))
    }

    /// Drops the kept row (it is about to change, or storage was wiped).
    fn forget(&self) {
        self.0.borrow_mut().take();
    }
}

/// Typed access to the session's SQLite database.
pub struct Store {
    sql: SqlStorage,
    /// The Durable Object's storage as JavaScript sees it (for `transactionSync`).
    storage: JsValue,
    session_row: RowCache<SessionRow>,
    sandbox_row: RowCache<SandboxRow>,
    /// Sandbox events not written yet (see `log::defer_event`).
    pending_events: RefCell<Vec<log::PendingEvent>>,
    /// A write of the pending events is scheduled.
    flush_scheduled: Cell<bool>,
    /// When activity was last written (see `sandbox_activity`).
    activity_written: Cell<i64>,
    /// The schema is current (migrations ran in this instance).
    migrated: Cell<bool>,
}

fn opt(v: &Option<String>) -> V {
    v.clone().into()
}

fn opt_str(v: Option<&str>) -> V {
    v.map(str::to_string).into()
}

const PARTICIPANT_COLUMNS: &str = "rowid AS seq, id, user_id, scm_user_id, scm_login, scm_name,
    scm_email, has_scm_token, scm_token_expires_at, ws_token_issued_at, role, joined_at,
    identity_tried_at";

impl Store {
    pub fn new(storage: &Storage) -> Self {
        Self {
            sql: storage.sql(),
            storage: storage.as_raw().into(),
            sandbox_row: RowCache::new(),
            session_row: RowCache::new(),
            pending_events: RefCell::new(Vec::new()),
            flush_scheduled: Cell::new(false),
            activity_written: Cell::new(0),
            migrated: Cell::new(false),
        }
    }

    /// Each row of `query`, read by `read`.
    fn read_each<T>(
        &self,
        query: &str,
        bindings: Vec<V>,
        read: impl Fn(&Row) -> Read<T>,
    ) -> ApiResult<Vec<T>> {
        self.sql
            .exec(query, Some(bindings))?
            .map(|row| Row::read_with(row?, &read))
            .collect()
    }

    fn rows<T: FromRow>(&self, query: &str, bindings: Vec<V>) -> ApiResult<Vec<T>> {
        self.read_each(query, bindings, T::from_row)
    }

    fn first<T: FromRow>(&self, query: &str, bindings: Vec<V>) -> ApiResult<Option<T>> {
        Ok(self.rows(query, bindings)?.into_iter().next())
    }

    /// The integer column `column` of each row.
    fn ints(&self, query: &str, bindings: Vec<V>, column: &'static str) -> ApiResult<Vec<i64>> {
        self.read_each(query, bindings, |r| r.done(r.int(column)))
    }

    fn run(&self, query: &str, bindings: Vec<V>) -> ApiResult<()> {
        self.sql.exec(query, Some(bindings))?;
        Ok(())
    }

    /// Runs a write; answers whether it changed any row.
    fn changed(&self, query: &str, bindings: Vec<V>) -> ApiResult<bool> {
        Ok(self.sql.exec(query, Some(bindings))?.rows_written() > 0)
    }

    /// The `n` of a `SELECT COUNT(*) AS n` query.
    fn count(&self, query: &str, bindings: Vec<V>) -> ApiResult<i64> {
        Ok(self
            .ints(query, bindings, "n")?
            .first()
            .copied()
            .unwrap_or(0))
    }

    /// Applies the migrations not yet recorded, once per instance (and again after a wipe).
    pub fn ready(&self, now: i64) -> ApiResult<()> {
        if self.migrated.get() {
            return Ok(());
        }
        self.run(
            "CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
            vec![],
        )?;
        let current = self.count(
            "SELECT COALESCE(MAX(version), 0) AS n FROM _migrations",
            vec![],
        )?;
        for &(version, statements) in migrations::pending(current) {
            let sql = self.sql.clone();
            self.atomically(move || {
                for s in statements {
                    sql.exec(s, None)?;
                }
                sql.exec(
                    "INSERT INTO _migrations (version, applied_at) VALUES (?, ?)",
                    Some(vec![version.into(), now.into()]),
                )?;
                Ok(())
            })?;
        }
        self.migrated.set(true);
        Ok(())
    }

    /// Runs `work` in one SQLite transaction (`transactionSync`): all of it or, when it
    /// fails, none of it.
    fn atomically(&self, work: impl FnOnce() -> worker::Result<()> + 'static) -> ApiResult<()> {
        let failed = |e: JsValue| {
            ApiError::internal(format!(
                "a storage transaction failed: {}",
                e.as_string().unwrap_or_default()
            ))
        };
        let run = Closure::<dyn FnMut() -> Result<(), JsValue>>::once(move || {
            work().map_err(|e| JsValue::from_str(&e.to_string()))
        });
        let transaction = Reflect::get(&self.storage, &"transactionSync".into())
            .map_err(failed)?
            .dyn_into::<Function>()
            .map_err(failed)?;
        transaction
            .call1(&self.storage, run.as_ref().unchecked_ref())
            .map_err(failed)?;
        Ok(())
    }

    /// Marks the schema as gone (after all storage was deleted).
    pub fn forget_schema(&self) {
        self.migrated.set(false);
        self.sandbox_row.forget();
        self.session_row.forget();
        self.pending_events.borrow_mut().clear();
        self.activity_written.set(0);
    }

    /// The session row, read once and kept until the next write to it.
    pub fn session(&self) -> ApiResult<Option<SessionRow>> {
        self.session_row
            .get_or(|| self.first("SELECT * FROM session LIMIT 1", vec![]))
    }

    /// A write to the session row: what was kept of it is dropped first.
    fn write_session(&self, query: &str, bindings: Vec<V>) -> ApiResult<()> {
        self.session_row.forget();
        self.run(query, bindings)
    }

    /// The session, or 404.
    pub fn existing_session(&self) -> ApiResult<SessionRow> {
        self.session()?
            .ok_or_else(|| ApiError::not_found("session not found"))
    }

    /// The session as its index row is written: with its pull requests counted.
    pub fn index_row(&self) -> ApiResult<SessionRow> {
        let mut row = self.existing_session()?;
        row.pr_summary = PrSummary::of(&self.pr_artifacts()?);
        Ok(row)
    }

    pub fn insert_session(&self, s: &NewSession, now: i64) -> ApiResult<()> {
        self.write_session(
            "INSERT INTO session (id, title, repo_owner, repo_name, vcs_provider, model,
                base_branch, branch_name, status, created_by, created_at, updated_at,
                control_plane_url, reasoning_effort, parent_session_id, spawn_depth)
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                s.session_id.as_str().into(),
                opt(&s.title),
                s.repo_owner.as_str().into(),
                s.repo_name.as_str().into(),
                s.vcs_provider.as_str().into(),
                opt(&s.model),
                opt(&s.branch),
                SessionStatus::Created.as_str().into(),
                s.owner.user_id.as_str().into(),
                now.into(),
                now.into(),
                opt(&s.control_plane_url),
                opt(&s.reasoning_effort),
                opt(&s.parent.as_ref().map(|p| p.session_id.clone())),
                s.parent.as_ref().map_or(0, |p| p.depth).into(),
            ],
        )
    }

    /// Sets the status (and `updated_at`).
    pub fn set_status(&self, status: SessionStatus, now: i64) -> ApiResult<()> {
        self.write_session(
            "UPDATE session SET status = ?, updated_at = ?",
            vec![status.as_str().into(), now.into()],
        )
    }

    /// Records the repository's stable id at the forge.
    pub fn set_repo_id(&self, id: u64) -> ApiResult<()> {
        self.write_session("UPDATE session SET repo_id = ?", vec![(id as i64).into()])
    }

    pub fn set_base_branch(&self, branch: &str) -> ApiResult<()> {
        self.write_session("UPDATE session SET base_branch = ?", vec![branch.into()])
    }

    /// Records the branch the session's work was pushed to.
    pub fn set_branch_name(&self, branch: &str) -> ApiResult<()> {
        self.write_session("UPDATE session SET branch_name = ?", vec![branch.into()])
    }

    /// Names the session, unless it already has a title.
    pub fn set_title_if_unset(&self, title: &str) -> ApiResult<()> {
        self.write_session(
            "UPDATE session SET title = ? WHERE title IS NULL OR title = ''",
            vec![title.into()],
        )
    }

    /// Records the pull request's latest state (and the time, which moves the session up
    /// in the index).
    pub fn set_pr_state(&self, state: PrState, now: i64) -> ApiResult<()> {
        self.write_session(
            "UPDATE session SET pr_state = ?, updated_at = MAX(updated_at, ?)",
            vec![state.as_str().into(), now.into()],
        )
    }

    /// Records that the session itself pushed its branch at `now`.
    pub fn set_own_push(&self, now: i64) -> ApiResult<()> {
        self.write_session("UPDATE session SET own_push_at = ?", vec![now.into()])
    }

    /// Records (or, with `None`, clears) a push to the session's branch by someone else.
    pub fn set_foreign_push(&self, at: Option<i64>) -> ApiResult<()> {
        let at = at.map_or(V::Null, V::from);
        self.write_session("UPDATE session SET foreign_push_at = ?", vec![at])
    }

    /// Renames the session (and moves `updated_at` on).
    pub fn set_title(&self, title: &str, now: i64) -> ApiResult<()> {
        self.write_session(
            "UPDATE session SET title = ?, updated_at = ?",
            vec![title.into(), now.into()],
        )
    }

    /// Every participant, in the order they joined (at most 500).
    pub fn participants(&self) -> ApiResult<Vec<ParticipantRow>> {
        self.rows(
            &format!("SELECT {PARTICIPANT_COLUMNS} FROM participants ORDER BY rowid LIMIT 500"),
            vec![],
        )
    }

    /// Adds a step's cost (millionths of a dollar) to the session's.
    pub fn add_cost(&self, micros: i64) -> ApiResult<()> {
        self.write_session(
            "UPDATE session SET cost_micros = cost_micros + ?",
            vec![micros.into()],
        )
    }

    /// Moves `updated_at` on without another change.
    pub fn touch(&self, now: i64) -> ApiResult<()> {
        self.write_session("UPDATE session SET updated_at = ?", vec![now.into()])
    }

    pub fn participant_by_user(&self, user_id: &str) -> ApiResult<Option<ParticipantRow>> {
        self.first(
            &format!("SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE user_id = ?"),
            vec![user_id.into()],
        )
    }

    /// The participant a ws-token (by its hash) was issued to, with when it was issued.
    pub fn participant_by_ws_token(&self, hash: &str) -> ApiResult<Option<(ParticipantRow, i64)>> {
        struct Issued {
            participant_id: String,
            issued_at: i64,
        }
        impl FromRow for Issued {
            fn from_row(r: &Row) -> Read<Self> {
                r.done(Issued {
                    participant_id: r.text("participant_id"),
                    issued_at: r.int("issued_at"),
                })
            }
        }
        let Some(t) = self.first::<Issued>(
            "SELECT participant_id, issued_at FROM ws_tokens WHERE hash = ?",
            vec![hash.into()],
        )?
        else {
            return Ok(None);
        };
        let p: Option<ParticipantRow> = self.first(
            &format!("SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE id = ?"),
            vec![t.participant_id.into()],
        )?;
        Ok(p.map(|p| (p, t.issued_at)))
    }

    /// Adds a participant, or updates the one with the same user id: identity fields
    /// given replace stored ones; `brought_token` (a token for the session's provider, which
    /// the user's credentials keep) is remembered with its expiry, and never forgotten.
    pub fn upsert_participant(
        &self,
        new_id: &str,
        p: &ParticipantInput,
        brought_token: bool,
        role: Role,
        now: i64,
    ) -> ApiResult<ParticipantRow> {
        let expires_at = p.scm_token_expires_at.filter(|_| brought_token);
        self.run(
            "INSERT INTO participants (id, user_id, scm_user_id, scm_login, scm_name, scm_email,
                has_scm_token, scm_token_expires_at, role, joined_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(user_id) DO UPDATE SET
                scm_user_id = COALESCE(excluded.scm_user_id, scm_user_id),
                scm_login = COALESCE(excluded.scm_login, scm_login),
                scm_name = COALESCE(excluded.scm_name, scm_name),
                scm_email = COALESCE(excluded.scm_email, scm_email),
                has_scm_token = MAX(has_scm_token, excluded.has_scm_token),
                scm_token_expires_at = CASE WHEN excluded.has_scm_token = 0
                    THEN scm_token_expires_at ELSE excluded.scm_token_expires_at END",
            vec![
                new_id.into(),
                p.user_id.as_str().into(),
                opt(&p.scm_user_id),
                opt(&p.scm_login),
                opt(&p.scm_name),
                opt(&p.scm_email),
                i64::from(brought_token).into(),
                expires_at.into(),
                role.as_str().into(),
                now.into(),
            ],
        )?;
        self.participant_by_user(&p.user_id)?
            .ok_or_else(|| ApiError::internal("participant was not stored"))
    }

    /// Fills the participant's missing identity fields (given ones are kept).
    /// Remembers that the participant's identity was looked up at `now` without a result.
    pub fn identity_tried(&self, participant_id: &str, now: i64) -> ApiResult<()> {
        self.run(
            "UPDATE participants SET identity_tried_at = ? WHERE id = ?",
            vec![now.into(), participant_id.into()],
        )
    }

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

    /// Records a new ws-token (its hash) for the participant; earlier ones stay valid for
    /// their lifetime, expired ones (issued before `expired_before`) are forgotten.
    pub fn add_ws_token(
        &self,
        participant_id: &str,
        hash: &str,
        now: i64,
        expired_before: i64,
    ) -> ApiResult<()> {
        self.run(
            "DELETE FROM ws_tokens WHERE issued_at < ?",
            vec![expired_before.into()],
        )?;
        self.run(
            "INSERT INTO ws_tokens (hash, participant_id, issued_at) VALUES (?, ?, ?)",
            vec![hash.into(), participant_id.into(), now.into()],
        )?;
        self.run(
            "UPDATE participants SET ws_token_issued_at = ? WHERE id = ?",
            vec![now.into(), participant_id.into()],
        )
    }
}
