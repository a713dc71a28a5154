//! Rows of the session database and the JSON each one shows to callers (their typed states
//! are in `states`, re-exported here). Encrypted tokens and token hashes are read from
//! storage but never part of a view.

use serde::Serialize;

pub use crate::session::states::*;

use crate::raw::{Object, Raw};
use crate::rows::{FromRow, Read, Row};
use crate::session::pull_request::summary::PrSummary;
use crate::vcs::VcsProvider;
use crate::webhooks::{PrState, RepoRef};

/// A row of a paged list: its sequence number (the cursor) and what callers see of it.
pub trait Listed: FromRow {
    fn seq(&self) -> i64;
    /// What callers see of the row, as JSON text.
    fn view(&self) -> Raw;
}

/// Implements [`Listed::seq`] for rows with a `seq` field.
macro_rules! listed_seq {
    () => {
        fn seq(&self) -> i64 {
            self.seq
        }
    };
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub title: Option<String>,
    pub repo_owner: String,
    pub repo_name: String,
    /// The repository's stable id at the forge ([`crate::vcs::Repo::id`]), once learned.
    pub repo_id: Option<u64>,
    pub vcs_provider: VcsProvider,
    pub model: Option<String>,
    pub reasoning_effort: Option<String>,
    pub base_branch: Option<String>,
    pub branch_name: Option<String>,
    pub status: SessionStatus,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub control_plane_url: Option<String>,
    /// The pull request's latest state, as webhooks and refreshes report it.
    pub pr_state: Option<PrState>,
    /// When the session itself last pushed its branch.
    pub own_push_at: Option<i64>,
    /// When someone else pushed the session's branch, until a prompt has run since.
    pub foreign_push_at: Option<i64>,
    /// What the agent's steps cost so far, in millionths of a dollar.
    pub cost_micros: i64,
    /// The session whose agent spawned this one, if it is a child session.
    pub parent_session_id: Option<String>,
    /// How deep below a top-level session it is (0 for one).
    pub spawn_depth: i64,
    /// Its pull requests by state: kept in the index row (the session's own table has
    /// none; [`crate::session::store::Store::index_row`] counts them).
    pub pr_summary: Option<PrSummary>,
}

/// Read from the session's own table and from the index (which lacks the push columns).
impl FromRow for SessionRow {
    fn from_row(r: &Row) -> Read<Self> {
        let vcs_provider = r.state("vcs_provider", VcsProvider::parse)?;
        let status = r.state("status", SessionStatus::parse)?;
        r.done(SessionRow {
            id: r.text("id"),
            title: r.opt_text("title"),
            repo_owner: r.text("repo_owner"),
            repo_name: r.text("repo_name"),
            repo_id: r.opt_int("repo_id").and_then(|n| u64::try_from(n).ok()),
            vcs_provider,
            model: r.opt_text("model"),
            reasoning_effort: r.opt_text("reasoning_effort"),
            base_branch: r.opt_text("base_branch"),
            branch_name: r.opt_text("branch_name"),
            status,
            created_by: r.text("created_by"),
            created_at: r.int("created_at"),
            updated_at: r.int("updated_at"),
            control_plane_url: r.opt_text("control_plane_url"),
            pr_state: r.opt_state("pr_state", PrState::parse),
            own_push_at: r.opt_int("own_push_at"),
            foreign_push_at: r.opt_int("foreign_push_at"),
            cost_micros: r.opt_int("cost_micros").unwrap_or(0),
            parent_session_id: r.opt_text("parent_session_id"),
            spawn_depth: r.opt_int("spawn_depth").unwrap_or(0),
            pr_summary: r
                .opt_text("pr_summary")
                .and_then(|t| serde_json::from_str(&t).ok()),
        })
    }
}

impl SessionRow {
    /// The session's repository as webhook routes name it.
    pub fn repo_ref(&self) -> RepoRef {
        RepoRef::new(&self.repo_owner, &self.repo_name, self.repo_id)
    }

