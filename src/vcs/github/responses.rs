//! Parsers for GitHub answers: token grants (whose errors come with HTTP 200), installation
//! tokens, pages of repositories (the next page from the `Link` header), a repository with
//! the caller's permissions, pull requests, the user and their e-mail addresses.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error;
use super::requests::next_link;
use crate::upstream::http::HttpResponse;
use crate::vcs::{json_ok, Failure, Identity, Page, PullRequest, Repo, TokenGrant};

/// GitHub App user tokens live 8 hours; assume that when a refresh answer does not say.
const DEFAULT_EXPIRES_IN: i64 = 8 * 3600;

fn ok_json<T: DeserializeOwned>(resp: &HttpResponse) -> Result<T, Failure> {
    json_ok(resp, error::from_api)
}

#[derive(Deserialize)]
struct RawGrant {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Parses the token endpoint's answer: an `error` field is a failure whatever the status
/// (`bad_refresh_token` means sign in again).
pub fn token_grant(resp: &HttpResponse) -> Result<TokenGrant, Failure> {
    if resp.status >= 500 || resp.status == 429 {
        return Err(error::from_api(resp));
    }
    let raw: RawGrant = serde_json::from_str(&resp.body).map_err(|_| {
        if resp.status >= 400 {
            error::from_api(resp)
        } else {
            Failure::Parse("the token answer is not JSON".into())
        }
    })?;
    if let Some(code) = raw.error {
        return Err(error::from_oauth_error(code, raw.error_description));
    }
    if resp.status >= 400 {
        return Err(error::from_api(resp));
    }
    let access_token = raw
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Failure::Parse("empty access_token".into()))?;
    Ok(TokenGrant {
        access_token,
        refresh_token: raw.refresh_token.filter(|r| !r.is_empty()),
        expires_in_secs: raw
            .expires_in
            .filter(|e| *e > 0)
            .unwrap_or(DEFAULT_EXPIRES_IN),
        scopes: raw.scope.filter(|s| !s.is_empty()),
    })
}

/// An installation token and when it expires (Unix ms).
#[derive(Clone, PartialEq, Eq)]
pub struct InstallationToken {
    pub token: String,
    pub expires_at: i64,
}

/// Never prints the token.
impl std::fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallationToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct RawInstallationToken {
    token: String,
    expires_at: String,
}

/// `POST /app/installations/{id}/access_tokens` (201).
pub fn installation_token(resp: &HttpResponse) -> Result<InstallationToken, Failure> {
    let raw: RawInstallationToken = ok_json(resp)?;
    let expires_at = crate::clock::parse_iso8601(&raw.expires_at)
        .ok_or_else(|| Failure::Parse("installation token without a valid expires_at".into()))?;
    if raw.token.is_empty() {
        return Err(Failure::Parse("empty installation token".into()));
    }
    Ok(InstallationToken {
        token: raw.token,
        expires_at,
    })
}

fn page_of<T>(resp: &HttpResponse, values: Vec<T>) -> Page<T> {
    Page {
        values,
        next: resp.header("link").and_then(next_link).map(str::to_string),
    }
}

#[derive(Deserialize)]
struct RawOwner {
    login: String,
}

#[derive(Deserialize, Default)]
struct RawPermissions {
    #[serde(default)]
    push: bool,
}

#[derive(Deserialize)]
struct RawRepo {
    id: u64,
    name: String,
    full_name: String,
    owner: RawOwner,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    permissions: Option<RawPermissions>,
}

impl RawRepo {
    /// The repository, and whether the caller may push to it.
    fn normalize(self) -> (Repo, bool) {
        let push = self.permissions.unwrap_or_default().push;
        let repo = Repo {
            id: self.id.to_string(),
            owner: self.owner.login,
            name: self.name,
            full_name: self.full_name,
            description: self.description.filter(|d| !d.is_empty()),
            private: self.private,
            default_branch: self.default_branch.unwrap_or_else(|| "main".into()),
        };
        (repo, push)
    }
}

/// `GET /user/repos`: a page of repositories.
pub fn repos(resp: &HttpResponse) -> Result<Page<Repo>, Failure> {
    let raw: Vec<RawRepo> = ok_json(resp)?;
    Ok(page_of(
        resp,
        raw.into_iter().map(|r| r.normalize().0).collect(),
    ))
}

