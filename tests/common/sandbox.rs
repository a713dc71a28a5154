//! A fake sandbox provider (wiremock) and a fake sandbox (a real WebSocket client speaking
//! the sandbox side of the protocol).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Socket, Worker};

/// The provider accepts every spawn (its id for the sandbox is `prov-<our sandbox id>`) and
/// every stop.
pub async fn mount_provider_ok(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/sandbox/sandboxes"))
        .respond_with(|req: &wiremock::Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
            let id = format!("prov-{}", body["sandbox_id"].as_str().unwrap_or("?"));
            ResponseTemplate::new(200)
                .set_body_json(json!({"success": true, "data": {"sandbox_id": id}}))
        })
        .mount(server)
        .await;
    Mock::given(method("DELETE"))
        .and(wiremock::matchers::path_regex("^/sandbox/sandboxes/[^/]+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(server)
        .await;
}

/// Whether the provider was asked to stop the sandbox of this spawn request body, within
/// `secs`.
pub async fn stopped_at_provider(server: &MockServer, spawn: &Value, secs: u64) -> bool {
    let want = format!(
        "/sandbox/sandboxes/prov-{}",
        spawn["sandbox_id"].as_str().unwrap_or("?")
    );
    for _ in 0..secs * 10 {
        let seen = server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .any(|r| r.method.as_str() == "DELETE" && r.url.path() == want);
        if seen {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The provider refuses spawns for `session` with an HTTP 200 and `success: false`.
pub async fn mount_provider_refusal(server: &MockServer, session: &str, reason: &str) {
    Mock::given(method("POST"))
        .and(path("/sandbox/sandboxes"))
        .and(body_string_contains(session))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": false, "error": reason})),
        )
        .with_priority(1)
        .mount(server)
        .await;
}

/// The spawn requests made for `session`, oldest first: (authorization header, body).
pub async fn spawn_requests(server: &MockServer, session: &str) -> Vec<(String, Value)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == "/sandbox/sandboxes")
        .filter_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).ok()?;
            (body["session_id"] == session).then(|| {
                let auth = r
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                (auth, body)
            })
        })
        .collect()
}

/// Waits until `session` has had `n` spawn requests; answers the last one.
pub async fn wait_for_spawns(
    server: &MockServer,
    session: &str,
    n: usize,
    secs: u64,
) -> (String, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let reqs = spawn_requests(server, session).await;
        if reqs.len() >= n {
            return reqs[n - 1].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} spawn requests for {session}",
            reqs.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub struct FakeSandbox {
    pub socket: Socket,
}

impl FakeSandbox {
    /// Connects as sandbox `sandbox_id` with `token`; on refusal answers the HTTP status.
    pub async fn connect(
        worker: &Worker,
        session: &str,
        sandbox_id: &str,
        token: &str,
    ) -> Result<FakeSandbox, u16> {
        let url = format!(
            "ws://127.0.0.1:{}/sessions/{session}/ws?type=sandbox",
            worker.port
        );
        let mut req = url.into_client_request().expect("request");
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        req.headers_mut()
            .insert("x-sandbox-id", sandbox_id.parse().expect("header"));
        let connect = tokio_tungstenite::connect_async(req);
        match tokio::time::timeout(super::REQUEST_TIMEOUT, connect)
            .await
            .expect("sandbox connect timed out")
        {
            Ok((socket, _)) => Ok(FakeSandbox { socket }),
            Err(WsError::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("sandbox connect failed: {e}"),
        }
    }

    /// Connects with the credentials of a spawn request body.
    pub async fn from_spawn(worker: &Worker, spawn: &Value) -> FakeSandbox {
        let session = spawn["session_id"].as_str().expect("session_id");
        let id = spawn["sandbox_id"].as_str().expect("sandbox_id");
        let token = spawn["sandbox_auth_token"]
            .as_str()
            .expect("sandbox_auth_token");
        FakeSandbox::connect(worker, session, id, token)
            .await
            .expect("sandbox connects")
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    /// Sends a frame exactly as written (numbers as the text gives them).
    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::text(text.to_string()))
            .await
            .expect("sandbox send");
    }

    /// The next JSON frame within `secs`, or `None` once the socket is closed.
    pub async fn next(&mut self, secs: u64) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("timed out waiting for a frame to the sandbox");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Some(serde_json::from_str(&t).expect("JSON frame"))
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next JSON frame within `wait`, else `None` (nothing came, or the socket closed).
    pub async fn poll(&mut self, wait: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(wait, self.socket.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                _ => return None,
            }
        }
    }

    /// Waits for a frame of type `t` (others skipped).
    pub async fn expect_type(&mut self, t: &str) -> Value {
        loop {
            match self.next(20).await {
                Some(v) if v["type"] == t => return v,
                Some(_) => continue,
                None => panic!("sandbox socket closed while waiting for {t}"),
            }
        }
    }

    /// Receives the `push` command and reports it done (`push_complete` for its branch);
    /// answers the command.
    pub async fn complete_push(&mut self) -> Value {
        let push = self.expect_type("push").await;
        let branch = push["pushSpec"]["targetBranch"].clone();
        self.send(json!({"type": "push_complete", "branchName": branch}))
            .await;
        push
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// Prompts `session` as `user`, then plays the sandbox the provider was asked for: it
/// connects, says `ready` and receives the prompt. Answers it and the spawn request.
pub async fn start_working(
    worker: &Worker,
    fake: &MockServer,
    session: &str,
    user: &str,
) -> (FakeSandbox, Value) {
    mount_provider_ok(fake).await;
    let r = worker
        .client()
        .post(
            &format!("/sessions/{session}/prompt"),
            &json!({"content": "work", "authorId": user}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, spawn) = wait_for_spawns(fake, session, 1, 30).await;
    let mut sandbox = FakeSandbox::from_spawn(worker, &spawn).await;
    sandbox.send(json!({"type": "ready"})).await;
    sandbox.expect_type("prompt").await;
    (sandbox, spawn)
}
