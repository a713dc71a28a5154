//! End-to-end tests of pull requests through `wrangler dev`: the push through a fake
//! sandbox and the pull request on a wiremock Bitbucket, with every row of the failure
//! table. This binary's worker has a bot configured and a short push timeout.

mod common;

use std::time::{Duration, Instant};

use common::bitbucket::*;
use common::sandbox::*;
use common::{now_ms, shared_with, unique, Client, Reply, Shared, WsClient};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BOT_TOKEN: &str = "BOT-SECRET-API-TOKEN";

fn shared() -> &'static Shared {
    shared_with(&[
        ("BITBUCKET_BOT_USERNAME", "pr-bot"),
        ("BITBUCKET_BOT_API_TOKEN", BOT_TOKEN),
        ("PR_PUSH_TIMEOUT_MS", "3000"),
        ("WEB_APP_URL", "https://app.example"),
    ])
}

/// A session on acme/`repo` whose sandbox is connected and working on a first prompt.
struct Ready {
    id: String,
    user: String,
    repo: String,
    access: String,
    refresh: String,
    sandbox: FakeSandbox,
    spawn: Value,
}

async fn ready_session(worker: &common::Worker, fake: &MockServer, expires_at: i64) -> Ready {
    let c = worker.client();
    let (user, repo) = (unique("pr-user"), unique("repo"));
    let (access, refresh) = (unique("AT-pr"), unique("RT-pr"));
    let id = c
        .create_session(
            &user,
            json!({"repoName": repo, "scmToken": access, "scmRefreshToken": refresh,
                   "scmTokenExpiresAt": expires_at, "scmName": "Grace Hopper", "scmEmail": "grace@example.com"}),
        )
        .await;
    let (sandbox, spawn) = start_working(worker, fake, &id, &user).await;
    Ready {
        id,
        user,
        repo,
        access,
        refresh,
        sandbox,
        spawn,
    }
}

fn pr_path(id: &str) -> String {
    format!("/sessions/{id}/pr")
}

/// Starts `POST /pr` in the background.
fn start_pr(c: &Client, id: &str, body: Value) -> tokio::task::JoinHandle<Reply> {
    let c = c.clone();
    let path = pr_path(id);
    tokio::spawn(async move { c.post(&path, &body).await })
}

async fn mount_repo(fake: &MockServer, repo: &str, token: &str) {
    let mut body = fixture("repo.json");
    body["full_name"] = json!(format!("acme/{repo}"));
    body["slug"] = json!(repo);
    Mock::given(method("GET"))
        .and(path(format!("/2.0/repositories/acme/{repo}")))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(fake)
        .await;
}

fn pr_answer(number: u64, repo: &str, head: &str) -> Value {
    let mut pr = fixture("pr.json");
    pr["id"] = json!(number);
    pr["links"]["html"]["href"] = json!(format!(
        "https://bitbucket.org/acme/{repo}/pull-requests/{number}"
    ));
    pr["source"]["branch"]["name"] = json!(head);
    pr
}

/// How many pull requests were asked of the fake Bitbucket for acme/`repo`.
async fn pr_posts(fake: &MockServer, repo: &str) -> usize {
    let at = format!("/2.0/repositories/acme/{repo}/pullrequests");
    let seen = fake.received_requests().await.unwrap_or_default();
    seen.iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == at)
        .count()
}

fn head_of(id: &str) -> String {
    format!("agent/session-{id}")
}

