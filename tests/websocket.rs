//! End-to-end tests of the browser WebSocket through `wrangler dev`: subscribe (the session's
//! snapshot as Open-Inspect's web reads it), ping, prompts and cancelling them over the socket,
//! the prompt queue broadcast to every client, 4001, 4008 and 1009 closes.

mod common;

use common::{shared, Frame, WsClient};
use serde_json::json;

#[tokio::test]
async fn two_clients_see_the_same_broadcasts() {
    let sh = shared();
    let c = sh.worker.client();
    let id = c.create_session("alice", json!({})).await;
    // A prompt before anyone connects: in the queue (it shows in the timeline once it runs).
    let r = c
        .post(
            &format!("/sessions/{id}/prompt"),
            &json!({"content": "first", "authorId": "alice"}),
        )
        .await;
    assert_eq!(r.status, 200);

    let (alice_token, alice_pid) = c.ws_token(&id, "alice").await;
    let (bob_token, bob_pid) = c.ws_token(&id, "bob").await;
    assert_ne!(alice_pid, bob_pid);
    let (mut alice, sub) = WsClient::subscribed(&sh.worker, &id, &alice_token).await;
    // The snapshot, as Open-Inspect's sessionSnapshotSchema reads it, and who subscribed.
    assert_eq!(sub["participantId"], alice_pid.as_str());
    assert_eq!(
        sub["participant"],
        json!({"participantId": alice_pid, "userId": "alice", "name": "alice"})
    );
    assert!(sub.get("spawnError").is_some(), "{sub}");
    let state = &sub["session"];
    assert_eq!(state["repoName"], "web");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["status"], "active");
    assert_eq!(state["messageCount"], 1);
    assert!(state["isProcessing"].is_boolean() && state["sandboxStatus"].is_string());
    assert!(
        state.get("reasoningEffort").is_none(),
        "left out, never null: {state}"
    );
    assert_eq!(
        sub["timeline"],
        json!({"events": [], "hasMore": false, "cursor": null})
    );
    assert_eq!(sub["artifacts"], json!([]));
    assert_eq!(sub["promptQueue"][0]["content"], "first");
    assert_eq!(sub["promptQueue"][0]["status"], "pending");
    let sync = alice.expect_type("presence_sync").await;
    assert_eq!(sync["participants"][0]["userId"], "alice");
    let (mut bob, _) = WsClient::subscribed(&sh.worker, &id, &bob_token).await;
    // Alice hears that Bob arrived.
    loop {
        let update = alice.expect_type("presence_update").await;
        let users: Vec<&str> = update["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["userId"].as_str().unwrap())
            .collect();
        if users.contains(&"bob") {
            assert!(users.contains(&"alice"));
            break;
        }
    }

    alice.send(json!({"type": "ping"})).await;
    assert_eq!(alice.expect_type("pong").await["type"], "pong");

    // A prompt over Alice's socket: she gets prompt_queued with her request's id; both see
    // the queue.
    alice
        .send(
            json!({"type": "prompt", "content": "over the socket", "reasoningEffort": "high",
                     "clientRequestId": "req-1"}),
        )
        .await;
    // The queue is broadcast first (as Open-Inspect does), then the sender's answer.
    let (mut queued, mut alice_queue) = (None, None);
    while queued.is_none() || alice_queue.is_none() {
        let v = alice.json().await;
        match v["type"].as_str() {
            Some("prompt_queued") => queued = Some(v),
            Some("prompt_queue_updated") if v["promptQueue"].as_array().unwrap().len() == 2 => {
                alice_queue = Some(v)
            }
            _ => {}
        }
    }
    let queued = queued.unwrap();
    assert_eq!(queued["clientRequestId"], "req-1");
    assert_eq!(queued["position"], 2);
    let message_id = queued["messageId"].as_str().unwrap().to_string();
    let bob_queue = loop {
        let q = bob.expect_type("prompt_queue_updated").await;
        if q["promptQueue"].as_array().unwrap().len() == 2 {
            break q;
        }
    };
    for q in [alice_queue.unwrap(), bob_queue] {
        assert_eq!(q["promptQueue"][1]["messageId"], message_id.as_str());
    }
    // Cancelled before it ran: answered, and gone from the queue; a second time refused.
    alice
        .send(json!({"type": "cancel_prompt", "messageId": message_id, "clientRequestId": "req-2"}))
        .await;
    let cancelled = alice.expect_type("prompt_cancelled").await;
    assert_eq!(
        (
            cancelled["clientRequestId"].as_str(),
            cancelled["messageId"].as_str()
        ),
        (Some("req-2"), Some(message_id.as_str()))
    );
    let q = bob.expect_type("prompt_queue_updated").await;
    assert_eq!(q["promptQueue"].as_array().unwrap().len(), 1);
    alice
        .send(json!({"type": "cancel_prompt", "messageId": message_id, "clientRequestId": "req-3"}))
        .await;
    let refused = alice.expect_type("error").await;
    assert_eq!(
        (
            refused["code"].as_str(),
            refused["clientRequestId"].as_str()
        ),
        (Some("PROMPT_NOT_CANCELLABLE"), Some("req-3"))
    );
    // A prompt the web would send empty is refused with its request's id.
    alice
        .send(json!({"type": "prompt", "content": " ", "clientRequestId": "req-4"}))
        .await;
    let refused = alice.expect_type("error").await;
    assert_eq!(refused["clientRequestId"], "req-4");
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    assert_eq!(msgs.body["messages"].as_array().unwrap().len(), 2);
    assert_eq!(msgs.body["messages"][0]["status"], "failed");

    // Cursors that name nothing, and history asked for too soon.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    bob.send(json!({"type": "fetch_history", "cursor": {"timestamp": 1, "id": "nope"}}))
        .await;
    assert_eq!(bob.expect_type("error").await["code"], "INVALID_CURSOR");
    bob.send(json!({"type": "fetch_history"})).await;
    assert_eq!(bob.expect_type("error").await["code"], "RATE_LIMITED");

    // Unknown types are ignored; malformed frames are answered, never fatal.
    bob.send(json!({"type": "dance"})).await;
    bob.send(json!({"type": "ping"})).await;
    let next = loop {
        let v = bob.json().await;
        if !v["type"].as_str().unwrap_or("").starts_with("presence") {
            break v;
        }
    };
    assert_eq!(
        next["type"], "pong",
        "an unknown type gets no answer: {next}"
    );
    bob.send(json!({"type": "prompt"})).await;
    assert_eq!(bob.expect_type("error").await["code"], "invalid_message");

    // Bob leaves: Alice is told.
    drop(bob);
    let left = alice.expect_type("presence_leave").await;
    assert_eq!(left["userId"], "bob");
}

