//! Reading configuration from the environment: secrets and vars by the names that
//! docs/design.md §3 lists.

use worker::Env;

use crate::session::sandbox::policy::Timeouts;
use crate::vcs::VcsProvider;

/// A configured, non-empty secret or var.
pub fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// `DEFAULT_VCS_PROVIDER`, `bitbucket` when unset or unknown.
pub fn default_provider(env: &Env) -> VcsProvider {
    secret(env, "DEFAULT_VCS_PROVIDER")
        .and_then(|p| VcsProvider::from_input(&p))
        .unwrap_or_default()
}

/// The provider the web app signs users in with, whose tokens it sends as `scmToken`
/// (`SCM_SIGN_IN_PROVIDER`, else `DEFAULT_VCS_PROVIDER`). Open-Inspect's web app signs in
/// with GitHub.
pub fn sign_in_provider(env: &Env) -> VcsProvider {
    secret(env, "SCM_SIGN_IN_PROVIDER")
        .and_then(|p| VcsProvider::from_input(&p))
        .unwrap_or_else(|| default_provider(env))
}

/// Who decides which repositories a user may work on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoAccess {
    /// The user's own token, checked upstream before every create, clone and push.
    User,
    /// The web app (Open-Inspect's model): the bot's reach is usable by every user.
    Deployment,
}

/// `REPO_ACCESS`: `user` unless set to `deployment` exactly.
pub fn repo_access(env: &Env) -> RepoAccess {
    match secret(env, "REPO_ACCESS").as_deref().map(str::trim) {
        Some("deployment") => RepoAccess::Deployment,
        _ => RepoAccess::User,
    }
}

/// The token vault keyed by `TOKEN_ENCRYPTION_KEY` (fails closed when missing or invalid).
pub fn vault(env: &Env) -> Result<crate::auth::vault::Vault, crate::error::ApiError> {
    use crate::error::ApiError;
    let key = secret(env, "TOKEN_ENCRYPTION_KEY")
        .ok_or_else(|| ApiError::misconfigured("TOKEN_ENCRYPTION_KEY"))?;
    crate::auth::vault::Vault::from_base64_key(&key)
        .map_err(|_| ApiError::misconfigured("TOKEN_ENCRYPTION_KEY"))
}

/// The key of git tickets, derived from `TOKEN_ENCRYPTION_KEY` (fails closed without it).
pub fn git_ticket_key(env: &Env) -> Result<[u8; 32], crate::error::ApiError> {
    secret(env, "TOKEN_ENCRYPTION_KEY")
        .map(|k| crate::git::ticket::key(&k))
        .ok_or_else(|| crate::error::ApiError::misconfigured("TOKEN_ENCRYPTION_KEY"))
}

/// The Bitbucket endpoints and OAuth consumer.
pub fn bitbucket(env: &Env) -> crate::vcs::bitbucket::Config {
    use crate::vcs::bitbucket::{Config, DEFAULT_API_URL, DEFAULT_OAUTH_URL};
    Config::new(
        &secret(env, "BITBUCKET_API_URL").unwrap_or_else(|| DEFAULT_API_URL.into()),
        &secret(env, "BITBUCKET_OAUTH_URL").unwrap_or_else(|| DEFAULT_OAUTH_URL.into()),
        &secret(env, "BITBUCKET_CLIENT_ID").unwrap_or_default(),
        &secret(env, "BITBUCKET_CLIENT_SECRET").unwrap_or_default(),
    )
}

/// Google's sign-in endpoints (`GOOGLE_AUTHORIZE_URL`, `GOOGLE_TOKEN_URL`,
/// `GOOGLE_USERINFO_URL`, for tests) and OAuth client.
pub fn google(env: &Env) -> crate::identity::google::Config {
    use crate::identity::google::{
        Config, DEFAULT_AUTHORIZE_URL, DEFAULT_TOKEN_URL, DEFAULT_USERINFO_URL,
    };
    let or = |name: &str, default: &str| secret(env, name).unwrap_or_else(|| default.into());
    Config {
        authorize_url: or("GOOGLE_AUTHORIZE_URL", DEFAULT_AUTHORIZE_URL),
        token_url: or("GOOGLE_TOKEN_URL", DEFAULT_TOKEN_URL),
        userinfo_url: or("GOOGLE_USERINFO_URL", DEFAULT_USERINFO_URL),
        client_id: secret(env, "GOOGLE_CLIENT_ID").unwrap_or_default(),
        client_secret: secret(env, "GOOGLE_CLIENT_SECRET").unwrap_or_default(),
    }
}

