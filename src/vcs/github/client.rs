//! The one GitHub shell client: sends the sans-IO requests through `upstream::fetch` with
//! the rate-limit policy and parses each answer with `responses`. Every GitHub REST call of
//! the control plane goes through here (the App's token exchange is in `app`).

use super::responses;
use super::{requests, Config};
use crate::upstream::http::{HttpRequest, HttpResponse};
use crate::vcs::{call, Failure, Identity, NewPullRequest, Page, PullRequest, Repo, TokenGrant};

/// Exchanges a user's refresh token for a new grant (the refresh token rotates).
pub async fn refresh(cfg: &Config, refresh_token: &str) -> Result<TokenGrant, Failure> {
    call(
        &requests::refresh_token(cfg, refresh_token)?,
        responses::token_grant,
    )
    .await
}

/// Exchanges an authorization code and its PKCE verifier for a user's grant.
pub async fn exchange_code(
    cfg: &Config,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<TokenGrant, Failure> {
    call(
        &requests::exchange_code(cfg, code, redirect_uri, verifier)?,
        responses::token_grant,
    )
    .await
}

/// GitHub on behalf of a user (their token) or of the App's installation.
pub struct Client<'a> {
    pub cfg: &'a Config,
    token: &'a str,
    installation: bool,
}

impl<'a> Client<'a> {
    /// Every page of a listing from `first`, next links kept on the API's own origin.
    async fn all_pages<T>(
        &self,
        first: HttpRequest,
        parse: fn(&HttpResponse) -> Result<Page<T>, Failure>,
    ) -> Result<Vec<T>, Failure> {
        crate::vcs::all_pages(first, parse, |next| {
            requests::next_page(self.cfg, self.token, next)
        })
        .await
    }

    /// As the holder of a user's token.
    pub fn user(cfg: &'a Config, token: &'a str) -> Self {
        Self {
            cfg,
            token,
            installation: false,
        }
    }

    /// As the App's installation (its installation token).
    pub fn installation(cfg: &'a Config, token: &'a str) -> Self {
        Self {
            cfg,
            token,
            installation: true,
        }
    }

    /// Every repository the caller can reach (the user's, or the installation's), sorted by
    /// full name.
    pub async fn repos(&self) -> Result<Vec<Repo>, Failure> {
        let mut repos = if self.installation {
            let first = requests::installation_repos(self.cfg, self.token)?;
            self.all_pages(first, responses::installation_repos).await?
        } else {
            let first = requests::user_repos(self.cfg, self.token)?;
            self.all_pages(first, responses::repos).await?
        };
        repos.sort_by(|a, b| a.full_name.cmp(&b.full_name));
        repos.dedup_by(|a, b| a.id == b.id);
        Ok(repos)
    }

    /// The names of the repository's branches.
    pub async fn branches(&self, owner: &str, repo: &str) -> Result<Vec<String>, Failure> {
        let first = requests::branches(self.cfg, self.token, owner, repo)?;
        self.all_pages(first, responses::branches).await
    }

    /// One repository, and whether the caller may push to it.
    pub async fn repository(&self, owner: &str, repo: &str) -> Result<(Repo, bool), Failure> {
        let req = requests::repository(self.cfg, self.token, owner, repo)?;
        call(&req, responses::repository).await
    }

    /// `Some` when the caller may read the repository, `None` when GitHub says 403 or 404.
    pub async fn readable(&self, owner: &str, repo: &str) -> Result<Option<(Repo, bool)>, Failure> {
        match self.repository(owner, repo).await {
            Ok(found) => Ok(Some(found)),
            Err(Failure::NotFound(_) | Failure::Forbidden(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the caller may push: the repository's `permissions.push` for them.
    pub async fn writable(&self, owner: &str, repo: &str) -> Result<bool, Failure> {
        Ok(self
            .readable(owner, repo)
            .await?
            .is_some_and(|(_, push)| push))
    }

    /// Opens a pull request as the caller. One already open for the head branch is someone
    /// else's (a session opens one per head and remembers it): it is never adopted, and the
    /// forge's refusal is answered as a conflict.
    pub async fn create_pull_request(
        &self,
        owner: &str,
        repo: &str,
        pr: &NewPullRequest,
    ) -> Result<PullRequest, Failure> {
        let req = requests::create_pull_request(self.cfg, self.token, owner, repo, pr)?;
        match call(&req, responses::pull_request).await {
            Err(e) if already_exists(&e) => Err(Failure::Api {
                status: 409,
                message: format!(
                    "an open pull request for {} already exists, and this session did not open it",
                    pr.source_branch
                ),
                detail: None,
                fields: None,
            }),
            answer => answer,
        }
    }

    /// One pull request as it is now.
    pub async fn pull_request(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
    ) -> Result<PullRequest, Failure> {
        let req = requests::pull_request(self.cfg, self.token, owner, repo, number)?;
        call(&req, responses::pull_request).await
    }

    /// The user's id, login and name from `/user`, and their primary address if it is
    /// verified (a token that may not read addresses has none).
    pub async fn verified_identity(&self) -> Result<Identity, Failure> {
        let mut identity = call(&requests::user(self.cfg, self.token)?, responses::user).await?;
        identity.email = match call(
            &requests::user_emails(self.cfg, self.token)?,
            responses::primary_email,
        )
        .await
        {
            Ok(email) => email,
            Err(Failure::NotFound(_) | Failure::Forbidden(_)) => None,
            Err(e) => return Err(e),
        };
        Ok(identity)
    }

    /// The user's git identity: [`Client::verified_identity`], with GitHub's no-reply
    /// address when no verified address is readable.
    pub async fn identity(&self) -> Result<Identity, Failure> {
        let mut identity = self.verified_identity().await?;
        identity.email = identity
            .email
            .take()
            .or_else(|| responses::noreply_email(&identity));
        Ok(identity)
    }

    /// Whether the user is an active member of `org`.
    pub async fn active_member_of(&self, org: &str) -> Result<bool, Failure> {
        let req = requests::org_membership(self.cfg, self.token, org)?;
        match call(&req, responses::membership_active).await {
            Ok(active) => Ok(active),
            Err(Failure::NotFound(_) | Failure::Forbidden(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// GitHub's 422 for a head branch that already has an open pull request.
fn already_exists(e: &Failure) -> bool {
    matches!(e, Failure::Api { status: 422, message, detail, .. }
        if format!("{message} {}", detail.as_deref().unwrap_or_default())
            .to_ascii_lowercase()
            .contains("already exists"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::github::error::from_api_at;
    use crate::vcs::github::fixtures::fixture;

    #[test]
    fn only_an_existing_pull_request_is_looked_up() {
        let exists = from_api_at(&HttpResponse::new(422, fixture("pr_exists.json")), 0);
        assert!(already_exists(&exists));
        let none = from_api_at(&HttpResponse::new(422, fixture("pr_no_commits.json")), 0);
        assert!(!already_exists(&none));
    }
}
