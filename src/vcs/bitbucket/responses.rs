//! Parsers for Bitbucket Cloud answers: token grants, pages of values, users, e-mail
//! addresses, workspaces and repositories, normalized to our types.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error;
use crate::upstream::http::HttpResponse;
use crate::vcs::{json_ok, Failure};
use crate::vcs::{Identity, Page, PullRequest, Repo, TokenGrant};

#[derive(Deserialize)]
struct RawGrant {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    scopes: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// Bitbucket's access tokens live one to two hours; assume one when it does not say.
const DEFAULT_EXPIRES_IN: i64 = 3600;

fn ok_json<T: DeserializeOwned>(resp: &HttpResponse, oauth: bool) -> Result<T, Failure> {
    let classify = if oauth {
        error::from_oauth
    } else {
        error::from_api
    };
    json_ok(resp, classify)
}

/// Parses the token endpoint's answer (`scope` or `scopes` accepted).
pub fn token_grant(resp: &HttpResponse) -> Result<TokenGrant, Failure> {
    let raw: RawGrant = ok_json(resp, true)?;
    if raw.access_token.is_empty() {
        return Err(Failure::Parse("empty access_token".into()));
    }
    Ok(TokenGrant {
        access_token: raw.access_token,
        refresh_token: raw.refresh_token.filter(|r| !r.is_empty()),
        expires_in_secs: raw
            .expires_in
            .filter(|e| *e > 0)
            .unwrap_or(DEFAULT_EXPIRES_IN),
        scopes: raw.scopes.or(raw.scope),
    })
}

#[derive(Deserialize)]
struct RawPage<T> {
    #[serde(default = "Vec::new")]
    values: Vec<T>,
    #[serde(default)]
    next: Option<String>,
}

pub fn page<T: DeserializeOwned>(resp: &HttpResponse) -> Result<Page<T>, Failure> {
    let raw: RawPage<T> = ok_json(resp, false)?;
    Ok(Page {
        values: raw.values,
        next: raw.next.filter(|n| !n.is_empty()),
    })
}

#[derive(Deserialize)]
struct RawWorkspaceAccess {
    workspace: RawWorkspace,
}

#[derive(Deserialize)]
struct RawWorkspace {
    slug: String,
}

/// A page of `GET /user/workspaces`: the workspace slugs.
pub fn workspaces(resp: &HttpResponse) -> Result<Page<String>, Failure> {
    let p: Page<RawWorkspaceAccess> = page(resp)?;
    Ok(Page {
        values: p.values.into_iter().map(|w| w.workspace.slug).collect(),
        next: p.next,
    })
}

#[derive(Deserialize)]
struct RawBranch {
    name: String,
}

#[derive(Deserialize)]
struct RawRepo {
    uuid: String,
    full_name: String,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    is_private: bool,
    #[serde(default)]
    mainbranch: Option<RawBranch>,
}

impl RawRepo {
    fn normalize(self) -> Repo {
        let (owner, from_full) = self
            .full_name
            .split_once('/')
            .map(|(o, n)| (o.to_string(), n.to_string()))
            .unwrap_or_default();
        Repo {
            id: self.uuid,
            owner,
            name: self
                .slug
                .or(Some(from_full))
                .filter(|s| !s.is_empty())
                .or(self.name)
                .unwrap_or_default(),
            full_name: self.full_name,
            description: self.description.filter(|d| !d.trim().is_empty()),
            private: self.is_private,
            default_branch: self
                .mainbranch
                .map(|b| b.name)
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "main".into()),
        }
    }
}

/// A page of `GET /repositories/{workspace}`, normalized.
/// Parses a page of `refs/branches`: the branch names.
pub fn branches(resp: &HttpResponse) -> Result<Page<String>, Failure> {
    let p: Page<RawBranch> = page(resp)?;
    Ok(Page {
        values: p.values.into_iter().map(|b| b.name).collect(),
        next: p.next,
    })
}

