//! End-to-end tests of Bitbucket credentials and `GET /repos` through `wrangler dev`, with
//! a wiremock Bitbucket speaking the recorded wire format.

mod common;

use std::time::Instant;

use common::bitbucket::*;
use common::{now_ms, shared, unique, Client, Reply};
use serde_json::json;
use wiremock::{Mock, ResponseTemplate};

fn client() -> Client {
    shared().worker.client()
}

/// A name unique to this test run.
async fn repos_with(c: &Client, header: &str, value: &str) -> Reply {
    c.get_with(
        "/repos",
        &[("x-vcs-provider", "bitbucket"), (header, value)],
    )
    .await
}

/// Stores credentials for `user` by creating a session with them.
async fn store_credentials(
    c: &Client,
    user: &str,
    access: &str,
    refresh: &str,
    expires_at: i64,
) -> String {
    c.create_session(
        user,
        json!({"scmToken": access, "scmRefreshToken": refresh, "scmTokenExpiresAt": expires_at,
               "scmName": "Some One", "scmEmail": "some@example.com"}),
    )
    .await
}

/// A user whose stored token has expired, with their old and rotated pairs.
struct Expired {
    user: String,
    old_at: String,
    old_rt: String,
    new_rt: String,
}

/// Stores an expired pair for a new user; the token endpoint rotates it after `delay_ms`, and
/// Bitbucket lists `repos` repositories (in workspace `ws-<label>`) for the new token.
async fn expired_user_with_slow_refresh(
    c: &Client,
    label: &str,
    delay_ms: u64,
    repos: usize,
) -> Expired {
    let fake = &shared().fake;
    let user = unique(&format!("u-{label}"));
    let (old_at, old_rt) = (unique("AT-old"), unique("RT-old"));
    let (new_at, new_rt) = (unique("AT-new"), unique("RT-new"));
    store_credentials(c, &user, &old_at, &old_rt, now_ms() - 1000).await;
    refresh_mock(&old_rt)
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(grant(&new_at, &new_rt, 7200))
                .set_delay(std::time::Duration::from_millis(delay_ms)),
        )
        .mount(fake)
        .await;
    let ws = format!("ws-{label}");
    mount_workspaces(fake, &new_at, &[ws.as_str()]).await;
    mount_repos(fake, &new_at, &ws, repos).await;
    Expired {
        user,
        old_at,
        old_rt,
        new_rt,
    }
}