#[tokio::test]
async fn bad_or_missing_tokens_are_closed() {
    let sh = shared();
    let c = sh.worker.client();
    let id = c.create_session("carol", json!({})).await;

    let mut ws = WsClient::connect(&sh.worker, &id).await;
    ws.send(json!({"type": "subscribe", "token": "f".repeat(64), "clientId": "x"}))
        .await;
    assert!(matches!(ws.next(20).await, Frame::Closed(Some(4001))));

    // A token of another session does not open this one.
    let other = c.create_session("carol", json!({})).await;
    let (other_token, _) = c.ws_token(&other, "carol").await;
    let mut ws = WsClient::connect(&sh.worker, &id).await;
    ws.send(json!({"type": "subscribe", "token": other_token, "clientId": "x"}))
        .await;
    assert!(matches!(ws.next(20).await, Frame::Closed(Some(4001))));

    // A subscribe without a token is an auth failure too.
    let mut ws = WsClient::connect(&sh.worker, &id).await;
    ws.send(json!({"type": "subscribe", "clientId": "x"})).await;
    assert!(matches!(ws.next(20).await, Frame::Closed(Some(4001))));

    // Before subscribing, nothing but ping is served.
    let mut ws = WsClient::connect(&sh.worker, &id).await;
    ws.send(json!({"type": "prompt", "content": "sneaky"}))
        .await;
    assert_eq!(ws.expect_type("error").await["code"], "NOT_SUBSCRIBED");
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    assert_eq!(msgs.body["messages"], json!([]));

    // A socket to a session that does not exist is refused.
    let missing = "ab".repeat(32);
    let url = format!("ws://127.0.0.1:{}/sessions/{missing}/ws", sh.worker.port);
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}

#[tokio::test]
async fn a_client_that_never_subscribes_is_closed_with_4008() {
    let sh = shared();
    let c = sh.worker.client();
    let id = c.create_session("dave", json!({})).await;
    let (token, _) = c.ws_token(&id, "dave").await;
    let mut idle = WsClient::connect(&sh.worker, &id).await;
    let (mut active, _) = WsClient::subscribed(&sh.worker, &id, &token).await;
    let started = std::time::Instant::now();
    match idle.next(60).await {
        Frame::Closed(code) => assert_eq!(code, Some(4008)),
        Frame::Json(v) => panic!("unexpected frame {v}"),
    }
    let waited = started.elapsed().as_secs();
    assert!((25..=45).contains(&waited), "closed after {waited}s");
    // The subscribed client is untouched.
    active.send(json!({"type": "ping"})).await;
    assert_eq!(active.expect_type("pong").await["type"], "pong");
}

