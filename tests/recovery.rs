//! After a panic the worker and its Durable Objects answer again, end to end through
//! `wrangler dev`: src/entry.js resets the broken wasm instance and builds each object again
//! on the new one. A panic is unreachable from any input, so this binary runs a build with the
//! `panic-probe` feature (its own routes that panic; never a deploy build) in build/probe.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{log_tail, repo_root, temp_dir, test_vars, Client, Worker};
use serde_json::json;

/// Builds the probe variant (unless `CP_PREBUILT=1` says scripts/test.sh did) and writes its
/// wrangler configuration beside it: the repository's, with the probe bundle as `main`.
fn probe_config() -> std::path::PathBuf {
    let root = repo_root();
    let out = root.join("build/probe");
    if std::env::var("CP_PREBUILT").as_deref() != Ok("1") {
        let status = Command::new("bash")
            .arg("scripts/build.sh")
            .current_dir(&root)
            .env("CP_FEATURES", "panic-probe")
            .env("CP_OUT", &out)
            .status()
            .expect("run scripts/build.sh");
        assert!(status.success(), "probe build failed");
    }
    assert!(
        out.join("index.js").exists(),
        "no probe build in {}",
        out.display()
    );
    let config = std::fs::read_to_string(root.join("wrangler.toml")).expect("wrangler.toml");
    assert!(
        config.contains("main = \"build/index.js\""),
        "wrangler.toml's main moved"
    );
    // Built already: no build command.
    let config = config
        .replace("main = \"build/index.js\"", "main = \"index.js\"")
        .replace("command = \"bash scripts/build.sh\"", "");
    let path = out.join("wrangler.toml");
    std::fs::write(&path, config).expect("probe config");
    path
}

/// A probe route: the request that met the panic is answered with a 500 at once (the panic
/// surfaces as an exception of the call into wasm), not left waiting.
async fn probe(c: &Client, path: &str) {
    let req = c.http.get(c.url(path)).timeout(Duration::from_secs(5));
    let resp = req.send().await;
    let status = resp.map(|r| r.status().as_u16());
    assert!(matches!(status, Ok(500)), "{path}: {status:?}");
}

#[tokio::test]
async fn worker_and_objects_answer_again_after_a_panic() {
    let dir = temp_dir("recovery");
    let state = dir.join("state");
    Worker::migrate(&state);
    let worker = Worker::launch(
        Some(&probe_config()),
        &state,
        &test_vars("http://127.0.0.1:9"),
        Some(&dir),
    );
    let c = worker.client();
    let id = c.create_session("u1", json!({})).await;
    let session = format!("/sessions/{id}");
    // The session's object is built on the first instance.
    assert_eq!(c.get(&session).await.status, 200);

    for (panic, what) in [
        ("/__probe/panic", "a panic in the worker"),
        ("/__probe/panic-later", "a panic after an await"),
        (
            &format!("/__probe/session/{id}") as &str,
            "a panic in the object",
        ),
        (
            &format!("/__probe/session-later/{id}") as &str,
            "a panic in the object after an await (its caller is answered, not left waiting)",
        ),
    ] {
        probe(&c, panic).await;
        assert_eq!(c.get("/health").await.status, 200, "after {what}");
        // The object built on the old instance is built again on the new one.
        let again = c.get(&session).await;
        assert_eq!(again.status, 200, "after {what}: {}", again.body);
        assert_eq!(again.body["session"]["id"], id.as_str(), "after {what}");
    }
    // The reset says so in the log (written by wrangler a little later than it happens).
    let resets = || {
        std::fs::read_to_string(&worker.log)
            .unwrap_or_default()
            .matches("Reinitializing Wasm application")
            .count()
    };
    for _ in 0..100 {
        if resets() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        resets() >= 3,
        "the instance was not reset after each panic:\n{}",
        log_tail(&worker.log, 400)
    );
    worker.stop();
}
