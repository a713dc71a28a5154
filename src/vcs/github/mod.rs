//! The GitHub client: `requests` builds each call, `responses` parses the answers, `error`
//! classifies failures, `app` makes the App's JWT (all sans-IO but the signing), `client` is
//! the one shell that sends them, and `app` also keeps the installation token. Reached
//! through `vcs::Client`, like every provider.

pub mod app;
pub mod client;
pub mod error;
pub mod requests;
pub mod responses;

pub use client::Client;

pub const DEFAULT_API_URL: &str = "https://api.github.com";
pub const DEFAULT_OAUTH_URL: &str = "https://github.com/login/oauth";
pub const DEFAULT_GIT_URL: &str = "https://github.com";

/// The GitHub App the deployment runs as (`GITHUB_APP_*`).
#[derive(Clone, PartialEq, Eq)]
pub struct AppConfig {
    pub app_id: String,
    pub installation_id: String,
    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub private_key_pem: String,
}

/// Where GitHub lives and who we are to it: the OAuth app (user-token refresh) and, when
/// configured, the GitHub App.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// e.g. `https://api.github.com` (no trailing slash)
    pub api_url: String,
    /// e.g. `https://github.com/login/oauth` (no trailing slash)
    pub oauth_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub app: Option<AppConfig>,
}

/// Never prints a secret.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("github::Config")
            .field("api_url", &self.api_url)
            .field("oauth_url", &self.oauth_url)
            .field("app", &self.app.as_ref().map(|a| &a.app_id))
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn new(api_url: &str, oauth_url: &str, client_id: &str, client_secret: &str) -> Self {
        Self {
            api_url: api_url.trim_end_matches('/').to_string(),
            oauth_url: oauth_url.trim_end_matches('/').to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            app: None,
        }
    }
}

/// The recorded Github answers, for unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    pub fn fixture(name: &str) -> String {
        crate::vcs::fixture("github", name)
    }
}
