//! Builders for the GitHub REST calls we make. Tokens go only in `Authorization`; every
//! call names its API version and a user agent (GitHub refuses calls without one).

use url::Url;

use super::Config;
use crate::raw::Object;
use crate::upstream::http::HttpRequest;
use crate::urls::Base;
use crate::vcs::{Failure, NewPullRequest};

/// Page size for every listing.
pub const PER_PAGE: &str = "100";
const API_VERSION: &str = "2022-11-28";
const USER_AGENT: &str = "control-plane";

/// `{api_url}/{segments...}` with each segment percent-encoded, plus query pairs.
fn api_url(cfg: &Config, segments: &[&str], query: &[(&str, &str)]) -> Result<Url, Failure> {
    Ok(api_base(cfg)?.join(segments, query)?)
}

fn api_base(cfg: &Config) -> Result<Base, Failure> {
    Base::parse(&cfg.api_url).ok_or(Failure::Config("GITHUB_API_URL"))
}

/// A REST call with GitHub's headers, authenticated with `token` (a user's, an installation's,
/// or the App's JWT).
fn rest(mut req: HttpRequest, token: &str) -> HttpRequest {
    req.headers.retain(|(name, _)| name != "accept");
    req.header("accept", "application/vnd.github+json")
        .header("x-github-api-version", API_VERSION)
        .header("user-agent", USER_AGENT)
        .bearer(token)
}

fn get(
    cfg: &Config,
    token: &str,
    segments: &[&str],
    query: &[(&str, &str)],
) -> Result<HttpRequest, Failure> {
    Ok(rest(
        HttpRequest::get(api_url(cfg, segments, query)?),
        token,
    ))
}

fn oauth_url(cfg: &Config, path: &str, query: &[(&str, &str)]) -> Result<Url, Failure> {
    Ok(Base::parse(&cfg.oauth_url)
        .ok_or(Failure::Config("GITHUB_OAUTH_URL"))?
        .join(&[path], query)?)
}

/// `POST {oauth_url}/access_token` with the client's credentials and the form `pairs`,
/// answered in JSON.
fn token_request(cfg: &Config, pairs: &[(&str, &str)]) -> Result<HttpRequest, Failure> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &cfg.client_id)
        .append_pair("client_secret", &cfg.client_secret)
        .extend_pairs(pairs)
        .finish();
    Ok(HttpRequest::post(
        oauth_url(cfg, "access_token", &[])?,
        "application/x-www-form-urlencoded",
        body,
    )
    .header("user-agent", USER_AGENT))
}

