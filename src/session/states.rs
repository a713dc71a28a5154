//! The typed states of the session's rows (session, sandbox, role, message, artifact) with
//! their stored names, and the event types the session stores.

/// Every event type the session stores (what the sandbox sends, `user_message`, and
/// `branch_pushed`: someone else's push to the session's branch), the ones an event page may
/// be filtered by.
pub const EVENT_TYPES: &[&str] = &[
    "user_message",
    "branch_pushed",
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

use crate::wire::wire_names;

/// Where a session stands (changes through `status::transition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

wire_names!(SessionStatus {
    Created => "created",
    Active => "active",
    Completed => "completed",
    Failed => "failed",
    Archived => "archived",
    Cancelled => "cancelled",
});

impl SessionStatus {
    /// Nothing of it runs or waits any more, and its agent is done with it: a child session
    /// in one of these no longer counts as running, and cannot be cancelled.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            SessionStatus::Completed
                | SessionStatus::Failed
                | SessionStatus::Archived
                | SessionStatus::Cancelled
        )
    }
}

/// Sandbox states, as stored and as clients see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxStatus {
    None,
    Spawning,
    Connecting,
    Ready,
    Stale,
    Failed,
    Stopped,
}

wire_names!(SandboxStatus {
    None => "none",
    Spawning => "spawning",
    Connecting => "connecting",
    Ready => "ready",
    Stale => "stale",
    Failed => "failed",
    Stopped => "stopped",
});

impl SandboxStatus {
    /// Whether a sandbox in this state may still act for the session (its token, its git
    /// tickets): starting, connecting or ready.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            SandboxStatus::Spawning | SandboxStatus::Connecting | SandboxStatus::Ready
        )
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Member,
}

wire_names!(Role {
    Owner => "owner",
    Member => "member",
});

/// Where a prompt is in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

wire_names!(MessageStatus {
    Pending => "pending",
    Processing => "processing",
    Completed => "completed",
    Failed => "failed",
});

/// What an artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// A pull request.
    Pr,
}

wire_names!(ArtifactKind {
    Pr => "pr",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_states_use_their_stored_names() {
        fn both_ways<T>(all: &[T], name: fn(T) -> &'static str, parse: fn(&str) -> Option<T>)
        where
            T: Copy + PartialEq + std::fmt::Debug + serde::Serialize,
        {
            for &s in all {
                assert_eq!(serde_json::to_value(s).unwrap(), name(s));
                assert_eq!(parse(name(s)), Some(s));
            }
        }
        both_ways(
            SessionStatus::ALL,
            SessionStatus::as_str,
            SessionStatus::parse,
        );
        both_ways(
            MessageStatus::ALL,
            MessageStatus::as_str,
            MessageStatus::parse,
        );
        both_ways(
            SandboxStatus::ALL,
            SandboxStatus::as_str,
            SandboxStatus::parse,
        );
        both_ways(Role::ALL, Role::as_str, Role::parse);
        both_ways(ArtifactKind::ALL, ArtifactKind::as_str, ArtifactKind::parse);
        use crate::session::client::protocol::PresenceStatus;
        use crate::session::paging::ListKind;
        both_ways(ListKind::ALL, ListKind::as_str, ListKind::parse);
        both_ways(
            PresenceStatus::ALL,
            PresenceStatus::as_str,
            PresenceStatus::parse,
        );
        assert_eq!(SessionStatus::parse("Active"), None);
        assert_eq!(MessageStatus::parse("done"), None);
        assert_eq!(serde_json::to_value(Role::Member).unwrap(), "member");
        assert_eq!(
            MessageStatus::parse("processing"),
            Some(MessageStatus::Processing)
        );
        assert_eq!(serde_json::to_value(ArtifactKind::Pr).unwrap(), "pr");
    }
}
