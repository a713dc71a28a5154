//! Benchmark: starts the worker in `wrangler dev` (real workerd) and prints the wasm size
//! (raw and gzipped) and the latency of our routes next to a do-nothing JavaScript worker
//! on the same runtime, so our own overhead shows as a ratio. Run with `npm run bench`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{repo_root, start_fake, temp_dir, test_vars, Worker};
use serde_json::json;

const WARMUP: usize = 200;
const REQUESTS: usize = 3000;

struct Figures {
    median: Duration,
    p99: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn measure(req: impl Fn() -> reqwest::RequestBuilder) -> Figures {
    for _ in 0..WARMUP {
        let r = req().send().await.expect("warm-up request");
        assert!(r.status().is_success(), "status {}", r.status());
        let _ = r.bytes().await;
    }
    let mut times = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let start = Instant::now();
        let r = req().send().await.expect("request");
        let _ = r.bytes().await;
        times.push(start.elapsed());
    }
    times.sort();
    Figures {
        median: percentile(&times, 0.5),
        p99: percentile(&times, 0.99),
    }
}

fn gzip_len(bytes: &[u8]) -> usize {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip").len()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Upstream calls and wall time of a cold and a warm `GET /repos` of 1,000 repositories
/// in 3 workspaces.
async fn repos_figures(fake: &wiremock::MockServer, c: &common::Client) {
    use common::bitbucket::{calls_with, mount_repos, mount_workspaces};
    let token = format!("AT-bench-{}", common::now_ms());
    mount_workspaces(fake, &token, &["bench-a", "bench-b", "bench-c"]).await;
    for (ws, n) in [("bench-a", 400), ("bench-b", 300), ("bench-c", 300)] {
        mount_repos(fake, &token, ws, n).await;
    }
    for label in ["cold", "warm"] {
        let before = calls_with(fake, &token).await.len();
        let start = Instant::now();
        let r = c
            .send(
                c.http
                    .get(c.url("/repos"))
                    .bearer_auth(common::service_token_at(common::now_ms()))
                    .header("x-user-token", &token),
            )
            .await;
        let wall = start.elapsed();
        assert_eq!(r.status, 200, "{}", r.body);
        let count = r.body["repos"].as_array().map_or(0, Vec::len);
        let calls = calls_with(fake, &token).await.len() - before;
        println!(
            "GET /repos {label}: {count} repos, {calls} upstream calls, {:.1} ms wall",
            ms(wall)
        );
    }
}

/// Events per second from one sandbox to 10 subscribed clients over 10,000 events, and
/// how many each client received.
async fn fanout_figures(worker: &Worker, fake: &wiremock::MockServer, c: &common::Client) {
    use common::sandbox::start_working;
    use common::WsClient;
    const EVENTS: usize = 10_000;
    const CLIENTS: usize = 10;
    let user = "fanout-user";
    let id = c
        .create_session(
            user,
            json!({"scmToken": "AT-fanout", "scmTokenExpiresAt": common::now_ms() + 3_600_000,
                   "scmName": "F", "scmEmail": "f@example.com"}),
        )
        .await;
    let mut readers = Vec::new();
    for i in 0..CLIENTS {
        let (token, _) = c.ws_token(&id, &format!("viewer-{i}")).await;
        let (mut ws, _) = WsClient::subscribed(worker, &id, &token).await;
        readers.push(tokio::spawn(async move {
            let mut got = 0usize;
            while got < EVENTS {
                let v = ws.json().await;
                if v["type"] == "sandbox_event" && v["event"]["type"] == "tool_call" {
                    got += 1;
                }
            }
            (got, Instant::now())
        }));
    }
    let (mut sb, _) = start_working(worker, fake, &id, user).await;
    let start = Instant::now();
    for i in 0..EVENTS {
        sb.send(json!({"type": "tool_call", "tool": "bash", "n": i}))
            .await;
        if i % 1000 == 0 {
            sb.send(json!({"type": "heartbeat"})).await;
        }
    }
    let sent = start.elapsed();
    let mut counts = Vec::new();
    let mut last = start;
    for r in readers {
        let (got, at) = r.await.expect("reader");
        counts.push(got);
        last = last.max(at);
    }
    let secs = (last - start).as_secs_f64();
    println!(
        "sandbox → {CLIENTS} clients: {EVENTS} events in {secs:.2} s = {:.0} events/s (the sandbox had sent them all after {:.2} s); received per client: {counts:?}",
        EVENTS as f64 / secs,
        sent.as_secs_f64()
    );
    sb.close().await;
}

/// One pull request: upstream calls and the control plane's own added latency (the wall
/// time minus the time the fake sandbox took between receiving `push` and answering).
async fn pr_figures(worker: &Worker, fake: &wiremock::MockServer, c: &common::Client) {
    use common::bitbucket::fixture;
    use common::sandbox::start_working;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let user = "pr-bench-user";
    let token = format!("AT-pr-bench-{}", common::now_ms());
    let id = c
        .create_session(
            user,
            json!({"repoName": "bench-repo", "scmToken": token, "scmTokenExpiresAt": common::now_ms() + 3_600_000,
                   "scmName": "B", "scmEmail": "b@example.com"}),
        )
        .await;
    let repo = fixture("repo.json");
    Mock::given(method("GET"))
        .and(path("/2.0/repositories/acme/bench-repo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(repo))
        .mount(fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/2.0/repositories/acme/bench-repo/pullrequests"))
        .respond_with(ResponseTemplate::new(201).set_body_json(fixture("pr.json")))
        .mount(fake)
        .await;
    let (mut sb, _) = start_working(worker, fake, &id, user).await;
    let before = common::bitbucket::calls_with(fake, &token).await.len();
    let c2 = c.clone();
    let start = Instant::now();
    let pending = tokio::spawn(async move {
        c2.post(
            &format!("/sessions/{id}/pr"),
            &json!({"title": "Bench", "body": "b"}),
        )
        .await
    });
    let push = sb.expect_type("push").await;
    let sandbox_start = Instant::now();
    let branch = push["pushSpec"]["targetBranch"].clone();
    sb.send(json!({"type": "push_complete", "branchName": branch}))
        .await;
    let sandbox_time = sandbox_start.elapsed();
    let r = pending.await.expect("pr");
    let wall = start.elapsed();
    assert_eq!(r.status, 200, "{}", r.body);
    let calls = common::bitbucket::calls_with(fake, &token).await.len() - before;
    println!(
        "one PR: {calls} Bitbucket calls (+1 push command to the sandbox), {:.1} ms wall, {:.1} ms of it outside the sandbox (control plane plus loopback calls to the fake Bitbucket)",
        ms(wall),
        ms(wall.saturating_sub(sandbox_time))
    );
    sb.close().await;
}

fn main() {
    let fake = start_fake();
    let root = temp_dir("bench");
    let worker = Worker::start_with(&root.join("state"), &test_vars(&fake.uri()), Some(&root));
    let baseline = Worker::launch(
        Some(&repo_root().join("bench/baseline/wrangler.toml")),
        &root.join("baseline"),
        &[],
        None,
    );

    let wasm = std::fs::read(repo_root().join("build/index_bg.wasm")).expect("built wasm");
    println!(
        "wasm size: {} bytes raw, {} bytes gzipped",
        wasm.len(),
        gzip_len(&wasm)
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let c = worker.client();
        let id = c.create_session("bench-user", json!({})).await;
        let http = reqwest::Client::new();
        let token = || common::service_token_at(common::now_ms());
        let rows: Vec<(&str, Figures)> = vec![
            (
                "baseline JS worker GET /health",
                measure(|| http.get(format!("{}/health", baseline.base))).await,
            ),
            (
                "GET /health",
                measure(|| http.get(format!("{}/health", worker.base))).await,
            ),
            (
                "GET /sessions/{id} (auth + Durable Object + SQLite)",
                measure(|| {
                    http.get(format!("{}/sessions/{id}", worker.base))
                        .bearer_auth(token())
                })
                .await,
            ),
        ];
        repos_figures(&fake, &c).await;
        fanout_figures(&worker, &fake, &c).await;
        pr_figures(&worker, &fake, &c).await;
        let floor = ms(rows[0].1.median);
        println!("latency over {REQUESTS} sequential requests (after {WARMUP} warm-up):");
        for (name, f) in &rows {
            println!(
                "  {name:<55} median {:>7.3} ms  p99 {:>7.3} ms  ({:.2}x baseline median)",
                ms(f.median),
                ms(f.p99),
                ms(f.median) / floor
            );
        }
    });
    worker.stop();
    baseline.stop();
}
