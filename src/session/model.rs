//! Rows of the session database and the JSON each one shows to callers (their typed states
//! are in `states`, re-exported here). Encrypted tokens and token hashes are read from
//! storage but never part of a view.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

pub use crate::session::states::*;

use crate::vcs::VcsProvider;
use crate::webhooks::PrState;

/// A row of a paged list: its sequence number (the cursor) and what callers see of it.
pub trait Listed: DeserializeOwned {
    fn seq(&self) -> i64;
    /// What callers see of the row, as JSON text.
    fn view(&self) -> Box<RawValue>;
}

/// A JSON value as text (for lists that also carry raw events).
pub fn raw(v: &Value) -> Box<RawValue> {
    // A Value always prints as valid JSON.
    RawValue::from_string(v.to_string()).unwrap_or_else(|_| null())
}

/// JSON `null` as text.
pub fn null() -> Box<RawValue> {
    Box::<RawValue>::default()
}

/// Implements [`Listed::seq`] for rows with a `seq` field.
macro_rules! listed_seq {
    () => {
        fn seq(&self) -> i64 {
            self.seq
        }
    };
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionRow {
    pub id: String,
    pub title: Option<String>,
    pub repo_owner: String,
    pub repo_name: String,
    pub vcs_provider: VcsProvider,
    pub model: Option<String>,
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    pub base_branch: Option<String>,
    #[serde(default)]
    pub branch_name: Option<String>,
    pub status: SessionStatus,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub control_plane_url: Option<String>,
    /// The pull request's latest state, as webhooks and refreshes report it.
    #[serde(default)]
    pub pr_state: Option<PrState>,
    /// When the session itself last pushed its branch.
    #[serde(default)]
    pub own_push_at: Option<i64>,
    /// When someone else pushed the session's branch, until a prompt has run since.
    #[serde(default)]
    pub foreign_push_at: Option<i64>,
}

impl SessionRow {
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
            parent_session_id: None,
            spawn_source: "user",
            created_by: &self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
            pr_state: self.pr_state,
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

#[derive(Debug, Clone, Deserialize)]
pub struct ParticipantRow {
    pub seq: i64,
    pub id: String,
    pub user_id: String,
    pub scm_user_id: Option<String>,
    pub scm_login: Option<String>,
    pub scm_name: Option<String>,
    pub scm_email: Option<String>,
    pub scm_access_token_encrypted: Option<String>,
    pub scm_token_expires_at: Option<i64>,
    pub ws_token_issued_at: Option<i64>,
    pub role: Role,
    pub joined_at: i64,
    /// When the identity was last looked up without a result (see `participants`).
    #[serde(default)]
    pub identity_tried_at: Option<i64>,
}

impl ParticipantRow {
    /// The name other participants see: the SCM name, else the login, else the user id.
    pub fn display_name(&self) -> String {
        self.scm_name
            .clone()
            .or_else(|| self.scm_login.clone())
            .unwrap_or_else(|| self.user_id.clone())
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "userId": self.user_id,
            "scmUserId": self.scm_user_id,
            "scmLogin": self.scm_login,
            "scmName": self.scm_name,
            "scmEmail": self.scm_email,
            "role": self.role,
            "hasScmToken": self.scm_access_token_encrypted.is_some(),
            "scmTokenExpiresAt": self.scm_token_expires_at,
            "joinedAt": self.joined_at,
        })
    }
}

impl Listed for ParticipantRow {
    listed_seq!();

    fn view(&self) -> Box<RawValue> {
        raw(&self.json())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct MessageRow {
    pub seq: i64,
    pub id: String,
    pub author_id: String,
    pub content: String,
    pub source: String,
    pub model: Option<String>,
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    pub status: MessageStatus,
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
}

impl Listed for MessageRow {
    listed_seq!();

    fn view(&self) -> Box<RawValue> {
        raw(&json!({
            "id": self.id,
            "authorId": self.author_id,
            "content": self.content,
            "source": self.source,
            "model": self.model,
            "status": self.status,
            "error": self.error,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "completedAt": self.completed_at,
        }))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventRow {
    pub seq: i64,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: String,
    pub message_id: Option<String>,
    pub created_at: i64,
}

impl EventRow {
    /// The event exactly as it was written (by the sandbox, or the session).
    pub fn raw(&self) -> Box<RawValue> {
        RawValue::from_string(self.data.clone()).unwrap_or_else(|_| null())
    }
}

/// An event row as `GET /sessions/{id}/events` shows it: `data` is the raw event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventView<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    data: Box<RawValue>,
    message_id: Option<&'a str>,
    created_at: i64,
}

impl Listed for EventRow {
    listed_seq!();

    fn view(&self) -> Box<RawValue> {
        let view = EventView {
            id: &self.id,
            kind: &self.kind,
            data: self.raw(),
            message_id: self.message_id.as_deref(),
            created_at: self.created_at,
        };
        serde_json::value::to_raw_value(&view).unwrap_or_else(|_| null())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ArtifactRow {
    pub seq: i64,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ArtifactKind,
    pub url: Option<String>,
    pub metadata: Option<String>,
    pub created_at: i64,
}

impl ArtifactRow {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "type": self.kind,
            "url": self.url,
            "metadata": self.metadata.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok()),
            "createdAt": self.created_at,
        })
    }
}

impl Listed for ArtifactRow {
    listed_seq!();

    fn view(&self) -> Box<RawValue> {
        raw(&self.json())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct SandboxRow {
    pub sandbox_id: Option<String>,
    pub provider_id: Option<String>,
    /// SHA-256 hex of the sandbox's bearer token; never shown.
    pub token_hash: Option<String>,
    pub status: SandboxStatus,
    #[serde(default)]
    pub status_since: Option<i64>,
    pub last_heartbeat: Option<i64>,
    pub last_activity: Option<i64>,
    pub created_at: Option<i64>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_failure_at: Option<i64>,
    #[serde(default)]
    pub blocked: i64,
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
    fn participant_view_hides_secrets() {
        let p = ParticipantRow {
            seq: 1,
            id: "p".into(),
            user_id: "u".into(),
            scm_user_id: None,
            scm_login: Some("l".into()),
            scm_name: None,
            scm_email: None,
            scm_access_token_encrypted: Some("ENCRYPTED".into()),
            scm_token_expires_at: Some(5),
            ws_token_issued_at: None,
            role: Role::Owner,
            joined_at: 1,
            identity_tried_at: None,
        };
        let v = p.view().get().to_string();
        assert!(!v.contains("ENCRYPTED"));
        assert!(v.contains("\"hasScmToken\":true"));
        assert!(v.contains("\"role\":\"owner\""));
    }
}
