//! The only SQL of sign-in (D1): users, the provider accounts they sign in with, and their
//! browser sessions. A session's cookie holds a random token; only its SHA-256 is stored.

use worker::{D1Database, D1PreparedStatement, Env};

use crate::auth::random;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::identity::settings::Provider;
use crate::log::{self, D1};
use crate::rows::{self, bind_int, bind_opt_text, FromRow, Read, Row};
use crate::vcs::VcsProvider;

/// How long a browser session lives (Open-Inspect's seven days).
pub const SESSION_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// A session in use is extended to a full [`SESSION_TTL_MS`] once a day.
pub const SESSION_EXTEND_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

/// The new expiry of a session seen at `now`, when a day has passed since it was last set.
pub fn extended_expiry(expires_at: i64, now: i64) -> Option<i64> {
    (expires_at - SESSION_TTL_MS + SESSION_EXTEND_AFTER_MS <= now).then_some(now + SESSION_TTL_MS)
}

/// Who signed in, as the provider described them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// The provider's stable id of the account (GitHub's number, Bitbucket's uuid).
    pub account_id: String,
    pub login: Option<String>,
    pub name: Option<String>,
    /// The verified primary address.
    pub email: Option<String>,
    pub image: Option<String>,
}

/// A user as get-session shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub image: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A browser session and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub user: User,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

impl FromRow for Session {
    fn from_row(r: &Row) -> Read<Self> {
        let user = User {
            id: r.text("user_id"),
            name: r.opt_text("name"),
            email: r.opt_text("email"),
            email_verified: r.int("email_verified") != 0,
            image: r.opt_text("image"),
            created_at: r.int("user_created_at"),
            updated_at: r.int("user_updated_at"),
        };
        r.done(Session {
            id: r.text("id"),
            user,
            expires_at: r.int("expires_at"),
            created_at: r.int("created_at"),
            updated_at: r.int("updated_at"),
            ip_address: r.opt_text("ip_address"),
            user_agent: r.opt_text("user_agent"),
        })
    }
}

/// The one text column `v` of a row.
struct Text(String);

impl FromRow for Text {
    fn from_row(r: &Row) -> Read<Self> {
        r.done(Text(r.text("v")))
    }
}

/// One provider account of a user, as the account list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub provider: String,
    pub account_id: String,
    pub login: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl FromRow for Account {
    fn from_row(r: &Row) -> Read<Self> {
        r.done(Account {
            id: r.text("id"),
            provider: r.text("provider"),
            account_id: r.text("provider_user_id"),
            login: r.opt_text("login"),
            created_at: r.int("created_at"),
            updated_at: r.int("updated_at"),
        })
    }
}

/// One forge's credentials of a user: whose they are, and whether the forge refused them.
struct StoredCredential {
    provider: VcsProvider,
    refused: bool,
}

impl FromRow for StoredCredential {
    fn from_row(r: &Row) -> Read<Self> {
        let provider = r.state("provider", VcsProvider::parse)?;
        let refused = r.int("needs_reauth") != 0;
        r.done(StoredCredential { provider, refused })
    }
}

/// The forges of `stored` whose credentials were not refused.
pub fn usable(stored: &[(VcsProvider, bool)]) -> Vec<VcsProvider> {
    stored
        .iter()
        .filter(|(_, refused)| !refused)
        .map(|(p, _)| *p)
        .collect()
}

/// Why an account cannot be linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefused {
    /// It is another user's account.
    OtherUsers,
}

fn new_id() -> ApiResult<String> {
    random::id().map_err(|_| ApiError::internal("no randomness"))
}

pub struct Users {
    db: D1Database,
}

impl Users {
    pub fn new(env: &Env) -> ApiResult<Self> {
        Ok(Users { db: env.d1("DB")? })
    }

    /// The user whose account at `provider` is `account_id`, if any.
    async fn owner(&self, provider: Provider, account_id: &str) -> ApiResult<Option<String>> {
        log::d1(D1::Read);
        let stmt = self
            .db
            .prepare(
                "SELECT user_id AS v FROM user_identities WHERE provider = ?1 AND provider_user_id = ?2",
            )
            .bind(&[provider.as_str().into(), account_id.into()])?;
        Ok(rows::d1_first::<Text>(&stmt).await?.map(|t| t.0))
    }

