//! The Bitbucket Cloud client: `requests` builds each call, `responses` parses the answers,
//! `error` classifies failures (all three sans-IO), and `client` is the one shell that
//! sends them. Reached through `vcs::Client`, like every provider.

pub mod client;
pub mod error;
pub mod requests;
pub mod responses;

pub use client::Client;

use crate::vcs::{Failure, VcsError, VcsProvider};

/// A failure at Bitbucket.
pub fn at_bitbucket(failure: Failure) -> VcsError {
    VcsError {
        provider: VcsProvider::Bitbucket,
        failure,
    }
}

/// Where Bitbucket lives and who we are to it (the OAuth consumer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// e.g. `https://api.bitbucket.org/2.0` (no trailing slash)
    pub api_url: String,
    /// e.g. `https://bitbucket.org/site/oauth2` (no trailing slash)
    pub oauth_url: String,
    pub client_id: String,
    pub client_secret: String,
}

impl Config {
    pub fn new(api_url: &str, oauth_url: &str, client_id: &str, client_secret: &str) -> Self {
        Self {
            api_url: api_url.trim_end_matches('/').to_string(),
            oauth_url: oauth_url.trim_end_matches('/').to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
        }
    }
}

pub const DEFAULT_API_URL: &str = "https://api.bitbucket.org/2.0";
pub const DEFAULT_OAUTH_URL: &str = "https://bitbucket.org/site/oauth2";
pub const DEFAULT_GIT_URL: &str = "https://bitbucket.org";

/// The recorded Bitbucket answers, for unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    pub fn fixture(name: &str) -> String {
        crate::vcs::fixture("bitbucket", name)
    }
}
