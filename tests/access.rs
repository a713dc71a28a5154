//! Repository access checked as the user, end to end through `wrangler dev`, with the
//! default `REPO_ACCESS` (user) and a Bitbucket bot configured: a user who cannot read the
//! repository with their own token is refused at creation and at spawn (nothing is cloned
//! with the bot for them), one who cannot write to it is refused before any push, and the
//! force-push goes only to the session's own branch.

mod common;

use std::time::Duration;

use common::bitbucket::{fixture, requests};
use common::sandbox::*;
use common::{now_ms, shared_with, unique, Client, Shared, WsClient};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn shared() -> &'static Shared {
    shared_with(&[
        // Empty: not set, so the default applies.
        ("REPO_ACCESS", ""),
        ("BITBUCKET_BOT_USERNAME", "access-bot"),
        ("BITBUCKET_BOT_API_TOKEN", "ACCESS-BOT-TOKEN"),
        ("PR_PUSH_TIMEOUT_MS", "5000"),
    ])
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `GET /2.0/repositories/acme/{repo}` with `token` answers `status` (200: the repository,
/// main branch `trunk`).
async fn mount_read(fake: &MockServer, repo: &str, token: &str, status: u16) {
    let mut body = fixture("repo.json");
    body["full_name"] = json!(format!("acme/{repo}"));
    body["slug"] = json!(repo);
    body["mainbranch"]["name"] = json!("trunk");
    let answer = if status == 200 {
        ResponseTemplate::new(200).set_body_json(body)
    } else {
        ResponseTemplate::new(status).set_body_json(
            json!({"type": "error", "error": {"message": format!("Repository acme/{repo} not found")}}),
        )
    };
    Mock::given(method("GET"))
        .and(path(format!("/2.0/repositories/acme/{repo}")))
        .and(header("authorization", bearer(token).as_str()))
        .respond_with(answer)
        .mount(fake)
        .await;
}

/// The contributor listing for `token`: `repo` listed or not.
async fn mount_write(fake: &MockServer, repo: &str, token: &str, listed: bool) {
    let mut r = fixture("repos.json")["values"][0].clone();
    r["slug"] = json!(repo);
    r["name"] = json!(repo);
    r["full_name"] = json!(format!("acme/{repo}"));
    let values = if listed { json!([r]) } else { json!([]) };
    Mock::given(method("GET"))
        .and(path("/2.0/repositories/acme"))
        .and(query_param("role", "contributor"))
        .and(query_param("q", format!("slug=\"{repo}\"")))
        .and(header("authorization", bearer(token).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"values": values})))
        .mount(fake)
        .await;
}

fn body(user: &str, repo: &str, token: &str) -> Value {
    json!({"repoOwner": "acme", "repoName": repo, "userId": user, "scmToken": token,
           "scmTokenExpiresAt": now_ms() + 3_600_000, "scmName": "Ada", "scmEmail": "ada@example.com"})
}

#[tokio::test]
async fn a_user_who_cannot_read_the_repository_cannot_create_a_session() {
    let sh = shared();
    let c = sh.worker.client();
    let (repo, token) = (unique("secret-repo"), unique("AT-no-read"));
    mount_read(&sh.fake, &repo, &token, 404).await;
    let r = c
        .post("/sessions", &body(&unique("u"), &repo, &token))
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.body);
    assert!(r.message().contains(&repo));
    // 403 upstream is the same answer: nothing says the repository exists.
    let token403 = unique("AT-403");
    mount_read(&sh.fake, &repo, &token403, 403).await;
    let r = c
        .post("/sessions", &body(&unique("u"), &repo, &token403))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    // No token at all: fail closed.
    let r = c
        .post(
            "/sessions",
            &json!({"repoOwner": "acme", "repoName": repo, "userId": unique("tokenless")}),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);

    // Allowed: one call, which also gives the main branch.
    let (ok_repo, ok_token) = (unique("open-repo"), unique("AT-read"));
    mount_read(&sh.fake, &ok_repo, &ok_token, 200).await;
    let r = c
        .post("/sessions", &body(&unique("u"), &ok_repo, &ok_token))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["sessionId"].as_str().unwrap().to_string();
    assert_eq!(
        c.get(&format!("/sessions/{id}")).await.body["baseBranch"],
        "trunk"
    );
    let calls = requests(&sh.fake, |q| {
        q.url.path() == format!("/2.0/repositories/acme/{ok_repo}")
    })
    .await;
    assert_eq!(calls.len(), 1);
}

