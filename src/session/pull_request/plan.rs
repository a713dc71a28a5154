//! `POST /sessions/{id}/pr` as pure decisions: the request and its validation, the branch
//! names it implies, the description, and how a provider's failure reaches the caller.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::git::rules;
pub use crate::git::rules::{owned_by_session, session_branch};
use crate::validate;
use crate::vcs::{Failure, VcsError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrInput {
    pub title: String,
    pub body: String,
    pub base_branch: Option<String>,
    pub head_branch: Option<String>,
}

impl PrInput {
    /// Title and body must be there; a bad base branch is refused. A head branch is never
    /// refused: an unusable one is passed over (see [`head_branch`]).
    pub fn validate(&self) -> Result<(), ApiError> {
        validate::text("title", &self.title, 255, false)?;
        validate::text("body", &self.body, 64 * 1024, false)?;
        if let Some(b) = &self.base_branch {
            validate::branch("baseBranch", b)?;
        }
        Ok(())
    }
}

/// Whether `candidate` can be the pull request's head on top of `base` for the session
/// `session_id`: a plausible git branch name (not `HEAD`, no `..`, `@{`, space or
/// `~^:?*[]\\`, no leading or trailing `/` or `.`), not the base itself, and either the
/// session's own branch or a name that does not look protected ([`rules::protected`]).
pub fn usable_head(candidate: &str, base: &str, session_id: &str) -> bool {
    let c = candidate.trim();
    !c.is_empty()
        && c != "HEAD"
        && !c.starts_with(['/', '.'])
        && !c.ends_with(['/', '.'])
        && !c.contains("..")
        && !c.contains("@{")
        && !c
            .chars()
            .any(|ch| ch.is_whitespace() || ch.is_control() || "~^:?*[]\\".contains(ch))
        && !c.eq_ignore_ascii_case(base.trim())
        && (owned_by_session(c, session_id) || !rules::protected(c, base))
}

/// The head branch: the first usable of the one asked for (the sandbox's tool sends its
/// current branch, often the base), the session's branch, and the generated name.
pub fn head_branch(
    asked: Option<&str>,
    session_branch_name: Option<&str>,
    session_id: &str,
    base: &str,
) -> String {
    let generated = session_branch(session_id);
    [asked, session_branch_name]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|c| usable_head(c, base, session_id))
        .map(str::to_string)
        .unwrap_or_else(|| {
            if usable_head(&generated, base, session_id) {
                generated
            } else {
                format!("{generated}-pr")
            }
        })
}

/// Whether `head` is the sandbox's own checkout: the branch its tool asked for (its current
/// branch), or the session's generated branch. Only then may an open pull request on it be
/// updated by pushing the sandbox's work.
pub fn head_is_checkout(asked: Option<&str>, head: &str, session_id: &str) -> bool {
    asked.map(str::trim) == Some(head) || owned_by_session(head, session_id)
}

