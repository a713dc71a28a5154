//! Version-control providers. Provider-neutral types live here (`VcsProvider`, `Repo`,
//! `Identity`, pull requests, token grants) with the one interface the rest of the control
//! plane uses, `Client`: each provider's module is sans-IO (it builds requests and parses
//! responses) with one shell client that sends them through `upstream::fetch`, and `Client`
//! picks the session's provider. A new forge is a new module and one arm per method here.

pub mod bitbucket;
pub mod error;
pub mod git_auth;
pub mod github;
pub mod repos_cache;
pub mod service;

use serde::{Deserialize, Serialize};

pub use error::{Failure, VcsError};

/// The version-control provider of a session, a stored credential or a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VcsProvider {
    #[default]
    Bitbucket,
    Github,
}

crate::wire::wire_names!(VcsProvider {
    Bitbucket => "bitbucket",
    Github => "github",
});

impl VcsProvider {
    /// Reads a name a caller or an operator gave (case and surrounding space ignored).
    pub fn from_input(s: &str) -> Option<Self> {
        Self::parse(&s.trim().to_ascii_lowercase())
    }

    /// The provider's name for people.
    pub fn display_name(self) -> &'static str {
        match self {
            VcsProvider::Bitbucket => "Bitbucket",
            VcsProvider::Github => "GitHub",
        }
    }

    /// The setting that says where the provider serves git over HTTPS.
    pub fn git_url_setting(self) -> &'static str {
        match self {
            VcsProvider::Bitbucket => "BITBUCKET_GIT_URL",
            VcsProvider::Github => "GITHUB_GIT_URL",
        }
    }
}

/// A repository as `GET /repos` shows it, whatever the provider (and as the cache keeps it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repo {
    /// A number, as Open-Inspect's catalog has it: GitHub's own; on Bitbucket, which numbers
    /// no repository, the first 48 bits of the SHA-256 of its UUID (stable, and exact in
    /// JavaScript).
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub full_name: String,
    /// `null` when the repository has none.
    pub description: Option<String>,
    pub private: bool,
    pub default_branch: String,
    /// Archived (read-only); Bitbucket has no such state.
    pub archived: bool,
}

/// A user's identity at the provider: the git author of their commits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub user_id: Option<String>,
    pub login: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A successful token answer of a provider's OAuth endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in_secs: i64,
    pub scopes: Option<String>,
}

/// Never prints the tokens.
impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("expires_in_secs", &self.expires_in_secs)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// What a new pull request says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPullRequest {
    pub title: String,
    pub description: String,
    pub source_branch: String,
    pub destination_branch: String,
    /// Delete the source branch once merged (only for branches the session owns; GitHub
    /// decides this per repository).
    pub close_source_branch: bool,
}

/// A pull request as we record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub url: String,
    /// The provider's own word (`OPEN`, `open`, `MERGED`, ...).
    pub state: String,
    pub source_branch: Option<String>,
    pub destination_branch: Option<String>,
    /// When it last changed (Unix ms), when the provider says.
    pub updated_at: Option<i64>,
    /// Who closed or merged it, when it is closed and the provider says.
    pub closed_by: Option<String>,
}

/// Where one provider lives and who we are to it.
#[derive(Debug, Clone)]
pub enum Config {
    Bitbucket(bitbucket::Config),
    Github(github::Config),
}

impl Config {
    pub fn provider(&self) -> VcsProvider {
        match self {
            Config::Bitbucket(_) => VcsProvider::Bitbucket,
            Config::Github(_) => VcsProvider::Github,
        }
    }
}

/// One page of a listing and the link to the next, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub values: Vec<T>,
    pub next: Option<String>,
}

/// A safety bound on pages followed per listing.
const MAX_PAGES: usize = 200;

/// Follows a listing's next links from `first` (each built by `next`, which keeps them on
/// the API's own origin), parsing each page.
pub(crate) async fn all_pages<T>(
    first: crate::upstream::http::HttpRequest,
    parse: fn(&crate::upstream::http::HttpResponse) -> Result<Page<T>, Failure>,
    next: impl Fn(&str) -> Result<crate::upstream::http::HttpRequest, Failure>,
) -> Result<Vec<T>, Failure> {
    let mut out = Vec::new();
    let mut req = first;
    for _ in 0..MAX_PAGES {
        let page = call(&req, parse).await?;
        out.extend(page.values);
        match page.next {
            Some(link) => req = next(&link)?,
            None => return Ok(out),
        }
    }
    Err(Failure::Parse("too many pages".into()))
}

/// The text of one recorded answer in `tests/fixtures/{provider}`, for unit tests.
#[cfg(test)]
pub(crate) fn fixture(provider: &str, name: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    std::fs::read_to_string(format!("{dir}/{provider}/{name}"))
        .unwrap_or_else(|e| panic!("fixture {provider}/{name}: {e}"))
}

/// A 2xx answer's JSON body, parsed (read it with `upstream::json::Field`); any other
/// answer classified by `classify`.
pub(crate) fn json_ok(
    resp: &crate::upstream::http::HttpResponse,
    classify: fn(&crate::upstream::http::HttpResponse) -> Failure,
) -> Result<serde_json::Value, Failure> {
    if !(200..300).contains(&resp.status) {
        return Err(classify(resp));
    }
    crate::json::parse(&resp.body).ok_or_else(|| Failure::Parse("the answer is not JSON".into()))
}