#[derive(Deserialize)]
struct RawInstallationRepos {
    repositories: Vec<RawRepo>,
}

/// `GET /installation/repositories`: a page of the installation's repositories.
pub fn installation_repos(resp: &HttpResponse) -> Result<Page<Repo>, Failure> {
    let raw: RawInstallationRepos = ok_json(resp)?;
    let values = raw
        .repositories
        .into_iter()
        .map(|r| r.normalize().0)
        .collect();
    Ok(page_of(resp, values))
}

/// `GET /repos/{owner}/{repo}`: the repository and whether the caller may push to it.
pub fn repository(resp: &HttpResponse) -> Result<(Repo, bool), Failure> {
    Ok(ok_json::<RawRepo>(resp)?.normalize())
}

#[derive(Deserialize)]
struct RawBranch {
    name: String,
}

/// `GET /repos/{owner}/{repo}/branches`: a page of branch names.
pub fn branches(resp: &HttpResponse) -> Result<Page<String>, Failure> {
    let raw: Vec<RawBranch> = ok_json(resp)?;
    Ok(page_of(resp, raw.into_iter().map(|b| b.name).collect()))
}

#[derive(Deserialize)]
struct RawRef {
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Deserialize)]
struct RawPullRequest {
    number: u64,
    html_url: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    head: Option<RawRef>,
    #[serde(default)]
    base: Option<RawRef>,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    merged_by: Option<RawLogin>,
}

#[derive(Deserialize)]
struct RawLogin {
    login: String,
}

impl From<RawPullRequest> for PullRequest {
    fn from(raw: RawPullRequest) -> Self {
        // GitHub's state is open or closed; a closed one that was merged is merged.
        let merged = raw.merged == Some(true) || raw.merged_at.is_some();
        let state = match raw.state {
            Some(s) if s == "closed" && merged => "merged".to_string(),
            Some(s) => s,
            None => "open".into(),
        };
        PullRequest {
            number: raw.number,
            url: raw.html_url,
            state,
            source_branch: raw.head.map(|h| h.name),
            destination_branch: raw.base.map(|b| b.name),
            updated_at: raw
                .updated_at
                .as_deref()
                .and_then(crate::clock::parse_iso8601),
            closed_by: raw.merged_by.map(|u| u.login),
        }
    }
}

/// A pull request: the answer to creating one (201) or to reading one.
pub fn pull_request(resp: &HttpResponse) -> Result<PullRequest, Failure> {
    Ok(ok_json::<RawPullRequest>(resp)?.into())
}

/// `GET /repos/{owner}/{repo}/pulls?...`: the first pull request listed, if any.
pub fn first_pull_request(resp: &HttpResponse) -> Result<Option<PullRequest>, Failure> {
    let raw: Vec<RawPullRequest> = ok_json(resp)?;
    Ok(raw.into_iter().next().map(PullRequest::from))
}

#[derive(Deserialize)]
struct RawUser {
    id: u64,
    login: String,
    #[serde(default)]
    name: Option<String>,
}

/// `GET /user`: id, login and name (the login when the name is not set). The e-mail comes
/// from `primary_email`, else `noreply_email`.
pub fn user(resp: &HttpResponse) -> Result<Identity, Failure> {
    let raw: RawUser = ok_json(resp)?;
    Ok(Identity {
        user_id: Some(raw.id.to_string()),
        name: raw
            .name
            .filter(|n| !n.trim().is_empty())
            .or(Some(raw.login.clone())),
        login: Some(raw.login),
        email: None,
    })
}

