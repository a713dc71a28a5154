//! Joining a session: a participant's tokens sealed into the session and offered to the
//! user's stored credentials, and their git identity filled in from the provider when the
//! caller did not give it.

use crate::auth::credentials::{Credentials, Offer};
use crate::auth::lifecycle;
use crate::auth::random;
use crate::clock::now_ms;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::session::command::ParticipantInput;
use crate::session::ctx::Ctx;
use crate::session::model::{ParticipantRow, Role};
use crate::session::store::SealedTokens;
use crate::vcs::{bitbucket, Identity, VcsProvider};

/// Encrypts the participant's tokens with `TOKEN_ENCRYPTION_KEY` (fails closed without it).
pub fn seal(ctx: &Ctx, p: &ParticipantInput) -> ApiResult<SealedTokens> {
    if !p.has_tokens() {
        return Ok(SealedTokens::default());
    }
    let vault = config::vault(&ctx.env)?;
    let enc = |t: &Option<String>| -> ApiResult<Option<String>> {
        Ok(t.as_deref().map(|t| vault.encrypt(t)).transpose()?)
    };
    Ok(SealedTokens {
        access: enc(&p.scm_token)?,
        refresh: enc(&p.scm_refresh_token)?,
    })
}

/// The token a participant brought, unless it says it has already expired.
pub fn given_token(p: &ParticipantInput) -> Option<&str> {
    p.scm_token
        .as_deref()
        .filter(|_| lifecycle::usable_now(p.scm_token_expires_at, now_ms()))
}

/// Adds or updates a participant: tokens sealed into the session and offered to the
/// user's stored credentials; a Bitbucket identity filled in when name or email is missing.
pub async fn join(ctx: &Ctx, p: &ParticipantInput, role: Role) -> ApiResult<ParticipantRow> {
    let session = ctx.store.existing_session()?;
    let sealed = seal(ctx, p)?;
    let row = ctx
        .store
        .upsert_participant(&random::id()?, p, &sealed, role, now_ms())?;
    let provider = session.vcs_provider;
    if let Some(access) = p.scm_token.as_deref() {
        let offer = Offer {
            access_token: access,
            refresh_token: p.scm_refresh_token.as_deref(),
            expires_at: p.scm_token_expires_at,
        };
        Credentials::new(&ctx.env, provider)?
            .offer(&p.user_id, &offer)
            .await?;
    }
    if provider == VcsProvider::Bitbucket && (row.scm_name.is_none() || row.scm_email.is_none()) {
        if let Some(identity) = bitbucket_identity(ctx, p).await {
            ctx.store.fill_identity(&row.id, &identity)?;
            return ctx
                .store
                .participant_by_user(&p.user_id)?
                .ok_or_else(|| ApiError::internal("participant was not stored"));
        }
    }
    Ok(row)
}

/// The participant's Bitbucket identity, looked up with the token they brought or their
/// stored credentials. Best effort: a failure leaves the identity as it was.
async fn bitbucket_identity(ctx: &Ctx, p: &ParticipantInput) -> Option<Identity> {
    let token = match given_token(p) {
        Some(t) => t.to_string(),
        None => {
            let creds = Credentials::new(&ctx.env, VcsProvider::Bitbucket).ok()?;
            creds.state(&p.user_id).await.ok()??;
            creds.access_token(&p.user_id).await.ok()?.token
        }
    };
    let cfg = config::bitbucket(&ctx.env);
    match bitbucket::Client::new(&cfg, &token).identity().await {
        Ok(identity) => Some(identity),
        Err(e) => {
            let e: ApiError = e.into();
            worker::console_warn!("could not look up the Bitbucket identity: {}", e.code);
            None
        }
    }
}
