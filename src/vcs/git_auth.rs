//! Which credentials git uses over HTTPS: the bot's API token when one is configured, else
//! the user's OAuth token as `x-token-auth`.

/// Git credentials for clone and push. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum GitAuth {
    Bot { username: String, token: String },
    User { token: String },
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitAuth::Bot { username, .. } => write!(f, "GitAuth::Bot({username})"),
            GitAuth::User { .. } => write!(f, "GitAuth::User"),
        }
    }
}

impl GitAuth {
    /// The bot when both its name and token are set, else the user's token if any.
    pub fn choose(
        bot_username: Option<String>,
        bot_token: Option<String>,
        user_token: Option<String>,
    ) -> Option<GitAuth> {
        match (bot_username, bot_token) {
            (Some(username), Some(token)) => Some(GitAuth::Bot { username, token }),
            _ => user_token.map(|token| GitAuth::User { token }),
        }
    }

    pub fn username(&self) -> &str {
        match self {
            GitAuth::Bot { username, .. } => username,
            GitAuth::User { .. } => "x-token-auth",
        }
    }

    pub fn secret(&self) -> &str {
        match self {
            GitAuth::Bot { token, .. } | GitAuth::User { token } => token,
        }
    }
}

/// The push remote with credentials, and the same URL for display with the secret masked:
/// `{git_url}/{workspace}/{slug}.git`, credentials percent-encoded by the `url` crate.
pub fn remote_urls(
    git_url: &str,
    workspace: &str,
    slug: &str,
    auth: &GitAuth,
) -> Option<(String, String)> {
    let mut url = url::Url::parse(git_url).ok()?;
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend([workspace, &format!("{slug}.git")]);
    url.set_username(auth.username()).ok()?;
    let mut redacted = url.clone();
    url.set_password(Some(auth.secret())).ok()?;
    redacted.set_password(Some("***")).ok()?;
    Some((url.into(), redacted.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_encode_and_redact() {
        let bot = GitAuth::Bot {
            username: "agent@bot".into(),
            token: "t/o:k@en".into(),
        };
        let (remote, shown) = remote_urls("https://bitbucket.org", "ws", "repo", &bot).unwrap();
        assert_eq!(
            remote,
            "https://agent%40bot:t%2Fo%3Ak%40en@bitbucket.org/ws/repo.git"
        );
        assert_eq!(shown, "https://agent%40bot:***@bitbucket.org/ws/repo.git");
        let user = GitAuth::User { token: "UT".into() };
        let (remote, shown) = remote_urls("http://127.0.0.1:9/", "ws", "r", &user).unwrap();
        assert_eq!(remote, "http://x-token-auth:UT@127.0.0.1:9/ws/r.git");
        assert!(!shown.contains("UT"));
    }

    #[test]
    fn bot_first_then_user() {
        let bot =
            GitAuth::choose(Some("bot".into()), Some("BT".into()), Some("UT".into())).unwrap();
        assert_eq!((bot.username(), bot.secret()), ("bot", "BT"));
        let user = GitAuth::choose(Some("bot".into()), None, Some("UT".into())).unwrap();
        assert_eq!((user.username(), user.secret()), ("x-token-auth", "UT"));
        assert_eq!(GitAuth::choose(None, None, None), None);
        assert!(!format!("{bot:?}{user:?}").contains('T'));
    }
}