    /// The statement that records `profile` as `user_id`'s account at `provider`.
    fn insert_identity(
        &self,
        user_id: &str,
        provider: Provider,
        profile: &Profile,
    ) -> ApiResult<D1PreparedStatement> {
        Ok(self
            .db
            .prepare(
                "INSERT INTO user_identities (id, user_id, provider, provider_user_id, login,
                    created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            )
            .bind(&[
                new_id()?.into(),
                user_id.into(),
                provider.as_str().into(),
                profile.account_id.as_str().into(),
                bind_opt_text(profile.login.as_deref()),
                bind_int(now_ms()),
            ])?)
    }

    /// The user who signs in with `provider`'s account `profile`: the one it signed in
    /// before, updated, or a new one. Answers the user id.
    pub async fn sign_in(&self, provider: Provider, profile: &Profile) -> ApiResult<String> {
        let known = self.owner(provider, &profile.account_id).await?;
        let now = bind_int(now_ms());
        let (name, email, image, login) = (
            bind_opt_text(profile.name.as_deref()),
            bind_opt_text(profile.email.as_deref()),
            bind_opt_text(profile.image.as_deref()),
            bind_opt_text(profile.login.as_deref()),
        );
        let verified = bind_int(i64::from(profile.email.is_some()));
        if let Some(user_id) = known {
            log::d1(D1::Write);
            let update_user = self
                .db
                .prepare(
                    "UPDATE users SET name = COALESCE(?2, name), email = COALESCE(?3, email),
                        email_verified = MAX(email_verified, ?4), image = COALESCE(?5, image),
                        updated_at = ?6 WHERE id = ?1",
                )
                .bind(&[
                    user_id.as_str().into(),
                    name,
                    email,
                    verified,
                    image,
                    now.clone(),
                ])?;
            let update_identity = self
                .db
                .prepare(
                    "UPDATE user_identities SET login = ?3, updated_at = ?4
                     WHERE provider = ?1 AND provider_user_id = ?2",
                )
                .bind(&[
                    provider.as_str().into(),
                    profile.account_id.as_str().into(),
                    login,
                    now,
                ])?;
            rows::d1_batch(&self.db, &[update_user, update_identity]).await?;
            return Ok(user_id);
        }
        let user_id = new_id()?;
        log::d1(D1::Write);
        let insert_user = self
            .db
            .prepare(
                "INSERT INTO users (id, name, email, email_verified, image, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            )
            .bind(&[
                user_id.as_str().into(),
                name,
                email,
                verified,
                image,
                now.clone(),
            ])?;
        let insert_identity = self.insert_identity(&user_id, provider, profile)?;
        rows::d1_batch(&self.db, &[insert_user, insert_identity]).await?;
        Ok(user_id)
    }

    /// The user's provider accounts, oldest first.
    pub async fn accounts(&self, user_id: &str) -> ApiResult<Vec<Account>> {
        log::d1(D1::Read);
        let stmt = self
            .db
            .prepare(
                "SELECT id, provider, provider_user_id, login, created_at, updated_at
                 FROM user_identities WHERE user_id = ?1 ORDER BY created_at, id",
            )
            .bind(&[user_id.into()])?;
        rows::d1_all(&stmt).await
    }

    /// Links `provider`'s account `profile` to `user_id` (in place of the account of that
    /// provider it had); an account of another user is refused.
    pub async fn link(
        &self,
        user_id: &str,
        provider: Provider,
        profile: &Profile,
    ) -> ApiResult<Result<(), LinkRefused>> {
        if let Some(owner) = self.owner(provider, &profile.account_id).await? {
            if owner != user_id {
                return Ok(Err(LinkRefused::OtherUsers));
            }
        }
        log::d1(D1::Write);
        let replace = self
            .db
            .prepare("DELETE FROM user_identities WHERE user_id = ?1 AND provider = ?2")
            .bind(&[user_id.into(), provider.as_str().into()])?;
        let insert = self.insert_identity(user_id, provider, profile)?;
        rows::d1_batch(&self.db, &[replace, insert]).await?;
        Ok(Ok(()))
    }

    /// The providers of the user's accounts whose credentials are gone or refused: they
    /// must be connected again.
    pub async fn needing_reauth(&self, user_id: &str) -> ApiResult<Vec<String>> {
        log::d1(D1::Read);
        let stmt = self
            .db
            .prepare(
                "SELECT i.provider AS v FROM user_identities i
                 LEFT JOIN user_scm_tokens t ON t.provider = i.provider AND t.user_id = i.user_id
                 WHERE i.user_id = ?1 AND (t.user_id IS NULL OR t.needs_reauth = 1)
                 ORDER BY i.provider",
            )
            .bind(&[user_id.into()])?;
        let rows: Vec<Text> = rows::d1_all(&stmt).await?;
        Ok(rows.into_iter().map(|p| p.0).collect())
    }

    /// The forges the user has credentials at, each with whether the forge refused them.
    pub async fn credentials(&self, user_id: &str) -> ApiResult<Vec<(VcsProvider, bool)>> {
        log::d1(D1::Read);
        let stmt = self
            .db
            .prepare(
                "SELECT provider, needs_reauth FROM user_scm_tokens
                 WHERE user_id = ?1 ORDER BY provider",
            )
            .bind(&[user_id.into()])?;
        let rows: Vec<StoredCredential> = rows::d1_all(&stmt).await?;
        Ok(rows.into_iter().map(|c| (c.provider, c.refused)).collect())
    }

    /// The forges whose credentials the user has and that are not refused.
    pub async fn connected(&self, user_id: &str) -> ApiResult<Vec<VcsProvider>> {
        Ok(usable(&self.credentials(user_id).await?))
    }

    /// Unlinks the user's account at `provider`; answers whether there was one.
    pub async fn unlink(&self, user_id: &str, provider: &str) -> ApiResult<bool> {
        log::d1(D1::Write);
        let stmt = self
            .db
            .prepare("DELETE FROM user_identities WHERE user_id = ?1 AND provider = ?2")
            .bind(&[user_id.into(), provider.into()])?;
        Ok(rows::d1_changes(&stmt).await? > 0)
    }

    /// Starts a browser session for `user_id`; answers the cookie's token.
    pub async fn start_session(
        &self,
        user_id: &str,
        ip_address: Option<&str>,
        user_agent: Option<&str>,
    ) -> ApiResult<String> {
        let token = random::token().map_err(|_| ApiError::internal("no randomness"))?;
        let now = now_ms();
        log::d1(D1::Write);
        let insert = self
            .db
            .prepare(
                "INSERT INTO auth_sessions (id, token_hash, user_id, expires_at, ip_address,
                    user_agent, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )
            .bind(&[
                new_id()?.into(),
                random::sha256_hex(&token).into(),
                user_id.into(),
                bind_int(now + SESSION_TTL_MS),
                bind_opt_text(ip_address),
                bind_opt_text(user_agent),
                bind_int(now),
            ])?;
        rows::d1_changes(&insert).await?;
        Ok(token)
    }

    /// The live session of a cookie's token (an expired one is removed).
    pub async fn session(&self, token: &str) -> ApiResult<Option<Session>> {
        log::d1(D1::Read);
        let stmt = self
            .db
            .prepare(
                "SELECT s.id, s.user_id, s.expires_at, s.ip_address, s.user_agent, s.created_at,
                    s.updated_at, u.name, u.email, u.email_verified, u.image,
                    u.created_at AS user_created_at, u.updated_at AS user_updated_at
                 FROM auth_sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1",
            )
            .bind(&[random::sha256_hex(token).into()])?;
        match rows::d1_first::<Session>(&stmt).await? {
            Some(s) if s.expires_at > now_ms() => Ok(Some(s)),
            Some(_) => {
                self.end_session(token).await?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Moves a session's expiry to `expires_at`.
    pub async fn extend_session(&self, session_id: &str, expires_at: i64) -> ApiResult<()> {
        log::d1(D1::Write);
        let stmt = self
            .db
            .prepare("UPDATE auth_sessions SET expires_at = ?2, updated_at = ?3 WHERE id = ?1")
            .bind(&[session_id.into(), bind_int(expires_at), bind_int(now_ms())])?;
        rows::d1_changes(&stmt).await?;
        Ok(())
    }

    /// Ends the session of a cookie's token.
    pub async fn end_session(&self, token: &str) -> ApiResult<()> {
        log::d1(D1::Write);
        let stmt = self
            .db
            .prepare("DELETE FROM auth_sessions WHERE token_hash = ?1")
            .bind(&[random::sha256_hex(token).into()])?;
        rows::d1_changes(&stmt).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_in_use_is_extended_once_a_day() {
        let start = 1_000_000_000;
        let expires = start + SESSION_TTL_MS;
        assert_eq!(extended_expiry(expires, start + 1000), None);
        assert_eq!(
            extended_expiry(expires, start + SESSION_EXTEND_AFTER_MS - 1),
            None
        );
        let day = start + SESSION_EXTEND_AFTER_MS;
        assert_eq!(extended_expiry(expires, day), Some(day + SESSION_TTL_MS));
    }
}
