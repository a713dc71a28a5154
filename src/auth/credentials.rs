//! A user's stored VCS credentials (D1 `user_scm_tokens`, encrypted): taking newer ones in,
//! and handing out an access token that is fresh, refreshing it when needed. Exactly one
//! refresh per user runs anywhere at a time: the user's `RefreshObject` does it (its own
//! request outlives a caller who hangs up, so a rotated refresh token is never lost); the
//! others use the token while it lasts, else wait and re-read. A refreshed pair is stored
//! (compare-and-swap on its version) before use. Credentials are refreshed by the provider
//! they belong to.

use worker::{D1Database, Date, Delay, Env};

use crate::auth::lifecycle::{self, Action, CredentialState};
use crate::auth::refresh::{self, Refreshed};
use crate::auth::refresher;
use crate::auth::vault::Vault;
use crate::clock::now_ms;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::log::{self, D1};
use crate::rows::{self, FromRow};
use crate::vcs::VcsProvider;

/// How long a refresh may take.
const REFRESH_TIMEOUT_MS: u64 = 10_000;

/// How long a caller waits for another's refresh before giving up.
const WAIT_LIMIT_MS: u64 = 15_000;
const WAIT_STEP_MS: u64 = 200;

#[derive(Debug, Clone)]
struct Row {
    access_token_encrypted: String,
    refresh_token_encrypted: Option<String>,
    expires_at: Option<i64>,
    needs_reauth: i64,
    version: i64,
}

impl FromRow for Row {
    fn from_row(r: &rows::Row) -> rows::Read<Self> {
        r.done(Row {
            access_token_encrypted: r.text("access_token_encrypted"),
            refresh_token_encrypted: r.opt_text("refresh_token_encrypted"),
            expires_at: r.opt_int("expires_at"),
            needs_reauth: r.int("needs_reauth"),
            version: r.int("version"),
        })
    }
}

impl Row {
    fn state(&self) -> CredentialState {
        CredentialState {
            expires_at: self.expires_at,
            has_refresh_token: self.refresh_token_encrypted.is_some(),
            needs_reauth: self.needs_reauth != 0,
        }
    }
}

/// A usable access token and the version of the stored credentials it came from.
pub struct Fresh {
    pub token: String,
    pub version: i64,
    /// When the token expires (Unix ms), when known.
    pub expires_at: Option<i64>,
}

/// Plaintext credentials offered by a caller (session creation, ws-token, participants).
pub struct Offer<'a> {
    pub access_token: &'a str,
    pub refresh_token: Option<&'a str>,
    pub expires_at: Option<i64>,
}

pub fn reauth(message: &str) -> ApiError {
    ApiError::new(401, "reauth_required", message.to_string())
}

/// One user's stored credentials at one provider, and the refresh that keeps them fresh.
pub struct Credentials {
    env: Env,
    db: D1Database,
    vault: Vault,
    provider: VcsProvider,
    provider_cfg: crate::vcs::Config,
}

impl Credentials {
    pub fn new(env: &Env, provider: VcsProvider) -> ApiResult<Self> {
        let provider_cfg = config::vcs(env, provider);
        Ok(Self {
            env: env.clone(),
            db: env.d1("DB")?,
            vault: config::vault(env)?,
            provider,
            provider_cfg,
        })
    }

    async fn read(&self, user_id: &str) -> ApiResult<Option<Row>> {
        log::d1(D1::Read);
        let stmt = self
            .db
            .prepare(
                "SELECT access_token_encrypted, refresh_token_encrypted, expires_at, needs_reauth,
                    version
                 FROM user_scm_tokens WHERE provider = ?1 AND user_id = ?2",
            )
            .bind(&[self.provider.as_str().into(), user_id.into()])?;
        rows::d1_first(&stmt).await
    }

    /// What is stored for the user, without secrets.
    pub async fn state(&self, user_id: &str) -> ApiResult<Option<CredentialState>> {
        Ok(self.read(user_id).await?.map(|r| r.state()))
    }

    async fn changed(&self, stmt: worker::D1PreparedStatement) -> ApiResult<bool> {
        log::d1(D1::Write);
        Ok(rows::d1_changes(&stmt).await? > 0)
    }

    fn open(&self, sealed: &str) -> ApiResult<String> {
        self.vault.decrypt(sealed).map_err(|_| {
            log::error("a stored token could not be decrypted", &[]);
            reauth("the stored credentials cannot be read; sign in again")
        })
    }