    /// The session as the index lists it.
    pub fn summary(&self) -> Summary<'_> {
        Summary {
            id: &self.id,
            title: self.title.as_deref(),
            repo_owner: &self.repo_owner,
            repo_name: &self.repo_name,
            vcs_provider: self.vcs_provider,
            model: self.model.as_deref(),
            reasoning_effort: self.reasoning_effort.as_deref(),
            base_branch: self.base_branch.as_deref(),
            branch_name: self.branch_name.as_deref(),
            status: self.status,
            parent_session_id: self.parent_session_id.as_deref(),
            spawn_source: self.spawn_source(),
            spawn_depth: self.spawn_depth,
            pull_request_summary: self.pr_summary,
            created_by: &self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
            pr_state: self.pr_state,
        }
    }

    /// How the session was started: by its parent's agent, or by someone.
    pub fn spawn_source(&self) -> &'static str {
        if self.parent_session_id.is_some() {
            "agent"
        } else {
            "user"
        }
    }

    /// The session's full state.
    pub fn view<'a>(&'a self, sandbox: Option<&'a SandboxRow>) -> SessionView<'a> {
        SessionView {
            summary: self.summary(),
            sandbox: sandbox.map(SandboxRow::view),
        }
    }
}

/// The session as the index lists it, serialized straight from the row.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<'a> {
    id: &'a str,
    title: Option<&'a str>,
    repo_owner: &'a str,
    repo_name: &'a str,
    vcs_provider: VcsProvider,
    model: Option<&'a str>,
    reasoning_effort: Option<&'a str>,
    base_branch: Option<&'a str>,
    branch_name: Option<&'a str>,
    status: SessionStatus,
    parent_session_id: Option<&'a str>,
    spawn_source: &'static str,
    spawn_depth: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pull_request_summary: Option<PrSummary>,
    created_by: &'a str,
    created_at: i64,
    updated_at: i64,
    pr_state: Option<PrState>,
}

/// The session's full state: its summary and its sandbox.
#[derive(Debug, Serialize)]
pub struct SessionView<'a> {
    #[serde(flatten)]
    summary: Summary<'a>,
    sandbox: Option<SandboxView<'a>>,
}

#[derive(Debug, Clone)]
pub struct ParticipantRow {
    pub seq: i64,
    pub id: String,
    pub user_id: String,
    pub scm_user_id: Option<String>,
    pub scm_login: Option<String>,
    pub scm_name: Option<String>,
    pub scm_email: Option<String>,
    /// Whether they brought a token for the session's provider (kept in their credentials,
    /// not in the session).
    pub has_scm_token: bool,
    pub scm_token_expires_at: Option<i64>,
    pub ws_token_issued_at: Option<i64>,
    pub role: Role,
    pub joined_at: i64,
    /// When the identity was last looked up without a result (see `participants`).
    pub identity_tried_at: Option<i64>,
}

impl FromRow for ParticipantRow {
    fn from_row(r: &Row) -> Read<Self> {
        let role = r.state("role", Role::parse)?;
        r.done(ParticipantRow {
            seq: r.int("seq"),
            id: r.text("id"),
            user_id: r.text("user_id"),
            scm_user_id: r.opt_text("scm_user_id"),
            scm_login: r.opt_text("scm_login"),
            scm_name: r.opt_text("scm_name"),
            scm_email: r.opt_text("scm_email"),
            has_scm_token: r.opt_int("has_scm_token").unwrap_or(0) != 0,
            scm_token_expires_at: r.opt_int("scm_token_expires_at"),
            ws_token_issued_at: r.opt_int("ws_token_issued_at"),
            role,
            joined_at: r.int("joined_at"),
            identity_tried_at: r.opt_int("identity_tried_at"),
        })
    }
}

