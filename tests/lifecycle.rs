//! End-to-end tests that need their own `wrangler dev`: a restart on the same persistence
//! keeps sessions and messages, stored tokens are not on disk in plaintext (and are sealed
//! as standard AES-256-GCM, readable both ways across versions), and a worker without its
//! secrets fails closed.

mod common;

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::bitbucket::{mount_repos, mount_workspaces};
use common::{start_fake, temp_dir, test_vars, unique, Client, Reply, Worker};
use serde_json::{json, Value};

/// The vault's cipher under the tests' `TOKEN_ENCRYPTION_KEY`, built here independently of
/// the worker's `auth::vault` (same crate, aes-gcm, but none of the worker's code).
fn cipher() -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&[7u8; 32]))
}

/// `GET /repos` at Bitbucket as `user`, with their stored credentials.
async fn bitbucket_repos(c: &Client, user: &str) -> Reply {
    c.get_with(
        "/repos",
        &[("x-vcs-provider", "bitbucket"), ("x-user-id", user)],
    )
    .await
}

/// Opens a stored `base64(iv || ciphertext || tag)` value.
fn open_stored(stored: &Value) -> String {
    let raw = B64
        .decode(stored.as_str().expect("a stored token"))
        .expect("base64");
    let (iv, sealed) = raw.split_at(12);
    let plain = cipher()
        .decrypt(Nonce::from_slice(iv), sealed)
        .expect("a standard AES-256-GCM value");
    String::from_utf8(plain).expect("UTF-8")
}

/// Seals `token` as the previous version of the vault stored it.
fn seal_stored(token: &str) -> String {
    let iv = [5u8; 12];
    let sealed = cipher()
        .encrypt(Nonce::from_slice(&iv), token.as_bytes())
        .expect("seal");
    B64.encode([iv.as_slice(), &sealed].concat())
}

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

/// Every value in `bytes` that opens with the vault's key: each run of base64 characters
/// long enough to hold a sealed value, tried at every offset a stored value could start.
fn sealed_values_in(bytes: &[u8]) -> Vec<String> {
    let is_b64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    let mut found = Vec::new();
    for run in bytes.split(|b| !is_b64(b)).filter(|r| r.len() >= 40) {
        for start in 0..run.len().saturating_sub(40) {
            let Ok(raw) = B64.decode(&run[start..]) else {
                continue;
            };
            let (iv, sealed) = raw.split_at(12);
            if let Ok(plain) = cipher().decrypt(Nonce::from_slice(iv), sealed) {
                found.push(String::from_utf8_lossy(&plain).into_owned());
            }
        }
    }
    found
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
    // A second user whose stored token will be tampered with.
    c.create_session(
        "tampered-user",
        json!({"scmToken": "AT-tampered", "scmRefreshToken": "RT-tampered",
               "scmTokenExpiresAt": 1900000000000i64}),
    )
    .await;
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
    // Sealed, they live only in the user's credentials (D1): no session object keeps a copy.
    let objects: Vec<_> = all
        .iter()
        .filter(|(p, _)| p.to_string_lossy().contains("/do/"))
        .collect();
    assert!(
        objects.iter().any(|(_, b)| contains(b, b"kept 1")),
        "the session object's files were not found"
    );
    for (path, bytes) in objects {
        let opened = sealed_values_in(bytes);
        assert!(
            !opened.iter().any(|t| *t == access || t == refresh),
            "a sealed token in the session object's {}",
            path.display()
        );
    }
    let log = std::fs::read_to_string(&worker.log).expect("worker log");
    assert!(log.contains("Ready on"), "not the worker's log");
    assert!(!log.contains("PLAINTEXT-"), "a token reached the log");

    // The user's stored credentials are standard AES-256-GCM in the vault's format: what the
    // worker sealed opens here...
    let stored = Worker::d1(
        &state,
        "SELECT user_id, access_token_encrypted, refresh_token_encrypted FROM user_scm_tokens",
    );
    let row = |user: &str| {
        stored
            .iter()
            .find(|r| r["user_id"] == user)
            .unwrap_or_else(|| panic!("no stored credentials for {user}: {stored:?}"))
            .clone()
    };
    let mine = row("restart-user");
    assert_eq!(open_stored(&mine["access_token_encrypted"]), access);
    assert_eq!(open_stored(&mine["refresh_token_encrypted"]), refresh);
    // ...and what is sealed here opens in the worker, below (values stored by earlier
    // versions, WebCrypto's included, have this format). A changed value is refused.
    let legacy = unique("LEGACY-ACCESS");
    let mut tampered = B64
        .decode(
            row("tampered-user")["access_token_encrypted"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    tampered[14] ^= 1;
    for (user, value) in [
        ("restart-user", seal_stored(&legacy)),
        ("tampered-user", B64.encode(&tampered)),
    ] {
        Worker::d1(
            &state,
            &format!(
                "UPDATE user_scm_tokens SET access_token_encrypted = '{value}' \
                 WHERE user_id = '{user}'"
            ),
        );
    }

    // Same persistence, new process: everything is still there.
    let worker = Worker::start_with(&state, &vars, Some(&root));
    let c = worker.client();
    let s = c.get(&format!("/sessions/{id}")).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["session"]["repoName"], "persisted-repo-name");
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

    mount_workspaces(&fake, &legacy, &["ws-legacy"]).await;
    mount_repos(&fake, &legacy, "ws-legacy", 2).await;
    let r = bitbucket_repos(&c, "restart-user").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["repos"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.body
    );
    let r = bitbucket_repos(&c, "tampered-user").await;
    assert_eq!((r.status, r.code()), (401, "reauth_required"), "{}", r.body);
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
    // Without the shared bearer, a bearer on a route a sandbox may call is the sandbox's
    // token, for the session to check (here it knows none): not a misconfiguration.
    let id = "ab".repeat(32);
    for (method, path) in [
        (reqwest::Method::POST, format!("/sessions/{id}/pr")),
        (reqwest::Method::GET, format!("/sessions/{id}/children")),
    ] {
        let req = c
            .http
            .request(method, c.url(&path))
            .bearer_auth("a-sandbox-token")
            .header("content-type", "application/json")
            .body("{}");
        let r = c.send(req).await;
        assert_eq!(r.status, 401, "{path}: {}", r.body);
    }
    worker.stop();
}
