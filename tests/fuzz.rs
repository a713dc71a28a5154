//! Fuzzing through `wrangler dev`: over a thousand generated malformed requests and frames
//! (bad JSON, wrong types, huge and negative numbers, unicode, deep nesting, missing fields,
//! wrong methods, random paths, random frames on both socket kinds). None may be answered
//! with a 5xx, nothing may panic in the worker, and the session works afterwards.

mod common;

use std::time::Duration;

use common::sandbox::*;
use common::{now_ms, service_token_at, shared, unique, WsClient};
use futures::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn string(&mut self) -> String {
        match self.below(8) {
            0 => String::new(),
            1 => "x".repeat(self.below(70_000)),
            2 => "😀🚀 ünïcödé \u{0}\u{202e} \"quoted\" \\ back".into(),
            3 => "../../etc/passwd".into(),
            4 => "main..x~^:?*[".into(),
            5 => "\u{feff}".repeat(self.below(50)),
            _ => format!("s{}", self.next()),
        }
    }

    /// A JSON value of any type, sometimes deeply nested.
    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth > 3 { 6 } else { 9 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(*self.pick(&[
                0i64,
                -1,
                i64::MAX,
                i64::MIN,
                9_007_199_254_740_993,
                -9_007_199_254_740_993,
            ])),
            3 => json!(*self.pick(&[1e308, -1e308, 0.5, 1733000000.1234567])),
            4 | 5 => json!(self.string()),
            6 => {
                let n = self.below(4);
                Value::Array((0..n).map(|_| self.value(depth + 1)).collect())
            }
            7 => {
                let keys = [
                    "repoOwner",
                    "repoName",
                    "userId",
                    "content",
                    "authorId",
                    "title",
                    "body",
                    "headBranch",
                    "baseBranch",
                    "scmToken",
                    "scmTokenExpiresAt",
                    "type",
                    "token",
                    "cursor",
                    "limit",
                    "messageId",
                    "ackId",
                    "enabledModels",
                    "model",
                ];
                let mut m = serde_json::Map::new();
                for _ in 0..self.below(6) {
                    let k = self.pick(&keys).to_string();
                    m.insert(k, self.value(depth + 1));
                }
                Value::Object(m)
            }
            _ => {
                // Deep nesting, past serde_json's recursion limit.
                let mut v = json!(1);
                for _ in 0..(100 + self.below(200)) {
                    v = json!([v]);
                }
                v
            }
        }
    }

    /// A request body: JSON of any shape, or bytes that are not JSON at all.
    fn body(&mut self) -> Vec<u8> {
        match self.below(6) {
            0 => b"{\"repoOwner\": ".to_vec(),
            1 => vec![0xff, 0xfe, 0x00, b'{'],
            2 => Vec::new(),
            _ => self.value(0).to_string().into_bytes(),
        }
    }
}