impl ParticipantRow {
    /// The name other participants see: the SCM name, else the login, else the user id.
    pub fn display_name(&self) -> String {
        self.scm_name
            .clone()
            .or_else(|| self.scm_login.clone())
            .unwrap_or_else(|| self.user_id.clone())
    }
}

impl Listed for ParticipantRow {
    listed_seq!();

    fn view(&self) -> Raw {
        Object::new()
            .field("id", &self.id)
            .field("userId", &self.user_id)
            .field("scmUserId", &self.scm_user_id)
            .field("scmLogin", &self.scm_login)
            .field("scmName", &self.scm_name)
            .field("scmEmail", &self.scm_email)
            .field("role", &self.role)
            .field("hasScmToken", &self.has_scm_token)
            .field("scmTokenExpiresAt", &self.scm_token_expires_at)
            .field("joinedAt", &self.joined_at)
            .into_raw()
    }
}

#[derive(Debug, Clone)]
pub struct MessageRow {
    pub seq: i64,
    pub id: String,
    pub author_id: String,
    pub content: String,
    pub source: String,
    pub model: Option<String>,
    pub reasoning_effort: Option<String>,
    pub status: MessageStatus,
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// Where a bot's prompt is called back (JSON of its `CallbackContext`).
    pub callback_context: Option<String>,
}

impl FromRow for MessageRow {
    fn from_row(r: &Row) -> Read<Self> {
        let status = r.state("status", MessageStatus::parse)?;
        r.done(MessageRow {
            seq: r.int("seq"),
            id: r.text("id"),
            author_id: r.text("author_id"),
            content: r.text("content"),
            source: r.text("source"),
            model: r.opt_text("model"),
            reasoning_effort: r.opt_text("reasoning_effort"),
            status,
            error: r.opt_text("error"),
            created_at: r.int("created_at"),
            started_at: r.opt_int("started_at"),
            completed_at: r.opt_int("completed_at"),
            callback_context: r.opt_text("callback_context"),
        })
    }
}

impl Listed for MessageRow {
    listed_seq!();

    fn view(&self) -> Raw {
        Object::new()
            .field("id", &self.id)
            .field("authorId", &self.author_id)
            .field("content", &self.content)
            .field("source", &self.source)
            .field("model", &self.model)
            .field("status", &self.status)
            .field("error", &self.error)
            .field("createdAt", &self.created_at)
            .field("startedAt", &self.started_at)
            .field("completedAt", &self.completed_at)
            .into_raw()
    }
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    /// The event exactly as it was written (by the sandbox, or the session): stored only
    /// after it was parsed, or as serde wrote it.
    pub data: Raw,
    pub message_id: Option<String>,
    pub created_at: i64,
}

impl FromRow for EventRow {
    fn from_row(r: &Row) -> Read<Self> {
        r.done(EventRow {
            seq: r.int("seq"),
            id: r.text("id"),
            kind: r.text("type"),
            data: Raw::trusted(r.text("data")),
            message_id: r.opt_text("message_id"),
            created_at: r.int("created_at"),
        })
    }
}

impl Listed for EventRow {
    listed_seq!();

    /// As `GET /sessions/{id}/events` shows it: `data` is the raw event.
    fn view(&self) -> Raw {
        Object::new()
            .field("id", &self.id)
            .field("type", &self.kind)
            .raw("data", &self.data)
            .field("messageId", &self.message_id)
            .field("createdAt", &self.created_at)
            .into_raw()
    }
}

#[derive(Debug, Clone)]
pub struct ArtifactRow {
    pub seq: i64,
    pub id: String,
    pub kind: ArtifactKind,
    pub url: Option<String>,
    pub metadata: Option<String>,
    pub created_at: i64,
}

impl FromRow for ArtifactRow {
    fn from_row(r: &Row) -> Read<Self> {
        let kind = r.state("type", ArtifactKind::parse)?;
        r.done(ArtifactRow {
            seq: r.int("seq"),
            id: r.text("id"),
            kind,
            url: r.opt_text("url"),
            metadata: r.opt_text("metadata"),
            created_at: r.int("created_at"),
        })
    }
}

