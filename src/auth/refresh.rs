//! Exchanging a refresh token at the provider it belongs to, as one value: granted, rejected
//! (the user must sign in again) or failed (try again later).

use crate::error::ApiError;
use crate::vcs::bitbucket::{self, responses::TokenGrant, BitbucketError};

/// Where a provider's refresh tokens are exchanged.
pub(crate) enum Refresher {
    Bitbucket(bitbucket::Config),
    /// The provider has no refresh support yet: an expiring token needs a new sign-in.
    Unsupported,
}

/// What came of one refresh call.
pub(crate) enum Refreshed {
    Granted(TokenGrant),
    /// The provider rejected the refresh token: the user must sign in again.
    Rejected(ApiError),
    /// No usable answer; the stored pair is still good for another try.
    Failed(ApiError),
}

impl Refresher {
    pub(crate) async fn refresh(&self, refresh_token: &str) -> Refreshed {
        match self {
            Refresher::Bitbucket(cfg) => {
                match bitbucket::client::refresh(cfg, refresh_token).await {
                    Ok(grant) => Refreshed::Granted(grant),
                    Err(e @ BitbucketError::Reauth(_)) => Refreshed::Rejected(e.into()),
                    Err(e) => Refreshed::Failed(e.into()),
                }
            }
            Refresher::Unsupported => Refreshed::Failed(ApiError::new(
                501,
                "not_implemented",
                "refreshing this provider's tokens is not available yet",
            )),
        }
    }
}
