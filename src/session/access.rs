//! Repository access checked as the user (`REPO_ACCESS=user`, the default): before a session
//! is created, before anyone joins, gets a ws-token or prompts, and before each clone, the user's own token must read the repository; before
//! each push it must write to it. Bot credentials are used only after that. Fails closed: no
//! token, a revoked one, or a refusal stops the work. Allowed answers are cached for a few
//! minutes in KV (one provider call per user, repository and level). `REPO_ACCESS=deployment`
//! is Open-Inspect's model: the web app decides who may use the deployment.

use crate::auth::credentials::Credentials;
use crate::auth::random::sha256_hex;
use crate::config::{self, RepoAccess};
use crate::error::{ApiError, ApiResult};
use crate::session::ctx::Ctx;
use crate::session::model::SessionRow;
use crate::vcs::repos_cache::Cache;
use crate::vcs::{Client, Repo, VcsProvider};

/// How long an allowed answer is trusted.
const CACHE_TTL_SECS: u64 = 300;

/// What the user must be able to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Clone: the repository answers 200 with the user's token.
    Read,
    /// Push: Bitbucket lists the repository among those the user contributes to; GitHub
    /// says `permissions.push` for them.
    Write,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
        }
    }
}

/// The user and the repository to check.
pub struct Ask<'a> {
    pub provider: VcsProvider,
    pub user_id: &'a str,
    /// A token the user just brought (session creation), else their stored credentials.
    pub token: Option<&'a str>,
    pub workspace: &'a str,
    pub slug: &'a str,
    pub level: Level,
}

fn cache_key(ask: &Ask<'_>) -> String {
    let repo = format!("{}/{}", ask.workspace, ask.slug);
    format!(
        "access:v1:{}:{}:{}:{}",
        ask.provider.as_str(),
        sha256_hex(ask.user_id),
        sha256_hex(&repo),
        ask.level.as_str()
    )
}

fn refused(ask: &Ask<'_>) -> ApiError {
    let repo = format!("{}/{}", ask.workspace, ask.slug);
    let name = ask.provider.display_name();
    match ask.level {
        Level::Read => ApiError::not_found(format!(
            "the repository {repo} was not found, or the user cannot read it with their own {name} account"
        )),
        Level::Write => ApiError::forbidden(format!(
            "the user cannot push to {repo} with their own {name} account"
        )),
    }
}

/// Checks `ask` (nothing to check with `REPO_ACCESS=deployment`). Answers the repository
/// when a read check fetched it (its main branch saves a call).
pub async fn require(ctx: &Ctx, ask: &Ask<'_>) -> ApiResult<Option<Repo>> {
    if config::repo_access(&ctx.env) == RepoAccess::Deployment {
        return Ok(None);
    }
    let cache = Cache::open(&ctx.env)?;
    let key = cache_key(ask);
    if cache.get(&key).await.is_some() {
        return Ok(None);
    }
    let cfg = config::vcs(&ctx.env, ask.provider);
    let (token, stored) = match ask.token {
        Some(t) => (t.to_string(), None),
        None => {
            let creds = Credentials::new(&ctx.env, ask.provider)?;
            let fresh = creds.access_token(ask.user_id).await?;
            (fresh.token, Some((creds, fresh.version)))
        }
    };
    let client = Client::user(&cfg, &token);
    let answer = match ask.level {
        Level::Read => client
            .readable(ask.workspace, ask.slug)
            .await
            .map(|r| (r.is_some(), r)),
        Level::Write => client
            .writable(ask.workspace, ask.slug)
            .await
            .map(|w| (w, None)),
    };
    let (allowed, repo) = match answer {
        Ok(a) => a,
        Err(e) => {
            if let (true, Some((creds, version))) = (e.is_reauth(), stored) {
                creds.mark_reauth(ask.user_id, version).await?;
            }
            return Err(e.into());
        }
    };
    if !allowed {
        return Err(refused(ask));
    }
    if let Err(e) = cache.put(&key, &true, CACHE_TTL_SECS).await {
        ctx.warn("could not cache a repository access check", e);
    }
    Ok(repo)
}

/// The check at every door (joining, a ws-token, each prompt): `user_id` must read the
/// session's repository with their own account, with `token` if they just brought one, else
/// their stored credentials (`REPO_ACCESS=user`; cached, fails closed).
pub async fn require_reader(
    ctx: &Ctx,
    session: &SessionRow,
    user_id: &str,
    token: Option<&str>,
) -> ApiResult<()> {
    let ask = Ask {
        provider: session.vcs_provider,
        user_id,
        token,
        workspace: &session.repo_owner,
        slug: &session.repo_name,
        level: Level::Read,
    };
    require(ctx, &ask).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(user: &'static str, repo: &'static str, level: Level) -> Ask<'static> {
        Ask {
            provider: VcsProvider::Bitbucket,
            user_id: user,
            token: Some("SECRET-TOKEN"),
            workspace: "acme",
            slug: repo,
            level,
        }
    }

    #[test]
    fn cache_keys_are_per_user_repository_and_level_and_hold_no_secret() {
        let k = cache_key(&ask("u1", "web", Level::Read));
        assert!(!k.contains("SECRET") && !k.contains("u1") && !k.contains("web"));
        assert_ne!(k, cache_key(&ask("u2", "web", Level::Read)));
        assert_ne!(k, cache_key(&ask("u1", "api", Level::Read)));
        assert_ne!(k, cache_key(&ask("u1", "web", Level::Write)));
    }

    #[test]
    fn refusals_are_404_to_read_and_403_to_write() {
        assert_eq!(refused(&ask("u", "web", Level::Read)).status, 404);
        assert_eq!(refused(&ask("u", "web", Level::Write)).status, 403);
    }
}
