//! Git credentials over HTTPS, as each provider expects them: a user's OAuth token
//! (`x-token-auth` on Bitbucket, `x-access-token` on GitHub), the Bitbucket bot's API token,
//! or a GitHub App installation token (`x-access-token`).

use super::VcsProvider;
use crate::urls::Base;

/// The user name git sends with a token at `provider`.
pub fn token_user(provider: VcsProvider) -> &'static str {
    match provider {
        VcsProvider::Bitbucket => "x-token-auth",
        VcsProvider::Github => "x-access-token",
    }
}

/// A user name and secret for git over HTTPS. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct GitAuth {
    username: String,
    secret: String,
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GitAuth({})", self.username)
    }
}

impl GitAuth {
    /// An account's own name and secret (the Bitbucket bot and its API token).
    pub fn account(username: String, secret: String) -> Self {
        Self { username, secret }
    }

    /// A token standing for its holder: a user's OAuth token or a GitHub installation token.
    pub fn token(provider: VcsProvider, token: String) -> Self {
        Self {
            username: token_user(provider).into(),
            secret: token,
        }
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }
}

/// The push remote with credentials, and the same URL for display with the secret masked:
/// `{git_url}/{workspace}/{slug}.git`, credentials percent-encoded as URL userinfo; `None`
/// when `git_url` is no base URL ([`Base::parse`]) or a name is no path segment.
pub fn remote_urls(
    git_url: &str,
    workspace: &str,
    slug: &str,
    auth: &GitAuth,
) -> Option<(String, String)> {
    let base = Base::parse(git_url)?;
    let repo = format!("{slug}.git");
    let segments = [workspace, repo.as_str()];
    let with = |secret| base.with_credentials(auth.username(), secret, &segments);
    Some((with(auth.secret())?.into(), with("***")?.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_encode_and_redact() {
        let bot = GitAuth::account("agent@bot".into(), "t/o:k@en".into());
        let (remote, shown) = remote_urls("https://bitbucket.org", "ws", "repo", &bot).unwrap();
        assert_eq!(
            remote,
            "https://agent%40bot:t%2Fo%3Ak%40en@bitbucket.org/ws/repo.git"
        );
        assert_eq!(shown, "https://agent%40bot:***@bitbucket.org/ws/repo.git");
        let user = GitAuth::token(VcsProvider::Bitbucket, "UT".into());
        let (remote, shown) = remote_urls("http://127.0.0.1:9/", "ws", "r", &user).unwrap();
        assert_eq!(remote, "http://x-token-auth:UT@127.0.0.1:9/ws/r.git");
        assert!(!shown.contains("UT"));
    }

    #[test]
    fn token_user_names_per_provider() {
        let gh = GitAuth::token(VcsProvider::Github, "ghs_T".into());
        assert_eq!((gh.username(), gh.secret()), ("x-access-token", "ghs_T"));
        let (remote, shown) = remote_urls("https://github.com", "octocat", "hello", &gh).unwrap();
        assert_eq!(
            remote,
            "https://x-access-token:ghs_T@github.com/octocat/hello.git"
        );
        assert_eq!(
            shown,
            "https://x-access-token:***@github.com/octocat/hello.git"
        );
        assert!(!format!("{gh:?}").contains("ghs_T"));
    }
}