#[tokio::test]
async fn lists_250_repositories_of_two_workspaces_with_exact_upstream_calls() {
    let fake = &shared().fake;
    let token = unique("AT-list");
    mount_workspaces(fake, &token, &["ws-alpha", "ws-beta"]).await;
    mount_repos(fake, &token, "ws-alpha", 150).await;
    mount_repos(fake, &token, "ws-beta", 100).await;
    Mock::given(wiremock::matchers::path("/2.0/repositories"))
        .respond_with(
            ResponseTemplate::new(410).set_body_json(json!({"type": "error",
            "error": {"message": "This API is no longer available. See CHANGE-2770."}})),
        )
        .mount(fake)
        .await;

    let c = client();
    let r = repos_with(&c, "x-user-token", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["cached"], false);
    let repos = r.body["repos"].as_array().unwrap();
    assert_eq!(repos.len(), 250);
    let names: Vec<&str> = repos
        .iter()
        .map(|r| r["fullName"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted by fullName");
    assert_eq!(
        repos[1],
        json!({"id": control_plane::vcs::bitbucket::responses::repo_number("{ws-alpha-repo-0001}"),
               "owner": "ws-alpha", "name": "repo-0001",
               "fullName": "ws-alpha/repo-0001", "description": "repo repo-0001", "private": true,
               "defaultBranch": "master", "archived": false})
    );
    assert_eq!(repos[0]["defaultBranch"], "main", "no mainbranch → main");
    let calls = calls_with(fake, &token).await;
    assert_eq!(
        calls.len(),
        4,
        "workspaces + 2 pages of ws-alpha + 1 of ws-beta"
    );
    assert!(calls.iter().all(|r| r.url.path() != "/2.0/repositories"));
    assert!(calls
        .iter()
        .filter(|r| r.url.path().starts_with("/2.0/repositories/"))
        .all(|r| r.url.query().unwrap_or("").contains("pagelen=100")));

    let again = repos_with(&c, "x-user-token", &token).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["cached"], true);
    assert_eq!(again.body["repos"].as_array().unwrap().len(), 250);
    assert_eq!(again.body["cachedAt"], r.body["cachedAt"]);
    let at = r.body["cachedAt"].as_str().expect("ISO 8601 cachedAt");
    assert!(at.ends_with('Z') && at.contains('T'), "{at}");
    assert_eq!(
        calls_with(fake, &token).await.len(),
        4,
        "served from the cache"
    );
    let retired = requests(fake, |r| r.url.path() == "/2.0/repositories").await;
    assert!(retired.is_empty(), "the retired endpoint was called");
}

#[tokio::test]
async fn twenty_concurrent_calls_share_one_refresh() {
    let fake = &shared().fake;
    let Expired {
        user,
        old_at,
        old_rt,
        ..
    } = expired_user_with_slow_refresh(&client(), "refresh", 300, 3).await;

    let c = client();
    let calls = (0..20).map(|_| {
        let c = c.clone();
        let user = user.clone();
        tokio::spawn(async move { repos_with(&c, "x-user-id", &user).await })
    });
    for h in futures::future::join_all(calls).await {
        let r = h.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["repos"].as_array().unwrap().len(), 3);
    }
    assert_eq!(
        refreshes_with(fake, &old_rt).await,
        1,
        "exactly one refresh"
    );
    assert!(
        calls_with(fake, &old_at).await.is_empty(),
        "the expired token was never used"
    );
    let auth = requests(fake, |r| r.url.path() == "/site/oauth2/access_token").await;
    let basic = auth[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(basic.starts_with("Basic "));
}

#[tokio::test]
async fn a_revoked_refresh_token_requires_reauthentication() {
    let fake = &shared().fake;
    let c = client();
    let user = unique("u-revoked");
    let (at, rt) = (unique("AT-rev"), unique("RT-rev"));
    let session = store_credentials(&c, &user, &at, &rt, now_ms() - 1000).await;
    refresh_mock(&rt)
        .respond_with(ResponseTemplate::new(400).set_body_json(fixture("oauth_invalid_grant.json")))
        .mount(fake)
        .await;

    for _ in 0..2 {
        let r = repos_with(&c, "x-user-id", &user).await;
        assert_eq!((r.status, r.code()), (401, "reauth_required"), "{}", r.body);
    }
    assert_eq!(
        refreshes_with(fake, &rt).await,
        1,
        "a revoked credential is not retried"
    );

    // The user signs in again: newer credentials replace the flagged ones.
    let fresh_at = unique("AT-again");
    mount_workspaces(fake, &fresh_at, &["ws-again"]).await;
    mount_repos(fake, &fresh_at, "ws-again", 2).await;
    let r = c
        .post(
            &format!("/sessions/{session}/ws-token"),
            &json!({"userId": user, "scmToken": fresh_at, "scmRefreshToken": unique("RT-again"),
                    "scmTokenExpiresAt": now_ms() + 3_600_000}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = repos_with(&c, "x-user-id", &user).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["repos"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_old_tokens() {
    let fake = &shared().fake;
    let c = client();
    let user = unique("u-5xx");
    let (at, rt) = (unique("AT-5xx"), unique("RT-5xx"));
    store_credentials(&c, &user, &at, &rt, now_ms() - 1000).await;
    refresh_mock(&rt)
        .respond_with(ResponseTemplate::new(500).set_body_string("internal error"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(fake)
        .await;
    let new_at = unique("AT-5xx-new");
    refresh_mock(&rt)
        .respond_with(ResponseTemplate::new(200).set_body_json(grant(
            &new_at,
            &unique("RT-5xx-new"),
            3600,
        )))
        .mount(fake)
        .await;
    mount_workspaces(fake, &new_at, &[]).await;

    let r = repos_with(&c, "x-user-id", &user).await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.message().contains("refresh"));
    // The same, old refresh token still works: nothing was overwritten.
    let r = repos_with(&c, "x-user-id", &user).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["repos"], json!([]));
    assert_eq!(refreshes_with(fake, &rt).await, 2);
}

#[tokio::test]
async fn rate_limits_are_retried_with_backoff_then_reported() {
    let fake = &shared().fake;
    let c = client();
    let ws = || wiremock::matchers::path("/2.0/user/workspaces");
    let auth =
        |t: &str| wiremock::matchers::header("authorization", format!("Bearer {t}").as_str());

    // Plain-text 429 without Retry-After, then success.
    let plain = unique("AT-429");
    Mock::given(ws())
        .and(auth(&plain))
        .respond_with(ResponseTemplate::new(429).set_body_string("Rate limit exceeded"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(fake)
        .await;
    mount_workspaces(fake, &plain, &[]).await;
    let r = repos_with(&c, "x-user-token", &plain).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(calls_with(fake, &plain).await.len(), 2);

    // Retry-After is honoured.
    let after = unique("AT-429-ra");
    Mock::given(ws())
        .and(auth(&after))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "2")
                .set_body_string("slow down"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(fake)
        .await;
    mount_workspaces(fake, &after, &[]).await;
    let started = Instant::now();
    let r = repos_with(&c, "x-user-token", &after).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        started.elapsed().as_millis() >= 2000,
        "waited {:?}",
        started.elapsed()
    );

    // Always limited: 3 tries, then 503 with the reason, well within 10 s.
    let always = unique("AT-429-x");
    Mock::given(ws())
        .and(auth(&always))
        .respond_with(ResponseTemplate::new(429).set_body_string("Rate limit exceeded"))
        .mount(fake)
        .await;
    let started = Instant::now();
    let r = repos_with(&c, "x-user-token", &always).await;
    assert_eq!((r.status, r.code()), (503, "rate_limited"), "{}", r.body);
    assert!(r.message().contains("Rate limit exceeded"));
    assert_eq!(calls_with(fake, &always).await.len(), 3);
    assert!(started.elapsed().as_secs() < 10);
}

#[tokio::test]
async fn upstream_failures_become_clear_errors() {
    let fake = &shared().fake;
    let c = client();
    let ws = || wiremock::matchers::path("/2.0/user/workspaces");
    let auth =
        |t: &str| wiremock::matchers::header("authorization", format!("Bearer {t}").as_str());

    let t500 = unique("AT-500");
    Mock::given(ws())
        .and(auth(&t500))
        .respond_with(ResponseTemplate::new(500).set_body_string("oops"))
        .mount(fake)
        .await;
    let r = repos_with(&c, "x-user-token", &t500).await;
    assert_eq!((r.status, r.code()), (502, "upstream_error"), "{}", r.body);

    let t401 = unique("AT-401");
    Mock::given(ws())
        .and(auth(&t401))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"type": "error",
            "error": {"message": "Access token expired."}})),
        )
        .mount(fake)
        .await;
    let r = repos_with(&c, "x-user-token", &t401).await;
    assert_eq!((r.status, r.code()), (401, "reauth_required"), "{}", r.body);

    let t410 = unique("AT-410");
    mount_workspaces(fake, &t410, &["ws-gone"]).await;
    Mock::given(wiremock::matchers::path("/2.0/repositories/ws-gone"))
        .and(auth(&t410))
        .respond_with(
            ResponseTemplate::new(410).set_body_json(json!({"type": "error",
            "error": {"message": "Gone. See CHANGE-2770."}})),
        )
        .mount(fake)
        .await;
    let r = repos_with(&c, "x-user-token", &t410).await;
    assert_eq!(
        (r.status, r.code()),
        (502, "upstream_retired"),
        "{}",
        r.body
    );
    assert!(r.message().contains("CHANGE-2770"));
    assert_eq!(
        calls_with(fake, &t410).await.len(),
        2,
        "a retired endpoint is never retried"
    );

    // A stored token that Bitbucket rejects flags the credential for every later caller.
    let user = unique("u-401");
    let stored = unique("AT-stored-401");
    store_credentials(&c, &user, &stored, &unique("RT-401"), now_ms() + 3_600_000).await;
    Mock::given(ws())
        .and(auth(&stored))
        .respond_with(ResponseTemplate::new(401).set_body_string("Unauthorized"))
        .mount(fake)
        .await;
    for _ in 0..2 {
        let r = repos_with(&c, "x-user-id", &user).await;
        assert_eq!((r.status, r.code()), (401, "reauth_required"), "{}", r.body);
    }
    let listings = calls_with(fake, &stored).await;
    let listings = listings
        .iter()
        .filter(|r| r.url.path() == "/2.0/user/workspaces")
        .count();
    assert_eq!(listings, 1, "a flagged credential is not tried again");

    let r = c
        .send(
            c.http
                .get(c.url("/repos"))
                .bearer_auth(common::service_token_at(now_ms())),
        )
        .await;
    // No user headers: the bot's repositories, and this worker has no bot for REST.
    assert_eq!(
        (r.status, r.code()),
        (500, "server_misconfigured"),
        "{}",
        r.body
    );
    assert!(r.message().contains("BITBUCKET_BOT_EMAIL"));
    let r = repos_with(&c, "x-user-id", &unique("nobody")).await;
    assert_eq!(r.status, 401);
    let r = c
        .send(
            c.http
                .get(c.url("/repos"))
                .bearer_auth(common::service_token_at(now_ms()))
                .header("x-vcs-provider", "gitlab")
                .header("x-user-token", "t"),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn joining_fills_the_git_identity_from_bitbucket() {
    let fake = &shared().fake;
    let c = client();
    let user = unique("u-identity");
    let token = unique("AT-identity");
    mount_identity(fake, &token).await;
    let session = c
        .create_session(
            &user,
            json!({"scmToken": token, "scmTokenExpiresAt": now_ms() + 3_600_000}),
        )
        .await;
    let ps = c.get(&format!("/sessions/{session}/participants")).await;
    let p = &ps.body["participants"][0];
    assert_eq!(p["scmName"], "Brad Rydzewski");
    assert_eq!(p["scmEmail"], "dev@example.com");
    assert_eq!(p["scmLogin"], "brydzewski");

    // Joining another session without a token uses the stored credentials.
    let other = c
        .create_session(
            &unique("owner"),
            json!({"scmName": "X", "scmEmail": "x@example.com"}),
        )
        .await;
    let before = calls_with(fake, &token).await.len();
    c.ws_token(&other, &user).await;
    let ps = c.get(&format!("/sessions/{other}/participants")).await;
    let joined = ps.item("participants", "userId", &user);
    assert_eq!(joined["scmName"], "Brad Rydzewski");
    assert_eq!(joined["scmEmail"], "dev@example.com");
    assert_eq!(calls_with(fake, &token).await.len(), before + 2);
}

/// An upstream that closes every connection after its answer (HTTP/1.0, no keep-alive):
/// 20 concurrent listings all succeed, dropped connections being retried (GETs only).
#[tokio::test]
async fn an_upstream_that_closes_every_connection_still_answers_every_listing() {
    let upstream = common::start_closing_upstream();
    let fake = common::start_fake();
    let root = common::temp_dir("closing");
    let mut vars = common::test_vars(&fake.uri());
    vars.retain(|(k, _)| *k != "BITBUCKET_API_URL");
    vars.push(("BITBUCKET_API_URL", format!("{upstream}/2.0")));
    let worker = common::Worker::start_with(&root.join("state"), &vars, Some(&root));
    let c = worker.client();
    let answers =
        futures::future::join_all(
            (0..20).map(|i| {
                let c = c.clone();
                async move {
                    repos_with(&c, "x-user-token", &format!("AT-closing-{i}-{}", now_ms())).await
                }
            }),
        )
        .await;
    let ok = answers.iter().filter(|r| r.status == 200).count();
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(ok, 20, "statuses: {statuses:?}");
    for r in &answers {
        assert_eq!(r.body["repos"][0]["fullName"], "ws-close/kept");
    }
    worker.stop();
}

#[tokio::test]
async fn a_refresh_whose_caller_hangs_up_still_stores_the_new_pair() {
    let fake = &shared().fake;
    let c = client();
    let Expired {
        user,
        old_rt,
        new_rt,
        ..
    } = expired_user_with_slow_refresh(&c, "hangup", 1500, 2).await;

    // The caller gives up while the token endpoint is still answering.
    let gone = c
        .http
        .get(c.url("/repos"))
        .bearer_auth(common::service_token_at(now_ms()))
        .header("x-vcs-provider", "bitbucket")
        .header("x-user-id", &user)
        .timeout(std::time::Duration::from_millis(400))
        .send()
        .await;
    assert!(gone.is_err(), "the caller hung up before the answer");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    // The rotated pair was stored: the next caller uses it without refreshing again.
    let r = repos_with(&c, "x-user-id", &user).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["repos"].as_array().unwrap().len(), 2);
    assert_eq!(refreshes_with(fake, &old_rt).await, 1, "one refresh only");
    assert_eq!(refreshes_with(fake, &new_rt).await, 0);
}
