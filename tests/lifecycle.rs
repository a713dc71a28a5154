//! End-to-end tests that need their own `wrangler dev`: a restart on the same persistence
//! keeps sessions and messages, stored tokens are not on disk in plaintext, and a worker
//! without its secrets fails closed.

mod common;

use std::path::Path;

use common::{start_fake, temp_dir, test_vars, Worker};
use serde_json::json;

/// Every file under `dir`, read as bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn restart_keeps_sessions_and_tokens_never_reach_disk_in_plaintext() {
    let fake = start_fake();
    let root = temp_dir("restart");
    let state = root.join("state");
    let vars = test_vars(&fake.uri());
    let access = format!("PLAINTEXT-ACCESS-{}", "a".repeat(2600));
    let refresh = "PLAINTEXT-REFRESH-TOKEN-xyz";

    let worker = Worker::start(&state, &vars);
    let c = worker.client();
    let id = c
        .create_session(
            "restart-user",
            json!({"repoName": "persisted-repo-name", "scmToken": access, "scmRefreshToken": refresh,
                   "scmTokenExpiresAt": 1900000000000i64}),
        )
        .await;
    let (_, pid) = c.ws_token(&id, "restart-user").await;
    for i in 0..3 {
        let r = c
            .post(
                &format!("/sessions/{id}/prompt"),
                &json!({"content": format!("kept {i}"), "authorId": "restart-user"}),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    worker.stop();

    // The session's data is on disk, its tokens are not (in any file, WAL included).
    let all = files(&state);
    // Prompts live only in the session object's SQLite: finding them proves the scan
    // covers the Durable Object's storage.
    assert!(
        all.iter().any(|(_, b)| contains(b, b"kept 1")),
        "the session's storage was not found under {}",
        state.display()
    );
    for (path, bytes) in &all {
        assert!(
            !contains(bytes, access.as_bytes()),
            "access token in {}",
            path.display()
        );
        assert!(
            !contains(bytes, b"PLAINTEXT-ACCESS"),
            "access token in {}",
            path.display()
        );
        assert!(
            !contains(bytes, refresh.as_bytes()),
            "refresh token in {}",
            path.display()
        );
    }
    let log = std::fs::read_to_string(&worker.log).expect("worker log");
    assert!(log.contains("Ready on"), "not the worker's log");
    assert!(!log.contains("PLAINTEXT-"), "a token reached the log");

    // Same persistence, new process: everything is still there.
    let worker = Worker::start_with(&state, &vars, Some(&root));
    let c = worker.client();
    let s = c.get(&format!("/sessions/{id}")).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["repoName"], "persisted-repo-name");
    let msgs = c.get(&format!("/sessions/{id}/messages")).await;
    let contents: Vec<&str> = msgs.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, vec!["kept 2", "kept 1", "kept 0"]);
    let ps = c.get(&format!("/sessions/{id}/participants")).await;
    assert_eq!(ps.body["participants"][0]["id"], pid.as_str());
    assert_eq!(ps.body["participants"][0]["hasScmToken"], true);
    let list = c.get("/sessions").await;
    assert!(list.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == id.as_str()));
    worker.stop();
}

#[tokio::test]
async fn missing_secrets_fail_closed() {
    let fake = start_fake();
    let root = temp_dir("nosecret");
    let vars: Vec<_> = test_vars(&fake.uri())
        .into_iter()
        .filter(|(k, _)| *k != "INTERNAL_CALLBACK_SECRET" && *k != "TOKEN_ENCRYPTION_KEY")
        .collect();
    let worker = Worker::start_with(&root.join("state"), &vars, Some(&root));
    let c = worker.client();
    let r = c.send(c.http.get(c.url("/health"))).await;
    assert_eq!(r.status, 200);
    let r = c.get("/sessions").await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(r.code(), "server_misconfigured");
    // An unknown route is decided before auth, so it is 404 even then.
    assert_eq!(c.get("/no-such-route").await.status, 404);
    let r = c.send(c.http.get(c.url("/sessions"))).await;
    assert_eq!(r.status, 500, "no token either: still closed");
    worker.stop();
}
