//! What git traffic through the control plane may do, as pure decisions: which paths are git
//! (`{owner}/{name}.git/...`), which branch a session owns, which names look protected, which
//! ref updates a session may push, and whose right reaches the forge.

use super::pktline::RefUpdate;

/// The two git services of smart HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    UploadPack,
    ReceivePack,
}

crate::wire::wire_names!(Service {
    UploadPack => "git-upload-pack",
    ReceivePack => "git-receive-pack",
});

/// What a git request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET .../info/refs?service=...`: the ref advertisement.
    InfoRefs,
    /// `POST .../git-upload-pack` or `.../git-receive-pack`.
    Rpc,
}

/// A git request's repository and endpoint, from its path segments:
/// `{owner}/{name}.git/info/refs` or `{owner}/{name}.git/{service}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitPath {
    pub owner: String,
    pub name: String,
    pub endpoint: Endpoint,
    /// The service of an RPC (an advertisement's is in its query).
    pub service: Option<Service>,
}

impl GitPath {
    pub fn parse(segments: &[&str]) -> Option<GitPath> {
        let (owner, repo, rest) = match segments {
            [owner, repo, rest @ ..] => (owner, repo, rest),
            _ => return None,
        };
        let name = repo.strip_suffix(".git").filter(|n| !n.is_empty())?;
        let (endpoint, service) = match rest {
            ["info", "refs"] => (Endpoint::InfoRefs, None),
            [service] => (Endpoint::Rpc, Some(Service::parse(service)?)),
            _ => return None,
        };
        Some(GitPath {
            owner: owner.to_string(),
            name: name.to_string(),
            endpoint,
            service,
        })
    }

    /// Whether this is the repository `owner/name` (forges compare names case-insensitively).
    pub fn is_repo(&self, owner: &str, name: &str) -> bool {
        self.owner.eq_ignore_ascii_case(owner) && self.name.eq_ignore_ascii_case(name)
    }
}

/// The branch a session generates for its work: `agent/session-<id>` (the full id, so no two
/// sessions share it).
pub fn session_branch(session_id: &str) -> String {
    format!("agent/session-{session_id}")
}

/// Whether `head` is a branch the session created (its generated name, or the `-pr` variant
/// used when that equals the base): the only branches it may force-push or delete.
pub fn owned_by_session(head: &str, session_id: &str) -> bool {
    let own = session_branch(session_id);
    head == own || head.strip_suffix("-pr") == Some(own.as_str())
}

/// Names a team protects: the base, the usual long-lived branches, release and hotfix lines,
/// and every other session's generated branch. Compared case-insensitively.
pub fn protected(branch: &str, base: &str) -> bool {
    const NAMES: &[&str] = &[
        "main",
        "master",
        "develop",
        "development",
        "dev",
        "trunk",
        "production",
        "prod",
        "staging",
        "stable",
        "default",
        "gh-pages",
    ];
    const LINES: &[&str] = &["release", "releases", "hotfix", "hotfixes", "support"];
    let b = branch.trim().to_ascii_lowercase();
    let first = b.split('/').next().unwrap_or_default();
    b == base.trim().to_ascii_lowercase()
        || NAMES.contains(&b.as_str())
        || (b.contains('/') && LINES.contains(&first))
        || LINES.iter().any(|l| b.starts_with(&format!("{l}-")))
        || b.starts_with("agent/session-")
}

/// What the session knows when a push reaches it.
pub struct PushScope<'a> {
    pub session_id: &'a str,
    /// The branch a pull request would merge into (the session's base).
    pub base: &'a str,
    /// The branch the session already pushed and routes (its pull request's head).
    pub own_branch: Option<&'a str>,
}

/// Whether the session may make `update`: its own generated branch (any update, deletion
/// included); the branch it already pushed; or a new name no other session routes
/// (`elsewhere`) that does not look protected. Tags and other refs never.
pub fn may_push(update: &RefUpdate, scope: &PushScope, elsewhere: bool) -> Result<(), String> {
    let Some(branch) = update.name.strip_prefix("refs/heads/") else {
        return Err(format!("{} is not a branch", update.name));
    };
    if owned_by_session(branch, scope.session_id) {
        return Ok(());
    }
    if update.deletes() {
        return Err(format!("{branch} is not this session's to delete"));
    }
    if scope.own_branch == Some(branch) {
        return Ok(());
    }
    if elsewhere {
        return Err(format!("{branch} belongs to another session"));
    }
    if protected(branch, scope.base) {
        return Err(format!(
            "{branch} looks protected; push to {}",
            session_branch(scope.session_id)
        ));
    }
    Ok(())
}

