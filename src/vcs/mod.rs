//! Version-control providers. Provider-neutral types live here; each provider's client is
//! sans-IO (it builds requests and parses responses) and `fetch` is the one place that
//! sends them.

pub mod bitbucket;
pub mod fetch;
pub mod git_auth;
pub mod http;
pub mod identity;
pub mod listing;
pub mod repos_cache;
pub mod retry;

use serde::{Deserialize, Serialize};

/// A repository as `GET /repos` shows it, whatever the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repo {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub full_name: String,
    pub description: String,
    pub private: bool,
    pub default_branch: String,
}

/// A user's identity at the provider: the git author of their commits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub user_id: Option<String>,
    pub login: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}