pub fn repos(resp: &HttpResponse) -> Result<Page<Repo>, Failure> {
    let p: Page<RawRepo> = page(resp)?;
    Ok(Page {
        values: p.values.into_iter().map(RawRepo::normalize).collect(),
        next: p.next,
    })
}

/// `GET /repositories/{workspace}/{slug}`, normalized.
pub fn repository(resp: &HttpResponse) -> Result<Repo, Failure> {
    Ok(ok_json::<RawRepo>(resp, false)?.normalize())
}

#[derive(Deserialize)]
struct RawHref {
    href: String,
}

#[derive(Deserialize)]
struct RawPrLinks {
    html: RawHref,
}

#[derive(Deserialize)]
struct RawEnd {
    branch: RawBranch,
}

#[derive(Deserialize)]
struct RawPrUser {
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct RawPullRequest {
    id: u64,
    links: RawPrLinks,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    source: Option<RawEnd>,
    #[serde(default)]
    destination: Option<RawEnd>,
    #[serde(default)]
    updated_on: Option<String>,
    #[serde(default)]
    closed_by: Option<RawPrUser>,
}

/// A pull request: the answer to creating one (201, also for an already open one) or to
/// reading one.
pub fn pull_request(resp: &HttpResponse) -> Result<PullRequest, Failure> {
    let raw: RawPullRequest = ok_json(resp, false)?;
    Ok(PullRequest {
        number: raw.id,
        url: raw.links.html.href,
        state: raw.state.unwrap_or_else(|| "OPEN".into()),
        source_branch: raw.source.map(|s| s.branch.name),
        destination_branch: raw.destination.map(|d| d.branch.name),
        updated_at: raw
            .updated_on
            .as_deref()
            .and_then(crate::clock::parse_iso8601),
        closed_by: raw.closed_by.and_then(|u| u.display_name),
    })
}

#[derive(Deserialize)]
struct RawUser {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    uuid: Option<String>,
}

/// `GET /user`: id, login and display name.
pub fn user(resp: &HttpResponse) -> Result<Identity, Failure> {
    let u: RawUser = ok_json(resp, false)?;
    Ok(Identity {
        user_id: u.account_id.or(u.uuid),
        login: u.username.or(u.nickname),
        name: u.display_name.filter(|n| !n.trim().is_empty()),
        email: None,
    })
}

#[derive(Deserialize)]
struct RawEmail {
    email: String,
    #[serde(default)]
    is_primary: bool,
    #[serde(default)]
    is_confirmed: bool,
}

/// `GET /user/emails`: the primary, confirmed address, if there is one.
pub fn primary_email(resp: &HttpResponse) -> Result<Option<String>, Failure> {
    let p: Page<RawEmail> = page(resp)?;
    Ok(p.values
        .into_iter()
        .find(|e| e.is_primary && e.is_confirmed)
        .map(|e| e.email))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::bitbucket::fixtures::fixture;

    fn ok(name: &str) -> HttpResponse {
        HttpResponse::new(200, fixture(name))
    }

    #[test]
    fn token_grant_accepts_scope_or_scopes_and_long_tokens() {
        let g = token_grant(&ok("oauth_token.json")).unwrap();
        assert_eq!(g.access_token, "AT-example-access-token");
        assert_eq!(g.refresh_token.as_deref(), Some("RT-example-refresh-token"));
        assert_eq!(g.expires_in_secs, 7200);
        assert_eq!(
            g.scopes.as_deref(),
            Some("repository:write pullrequest:write account email")
        );
        let long = "a".repeat(3000);
        let body = format!(
            r#"{{"access_token":"{long}","scope":"account","expires_in":3600,"refresh_token":"r"}}"#
        );
        let g = token_grant(&HttpResponse::new(200, body)).unwrap();
        assert_eq!(g.access_token.len(), 3000);
        assert_eq!(g.scopes.as_deref(), Some("account"));
        let invalid = HttpResponse::new(400, fixture("oauth_invalid_grant.json"));
        assert!(matches!(token_grant(&invalid), Err(Failure::Reauth(_))));
        assert!(matches!(
            token_grant(&HttpResponse::new(200, "{}")),
            Err(Failure::Parse(_))
        ));
    }

    #[test]
    fn branches_page() {
        let one: serde_json::Value = serde_json::from_str(&fixture("branch.json")).unwrap();
        let body = serde_json::json!({"values": [one], "pagelen": 100}).to_string();
        let p = branches(&HttpResponse::new(200, body)).unwrap();
        assert_eq!(p.values, vec![one["name"].as_str().unwrap().to_string()]);
        assert_eq!(p.next, None);
    }

    #[test]
    fn workspaces_page() {
        let p = workspaces(&ok("user_workspaces.json")).unwrap();
        assert_eq!(p.values, vec!["my-workspace", "team-workspace"]);
        assert_eq!(p.next, None, "an empty next is no next");
    }

    #[test]
    fn repos_pages_normalize_and_follow_next() {
        let p1 = repos(&ok("repos.json")).unwrap();
        assert_eq!(p1.values.len(), 1);
        let r = &p1.values[0];
        assert_eq!(r.id, "{7dd600e6-0d9c-4801-b967-cb4cc17359ff}");
        assert_eq!(r.owner, "atlassian");
        assert_eq!(r.name, "stash-example-plugin");
        assert_eq!(r.full_name, "atlassian/stash-example-plugin");
        assert!(r.private);
        assert_eq!(r.default_branch, "master");
        assert!(p1.next.as_deref().unwrap().contains("after=PLACEHOLDER"));
        let p2 = repos(&ok("repos-2.json")).unwrap();
        assert_eq!(p2.next, None);
        let empty = repos(&ok("repos_empty.json")).unwrap();
        assert!(empty.values.is_empty() && empty.next.is_none());
    }

    #[test]
    fn missing_mainbranch_defaults_to_main() {
        let body = r#"{"values":[{"uuid":"{u}","full_name":"ws/r","slug":"r","is_private":false,"mainbranch":null}]}"#;
        let p = repos(&HttpResponse::new(200, body)).unwrap();
        assert_eq!(p.values[0].default_branch, "main");
        assert_eq!(p.values[0].description, None);
        let one = repository(&ok("repo.json")).unwrap();
        assert_eq!(one.default_branch, "master");
    }

    #[test]
    fn user_and_primary_email() {
        let u = user(&ok("user.json")).unwrap();
        assert_eq!(u.name.as_deref(), Some("Brad Rydzewski"));
        assert_eq!(u.login.as_deref(), Some("brydzewski"));
        assert_eq!(
            u.user_id.as_deref(),
            Some("557058:2a6349dc-4346-4805-bd84-3abdd0812d17")
        );
        assert_eq!(
            primary_email(&ok("user_emails.json")).unwrap().as_deref(),
            Some("dev@example.com")
        );
        let unconfirmed = r#"{"values":[{"email":"a@b","is_primary":true,"is_confirmed":false}]}"#;
        assert_eq!(
            primary_email(&HttpResponse::new(200, unconfirmed)).unwrap(),
            None
        );
    }

    #[test]
    fn pull_request_answer() {
        let mut resp = ok("pr.json");
        resp.status = 201;
        let pr = pull_request(&resp).unwrap();
        assert_eq!(pr.number, 4982);
        assert_eq!(
            pr.url,
            "https://bitbucket.org/atlassian/atlaskit/pull-requests/4982"
        );
        assert_eq!(pr.state, "OPEN");
        assert_eq!(pr.destination_branch.as_deref(), Some("master"));
        let conflict = HttpResponse::new(400, fixture("pr_create_conflict.json"));
        assert!(matches!(
            pull_request(&conflict),
            Err(Failure::Api { status: 400, .. })
        ));
    }

    #[test]
    fn errors_pass_through_parsers() {
        let e = repos(&HttpResponse::new(500, "oops")).unwrap_err();
        assert!(matches!(e, Failure::Upstream { status: 500, .. }));
    }
}
