//! `POST /sessions/{id}/pr` as pure decisions: the request and its validation, the branch
//! names it implies, the description, and how a Bitbucket failure reaches the caller.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::validate;
use crate::vcs::bitbucket::BitbucketError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrInput {
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub base_branch: Option<String>,
    #[serde(default)]
    pub head_branch: Option<String>,
}

impl PrInput {
    pub fn validate(&self) -> Result<(), ApiError> {
        validate::text("title", &self.title, 255, false)?;
        validate::text("body", &self.body, 64 * 1024, false)?;
        if let Some(b) = &self.base_branch {
            validate::branch("baseBranch", b)?;
        }
        if let Some(h) = &self.head_branch {
            validate::branch("headBranch", h)?;
        }
        if self.base_branch.is_some() && self.base_branch == self.head_branch {
            return Err(ApiError::bad_request(
                "headBranch must differ from baseBranch",
            ));
        }
        Ok(())
    }
}

/// The head branch: the one asked for, else `agent/session-<first 12 of the id>`; never
/// equal to `base`.
pub fn head_branch(asked: Option<&str>, session_id: &str, base: &str) -> Result<String, ApiError> {
    if let Some(h) = asked {
        if h == base {
            return Err(ApiError::bad_request(
                "headBranch must differ from the base branch",
            ));
        }
        return Ok(h.to_string());
    }
    let short: String = session_id.chars().take(12).collect();
    let mut head = format!("agent/session-{short}");
    if head == base {
        head.push_str("-pr");
    }
    Ok(head)
}

/// The description: the body, and a link back to the session when the web app is known.
pub fn description(body: &str, web_app_url: Option<&str>, session_id: &str) -> String {
    match web_app_url {
        Some(url) => format!(
            "{body}\n\n---\nCreated by a background agent: [view the session]({}/session/{session_id})",
            url.trim_end_matches('/')
        ),
        None => body.to_string(),
    }
}

/// How a failed Bitbucket call during PR creation reaches the caller.
pub fn pr_error(e: BitbucketError) -> ApiError {
    use BitbucketError as B;
    match e {
        B::Api { status: 400, ref message, .. } if message.to_ascii_lowercase().contains("no changes") => {
            ApiError::new(
                422,
                "no_changes",
                format!("Bitbucket: {message}; the pushed branch has no commits ahead of the base branch"),
            )
        }
        B::Forbidden(m) => ApiError::new(
            403,
            "forbidden",
            format!("the user has no write access to this repository on Bitbucket: {m}"),
        ),
        B::NotFound(m) => ApiError::new(
            404,
            "not_found",
            format!("the repository or branch was not found on Bitbucket, or the user cannot see it: {m}"),
        ),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(title: &str, body: &str, base: Option<&str>, head: Option<&str>) -> PrInput {
        PrInput {
            title: title.into(),
            body: body.into(),
            base_branch: base.map(Into::into),
            head_branch: head.map(Into::into),
        }
    }

    #[test]
    fn validation() {
        assert!(input("T", "B", None, None).validate().is_ok());
        assert!(input(" ", "B", None, None).validate().is_err());
        assert!(input("T", "", None, None).validate().is_err());
        assert!(input("T", "B", Some("a..b"), None).validate().is_err());
        assert!(input("T", "B", None, Some("x y")).validate().is_err());
        assert!(input("T", "B", Some("main"), Some("main"))
            .validate()
            .is_err());
    }

    #[test]
    fn head_branch_defaults_and_never_equals_base() {
        let id = "0123456789abcdef".repeat(4);
        assert_eq!(
            head_branch(None, &id, "main").unwrap(),
            "agent/session-0123456789ab"
        );
        assert_eq!(head_branch(Some("feat/x"), &id, "main").unwrap(), "feat/x");
        assert!(head_branch(Some("main"), &id, "main").is_err());
        assert_eq!(
            head_branch(None, &id, "agent/session-0123456789ab").unwrap(),
            "agent/session-0123456789ab-pr"
        );
    }

    #[test]
    fn description_links_back_when_configured() {
        assert_eq!(description("B", None, "s"), "B");
        assert!(description("B", Some("https://app/"), "s").ends_with("(https://app/session/s)"));
    }

    #[test]
    fn pr_errors_are_specific() {
        let none = BitbucketError::Api {
            status: 400,
            message: "There are no changes to be pulled".into(),
            detail: None,
            fields: None,
        };
        assert_eq!(pr_error(none).code, "no_changes");
        let protected = BitbucketError::Api {
            status: 400,
            message: "Bad request".into(),
            detail: None,
            fields: Some(serde_json::json!({"destination": ["branch not found"]})),
        };
        let e = pr_error(protected);
        assert_eq!(e.status, 400);
        assert!(e.message.contains("branch not found"));
        assert_eq!(pr_error(BitbucketError::Forbidden("x".into())).status, 403);
        assert_eq!(pr_error(BitbucketError::NotFound("x".into())).status, 404);
        assert_eq!(
            pr_error(BitbucketError::Reauth("x".into())).code,
            "reauth_required"
        );
    }
}