/// Whose right reaches the forge for a sandbox's git traffic, when it is a user's: the
/// author of the prompt under way, else of the next one (the sandbox was started for it),
/// else (only while the sandbox is still starting) the user it was started for. Never the
/// owner on anyone's behalf; `None` when no prompt is running or waiting.
pub fn git_user<'a>(
    processing: Option<&'a str>,
    pending: Option<&'a str>,
    starting_for: Option<&'a str>,
) -> Option<&'a str> {
    processing.or(pending).or(starting_for)
}

#[cfg(test)]
mod tests {
    use super::*;

    const Z: &str = "0000000000000000000000000000000000000000";
    const A: &str = "1111111111111111111111111111111111111111";

    fn up(name: &str, new: &str) -> RefUpdate {
        RefUpdate {
            old: A.into(),
            new: new.into(),
            name: name.into(),
        }
    }

    #[test]
    fn git_paths() {
        let p = GitPath::parse(&["acme", "web.git", "info", "refs"]).unwrap();
        assert_eq!((p.owner.as_str(), p.name.as_str()), ("acme", "web"));
        assert_eq!(p.endpoint, Endpoint::InfoRefs);
        let p = GitPath::parse(&["acme", "web.git", "git-receive-pack"]).unwrap();
        assert_eq!(p.service, Some(Service::ReceivePack));
        assert!(p.is_repo("ACME", "Web"));
        assert!(!p.is_repo("acme", "payroll"));
        for bad in [
            &["acme", "web", "info", "refs"][..],
            &["acme", ".git", "info", "refs"],
            &["acme", "web.git", "git-upload-archive"],
            &["acme", "web.git"],
            &["sessions", "x", "events"],
        ] {
            assert!(GitPath::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn protected_looking_names() {
        for p in [
            "main",
            "Master",
            "develop",
            "release/2.3",
            "hotfix/x",
            "release-1",
            "trunk",
            "feature-base",
            "agent/session-abc",
        ] {
            assert!(protected(p, "feature-base"), "{p}");
        }
        for ok in ["feature/login", "fix-typo", "agent/notes", "releasenotes"] {
            assert!(!protected(ok, "main"), "{ok}");
        }
    }

    #[test]
    fn a_session_pushes_only_where_it_may() {
        let id = "ab".repeat(32);
        let own = session_branch(&id);
        let scope = PushScope {
            session_id: &id,
            base: "main",
            own_branch: Some("feature/mine"),
        };
        let ok = |name: &str, new: &str, elsewhere| may_push(&up(name, new), &scope, elsewhere);
        assert!(ok(&format!("refs/heads/{own}"), A, false).is_ok());
        assert!(ok(&format!("refs/heads/{own}-pr"), Z, false).is_ok());
        assert!(ok("refs/heads/feature/mine", A, false).is_ok());
        assert!(ok("refs/heads/feature/new", A, false).is_ok());
        for (name, new, elsewhere) in [
            ("refs/heads/main", A, false),
            ("refs/heads/release/2.3", A, false),
            ("refs/heads/feature/theirs", A, true),
            ("refs/heads/feature/mine", Z, false),
            ("refs/tags/v1", A, false),
            ("refs/heads/agent/session-other", A, false),
        ] {
            assert!(ok(name, new, elsewhere).is_err(), "{name}");
        }
    }

    #[test]
    fn the_git_user_is_the_prompting_one() {
        assert_eq!(git_user(Some("a"), Some("b"), Some("c")), Some("a"));
        assert_eq!(git_user(None, Some("b"), Some("c")), Some("b"));
        assert_eq!(git_user(None, None, Some("c")), Some("c"));
        assert_eq!(git_user(None, None, None), None);
    }
}
