//! Version-control providers. Provider-neutral types live here (`VcsProvider`, `Repo`,
//! `Identity`); each provider's client is sans-IO (it builds requests and parses responses)
//! with one shell client on top that sends them through `upstream::fetch`.

pub mod bitbucket;
pub mod git_auth;
pub mod repos_cache;

use serde::{Deserialize, Serialize};

/// The version-control provider of a session, a stored credential or a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VcsProvider {
    #[default]
    Bitbucket,
    Github,
}

impl VcsProvider {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            VcsProvider::Bitbucket => "bitbucket",
            VcsProvider::Github => "github",
        }
    }

    /// Parses a name given by a caller (case and surrounding space ignored).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bitbucket" => Some(VcsProvider::Bitbucket),
            "github" => Some(VcsProvider::Github),
            _ => None,
        }
    }

    /// The provider's name for people.
    pub fn display_name(self) -> &'static str {
        match self {
            VcsProvider::Bitbucket => "Bitbucket",
            VcsProvider::Github => "GitHub",
        }
    }
}

/// A repository as `GET /repos` shows it, whatever the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repo {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub full_name: String,
    /// `null` when the repository has none.
    pub description: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for p in [VcsProvider::Bitbucket, VcsProvider::Github] {
            assert_eq!(VcsProvider::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        assert_eq!(VcsProvider::parse(" GitHub "), Some(VcsProvider::Github));
        assert_eq!(VcsProvider::parse("gitlab"), None);
    }
}
