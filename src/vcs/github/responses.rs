//! Parsers for GitHub answers: token grants (whose errors come with HTTP 200), installation
//! tokens, pages of repositories (the next page from the `Link` header), a repository with
//! the caller's permissions, pull requests, the user and their e-mail addresses.

use serde_json::Value;

use super::error;
use super::requests::next_link;
use crate::json::{self, Field};
use crate::upstream::http::HttpResponse;
use crate::vcs::{json_ok, missing, Failure, Identity, Page, PullRequest, Repo, TokenGrant};

/// GitHub App user tokens live 8 hours; assume that when a refresh answer does not say.
const DEFAULT_EXPIRES_IN: i64 = 8 * 3600;

fn ok_json(resp: &HttpResponse) -> Result<Value, Failure> {
    json_ok(resp, error::from_api)
}

/// Parses the token endpoint's answer: an `error` field is a failure whatever the status
/// (`bad_refresh_token` means sign in again).
pub fn token_grant(resp: &HttpResponse) -> Result<TokenGrant, Failure> {
    if resp.status >= 500 || resp.status == 429 {
        return Err(error::from_api(resp));
    }
    let Some(body) = json::parse(&resp.body).filter(Value::is_object) else {
        return Err(if resp.status >= 400 {
            error::from_api(resp)
        } else {
            Failure::Parse("the token answer is not JSON".into())
        });
    };
    let raw = Field::of(&body);
    if let Some(code) = raw.text("error") {
        return Err(error::from_oauth_error(code, raw.text("error_description")));
    }
    if resp.status >= 400 {
        return Err(error::from_api(resp));
    }
    let access_token = raw
        .text("access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Failure::Parse("empty access_token".into()))?;
    Ok(TokenGrant {
        access_token,
        refresh_token: raw.text("refresh_token").filter(|r| !r.is_empty()),
        expires_in_secs: raw
            .int("expires_in")
            .filter(|e| *e > 0)
            .unwrap_or(DEFAULT_EXPIRES_IN),
        scopes: raw.text("scope").filter(|s| !s.is_empty()),
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

/// `POST /app/installations/{id}/access_tokens` (201).
pub fn installation_token(resp: &HttpResponse) -> Result<InstallationToken, Failure> {
    let body = ok_json(resp)?;
    let raw = Field::of(&body);
    let expires_at = raw
        .get("expires_at")
        .str()
        .and_then(crate::clock::parse_iso8601)
        .ok_or_else(|| Failure::Parse("installation token without a valid expires_at".into()))?;
    let token = raw
        .text("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Failure::Parse("empty installation token".into()))?;
    Ok(InstallationToken { token, expires_at })
}

/// The items of `list`, each read by `item`, with the next page from the `Link` header.
fn page_of<T>(
    resp: &HttpResponse,
    list: Field,
    item: fn(Field) -> Result<T, Failure>,
) -> Result<Page<T>, Failure> {
    if !list.is_array() {
        return Err(missing("list"));
    }
    Ok(Page {
        values: list.items().map(item).collect::<Result<_, _>>()?,
        next: resp.header("link").and_then(next_link).map(str::to_string),
    })
}

/// A repository, and whether the caller may push to it.
fn repo_and_push(raw: Field) -> Result<(Repo, bool), Failure> {
    let repo = Repo {
        id: raw.uint("id").ok_or_else(|| missing("repository id"))?,
        owner: raw
            .get("owner")
            .text("login")
            .ok_or_else(|| missing("repository owner"))?,
        name: raw.text("name").ok_or_else(|| missing("repository name"))?,
        full_name: raw
            .text("full_name")
            .ok_or_else(|| missing("repository full_name"))?,
        description: raw.text("description").filter(|d| !d.is_empty()),
        private: raw.flag("private"),
        default_branch: raw.text("default_branch").unwrap_or_else(|| "main".into()),
        archived: raw.flag("archived"),
    };
    Ok((repo, raw.get("permissions").flag("push")))
}

fn repo(raw: Field) -> Result<Repo, Failure> {
    repo_and_push(raw).map(|(repo, _)| repo)
}

/// `GET /user/repos`: a page of repositories.
pub fn repos(resp: &HttpResponse) -> Result<Page<Repo>, Failure> {
    page_of(resp, Field::of(&ok_json(resp)?), repo)
}

/// `GET /installation/repositories`: a page of the installation's repositories.
pub fn installation_repos(resp: &HttpResponse) -> Result<Page<Repo>, Failure> {
    page_of(resp, Field::of(&ok_json(resp)?).get("repositories"), repo)
}

/// `GET /repos/{owner}/{repo}`: the repository and whether the caller may push to it.
pub fn repository(resp: &HttpResponse) -> Result<(Repo, bool), Failure> {
    repo_and_push(Field::of(&ok_json(resp)?))
}

/// `GET /repos/{owner}/{repo}/branches`: a page of branch names.
pub fn branches(resp: &HttpResponse) -> Result<Page<String>, Failure> {
    page_of(resp, Field::of(&ok_json(resp)?), |b| {
        b.text("name").ok_or_else(|| missing("branch name"))
    })
}

/// A pull request as GitHub describes it.
fn pr(raw: Field) -> Result<PullRequest, Failure> {
    // GitHub's state is open or closed; a closed one that was merged is merged.
    let merged = raw.flag("merged") || !raw.get("merged_at").is_absent();
    let state = match raw.text("state") {
        Some(s) if s == "closed" && merged => "merged".to_string(),
        Some(s) => s,
        None => "open".into(),
    };
    Ok(PullRequest {
        number: raw
            .uint("number")
            .ok_or_else(|| missing("pull request number"))?,
        url: raw
            .text("html_url")
            .ok_or_else(|| missing("pull request html_url"))?,
        state,
        source_branch: raw.get("head").text("ref"),
        destination_branch: raw.get("base").text("ref"),
        updated_at: raw
            .get("updated_at")
            .str()
            .and_then(crate::clock::parse_iso8601),
        closed_by: raw.get("merged_by").text("login"),
    })
}

/// A pull request: the answer to creating one (201) or to reading one.
pub fn pull_request(resp: &HttpResponse) -> Result<PullRequest, Failure> {
    pr(Field::of(&ok_json(resp)?))
}

/// `GET /repos/{owner}/{repo}/pulls?...`: the first pull request listed, if any.
pub fn first_pull_request(resp: &HttpResponse) -> Result<Option<PullRequest>, Failure> {
    Ok(page_of(resp, Field::of(&ok_json(resp)?), pr)?
        .values
        .into_iter()
        .next())
}

/// `GET /user`: id, login and name (the login when the name is not set). The e-mail comes
/// from `primary_email`, else `noreply_email`.
pub fn user(resp: &HttpResponse) -> Result<Identity, Failure> {
    let body = ok_json(resp)?;
    let raw = Field::of(&body);
    let id = raw.uint("id").ok_or_else(|| missing("user id"))?;
    let login = raw.text("login").ok_or_else(|| missing("user login"))?;
    Ok(Identity {
        user_id: Some(id.to_string()),
        name: raw
            .text("name")
            .filter(|n| !n.trim().is_empty())
            .or(Some(login.clone())),
        login: Some(login),
        email: None,
    })
}

/// `GET /user/emails`: the primary address if it is verified.
pub fn primary_email(resp: &HttpResponse) -> Result<Option<String>, Failure> {
    let body = ok_json(resp)?;
    let list = Field::of(&body);
    if !list.is_array() {
        return Err(missing("list"));
    }
    let primary = list
        .items()
        .find(|e| e.flag("primary") && e.flag("verified"))
        .and_then(|e| e.text("email"));
    Ok(primary)
}

/// `GET /user/memberships/orgs/{org}`: whether the membership is active (not pending).
pub fn membership_active(resp: &HttpResponse) -> Result<bool, Failure> {
    let body = ok_json(resp)?;
    Ok(Field::of(&body).text("state").as_deref() == Some("active"))
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
                r.id,
                r.owner.as_str(),
                r.name.as_str(),
                r.full_name.as_str()
            ),
            (1296269, "octocat", "Hello-World", "octocat/Hello-World")
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