/// The pull request's state as the contract names it (`open`, `merged`, ...).
pub fn state_name(upstream: &str) -> String {
    match upstream.to_ascii_uppercase().as_str() {
        "DECLINED" | "SUPERSEDED" => "closed".into(),
        other => other.to_ascii_lowercase(),
    }
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

/// Whether the provider refused a pull request because the head has nothing new
/// (Bitbucket: 400 "There are no changes to be pulled"; GitHub: 422 "No commits between").
fn nothing_to_merge(f: &Failure) -> bool {
    match f {
        Failure::Api {
            status: 400 | 422,
            message,
            detail,
            ..
        } => {
            let text =
                format!("{message} {}", detail.as_deref().unwrap_or_default()).to_ascii_lowercase();
            text.contains("no changes") || text.contains("no commits between")
        }
        _ => false,
    }
}

/// How a failed provider call during PR creation reaches the caller.
pub fn pr_error(e: VcsError) -> ApiError {
    let name = e.provider.display_name();
    if nothing_to_merge(&e.failure) {
        return ApiError::new(
            422,
            "no_changes",
            format!("{name}: the pushed branch has no commits ahead of the base branch"),
        );
    }
    match e.failure {
        Failure::Forbidden(m) => ApiError::new(
            403,
            "forbidden",
            format!("the user has no write access to this repository on {name}: {m}"),
        ),
        Failure::Api {
            status: 409,
            message,
            ..
        } => ApiError::new(409, "conflict", format!("{name}: {message}")),
        Failure::NotFound(m) => ApiError::new(
            404,
            "not_found",
            format!(
                "the repository or branch was not found on {name}, or the user cannot see it: {m}"
            ),
        ),
        _ => e.into(),
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
        // Heads are never refused: they are passed over.
        assert!(input("T", "B", None, Some("x y")).validate().is_ok());
        assert!(input("T", "B", Some("main"), Some("main"))
            .validate()
            .is_ok());
    }

    #[test]
    fn head_is_the_first_usable_candidate() {
        let id = "0123456789abcdef".repeat(4);
        let generated = format!("agent/session-{id}");
        let generated = generated.as_str();
        assert_eq!(head_branch(None, None, &id, "main"), generated);
        assert_eq!(head_branch(Some("feat/x"), None, &id, "main"), "feat/x");
        assert_eq!(head_branch(Some(" feat/x "), None, &id, "main"), "feat/x");
        // The tool's current branch is often the base: passed over, never an error.
        assert_eq!(head_branch(Some("main"), None, &id, "main"), generated);
        assert_eq!(head_branch(Some("MAIN"), Some("work"), &id, "main"), "work");
        // Protected-looking names and other sessions' branches are never the head.
        for guarded in ["develop", "release/2.3", "master", "agent/session-other"] {
            assert_eq!(head_branch(Some(guarded), None, &id, "main"), generated);
        }
        for bad in [
            "", "HEAD", "/x", "x/", ".x", "x.", "a..b", "a b", "a@{1}", "a~1", "a^", "a:b", "a?",
            "a*", "a[", "a\\b",
        ] {
            assert_eq!(
                head_branch(Some(bad), None, &id, "main"),
                generated,
                "{bad:?}"
            );
        }
        assert_eq!(
            head_branch(None, None, &id, generated),
            format!("{generated}-pr")
        );
    }

    #[test]
    fn the_checkout_is_the_asked_head_or_the_sessions_own() {
        let id = "ab".repeat(32);
        assert!(head_is_checkout(Some(" feat "), "feat", &id));
        assert!(head_is_checkout(None, &session_branch(&id), &id));
        // Reached through the session's stored branch: not the checkout.
        assert!(!head_is_checkout(None, "feat", &id));
        assert!(!head_is_checkout(Some("main"), "feat", &id));
    }

    #[test]
    fn only_the_sessions_own_branch_is_owned() {
        let id = "ab".repeat(32);
        assert!(owned_by_session(&session_branch(&id), &id));
        assert!(owned_by_session(
            &format!("{}-pr", session_branch(&id)),
            &id
        ));
        for other in [
            "main",
            "develop",
            "feature/x",
            "agent/session-ab",
            "agent/session-",
        ] {
            assert!(!owned_by_session(other, &id), "{other}");
        }
        assert!(!owned_by_session(&session_branch(&"cd".repeat(32)), &id));
    }

    #[test]
    fn states_are_lowercase() {
        assert_eq!(state_name("OPEN"), "open");
        assert_eq!(state_name("MERGED"), "merged");
        assert_eq!(state_name("DECLINED"), "closed");
    }

    #[test]
    fn description_links_back_when_configured() {
        assert_eq!(description("B", None, "s"), "B");
        assert!(description("B", Some("https://app/"), "s").ends_with("(https://app/session/s)"));
    }

    #[test]
    fn pr_errors_are_specific() {
        use crate::vcs::VcsProvider::{Bitbucket, Github};
        let at = |provider, failure| VcsError { provider, failure };
        let none = Failure::Api {
            status: 400,
            message: "There are no changes to be pulled".into(),
            detail: None,
            fields: None,
        };
        assert_eq!(pr_error(at(Bitbucket, none)).code, "no_changes");
        let no_commits = Failure::Api {
            status: 422,
            message: "Validation Failed".into(),
            detail: Some("No commits between main and agent/session-1".into()),
            fields: None,
        };
        let e = pr_error(at(Github, no_commits));
        assert_eq!((e.status, e.code.as_str()), (422, "no_changes"));
        let protected = Failure::Api {
            status: 400,
            message: "Bad request".into(),
            detail: None,
            fields: Some(serde_json::json!({"destination": ["branch not found"]})),
        };
        let e = pr_error(at(Bitbucket, protected));
        assert_eq!(e.status, 400);
        assert!(e.message.contains("branch not found"));
        assert_eq!(
            pr_error(at(Github, Failure::Forbidden("x".into()))).status,
            403
        );
        assert_eq!(
            pr_error(at(Bitbucket, Failure::NotFound("x".into()))).status,
            404
        );
        assert_eq!(
            pr_error(at(Github, Failure::Reauth("x".into()))).code,
            "reauth_required"
        );
    }
}
