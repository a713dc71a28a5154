//! Looking up a Bitbucket user's git identity: display name from `/user`, and the primary,
//! confirmed address from `/user/emails`.

use crate::vcs::bitbucket::{requests, responses, BitbucketError, Config};
use crate::vcs::{fetch, retry, Identity};

pub async fn bitbucket_identity(cfg: &Config, token: &str) -> Result<Identity, BitbucketError> {
    let user = fetch::send_with_retry(&requests::user(cfg, token)?, retry::RATE_LIMIT).await?;
    let mut identity = responses::user(&user)?;
    let emails =
        fetch::send_with_retry(&requests::user_emails(cfg, token)?, retry::RATE_LIMIT).await?;
    identity.email = responses::primary_email(&emails)?;
    Ok(identity)
}
