//! End-to-end tests of GitHub as a provider through `wrangler dev`, with a wiremock GitHub
//! speaking the recorded wire format and verifying the App's RS256 JWTs with the public half
//! of a key made for this run. This binary's worker checks repository access as the user
//! (the default), has the GitHub App configured and no Bitbucket bot.

mod common;

use std::sync::OnceLock;

use common::github::*;
use common::sandbox::*;
use common::{now_ms, shared_with, unique, Client, Reply, Shared, WsClient};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The App's private key (PEM, `\n` escaped) and its public key (PEM).
fn key() -> &'static (String, String) {
    static KEY: OnceLock<(String, String)> = OnceLock::new();
    KEY.get_or_init(|| app_key(&common::temp_dir("github-app-key")))
}

fn shared() -> &'static Shared {
    shared_with(&[
        // Empty: not set, so the default (REPO_ACCESS=user) applies.
        ("REPO_ACCESS", ""),
        ("GITHUB_APP_ID", APP_ID),
        ("GITHUB_APP_INSTALLATION_ID", INSTALLATION_ID),
        ("GITHUB_APP_PRIVATE_KEY", key().0.as_str()),
        ("PR_PUSH_TIMEOUT_MS", "5000"),
        ("WEB_APP_URL", "https://app.example"),
    ])
}

/// The shared worker with the App's token exchange mounted.
async fn setup() -> &'static Shared {
    let sh = shared();
    mount_app(&sh.fake, key().1.clone()).await;
    sh
}

/// `GET {path}` for GitHub with the given headers.
async fn github_get(c: &Client, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![("x-vcs-provider", "github")];
    all.extend_from_slice(headers);
    c.get_with(path, &all).await
}