#[tokio::test]
async fn happy_path_refresh_push_with_the_bot_then_pr_as_the_user() {
    let sh = shared();
    let fake = &sh.fake;
    let c = sh.worker.client();
    let mut s = ready_session(&sh.worker, fake, now_ms() - 1000).await;
    let new_access = unique("AT-pr-new");
    refresh_mock(&s.refresh)
        .respond_with(ResponseTemplate::new(200).set_body_json(grant(
            &new_access,
            &unique("RT-pr-new"),
            7200,
        )))
        .mount(fake)
        .await;
    mount_repo(fake, &s.repo, &new_access).await;
    let head = head_of(&s.id);
    let expected_pr = json!({
        "title": "Fix the login page",
        "description": format!("It works now.\n\n---\nCreated by a background agent: [view the session](https://app.example/session/{})", s.id),
        "source": {"branch": {"name": head}},
        "destination": {"branch": {"name": "master"}},
        "close_source_branch": true,
    });
    Mock::given(method("POST"))
        .and(path(format!(
            "/2.0/repositories/acme/{}/pullrequests",
            s.repo
        )))
        .and(header(
            "authorization",
            format!("Bearer {new_access}").as_str(),
        ))
        .and(body_json(&expected_pr))
        .respond_with(ResponseTemplate::new(201).set_body_json(pr_answer(77, &s.repo, &head)))
        .mount(fake)
        .await;
    let (t1, _) = c.ws_token(&s.id, &s.user).await;
    let (t2, _) = c.ws_token(&s.id, "reviewer").await;
    let (mut a, _) = WsClient::subscribed(&sh.worker, &s.id, &t1).await;
    let (mut b, _) = WsClient::subscribed(&sh.worker, &s.id, &t2).await;

    let pending = start_pr(
        &c,
        &s.id,
        json!({"title": "Fix the login page", "body": "It works now."}),
    );
    let push = s.sandbox.expect_type("push").await;
    // Through the control plane's git with a ticket: the bot's token stays with us.
    common::assert_ticket_remote(
        &push,
        &sh.worker,
        "x-token-auth",
        ("acme", &s.repo),
        &[BOT_TOKEN, &s.access, &s.refresh],
    );
    assert_eq!(
        push["pushSpec"]["refspec"],
        format!("HEAD:refs/heads/{head}").as_str()
    );
    assert_eq!(push["pushSpec"]["targetBranch"], head.as_str());
    assert_eq!(push["pushSpec"]["force"], true);
    assert_eq!(push["vcsProvider"], "bitbucket");
    s.sandbox
        .send(json!({"type": "push_complete", "branchName": head, "ackId": "push-1"}))
        .await;
    let r = pending.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"prNumber": 77, "prUrl": format!("https://bitbucket.org/acme/{}/pull-requests/77", s.repo),
               "state": "open", "headBranch": head, "baseBranch": "master", "updated": false})
    );
    assert_eq!(refreshes_with(fake, &s.refresh).await, 1, "one refresh");

    let mut frames = String::new();
    for client in [&mut a, &mut b] {
        let created = client.expect_type("artifact_created").await;
        assert_eq!(created["artifact"]["type"], "pr");
        assert_eq!(created["artifact"]["prNumber"], 77);
        assert_eq!(created["artifact"]["url"], r.body["prUrl"]);
        frames.push_str(&created.to_string());
    }
    let arts = c.get(&format!("/sessions/{}/artifacts", s.id)).await;
    let art = &arts.body["artifacts"][0];
    assert_eq!(
        art["metadata"],
        json!({"number": 77, "state": "open", "lifecycleState": "open", "isDraft": false,
               "head": head, "base": "master", "repoOwner": "acme", "repoName": s.repo,
               "vcsProvider": "bitbucket"})
    );
    // Asked again on the same head while #77 is open: pushed, and #77 answered as updated.
    let pr_77 = format!("/2.0/repositories/acme/{}/pullrequests/77", s.repo);
    Mock::given(method("GET"))
        .and(path(&pr_77))
        .respond_with(ResponseTemplate::new(200).set_body_json(pr_answer(77, &s.repo, &head)))
        .up_to_n_times(1)
        .mount(fake)
        .await;
    let again = start_pr(&c, &s.id, json!({"title": "Again", "body": "x"}));
    let push = s.sandbox.complete_push().await;
    assert_eq!(push["pushSpec"]["targetBranch"], head.as_str());
    let again = again.await.unwrap();
    assert_eq!(
        again.body,
        json!({"prNumber": 77, "prUrl": r.body["prUrl"], "state": "open", "headBranch": head,
               "baseBranch": "master", "updated": true}),
        "{}",
        again.body
    );
    assert_eq!(pr_posts(fake, &s.repo).await, 1, "no second pull request");

    // Merged since: its artifact is healed, the head is free, a new pull request is opened.
    let mut merged = pr_answer(77, &s.repo, &head);
    merged["state"] = json!("MERGED");
    Mock::given(method("GET"))
        .and(path(&pr_77))
        .respond_with(ResponseTemplate::new(200).set_body_json(merged))
        .mount(fake)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2.0/repositories/acme/{}/pullrequests",
            s.repo
        )))
        .and(body_partial_json(json!({"title": "Follow-up"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(pr_answer(78, &s.repo, &head)))
        .mount(fake)
        .await;
    let third = start_pr(&c, &s.id, json!({"title": "Follow-up", "body": "y"}));
    let push = s.sandbox.complete_push().await;
    assert_eq!(push["pushSpec"]["targetBranch"], head.as_str());
    let third = third.await.unwrap();
    assert_eq!(third.status, 200, "{}", third.body);
    assert_eq!(
        (
            third.body["prNumber"].clone(),
            third.body["updated"].clone()
        ),
        (json!(78), json!(false))
    );
    let healed = a.expect_type("artifact_updated").await;
    assert_eq!(healed["artifact"]["metadata"]["state"], "merged");
    assert_eq!(healed["artifact"]["metadata"]["number"], 77);
    let created = a.expect_type("artifact_created").await;
    assert_eq!(created["artifact"]["metadata"]["number"], 78);
    let arts = c.get(&format!("/sessions/{}/artifacts", s.id)).await;
    let numbers: Vec<_> = arts.body["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["metadata"]["number"].clone(),
                a["metadata"]["state"].clone(),
            )
        })
        .collect();
    // Newest first.
    assert_eq!(
        numbers,
        vec![(json!(78), json!("open")), (json!(77), json!("merged"))]
    );
    // The session list counts them (written after the answer: looked for a while).
    let mut summary = Value::Null;
    for _ in 0..50 {
        let list = c.get("/sessions?limit=100").await;
        summary = list.body["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["id"] == s.id.as_str())
            .map(|item| item["pullRequestSummary"].clone())
            .unwrap_or(Value::Null);
        if summary["total"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        summary,
        json!({"total": 2, "open": 1, "draft": 0, "merged": 1, "closed": 0})
    );

    // The secrets appear nowhere but in the push command.
    common::assert_secrets_hidden(
        &sh.worker,
        &s.id,
        &frames,
        &[BOT_TOKEN, &s.access, &new_access, &s.refresh],
    )
    .await;
}

#[tokio::test]
async fn the_sandbox_may_ask_for_the_pr_with_its_own_token() {
    let sh = shared();
    let c = sh.worker.client();
    let mut s = ready_session(&sh.worker, &sh.fake, now_ms() + 3_600_000).await;
    let head = "feature/by-sandbox";
    Mock::given(method("POST"))
        .and(path(format!(
            "/2.0/repositories/acme/{}/pullrequests",
            s.repo
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(pr_answer(5, &s.repo, head)))
        .mount(&sh.fake)
        .await;
    let forged = c
        .send(
            c.http
                .post(c.url(&pr_path(&s.id)))
                .bearer_auth("f".repeat(64))
                .json(&json!({"title": "t", "body": "b"})),
        )
        .await;
    assert_eq!(forged.status, 401, "{}", forged.body);
    let token = s.spawn["sandbox_auth_token"].as_str().unwrap().to_string();
    let req = c
        .http
        .post(c.url(&pr_path(&s.id)))
        .bearer_auth(&token)
        .json(&json!({"title": "t", "body": "b", "baseBranch": "develop", "headBranch": head}));
    let c2 = c.clone();
    let pending = tokio::spawn(async move { c2.send(req).await });
    let push = s.sandbox.complete_push().await;
    assert_eq!(push["pushSpec"]["targetBranch"], head);
    // A branch the session did not create is never force-pushed.
    assert_eq!(push["pushSpec"]["force"], false);
    let r = pending.await.unwrap();
    assert_eq!(
        (r.status, &r.body["prNumber"]),
        (200, &json!(5)),
        "{}",
        r.body
    );
}

/// Runs a PR whose push succeeds and whose Bitbucket answer is `answer`.
async fn pr_with_answer(answer: ResponseTemplate, times: Option<u64>) -> (Reply, Ready, usize) {
    let sh = shared();
    let c = sh.worker.client();
    let mut s = ready_session(&sh.worker, &sh.fake, now_ms() + 3_600_000).await;
    let pr_path_bb = format!("/2.0/repositories/acme/{}/pullrequests", s.repo);
    let mut mock = Mock::given(method("POST"))
        .and(path(pr_path_bb.clone()))
        .respond_with(answer);
    if let Some(n) = times {
        mock = mock.up_to_n_times(n);
    }
    mock.mount(&sh.fake).await;
    let pending = start_pr(
        &c,
        &s.id,
        json!({"title": "T", "body": "B", "baseBranch": "main"}),
    );
    s.sandbox.complete_push().await;
    let r = pending.await.unwrap();
    let calls = requests(&sh.fake, |r| r.url.path() == pr_path_bb)
        .await
        .len();
    (r, s, calls)
}

#[tokio::test]
async fn bitbucket_refusals_are_shown_clearly() {
    let protected = json!({"type": "error", "error": {"message": "Bad request",
        "fields": {"destination": ["Branch main is protected: pull requests need approval"]}}});
    let (r, _, _) = pr_with_answer(ResponseTemplate::new(400).set_body_json(protected), None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("protected"), "{}", r.body);

    let (r, _, _) = pr_with_answer(
        ResponseTemplate::new(400).set_body_json(fixture("pr_create_conflict.json")),
        None,
    )
    .await;
    assert_eq!((r.status, r.code()), (422, "no_changes"), "{}", r.body);

    let (r, _, _) = pr_with_answer(
        ResponseTemplate::new(403)
            .set_body_json(json!({"type": "error", "error": {"message": "write access required"}})),
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.message().contains("write access"));

    let started = Instant::now();
    let (r, _, calls) = pr_with_answer(
        ResponseTemplate::new(429).set_body_string("Rate limit exceeded"),
        None,
    )
    .await;
    assert_eq!((r.status, r.code()), (503, "rate_limited"), "{}", r.body);
    assert_eq!(calls, 3);
    assert!(started.elapsed() < Duration::from_secs(15));

    // Bitbucket answers an existing open PR for the same branches with 201 and its id.
    let (r, s, _) = pr_with_answer(
        ResponseTemplate::new(201).set_body_json(pr_answer(4982, "x", "h")),
        None,
    )
    .await;
    assert_eq!((r.status, &r.body["prNumber"]), (200, &json!(4982)));
    let c = shared().worker.client();
    let arts = c.get(&format!("/sessions/{}/artifacts", s.id)).await;
    assert_eq!(arts.body["artifacts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_private_repository_without_access_is_a_clear_error() {
    let sh = shared();
    let c = sh.worker.client();
    let mut s = ready_session(&sh.worker, &sh.fake, now_ms() + 3_600_000).await;
    Mock::given(method("GET"))
        .and(path(format!("/2.0/repositories/acme/{}", s.repo)))
        .respond_with(ResponseTemplate::new(404).set_body_json(fixture("error.json")))
        .mount(&sh.fake)
        .await;
    let r = c
        .post(&pr_path(&s.id), &json!({"title": "T", "body": "B"}))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.message().contains("not found"));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), s.sandbox.next(1))
            .await
            .is_err(),
        "no push was sent"
    );
}

#[tokio::test]
async fn credential_failures_stop_before_the_push() {
    let sh = shared();
    let c = sh.worker.client();
    // Revoked refresh token → 401 reauth_required, nothing pushed.
    let mut s = ready_session(&sh.worker, &sh.fake, now_ms() - 1000).await;
    refresh_mock(&s.refresh)
        .respond_with(ResponseTemplate::new(400).set_body_json(fixture("oauth_invalid_grant.json")))
        .mount(&sh.fake)
        .await;
    let r = c
        .post(&pr_path(&s.id), &json!({"title": "T", "body": "B"}))
        .await;
    assert_eq!((r.status, r.code()), (401, "reauth_required"), "{}", r.body);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), s.sandbox.next(1))
            .await
            .is_err()
    );

    // Refresh fails upstream → a clear 502; the stored refresh token is kept and reused.
    let s2 = ready_session(&sh.worker, &sh.fake, now_ms() - 1000).await;
    refresh_mock(&s2.refresh)
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .mount(&sh.fake)
        .await;
    for _ in 0..2 {
        let r = c
            .post(&pr_path(&s2.id), &json!({"title": "T", "body": "B"}))
            .await;
        assert_eq!(r.status, 502, "{}", r.body);
        assert!(r.message().contains("refresh"));
    }
    assert_eq!(
        refreshes_with(&sh.fake, &s2.refresh).await,
        2,
        "the same refresh token both times"
    );

    // Bad input.
    for bad in [
        json!({"title": " ", "body": "B"}),
        json!({"title": "T", "body": ""}),
        json!({"title": "T", "body": "B", "baseBranch": "a..b"}),
    ] {
        let r = c.post(&pr_path(&s2.id), &bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
}

#[tokio::test]
async fn push_failures_timeouts_and_disconnects() {
    let sh = shared();
    let c = sh.worker.client();
    let mut s = ready_session(&sh.worker, &sh.fake, now_ms() + 3_600_000).await;
    let body = json!({"title": "T", "body": "B", "baseBranch": "main"});

    // push_error → 502 with the sandbox's message.
    let pending = start_pr(&c, &s.id, body.clone());
    let push = s.sandbox.expect_type("push").await;
    let branch = push["pushSpec"]["targetBranch"]
        .as_str()
        .unwrap()
        .to_string();
    s.sandbox
        .send(json!({"type": "push_error", "branchName": branch,
                     "error": format!("remote rejected: pre-receive hook declined (https://pr-bot:{BOT_TOKEN}@host/x.git)")}))
        .await;
    let r = pending.await.unwrap();
    assert_eq!((r.status, r.code()), (502, "push_failed"));
    assert!(r.message().contains("pre-receive hook declined"));
    // What the sandbox relays never carries a credential, in the answer or the events.
    assert!(!r.message().contains(BOT_TOKEN), "{}", r.message());
    let errors = c
        .get(&format!("/sessions/{}/events?type=push_error", s.id))
        .await;
    assert!(!errors.body.to_string().contains(BOT_TOKEN));

    // No answer → 504 after the (test) timeout of 3 s.
    let started = Instant::now();
    let pending = start_pr(&c, &s.id, body.clone());
    s.sandbox.expect_type("push").await;
    let r = pending.await.unwrap();
    assert_eq!((r.status, r.code()), (504, "push_timeout"));
    assert!(started.elapsed() >= Duration::from_secs(3));

    // The sandbox reconnects mid-push (its new socket replaces the old): the push is still
    // under way, and its report on the new socket completes it (review finding L6).
    let pending = start_pr(&c, &s.id, body.clone());
    let push = s.sandbox.expect_type("push").await;
    let pushed = push["pushSpec"]["targetBranch"].clone();
    let mut again = FakeSandbox::from_spawn(&sh.worker, &s.spawn).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    again
        .send(json!({"type": "push_error", "branchName": pushed, "error": "rejected by hook"}))
        .await;
    let r = pending.await.unwrap();
    assert_eq!((r.status, r.code()), (502, "push_failed"), "{}", r.body);
    assert!(r.message().contains("rejected by hook"), "{}", r.body);
    s.sandbox = again;

    // The sandbox drops mid-push → an error well before the timeout.
    let pending = start_pr(&c, &s.id, body.clone());
    s.sandbox.expect_type("push").await;
    let started = Instant::now();
    s.sandbox.close().await;
    let r = pending.await.unwrap();
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.message().contains("disconnected"));
    assert!(started.elapsed() < Duration::from_secs(3));

    // No sandbox connected → 409.
    let r = c.post(&pr_path(&s.id), &body).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "sandbox_not_connected"),
        "{}",
        r.body
    );

    // The session is still usable: the sandbox reconnects and the PR goes through.
    let mut again = FakeSandbox::from_spawn(&sh.worker, &s.spawn).await;
    again.send(json!({"type": "ready"})).await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2.0/repositories/acme/{}/pullrequests",
            s.repo
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(pr_answer(9, &s.repo, &branch)))
        .mount(&sh.fake)
        .await;
    // The sandbox's tool sends its current branch, here the base: the session's own
    // branch is pushed instead, never an error.
    let from_tool = json!({"title": "T", "body": "B", "baseBranch": "main", "headBranch": "MAIN"});
    let pending = start_pr(&c, &s.id, from_tool);
    let push = again.complete_push().await;
    assert_eq!(push["pushSpec"]["targetBranch"], branch.as_str());
    let r = pending.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        c.get(&format!("/sessions/{}", s.id)).await.body["session"]["branchName"],
        branch.as_str()
    );
}

#[tokio::test]
async fn without_a_bot_the_user_token_pushes() {
    let fake = common::start_fake();
    let root = common::temp_dir("nobot");
    let worker = common::Worker::start_with(
        &root.join("state"),
        &common::test_vars(&fake.uri()),
        Some(&root),
    );
    let c = worker.client();
    let mut s = ready_session(&worker, &fake, now_ms() + 3_600_000).await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2.0/repositories/acme/{}/pullrequests",
            s.repo
        )))
        .and(header(
            "authorization",
            format!("Bearer {}", s.access).as_str(),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(pr_answer(3, &s.repo, "h")))
        .mount(&fake)
        .await;
    let pending = start_pr(
        &c,
        &s.id,
        json!({"title": "T", "body": "B", "baseBranch": "main"}),
    );
    let push = s.sandbox.complete_push().await;
    common::assert_ticket_remote(
        &push,
        &worker,
        "x-token-auth",
        ("acme", &s.repo),
        &[&s.access, &s.refresh],
    );
    let r = pending.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    worker.stop();
}
