//! Rows of the session database and the JSON each one shows to callers (their typed states
//! are in `states`, re-exported here). Encrypted tokens and token hashes are read from
//! storage but never part of a view.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

pub use crate::session::states::*;

use crate::vcs::VcsProvider;

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
}

impl SessionRow {
    /// The session as the index lists it.
    pub fn summary(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "repoOwner": self.repo_owner,
            "repoName": self.repo_name,
            "vcsProvider": self.vcs_provider,
            "model": self.model,
            "reasoningEffort": self.reasoning_effort,
            "baseBranch": self.base_branch,
            "branchName": self.branch_name,
            "status": self.status,
            "parentSessionId": null,
            "spawnSource": "user",
            "createdBy": self.created_by,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }

    /// The session's full state.
    pub fn view(&self, sandbox: Option<&SandboxRow>) -> Value {
        let mut v = self.summary();
        v["sandbox"] = sandbox.map(SandboxRow::view).into();
        v
    }
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
    pub fn view(&self) -> Value {
        json!({
            "sandboxId": self.sandbox_id,
            "status": self.status,
            "statusSince": self.status_since,
            "lastHeartbeat": self.last_heartbeat,
            "lastActivity": self.last_activity,
            "createdAt": self.created_at,
            "lastError": self.last_error,
            "retriesStopped": self.blocked != 0,
        })
    }
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
        };
        let v = p.view().get().to_string();
        assert!(!v.contains("ENCRYPTED"));
        assert!(v.contains("\"hasScmToken\":true"));
        assert!(v.contains("\"role\":\"owner\""));
    }
}
