//! Exchanging a refresh token at the provider it belongs to, as one value: granted, rejected
//! (the user must sign in again) or failed (try again later).

use crate::error::ApiError;
use crate::vcs::{self, TokenGrant};

/// What came of one refresh call.
pub(crate) enum Refreshed {
    Granted(TokenGrant),
    /// The provider rejected the refresh token: the user must sign in again.
    Rejected(ApiError),
    /// No usable answer; the stored pair is still good for another try.
    Failed(ApiError),
}

/// Exchanges `refresh_token` at `cfg`'s provider.
pub(crate) async fn refresh(cfg: &vcs::Config, refresh_token: &str) -> Refreshed {
    match vcs::refresh(cfg, refresh_token).await {
        Ok(grant) => Refreshed::Granted(grant),
        Err(e) if e.is_reauth() => Refreshed::Rejected(e.into()),
        Err(e) => Refreshed::Failed(e.into()),
    }
}