#[tokio::test]
async fn each_tab_has_its_own_token_and_a_session_takes_at_most_32_subscribed_sockets() {
    let sh = shared();
    let c = sh.worker.client();
    let id = c.create_session("erin", json!({})).await;
    // A second tab's token does not break the first's (reconnects included).
    let (first, pid) = c.ws_token(&id, "erin").await;
    let (second, pid2) = c.ws_token(&id, "erin").await;
    assert_eq!(pid, pid2);
    let (a, _) = WsClient::subscribed(&sh.worker, &id, &first).await;
    let (b, _) = WsClient::subscribed(&sh.worker, &id, &second).await;
    drop(a);
    let (_a_again, _) = WsClient::subscribed(&sh.worker, &id, &first).await;
    drop(b);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // Sockets that never subscribe cannot hold the session: past 8 waiting, the oldest is
    // closed (4008) to make room, and subscribed clients are untouched.
    let mut waiting = Vec::new();
    for _ in 0..8 {
        waiting.push(WsClient::connect(&sh.worker, &id).await);
    }
    let _newest = WsClient::connect(&sh.worker, &id).await;
    match waiting[0].next(10).await {
        Frame::Closed(code) => assert_eq!(code, Some(4008)),
        Frame::Json(v) => panic!("unexpected frame {v}"),
    }
    drop(waiting);
    // 32 subscribed sockets at most (the tab above included); then 429.
    let mut open = Vec::new();
    for _ in 0..31 {
        open.push(WsClient::subscribed(&sh.worker, &id, &first).await.0);
    }
    let url = format!("ws://127.0.0.1:{}/sessions/{id}/ws", sh.worker.port);
    let mut refused = None;
    for _ in 0..20 {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                refused = Some(resp.status().as_u16());
                break;
            }
            // A closed socket may not have been counted out yet: try again.
            Ok(_) | Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    assert_eq!(refused, Some(429));
}

/// The review's probe N5: frames past a socket's limit close it before they are read (4 KiB
/// before subscribing, 1 MiB after).
#[tokio::test]
async fn oversized_frames_close_the_socket_unread() {
    let sh = shared();
    let c = sh.worker.client();
    let id = c.create_session("frank", json!({})).await;
    let mut early = WsClient::connect(&sh.worker, &id).await;
    early
        .send(json!({"type": "subscribe", "token": "x".repeat(5 * 1024)}))
        .await;
    match early.next(10).await {
        Frame::Closed(code) => assert_eq!(code, Some(1009)),
        Frame::Json(v) => panic!("unexpected frame {v}"),
    }
    let (token, _) = c.ws_token(&id, "frank").await;
    let (mut web, _) = WsClient::subscribed(&sh.worker, &id, &token).await;
    // A subscribed client's ordinary frames pass; one past 1 MiB does not.
    web.send(json!({"type": "presence", "status": "active", "pad": "p".repeat(8 * 1024)}))
        .await;
    web.send(json!({"type": "ping"})).await;
    assert_eq!(web.expect_type("pong").await["type"], "pong");
    web.send(json!({"type": "prompt", "content": "c".repeat(1100 * 1024)}))
        .await;
    loop {
        match web.next(10).await {
            Frame::Closed(code) => {
                assert_eq!(code, Some(1009));
                break;
            }
            Frame::Json(v) => assert_ne!(v["type"], "prompt_queued", "{v}"),
        }
    }
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    assert_eq!(msgs.body["messages"], json!([]));
}

/// Renaming (Open-Inspect's `PATCH /sessions/:id/title`) and the participants' names.
#[tokio::test]
async fn a_participant_renames_the_session_and_every_client_hears_it() {
    let sh = shared();
    let c = sh.worker.client();
    let id = c
        .create_session("gina", json!({"scmName": "Gina Lane"}))
        .await;
    let (token, _) = c.ws_token(&id, "gina").await;
    let (mut web, _) = WsClient::subscribed(&sh.worker, &id, &token).await;
    let rename = |body: serde_json::Value| {
        let c = c.clone();
        let path = format!("/sessions/{id}/title");
        async move {
            c.send(c.authed(reqwest::Method::PATCH, &path).json(&body))
                .await
        }
    };
    let r = rename(json!({"title": "  Fix the login page  ", "userId": "gina"})).await;
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({"title": "Fix the login page"}))
    );
    assert_eq!(
        web.expect_type("session_title").await["title"],
        "Fix the login page"
    );
    let snapshot = c.get(&format!("/sessions/{id}")).await;
    assert_eq!(snapshot.body["session"]["title"], "Fix the login page");
    for (body, status) in [
        (json!({"title": " ", "userId": "gina"}), 400),
        (json!({"title": "t".repeat(201), "userId": "gina"}), 400),
        (json!({"title": "ok", "userId": "stranger"}), 403),
    ] {
        assert_eq!(rename(body.clone()).await.status, status, "{body}");
    }
    let profiles = c.get(&format!("/sessions/{id}/participant-profiles")).await;
    assert_eq!(
        profiles.body,
        json!({"profiles": {"gina": {"userId": "gina", "displayName": "Gina Lane", "avatarUrl": null}}})
    );
}
