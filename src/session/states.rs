//! The typed states of the session's rows (session, sandbox, role, message, artifact) with
//! their stored names, and the event types the session stores.

use serde::{Deserialize, Serialize};

/// Every event type the session stores (what the sandbox sends, and `user_message`).
pub const EVENT_TYPES: &[&str] = &[
    "user_message",
    "token",
    "tool_call",
    "tool_result",
    "step_start",
    "step_finish",
    "error",
    "execution_complete",
    "snapshot_ready",
    "push_complete",
    "push_error",
    "git_sync",
    "artifact",
    "warning",
    "context_compacted",
    "session_title",
];

/// The stored id of a message's completion (the sandbox's, or the one a stop writes): one
/// per message.
pub fn completion_id(message_id: &str) -> String {
    format!("complete:{message_id}")
}

/// Where a session stands (changes through `status::transition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// Created, no prompt yet.
    Created,
    /// Prompted, and a prompt is queued or running.
    Active,
    /// The last prompt finished.
    Completed,
    /// The last prompt failed.
    Failed,
    /// Archived by a participant (a new prompt reactivates it).
    Archived,
    /// Given up (a filter value of the contract; not set by this control plane).
    Cancelled,
}

impl SessionStatus {
    const ALL: [SessionStatus; 6] = [
        SessionStatus::Created,
        SessionStatus::Active,
        SessionStatus::Completed,
        SessionStatus::Failed,
        SessionStatus::Archived,
        SessionStatus::Cancelled,
    ];

    /// The state stored (or asked for) as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Created => "created",
            SessionStatus::Active => "active",
            SessionStatus::Completed => "completed",
            SessionStatus::Failed => "failed",
            SessionStatus::Archived => "archived",
            SessionStatus::Cancelled => "cancelled",
        }
    }
}

/// Sandbox states, as stored and as clients see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxStatus {
    None,
    Spawning,
    Connecting,
    Ready,
    Stale,
    Failed,
    Stopped,
}

impl SandboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxStatus::None => "none",
            SandboxStatus::Spawning => "spawning",
            SandboxStatus::Connecting => "connecting",
            SandboxStatus::Ready => "ready",
            SandboxStatus::Stale => "stale",
            SandboxStatus::Failed => "failed",
            SandboxStatus::Stopped => "stopped",
        }
    }

    /// The name clients know for this state (no sandbox yet is `pending`).
    pub fn client_name(self) -> &'static str {
        match self {
            SandboxStatus::None => "pending",
            other => other.as_str(),
        }
    }

    /// Whether a sandbox in this state is gone, so a new one may be spawned.
    pub fn is_down(self) -> bool {
        matches!(
            self,
            SandboxStatus::None
                | SandboxStatus::Stale
                | SandboxStatus::Failed
                | SandboxStatus::Stopped
        )
    }
}

/// A participant's role in the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Member => "member",
        }
    }
}

/// Where a prompt is in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl MessageStatus {
    const ALL: [MessageStatus; 4] = [
        MessageStatus::Pending,
        MessageStatus::Processing,
        MessageStatus::Completed,
        MessageStatus::Failed,
    ];

    /// The state stored (or asked for) as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Processing => "processing",
            MessageStatus::Completed => "completed",
            MessageStatus::Failed => "failed",
        }
    }
}

/// What an artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    /// A pull request.
    Pr,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Pr => "pr",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_states_use_their_stored_names() {
        for s in SessionStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(SessionStatus::parse(s.as_str()), Some(s));
        }
        for s in MessageStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(SessionStatus::parse("Active"), None);
        assert_eq!(MessageStatus::parse("done"), None);
        assert_eq!(serde_json::to_value(Role::Member).unwrap(), "member");
        assert_eq!(
            serde_json::from_value::<MessageStatus>(json!("processing")).unwrap(),
            MessageStatus::Processing
        );
        assert_eq!(serde_json::to_value(ArtifactKind::Pr).unwrap(), "pr");
    }
}
