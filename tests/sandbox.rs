//! End-to-end tests of sandboxes through `wrangler dev`: spawn through a wiremock sandbox
//! provider, a fake sandbox over a real WebSocket, the prompt queue, events to browser
//! clients, acknowledgements, and liveness (stale, stuck start, idle shutdown, retries).
//! This binary's worker runs with short lifecycle timeouts.

mod common;

use std::time::Duration;

use common::sandbox::*;
use common::{now_ms, shared_with, unique, Client, Shared, Sig1, WsClient};
use serde_json::{json, Value};

const SANDBOX_SECRET: &str = "test-sandbox-secret";
/// The Linear bot's secret in this binary (other binaries run without one).
const LINEAR_SECRET: &str = "test-linear-service-secret";

fn shared() -> &'static Shared {
    shared_with(&[
        ("SANDBOX_HEARTBEAT_TIMEOUT_MS", "8000"),
        ("SANDBOX_CONNECT_TIMEOUT_MS", "6000"),
        ("SANDBOX_IDLE_TIMEOUT_MS", "6000"),
        ("SANDBOX_SPAWN_COOLDOWN_MS", "300"),
        // A prompt that runs longer (heartbeats keep its sandbox ready) is stopped.
        ("EXECUTION_TIMEOUT_MS", "20000"),
        ("SANDBOX_RECONNECT_GRACE_MS", "2000"),
        ("SERVICE_AUTH_SECRET_LINEAR_BOT", LINEAR_SECRET),
    ])
}

async fn setup() -> (&'static Shared, Client) {
    let sh = shared();
    mount_provider_ok(&sh.fake).await;
    (sh, sh.worker.client())
}

/// A session whose owner has stored Bitbucket credentials.
async fn session(c: &Client, user: &str, token: &str) -> String {
    c.create_session(
        user,
        json!({"scmToken": token, "scmRefreshToken": format!("RT-{token}"),
               "scmTokenExpiresAt": now_ms() + 3_600_000, "scmName": "Ada Lovelace",
               "scmEmail": "ada@example.com"}),
    )
    .await
}