#[tokio::test]
async fn a_users_repositories_follow_link_pages_and_are_cached() {
    let sh = setup().await;
    let c = sh.worker.client();
    let (token, owner) = (unique("ghu-list"), unique("octo"));
    mount_user_repos(&sh.fake, &token, &owner, 150).await;
    let r = github_get(&c, "/repos", &[("x-user-token", &token)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let repos = r.body["repos"].as_array().unwrap();
    assert_eq!(repos.len(), 150);
    assert_eq!(r.body["cached"], false);
    assert_eq!(
        repos[0],
        json!({"id": 10000, "owner": owner, "name": "repo-0000", "fullName": format!("{owner}/repo-0000"),
               "description": "This your first repo!", "private": true, "defaultBranch": "master",
               "archived": false})
    );
    assert_eq!(calls_with(&sh.fake, &token).await.len(), 2, "two pages");
    let again = github_get(&c, "/repos", &[("x-user-token", &token)]).await;
    assert_eq!(again.body["cached"], true);
    assert_eq!(again.body["repos"], r.body["repos"]);
    assert_eq!(
        calls_with(&sh.fake, &token).await.len(),
        2,
        "served from the cache"
    );
}

#[tokio::test]
async fn without_user_headers_the_app_installation_lists_and_its_token_is_kept() {
    let sh = setup().await;
    let c = sh.worker.client();
    Mock::given(method("GET"))
        .and(path("/github/installation/repositories"))
        .and(header("authorization", bearer(INSTALLATION_TOKEN).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("github_app_repos.json")))
        .mount(&sh.fake)
        .await;
    let r = github_get(&c, "/repos", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["repos"][0]["fullName"], "octocat/Hello-World");
    assert_eq!(r.body["repos"][0]["defaultBranch"], "master");
    // Branch listings of five repositories (five cache keys): five calls with the token.
    let names: Vec<String> = (0..5).map(|i| unique(&format!("app-repo-{i}"))).collect();
    for name in &names {
        Mock::given(method("GET"))
            .and(path(format!("/github/repos/octocat/{name}/branches")))
            .and(header("authorization", bearer(INSTALLATION_TOKEN).as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([fixture("branch.json")])))
            .mount(&sh.fake)
            .await;
    }
    let calls = names.iter().map(|name| {
        let c = c.clone();
        let p = format!("/repos/octocat/{name}/branches");
        async move { github_get(&c, &p, &[]).await }
    });
    for b in futures::future::join_all(calls).await {
        assert_eq!(b.status, 200, "{}", b.body);
        assert_eq!(b.body["branches"], json!([{"name": "master"}]));
    }
    assert!(calls_with(&sh.fake, INSTALLATION_TOKEN).await.len() >= 6);
    // One exchange per isolate for all of them (the worker and the sessions may run in
    // different isolates), never one per call.
    let n = exchanges(&sh.fake).await;
    assert!((1..=2).contains(&n), "{n} installation-token exchanges");
}

/// Creates a GitHub session on octo/`repo` owned by a new user with a fresh token (name and
/// e-mail given), the repository readable and writable with it.
async fn github_session(sh: &Shared, repo: &str) -> (String, String, String) {
    let c = sh.worker.client();
    let (user, token) = (unique("gh-owner"), unique("ghu-owner"));
    mount_repo(&sh.fake, "octo", repo, &token, true).await;
    let id = c
        .create_session(
            &user,
            json!({"repoOwner": "octo", "repoName": repo, "vcsProvider": "github",
                   "scmToken": token, "scmTokenExpiresAt": now_ms() + 3_600_000, "scmProvider": "github",
                   "scmName": "Mona Lisa", "scmEmail": "mona@example.com"}),
        )
        .await;
    (id, user, token)
}

/// Offers `user`'s expired GitHub token and refresh token `refresh` by joining `session`. The
/// door (REPO_ACCESS=user) refreshes it to check their read access, and refuses them here
/// (the fake knows no read answer for them); what they offered is stored all the same.
async fn add_expired(c: &Client, session: &str, user: &str, refresh: &str) {
    let r = c
        .post(
            &format!("/sessions/{session}/participants"),
            &json!({"userId": user, "scmToken": unique("ghu-expired"), "scmRefreshToken": refresh,
                    "scmTokenExpiresAt": now_ms() - 1000, "scmProvider": "github",
                    "scmName": "Old Token", "scmEmail": "old@example.com"}),
        )
        .await;
    assert!([401, 404].contains(&r.status), "{}", r.body);
}

#[tokio::test]
async fn expired_user_tokens_refresh_with_rotation_and_a_bad_refresh_token_means_sign_in_again() {
    let sh = setup().await;
    let c = sh.worker.client();
    let (session, _, _) = github_session(sh, &unique("refresh-repo")).await;

    let (user, rt, new_at, new_rt) = (
        unique("gh-refresh"),
        unique("ghr-old"),
        unique("ghu-new"),
        unique("ghr-new"),
    );
    refresh_mock(&rt)
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(grant(&new_at, &new_rt)))
        .mount(&sh.fake)
        .await;
    add_expired(&c, &session, &user, &rt).await;
    mount_user_repos(&sh.fake, &new_at, "octo", 3).await;
    let r = github_get(&c, "/repos", &[("x-user-id", &user)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["repos"].as_array().unwrap().len(), 3);
    let refreshes = requests(&sh.fake, |q| {
        q.url.path() == "/github-oauth/access_token"
            && String::from_utf8_lossy(&q.body).contains(&rt)
    })
    .await;
    assert_eq!(refreshes.len(), 1);
    let form = String::from_utf8_lossy(&refreshes[0].body).to_string();
    for part in [
        "grant_type=refresh_token",
        "client_id=test-github-client",
        "client_secret=test-github-secret",
    ] {
        assert!(form.contains(part), "{form}");
    }
    // The rotated pair is stored: the branches call uses the new token, no second refresh.
    Mock::given(method("GET"))
        .and(path("/github/repos/octo/web/branches"))
        .and(header("authorization", bearer(&new_at).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([fixture("branch.json")])))
        .mount(&sh.fake)
        .await;
    let b = github_get(&c, "/repos/octo/web/branches", &[("x-user-id", &user)]).await;
    assert_eq!(b.status, 200, "{}", b.body);
    let again = requests(&sh.fake, |q| q.url.path() == "/github-oauth/access_token").await;
    assert_eq!(
        again
            .iter()
            .filter(|q| String::from_utf8_lossy(&q.body).contains(&rt))
            .count(),
        1
    );

    // A refresh token GitHub no longer knows: HTTP 200 with `bad_refresh_token`.
    let (bad_user, bad_rt) = (unique("gh-bad"), unique("ghr-bad"));
    refresh_mock(&bad_rt)
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("oauth_bad_refresh_token.json")),
        )
        .mount(&sh.fake)
        .await;
    add_expired(&c, &session, &bad_user, &bad_rt).await;
    let r = github_get(&c, "/repos", &[("x-user-id", &bad_user)]).await;
    assert_eq!((r.status, r.code()), (401, "reauth_required"), "{}", r.body);
    let r = github_get(&c, "/repos", &[("x-user-id", &bad_user)]).await;
    assert_eq!((r.status, r.code()), (401, "reauth_required"), "{}", r.body);
    let bad = requests(&sh.fake, |q| {
        q.url.path() == "/github-oauth/access_token"
            && String::from_utf8_lossy(&q.body).contains(&bad_rt)
    })
    .await;
    assert_eq!(bad.len(), 1, "a rejected refresh token is not tried again");
}

