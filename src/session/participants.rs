//! Joining a session: a participant's tokens offered to the user's stored credentials (the
//! one place they are kept; the session only notes that one was brought), and their git
//! identity filled in from the provider when the caller did not give it.

use crate::auth::credentials::{Credentials, Offer};
use crate::auth::lifecycle;
use crate::auth::random;
use crate::clock::now_ms;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::session::command::ParticipantInput;
use crate::session::ctx::Ctx;
use crate::session::model::{ParticipantRow, Role};
use crate::vcs::{Client, Identity, VcsProvider};

/// The provider the participant's tokens belong to: as they say, else the sign-in provider.
pub fn token_provider(ctx: &Ctx, p: &ParticipantInput) -> VcsProvider {
    p.scm_provider
        .unwrap_or_else(|| config::sign_in_provider(&ctx.env))
}

/// Fails closed, before anything is stored, when the participant brings tokens that could
/// not be sealed into their credentials (no `TOKEN_ENCRYPTION_KEY`).
pub fn can_keep_tokens(ctx: &Ctx, p: &ParticipantInput) -> ApiResult<()> {
    if p.has_tokens() {
        config::vault(&ctx.env)?;
    }
    Ok(())
}

/// The token a participant brought for `provider`, unless it says it has already expired.
pub fn given_token<'a>(
    ctx: &Ctx,
    p: &'a ParticipantInput,
    provider: VcsProvider,
) -> Option<&'a str> {
    p.scm_token
        .as_deref()
        .filter(|_| token_provider(ctx, p) == provider)
        .filter(|_| lifecycle::usable_now(p.scm_token_expires_at, now_ms()))
}

/// Adds or updates a participant: tokens offered to the user's stored credentials for the
/// provider they belong to; the identity at the session's provider filled in when name or
/// email is missing.
pub async fn join(ctx: &Ctx, p: &ParticipantInput, role: Role) -> ApiResult<ParticipantRow> {
    can_keep_tokens(ctx, p)?;
    let session = ctx.store.existing_session()?;
    let provider = session.vcs_provider;
    if let Some(access) = p.scm_token.as_deref() {
        let offer = Offer {
            access_token: access,
            refresh_token: p.scm_refresh_token.as_deref(),
            expires_at: p.scm_token_expires_at,
        };
        Credentials::new(&ctx.env, token_provider(ctx, p))?
            .offer(&p.user_id, &offer)
            .await?;
    }
    // Only someone who can read the repository joins (REPO_ACCESS=user), with the token they
    // just brought, else their stored credentials (just offered, so a refresh token counts).
    let token = given_token(ctx, p, provider);
    crate::session::access::require_reader(ctx, &session, &p.user_id, token).await?;
    let brought = p.scm_token.is_some() && token_provider(ctx, p) == provider;
    let row = ctx
        .store
        .upsert_participant(&random::id()?, p, brought, role, now_ms())?;
    let given = given_token(ctx, p, provider).is_some();
    if looks_up_identity(&row, given, now_ms()) {
        match identity(ctx, p, provider).await {
            Some(identity) => {
                ctx.store.fill_identity(&row.id, &identity)?;
                return ctx
                    .store
                    .participant_by_user(&p.user_id)?
                    .ok_or_else(|| ApiError::internal("participant was not stored"));
            }
            None => ctx.store.identity_tried(&row.id, now_ms())?,
        }
    }
    Ok(row)
}

/// How long a lookup without a result is remembered (when no new token is brought).
const IDENTITY_RETRY_MS: i64 = 60 * 60 * 1000;

/// Whether to look up the participant's identity at the provider: when name or email is
/// missing, and either a token was brought or no lookup came back empty lately (so a
/// participant without credentials costs one lookup, not one per ws-token).
pub fn looks_up_identity(row: &ParticipantRow, token_given: bool, now: i64) -> bool {
    let missing = row.scm_name.is_none() || row.scm_email.is_none();
    let tried_lately = row
        .identity_tried_at
        .is_some_and(|at| now - at < IDENTITY_RETRY_MS);
    missing && (token_given || !tried_lately)
}

/// The participant's identity at `provider`, looked up with the token they brought or their
/// stored credentials. Best effort: a failure leaves the identity as it was.
async fn identity(ctx: &Ctx, p: &ParticipantInput, provider: VcsProvider) -> Option<Identity> {
    let token = match given_token(ctx, p, provider) {
        Some(t) => t.to_string(),
        None => {
            let creds = Credentials::new(&ctx.env, provider).ok()?;
            creds.state(&p.user_id).await.ok()??;
            creds.access_token(&p.user_id).await.ok()?.token
        }
    };
    let cfg = config::vcs(&ctx.env, provider);
    match Client::user(&cfg, &token).identity().await {
        Ok(identity) => Some(identity),
        Err(e) => {
            let e: ApiError = e.into();
            ctx.warn(
                "could not look up the user's identity at the provider",
                e.code,
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: Option<&str>, tried: Option<i64>) -> ParticipantRow {
        ParticipantRow {
            seq: 1,
            id: "p".into(),
            user_id: "u".into(),
            scm_user_id: None,
            scm_login: None,
            scm_name: name.map(str::to_string),
            scm_email: name.map(|_| "e@example.com".to_string()),
            has_scm_token: false,
            scm_token_expires_at: None,
            ws_token_issued_at: None,
            role: Role::Member,
            joined_at: 0,
            identity_tried_at: tried,
        }
    }

    #[test]
    fn identity_is_looked_up_once_until_a_token_is_brought() {
        let now = 10 * IDENTITY_RETRY_MS;
        assert!(looks_up_identity(&row(None, None), false, now));
        assert!(!looks_up_identity(&row(None, Some(now - 1000)), false, now));
        assert!(looks_up_identity(&row(None, Some(now - 1000)), true, now));
        assert!(looks_up_identity(
            &row(None, Some(now - IDENTITY_RETRY_MS)),
            false,
            now
        ));
        assert!(!looks_up_identity(&row(Some("N"), None), true, now));
    }
}