/// The GitHub endpoints, OAuth app and (when all three `GITHUB_APP_*` are set) the App.
pub fn github(env: &Env) -> crate::vcs::github::Config {
    use crate::vcs::github::{AppConfig, Config, DEFAULT_API_URL, DEFAULT_OAUTH_URL};
    let mut cfg = Config::new(
        &secret(env, "GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.into()),
        &secret(env, "GITHUB_OAUTH_URL").unwrap_or_else(|| DEFAULT_OAUTH_URL.into()),
        &secret(env, "GITHUB_CLIENT_ID").unwrap_or_default(),
        &secret(env, "GITHUB_CLIENT_SECRET").unwrap_or_default(),
    );
    cfg.app = match (
        secret(env, "GITHUB_APP_ID"),
        secret(env, "GITHUB_APP_PRIVATE_KEY"),
        secret(env, "GITHUB_APP_INSTALLATION_ID"),
    ) {
        (Some(app_id), Some(private_key_pem), Some(installation_id)) => Some(AppConfig {
            app_id,
            installation_id,
            private_key_pem,
        }),
        _ => None,
    };
    cfg
}

/// The configuration of `provider`.
pub fn vcs(env: &Env, provider: VcsProvider) -> crate::vcs::Config {
    match provider {
        VcsProvider::Bitbucket => crate::vcs::Config::Bitbucket(bitbucket(env)),
        VcsProvider::Github => crate::vcs::Config::Github(github(env)),
    }
}

/// A positive whole number setting, else `default`.
fn positive_int(env: &Env, name: &str, default: i64) -> i64 {
    secret(env, name)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// The sandbox lifecycle's durations (`SANDBOX_*_MS` override the defaults).
pub fn sandbox_timeouts(env: &Env) -> Timeouts {
    let d = Timeouts::default();
    Timeouts {
        heartbeat_ms: positive_int(env, "SANDBOX_HEARTBEAT_TIMEOUT_MS", d.heartbeat_ms),
        connect_ms: positive_int(env, "SANDBOX_CONNECT_TIMEOUT_MS", d.connect_ms),
        idle_ms: positive_int(env, "SANDBOX_IDLE_TIMEOUT_MS", d.idle_ms),
        spawn_cooldown_ms: positive_int(env, "SANDBOX_SPAWN_COOLDOWN_MS", d.spawn_cooldown_ms),
        reconnect_ms: positive_int(env, "SANDBOX_RECONNECT_GRACE_MS", d.reconnect_ms),
        // Open-Inspect's default: as long as a sandbox may live.
        execution_ms: positive_int(
            env,
            "EXECUTION_TIMEOUT_MS",
            sandbox_lifetime_secs(env) as i64 * 1000,
        ),
    }
}

/// How long a sandbox may live (`SANDBOX_TIMEOUT_SECONDS`, default 2 hours).
pub fn sandbox_lifetime_secs(env: &Env) -> u64 {
    positive_int(env, "SANDBOX_TIMEOUT_SECONDS", 7200) as u64
}

/// The model used when neither the prompt nor the session names one.
pub fn default_model(env: &Env) -> String {
    secret(env, "DEFAULT_MODEL").unwrap_or_else(|| "claude-sonnet-4-5".into())
}

/// The bot account for git over HTTPS, if configured (`BITBUCKET_BOT_APP_PASSWORD` is the
/// old name of the API token).
pub fn bitbucket_bot(env: &Env) -> (Option<String>, Option<String>) {
    (
        secret(env, "BITBUCKET_BOT_USERNAME"),
        secret(env, "BITBUCKET_BOT_API_TOKEN")
            .or_else(|| secret(env, "BITBUCKET_BOT_APP_PASSWORD")),
    )
}

/// The bot's REST credentials, if configured: its Atlassian account e-mail and API token
/// (REST calls with an API token are HTTP Basic `email:token`; the username does not work).
pub fn bitbucket_bot_rest(env: &Env) -> Option<(String, String)> {
    let token = bitbucket_bot(env).1?;
    Some((secret(env, "BITBUCKET_BOT_EMAIL")?, token))
}

/// Where a provider serves git over HTTPS (`BITBUCKET_GIT_URL`, `GITHUB_GIT_URL`).
pub fn git_url(env: &Env, provider: VcsProvider) -> String {
    match provider {
        VcsProvider::Bitbucket => secret(env, "BITBUCKET_GIT_URL")
            .unwrap_or_else(|| crate::vcs::bitbucket::DEFAULT_GIT_URL.into()),
        VcsProvider::Github => secret(env, "GITHUB_GIT_URL")
            .unwrap_or_else(|| crate::vcs::github::DEFAULT_GIT_URL.into()),
    }
}

/// The git host of a provider (its git URL's host name).
pub fn git_host(env: &Env, provider: VcsProvider) -> String {
    crate::urls::Base::parse(&git_url(env, provider))
        .and_then(|url| url.url().host_str().map(str::to_string))
        .unwrap_or_else(|| match provider {
            VcsProvider::Bitbucket => "bitbucket.org".into(),
            VcsProvider::Github => "github.com".into(),
        })
}

/// How long after the session's own push a push webhook on its branch is taken for the
/// echo of that push (`PUSH_ECHO_WINDOW_MS`, 2 minutes).
pub fn push_echo_window_ms(env: &Env) -> i64 {
    positive_int(
        env,
        "PUSH_ECHO_WINDOW_MS",
        crate::webhooks::OWN_PUSH_WINDOW_MS,
    )
}

/// How long a pull request waits for the sandbox's push (`PR_PUSH_TIMEOUT_MS`, 180 s).
pub fn push_timeout_ms(env: &Env) -> i64 {
    positive_int(env, "PR_PUSH_TIMEOUT_MS", 180_000)
}
