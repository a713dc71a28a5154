//! Repository access checked as the user, end to end through `wrangler dev`, with the
//! default `REPO_ACCESS` (user) and a Bitbucket bot configured: a user who cannot read the
//! repository with their own token is refused at creation and at spawn (nothing is cloned
//! with the bot for them), one who cannot write to it is refused before any push, and the
//! force-push goes only to the session's own branch. Every door checks: joining, a ws-token,
//! each prompt; and the sandbox's git carries the prompting user's own right, never the
//! owner's once their prompts end.

mod common;

use std::time::Duration;

use common::bitbucket::{fixture, requests};
use common::sandbox::*;
use common::{now_ms, shared_with, unique, Client, Shared};
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
        c.get(&format!("/sessions/{id}")).await.body["session"]["baseBranch"],
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
async fn a_user_who_cannot_read_the_repository_is_refused_at_every_door() {
    let sh = shared();
    let c = sh.worker.client();
    mount_provider_ok(&sh.fake).await;
    let (repo, owner) = (unique("team-repo"), unique("owner"));
    let id = session(&c, &sh.fake, &repo, &owner, &unique("AT-owner")).await;
    // A member whose own token cannot read the repository tries to join, watch and prompt.
    let (member, member_token) = (unique("member"), unique("AT-member"));
    mount_read(&sh.fake, &repo, &member_token, 404).await;
    let joining = json!({"userId": member, "scmToken": member_token,
                         "scmTokenExpiresAt": now_ms() + 3_600_000});
    for route in ["ws-token", "participants"] {
        let r = c.post(&format!("/sessions/{id}/{route}"), &joining).await;
        assert_eq!(
            (r.status, r.code()),
            (404, "not_found"),
            "{route}: {}",
            r.body
        );
    }
    // Their token is stored now (it was offered), and still reads nothing: no prompt.
    let r = c
        .post(
            &format!("/sessions/{id}/prompt"),
            &json!({"content": "read the secrets", "authorId": member}),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.body);
    // Someone with no credentials at all is refused too (fails closed).
    let r = c
        .post(
            &format!("/sessions/{id}/prompt"),
            &json!({"content": "hello", "authorId": unique("stranger")}),
        )
        .await;
    assert!(r.status == 401 || r.status == 404, "{}", r.body);
    let participants = c.get(&format!("/sessions/{id}/participants")).await;
    assert!(!participants.body.to_string().contains(&member));
    let messages = c.get(&format!("/sessions/{id}/messages")).await;
    assert_eq!(messages.body["messages"], json!([]));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        spawn_requests(&sh.fake, &id).await.is_empty(),
        "no sandbox was asked for, so nothing was cloned"
    );
}

#[tokio::test]
async fn git_carries_the_prompting_users_own_right_and_nobodys_once_prompts_end() {
    let sh = shared();
    let c = sh.worker.client();
    let (repo, owner, owner_token) = (unique("right-repo"), unique("owner"), unique("AT-own"));
    let (member, member_token) = (unique("member"), unique("AT-mem"));
    let forge = common::git::Forge::new(common::temp_dir(&format!("forge-{repo}")), "");
    forge.mount(&sh.fake).await;
    // The bot reaches the repository too; with REPO_ACCESS=user it is never what git uses.
    forge.repo(
        "acme",
        &repo,
        &[
            &format!("x-token-auth:{owner_token}"),
            &format!("x-token-auth:{member_token}"),
            "access-bot:ACCESS-BOT-TOKEN",
        ],
    );
    let id = session(&c, &sh.fake, &repo, &owner, &owner_token).await;
    mount_read(&sh.fake, &repo, &member_token, 200).await;
    let r = c
        .post(
            &format!("/sessions/{id}/participants"),
            &json!({"userId": member, "scmToken": member_token,
                    "scmTokenExpiresAt": now_ms() + 3_600_000}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The member's prompt starts the sandbox; its git carries the member's token.
    let (mut sandbox, spawn) = start_working(&sh.worker, &sh.fake, &id, &member).await;
    let ticket = spawn["clone_token"].as_str().unwrap().to_string();
    let host = common::git_host(&sh.worker);
    let git = common::git::Sandbox::new(common::temp_dir(&format!("sb-{repo}")));
    let url = common::git::clone_url(&host, "x-token-auth", &ticket, "acme", &repo);
    let (ok, out) = git.git(&["clone", "-q", &url, "work"]);
    assert!(ok, "{out}");
    let used: Vec<String> = forge
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.2.clone())
        .collect();
    assert!(!used.is_empty());
    assert!(
        used.iter()
            .all(|c| c == &format!("x-token-auth:{member_token}")),
        "only the member's own right: {used:?}"
    );
    // The prompt ends: no one's right is handed out any more, not even the owner's.
    let running = c.get(&format!("/sessions/{id}/messages")).await;
    let message_id = running.body["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    sandbox
        .send(json!({"type": "execution_complete", "messageId": message_id, "success": true}))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let token = spawn["sandbox_auth_token"].as_str().unwrap();
    let r = c
        .send(
            c.http
                .post(c.url(&format!("/sessions/{id}/scm-credentials")))
                .bearer_auth(token),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "no_prompt_running"),
        "{}",
        r.body
    );
    let before = forge.seen.lock().unwrap().len();
    let (ok, out) = git.git_in("work", &["fetch", "-q", "origin"]);
    assert!(!ok && out.contains("409"), "{out}");
    assert_eq!(
        forge.seen.lock().unwrap().len(),
        before,
        "the forge was not asked"
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
    // A protected-looking team branch is passed over for the session's own; a new feature
    // branch is pushed, never forced. Every push goes through the control plane with a ticket.
    for (asked, expected, force) in [
        ("release/2.3", format!("agent/session-{id}"), true),
        ("feature/login-fix", "feature/login-fix".to_string(), false),
    ] {
        let c2 = c.clone();
        let path = format!("/sessions/{id}/pr");
        let pending = tokio::spawn(async move {
            c2.post(
                &path,
                &json!({"title": "T", "body": "B", "baseBranch": "trunk", "headBranch": asked}),
            )
            .await
        });
        let push = sandbox.complete_push().await;
        assert_eq!(push["pushSpec"]["targetBranch"], expected.as_str());
        assert_eq!(push["pushSpec"]["force"], force);
        common::assert_ticket_remote(
            &push,
            &sh.worker,
            "x-token-auth",
            ("acme", &repo),
            &["ACCESS-BOT-TOKEN", &token],
        );
        pending.await.unwrap();
    }
    // The write check was asked once and then cached.
    let checks = requests(&sh.fake, |q| {
        q.url.path() == "/2.0/repositories/acme"
            && q.url.query().unwrap_or("").contains("contributor")
            && q.url.query().unwrap_or("").contains(&repo)
    })
    .await;
    assert_eq!(checks.len(), 1);
}
