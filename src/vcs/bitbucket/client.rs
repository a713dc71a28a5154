//! The one Bitbucket shell client: sends the sans-IO requests through `upstream::fetch`
//! with the rate-limit policy, and parses each answer with `responses`. Every Bitbucket
//! call of the control plane goes through here.

use futures::{StreamExt, TryStreamExt};

use super::requests;
use super::responses;
use super::Config;
use crate::upstream::http::{Auth, HttpRequest, HttpResponse};
use crate::vcs::{call, Failure, Identity, NewPullRequest, Page, PullRequest, Repo, TokenGrant};

/// Workspaces listed at the same time, at most.
pub const WORKSPACES_IN_FLIGHT: usize = 4;

/// Exchanges a refresh token for a new grant (the refresh token may rotate).
pub async fn refresh(cfg: &Config, refresh_token: &str) -> Result<TokenGrant, Failure> {
    call(
        &requests::refresh_token(cfg, refresh_token)?,
        responses::token_grant,
    )
    .await
}

/// Exchanges an authorization code (the consumer's callback) for a grant.
pub async fn exchange_code(cfg: &Config, code: &str) -> Result<TokenGrant, Failure> {
    call(&requests::exchange_code(cfg, code)?, responses::token_grant).await
}

/// Bitbucket on behalf of one user (their access token) or the bot (its API token).
pub struct Client<'a> {
    pub cfg: &'a Config,
    pub auth: Auth<'a>,
}

impl<'a> Client<'a> {
    /// Every page of a listing from `first`, next links kept on the API's own origin.
    async fn all_pages<T>(
        &self,
        first: HttpRequest,
        parse: fn(&HttpResponse) -> Result<Page<T>, Failure>,
    ) -> Result<Vec<T>, Failure> {
        crate::vcs::all_pages(first, parse, |next| {
            requests::next_page(self.cfg, self.auth, next)
        })
        .await
    }

    /// As the holder of `token` (a user's OAuth token).
    pub fn new(cfg: &'a Config, token: &'a str) -> Self {
        Self {
            cfg,
            auth: Auth::Bearer(token),
        }
    }

    /// As the bot: its Atlassian account e-mail and API token, as HTTP Basic.
    pub fn bot(cfg: &'a Config, email: &'a str, api_token: &'a str) -> Self {
        Self {
            cfg,
            auth: Auth::Basic {
                user: email,
                secret: api_token,
            },
        }
    }

    /// The names of the repository's branches.
    pub async fn branches(&self, workspace: &str, slug: &str) -> Result<Vec<String>, Failure> {
        let first = requests::branches(self.cfg, self.auth, workspace, slug)?;
        self.all_pages(first, responses::branches).await
    }

    /// One repository (its main branch among others).
    pub async fn repository(&self, workspace: &str, slug: &str) -> Result<Repo, Failure> {
        let req = requests::repository(self.cfg, self.auth, workspace, slug)?;
        call(&req, responses::repository).await
    }

    /// Whether the caller may read the repository: `Some(repo)` when it answers 200, `None`
    /// when Bitbucket says 403 or 404.
    pub async fn readable(&self, workspace: &str, slug: &str) -> Result<Option<Repo>, Failure> {
        match self.repository(workspace, slug).await {
            Ok(repo) => Ok(Some(repo)),
            Err(Failure::NotFound(_) | Failure::Forbidden(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the caller may write to the repository: it is listed among the workspace's
    /// repositories they contribute to.
    pub async fn writable(&self, workspace: &str, slug: &str) -> Result<bool, Failure> {
        let req = requests::contributor_repo(self.cfg, self.auth, workspace, slug)?;
        match call(&req, responses::repos).await {
            Ok(page) => Ok(page.values.iter().any(|r| {
                r.name.eq_ignore_ascii_case(slug)
                    || r.full_name
                        .eq_ignore_ascii_case(&format!("{workspace}/{slug}"))
            })),
            Err(Failure::NotFound(_) | Failure::Forbidden(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Opens a pull request as the user.
    pub async fn create_pull_request(
        &self,
        workspace: &str,
        slug: &str,
        pr: &NewPullRequest,
    ) -> Result<PullRequest, Failure> {
        let req = requests::create_pull_request(self.cfg, self.auth, workspace, slug, pr)?;
        call(&req, responses::pull_request).await
    }

    /// One pull request as it is now.
    pub async fn pull_request(
        &self,
        workspace: &str,
        slug: &str,
        id: u64,
    ) -> Result<PullRequest, Failure> {
        let req = requests::pull_request(self.cfg, self.auth, workspace, slug, id)?;
        call(&req, responses::pull_request).await
    }

    /// The user's git identity: display name from `/user`, and the primary, confirmed
    /// address from `/user/emails`.
    pub async fn identity(&self) -> Result<Identity, Failure> {
        let mut identity = call(&requests::user(self.cfg, self.auth)?, responses::user).await?;
        identity.email = call(
            &requests::user_emails(self.cfg, self.auth)?,
            responses::primary_email,
        )
        .await?;
        Ok(identity)
    }

    /// The slugs of the workspaces the user belongs to.
    pub async fn workspaces(&self) -> Result<Vec<String>, Failure> {
        let first = requests::user_workspaces(self.cfg, self.auth)?;
        self.all_pages(first, responses::workspaces).await
    }

    /// Every repository of every workspace the user belongs to, sorted by full name:
    /// workspaces first, then each one's repositories page by page, a few at a time.
    pub async fn repos(&self) -> Result<Vec<Repo>, Failure> {
        let workspaces = self.workspaces().await?;
        let per_workspace: Vec<Vec<Repo>> = futures::stream::iter(workspaces)
            .map(|ws| async move {
                let first = requests::workspace_repos(self.cfg, self.auth, &ws)?;
                self.all_pages(first, responses::repos).await
            })
            .buffer_unordered(WORKSPACES_IN_FLIGHT)
            .try_collect()
            .await?;
        let mut repos: Vec<Repo> = per_workspace.into_iter().flatten().collect();
        repos.sort_by(|a, b| a.full_name.cmp(&b.full_name));
        repos.dedup_by(|a, b| a.id == b.id);
        Ok(repos)
    }
}