/// A GitHub session whose sandbox is connected and working, with two subscribed clients.
struct Working {
    id: String,
    user: String,
    token: String,
    repo: String,
    sandbox: FakeSandbox,
    spawn: Value,
}

async fn working_session(sh: &Shared) -> Working {
    let repo = unique("gh-pr-repo");
    let (id, user, token) = github_session(sh, &repo).await;
    let (sandbox, spawn) = start_working(&sh.worker, &sh.fake, &id, &user).await;
    Working {
        id,
        user,
        token,
        repo,
        sandbox,
        spawn,
    }
}

fn head_of(id: &str) -> String {
    format!("agent/session-{id}")
}

fn pr_answer(number: u64, repo: &str, head: &str) -> Value {
    let mut pr = fixture("pr.json");
    pr["number"] = json!(number);
    pr["html_url"] = json!(format!("https://github.com/octo/{repo}/pull/{number}"));
    pr["head"]["ref"] = json!(head);
    pr["base"]["ref"] = json!("trunk");
    pr
}

fn start_pr(c: &Client, id: &str, body: Value) -> tokio::task::JoinHandle<Reply> {
    let c = c.clone();
    let path = format!("/sessions/{id}/pr");
    tokio::spawn(async move { c.post(&path, &body).await })
}

#[tokio::test]
async fn a_github_session_clones_and_pushes_with_the_app_and_opens_the_pr_as_the_user() {
    let sh = setup().await;
    let c = sh.worker.client();
    let mut w = working_session(sh).await;
    assert_eq!(w.spawn["vcs_provider"], "github");
    assert_eq!(w.spawn["vcs_host"], common::git_host(&sh.worker).as_str());
    assert_eq!(w.spawn["clone_username"], "x-access-token");
    // A ticket for the control plane's git, never the App's token.
    assert!(w.spawn["clone_token"]
        .as_str()
        .unwrap()
        .starts_with("oig1."));
    assert!(!w.spawn.to_string().contains(INSTALLATION_TOKEN));
    assert_eq!(
        w.spawn["branch"], "trunk",
        "the default branch, looked up as the user"
    );

    let head = head_of(&w.id);
    let expected = json!({
        "title": "Fix the login page",
        "body": format!("It works now.\n\n---\nCreated by a background agent: [view the session](https://app.example/session/{})", w.id),
        "head": head,
        "base": "trunk",
    });
    Mock::given(method("POST"))
        .and(path(pulls_path("octo", &w.repo)))
        .and(header("authorization", bearer(&w.token).as_str()))
        .and(body_json(&expected))
        .respond_with(ResponseTemplate::new(201).set_body_json(pr_answer(1347, &w.repo, &head)))
        .mount(&sh.fake)
        .await;
    let (t1, _) = c.ws_token(&w.id, &w.user).await;
    // A second tab (a reviewer without read access would be refused at the door).
    let (t2, _) = c.ws_token(&w.id, &w.user).await;
    let (mut a, _) = WsClient::subscribed(&sh.worker, &w.id, &t1).await;
    let (mut b, _) = WsClient::subscribed(&sh.worker, &w.id, &t2).await;

    let pending = start_pr(
        &c,
        &w.id,
        json!({"title": "Fix the login page", "body": "It works now."}),
    );
    let push = w.sandbox.expect_type("push").await;
    common::assert_ticket_remote(
        &push,
        &sh.worker,
        "x-access-token",
        ("octo", &w.repo),
        &[INSTALLATION_TOKEN, &w.token],
    );
    assert_eq!(
        push["pushSpec"]["refspec"],
        format!("HEAD:refs/heads/{head}").as_str()
    );
    assert_eq!(push["pushSpec"]["targetBranch"], head.as_str());
    assert_eq!(push["pushSpec"]["force"], true);
    assert_eq!(push["vcsProvider"], "github");
    w.sandbox
        .send(json!({"type": "push_complete", "branchName": head}))
        .await;
    let r = pending.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let url = format!("https://github.com/octo/{}/pull/1347", w.repo);
    assert_eq!(
        r.body,
        json!({"prNumber": 1347, "prUrl": url, "state": "open", "headBranch": head,
               "baseBranch": "trunk", "updated": false})
    );
    let mut frames = String::new();
    for client in [&mut a, &mut b] {
        let created = client.expect_type("artifact_created").await;
        assert_eq!(created["artifact"]["prNumber"], 1347);
        assert_eq!(created["artifact"]["url"], url.as_str());
        frames.push_str(&created.to_string());
    }
    let arts = c.get(&format!("/sessions/{}/artifacts", w.id)).await;
    assert_eq!(
        arts.body["artifacts"][0]["metadata"],
        json!({"number": 1347, "state": "open", "lifecycleState": "open", "isDraft": false,
               "head": head, "base": "trunk", "repoOwner": "octo", "repoName": w.repo,
               "vcsProvider": "github"})
    );
    // The push permission was checked as the user before the push.
    let checks = requests(&sh.fake, |q| {
        q.url.path() == format!("/github/repos/octo/{}", w.repo)
    })
    .await;
    assert!(!checks.is_empty());
    common::assert_secrets_hidden(
        &sh.worker,
        &w.id,
        &frames,
        &[&w.token, INSTALLATION_TOKEN, &key().0[40..100]],
    )
    .await;
}

