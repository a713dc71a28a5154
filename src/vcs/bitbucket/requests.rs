//! Builders for the Bitbucket Cloud calls we make. Tokens go only in `Authorization`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use url::Url;

use super::Config;
use crate::raw::Object;
use crate::upstream::http::{Auth, HttpRequest};
use crate::urls::Base;
use crate::vcs::{Failure, NewPullRequest};

/// Page size for every listing.
pub const PAGELEN: &str = "100";

/// `{api_url}/{segments...}` with each segment percent-encoded, plus query pairs.
fn api_url(cfg: &Config, segments: &[&str], query: &[(&str, &str)]) -> Result<Url, Failure> {
    Ok(api_base(cfg)?.join(segments, query)?)
}

fn api_base(cfg: &Config) -> Result<Base, Failure> {
    Base::parse(&cfg.api_url).ok_or(Failure::Config("BITBUCKET_API_URL"))
}

fn oauth_url(cfg: &Config, path: &str, query: &[(&str, &str)]) -> Result<Url, Failure> {
    Ok(Base::parse(&cfg.oauth_url)
        .ok_or(Failure::Config("BITBUCKET_OAUTH_URL"))?
        .join(&[path], query)?)
}

/// `POST {oauth_url}/access_token` with the form `pairs`, HTTP Basic client auth.
fn token_request(cfg: &Config, pairs: &[(&str, &str)]) -> Result<HttpRequest, Failure> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let basic = B64.encode(format!("{}:{}", cfg.client_id, cfg.client_secret));
    Ok(HttpRequest::post(
        oauth_url(cfg, "access_token", &[])?,
        "application/x-www-form-urlencoded",
        body,
    )
    .header("authorization", format!("Basic {basic}")))
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

/// Where a user grants the OAuth consumer access: `{oauth_url}/authorize`. The consumer has
/// exactly one callback URL, where Bitbucket sends the browser back; it takes no PKCE.
pub fn authorize_url(cfg: &Config, state: &str) -> Result<Url, Failure> {
    oauth_url(
        cfg,
        "authorize",
        &[
            ("client_id", &cfg.client_id),
            ("response_type", "code"),
            ("state", state),
        ],
    )
}

/// `POST {oauth_url}/access_token` with `grant_type=authorization_code`.
pub fn exchange_code(cfg: &Config, code: &str) -> Result<HttpRequest, Failure> {
    token_request(cfg, &[("grant_type", "authorization_code"), ("code", code)])
}

/// `GET /user`.
pub fn user<'a>(cfg: &Config, auth: impl Into<Auth<'a>>) -> Result<HttpRequest, Failure> {
    Ok(HttpRequest::get(api_url(cfg, &["user"], &[])?).auth(auth.into()))
}

/// `GET /user/emails`.
pub fn user_emails<'a>(cfg: &Config, auth: impl Into<Auth<'a>>) -> Result<HttpRequest, Failure> {
    Ok(
        HttpRequest::get(api_url(cfg, &["user", "emails"], &[("pagelen", PAGELEN)])?)
            .auth(auth.into()),
    )
}

/// `GET /user/workspaces` (the cross-workspace repository listing is retired).
pub fn user_workspaces<'a>(
    cfg: &Config,
    auth: impl Into<Auth<'a>>,
) -> Result<HttpRequest, Failure> {
    Ok(HttpRequest::get(api_url(
        cfg,
        &["user", "workspaces"],
        &[("pagelen", PAGELEN)],
    )?)
    .auth(auth.into()))
}

/// `GET /repositories/{workspace}?role=member&pagelen=100`.
pub fn workspace_repos<'a>(
    cfg: &Config,
    auth: impl Into<Auth<'a>>,
    workspace: &str,
) -> Result<HttpRequest, Failure> {
    Ok(HttpRequest::get(api_url(
        cfg,
        &["repositories", workspace],
        &[("role", "member"), ("pagelen", PAGELEN)],
    )?)
    .auth(auth.into()))
}

/// `GET /repositories/{workspace}/{slug}`.
pub fn repository<'a>(
    cfg: &Config,
    auth: impl Into<Auth<'a>>,
    workspace: &str,
    slug: &str,
) -> Result<HttpRequest, Failure> {
    Ok(HttpRequest::get(api_url(cfg, &["repositories", workspace, slug], &[])?).auth(auth.into()))
}

/// `POST /repositories/{workspace}/{slug}/pullrequests` as the user.
pub fn create_pull_request<'a>(
    cfg: &Config,
    auth: impl Into<Auth<'a>>,
    workspace: &str,
    slug: &str,
    pr: &NewPullRequest,
) -> Result<HttpRequest, Failure> {
    let branch = |name: &str| Object::new().object("branch", Object::new().field("name", name));
    let body = Object::new()
        .field("title", &pr.title)
        .field("description", &pr.description)
        .object("source", branch(&pr.source_branch))
        .object("destination", branch(&pr.destination_branch))
        .field("close_source_branch", &pr.close_source_branch)
        .end();
    Ok(HttpRequest::post(
        api_url(cfg, &["repositories", workspace, slug, "pullrequests"], &[])?,
        "application/json",
        body,
    )
    .auth(auth.into()))
}

/// `GET /repositories/{workspace}/{slug}/pullrequests/{id}`.
pub fn pull_request<'a>(
    cfg: &Config,
    auth: impl Into<Auth<'a>>,
    workspace: &str,
    slug: &str,
    id: u64,
) -> Result<HttpRequest, Failure> {
    let id = id.to_string();
    let segments = ["repositories", workspace, slug, "pullrequests", id.as_str()];
    Ok(HttpRequest::get(api_url(cfg, &segments, &[])?).auth(auth.into()))
}

