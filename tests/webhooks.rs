//! End-to-end tests of the forges' webhooks through `wrangler dev`: signed deliveries built
//! from the recorded payloads (`tests/fixtures/*/webhooks`) update the session that
//! opened the pull request, reach every client as `artifact_updated`, and show in the index;
//! bad signatures, redeliveries, older events, unknown events and pull requests change
//! nothing. This binary's worker has both webhook secrets, `D1_TRACE=1` (so the log counts
//! D1 round trips and Durable Object calls) and a one-second push echo window. Its tests run
//! one at a time, since they count log lines.

mod common;

use std::time::Duration;

use common::sandbox::*;
use common::{now_ms, shared_with, unique, Reply, Shared, WsClient};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const BB_SECRET: &str = "bb-webhook-secret";
const GH_SECRET: &str = "gh-webhook-secret";

fn shared() -> &'static Shared {
    shared_with(&[
        ("BITBUCKET_WEBHOOK_SECRET", BB_SECRET),
        // A workspace with a secret of its own: the shared one does not sign for it.
        (
            "BITBUCKET_WEBHOOK_SECRETS",
            r#"{"team-b": "team-b-secret"}"#,
        ),
        ("GITHUB_WEBHOOK_SECRET", GH_SECRET),
        ("D1_TRACE", "1"),
        ("PUSH_ECHO_WINDOW_MS", "1000"),
        ("PR_PUSH_TIMEOUT_MS", "5000"),
    ])
}

/// One test at a time: they count the worker's log lines.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Clone, Copy, PartialEq)]
enum Forge {
    Bitbucket,
    Github,
}

/// A signed delivery (`signature`: the header's value, `None` to leave it out).
async fn deliver_raw(
    forge: Forge,
    event: &str,
    delivery: &str,
    body: &[u8],
    signature: Option<String>,
) -> Reply {
    let c = shared().worker.client();
    let (route, sig, ev, id) = match forge {
        Forge::Bitbucket => (
            "bitbucket",
            "x-hub-signature",
            "x-event-key",
            "x-request-uuid",
        ),
        Forge::Github => (
            "github",
            "x-hub-signature-256",
            "x-github-event",
            "x-github-delivery",
        ),
    };
    let mut req = c
        .http
        .post(c.url(&format!("/webhooks/{route}")))
        .header("content-type", "application/json")
        .header(ev, event)
        .header(id, delivery)
        .body(body.to_vec());
    if let Some(s) = signature {
        req = req.header(sig, s);
    }
    c.send(req).await
}

async fn deliver(forge: Forge, event: &str, delivery: &str, body: &Value) -> Reply {
    let secret = match forge {
        Forge::Bitbucket => BB_SECRET,
        Forge::Github => GH_SECRET,
    };
    let bytes = body.to_string().into_bytes();
    let signature = sign(secret, &bytes);
    deliver_raw(forge, event, delivery, &bytes, Some(signature)).await
}

/// A session whose pull request is open, with two subscribed clients.
struct Opened {
    id: String,
    user: String,
    forge: Forge,
    owner: &'static str,
    repo: String,
    /// The repository's id as the forge's deliveries carry it (`repository.uuid` on
    /// Bitbucket, `repository.id` on GitHub), as the forge answered it to the session.
    repo_id: Value,
    number: u64,
    head: String,
    sandbox: FakeSandbox,
    clients: Vec<WsClient>,
}

