//! Parsers for Bitbucket Cloud answers: token grants, pages of values, users, e-mail
//! addresses, workspaces and repositories, normalized to our types.

use serde_json::Value;

use super::error;
use crate::json::Field;
use crate::upstream::http::HttpResponse;
use crate::vcs::{json_ok, missing, Failure};
use crate::vcs::{Identity, Page, PullRequest, Repo, TokenGrant};

/// Bitbucket's access tokens live one to two hours; assume one when it does not say.
const DEFAULT_EXPIRES_IN: i64 = 3600;

fn ok_json(resp: &HttpResponse, oauth: bool) -> Result<Value, Failure> {
    let classify = if oauth {
        error::from_oauth
    } else {
        error::from_api
    };
    json_ok(resp, classify)
}

/// Parses the token endpoint's answer (`scope` or `scopes` accepted).
pub fn token_grant(resp: &HttpResponse) -> Result<TokenGrant, Failure> {
    let body = ok_json(resp, true)?;
    let raw = Field::of(&body);
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
        scopes: raw.text("scopes").or_else(|| raw.text("scope")),
    })
}

/// A page of `values`, each read by `item`, and the next page's link.
fn page<T>(
    resp: &HttpResponse,
    item: impl Fn(Field) -> Result<T, Failure>,
) -> Result<Page<T>, Failure> {
    let body = ok_json(resp, false)?;
    let raw = Field::of(&body);
    // A `next` of another type must not end a listing early, as if it were the last page.
    let next = raw.need_text("next").map_err(Failure::Parse)?;
    let values = raw
        .need_items("values")
        .map_err(Failure::Parse)?
        .map(item)
        .collect::<Result<_, _>>()?;
    Ok(Page {
        values,
        next: next.filter(|n| !n.is_empty()).map(str::to_string),
    })
}

/// A page of `GET /user/workspaces`: the workspace slugs.
pub fn workspaces(resp: &HttpResponse) -> Result<Page<String>, Failure> {
    page(resp, |w| {
        w.get("workspace")
            .text("slug")
            .ok_or_else(|| missing("workspace slug"))
    })
}

/// A repository, normalized.
/// The number a Bitbucket repository is given (it has none of its own): the first 48 bits of
/// the SHA-256 of its UUID, so it is stable and exact as a JavaScript number.
pub fn repo_number(uuid: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(uuid.as_bytes());
    digest[..6]
        .iter()
        .fold(0u64, |n, b| (n << 8) | u64::from(*b))
}

fn repo(raw: Field) -> Result<Repo, Failure> {
    let full_name = raw
        .text("full_name")
        .ok_or_else(|| missing("repository full_name"))?;
    let (owner, from_full) = full_name
        .split_once('/')
        .map(|(o, n)| (o.to_string(), n.to_string()))
        .unwrap_or_default();
    Ok(Repo {
        id: repo_number(&raw.text("uuid").ok_or_else(|| missing("repository uuid"))?),
        owner,
        name: raw
            .text("slug")
            .or(Some(from_full))
            .filter(|s| !s.is_empty())
            .or_else(|| raw.text("name"))
            .unwrap_or_default(),
        full_name,
        description: raw.text("description").filter(|d| !d.trim().is_empty()),
        private: raw.flag("is_private"),
        default_branch: raw
            .get("mainbranch")
            .text("name")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "main".into()),
        archived: false,
    })
}

/// Parses a page of `refs/branches`: the branch names.
pub fn branches(resp: &HttpResponse) -> Result<Page<String>, Failure> {
    page(resp, |b| {
        b.text("name").ok_or_else(|| missing("branch name"))
    })
}

/// A page of `GET /repositories/{workspace}`, normalized.
pub fn repos(resp: &HttpResponse) -> Result<Page<Repo>, Failure> {
    page(resp, repo)
}

/// `GET /repositories/{workspace}/{slug}`, normalized.
pub fn repository(resp: &HttpResponse) -> Result<Repo, Failure> {
    repo(Field::of(&ok_json(resp, false)?))
}

/// The branch name of a pull request's end (`source`, `destination`).
fn end_branch(raw: Field, end: &str) -> Option<String> {
    raw.get(end).get("branch").text("name")
}

/// A pull request: the answer to creating one (201, also for an already open one) or to
/// reading one.
pub fn pull_request(resp: &HttpResponse) -> Result<PullRequest, Failure> {
    let body = ok_json(resp, false)?;
    let raw = Field::of(&body);
    Ok(PullRequest {
        number: raw.uint("id").ok_or_else(|| missing("pull request id"))?,
        url: raw
            .get("links")
            .get("html")
            .text("href")
            .ok_or_else(|| missing("pull request link"))?,
        state: raw.text("state").unwrap_or_else(|| "OPEN".into()),
        source_branch: end_branch(raw, "source"),
        destination_branch: end_branch(raw, "destination"),
        updated_at: raw
            .get("updated_on")
            .str()
            .and_then(crate::clock::parse_iso8601),
        closed_by: raw.get("closed_by").text("display_name"),
    })
}

/// `GET /user`: id, login and display name.
pub fn user(resp: &HttpResponse) -> Result<Identity, Failure> {
    let body = ok_json(resp, false)?;
    let u = Field::of(&body);
    Ok(Identity {
        user_id: u.text("account_id").or_else(|| u.text("uuid")),
        login: u.text("username").or_else(|| u.text("nickname")),
        name: u.text("display_name").filter(|n| !n.trim().is_empty()),
        email: None,
    })
}

/// `GET /user/emails`: the primary, confirmed address, if there is one.
pub fn primary_email(resp: &HttpResponse) -> Result<Option<String>, Failure> {
    let p = page(resp, |e| {
        Ok((e.flag("is_primary") && e.flag("is_confirmed")).then(|| e.text("email")))
    })?;
    Ok(p.values.into_iter().flatten().flatten().next())
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
        // A number from the UUID, the same every time, exact in JavaScript.
        assert_eq!(r.id, repo_number("{7dd600e6-0d9c-4801-b967-cb4cc17359ff}"));
        assert!(r.id > 0 && r.id < (1 << 48));
        assert_ne!(r.id, repo_number("{another}"));
        assert!(!r.archived);
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
    fn a_mistyped_next_or_values_is_an_error_not_the_last_page() {
        for body in [
            r#"{"values":[],"next":{"href":"https://api.bitbucket.org/2.0/x?page=2"}}"#,
            r#"{"values":[],"next":2}"#,
            r#"{"values":{},"next":null}"#,
        ] {
            let got = repos(&HttpResponse::new(200, body));
            assert!(matches!(got, Err(Failure::Parse(_))), "{body}: {got:?}");
        }
        let last = repos(&HttpResponse::new(200, r#"{"values":[],"next":null}"#)).unwrap();
        assert_eq!(last.next, None);
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
