//! The deployment's own accounts at each provider, read from the configuration: the
//! Bitbucket bot (git with its user name, REST with its e-mail, both with its API token) and
//! the GitHub App (its installation token for git and REST). Absent when not configured.

use worker::Env;

use super::git_auth::GitAuth;
use super::{bitbucket, github, Client, Config, VcsError, VcsProvider};
use crate::config;

/// Git credentials of the deployment's own account at `provider` for the repository `name`,
/// if one is configured: the Bitbucket bot's (it has no narrower kind), or a GitHub App
/// installation token for that one repository with `contents: write` only.
pub async fn git_auth(
    env: &Env,
    provider: VcsProvider,
    name: &str,
) -> Result<Option<GitAuth>, VcsError> {
    match provider {
        VcsProvider::Bitbucket => Ok(match config::bitbucket_bot(env) {
            (Some(user), Some(token)) => Some(GitAuth::account(user, token)),
            _ => None,
        }),
        VcsProvider::Github => Ok(app_token(&config::github(env), Some(name))
            .await?
            .map(|token| GitAuth::token(VcsProvider::Github, token))),
    }
}

/// The GitHub App installation's token (for the one repository `repo`, if given), when the
/// App is configured.
async fn app_token(cfg: &github::Config, repo: Option<&str>) -> Result<Option<String>, VcsError> {
    if cfg.app.is_none() {
        return Ok(None);
    }
    github::app::installation_token(cfg, repo)
        .await
        .map(Some)
        .map_err(|failure| VcsError {
            provider: VcsProvider::Github,
            failure,
        })
}

/// REST credentials of the deployment's own account.
pub enum Service {
    /// HTTP Basic with the bot's Atlassian e-mail and API token.
    BitbucketBot { email: String, token: String },
    /// The App installation's token.
    GithubApp { token: String },
}

impl Service {
    /// The deployment's REST account at `provider`, if one is configured.
    pub async fn of(env: &Env, provider: VcsProvider) -> Result<Option<Service>, VcsError> {
        match provider {
            VcsProvider::Bitbucket => Ok(config::bitbucket_bot_rest(env)
                .map(|(email, token)| Service::BitbucketBot { email, token })),
            VcsProvider::Github => Ok(app_token(&config::github(env), None)
                .await?
                .map(|token| Service::GithubApp { token })),
        }
    }

    /// A client calling `cfg`'s provider as this account (`None` when it belongs to another
    /// provider).
    pub fn client<'a>(&'a self, cfg: &'a Config) -> Option<Client<'a>> {
        match (self, cfg) {
            (Service::BitbucketBot { email, token }, Config::Bitbucket(c)) => {
                Some(Client::Bitbucket(bitbucket::Client::bot(c, email, token)))
            }
            (Service::GithubApp { token }, Config::Github(c)) => {
                Some(Client::Github(github::Client::installation(c, token)))
            }
            _ => None,
        }
    }
}

/// What is missing for `provider`'s own account, for error messages.
pub fn settings(provider: VcsProvider) -> &'static str {
    match provider {
        VcsProvider::Bitbucket => "BITBUCKET_BOT_EMAIL and BITBUCKET_BOT_API_TOKEN",
        VcsProvider::Github => {
            "GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID"
        }
    }
}