/// Opens a pull request on `forge` for a new session (the forge answers `pr_status` with
/// `pr_body`, e.g. 422 for no changes: then no pull request is recorded).
async fn open_pr(forge: Forge, pr_status: u16, pr_body: Value) -> (Opened, Reply) {
    let sh = shared();
    let c = sh.worker.client();
    let (user, repo, token) = (unique("wh-user"), unique("wh-repo"), unique("wh-token"));
    let (owner, extra) = match forge {
        Forge::Bitbucket => ("acme", json!({})),
        Forge::Github => (
            "octo",
            json!({"vcsProvider": "github", "scmProvider": "github"}),
        ),
    };
    let mut body = json!({"repoOwner": owner, "repoName": repo, "branch": "main", "scmToken": token,
        "scmTokenExpiresAt": now_ms() + 3_600_000, "scmName": "Ada", "scmEmail": "ada@example.com"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let id = c.create_session(&user, body).await;
    let (mut sandbox, _) = start_working(&sh.worker, &sh.fake, &id, &user).await;
    let pulls = match forge {
        Forge::Bitbucket => format!("/2.0/repositories/{owner}/{repo}/pullrequests"),
        Forge::Github => format!("/github/repos/{owner}/{repo}/pulls"),
    };
    // The repository, as the session reads it to learn its id before routing anything.
    let (repo_path, repo_body, repo_id) = match forge {
        Forge::Bitbucket => {
            let r = common::bitbucket::repo_json(owner, &repo, true);
            let uuid = r["uuid"].clone();
            (format!("/2.0/repositories/{owner}/{repo}"), r, uuid)
        }
        Forge::Github => {
            let r = common::github::repo_json(owner, &repo, true);
            let number = r["id"].clone();
            (format!("/github/repos/{owner}/{repo}"), r, number)
        }
    };
    Mock::given(method("GET"))
        .and(path(repo_path))
        .respond_with(ResponseTemplate::new(200).set_body_json(repo_body))
        .mount(&sh.fake)
        .await;
    Mock::given(method("POST"))
        .and(path(pulls))
        .respond_with(ResponseTemplate::new(pr_status).set_body_json(pr_body))
        .mount(&sh.fake)
        .await;
    let mut clients = Vec::new();
    for who in [&user, "wh-watcher"] {
        let (t, _) = c.ws_token(&id, who).await;
        clients.push(WsClient::subscribed(&sh.worker, &id, &t).await.0);
    }
    let pr_path = format!("/sessions/{id}/pr");
    let pending = {
        let c = c.clone();
        tokio::spawn(async move { c.post(&pr_path, &json!({"title": "T", "body": "B"})).await })
    };
    let push = sandbox.complete_push().await;
    let head = push["pushSpec"]["targetBranch"]
        .as_str()
        .unwrap()
        .to_string();
    let r = pending.await.unwrap();
    let number = r.body["prNumber"].as_u64().unwrap_or(0);
    for client in &mut clients {
        if r.status == 200 {
            client.expect_type("artifact_created").await;
        }
    }
    let opened = Opened {
        id,
        user,
        forge,
        owner,
        repo,
        repo_id,
        number,
        head,
        sandbox,
        clients,
    };
    (opened, r)
}

fn bitbucket_pr(number: u64) -> Value {
    let mut pr = common::bitbucket::fixture("pr.json");
    pr["id"] = json!(number);
    pr
}

fn github_pr(number: u64) -> Value {
    let mut pr = common::github::fixture("pr.json");
    pr["number"] = json!(number);
    pr
}

/// Makes the delivery `b` about `o`'s repository: its name and its id.
fn about(b: &mut Value, o: &Opened) {
    b["repository"]["full_name"] = json!(format!("{}/{}", o.owner, o.repo));
    let id = match o.forge {
        Forge::Bitbucket => "uuid",
        Forge::Github => "id",
    };
    b["repository"][id] = o.repo_id.clone();
}

/// A Bitbucket delivery from `file` about `o`'s pull request, updated at `at` (Unix ms).
fn bitbucket_event(file: &str, o: &Opened, at: i64) -> Value {
    let mut b = common::bitbucket::fixture(&format!("webhooks/{file}"));
    about(&mut b, o);
    if b.get("pullrequest").is_some() {
        b["pullrequest"]["id"] = json!(o.number);
        b["pullrequest"]["updated_on"] = json!(control_plane::clock::iso8601(at));
    }
    b
}

/// A GitHub delivery from `file` about `o`'s pull request, updated at `at` (Unix ms).
fn github_event(file: &str, o: &Opened, at: i64) -> Value {
    let mut b = common::github::fixture(&format!("webhooks/{file}"));
    about(&mut b, o);
    if b.get("pull_request").is_some() {
        b["pull_request"]["number"] = json!(o.number);
        b["pull_request"]["updated_at"] = json!(control_plane::clock::iso8601(at));
    }
    b
}

/// The answer is `code` with `{"status": status}`.
fn answered(r: &Reply, code: u16, status: &str) {
    assert_eq!(
        (r.status, &r.body["status"]),
        (code, &json!(status)),
        "{}",
        r.body
    );
}

async fn pr_metadata(id: &str) -> Value {
    let c = shared().worker.client();
    c.get(&format!("/sessions/{id}/artifacts")).await.body["artifacts"][0]["metadata"].clone()
}

/// Every client receives `artifact_updated` with `state`.
async fn all_see(o: &mut Opened, state: &str) {
    for client in &mut o.clients {
        let updated = client.expect_type("artifact_updated").await;
        assert_eq!(updated["artifact"]["type"], "pr");
        assert_eq!(updated["artifact"]["prNumber"], o.number);
        assert_eq!(updated["artifact"]["metadata"]["state"], state);
    }
}

/// The index's `prState` for the session, once it says `want` (written after the answer).
async fn index_shows(id: &str, want: &str) {
    let c = shared().worker.client();
    for _ in 0..50 {
        let list = c.get("/sessions?limit=100").await;
        let row = list.body["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned();
        if row.as_ref().is_some_and(|r| r["prState"] == want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the index never showed prState {want} for {id}");
}

#[tokio::test]
async fn bitbucket_events_update_the_session_and_every_client() {
    let _one = SERIAL.lock().await;
    let (mut o, r) = open_pr(Forge::Bitbucket, 201, bitbucket_pr(41)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    index_shows(&o.id, "open").await;
    let t = now_ms();
    let steps = [
        ("pullrequest:created", "pr_created.json", "open"),
        ("pullrequest:updated", "pr_updated.json", "open"),
        ("pullrequest:rejected", "pr_declined.json", "declined"),
        ("pullrequest:fulfilled", "pr_fulfilled.json", "merged"),
    ];
    for (i, (key, file, state)) in steps.iter().enumerate() {
        let body = bitbucket_event(file, &o, t + i as i64 * 1000);
        let r = deliver(Forge::Bitbucket, key, &unique("bb-delivery"), &body).await;
        answered(&r, 200, "applied");
        all_see(&mut o, state).await;
    }
    let meta = pr_metadata(&o.id).await;
    assert_eq!(meta["state"], "merged");
    assert_eq!(meta["actor"], "Brad Rydzewski");
    assert_eq!(meta["updatedAt"], t + 3000);
    assert_eq!(meta["number"], 41);
    index_shows(&o.id, "merged").await;
    let session = shared()
        .worker
        .client()
        .get(&format!("/sessions/{}", o.id))
        .await;
    assert_eq!(session.body["session"]["prState"], "merged");
}

#[tokio::test]
async fn github_events_update_the_session_and_every_client() {
    let _one = SERIAL.lock().await;
    let (mut o, r) = open_pr(Forge::Github, 201, github_pr(52)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = now_ms();
    let mut merged = github_event("pr_closed.json", &o, t + 3000);
    merged["pull_request"]["merged"] = json!(true);
    let steps = [
        (github_event("pr_sync.json", &o, t), "open"),
        (github_event("pr_closed.json", &o, t + 1000), "closed"),
        (github_event("pr_reopened.json", &o, t + 2000), "open"),
        (merged, "merged"),
    ];
    for (body, state) in steps {
        let r = deliver(Forge::Github, "pull_request", &unique("gh-delivery"), &body).await;
        answered(&r, 200, "applied");
        all_see(&mut o, state).await;
    }
    let meta = pr_metadata(&o.id).await;
    assert_eq!(
        (&meta["state"], &meta["actor"]),
        (&json!("merged"), &json!("bradrydzewski"))
    );
    index_shows(&o.id, "merged").await;
    // A push to the session's branch right after its own push: the echo of it, found by
    // the branch's route.
    let mut push = common::github::fixture("webhooks/push.json");
    about(&mut push, &o);
    push["ref"] = json!(format!("refs/heads/{}", o.head));
    let r = deliver(Forge::Github, "push", &unique("gh-push"), &push).await;
    assert_eq!(r.body["status"], "own_push", "{}", r.body);
}

#[tokio::test]
async fn bad_signatures_redeliveries_and_older_events_change_nothing() {
    let _one = SERIAL.lock().await;
    let (mut o, r) = open_pr(Forge::Bitbucket, 201, bitbucket_pr(63)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let before = pr_metadata(&o.id).await;
    let t = now_ms();
    let body = bitbucket_event("pr_fulfilled.json", &o, t)
        .to_string()
        .into_bytes();
    let key = "pullrequest:fulfilled";
    let wrong = sign("not-the-secret", &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    for (bytes, signature) in [
        (&body, Some(wrong)),
        (&body, None),
        (&tampered, Some(sign(BB_SECRET, &body))),
    ] {
        let r = deliver_raw(Forge::Bitbucket, key, &unique("bad"), bytes, signature).await;
        assert_eq!((r.status, r.code()), (401, "unauthorized"), "{}", r.body);
    }
    assert_eq!(pr_metadata(&o.id).await, before, "nothing changed");

    // The same delivery twice: one change.
    let id = unique("twice");
    let first = deliver_raw(
        Forge::Bitbucket,
        key,
        &id,
        &body,
        Some(sign(BB_SECRET, &body)),
    )
    .await;
    assert_eq!(first.body["status"], "applied");
    let again = deliver_raw(
        Forge::Bitbucket,
        key,
        &id,
        &body,
        Some(sign(BB_SECRET, &body)),
    )
    .await;
    assert_eq!(again.body["status"], "duplicate");
    all_see(&mut o, "merged").await;

    // An older event (declined before the merge) arrives late: ignored.
    let older = bitbucket_event("pr_declined.json", &o, t - 60_000);
    let r = deliver(
        Forge::Bitbucket,
        "pullrequest:rejected",
        &unique("late"),
        &older,
    )
    .await;
    assert_eq!(r.body["status"], "unchanged");
    assert_eq!(pr_metadata(&o.id).await["state"], "merged");
    for client in &mut o.clients {
        let next = tokio::time::timeout(Duration::from_millis(500), client.json()).await;
        assert!(
            next.is_err() || next.as_ref().unwrap()["type"] != "artifact_updated",
            "a second update was broadcast"
        );
    }
    // Too big: 413 before anything else.
    let big = vec![b' '; (1 << 20) + 1];
    let r = deliver_raw(
        Forge::Github,
        "pull_request",
        "big",
        &big,
        Some(sign(GH_SECRET, &big)),
    )
    .await;
    assert_eq!(r.status, 413);

    // The session is deleted: its webhooks are accepted and change nothing.
    let c = shared().worker.client();
    assert_eq!(c.delete(&format!("/sessions/{}", o.id)).await.status, 200);
    let later = bitbucket_event("pr_updated.json", &o, t + 60_000);
    let r = deliver(
        Forge::Bitbucket,
        "pullrequest:updated",
        &unique("gone"),
        &later,
    )
    .await;
    answered(&r, 202, "unknown");
}

/// The review's N7: routes go by the repository's id. A repository renamed away and replaced
/// by a new one of the old name (its pull requests numbered from 1 again) reaches none of
/// the old one's sessions, on either forge; the renamed repository still does.
#[tokio::test]
async fn a_repository_replaced_under_the_old_name_inherits_no_routes() {
    let _one = SERIAL.lock().await;
    for forge in [Forge::Bitbucket, Forge::Github] {
        let (mut o, r) = match forge {
            Forge::Bitbucket => open_pr(forge, 201, bitbucket_pr(17)).await,
            Forge::Github => open_pr(forge, 201, github_pr(17)).await,
        };
        assert_eq!(r.status, 200, "{}", r.body);
        let t = now_ms();
        let (event, mut merged) = match forge {
            Forge::Bitbucket => (
                "pullrequest:fulfilled",
                bitbucket_event("pr_fulfilled.json", &o, t),
            ),
            Forge::Github => {
                let mut b = github_event("pr_closed.json", &o, t);
                b["pull_request"]["merged"] = json!(true);
                ("pull_request", b)
            }
        };
        let (id_field, other_id) = match forge {
            Forge::Bitbucket => ("uuid", json!("{0f0f0f0f-0000-4000-8000-000000000001}")),
            Forge::Github => ("id", json!(o.repo_id.as_u64().unwrap() + 1)),
        };
        // The same name, another repository: no session.
        let mut impostor = merged.clone();
        impostor["repository"][id_field] = other_id.clone();
        let r = deliver(forge, event, &unique("impostor"), &impostor).await;
        answered(&r, 202, "unknown");
        let (push_event, mut push) = match forge {
            Forge::Bitbucket => {
                let mut p = common::bitbucket::fixture("webhooks/push.json");
                p["push"]["changes"][0]["new"]["name"] = json!(o.head);
                ("repo:push", p)
            }
            Forge::Github => {
                let mut p = common::github::fixture("webhooks/push.json");
                p["ref"] = json!(format!("refs/heads/{}", o.head));
                ("push", p)
            }
        };
        about(&mut push, &o);
        push["repository"][id_field] = other_id;
        let r = deliver(forge, push_event, &unique("impostor-push"), &push).await;
        answered(&r, 202, "unknown");
        assert_eq!(pr_metadata(&o.id).await["state"], "open");

        // The session's own repository under a new name: still the session's.
        merged["repository"]["full_name"] = json!(format!("{}/{}-renamed", o.owner, o.repo));
        let r = deliver(forge, event, &unique("renamed"), &merged).await;
        answered(&r, 200, "applied");
        all_see(&mut o, "merged").await;
    }
}

/// Lines of the worker's log counting D1 reads, writes and Durable Object calls.
fn trace_counts() -> (usize, usize, usize) {
    let log = std::fs::read_to_string(&shared().worker.log).unwrap_or_default();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    (
        count(r#""msg":"d1","op":"read""#),
        count(r#""msg":"d1","op":"write""#),
        count(r#""msg":"object""#),
    )
}

/// Waits until the log has taken in everything the worker wrote so far.
async fn settled_counts() -> (usize, usize, usize) {
    let mut last = trace_counts();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = trace_counts();
        if now == last {
            return now;
        }
        last = now;
    }
}

#[tokio::test]
async fn unknown_events_and_pull_requests_are_accepted_and_touch_nothing() {
    let _one = SERIAL.lock().await;
    let c = shared().worker.client();
    c.get("/health").await;
    // An event we do not act on: 202, not even a D1 read.
    let before = settled_counts().await;
    let fork = json!({"repository": {"full_name": "acme/x"}});
    let r = deliver(Forge::Bitbucket, "repo:fork", &unique("fork"), &fork).await;
    answered(&r, 202, "ignored");
    let r = deliver(
        Forge::Github,
        "issues",
        &unique("issue"),
        &json!({"action": "opened"}),
    )
    .await;
    answered(&r, 202, "ignored");
    assert_eq!(settled_counts().await, before);

    // A pull request no session opened: one D1 read, no write, no session called.
    let mut stranger = common::github::fixture("webhooks/pr_closed.json");
    stranger["repository"]["full_name"] = json!(unique("nobody/repo"));
    let r = deliver(
        Forge::Github,
        "pull_request",
        &unique("stranger"),
        &stranger,
    )
    .await;
    answered(&r, 202, "unknown");
    let after = settled_counts().await;
    assert_eq!(
        (after.0 - before.0, after.1 - before.1, after.2 - before.2),
        (1, 0, 0),
        "D1 reads, D1 writes and session calls for an unknown pull request"
    );
}

#[tokio::test]
async fn someone_elses_push_is_recorded_and_holds_the_next_push_until_a_prompt_runs() {
    let _one = SERIAL.lock().await;
    let sh = shared();
    let c = sh.worker.client();
    // The push went through but the forge refused the pull request: the branch is the
    // session's, with no pull request yet.
    let (mut o, r) = open_pr(
        Forge::Bitbucket,
        400,
        common::bitbucket::fixture("pr_create_conflict.json"),
    )
    .await;
    assert_eq!((r.status, r.code()), (422, "no_changes"), "{}", r.body);
    let mut push = common::bitbucket::fixture("webhooks/push.json");
    about(&mut push, &o);
    push["push"]["changes"][0]["new"]["name"] = json!(o.head);
    // Right after the session's own push: its echo.
    let r = deliver(Forge::Bitbucket, "repo:push", &unique("echo"), &push).await;
    assert_eq!(r.body["status"], "own_push", "{}", r.body);
    // Later, by someone else: recorded and shown to every client.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Another push (another commit: deliveries are told apart by their signed bodies).
    push["push"]["changes"][0]["new"]["target"]["hash"] = json!("f".repeat(40));
    let r = deliver(Forge::Bitbucket, "repo:push", &unique("foreign"), &push).await;
    assert_eq!(r.body["status"], "recorded", "{}", r.body);
    for client in &mut o.clients {
        let ev = loop {
            let ev = client.expect_type("sandbox_event").await;
            if ev["event"]["type"] == "branch_pushed" {
                break ev;
            }
        };
        assert_eq!(ev["event"]["branchName"], o.head.as_str());
        assert_eq!(ev["event"]["actor"], "Brad Rydzewski");
    }
    let pr_path = format!("/sessions/{}/pr", o.id);
    let held = c.post(&pr_path, &json!({"title": "T", "body": "B"})).await;
    assert_eq!(
        (held.status, held.code()),
        (409, "branch_pushed_elsewhere"),
        "{}",
        held.body
    );

    // The running prompt ends and the next one starts: the agent works on top of it now.
    let messages = c.get(&format!("/sessions/{}/messages", o.id)).await;
    let running = messages.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["status"] == "processing")
        .map(|m| m["id"].clone())
        .expect("a processing message");
    o.sandbox
        .send(json!({"type": "execution_complete", "messageId": running, "success": true}))
        .await;
    let r = c
        .post(
            &format!("/sessions/{}/prompt", o.id),
            &json!({"content": "pull and go on", "authorId": o.user}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    o.sandbox.expect_type("prompt").await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2.0/repositories/{}/{}/pullrequests",
            o.owner, o.repo
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(bitbucket_pr(74)))
        .with_priority(1)
        .mount(&sh.fake)
        .await;
    let pending = {
        let c = c.clone();
        tokio::spawn(async move { c.post(&pr_path, &json!({"title": "T", "body": "B"})).await })
    };
    o.sandbox.complete_push().await;
    let r = pending.await.unwrap();
    assert_eq!(
        (r.status, &r.body["prNumber"]),
        (200, &json!(74)),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn a_refresh_reads_the_pr_from_the_forge_without_webhooks() {
    let _one = SERIAL.lock().await;
    let sh = shared();
    let (mut o, r) = open_pr(Forge::Github, 201, github_pr(85)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut merged = github_pr(85);
    merged["state"] = json!("closed");
    merged["merged"] = json!(true);
    merged["merged_by"] = json!({"login": "octocat"});
    merged["updated_at"] = json!(control_plane::clock::iso8601(now_ms()));
    Mock::given(method("GET"))
        .and(path(format!(
            "/github/repos/{}/{}/pulls/85",
            o.owner, o.repo
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(merged))
        .mount(&sh.fake)
        .await;
    let c = sh.worker.client();
    let refresh = format!("/sessions/{}/pull-requests/refresh", o.id);
    let r = c.post(&refresh, &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"prNumber": 85, "state": "merged", "changed": true})
    );
    all_see(&mut o, "merged").await;
    assert_eq!(pr_metadata(&o.id).await["actor"], "octocat");
    let again = c.post(&refresh, &json!({})).await;
    assert_eq!(again.body["changed"], false);
}

/// The review's probe N6: the event key and the delivery id are not signed, so a captured
/// delivery re-sent under another key or another id must change nothing.
#[tokio::test]
async fn a_captured_delivery_under_another_key_or_id_changes_nothing() {
    let _one = SERIAL.lock().await;
    let (mut o, r) = open_pr(Forge::Bitbucket, 201, bitbucket_pr(74)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = now_ms();
    let open = bitbucket_event("pr_updated.json", &o, t);
    let r = deliver(
        Forge::Bitbucket,
        "pullrequest:updated",
        &unique("upd"),
        &open,
    )
    .await;
    answered(&r, 200, "applied");
    all_see(&mut o, "open").await;
    // The same signed body under a new id and the "merged" key: a repeat.
    let r = deliver(
        Forge::Bitbucket,
        "pullrequest:fulfilled",
        &unique("x"),
        &open,
    )
    .await;
    answered(&r, 200, "duplicate");
    // A newer signed body that says OPEN, sent as "fulfilled" and as "rejected": still open.
    for (i, key) in ["pullrequest:fulfilled", "pullrequest:rejected"]
        .iter()
        .enumerate()
    {
        let newer = bitbucket_event("pr_updated.json", &o, t + 1000 * (i as i64 + 1));
        let r = deliver(Forge::Bitbucket, key, &unique("flip"), &newer).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let meta = pr_metadata(&o.id).await;
    assert_eq!(meta["state"], "open", "{meta}");
    index_shows(&o.id, "open").await;
}

/// The review's finding N7: a workspace given its own secret cannot be signed for with the
/// shared one (which every other workspace's admin knows).
#[tokio::test]
async fn a_workspace_with_its_own_secret_refuses_the_shared_one() {
    let body = json!({"repository": {"full_name": "team-b/site"}, "actor": {"display_name": "x"},
                      "push": {"changes": []}})
    .to_string()
    .into_bytes();
    let shared = deliver_raw(
        Forge::Bitbucket,
        "repo:push",
        &unique("n7"),
        &body,
        Some(sign(BB_SECRET, &body)),
    )
    .await;
    assert_eq!(
        (shared.status, shared.code()),
        (401, "unauthorized"),
        "{}",
        shared.body
    );
    let own = deliver_raw(
        Forge::Bitbucket,
        "repo:push",
        &unique("n7"),
        &body,
        Some(sign("team-b-secret", &body)),
    )
    .await;
    assert_eq!(own.status, 202, "{}", own.body);
}