    /// Stores offered credentials when they are newer than the stored ones. Answers
    /// whether they were stored.
    pub async fn offer(&self, user_id: &str, offer: &Offer<'_>) -> ApiResult<bool> {
        for _ in 0..3 {
            let row = self.read(user_id).await?;
            let stored = row.as_ref().map(|r| (r.expires_at, r.needs_reauth != 0));
            if !lifecycle::incoming_replaces(stored, offer.expires_at) {
                return Ok(false);
            }
            let access = self.vault.encrypt(offer.access_token)?;
            let refresh = self.vault.encrypt_optional(offer.refresh_token)?;
            let now = now_ms();
            let written = match &row {
                None => {
                    let insert = self
                        .db
                        .prepare(
                            "INSERT INTO user_scm_tokens (provider, user_id, access_token_encrypted,
                                refresh_token_encrypted, expires_at, needs_reauth, version, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, 0, 1, ?6) ON CONFLICT DO NOTHING",
                        )
                        .bind(&[
                            self.provider.as_str().into(),
                            user_id.into(),
                            access.as_str().into(),
                            rows::bind_opt_text(refresh.as_deref()),
                            rows::bind_opt_int(offer.expires_at),
                            rows::bind_int(now),
                        ])?;
                    self.changed(insert).await?
                }
                Some(r) => {
                    let (version, expires_at) = (r.version, offer.expires_at);
                    self.store_pair(
                        user_id,
                        version,
                        &access,
                        refresh.as_deref(),
                        expires_at,
                        now,
                    )
                    .await?
                }
            };
            if written {
                return Ok(true);
            }
        }
        Err(ApiError::new(
            409,
            "conflict",
            "the credentials changed concurrently; try again",
        ))
    }

    /// Replaces the stored pair if it is still at `version` (compare-and-swap); a refresh
    /// token left out keeps the stored one. Answers whether it was replaced.
    async fn store_pair(
        &self,
        user_id: &str,
        version: i64,
        access_sealed: &str,
        refresh_sealed: Option<&str>,
        expires_at: Option<i64>,
        now: i64,
    ) -> ApiResult<bool> {
        let update = self
            .db
            .prepare(
                "UPDATE user_scm_tokens SET access_token_encrypted = ?4,
                    refresh_token_encrypted = COALESCE(?5, refresh_token_encrypted),
                    expires_at = ?6, needs_reauth = 0, version = version + 1, updated_at = ?7
                 WHERE provider = ?1 AND user_id = ?2 AND version = ?3",
            )
            .bind(&[
                self.provider.as_str().into(),
                user_id.into(),
                rows::bind_int(version),
                access_sealed.into(),
                rows::bind_opt_text(refresh_sealed),
                rows::bind_opt_int(expires_at),
                rows::bind_int(now),
            ])?;
        self.changed(update).await
    }

    /// Marks the credentials at `version` as needing re-authentication (the provider
    /// rejected them); newer credentials stored meanwhile are left alone.
    pub async fn mark_reauth(&self, user_id: &str, version: i64) -> ApiResult<()> {
        log::d1(D1::Write);
        self.db
            .prepare(
                "UPDATE user_scm_tokens SET needs_reauth = 1, version = version + 1
                 WHERE provider = ?1 AND user_id = ?2 AND version = ?3",
            )
            .bind(&[
                self.provider.as_str().into(),
                user_id.into(),
                rows::bind_int(version),
            ])?
            .run()
            .await?;
        Ok(())
    }

    /// Discards the user's credentials (an account disconnected).
    pub async fn discard(&self, user_id: &str) -> ApiResult<()> {
        log::d1(D1::Write);
        self.db
            .prepare("DELETE FROM user_scm_tokens WHERE provider = ?1 AND user_id = ?2")
            .bind(&[self.provider.as_str().into(), user_id.into()])?
            .run()
            .await?;
        Ok(())
    }

    /// The stored access token of `row`, as it is.
    fn stored(&self, row: &Row) -> ApiResult<Fresh> {
        Ok(Fresh {
            token: self.open(&row.access_token_encrypted)?,
            version: row.version,
            expires_at: row.expires_at,
        })
    }

    /// A fresh access token for the user, refreshed first if needed (by the user's
    /// `RefreshObject`, which finishes a refresh even when its caller hangs up).
    pub async fn access_token(&self, user_id: &str) -> ApiResult<Fresh> {
        let started = Date::now().as_millis();
        loop {
            let row = self.read(user_id).await?.ok_or_else(|| {
                ApiError::unauthorized("no stored credentials for this user; sign in first")
            })?;
            let now = now_ms();
            match lifecycle::decide(&row.state(), now) {
                Action::Use => return self.stored(&row),
                Action::Reauth => {
                    return Err(reauth(&format!(
                        "the user's {} authorization has expired or was revoked; sign in again",
                        self.provider.display_name()
                    )))
                }
                Action::Refresh => {
                    if let Some((token, expires_at)) = self.refresh_elsewhere(user_id, &row).await?
                    {
                        return Ok(Fresh {
                            token,
                            version: row.version + 1,
                            expires_at: Some(expires_at),
                        });
                    }
                    // Another refresh is under way: the token serves while it lasts.
                    if row.expires_at.is_some_and(|at| at > now) {
                        return self.stored(&row);
                    }
                }
            }
            if Date::now().as_millis().saturating_sub(started) > WAIT_LIMIT_MS {
                return Err(ApiError::new(
                    503,
                    "refresh_in_progress",
                    "another request is still refreshing this user's token; try again",
                ));
            }
            Delay::from(std::time::Duration::from_millis(WAIT_STEP_MS)).await;
        }
    }

    /// Whether the stored credentials moved on from `version`.
    async fn changed_since(&self, user_id: &str, version: i64) -> ApiResult<bool> {
        Ok(self
            .read(user_id)
            .await?
            .is_some_and(|r| r.version != version))
    }

    /// Refreshes, giving up after [`REFRESH_TIMEOUT_MS`].
    async fn refresh_within(&self, refresh_token: &str) -> Refreshed {
        use futures::future::{select, Either};
        let limit = Delay::from(std::time::Duration::from_millis(REFRESH_TIMEOUT_MS));
        match select(
            Box::pin(refresh::refresh(&self.provider_cfg, refresh_token)),
            Box::pin(limit),
        )
        .await
        {
            Either::Left((answer, _)) => answer,
            Either::Right(_) => Refreshed::Failed(ApiError::new(
                504,
                "upstream_timeout",
                "the token endpoint did not answer in time",
            )),
        }
    }

    /// Asks the user's `RefreshObject` to refresh the pair at `row`'s version. `Ok(None)`:
    /// another refresh is under way or done; re-read.
    async fn refresh_elsewhere(
        &self,
        user_id: &str,
        row: &Row,
    ) -> ApiResult<Option<(String, i64)>> {
        let ask = refresher::Ask {
            provider: self.provider,
            user_id: user_id.to_string(),
            version: row.version,
        };
        match refresher::ask(&self.env, &ask).await? {
            refresher::Outcome::Refreshed { token, expires_at } => Ok(Some((token, expires_at))),
            refresher::Outcome::Elsewhere => Ok(None),
        }
    }

    /// Refreshes the user's pair if it is still at `version` and due (only the user's
    /// `RefreshObject` calls this, so one refresh per user runs at a time): one D1 write, the
    /// new pair, stored before use. `Ok(None)`: the pair moved on; re-read.
    pub(crate) async fn refresh_at(
        &self,
        user_id: &str,
        version: i64,
    ) -> ApiResult<Option<(String, i64)>> {
        let Some(row) = self.read(user_id).await? else {
            return Err(ApiError::unauthorized(
                "no stored credentials for this user; sign in first",
            ));
        };
        if row.version != version || lifecycle::decide(&row.state(), now_ms()) != Action::Refresh {
            return Ok(None);
        }
        let refresh_token = match &row.refresh_token_encrypted {
            Some(r) => self.open(r)?,
            None => return Err(reauth("no refresh token is stored; sign in again")),
        };
        match self.refresh_within(&refresh_token).await {
            Refreshed::Granted(grant) => {
                let done = now_ms();
                let access = self.vault.encrypt(&grant.access_token)?;
                let refresh = self
                    .vault
                    .encrypt_optional(grant.refresh_token.as_deref())?;
                // Stored before use: rotation kills the old refresh token within minutes.
                let expires_at = lifecycle::expiry(done, grant.expires_in_secs);
                let stored = self
                    .store_pair(
                        user_id,
                        row.version,
                        &access,
                        refresh.as_deref(),
                        Some(expires_at),
                        done,
                    )
                    .await?;
                Ok(stored.then_some((grant.access_token, expires_at)))
            }
            Refreshed::Rejected(_) if self.changed_since(user_id, version).await? => {
                // Someone stored a newer pair meanwhile (our refresh token had rotated
                // away): use theirs rather than asking the user to sign in again.
                Ok(None)
            }
            Refreshed::Rejected(e) => {
                log::warn(
                    "refresh rejected; marking for re-authentication",
                    &[("provider", self.provider.as_str().into())],
                );
                self.mark_reauth(user_id, row.version).await?;
                Err(e)
            }
            Refreshed::Failed(mut e) => {
                e.message = format!(
                    "could not refresh the {} token: {}",
                    self.provider.display_name(),
                    e.message
                );
                if e.status < 500 {
                    e.status = 502;
                }
                Err(e)
            }
        }
    }
}