#[tokio::test]
async fn an_open_pr_the_session_did_not_open_is_never_adopted() {
    let sh = setup().await;
    let c = sh.worker.client();
    let mut w = working_session(sh).await;
    Mock::given(method("POST"))
        .and(path(pulls_path("octo", &w.repo)))
        .respond_with(ResponseTemplate::new(422).set_body_json(fixture("pr_exists.json")))
        .mount(&sh.fake)
        .await;
    let pending = start_pr(&c, &w.id, json!({"title": "T", "body": "B"}));
    w.sandbox.complete_push().await;
    let r = pending.await.unwrap();
    assert_eq!((r.status, r.code()), (409, "conflict"), "{}", r.body);
    assert!(r.message().contains("did not open it"), "{}", r.body);
    let lookups = requests(&sh.fake, |q| {
        q.method.as_str() == "GET" && q.url.path() == pulls_path("octo", &w.repo)
    })
    .await;
    assert!(
        lookups.is_empty(),
        "someone else's pull request is not looked for"
    );
    let arts = c.get(&format!("/sessions/{}/artifacts", w.id)).await;
    assert_eq!(arts.body["artifacts"], json!([]));
}

#[tokio::test]
async fn a_branch_without_commits_is_422_no_changes() {
    let sh = setup().await;
    let c = sh.worker.client();
    let mut w = working_session(sh).await;
    Mock::given(method("POST"))
        .and(path(pulls_path("octo", &w.repo)))
        .respond_with(ResponseTemplate::new(422).set_body_json(fixture("pr_no_commits.json")))
        .mount(&sh.fake)
        .await;
    let pending = start_pr(&c, &w.id, json!({"title": "T", "body": "B"}));
    w.sandbox.complete_push().await;
    let r = pending.await.unwrap();
    assert_eq!((r.status, r.code()), (422, "no_changes"), "{}", r.body);
    let arts = c.get(&format!("/sessions/{}/artifacts", w.id)).await;
    assert_eq!(arts.body["artifacts"], json!([]));
}

#[tokio::test]
async fn rate_limits_wait_for_the_reset_then_give_up_with_503() {
    let sh = setup().await;
    let c = sh.worker.client();
    // Spent until the next second: waited for, then answered.
    let token = unique("ghu-limited-once");
    mount_user_repos(&sh.fake, &token, "octo", 2).await;
    let reset = (now_ms() / 1000 + 1).to_string();
    Mock::given(method("GET"))
        .and(path("/github/user/repos"))
        .and(header("authorization", bearer(&token).as_str()))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(fixture("rate_limited.json"))
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.as_str()),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&sh.fake)
        .await;
    let r = github_get(&c, "/repos", &[("x-user-token", &token)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(calls_with(&sh.fake, &token).await.len(), 2);

    // Always limited: three tries, then 503 saying when to try again.
    let token = unique("ghu-limited");
    Mock::given(method("GET"))
        .and(path("/github/user/repos"))
        .and(header("authorization", bearer(&token).as_str()))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(fixture("rate_limited.json"))
                .insert_header("retry-after", "1"),
        )
        .mount(&sh.fake)
        .await;
    let r = github_get(&c, "/repos", &[("x-user-token", &token)]).await;
    assert_eq!((r.status, r.code()), (503, "rate_limited"), "{}", r.body);
    assert!(r.message().contains("try again in 1 s"), "{}", r.body);
    assert_eq!(calls_with(&sh.fake, &token).await.len(), 3);
}

