//! Child sessions, as Open-Inspect's sandbox tools use them (`spawn-child`,
//! `get-child-status`, `cancel-child`, `send-child-prompt`): a session's agent starts another
//! session on the same repository, from the base branch, owned by whoever's prompt is
//! running, and reads its result. The rules are here, pure: the request bodies, the limits
//! (depth 2, 15 children, 5 at a time), the child detail's query, and its result and recent
//! events built from the child's rows (`summary`). The worker's routes are `http::children`;
//! each session's side is `session::children`; the index's queries `index::children`.

pub mod summary;

use serde::Deserialize;

use crate::error::ApiError;
use crate::session::command::{MAX_PROMPT_BYTES, MAX_PROMPT_STORED_BYTES};
use crate::validate;

/// A session at this depth spawns no children (top-level sessions are at 0).
pub const MAX_SPAWN_DEPTH: i64 = 2;
/// Children a session may ever have.
pub const MAX_TOTAL_CHILDREN: i64 = 15;
/// Children a session may have that have not finished (created or active).
pub const MAX_CONCURRENT_CHILDREN: i64 = 5;

/// `POST /sessions/{id}/children`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpawnInput {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub prompt: String,
    pub repo_owner: Option<String>,
    pub repo_name: Option<String>,
    pub model: Option<String>,
    pub reasoning_effort: Option<String>,
}

impl SpawnInput {
    /// Title and prompt are required; a repository named must be the parent's own.
    pub fn validate(&self, parent_owner: &str, parent_name: &str) -> Result<(), ApiError> {
        if self.title.trim().is_empty() || self.prompt.trim().is_empty() {
            return Err(ApiError::bad_request("title and prompt are required"));
        }
        validate::text("title", &self.title, 255, false)?;
        validate::prose(
            "prompt",
            &self.prompt,
            MAX_PROMPT_BYTES,
            MAX_PROMPT_STORED_BYTES,
        )?;
        match (named(&self.repo_owner), named(&self.repo_name)) {
            (None, None) => Ok(()),
            (Some(o), Some(n))
                if o.eq_ignore_ascii_case(parent_owner) && n.eq_ignore_ascii_case(parent_name) =>
            {
                Ok(())
            }
            (Some(_), Some(_)) => Err(ApiError::forbidden(
                "Child sessions must use the same repository as the parent",
            )),
            _ => Err(ApiError::bad_request(
                "repoOwner and repoName must be provided together",
            )),
        }
    }
}

/// A text that says something, trimmed.
fn named(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Whether a session at `depth` with `total` children, `running` of them unfinished, may
/// spawn another.
pub fn admit(depth: i64, total: i64, running: i64) -> Result<(), ApiError> {
    if depth >= MAX_SPAWN_DEPTH {
        return Err(ApiError::forbidden(format!(
            "Maximum spawn depth ({MAX_SPAWN_DEPTH}) exceeded"
        )));
    }
    if total >= MAX_TOTAL_CHILDREN {
        return Err(ApiError::new(
            429,
            "rate_limited",
            format!("Maximum total children ({MAX_TOTAL_CHILDREN}) reached"),
        ));
    }
    if running >= MAX_CONCURRENT_CHILDREN {
        return Err(ApiError::new(
            429,
            "rate_limited",
            format!("Maximum concurrent children ({MAX_CONCURRENT_CHILDREN}) reached"),
        ));
    }
    Ok(())
}

/// `POST /sessions/{id}/children/{child}/prompt`: only `content`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildPrompt {
    pub content: String,
}

impl ChildPrompt {
    /// Reads the body; anything but a non-blank `content` is "Invalid prompt body".
    pub fn read(body: &[u8]) -> Result<ChildPrompt, ApiError> {
        let invalid = || ApiError::bad_request("Invalid prompt body");
        let p: ChildPrompt = serde_json::from_slice(body).map_err(|_| invalid())?;
        validate::prose(
            "content",
            &p.content,
            MAX_PROMPT_BYTES,
            MAX_PROMPT_STORED_BYTES,
        )
        .map_err(|_| invalid())?;
        Ok(p)
    }
}

/// `POST /sessions/{id}/children/{child}/cancel`: whether its unfinished descendants are
/// cancelled too (the default; older tools send no body).
pub fn cancel_nested(body: &[u8]) -> Result<bool, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(true);
    }
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| ApiError::bad_request("Invalid JSON body"))?;
    match v.get("cancelNested") {
        None | Some(serde_json::Value::Null) => Ok(true),
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad_request("cancelNested must be a boolean")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn(title: &str, prompt: &str, owner: Option<&str>, name: Option<&str>) -> SpawnInput {
        SpawnInput {
            title: title.into(),
            prompt: prompt.into(),
            repo_owner: owner.map(Into::into),
            repo_name: name.map(Into::into),
            model: None,
            reasoning_effort: None,
        }
    }

    #[test]
    fn spawn_bodies_are_checked() {
        assert!(spawn("T", "do it", None, None)
            .validate("acme", "web")
            .is_ok());
        assert!(spawn("T", "x", Some("ACME"), Some("Web"))
            .validate("acme", "web")
            .is_ok());
        let e = spawn("", "x", None, None)
            .validate("acme", "web")
            .unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (400, "title and prompt are required")
        );
        assert_eq!(
            spawn("T", " ", None, None)
                .validate("a", "b")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            spawn("T", "x", Some("other"), Some("web"))
                .validate("acme", "web")
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            spawn("T", "x", Some("acme"), None)
                .validate("acme", "web")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn limits() {
        assert!(admit(0, 0, 0).is_ok());
        assert!(admit(1, 14, 4).is_ok());
        let e = admit(2, 0, 0).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (403, "Maximum spawn depth (2) exceeded")
        );
        assert_eq!(
            admit(0, 15, 0).unwrap_err().message,
            "Maximum total children (15) reached"
        );
        assert_eq!(admit(0, 5, 5).unwrap_err().status, 429);
    }

    #[test]
    fn follow_ups_and_cancels() {
        assert_eq!(
            ChildPrompt::read(br#"{"content":"more"}"#).unwrap().content,
            "more"
        );
        for bad in [
            &br#"{"content":" "}"#[..],
            br#"{"content":"x","source":"web"}"#,
            b"nope",
        ] {
            assert_eq!(
                ChildPrompt::read(bad).unwrap_err().message,
                "Invalid prompt body"
            );
        }
        assert_eq!(cancel_nested(b"").ok(), Some(true));
        assert_eq!(
            cancel_nested(br#"{"cancelNested":false}"#).ok(),
            Some(false)
        );
        assert_eq!(cancel_nested(br#"{}"#).ok(), Some(true));
        assert_eq!(
            cancel_nested(br#"{"cancelNested":"no"}"#)
                .unwrap_err()
                .message,
            "cancelNested must be a boolean"
        );
        assert_eq!(
            cancel_nested(b"{").unwrap_err().message,
            "Invalid JSON body"
        );
    }
}