/// `Failure::Parse` for an answer without a field it must have.
pub(crate) fn missing(what: &str) -> Failure {
    Failure::Parse(format!("the answer has no {what}"))
}

/// Sends one provider request with the rate-limit retry policy and parses the answer.
pub(crate) async fn call<T>(
    req: &crate::upstream::http::HttpRequest,
    parse: fn(&crate::upstream::http::HttpResponse) -> Result<T, Failure>,
) -> Result<T, Failure> {
    use crate::upstream::{fetch, retry};
    parse(&fetch::send_with_retry(req, retry::RATE_LIMIT).await?)
}

/// Exchanges a refresh token at the provider it belongs to (the refresh token may rotate).
pub async fn refresh(cfg: &Config, refresh_token: &str) -> Result<TokenGrant, VcsError> {
    let answer = match cfg {
        Config::Bitbucket(c) => bitbucket::client::refresh(c, refresh_token).await,
        Config::Github(c) => github::client::refresh(c, refresh_token).await,
    };
    answer.map_err(|failure| VcsError {
        provider: cfg.provider(),
        failure,
    })
}

/// One provider on behalf of one caller: the interface every provider call goes through.
pub enum Client<'a> {
    Bitbucket(bitbucket::Client<'a>),
    Github(github::Client<'a>),
}

impl<'a> Client<'a> {
    /// As the holder of `token` (a user's OAuth token) at `cfg`'s provider.
    pub fn user(cfg: &'a Config, token: &'a str) -> Self {
        match cfg {
            Config::Bitbucket(c) => Client::Bitbucket(bitbucket::Client::new(c, token)),
            Config::Github(c) => Client::Github(github::Client::user(c, token)),
        }
    }

    pub fn provider(&self) -> VcsProvider {
        match self {
            Client::Bitbucket(_) => VcsProvider::Bitbucket,
            Client::Github(_) => VcsProvider::Github,
        }
    }

    fn at<T>(&self, answer: Result<T, Failure>) -> Result<T, VcsError> {
        answer.map_err(|failure| VcsError {
            provider: self.provider(),
            failure,
        })
    }

    /// Every repository the caller can reach, sorted by full name.
    pub async fn repos(&self) -> Result<Vec<Repo>, VcsError> {
        self.at(match self {
            Client::Bitbucket(c) => c.repos().await,
            Client::Github(c) => c.repos().await,
        })
    }

    /// The names of a repository's branches.
    pub async fn branches(&self, owner: &str, name: &str) -> Result<Vec<String>, VcsError> {
        self.at(match self {
            Client::Bitbucket(c) => c.branches(owner, name).await,
            Client::Github(c) => c.branches(owner, name).await,
        })
    }

    /// One repository (its default branch among others).
    pub async fn repository(&self, owner: &str, name: &str) -> Result<Repo, VcsError> {
        self.at(match self {
            Client::Bitbucket(c) => c.repository(owner, name).await,
            Client::Github(c) => c.repository(owner, name).await.map(|(repo, _)| repo),
        })
    }

    /// `Some(repo)` when the caller may read the repository, `None` when the provider says
    /// 403 or 404.
    pub async fn readable(&self, owner: &str, name: &str) -> Result<Option<Repo>, VcsError> {
        self.at(match self {
            Client::Bitbucket(c) => c.readable(owner, name).await,
            Client::Github(c) => c
                .readable(owner, name)
                .await
                .map(|r| r.map(|(repo, _)| repo)),
        })
    }

    /// Whether the caller may push to the repository.
    pub async fn writable(&self, owner: &str, name: &str) -> Result<bool, VcsError> {
        self.at(match self {
            Client::Bitbucket(c) => c.writable(owner, name).await,
            Client::Github(c) => c.writable(owner, name).await,
        })
    }

    /// Opens a pull request; one already open for the same head is found and answered
    /// instead (never a second one).
    pub async fn create_pull_request(
        &self,
        owner: &str,
        name: &str,
        pr: &NewPullRequest,
    ) -> Result<PullRequest, VcsError> {
        self.at(match self {
            Client::Bitbucket(c) => c.create_pull_request(owner, name, pr).await,
            Client::Github(c) => c.create_pull_request(owner, name, pr).await,
        })
    }

    /// One pull request as it is now.
    pub async fn pull_request(
        &self,
        owner: &str,
        name: &str,
        number: u64,
    ) -> Result<PullRequest, VcsError> {
        self.at(match self {
            Client::Bitbucket(c) => c.pull_request(owner, name, number).await,
            Client::Github(c) => c.pull_request(owner, name, number).await,
        })
    }

    /// The caller's git identity (name and commit e-mail).
    pub async fn identity(&self) -> Result<Identity, VcsError> {
        self.at(match self {
            Client::Bitbucket(c) => c.identity().await,
            Client::Github(c) => c.identity().await,
        })
    }
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
        assert_eq!(
            VcsProvider::from_input(" GitHub "),
            Some(VcsProvider::Github)
        );
        assert_eq!(VcsProvider::parse(" GitHub "), None);
        assert_eq!(VcsProvider::parse("gitlab"), None);
    }
}