/// Bitbucket's answers for a user: the repository (readable) and their identity.
async fn mount_bitbucket_user(fake: &MockServer, repo: &str, token: &str) {
    let mut body = common::bitbucket::fixture("repo.json");
    body["full_name"] = json!(format!("acme/{repo}"));
    body["slug"] = json!(repo);
    Mock::given(method("GET"))
        .and(path(format!("/2.0/repositories/acme/{repo}")))
        .and(header("authorization", bearer(token).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(fake)
        .await;
    common::bitbucket::mount_identity(fake, token).await;
}

#[tokio::test]
async fn one_user_runs_a_bitbucket_and_a_github_session_at_once_each_with_its_provider() {
    let sh = setup().await;
    let c = sh.worker.client();
    let user = unique("two-forges");
    let (bb_token, gh_token) = (unique("bb-at"), unique("ghu-two"));
    let (bb_repo, gh_repo) = (unique("bb-repo"), unique("gh-repo"));
    mount_bitbucket_user(&sh.fake, &bb_repo, &bb_token).await;
    mount_repo(&sh.fake, "octo", &gh_repo, &gh_token, true).await;
    mount_identity(&sh.fake, &gh_token).await;
    let expires = now_ms() + 3_600_000;
    // No name or e-mail given: each session looks the identity up at its own provider.
    let bb = json!({"repoOwner": "acme", "repoName": bb_repo, "vcsProvider": "bitbucket",
        "scmToken": bb_token, "scmTokenExpiresAt": expires, "scmProvider": "bitbucket"});
    let gh = json!({"repoOwner": "octo", "repoName": gh_repo, "vcsProvider": "github",
        "scmToken": gh_token, "scmTokenExpiresAt": expires, "scmProvider": "github"});
    let (bb_id, gh_id) = tokio::join!(c.create_session(&user, bb), c.create_session(&user, gh));

    let (bb_work, gh_work) = tokio::join!(
        start_working(&sh.worker, &sh.fake, &bb_id, &user),
        start_working(&sh.worker, &sh.fake, &gh_id, &user)
    );
    let (bb_spawn, gh_spawn) = (bb_work.1, gh_work.1);
    assert_eq!(bb_spawn["vcs_provider"], "bitbucket");
    assert_eq!(bb_spawn["clone_username"], "x-token-auth");
    assert_eq!(gh_spawn["vcs_provider"], "github");
    assert_eq!(gh_spawn["clone_username"], "x-access-token");
    for spawn in [&bb_spawn, &gh_spawn] {
        assert!(spawn["clone_token"].as_str().unwrap().starts_with("oig1."));
        let text = spawn.to_string();
        assert!(!text.contains(&bb_token) && !text.contains(INSTALLATION_TOKEN));
    }

    let people = |id: String| {
        let c = c.clone();
        async move {
            c.get(&format!("/sessions/{id}/participants")).await.body["participants"][0].clone()
        }
    };
    let (bb_p, gh_p) = tokio::join!(people(bb_id), people(gh_id));
    assert_eq!(bb_p["scmName"], "Brad Rydzewski");
    assert_eq!(
        (
            gh_p["scmName"].as_str(),
            gh_p["scmEmail"].as_str(),
            gh_p["scmLogin"].as_str()
        ),
        (
            Some("monalisa octocat"),
            Some("octocat@github.com"),
            Some("octocat")
        )
    );
    // Each provider only ever saw its own token.
    let bb_calls = calls_with(&sh.fake, &bb_token).await;
    let gh_calls = calls_with(&sh.fake, &gh_token).await;
    assert!(!bb_calls.is_empty() && bb_calls.iter().all(|q| q.url.path().starts_with("/2.0/")));
    assert!(
        !gh_calls.is_empty()
            && gh_calls
                .iter()
                .all(|q| q.url.path().starts_with("/github/"))
    );
    // Stored per provider: the user's listing at each provider uses that provider's token.
    mount_user_repos(&sh.fake, &gh_token, "octo", 1).await;
    let r = github_get(&c, "/repos", &[("x-user-id", &user)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["repos"][0]["fullName"], "octo/repo-0000");
}