/// `GET /repositories/{workspace}?role=contributor&q=slug="{slug}"`: the repository, listed
/// only when the caller may write to it (`/user/permissions/repositories` is retired).
pub fn contributor_repo<'a>(
    cfg: &Config,
    auth: impl Into<Auth<'a>>,
    workspace: &str,
    slug: &str,
) -> Result<HttpRequest, Failure> {
    // Slugs are [A-Za-z0-9._-] (validated), so they need no escaping inside the quotes.
    let q = format!("slug=\"{slug}\"");
    Ok(HttpRequest::get(api_url(
        cfg,
        &["repositories", workspace],
        &[("role", "contributor"), ("q", q.as_str())],
    )?)
    .auth(auth.into()))
}

/// `GET /repositories/{workspace}/{slug}/refs/branches?pagelen=100`.
pub fn branches<'a>(
    cfg: &Config,
    auth: impl Into<Auth<'a>>,
    workspace: &str,
    slug: &str,
) -> Result<HttpRequest, Failure> {
    Ok(HttpRequest::get(api_url(
        cfg,
        &["repositories", workspace, slug, "refs", "branches"],
        &[("pagelen", PAGELEN)],
    )?)
    .auth(auth.into()))
}

/// The `next` page of a listing. The token is only ever sent back to the API's own origin:
/// a `next` link elsewhere is refused.
pub fn next_page<'a>(
    cfg: &Config,
    auth: impl Into<Auth<'a>>,
    next: &str,
) -> Result<HttpRequest, Failure> {
    let next = api_base(cfg)?
        .link_within(next)
        .ok_or_else(|| Failure::Parse("next link points outside the Bitbucket API".into()))?;
    Ok(HttpRequest::get(next).auth(auth.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::http::Method;

    fn cfg() -> Config {
        Config::new(
            "http://127.0.0.1:9/2.0/",
            "http://127.0.0.1:9/site/oauth2",
            "id",
            "sec:ret",
        )
    }

    #[test]
    fn refresh_is_a_form_post_with_basic_auth() {
        let r = refresh_token(&cfg(), "RT+/=&x").unwrap();
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "http://127.0.0.1:9/site/oauth2/access_token");
        assert_eq!(
            r.header_value("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            r.header_value("authorization"),
            Some(format!("Basic {}", B64.encode("id:sec:ret")).as_str())
        );
        assert_eq!(
            r.body.as_deref(),
            Some("grant_type=refresh_token&refresh_token=RT%2B%2F%3D%26x")
        );
    }

    #[test]
    fn api_calls_carry_bearer_and_encoded_paths() {
        let r = workspace_repos(&cfg(), "AT", "my ws").unwrap();
        assert_eq!(
            r.url,
            "http://127.0.0.1:9/2.0/repositories/my%20ws?role=member&pagelen=100"
        );
        assert_eq!(r.header_value("authorization"), Some("Bearer AT"));
        assert_eq!(
            user_workspaces(&cfg(), "AT").unwrap().url,
            "http://127.0.0.1:9/2.0/user/workspaces?pagelen=100"
        );
        assert_eq!(
            user(&cfg(), "AT").unwrap().url,
            "http://127.0.0.1:9/2.0/user"
        );
        assert_eq!(
            user_emails(&cfg(), "AT").unwrap().url,
            "http://127.0.0.1:9/2.0/user/emails?pagelen=100"
        );
        assert_eq!(
            repository(&cfg(), "AT", "ws", "../x").unwrap().url,
            "http://127.0.0.1:9/2.0/repositories/ws/..%2Fx"
        );
        assert_eq!(
            contributor_repo(&cfg(), "AT", "ws", "web").unwrap().url,
            "http://127.0.0.1:9/2.0/repositories/ws?role=contributor&q=slug%3D%22web%22"
        );
        assert_eq!(
            branches(&cfg(), "AT", "ws", "web").unwrap().url,
            "http://127.0.0.1:9/2.0/repositories/ws/web/refs/branches?pagelen=100"
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
        let r = create_pull_request(&cfg(), "AT", "ws", "repo", &pr).unwrap();
        assert_eq!(
            r.url,
            "http://127.0.0.1:9/2.0/repositories/ws/repo/pullrequests"
        );
        assert_eq!(r.header_value("authorization"), Some("Bearer AT"));
        let body: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"title":"T","description":"D","source":{"branch":{"name":"agent/x"}},
                "destination":{"branch":{"name":"main"}},"close_source_branch":true})
        );
    }

    #[test]
    fn next_links_stay_on_the_api_origin() {
        let ok = next_page(
            &cfg(),
            "AT",
            "http://127.0.0.1:9/2.0/repositories/ws?page=2",
        )
        .unwrap();
        assert_eq!(ok.url, "http://127.0.0.1:9/2.0/repositories/ws?page=2");
        assert!(next_page(&cfg(), "AT", "https://evil.example/2.0/x").is_err());
        assert!(next_page(&cfg(), "AT", "http://127.0.0.1:10/2.0/x").is_err());
        assert!(next_page(&cfg(), "AT", "http://127.0.0.1:9/other").is_err());
        assert!(next_page(&cfg(), "AT", "http://127.0.0.1:9/2.0/../user").is_err());
        assert!(next_page(&cfg(), "AT", "/2.0/x").is_err());
        let dots = next_page(&cfg(), "AT", "http://127.0.0.1:9/2.0/a/../b?page=2").unwrap();
        assert_eq!(dots.url, "http://127.0.0.1:9/2.0/b?page=2");
    }
}