async fn prompt(c: &Client, session: &str, user: &str, content: &str) -> String {
    let r = c
        .post(
            &format!("/sessions/{session}/prompt"),
            &json!({"content": content, "authorId": user}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["messageId"].as_str().unwrap().to_string()
}

/// The `sandbox_event`s a client receives until `last` arrives, by type.
async fn events_until(client: &mut WsClient, last: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let v = client.json().await;
        if v["type"] == "sandbox_event" {
            let done = v["event"]["type"] == last;
            seen.push(v["event"].clone());
            if done {
                return seen;
            }
        }
    }
}

#[tokio::test]
async fn prompts_run_in_order_and_every_client_sees_the_events() {
    let (sh, c) = setup().await;
    let user = unique("sbx-user");
    let token = unique("AT-sbx");
    let id = session(&c, &user, &token).await;
    let (t1, _) = c.ws_token(&id, &user).await;
    let (t2, _) = c.ws_token(&id, "watcher").await;
    let (mut alice, _) = WsClient::subscribed(&sh.worker, &id, &t1).await;
    let (mut bob, _) = WsClient::subscribed(&sh.worker, &id, &t2).await;

    let m1 = prompt(&c, &id, &user, "first").await;
    let m2 = prompt(&c, &id, &user, "second").await;
    let (auth, spawn) = wait_for_spawns(&sh.fake, &id, 1, 20).await;

    // The spawn request: signed with SANDBOX_API_SECRET, the user's token to clone with.
    let bearer = auth.strip_prefix("Bearer ").expect("bearer");
    control_plane::auth::service_token::verify(SANDBOX_SECRET.as_bytes(), bearer, now_ms())
        .expect("signed");
    assert_eq!(spawn["repo_owner"], "acme");
    assert_eq!(spawn["repo_name"], "web");
    assert_eq!(spawn["branch"], "main");
    assert_eq!(spawn["vcs_provider"], "bitbucket");
    // The sandbox clones through the control plane with a ticket; the user's token stays here.
    assert_eq!(spawn["vcs_host"], common::git_host(&sh.worker).as_str());
    assert_eq!(spawn["clone_username"], "x-token-auth");
    assert!(spawn["clone_token"].as_str().unwrap().starts_with("oig1."));
    assert!(!spawn.to_string().contains(&token));
    assert_eq!(spawn["control_plane_url"], sh.worker.base.as_str());
    assert_eq!(spawn["sandbox_auth_token"].as_str().unwrap().len(), 64);
    assert!(spawn["timeout_seconds"].as_u64().unwrap() > 0);
    assert!(spawn["model"].is_string());
    assert_eq!(
        alice.expect_type("sandbox_status").await["status"],
        "spawning"
    );
    assert_eq!(
        alice.expect_type("sandbox_status").await["status"],
        "connecting"
    );

    // Wrong token, wrong id: refused in that order of checks.
    let sandbox_id = spawn["sandbox_id"].as_str().unwrap();
    let good = spawn["sandbox_auth_token"].as_str().unwrap();
    assert_eq!(
        FakeSandbox::connect(&sh.worker, &id, sandbox_id, &"0".repeat(64))
            .await
            .err(),
        Some(401)
    );
    assert_eq!(
        FakeSandbox::connect(&sh.worker, &id, "someone-else", good)
            .await
            .err(),
        Some(403)
    );

    let mut sb = FakeSandbox::from_spawn(&sh.worker, &spawn).await;
    sb.send(json!({"type": "ready"})).await;
    let p1 = sb.expect_type("prompt").await;
    assert_eq!(p1["messageId"], m1.as_str());
    assert_eq!(p1["content"], "first");
    assert_eq!(
        p1["author"],
        json!({"userId": user, "scmName": "Ada Lovelace", "scmEmail": "ada@example.com",
               "gitIdentity": {"mode": "attributed-user", "name": "Ada Lovelace",
                               "email": "ada@example.com"}})
    );

    sb.send(json!({"type": "heartbeat"})).await;
    sb.send(json!({"type": "token", "content": "He", "messageId": m1}))
        .await;
    // Written in a batch of its own first: the next one replaces the stored row.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    sb.send(json!({"type": "token", "content": "Hello", "messageId": m1}))
        .await;
    sb.send(
        json!({"type": "tool_call", "tool": "bash", "args": {"cmd": "ls"}, "callId": "c1",
                   "messageId": m1}),
    )
    .await;
    sb.send(json!({"type": "mystery_event", "x": 1})).await;
    sb.send(
        json!({"type": "execution_complete", "messageId": m1, "success": true, "ackId": "ack-1"}),
    )
    .await;
    assert_eq!(sb.expect_type("ack").await["ackId"], "ack-1");
    let p2 = sb.expect_type("prompt").await;
    assert_eq!(
        p2["messageId"],
        m2.as_str(),
        "the next prompt only after the first completed"
    );

    let expected = [
        "token",
        "token",
        "tool_call",
        // (mystery_event is stored, but Open-Inspect's web would refuse it live)
        "execution_complete",
    ];
    for client in [&mut alice, &mut bob] {
        let seen = events_until(client, "execution_complete").await;
        let kinds: Vec<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
        let kinds: Vec<&str> = kinds.into_iter().filter(|k| *k != "user_message").collect();
        assert_eq!(kinds, expected);
        let tokens: Vec<&str> = seen
            .iter()
            .filter(|e| e["type"] == "token")
            .map(|e| e["content"].as_str().unwrap())
            .collect();
        assert_eq!(tokens, vec!["He", "Hello"]);
    }
    let tokens = c.get(&format!("/sessions/{id}/events?type=token")).await;
    let stored = tokens.body["events"].as_array().unwrap();
    assert_eq!(stored.len(), 1, "token events are one row per message");
    assert_eq!(stored[0]["data"]["content"], "Hello");
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    assert_eq!(msgs.body["messages"][1]["status"], "completed");
    assert_eq!(msgs.body["messages"][0]["status"], "processing");
    let state = c.get(&format!("/sessions/{id}")).await;
    assert_eq!(state.body["session"]["sandbox"]["status"], "ready");
    assert!(
        !state.body.to_string().contains(good),
        "the sandbox token is never shown"
    );

    // Completion of the second prompt is acknowledged; a reconnecting sandbox re-sends it
    // and no duplicate is stored or broadcast.
    let done2 =
        json!({"type": "execution_complete", "messageId": m2, "success": false, "ackId": "ack-2"});
    sb.send(done2.clone()).await;
    assert_eq!(sb.expect_type("ack").await["ackId"], "ack-2");
    let mut again = FakeSandbox::from_spawn(&sh.worker, &spawn).await;
    assert!(
        sb.next(10).await.is_none(),
        "the old connection is replaced"
    );
    again.send(done2).await;
    assert_eq!(again.expect_type("ack").await["ackId"], "ack-2");
    again.send(json!({"type": "heartbeat"})).await;
    let completes = c
        .get(&format!("/sessions/{id}/events?type=execution_complete"))
        .await;
    assert_eq!(completes.body["events"].as_array().unwrap().len(), 2);
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    assert_eq!(msgs.body["messages"][0]["status"], "failed");
    // Stop over HTTP: nothing runs, so nothing to stop; the answer is the same.
    let r = c.post(&format!("/sessions/{id}/stop"), &json!({})).await;
    assert_eq!((r.status, &r.body), (200, &json!({"status": "stopping"})));
    again.close().await;
}

#[tokio::test]
async fn stop_fails_the_running_prompt_and_tells_the_sandbox() {
    let (sh, c) = setup().await;
    let user = unique("stop-user");
    let id = session(&c, &user, &unique("AT-stop")).await;
    let m1 = prompt(&c, &id, &user, "long job").await;
    let (_, spawn) = wait_for_spawns(&sh.fake, &id, 1, 20).await;
    let mut sb = FakeSandbox::from_spawn(&sh.worker, &spawn).await;
    sb.send(json!({"type": "ready"})).await;
    assert_eq!(sb.expect_type("prompt").await["messageId"], m1.as_str());
    let r = c.post(&format!("/sessions/{id}/stop"), &json!({})).await;
    assert_eq!((r.status, &r.body), (200, &json!({"status": "stopping"})));
    sb.expect_type("stop").await;
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    assert_eq!(msgs.body["messages"][0]["status"], "failed");
    // The stop wrote the completion clients see; the bridge's own completion for the
    // stopped prompt is acknowledged but not stored or shown twice.
    sb.send(
        json!({"type": "execution_complete", "messageId": m1, "success": false,
                   "ackId": format!("execution_complete:{m1}")}),
    )
    .await;
    sb.expect_type("ack").await;
    let completes = c
        .get(&format!("/sessions/{id}/events?type=execution_complete"))
        .await;
    let completes = completes.body["events"].as_array().unwrap().clone();
    assert_eq!(completes.len(), 1, "{completes:?}");
    assert_eq!(completes[0]["data"]["success"], false);
    assert_eq!(completes[0]["data"]["sandboxId"], "");
    assert_eq!(
        c.get(&format!("/sessions/{id}")).await.body["session"]["status"],
        "failed"
    );
    // Deleting the session ends the sandbox: told first, then stopped at the provider.
    assert_eq!(c.delete(&format!("/sessions/{id}")).await.status, 200);
    assert_eq!(sb.expect_type("shutdown").await["type"], "shutdown");
    assert!(stopped_at_provider(&sh.fake, &spawn, 10).await);
}

/// A new user's new session (named after `what`), watched by their subscribed client.
async fn watched(sh: &Shared, c: &Client, what: &str) -> (String, String, WsClient) {
    let user = unique(&format!("{what}-user"));
    let id = session(c, &user, &unique(&format!("AT-{what}"))).await;
    let (t, _) = c.ws_token(&id, &user).await;
    let (client, _) = WsClient::subscribed(&sh.worker, &id, &t).await;
    (user, id, client)
}

/// Open-Inspect's execution timeout: a sandbox that keeps its heartbeat while its agent
/// hangs does not hold the queue for good. The running prompt fails once it has run past
/// `EXECUTION_TIMEOUT_MS` (20 s here), the sandbox is told to stop, and the next prompt runs.
#[tokio::test]
async fn a_prompt_running_past_the_execution_timeout_is_stopped() {
    let (sh, c) = setup().await;
    let (user, id, mut client) = watched(sh, &c, "hung").await;
    let m1 = prompt(&c, &id, &user, "hang").await;
    let m2 = prompt(&c, &id, &user, "next").await;
    let (_, spawn) = wait_for_spawns(&sh.fake, &id, 1, 20).await;
    let mut sb = FakeSandbox::from_spawn(&sh.worker, &spawn).await;
    sb.send(json!({"type": "ready"})).await;
    assert_eq!(sb.expect_type("prompt").await["messageId"], m1.as_str());
    let started = std::time::Instant::now();
    // The sandbox stays alive (a heartbeat every 2 s) but never finishes the prompt.
    let stop = loop {
        sb.send(json!({"type": "heartbeat"})).await;
        if let Some(v) = sb.poll(Duration::from_secs(2)).await {
            if v["type"] == "stop" {
                break v;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(45), "never stopped");
    };
    assert_eq!(stop["type"], "stop");
    assert!(
        started.elapsed() >= Duration::from_secs(19),
        "stopped too early: {:?}",
        started.elapsed()
    );
    // The queue moves on.
    assert_eq!(sb.expect_type("prompt").await["messageId"], m2.as_str());
    let complete = loop {
        let v = client.expect_type("sandbox_event").await;
        if v["event"]["type"] == "execution_complete" {
            break v;
        }
    };
    assert_eq!(complete["event"]["messageId"], m1.as_str());
    assert_eq!(complete["event"]["success"], false);
    let error = complete["event"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("execution timed out"), "{error}");
    assert_fits_the_web(&complete["event"]);
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    assert_eq!(msgs.item("messages", "id", &m1)["status"], "failed");
    assert_eq!(msgs.item("messages", "id", &m2)["status"], "processing");
    sb.close().await;
}

/// The next completion `client` sees: the control plane's own for a sandbox given up on
/// (`success: false`, "the sandbox stopped responding", no sandbox id).
async fn failed_completion(client: &mut WsClient) -> Value {
    loop {
        let v = client.expect_type("sandbox_event").await;
        if v["event"]["type"] == "execution_complete" {
            let e = v["event"].clone();
            assert_eq!(
                (&e["success"], &e["error"], &e["sandboxId"]),
                (
                    &json!(false),
                    &json!("the sandbox stopped responding"),
                    &json!("")
                ),
                "{e}"
            );
            assert_fits_the_web(&e);
            return e;
        }
    }
}

/// `event` is one Open-Inspect's web app accepts (`sandboxEventSchema`) as it is.
fn assert_fits_the_web(event: &Value) {
    let mut fitted = event.clone();
    let fit = control_plane::session::sandbox::schema::fit(&mut fitted, "", 0);
    assert!(fit.relayable && !fit.changed, "{event}");
}

/// A sandbox whose socket closes while work waits for it has a grace (2 s here) to
/// reconnect, as its bridge does after a network blip: back in time, it is kept; gone for
/// good, it is given up well before the heartbeat timeout (8 s here), and a new one takes
/// the waiting prompt.
#[tokio::test]
async fn a_sandbox_gone_while_a_prompt_waits_is_replaced_after_a_reconnect_grace() {
    let (sh, c) = setup().await;
    let (user, id, mut client) = watched(sh, &c, "gone").await;
    let m1 = prompt(&c, &id, &user, "first").await;
    let (_, spawn) = wait_for_spawns(&sh.fake, &id, 1, 20).await;
    let mut sb = FakeSandbox::from_spawn(&sh.worker, &spawn).await;
    sb.send(json!({"type": "ready"})).await;
    assert_eq!(sb.expect_type("prompt").await["messageId"], m1.as_str());
    let m2 = prompt(&c, &id, &user, "second").await;

    // A blip: the socket closes and the same sandbox is back within the grace.
    sb.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut sb = FakeSandbox::from_spawn(&sh.worker, &spawn).await;
    for _ in 0..3 {
        sb.send(json!({"type": "heartbeat"})).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(spawn_requests(&sh.fake, &id).await.len(), 1, "kept");

    // Gone for good: given up after the grace, long before the heartbeat timeout.
    sb.close().await;
    let gone = std::time::Instant::now();
    loop {
        let v = client.json().await;
        if v["type"] == "sandbox_status" && v["status"] == "stale" {
            break;
        }
    }
    let waited = gone.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(6),
        "given up after {waited:?}"
    );
    // Every client sees the running prompt end.
    let complete = failed_completion(&mut client).await;
    assert_eq!(complete["messageId"], m1.as_str());
    let (_, respawn) = wait_for_spawns(&sh.fake, &id, 2, 20).await;
    let mut next = FakeSandbox::from_spawn(&sh.worker, &respawn).await;
    next.send(json!({"type": "ready"})).await;
    assert_eq!(next.expect_type("prompt").await["messageId"], m2.as_str());
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    let first = msgs.item("messages", "id", &m1);
    assert_eq!(first["status"], "failed", "{first}");
    next.close().await;
}

#[tokio::test]
async fn missed_heartbeats_make_the_sandbox_stale() {
    let (sh, c) = setup().await;
    let (user, id, mut client) = watched(sh, &c, "stale").await;
    prompt(&c, &id, &user, "work").await;
    let (_, spawn) = wait_for_spawns(&sh.fake, &id, 1, 20).await;
    let mut sb = FakeSandbox::from_spawn(&sh.worker, &spawn).await;
    sb.send(json!({"type": "ready"})).await;
    sb.expect_type("prompt").await;
    // No heartbeats from here on.
    let started = std::time::Instant::now();
    loop {
        let v = client.json().await;
        if v["type"] == "sandbox_status" && v["status"] == "stale" {
            break;
        }
    }
    assert!(
        started.elapsed() >= Duration::from_secs(7),
        "stale too early: {:?}",
        started.elapsed()
    );
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    assert_eq!(msgs.body["messages"][0]["status"], "failed");
    let complete = failed_completion(&mut client).await;
    assert_eq!(complete["messageId"], msgs.body["messages"][0]["id"]);
    assert_eq!(
        c.get(&format!("/sessions/{id}")).await.body["session"]["sandbox"]["status"],
        "stale"
    );
    // It was told to shut down, its socket closed normally, and the provider told.
    assert_eq!(sb.expect_type("shutdown").await["type"], "shutdown");
    assert!(sb.next(10).await.is_none());
    assert!(stopped_at_provider(&sh.fake, &spawn, 10).await);
}

#[tokio::test]
async fn a_sandbox_that_never_connects_fails_and_is_respawned() {
    let (sh, c) = setup().await;
    let user = unique("stuck-user");
    let id = session(&c, &user, &unique("AT-stuck")).await;
    let (t, _) = c.ws_token(&id, &user).await;
    let (mut client, _) = WsClient::subscribed(&sh.worker, &id, &t).await;
    prompt(&c, &id, &user, "hello?").await;
    wait_for_spawns(&sh.fake, &id, 1, 20).await;
    let err = client.expect_type("sandbox_error").await;
    assert!(
        err["error"].as_str().unwrap().contains("did not connect"),
        "{err}"
    );
    // The prompt is still pending: a new sandbox is requested after the cooldown.
    let (_, second) = wait_for_spawns(&sh.fake, &id, 2, 20).await;
    let first = &spawn_requests(&sh.fake, &id).await[0].1;
    assert!(
        stopped_at_provider(&sh.fake, first, 10).await,
        "a sandbox that never connected is ended at the provider before the next"
    );
    assert_ne!(first["sandbox_id"], second["sandbox_id"]);
    assert_ne!(first["sandbox_auth_token"], second["sandbox_auth_token"]);
    // The first sandbox's credentials no longer open the session.
    let old = FakeSandbox::connect(
        &sh.worker,
        &id,
        first["sandbox_id"].as_str().unwrap(),
        first["sandbox_auth_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(old.err(), Some(403));
}

#[tokio::test]
async fn spawn_refusals_are_retried_then_stop_until_the_next_prompt() {
    let (sh, c) = setup().await;
    let user = unique("refused-user");
    let id = session(&c, &user, &unique("AT-refused")).await;
    mount_provider_refusal(&sh.fake, &id, "quota exceeded").await;
    let (t, _) = c.ws_token(&id, &user).await;
    let (mut client, _) = WsClient::subscribed(&sh.worker, &id, &t).await;
    prompt(&c, &id, &user, "try").await;
    let err = client.expect_type("sandbox_error").await;
    assert!(err["error"].as_str().unwrap().contains("quota exceeded"));
    wait_for_spawns(&sh.fake, &id, 3, 20).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        spawn_requests(&sh.fake, &id).await.len(),
        3,
        "retries stop after 3 refusals"
    );
    assert_eq!(
        c.get(&format!("/sessions/{id}")).await.body["session"]["sandbox"]["retriesStopped"],
        true
    );
    prompt(&c, &id, &user, "try again").await;
    wait_for_spawns(&sh.fake, &id, 4, 20).await;
}

/// A sandbox spawned for one prompt of `user`, connected, and done with that prompt (its
/// completion acknowledged); answers it and the provider's spawn request.
async fn done_with_one_prompt(
    sh: &Shared,
    c: &Client,
    id: &str,
    user: &str,
) -> (FakeSandbox, Value) {
    let m1 = prompt(c, id, user, "quick").await;
    let (_, spawn) = wait_for_spawns(&sh.fake, id, 1, 20).await;
    let mut sb = FakeSandbox::from_spawn(&sh.worker, &spawn).await;
    sb.send(json!({"type": "ready"})).await;
    sb.expect_type("prompt").await;
    sb.send(json!({"type": "execution_complete", "messageId": m1, "success": true, "ackId": "d1"}))
        .await;
    sb.expect_type("ack").await;
    (sb, spawn)
}

/// Heartbeats (so only inactivity can stop the sandbox) until it is told to shut down, which
/// must come `within` this long; a push asked for first (the work saved) is reported done.
/// Answers the pushes asked for.
async fn heartbeat_until_shutdown(sb: &mut FakeSandbox, within: Duration) -> Vec<Value> {
    let started = tokio::time::Instant::now();
    let mut pushes = Vec::new();
    loop {
        sb.send(json!({"type": "heartbeat"})).await;
        match tokio::time::timeout(Duration::from_secs(1), sb.next(20)).await {
            Ok(Some(v)) if v["type"] == "shutdown" => return pushes,
            Ok(Some(v)) if v["type"] == "push" => {
                let branch = v["pushSpec"]["targetBranch"].clone();
                sb.send(json!({"type": "push_complete", "branchName": branch}))
                    .await;
                pushes.push(v);
            }
            Ok(None) => panic!("closed before shutdown"),
            _ => assert!(started.elapsed() < within, "no shutdown within {within:?}"),
        }
    }
}

#[tokio::test]
async fn a_ready_sandbox_idles_from_when_its_last_client_leaves() {
    let (sh, c) = setup().await;
    let user = unique("leave-user");
    let id = session(&c, &user, &unique("AT-leave")).await;
    let (token, _) = c.ws_token(&id, &user).await;
    let (mut client, _) = WsClient::subscribed(&sh.worker, &id, &token).await;
    let (mut sb, _) = done_with_one_prompt(sh, &c, &id, &user).await;
    // Heartbeating past the idle timeout (6 s) with a client subscribed: it stays up.
    let until = tokio::time::Instant::now() + Duration::from_secs(9);
    while tokio::time::Instant::now() < until {
        sb.send(json!({"type": "heartbeat"})).await;
        if let Ok(Some(v)) = tokio::time::timeout(Duration::from_secs(1), sb.next(20)).await {
            assert_ne!(
                v["type"], "shutdown",
                "shut down while a client was subscribed"
            );
        }
    }
    let _ = client.socket.close(None).await;
    // Idle for long enough already: the shutdown follows the client's leaving at once, not
    // a later look at the sandbox (the heartbeat's, every few seconds here).
    heartbeat_until_shutdown(&mut sb, Duration::from_secs(8)).await;
    assert_eq!(
        c.get(&format!("/sessions/{id}")).await.body["session"]["sandbox"]["status"],
        "stopped"
    );
}

#[tokio::test]
async fn an_idle_sandbox_without_clients_is_shut_down_and_a_later_prompt_respawns() {
    let (sh, c) = setup().await;
    let user = unique("idle-user");
    let id = session(&c, &user, &unique("AT-idle")).await;
    let (mut sb, spawn) = done_with_one_prompt(sh, &c, &id, &user).await;
    // Keep heartbeating: only inactivity may stop it, and its work is pushed to the
    // session's own branch first (review finding M2).
    let pushes = heartbeat_until_shutdown(&mut sb, Duration::from_secs(30)).await;
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(
        pushes[0]["pushSpec"]["targetBranch"],
        format!("agent/session-{id}").as_str()
    );
    assert_eq!(pushes[0]["pushSpec"]["force"], true);
    let snapshot = c.get(&format!("/sessions/{id}")).await;
    assert_eq!(
        snapshot.body["session"]["branchName"],
        format!("agent/session-{id}").as_str()
    );
    assert_eq!(
        c.get(&format!("/sessions/{id}")).await.body["session"]["sandbox"]["status"],
        "stopped"
    );
    assert!(
        stopped_at_provider(&sh.fake, &spawn, 10).await,
        "an idle sandbox is ended at the provider"
    );
    let refused = FakeSandbox::connect(
        &sh.worker,
        &id,
        spawn["sandbox_id"].as_str().unwrap(),
        spawn["sandbox_auth_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(refused.err(), Some(410));
    prompt(&c, &id, &user, "again").await;
    wait_for_spawns(&sh.fake, &id, 2, 20).await;
}

#[tokio::test]
async fn the_bots_token_never_reaches_the_sandbox() {
    let fake = common::start_fake();
    mount_provider_ok(&fake).await;
    let root = common::temp_dir("bot");
    let mut vars = common::test_vars(&fake.uri());
    vars.push(("BITBUCKET_BOT_USERNAME", "agent-bot".into()));
    vars.push(("BITBUCKET_BOT_API_TOKEN", "BOT-API-TOKEN".into()));
    let worker = common::Worker::start_with(&root.join("state"), &vars, Some(&root));
    let c = worker.client();
    let user = unique("bot-user");
    let id = session(&c, &user, &unique("AT-user")).await;
    prompt(&c, &id, &user, "go").await;
    let (_, spawn) = wait_for_spawns(&fake, &id, 1, 20).await;
    assert_eq!(spawn["clone_username"], "x-token-auth");
    assert!(spawn["clone_token"].as_str().unwrap().starts_with("oig1."));
    assert!(!spawn.to_string().contains("BOT-API-TOKEN"));
    let log = std::fs::read_to_string(&worker.log).expect("worker log");
    assert!(log.contains("Ready on"), "not the worker's log");
    assert!(!log.contains("BOT-API-TOKEN"));
    worker.stop();
}

#[tokio::test]
async fn without_a_branch_the_sandbox_clones_the_repositorys_main_branch() {
    let (sh, c) = setup().await;
    let user = unique("main-user");
    let token = unique("AT-main");
    let repo = unique("repo-main");
    let mut body = common::bitbucket::fixture("repo.json");
    body["mainbranch"]["name"] = json!("trunk");
    wiremock::Mock::given(wiremock::matchers::path(format!(
        "/2.0/repositories/acme/{repo}"
    )))
    .and(wiremock::matchers::header(
        "authorization",
        format!("Bearer {token}").as_str(),
    ))
    .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(body))
    .mount(&sh.fake)
    .await;
    let id = c
        .create_session(
            &user,
            json!({"repoName": repo, "scmToken": token, "scmTokenExpiresAt": now_ms() + 3_600_000,
                   "scmName": "N", "scmEmail": "n@example.com"}),
        )
        .await;
    assert_eq!(
        c.get(&format!("/sessions/{id}")).await.body["session"]["baseBranch"],
        "trunk"
    );
    prompt(&c, &id, &user, "go").await;
    let (_, spawn) = wait_for_spawns(&sh.fake, &id, 1, 20).await;
    assert_eq!(spawn["branch"], "trunk");
    assert_eq!(spawn["repo_name"], repo.as_str());
}

#[tokio::test]
async fn an_oversized_completion_is_acknowledged_processed_and_kept_in_short() {
    let (sh, c) = setup().await;
    let user = unique("big-user");
    let id = session(&c, &user, &unique("AT-big")).await;
    let (mut sb, _) = start_working(&sh.worker, &sh.fake, &id, &user).await;
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    let m1 = msgs.body["messages"][0]["id"].as_str().unwrap().to_string();
    let huge = "e".repeat(600 * 1024);
    sb.send(
        json!({"type": "execution_complete", "messageId": m1, "success": false,
                   "error": huge, "ackId": "big-1"}),
    )
    .await;
    assert_eq!(sb.expect_type("ack").await["ackId"], "big-1");
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    assert_eq!(msgs.body["messages"][0]["status"], "failed");
    let done = c
        .get(&format!("/sessions/{id}/events?type=execution_complete"))
        .await;
    let data = &done.body["events"][0]["data"];
    assert_eq!(data["truncated"], true, "{data}");
    assert_eq!(data["messageId"], m1.as_str());
}

/// The review's probe N4: what a session replays, pages and stores is bounded by bytes, so
/// large events (or prompts) cannot make it impossible to open.
#[tokio::test]
async fn replay_history_and_pages_are_bounded_by_bytes_and_large_events_are_cut() {
    let (sh, c) = setup().await;
    let user = unique("bytes-user");
    let id = session(&c, &user, &unique("AT-bytes")).await;
    // A prompt of control characters is refused before anything is stored.
    for bad in [
        "\u{1}".repeat(1000),
        "ls\u{1b}[2J".to_string(),
        "\u{0}".into(),
    ] {
        let r = c
            .post(
                &format!("/sessions/{id}/prompt"),
                &json!({"content": bad, "authorId": user}),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "bad_request"), "{}", r.body);
    }
    let (mut sb, _) = start_working(&sh.worker, &sh.fake, &id, &user).await;
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    let m1 = msgs.body["messages"][0]["id"].as_str().unwrap().to_string();
    // 48 tool results of 60 KiB (2.9 MiB), then one of 300 KiB.
    for i in 0..48 {
        let output = format!("{i:03}:{}", "o".repeat(60 * 1024));
        sb.send(
            json!({"type": "tool_result", "messageId": m1, "callId": format!("c{i}"),
                       "output": output, "ackId": format!("a{i}")}),
        )
        .await;
    }
    let huge = format!("head:{}", "h".repeat(300 * 1024));
    sb.send(
        json!({"type": "tool_result", "messageId": m1, "callId": "big",
                   "output": huge, "ackId": "big"}),
    )
    .await;
    sb.send(
        json!({"type": "execution_complete", "messageId": m1, "success": true,
                   "ackId": "done"}),
    )
    .await;
    loop {
        if sb.expect_type("ack").await["ackId"] == "done" {
            break;
        }
    }
    let cap = 2 * 1024 * 1024 + 64 * 1024;
    // The large one is kept cut, with its start and a marker.
    let page = c
        .get(&format!("/sessions/{id}/events?type=tool_result&limit=1"))
        .await;
    let data = &page.body["events"][0]["data"];
    assert_eq!(
        (data["callId"].as_str(), data["truncated"].as_bool()),
        (Some("big"), Some(true))
    );
    let output = data["output"].as_str().unwrap();
    assert!(
        output.starts_with("head:hhh") && output.ends_with("…[truncated]"),
        "{}",
        output.len()
    );
    assert!(data.to_string().len() <= 64 * 1024);
    // A page of 200 is cut by bytes, and says there is more.
    let page = c.get(&format!("/sessions/{id}/events?limit=200")).await;
    let n = page.body["events"].as_array().unwrap().len();
    assert!(n > 1 && n < 40, "{n}");
    assert!(page.body.to_string().len() <= cap);
    assert_eq!(page.body["hasMore"], true);
    // The replay on subscribe likewise; history pages the rest.
    let (token, _) = c.ws_token(&id, &user).await;
    let (mut web, subscribed) = WsClient::subscribed(&sh.worker, &id, &token).await;
    let replay = &subscribed["timeline"];
    assert!(subscribed.to_string().len() <= cap);
    assert_eq!(replay["hasMore"], true);
    let envelopes = replay["events"].as_array().unwrap();
    // Each item is Open-Inspect's strict envelope, oldest first.
    for e in envelopes {
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["event", "eventId", "timelineSequence"], "{e}");
    }
    let seqs: Vec<i64> = envelopes
        .iter()
        .map(|e| e["timelineSequence"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let mut seen = envelopes.len();
    let mut cursor = replay["cursor"].clone();
    assert!(cursor["sequence"].is_i64(), "{cursor}");
    let mut oldest = Value::Null;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        web.send(json!({"type": "fetch_history", "cursor": cursor, "limit": 500}))
            .await;
        let page = web.expect_type("history_page").await;
        assert!(page.to_string().len() <= cap);
        seen += page["items"].as_array().unwrap().len();
        if page["hasMore"] == false {
            oldest = page["items"][0]["event"].clone();
            break;
        }
        cursor = page["cursor"].clone();
    }
    // Every event is reachable: the user's prompt (first), 49 results, the completion.
    assert!(seen >= 51, "{seen}");
    assert_eq!(oldest["type"], "user_message", "{oldest}");
    assert_eq!(oldest["author"]["userId"], user.as_str());
}

#[tokio::test]
async fn an_idle_sandbox_whose_work_cannot_be_pushed_is_kept() {
    let (sh, c) = setup().await;
    let user = unique("keep-user");
    let id = session(&c, &user, &unique("AT-keep")).await;
    let (mut sb, _) = done_with_one_prompt(sh, &c, &id, &user).await;
    // Past the idle timeout (6 s) the work is to be saved; the push fails: no shutdown.
    let until = tokio::time::Instant::now() + Duration::from_secs(12);
    let mut refused = 0;
    while tokio::time::Instant::now() < until {
        sb.send(json!({"type": "heartbeat"})).await;
        if let Ok(Some(v)) = tokio::time::timeout(Duration::from_secs(1), sb.next(20)).await {
            assert_ne!(v["type"], "shutdown", "shut down with its work unsaved");
            if v["type"] == "push" {
                let branch = v["pushSpec"]["targetBranch"].clone();
                sb.send(json!({"type": "push_error", "branchName": branch, "error": "no route"}))
                    .await;
                refused += 1;
            }
        }
    }
    assert!(refused >= 1, "the work was to be pushed first");
    assert_eq!(
        c.get(&format!("/sessions/{id}")).await.body["session"]["sandbox"]["status"],
        "ready"
    );
}

/// The sidebar's inbox and read state (Open-Inspect's `GET /sessions/inbox`,
/// `PATCH /sessions/:id/read-state`): a finished answer needs attention until it is read.
#[tokio::test]
async fn a_finished_answer_needs_attention_until_it_is_read() {
    let (sh, c) = setup().await;
    let user = unique("inbox-user");
    let id = session(&c, &user, &unique("AT-inbox")).await;
    let inbox = |category: Option<&str>| {
        let c = c.clone();
        let path = match category {
            Some(cat) => format!("/sessions/inbox?category={cat}"),
            None => "/sessions/inbox".to_string(),
        };
        let user = user.clone();
        async move { c.get_with(&path, &[("x-user-id", user.as_str())]).await }
    };
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["rootSession"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (mut sb, _) = start_working(&sh.worker, &sh.fake, &id, &user).await;
    // Working: in progress.
    let r = inbox(None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        ids(&r.body["categories"]["in_progress"]).contains(&id),
        "{}",
        r.body
    );
    let m1 = c.get(&format!("/sessions/{id}/messages")).await.body["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Each step's cost adds to the session's (Open-Inspect's totalCost).
    for cost in [0.125, 0.25] {
        sb.send(json!({"type": "step_finish", "messageId": m1, "cost": cost}))
            .await;
    }
    sb.send(json!({"type": "execution_complete", "messageId": m1, "success": true, "ackId": "d"}))
        .await;
    sb.expect_type("ack").await;
    let snapshot = c.get(&format!("/sessions/{id}")).await;
    assert_eq!(snapshot.body["session"]["totalCost"], 0.375);
    // Finished and unread: needs attention, until it is read.
    let mut unread = Value::Null;
    for _ in 0..50 {
        let r = inbox(Some("needs_attention")).await;
        if let Some(item) = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["rootSession"]["id"] == id.as_str())
        {
            unread = item.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        unread["rootSession"]["readState"],
        json!({"latestMessageId": m1, "unread": true}),
        "{unread}"
    );
    assert_eq!(unread["descendantSessions"], json!([]));
    let mark = |body: Value| {
        let c = c.clone();
        let path = format!("/sessions/{id}/read-state");
        let user = user.clone();
        async move {
            c.send(
                c.authed(reqwest::Method::PATCH, &path)
                    .header("x-user-id", user)
                    .json(&body),
            )
            .await
        }
    };
    let r = mark(json!({"action": "mark_message_read", "messageId": "older"})).await;
    assert_eq!(r.body["outcome"], "not_latest", "{}", r.body);
    let r = mark(json!({"action": "mark_latest_message_read"})).await;
    assert_eq!(
        r.body,
        json!({"sessionId": id, "outcome": "marked_read", "unread": false, "latestMessageId": m1})
    );
    let r = mark(json!({"action": "mark_latest_message_read"})).await;
    assert_eq!(r.body["outcome"], "already_read");
    let r = mark(json!({"action": "mark_latest_message_read", "extra": 1})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let finished = inbox(Some("finished")).await;
    assert!(ids(&finished.body).contains(&id), "{}", finished.body);
    // Malformed queries are refused as Open-Inspect refuses them.
    for bad in [
        "category=urgent",
        "cursor=abc&category=finished",
        "cursor=20",
        "mine=yes",
    ] {
        let r = c
            .get_with(
                &format!("/sessions/inbox?{bad}"),
                &[("x-user-id", user.as_str())],
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
}

/// Secrets (Open-Inspect's six routes): validated, never answered, and given to each new
/// sandbox, a repository's over the global ones.
#[tokio::test]
async fn secrets_reach_the_next_sandbox_and_are_never_answered() {
    let (sh, c) = setup().await;
    let repo = unique("secret-repo");
    let put = |path: String, body: Value| {
        let c = c.clone();
        async move {
            c.send(c.authed(reqwest::Method::PUT, &path).json(&body))
                .await
        }
    };
    let global_key = format!("G_{}", repo.replace('-', "_").to_uppercase());
    let r = put(
        "/secrets".into(),
        json!({"secrets": {global_key.to_lowercase(): "global-value", "SHARED_X": "global"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = put(
        format!("/repos/acme/{repo}/secrets"),
        json!({"secrets": {"shared_x": "repo-value"}}),
    )
    .await;
    assert_eq!(
        (r.status, &r.body["keys"], &r.body["created"]),
        (200, &json!(["SHARED_X"]), &json!(1)),
        "{}",
        r.body
    );
    let listed = c.get(&format!("/repos/acme/{repo}/secrets")).await;
    assert_eq!(listed.body["repo"], format!("acme/{repo}").as_str());
    assert_eq!(listed.body["secrets"][0]["key"], "SHARED_X");
    assert!(
        !listed.body.to_string().contains("repo-value"),
        "values are never answered"
    );
    assert!(!c
        .get("/secrets")
        .await
        .body
        .to_string()
        .contains("global-value"));
    for (body, why) in [
        (json!({"secrets": {"path": "x"}}), "Key 'PATH' is reserved"),
        (
            json!({"secrets": {"1X": "x"}}),
            "Key must match [A-Za-z_][A-Za-z0-9_]*",
        ),
        (
            json!({"nope": {}}),
            "Request body must include secrets object",
        ),
    ] {
        let r = put("/secrets".into(), body).await;
        assert_eq!((r.status, r.message()), (400, why));
    }
    // A sandbox for that repository gets both, the repository's value over the global one.
    let user = unique("secret-user");
    let id = c
        .create_session(
            &user,
            json!({"repoName": repo, "scmToken": unique("AT-secret")}),
        )
        .await;
    prompt(&c, &id, &user, "go").await;
    let (_, spawn) = wait_for_spawns(&sh.fake, &id, 1, 20).await;
    assert_eq!(spawn["secrets"][&global_key], "global-value");
    assert_eq!(spawn["secrets"]["SHARED_X"], "repo-value");
    // A change reaches the next sandbox; a deleted one is gone.
    put(
        format!("/repos/acme/{repo}/secrets"),
        json!({"secrets": {"LATER": "v2"}}),
    )
    .await;
    let gone = c
        .send(c.authed(
            reqwest::Method::DELETE,
            &format!("/repos/acme/{repo}/secrets/shared_x"),
        ))
        .await;
    assert_eq!(gone.body["key"], "SHARED_X", "{}", gone.body);
    let again = c
        .send(c.authed(
            reqwest::Method::DELETE,
            &format!("/repos/acme/{repo}/secrets/SHARED_X"),
        ))
        .await;
    assert_eq!((again.status, again.message()), (404, "Secret not found"));
    let id2 = c
        .create_session(
            &user,
            json!({"repoName": repo, "scmToken": unique("AT-secret2")}),
        )
        .await;
    prompt(&c, &id2, &user, "go").await;
    let (_, spawn2) = wait_for_spawns(&sh.fake, &id2, 1, 20).await;
    assert_eq!(spawn2["secrets"]["LATER"], "v2");
    assert_eq!(spawn2["secrets"]["SHARED_X"], "global");
    let r = c
        .send(c.authed(reqwest::Method::DELETE, &format!("/secrets/{global_key}")))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Whether the Slack bot takes `body` as Open-Inspect's bot checks it: in Node, the body
/// parsed, its `signature` taken out, the rest written again by `JSON.stringify` and signed
/// with the bot's secret.
fn bot_accepts(body: &str, secret: &str) -> bool {
    use std::io::Write;
    let check = "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{\
        const {signature,...data}=JSON.parse(s);\
        const h=require('crypto').createHmac('sha256',process.env.SECRET)\
        .update(JSON.stringify(data)).digest('hex');process.stdout.write(h===signature?'ok':'bad')})";
    let mut node = std::process::Command::new("node")
        .args(["-e", check])
        .env("SECRET", secret)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    node.stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write");
    let out = node.wait_with_output().expect("node ran");
    String::from_utf8_lossy(&out.stdout) == "ok"
}

/// The bodies the fake bot under `bot` received at `path`.
async fn received_by(fake: &wiremock::MockServer, bot: &str, path: &str) -> Vec<String> {
    let seen = fake.received_requests().await.unwrap_or_default();
    seen.iter()
        .filter(|r| r.url.path() == format!("{bot}{path}"))
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

/// A Slack bot's prompt (signed `sig1`, with its `callbackContext`) is called back as
/// Open-Inspect's control plane calls the bot: a tool call (once per call id, at most one
/// every 3 s) and the completion with the sandbox's error, each signed so that the bot's own
/// check accepts it.
#[tokio::test]
async fn a_slack_bots_prompt_is_called_back() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let (sh, c) = setup().await;
    let fake = &sh.fake;
    for (p, answer) in [
        (
            "/slack-bot/callbacks/complete",
            json!({"ok": true, "deliveryId": "d-1"}),
        ),
        ("/slack-bot/callbacks/tool_call", json!({"ok": true})),
    ] {
        Mock::given(method("POST"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(fake)
            .await;
    }
    // The Slack user the bot acts for has connected Bitbucket (their right clones).
    let actor = format!("slack:U{}", unique("cb").replace('-', ""));
    let id = session(&c, &actor, &unique("AT-slack")).await;
    let repo = "web";
    let bot = || {
        let mut s = Sig1::now("slack-bot");
        s.actor = &actor;
        s
    };
    let thread = unique("thread");
    let context = json!({"source": "slack", "channel": "C0CALLBACK", "threadTs": thread,
        "repoFullName": format!("acme/{repo}"), "model": "claude-haiku-4-5",
        "reactionMessageTs": "9.9", "dropped": "unknown fields are dropped"});
    let body = json!({"content": "fix it", "source": "slack", "callbackContext": context});
    let prompt_path = format!("/sessions/{id}/prompt");
    let r = c
        .send(bot().sign(c.http.post(c.url(&prompt_path)), Some(&body)))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let message_id = r.body["messageId"].as_str().unwrap().to_string();
    // A bad context from the bot is refused.
    let bad = json!({"content": "x", "callbackContext": {"source": "slack", "channel": "C"}});
    let r = c
        .send(bot().sign(c.http.post(c.url(&prompt_path)), Some(&bad)))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    let (_, spawn) = wait_for_spawns(fake, &id, 1, 30).await;
    let mut sandbox = FakeSandbox::from_spawn(&sh.worker, &spawn).await;
    sandbox.send(json!({"type": "ready"})).await;
    let prompt = sandbox.expect_type("prompt").await;
    assert_eq!(prompt["messageId"], message_id.as_str());
    let tool = |call: &str, tool: &str| {
        json!({"type": "tool_call", "tool": tool, "args": {"command": "ls -la"}, "callId": call,
               "status": "running", "messageId": message_id, "sandboxId": "sb",
               "timestamp": now_ms() as f64 / 1000.0})
    };
    sandbox.send(tool("call-1", "bash")).await;
    // Within 3 s of the first: not sent.
    sandbox.send(tool("call-2", "read")).await;
    sandbox
        .send(
            json!({"type": "execution_complete", "messageId": message_id, "success": false,
                     "error": "the model gave up", "sandboxId": "sb", "ackId": "done-1"}),
        )
        .await;
    sandbox.expect_type("ack").await;

    let completions = wait_for_bot(fake, "/slack-bot", "/callbacks/complete", &thread).await;
    assert_eq!(completions.len(), 1, "one completion: {completions:?}");
    let secret = common::SERVICE_SECRETS[1].2;
    assert!(bot_accepts(&completions[0], secret), "{}", completions[0]);
    assert!(!bot_accepts(&completions[0], "another-secret"));
    let done: Value = serde_json::from_str(&completions[0]).unwrap();
    assert_eq!(
        (
            &done["sessionId"],
            &done["messageId"],
            &done["success"],
            &done["error"]
        ),
        (
            &json!(id),
            &json!(message_id),
            &json!(false),
            &json!("the model gave up")
        )
    );
    assert!(done["timestamp"].as_i64().is_some_and(|t| t > 0), "{done}");
    assert_eq!(
        done["context"],
        json!({"source": "slack", "channel": "C0CALLBACK", "threadTs": thread,
               "repoFullName": format!("acme/{repo}"), "model": "claude-haiku-4-5",
               "reactionMessageTs": "9.9"})
    );
    let calls: Vec<Value> = received_by(fake, "/slack-bot", "/callbacks/tool_call")
        .await
        .into_iter()
        .filter(|b| b.contains(&thread))
        .inspect(|b| assert!(bot_accepts(b, secret), "{b}"))
        .map(|b| serde_json::from_str(&b).unwrap())
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        (
            &calls[0]["tool"],
            &calls[0]["callId"],
            &calls[0]["args"],
            &calls[0]["status"]
        ),
        (
            &json!("bash"),
            &json!("call-1"),
            &json!({"command": "ls -la"}),
            &json!("running")
        )
    );
    assert!(calls[0].get("messageId").is_none());
}

/// A request of the session's sandbox, with its own token.
fn as_sandbox(
    c: &Client,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> reqwest::RequestBuilder {
    c.http
        .request(method, c.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
}

/// Open-Inspect's child-session tools, as the sandbox runtime calls them with its token: a
/// child spawned on the same repository from the base branch, owned by whoever's prompt
/// runs, with its first prompt; the parent's clients told; the child listed and its result
/// read; a follow-up; a cancel that stops the child's sandbox; and the refusals (another
/// token, no running prompt, another session's child, a cancelled child).
#[tokio::test]
async fn a_sandbox_spawns_reads_prompts_and_cancels_a_child() {
    use reqwest::Method;
    let (sh, c) = setup().await;
    let fake = &sh.fake;
    let user = unique("parent-user");
    let parent = session(&c, &user, &unique("AT-parent")).await;
    prompt(&c, &parent, &user, "split the work").await;
    let (_, spawn) = wait_for_spawns(fake, &parent, 1, 30).await;
    let token = spawn["sandbox_auth_token"].as_str().unwrap().to_string();
    let mut parent_box = FakeSandbox::from_spawn(&sh.worker, &spawn).await;
    parent_box.send(json!({"type": "ready"})).await;
    let parent_prompt = parent_box.expect_type("prompt").await;
    let (ws, _) = c.ws_token(&parent, &user).await;
    let (mut browser, _) = WsClient::subscribed(&sh.worker, &parent, &ws).await;

    let children = format!("/sessions/{parent}/children");
    // Another token is refused.
    let r = c
        .send(
            as_sandbox(&c, Method::POST, &children, "not-the-token")
                .json(&json!({"title": "t", "prompt": "p"})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    let body = json!({"title": "Write the tests", "prompt": "add tests for the parser"});
    let r = c
        .send(as_sandbox(&c, Method::POST, &children, &token).json(&body))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "created");
    let child = r.body["sessionId"].as_str().unwrap().to_string();
    let update = browser.expect_type("child_session_update").await;
    assert_eq!(update["childSessionId"], child.as_str(), "{update}");

    // The child starts on its own: same repository, its first prompt, the parent's author.
    let (_, child_spawn) = wait_for_spawns(fake, &child, 1, 30).await;
    assert_eq!(child_spawn["repo_name"], spawn["repo_name"]);
    assert_eq!(child_spawn["branch"], spawn["branch"]);
    let mut child_box = FakeSandbox::from_spawn(&sh.worker, &child_spawn).await;
    child_box.send(json!({"type": "ready"})).await;
    let first = child_box.expect_type("prompt").await;
    assert_eq!(first["content"], "add tests for the parser");
    let r = c.get(&format!("/sessions/{child}")).await;
    assert_eq!(
        r.body["session"]["parentSessionId"],
        parent.as_str(),
        "{}",
        r.body
    );
    assert_eq!(r.body["session"]["createdBy"], user.as_str(), "{}", r.body);

    let r = c.send(as_sandbox(&c, Method::GET, &children, &token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let listed = &r.body["children"][0];
    assert_eq!(
        (
            &listed["id"],
            &listed["parentSessionId"],
            &listed["spawnSource"],
            &listed["spawnDepth"]
        ),
        (&json!(child), &json!(parent), &json!("agent"), &json!(1)),
        "{listed}"
    );

    // Renamed: the parent's clients hear the new title.
    let rename = c
        .authed(reqwest::Method::PATCH, &format!("/sessions/{child}/title"))
        .json(&json!({"title": "Parser tests", "userId": user}));
    let r = c.send(rename).await;
    assert_eq!(r.status, 200, "{}", r.body);
    loop {
        let u = browser.expect_type("child_session_update").await;
        if u["title"] == "Parser tests" {
            assert_eq!(u["childSessionId"], child.as_str());
            break;
        }
    }

    // The child answers; the parent's agent reads the result.
    let mid = first["messageId"].as_str().unwrap();
    let at = now_ms() as f64 / 1000.0;
    for e in [
        json!({"type": "tool_call", "tool": "bash", "args": {"command": "cargo test"}, "callId": "t1",
               "status": "completed", "messageId": mid, "sandboxId": "sb", "timestamp": at}),
        json!({"type": "token", "content": "Tests added.", "messageId": mid, "sandboxId": "sb", "timestamp": at}),
        json!({"type": "execution_complete", "messageId": mid, "success": true, "sandboxId": "sb",
               "timestamp": at, "ackId": "child-done"}),
    ] {
        child_box.send(e).await;
    }
    child_box.expect_type("ack").await;
    let detail = format!("{children}/{child}?include=result,trajectory&trajectoryLimit=2");
    let r = c.send(as_sandbox(&c, Method::GET, &detail, &token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let result = &r.body["finalResponse"];
    assert_eq!(result["textContent"], "Tests added.", "{}", r.body);
    assert_eq!(
        result["toolCalls"],
        json!([{"tool": "bash", "summary": "Ran: cargo test"}])
    );
    assert_eq!(
        (&result["success"], &result["messageId"]),
        (&json!(true), &json!(mid))
    );
    assert_eq!(r.body["session"]["status"], "completed", "{}", r.body);
    assert_eq!(r.body["hasUnfinishedPrompt"], false);
    let trajectory = &r.body["trajectory"];
    assert_eq!(
        trajectory["events"].as_array().map(Vec::len),
        Some(2),
        "{trajectory}"
    );
    assert_eq!(trajectory["hasMore"], true);
    let older = format!(
        "{children}/{child}?include=trajectory&trajectoryCursor={}",
        trajectory["cursor"].as_str().unwrap()
    );
    let r = c.send(as_sandbox(&c, Method::GET, &older, &token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c
        .send(as_sandbox(
            &c,
            Method::GET,
            &format!("{children}/{child}?include=all"),
            &token,
        ))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // A follow-up reaches the child's sandbox.
    let follow = format!("{children}/{child}/prompt");
    let r = c
        .send(
            as_sandbox(&c, Method::POST, &follow, &token)
                .json(&json!({"content": "also the lexer"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        child_box.expect_type("prompt").await["content"],
        "also the lexer"
    );
    let r = c
        .send(
            as_sandbox(&c, Method::POST, &follow, &token)
                .json(&json!({"content": "x", "source": "web"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // Cancelled: its sandbox is stopped and shut down, the parent's clients hear it.
    let cancel = format!("{children}/{child}/cancel");
    let r = c
        .send(as_sandbox(&c, Method::POST, &cancel, &token).json(&json!({"cancelNested": true})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"status": "cancelled", "cancelledDescendantIds": []})
    );
    child_box.expect_type("shutdown").await;
    loop {
        let u = browser.expect_type("child_session_update").await;
        if u["status"] == "cancelled" {
            break;
        }
    }
    let r = c.send(as_sandbox(&c, Method::POST, &cancel, &token)).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("Session already cancelled")),
        "{}",
        r.body
    );

    // Another session is not this one's child.
    let other = session(&c, &user, &unique("AT-other")).await;
    let r = c
        .send(as_sandbox(
            &c,
            Method::GET,
            &format!("{children}/{other}"),
            &token,
        ))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);

    // Once the parent's prompt ended, its agent spawns nothing.
    let pmid = parent_prompt["messageId"].as_str().unwrap();
    parent_box
        .send(
            json!({"type": "execution_complete", "messageId": pmid, "success": true,
                     "sandboxId": "sb", "ackId": "parent-done"}),
        )
        .await;
    parent_box.expect_type("ack").await;
    let r = c
        .send(as_sandbox(&c, Method::POST, &children, &token).json(&body))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().contains("No active prompt"), "{}", r.body);
}

/// Waits up to 15 s for the fake bot under `bot` to receive a body at `path` that mentions
/// `mark`; answers those received.
async fn wait_for_bot(
    fake: &wiremock::MockServer,
    bot: &str,
    path: &str,
    mark: &str,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mine: Vec<String> = received_by(fake, bot, path)
            .await
            .into_iter()
            .filter(|b| b.contains(mark))
            .collect();
        if !mine.is_empty() || std::time::Instant::now() > deadline {
            return mine;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A Linear bot's prompt: its strict context checked (trimmed, no unknown field), the bot
/// told when the prompt reaches the sandbox (`/callbacks/start`) and when it ends, and no
/// tool calls when the context asks for none; each signed so the bot's own check accepts it.
#[tokio::test]
async fn a_linear_bots_prompt_is_started_and_completed() {
    use wiremock::matchers::{method, path_regex};
    use wiremock::{Mock, ResponseTemplate};
    let (sh, c) = setup().await;
    let fake = &sh.fake;
    Mock::given(method("POST"))
        .and(path_regex("^/linear-bot/callbacks/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(fake)
        .await;
    let actor = format!("linear:{}", unique("lin").replace('-', ""));
    let id = session(&c, &actor, &unique("AT-linear")).await;
    let bot = || {
        let mut s = Sig1::now("linear-bot");
        s.secret = LINEAR_SECRET;
        s.actor = &actor;
        s
    };
    let issue = unique("ENG");
    let context = json!({"source": "linear", "issueId": " iss-1 ", "issueIdentifier": issue,
        "issueUrl": format!("https://linear.app/acme/issue/{issue}"), "model": "claude-sonnet-4-6",
        "agentSessionId": "as-1", "organizationId": "org-1", "appUserId": "app-1",
        "emitToolProgressActivities": false, "transitionIssueOnStart": true});
    let prompt_path = format!("/sessions/{id}/prompt");
    let mut strict = context.clone();
    strict["extra"] = json!(1);
    let r = c
        .send(bot().sign(
            c.http.post(c.url(&prompt_path)),
            Some(&json!({"content": "fix it", "source": "linear", "callbackContext": strict})),
        ))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let body = json!({"content": "fix it", "source": "linear", "callbackContext": context});
    let r = c
        .send(bot().sign(c.http.post(c.url(&prompt_path)), Some(&body)))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let message_id = r.body["messageId"].as_str().unwrap().to_string();

    let (_, spawn) = wait_for_spawns(fake, &id, 1, 30).await;
    let mut sandbox = FakeSandbox::from_spawn(&sh.worker, &spawn).await;
    sandbox.send(json!({"type": "ready"})).await;
    sandbox.expect_type("prompt").await;
    let started = wait_for_bot(fake, "/linear-bot", "/callbacks/start", &issue).await;
    assert_eq!(started.len(), 1, "{started:?}");
    assert!(bot_accepts(&started[0], LINEAR_SECRET), "{}", started[0]);
    let start: Value = serde_json::from_str(&started[0]).unwrap();
    assert_eq!(
        (&start["sessionId"], &start["messageId"]),
        (&json!(id), &json!(message_id))
    );
    assert_eq!(start["context"]["issueId"], "iss-1", "trimmed");
    assert_eq!(start["context"]["transitionIssueOnStart"], true);

    sandbox
        .send(
            json!({"type": "tool_call", "tool": "bash", "args": {"command": "ls"}, "callId": "l1",
                     "status": "running", "messageId": message_id, "sandboxId": "sb"}),
        )
        .await;
    sandbox
        .send(
            json!({"type": "execution_complete", "messageId": message_id, "success": true,
                     "sandboxId": "sb", "ackId": "lin-done"}),
        )
        .await;
    sandbox.expect_type("ack").await;
    let done = wait_for_bot(fake, "/linear-bot", "/callbacks/complete", &issue).await;
    assert_eq!(done.len(), 1, "{done:?}");
    assert!(bot_accepts(&done[0], LINEAR_SECRET), "{}", done[0]);
    let done: Value = serde_json::from_str(&done[0]).unwrap();
    assert_eq!(done["success"], true);
    assert!(done.get("error").is_none(), "{done}");
    let calls = received_by(fake, "/linear-bot", "/callbacks/tool_call").await;
    assert!(
        !calls.iter().any(|b| b.contains(&issue)),
        "no tool calls were asked for"
    );
}
