//! A fake Bitbucket Cloud on a wiremock server, speaking the wire format of the recorded
//! payloads in `tests/fixtures/bitbucket`. Each test uses its own tokens, so tests can
//! share one server and still count their own upstream calls.

use serde_json::{json, Value};
use wiremock::matchers::{
    body_string_contains, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[allow(unused_imports)]
pub use super::{calls_with, requests};

/// A recorded answer in `tests/fixtures/bitbucket`.
pub fn fixture(name: &str) -> Value {
    super::fixture("bitbucket", name)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A repository in the shape of `repos.json`, renamed.
pub fn repo_json(workspace: &str, slug: &str, mainbranch: bool) -> Value {
    let mut r = fixture("repos.json")["values"][0].clone();
    r["uuid"] = json!(format!("{{{workspace}-{slug}}}"));
    r["slug"] = json!(slug);
    r["name"] = json!(slug);
    r["full_name"] = json!(format!("{workspace}/{slug}"));
    r["description"] = json!(format!("repo {slug}"));
    if !mainbranch {
        r["mainbranch"] = Value::Null;
    }
    r
}

/// `GET /2.0/user/workspaces` for `token`, in the shape of `user_workspaces.json`.
pub async fn mount_workspaces(server: &MockServer, token: &str, slugs: &[&str]) {
    let mut body = fixture("user_workspaces.json");
    let template = body["values"][0].clone();
    body["values"] = slugs
        .iter()
        .map(|s| {
            let mut w = template.clone();
            w["workspace"]["slug"] = json!(s);
            w
        })
        .collect();
    Mock::given(method("GET"))
        .and(path("/2.0/user/workspaces"))
        .and(header("authorization", bearer(token).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

/// `GET /2.0/repositories/{workspace}?role=member` for `token`: `count` repositories in
/// pages of 100 linked by `next` (the first repository has no main branch).
pub async fn mount_repos(server: &MockServer, token: &str, workspace: &str, count: usize) {
    let pages = count.div_ceil(100).max(1);
    for page in 1..=pages {
        let values: Vec<Value> = ((page - 1) * 100..(page * 100).min(count))
            .map(|i| repo_json(workspace, &format!("repo-{i:04}"), i != 0))
            .collect();
        let mut body = json!({"pagelen": 100, "page": page, "size": count, "values": values});
        if page < pages {
            body["next"] = json!(format!(
                "{}/2.0/repositories/{workspace}?role=member&pagelen=100&page={}",
                server.uri(),
                page + 1
            ));
        }
        let mut mock = Mock::given(method("GET"))
            .and(path(format!("/2.0/repositories/{workspace}")))
            .and(query_param("role", "member"))
            .and(header("authorization", bearer(token).as_str()));
        mock = if page == 1 {
            mock.and(query_param_is_missing("page"))
        } else {
            mock.and(query_param("page", page.to_string()))
        };
        mock.respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(server)
            .await;
    }
}

/// A token grant in the shape of `oauth_token.json`.
pub fn grant(access: &str, refresh: &str, expires_in: i64) -> Value {
    let mut g = fixture("oauth_token.json");
    g["access_token"] = json!(access);
    g["refresh_token"] = json!(refresh);
    g["expires_in"] = json!(expires_in);
    g
}

/// `POST /site/oauth2/access_token` for the refresh token `refresh`.
pub fn refresh_mock(refresh: &str) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/site/oauth2/access_token"))
        .and(body_string_contains(format!("refresh_token={refresh}")))
}

/// `GET /2.0/user` and `/2.0/user/emails` for `token`, from the fixtures.
pub async fn mount_identity(server: &MockServer, token: &str) {
    Mock::given(method("GET"))
        .and(path("/2.0/user"))
        .and(header("authorization", bearer(token).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("user.json")))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/2.0/user/emails"))
        .and(header("authorization", bearer(token).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("user_emails.json")))
        .mount(server)
        .await;
}

/// Token refreshes that presented the refresh token `refresh`.
pub async fn refreshes_with(server: &MockServer, refresh: &str) -> usize {
    let needle = format!("refresh_token={refresh}");
    requests(server, |r| {
        r.url.path() == "/site/oauth2/access_token"
            && String::from_utf8_lossy(&r.body).contains(&needle)
    })
    .await
    .len()
}
