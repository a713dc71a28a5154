//! End-to-end tests of the browser WebSocket through `wrangler dev`: subscribe, replay,
//! ping, prompts over the socket, broadcast to every client, 4001 and 4008 closes.

mod common;

use common::{shared, Frame, WsClient};
use serde_json::json;

#[tokio::test]
async fn two_clients_see_the_same_broadcasts() {
    let sh = shared();
    let c = sh.worker.client();
    let id = c.create_session("alice", json!({})).await;
    // An event before anyone connects is replayed on subscribe.
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
    assert_eq!(sub["sessionId"], id.as_str());
    assert_eq!(sub["participantId"], alice_pid.as_str());
    assert_eq!(
        sub["participant"],
        json!({"participantId": alice_pid, "name": "alice"})
    );
    assert!(sub.get("spawnError").is_some(), "{sub}");
    let state = &sub["state"];
    assert_eq!(state["repoName"], "web");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["status"], "active");
    assert_eq!(state["messageCount"], 1);
    assert!(state["isProcessing"].is_boolean() && state["sandboxStatus"].is_string());
    // Replay: the raw events, oldest first, with a cursor the web echoes back.
    let replay = sub["replay"]["events"].as_array().unwrap();
    assert_eq!(replay.len(), 1);
    assert_eq!(replay[0]["type"], "user_message");
    assert_eq!(replay[0]["content"], "first");
    assert_eq!(sub["replay"]["hasMore"], false);
    assert!(
        sub["replay"]["cursor"]["id"].is_string() && sub["replay"]["cursor"]["timestamp"].is_i64()
    );
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

    // A prompt over Alice's socket: she gets prompt_queued, both get the event.
    alice
        .send(json!({"type": "prompt", "content": "over the socket", "reasoningEffort": "high"}))
        .await;
    let (mut queued, mut alice_event) = (None, None);
    while queued.is_none() || alice_event.is_none() {
        let v = alice.json().await;
        match v["type"].as_str() {
            Some("prompt_queued") => queued = Some(v),
            Some("sandbox_event") => alice_event = Some(v),
            _ => {}
        }
    }
    let (queued, alice_event) = (queued.unwrap(), alice_event.unwrap());
    assert_eq!(queued["position"], 2);
    let message_id = queued["messageId"].as_str().unwrap().to_string();
    let bob_event = bob.expect_type("sandbox_event").await;
    for ev in [alice_event, bob_event] {
        let e = &ev["event"];
        assert_eq!(e["type"], "user_message");
        assert_eq!(e["messageId"], message_id.as_str());
        assert_eq!(e["content"], "over the socket");
        assert_eq!(
            e["author"],
            json!({"participantId": alice_pid, "name": "alice"})
        );
        assert!(e["timestamp"].as_f64().unwrap() > 1.7e9, "seconds: {e}");
    }
    // An HTTP prompt reaches both sockets too, in order.
    for i in 0..3 {
        let r = c
            .post(
                &format!("/sessions/{id}/prompt"),
                &json!({"content": format!("http {i}"), "authorId": "bob"}),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    for client in [&mut alice, &mut bob] {
        for i in 0..3 {
            let ev = client.expect_type("sandbox_event").await;
            assert_eq!(ev["event"]["content"], format!("http {i}"));
        }
    }
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    assert_eq!(msgs.body["messages"].as_array().unwrap().len(), 5);
    assert_eq!(msgs.body["messages"][3]["authorId"], "alice");

    // History paging over the socket.
    bob.send(json!({"type": "fetch_history", "limit": 2})).await;
    let page = bob.expect_type("history_page").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][1]["content"], "http 2");
    assert_eq!(page["hasMore"], true);
    let cursor = page["cursor"].clone();
    assert!(cursor.is_object(), "{cursor}");
    // The web sends the cursor back as it got it.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    bob.send(json!({"type": "fetch_history", "cursor": cursor, "limit": 10}))
        .await;
    let page = bob.expect_type("history_page").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert_eq!(page["items"][0]["content"], "first");
    assert_eq!(page["hasMore"], false);
    // Too soon after the last page, and a cursor that names nothing.
    bob.send(json!({"type": "fetch_history"})).await;
    assert_eq!(bob.expect_type("error").await["code"], "RATE_LIMITED");
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    bob.send(json!({"type": "fetch_history", "cursor": {"timestamp": 1, "id": "nope"}}))
        .await;
    assert_eq!(bob.expect_type("error").await["code"], "INVALID_CURSOR");

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