#[derive(Deserialize)]
struct RawEmail {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

/// `GET /user/emails`: the primary address if it is verified.
pub fn primary_email(resp: &HttpResponse) -> Result<Option<String>, Failure> {
    let raw: Vec<RawEmail> = ok_json(resp)?;
    Ok(raw
        .into_iter()
        .find(|e| e.primary && e.verified)
        .map(|e| e.email))
}

/// GitHub's no-reply address for a user: `{id}+{login}@users.noreply.github.com`.
pub fn noreply_email(identity: &Identity) -> Option<String> {
    Some(format!(
        "{}+{}@users.noreply.github.com",
        identity.user_id.as_deref()?,
        identity.login.as_deref()?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::github::fixtures::fixture;

    fn ok(name: &str) -> HttpResponse {
        HttpResponse::new(200, fixture(name))
    }

    #[test]
    fn token_grants_and_their_errors_at_200() {
        let g = token_grant(&ok("oauth_token.json")).unwrap();
        assert!(g.access_token.starts_with("ghu_"));
        assert!(g.refresh_token.as_deref().unwrap().starts_with("ghr_"));
        assert_eq!(g.expires_in_secs, 28_800);
        assert!(!format!("{g:?}").contains("ghu_"));
        let bad = token_grant(&ok("oauth_bad_refresh_token.json")).unwrap_err();
        assert!(matches!(bad, Failure::Reauth(ref m) if m.contains("incorrect or expired")));
        let classic = token_grant(&HttpResponse::new(
            200,
            r#"{"access_token":"gho_x","scope":"repo"}"#,
        ))
        .unwrap();
        assert_eq!(classic.refresh_token, None);
        assert!(matches!(
            token_grant(&HttpResponse::new(503, "down")),
            Err(Failure::Upstream { status: 503, .. })
        ));
    }

    #[test]
    fn installation_tokens() {
        let t = installation_token(&HttpResponse::new(201, fixture("installation_token.json")))
            .unwrap();
        assert!(t.token.starts_with("ghs_"));
        assert_eq!(t.expires_at, 1_783_808_050_000);
        assert!(!format!("{t:?}").contains("ghs_"));
    }

    #[test]
    fn repositories_pages_and_permissions() {
        let page = repos(&ok("repos.json").with_header(
            "Link",
            "<http://127.0.0.1:9/user/repos?page=2>; rel=\"next\"",
        ))
        .unwrap();
        assert_eq!(
            page.next.as_deref(),
            Some("http://127.0.0.1:9/user/repos?page=2")
        );
        let r = &page.values[0];
        assert_eq!(
            (
                r.id.as_str(),
                r.owner.as_str(),
                r.name.as_str(),
                r.full_name.as_str()
            ),
            ("1296269", "octocat", "Hello-World", "octocat/Hello-World")
        );
        assert_eq!(r.default_branch, "master");
        assert!(r.private);
        let app = installation_repos(&ok("github_app_repos.json")).unwrap();
        assert_eq!(app.values.len(), 1);
        assert_eq!(app.next, None);
        let (repo, push) = repository(&ok("repo.json")).unwrap();
        assert_eq!(repo.full_name, "octocat/Hello-World");
        assert!(push);
        let branches = branches(&HttpResponse::new(
            200,
            format!("[{}]", fixture("branch.json")),
        ))
        .unwrap();
        assert_eq!(branches.values, vec!["master".to_string()]);
    }

    #[test]
    fn pull_requests() {
        let pr = pull_request(&HttpResponse::new(201, fixture("pr.json"))).unwrap();
        assert_eq!(pr.number, 1347);
        assert_eq!(pr.url, "https://github.com/octocat/Hello-World/pull/1347");
        assert_eq!(pr.state, "open");
        assert_eq!(pr.source_branch.as_deref(), Some("new-topic"));
        let found = first_pull_request(&ok("pulls.json")).unwrap().unwrap();
        assert_eq!(found.number, 1347);
        assert_eq!(
            first_pull_request(&HttpResponse::new(200, "[]")).unwrap(),
            None
        );
    }

    #[test]
    fn identity_with_fallbacks() {
        let me = user(&ok("user.json")).unwrap();
        assert_eq!(me.user_id.as_deref(), Some("1"));
        assert_eq!(me.login.as_deref(), Some("octocat"));
        assert_eq!(me.name.as_deref(), Some("monalisa octocat"));
        assert_eq!(
            primary_email(&ok("emails.json")).unwrap().as_deref(),
            Some("octocat@github.com")
        );
        let unverified = r#"[{"email":"a@b.c","primary":true,"verified":false}]"#;
        assert_eq!(
            primary_email(&HttpResponse::new(200, unverified)).unwrap(),
            None
        );
        assert_eq!(
            noreply_email(&me).as_deref(),
            Some("1+octocat@users.noreply.github.com")
        );
        let nameless = user(&HttpResponse::new(
            200,
            r#"{"id":2,"login":"hubot","name":null}"#,
        ))
        .unwrap();
        assert_eq!(nameless.name.as_deref(), Some("hubot"));
    }
}