/// A session of `owner` (who may read `repo`) and its id.
async fn session(c: &Client, fake: &MockServer, repo: &str, owner: &str, token: &str) -> String {
    mount_read(fake, repo, token, 200).await;
    let r = c.post("/sessions", &body(owner, repo, token)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["sessionId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn nothing_is_cloned_for_a_user_who_cannot_read_the_repository() {
    let sh = shared();
    let c = sh.worker.client();
    mount_provider_ok(&sh.fake).await;
    let (repo, owner) = (unique("team-repo"), unique("owner"));
    let id = session(&c, &sh.fake, &repo, &owner, &unique("AT-owner")).await;
    // A member whose own token cannot read the repository prompts.
    let (member, member_token) = (unique("member"), unique("AT-member"));
    mount_read(&sh.fake, &repo, &member_token, 404).await;
    let r = c
        .post(
            &format!("/sessions/{id}/ws-token"),
            &json!({"userId": member, "scmToken": member_token,
                    "scmTokenExpiresAt": now_ms() + 3_600_000}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (watch, _) = c.ws_token(&id, &owner).await;
    let (mut web, _) = WsClient::subscribed(&sh.worker, &id, &watch).await;
    let r = c
        .post(
            &format!("/sessions/{id}/prompt"),
            &json!({"content": "read the secrets", "authorId": member}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let err = web.expect_type("sandbox_error").await;
    assert!(
        err["error"].as_str().unwrap().contains("not started"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        spawn_requests(&sh.fake, &id).await.is_empty(),
        "no sandbox was asked for, so the bot cloned nothing"
    );
}

#[tokio::test]
async fn pushes_need_write_access_and_force_only_the_sessions_branch() {
    let sh = shared();
    let c = sh.worker.client();
    let (repo, owner, token) = (unique("push-repo"), unique("pusher"), unique("AT-push"));
    let id = session(&c, &sh.fake, &repo, &owner, &token).await;
    let (mut sandbox, _) = start_working(&sh.worker, &sh.fake, &id, &owner).await;
    let pr = |head: Option<&str>| {
        let c = c.clone();
        let path = format!("/sessions/{id}/pr");
        let mut body = json!({"title": "T", "body": "B", "baseBranch": "trunk"});
        if let Some(h) = head {
            body["headBranch"] = json!(h);
        }
        tokio::spawn(async move { c.post(&path, &body).await })
    };

    // Read access only: refused before anything is pushed.
    mount_write(&sh.fake, &repo, &token, false).await;
    let r = pr(None).await.unwrap();
    assert_eq!((r.status, r.code()), (403, "forbidden"), "{}", r.body);
    let quiet = tokio::time::timeout(Duration::from_secs(1), sandbox.next(5)).await;
    assert!(quiet.is_err(), "nothing was pushed: {quiet:?}");
}

#[tokio::test]
async fn a_writer_pushes_the_sessions_branch_with_force_and_others_without() {
    let sh = shared();
    let c = sh.worker.client();
    let (repo, owner, token) = (unique("write-repo"), unique("writer"), unique("AT-write"));
    let id = session(&c, &sh.fake, &repo, &owner, &token).await;
    mount_write(&sh.fake, &repo, &token, true).await;
    let (mut sandbox, _) = start_working(&sh.worker, &sh.fake, &id, &owner).await;
    Mock::given(method("POST"))
        .and(path(format!("/2.0/repositories/acme/{repo}/pullrequests")))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_json(json!({"type": "error", "error": {"message": "stop here"}})),
        )
        .mount(&sh.fake)
        .await;
    // Its own branch is forced.
    let c2 = c.clone();
    let path = format!("/sessions/{id}/pr");
    let pending = tokio::spawn(async move {
        c2.post(
            &path,
            &json!({"title": "T", "body": "B", "baseBranch": "trunk"}),
        )
        .await
    });
    let push = sandbox.complete_push().await;
    assert_eq!(
        push["pushSpec"]["targetBranch"],
        format!("agent/session-{id}")
    );
    assert_eq!(push["pushSpec"]["force"], true);
    pending.await.unwrap();
    // The tool asks for an existing team branch: pushed, but never forced.
    let c2 = c.clone();
    let path = format!("/sessions/{id}/pr");
    let pending = tokio::spawn(async move {
        c2.post(
            &path,
            &json!({"title": "T", "body": "B", "baseBranch": "trunk", "headBranch": "release/2.3"}),
        )
        .await
    });
    let push = sandbox.complete_push().await;
    assert_eq!(push["pushSpec"]["targetBranch"], "release/2.3");
    assert_eq!(push["pushSpec"]["force"], false);
    pending.await.unwrap();
    // The write check was asked once and then cached.
    let checks = requests(&sh.fake, |q| {
        q.url.path() == "/2.0/repositories/acme"
            && q.url.query().unwrap_or("").contains("contributor")
            && q.url.query().unwrap_or("").contains(&repo)
    })
    .await;
    assert_eq!(checks.len(), 1);
}