/// `POST {oauth_url}/access_token` with `grant_type=refresh_token`.
pub fn refresh_token(cfg: &Config, refresh_token: &str) -> Result<HttpRequest, Failure> {
    token_request(
        cfg,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

/// Where a user authorizes the GitHub App (or OAuth app): `{oauth_url}/authorize`, with the
/// callback URL and a PKCE challenge (S256). No scope: an App's permissions are its own.
pub fn authorize_url(
    cfg: &Config,
    state: &str,
    redirect_uri: &str,
    challenge: &str,
) -> Result<Url, Failure> {
    oauth_url(
        cfg,
        "authorize",
        &[
            ("response_type", "code"),
            ("client_id", &cfg.client_id),
            ("state", state),
            ("scope", ""),
            ("redirect_uri", redirect_uri),
            ("code_challenge_method", "S256"),
            ("code_challenge", challenge),
        ],
    )
}

/// `POST {oauth_url}/access_token` for an authorization code, with its PKCE verifier.
pub fn exchange_code(
    cfg: &Config,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<HttpRequest, Failure> {
    token_request(
        cfg,
        &[
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ],
    )
}

/// `GET /user/memberships/orgs/{org}`: the user's membership of `org` (active or pending).
pub fn org_membership(cfg: &Config, token: &str, org: &str) -> Result<HttpRequest, Failure> {
    get(cfg, token, &["user", "memberships", "orgs", org], &[])
}

/// `POST /app/installations/{id}/access_tokens` with the App's JWT: for the whole
/// installation, or (`repo`) for that one repository with only `contents: write`, all git
/// needs to clone and push.
pub fn installation_token(
    cfg: &Config,
    installation_id: &str,
    jwt: &str,
    repo: Option<&str>,
) -> Result<HttpRequest, Failure> {
    let url = api_url(
        cfg,
        &["app", "installations", installation_id, "access_tokens"],
        &[],
    )?;
    let body = match repo {
        None => "{}".to_string(),
        Some(name) => serde_json::json!({
            "repositories": [name],
            "permissions": {"contents": "write"},
        })
        .to_string(),
    };
    Ok(rest(HttpRequest::post(url, "application/json", body), jwt))
}

/// `GET /user`.
pub fn user(cfg: &Config, token: &str) -> Result<HttpRequest, Failure> {
    get(cfg, token, &["user"], &[])
}

/// `GET /user/emails`.
pub fn user_emails(cfg: &Config, token: &str) -> Result<HttpRequest, Failure> {
    get(cfg, token, &["user", "emails"], &[("per_page", PER_PAGE)])
}

/// `GET /user/repos?per_page=100`: what the user can reach.
pub fn user_repos(cfg: &Config, token: &str) -> Result<HttpRequest, Failure> {
    get(cfg, token, &["user", "repos"], &[("per_page", PER_PAGE)])
}

/// `GET /installation/repositories?per_page=100`: what the App's installation can reach.
pub fn installation_repos(cfg: &Config, token: &str) -> Result<HttpRequest, Failure> {
    get(
        cfg,
        token,
        &["installation", "repositories"],
        &[("per_page", PER_PAGE)],
    )
}

/// `GET /repos/{owner}/{repo}` (with the caller's `permissions`).
pub fn repository(
    cfg: &Config,
    token: &str,
    owner: &str,
    repo: &str,
) -> Result<HttpRequest, Failure> {
    get(cfg, token, &["repos", owner, repo], &[])
}

/// `GET /repos/{owner}/{repo}/branches?per_page=100`.
pub fn branches(
    cfg: &Config,
    token: &str,
    owner: &str,
    repo: &str,
) -> Result<HttpRequest, Failure> {
    get(
        cfg,
        token,
        &["repos", owner, repo, "branches"],
        &[("per_page", PER_PAGE)],
    )
}

/// `POST /repos/{owner}/{repo}/pulls {title, body, head, base}` as the user.
pub fn create_pull_request(
    cfg: &Config,
    token: &str,
    owner: &str,
    repo: &str,
    pr: &NewPullRequest,
) -> Result<HttpRequest, Failure> {
    let body = Object::new()
        .field("title", &pr.title)
        .field("body", &pr.description)
        .field("head", &pr.source_branch)
        .field("base", &pr.destination_branch)
        .end();
    let url = api_url(cfg, &["repos", owner, repo, "pulls"], &[])?;
    Ok(rest(
        HttpRequest::post(url, "application/json", body),
        token,
    ))
}

/// `GET /repos/{owner}/{repo}/pulls/{number}`.
pub fn pull_request(
    cfg: &Config,
    token: &str,
    owner: &str,
    repo: &str,
    number: u64,
) -> Result<HttpRequest, Failure> {
    let number = number.to_string();
    get(
        cfg,
        token,
        &["repos", owner, repo, "pulls", number.as_str()],
        &[],
    )
}

/// `GET /repos/{owner}/{repo}/pulls?head={owner}:{branch}&state=open`: the open pull
/// request of a head branch, if any.
pub fn open_pull_requests(
    cfg: &Config,
    token: &str,
    owner: &str,
    repo: &str,
    branch: &str,
) -> Result<HttpRequest, Failure> {
    let head = format!("{owner}:{branch}");
    get(
        cfg,
        token,
        &["repos", owner, repo, "pulls"],
        &[("head", head.as_str()), ("state", "open")],
    )
}

/// The `rel="next"` link of a `Link` header, if any.
pub fn next_link(link_header: &str) -> Option<&str> {
    link_header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        is_next.then(|| target.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

/// The next page of a listing. The token is only ever sent back to the API's own origin:
/// a link elsewhere is refused.
pub fn next_page(cfg: &Config, token: &str, next: &str) -> Result<HttpRequest, Failure> {
    let next = api_base(cfg)?
        .link_within(next)
        .ok_or_else(|| Failure::Parse("next link points outside the GitHub API".into()))?;
    Ok(rest(HttpRequest::get(next), token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::http::Method;

    fn cfg() -> Config {
        Config::new(
            "http://127.0.0.1:9/",
            "http://127.0.0.1:9/login/oauth",
            "cid",
            "c&s",
        )
    }

    #[test]
    fn rest_calls_carry_github_headers_and_encoded_paths() {
        let r = repository(&cfg(), "UT", "oct o", "../x").unwrap();
        assert_eq!(r.url, "http://127.0.0.1:9/repos/oct%20o/..%2Fx");
        assert_eq!(r.header_value("authorization"), Some("Bearer UT"));
        assert_eq!(r.header_value("x-github-api-version"), Some(API_VERSION));
        assert!(r.header_value("user-agent").is_some());
        assert_eq!(
            user_repos(&cfg(), "UT").unwrap().url,
            "http://127.0.0.1:9/user/repos?per_page=100"
        );
        assert_eq!(
            installation_repos(&cfg(), "IT").unwrap().url,
            "http://127.0.0.1:9/installation/repositories?per_page=100"
        );
        assert_eq!(
            open_pull_requests(&cfg(), "UT", "octocat", "hello", "agent/x")
                .unwrap()
                .url,
            "http://127.0.0.1:9/repos/octocat/hello/pulls?head=octocat%3Aagent%2Fx&state=open"
        );
        let t = installation_token(&cfg(), "42", "JWT", None).unwrap();
        assert_eq!(t.body.as_deref(), Some("{}"));
        let scoped = installation_token(&cfg(), "42", "JWT", Some("hello")).unwrap();
        let body: serde_json::Value =
            serde_json::from_str(scoped.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"repositories": ["hello"], "permissions": {"contents": "write"}})
        );
        assert_eq!(t.method, Method::Post);
        assert_eq!(
            t.url,
            "http://127.0.0.1:9/app/installations/42/access_tokens"
        );
        assert_eq!(t.header_value("authorization"), Some("Bearer JWT"));
    }

    #[test]
    fn refresh_is_a_form_post_answered_in_json() {
        let r = refresh_token(&cfg(), "ghr_+/=").unwrap();
        assert_eq!(r.url, "http://127.0.0.1:9/login/oauth/access_token");
        assert_eq!(r.header_value("accept"), Some("application/json"));
        assert_eq!(
            r.body.as_deref(),
            Some("client_id=cid&client_secret=c%26s&grant_type=refresh_token&refresh_token=ghr_%2B%2F%3D")
        );
    }

    #[test]
    fn pull_request_payload() {
        let pr = NewPullRequest {
            title: "T".into(),
            description: "D".into(),
            source_branch: "agent/x".into(),
            destination_branch: "main".into(),
            close_source_branch: true,
        };
        let r = create_pull_request(&cfg(), "UT", "octocat", "hello", &pr).unwrap();
        assert_eq!(r.url, "http://127.0.0.1:9/repos/octocat/hello/pulls");
        let body: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"title":"T","body":"D","head":"agent/x","base":"main"})
        );
    }

    #[test]
    fn link_headers_and_next_pages() {
        let link = "<http://127.0.0.1:9/user/repos?per_page=100&page=2>; rel=\"next\", <http://127.0.0.1:9/user/repos?per_page=100&page=3>; rel=\"last\"";
        assert_eq!(
            next_link(link),
            Some("http://127.0.0.1:9/user/repos?per_page=100&page=2")
        );
        assert_eq!(next_link("<http://x/1>; rel=\"prev\""), None);
        assert!(next_page(&cfg(), "UT", "http://127.0.0.1:9/user/repos?page=2").is_ok());
        assert!(next_page(&cfg(), "UT", "https://evil.example/user/repos?page=2").is_err());
        let bad = Config::new("api.github.com", "https://github.com/login/oauth", "c", "s");
        assert_eq!(
            next_page(&bad, "UT", "https://api.github.com/user").unwrap_err(),
            Failure::Config("GITHUB_API_URL")
        );
        assert_eq!(
            repository(&cfg(), "UT", "octocat", "..").unwrap_err(),
            Failure::NotFound("no such name: \"..\"".into())
        );
    }
}