#[tokio::test]
async fn generated_malformed_input_never_breaks_the_worker() {
    let sh = shared();
    let c = sh.worker.client();
    mount_provider_ok(&sh.fake).await;
    let user = unique("fuzz-user");
    let id = c.create_session(&user, json!({})).await;
    let mut g = Gen(0x5eed_1234_abcd_0042);
    let mut five_hundreds = Vec::new();
    let mut sent = 0;

    // HTTP: random methods, paths and bodies, with and without the service token.
    let paths = [
        "/sessions".to_string(),
        format!("/sessions/{id}"),
        format!("/sessions/{id}/prompt"),
        format!("/sessions/{id}/pr"),
        format!("/sessions/{id}/participants"),
        format!("/sessions/{id}/ws-token"),
        format!("/sessions/{id}/archive"),
        format!("/sessions/{id}/events?limit=-5&cursor=abc&type=%00"),
        format!("/sessions/{id}/messages?limit=99999999999999999999&status=x"),
        format!("/sessions/{id}/scm-credentials"),
        "/sessions?limit=-1&offset=-3&status=%F0%9F%98%80".to_string(),
        "/repos/..%2F..%2Fx/y/branches".to_string(),
        "/model-preferences".to_string(),
        format!("/sessions/{}", "f".repeat(64)),
        "/sessions/not-an-id/stop".to_string(),
        "/%00/%ff".to_string(),
    ];
    let methods = [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ];
    for i in 0..900 {
        let path = if i % 10 == 9 {
            let segment: String = g.string().replace('/', "").chars().take(200).collect();
            format!("/{segment}/{}", g.next())
        } else {
            g.pick(&paths).clone()
        };
        let method = g.pick(&methods).clone();
        // Deletes would end the session the rest of the run uses.
        if method == reqwest::Method::DELETE && path.contains(&id) {
            continue;
        }
        let mut req = c
            .http
            .request(method.clone(), c.url(&path))
            .header("content-type", "application/json")
            .body(g.body());
        if g.below(5) != 0 {
            req = req.bearer_auth(service_token_at(now_ms()));
        }
        if g.below(3) == 0 {
            let token: String = g
                .string()
                .chars()
                .filter(char::is_ascii_graphic)
                .take(100)
                .collect();
            req = req.header("x-user-token", format!("t{token}"));
        }
        let resp = req.send().await.expect("an answer");
        sent += 1;
        if resp.status().as_u16() >= 500 {
            five_hundreds.push(format!("{method} {path} → {}", resp.status()));
        }
    }

    // The browser socket: garbage (text and binary) before subscribing, on sockets that may
    // be closed by it (a bad subscribe is a 4001), then frames of every type after.
    let (token, _) = c.ws_token(&id, &user).await;
    let url = format!("ws://127.0.0.1:{}/sessions/{id}/ws", sh.worker.port);
    for _ in 0..6 {
        let (mut raw, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect");
        for _ in 0..10 {
            let frame = if g.below(5) == 0 {
                Message::binary(g.body())
            } else {
                Message::text(g.value(0).to_string())
            };
            let _ = raw.send(frame).await;
            sent += 1;
        }
    }
    let (mut web, _) = WsClient::subscribed(&sh.worker, &id, &token).await;
    let kinds = [
        "prompt",
        "fetch_history",
        "presence",
        "typing",
        "stop",
        "ping",
        "nope",
    ];
    for _ in 0..150 {
        let mut frame = g.value(1);
        if let Value::Object(m) = &mut frame {
            m.insert("type".into(), json!(g.pick(&kinds)));
        }
        web.send(frame).await;
        sent += 1;
    }

    // The sandbox socket: a real sandbox (of a session whose owner can clone) sending garbage.
    let sid = c
        .create_session(
            &user,
            json!({"scmToken": unique("AT-fuzz"), "scmTokenExpiresAt": now_ms() + 3_600_000}),
        )
        .await;
    let (mut sandbox, _) = start_working(&sh.worker, &sh.fake, &sid, &user).await;
    let event_types = [
        "token",
        "tool_call",
        "execution_complete",
        "push_complete",
        "push_error",
        "error",
        "snapshot_ready",
        "session_title",
        "heartbeat",
        "user_message",
        "",
        "x".repeat(100).leak(),
    ];
    for _ in 0..120 {
        let mut frame = g.value(1);
        if let Value::Object(m) = &mut frame {
            m.insert("type".into(), json!(g.pick(&event_types)));
        }
        sandbox.send(frame).await;
        sent += 1;
    }
    sandbox.send_text("not json at all").await;
    sent += 1;
    tokio::time::sleep(Duration::from_millis(500)).await;

    println!(
        "fuzz: {sent} requests and frames sent, {} answered 5xx",
        five_hundreds.len()
    );
    assert!(sent >= 1000, "{sent}");
    assert!(five_hundreds.is_empty(), "{five_hundreds:?}");
    // The session still works: a prompt is queued and the state reads.
    web.send(json!({"type": "ping"})).await;
    assert_eq!(web.expect_type("pong").await["type"], "pong");
    let r = c
        .post(
            &format!("/sessions/{id}/prompt"),
            &json!({"content": "still fine?", "authorId": user}),
        )
        .await;
    // Queued, or refused by a limit the fuzzing reached (10 waiting, 10 a minute each).
    assert!(
        r.status == 200 || r.code() == "PROMPT_QUEUE_FULL" || r.code() == "rate_limited",
        "{}",
        r.body
    );
    assert_eq!(c.get(&format!("/sessions/{id}")).await.status, 200);
    assert_eq!(c.get(&format!("/sessions/{sid}/events")).await.status, 200);
    // Nothing panicked in the worker.
    let log = std::fs::read_to_string(&sh.worker.log).unwrap_or_default();
    assert!(!log.contains("panicked"), "the worker panicked");
    assert!(
        !log.contains("RuntimeError: unreachable"),
        "the wasm trapped"
    );
}
