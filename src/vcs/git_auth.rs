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

#[cfg(test)]
mod tests {
    use super::*;

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