impl ArtifactRow {
    /// The artifact as callers see it (`metadata`: the JSON text serde stored), open for
    /// more fields.
    /// Its metadata as JSON (`null` when it has none or it cannot be read).
    pub fn meta(&self) -> serde_json::Value {
        self.metadata
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    pub fn json(&self) -> Object {
        let metadata = Raw::trusted(self.metadata.clone().unwrap_or_else(|| "null".into()));
        Object::new()
            .field("id", &self.id)
            .field("type", &self.kind)
            .field("url", &self.url)
            .raw("metadata", &metadata)
            .field("createdAt", &self.created_at)
    }
}

impl Listed for ArtifactRow {
    listed_seq!();

    fn view(&self) -> Raw {
        self.json().into_raw()
    }
}

#[derive(Debug, Clone)]
pub struct SandboxRow {
    pub sandbox_id: Option<String>,
    pub provider_id: Option<String>,
    /// SHA-256 hex of the sandbox's bearer token; never shown.
    pub token_hash: Option<String>,
    pub status: SandboxStatus,
    pub status_since: Option<i64>,
    pub last_heartbeat: Option<i64>,
    pub last_activity: Option<i64>,
    pub created_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_failure_at: Option<i64>,
    pub blocked: i64,
    /// The user the sandbox was started for.
    pub spawned_for: Option<String>,
    /// When its socket closed, while it has not connected again.
    pub disconnected_at: Option<i64>,
}

impl FromRow for SandboxRow {
    fn from_row(r: &Row) -> Read<Self> {
        let status = r.state("status", SandboxStatus::parse)?;
        r.done(SandboxRow {
            sandbox_id: r.opt_text("sandbox_id"),
            provider_id: r.opt_text("provider_id"),
            token_hash: r.opt_text("token_hash"),
            status,
            status_since: r.opt_int("status_since"),
            last_heartbeat: r.opt_int("last_heartbeat"),
            last_activity: r.opt_int("last_activity"),
            created_at: r.opt_int("created_at"),
            last_error: r.opt_text("last_error"),
            last_failure_at: r.opt_int("last_failure_at"),
            blocked: r.opt_int("blocked").unwrap_or(0),
            spawned_for: r.opt_text("spawned_for"),
            disconnected_at: r.opt_int("disconnected_at"),
        })
    }
}

impl SandboxRow {
    pub fn view(&self) -> SandboxView<'_> {
        SandboxView {
            sandbox_id: self.sandbox_id.as_deref(),
            status: self.status,
            status_since: self.status_since,
            last_heartbeat: self.last_heartbeat,
            last_activity: self.last_activity,
            created_at: self.created_at,
            last_error: self.last_error.as_deref(),
            retries_stopped: self.blocked != 0,
        }
    }
}

/// What callers see of the sandbox (never its token hash or provider id).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxView<'a> {
    sandbox_id: Option<&'a str>,
    status: SandboxStatus,
    status_since: Option<i64>,
    last_heartbeat: Option<i64>,
    last_activity: Option<i64>,
    created_at: Option<i64>,
    last_error: Option<&'a str>,
    retries_stopped: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participant_view() {
        let p = ParticipantRow {
            seq: 1,
            id: "p".into(),
            user_id: "u".into(),
            scm_user_id: None,
            scm_login: Some("l".into()),
            scm_name: None,
            scm_email: None,
            has_scm_token: true,
            scm_token_expires_at: Some(5),
            ws_token_issued_at: None,
            role: Role::Owner,
            joined_at: 1,
            identity_tried_at: None,
        };
        let v = p.view().as_str().to_string();
        assert!(v.contains("\"hasScmToken\":true"));
        assert!(v.contains("\"role\":\"owner\""));
    }
}
