//! End-to-end harness: builds the worker once, runs `wrangler dev` (real workerd) on a free
//! port with local persistence in a temp dir and test secrets, points the upstream URLs at
//! fakes on 127.0.0.1, and stops everything it started when the test binary ends.
#![allow(dead_code)]

pub mod bitbucket;
pub mod git;
pub mod github;
pub mod openapi;
pub mod sandbox;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use wiremock::MockServer;

pub const SECRET: &str = "test-internal-callback-secret";

/// The `sig1` secrets of the services that sign in tests (`SERVICE_AUTH_SECRET_*`); the Linear
/// bot has none, so its calls are refused as a misconfiguration.
pub const SERVICE_SECRETS: &[(&str, &str, &str)] = &[
    ("web", "SERVICE_AUTH_SECRET_WEB", "test-web-service-secret"),
    (
        "slack-bot",
        "SERVICE_AUTH_SECRET_SLACK_BOT",
        "test-slack-service-secret",
    ),
    (
        "github-bot",
        "SERVICE_AUTH_SECRET_GITHUB_BOT",
        "test-github-service-secret",
    ),
];

pub fn token_key() -> String {
    base64::engine::general_purpose::STANDARD.encode([7u8; 32])
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A recorded answer of a provider's API, in `tests/fixtures/{provider}/{name}`.
pub fn fixture(provider: &str, name: &str) -> serde_json::Value {
    let p = repo_root().join("tests/fixtures").join(provider).join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Builds the worker once per test binary unless `CP_PREBUILT=1` says it is built.
fn build_once() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var("CP_PREBUILT").as_deref() == Ok("1") {
            return;
        }
        let status = Command::new("bash")
            .arg("scripts/build.sh")
            .current_dir(repo_root())
            .status()
            .expect("run scripts/build.sh");
        assert!(status.success(), "worker build failed");
    });
}

/// A background runtime for the fake upstream servers, alive for the whole test binary.
pub fn fakes_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("fakes runtime")
    })
}

/// Starts a fake upstream server that outlives any single test.
pub fn start_fake() -> MockServer {
    std::thread::spawn(|| fakes_runtime().block_on(MockServer::start()))
        .join()
        .expect("start fake server")
}

/// How long one test binary may run: past this it is stopped with its workers' logs, so a
/// hang fails in minutes instead of using up CI's time (the longest binary takes under a
/// minute).
const BINARY_LIMIT: Duration = Duration::from_secs(15 * 60);

/// Starts (once per binary) the thread that ends the binary after [`BINARY_LIMIT`], and
/// remembers `log` to print then. The guard script stops the workers when the binary ends.
fn watchdog(log: &Path) {
    static LOGS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    static STARTED: OnceLock<()> = OnceLock::new();
    if let Ok(mut logs) = LOGS.lock() {
        logs.push(log.to_path_buf());
    }
    STARTED.get_or_init(|| {
        std::thread::spawn(|| {
            std::thread::sleep(BINARY_LIMIT);
            eprintln!("this test binary ran past {BINARY_LIMIT:?}: stopping it");
            if let Ok(logs) = LOGS.lock() {
                for log in logs.iter() {
                    eprintln!("--- {} ends:\n{}", log.display(), log_tail(log, 60));
                }
            }
            std::process::exit(1);
        });
    });
}

/// One running `wrangler dev`.
pub struct Worker {
    pub base: String,
    pub port: u16,
    pub persist: PathBuf,
    pub log: PathBuf,
    guard: Mutex<Option<Child>>,
}

impl Worker {
    /// Starts `wrangler dev` persisting to `persist` with the given `--var`s.
    pub fn start(persist: &Path, vars: &[(&str, String)]) -> Worker {
        Self::start_with(persist, vars, None)
    }

    /// Like [`Worker::start`]; `cleanup` is removed when the worker is stopped.
    pub fn start_with(persist: &Path, vars: &[(&str, String)], cleanup: Option<&Path>) -> Worker {
        build_once();
        Self::launch(None, persist, vars, cleanup)
    }

    /// Starts `wrangler dev` with `config` (default: the repository's `wrangler.toml`, with
    /// its D1 migrations applied first).
    pub fn launch(
        config: Option<&Path>,
        persist: &Path,
        vars: &[(&str, String)],
        cleanup: Option<&Path>,
    ) -> Worker {
        std::fs::create_dir_all(persist).expect("persist dir");
        let root = repo_root();
        let wrangler = root.join("node_modules/.bin/wrangler");
        if config.is_none() {
            Self::migrate(persist);
        }
        let port = free_port();
        let log = persist.with_extension(format!("{port}.log"));
        watchdog(&log);
        let out = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new("bash");
        cmd.arg(root.join("scripts/guard.sh"))
            .arg(std::process::id().to_string())
            .arg(&wrangler)
            .args(["dev", "--ip", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .arg("--inspector-port")
            .arg(free_port().to_string())
            .arg("--persist-to")
            .arg(persist);
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        cmd.args([
            // `log`, so the worker's console.log lines (its JSON access lines) are kept.
            "--log-level",
            "log",
            "--show-interactive-dev-session=false",
        ]);
        // Configuration goes through an env file of our own, so a developer's .dev.vars is
        // never loaded and no secret shows in the process list.
        let env_file = persist.with_extension(format!("{port}.env"));
        let lines: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(&env_file, lines).expect("env file");
        cmd.arg("--env-file").arg(&env_file);
        if let Some(dir) = cleanup {
            cmd.env("GUARD_CLEANUP_DIR", dir);
        }
        let guard = cmd
            .current_dir(&root)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CP_SKIP_BUILD", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start wrangler dev");
        let worker = Worker {
            base: format!("http://127.0.0.1:{port}"),
            port,
            persist: persist.to_path_buf(),
            log,
            guard: Mutex::new(Some(guard)),
        };
        worker.wait_ready();
        worker
    }

    /// Applies the D1 migrations to the database persisted under `persist`.
    pub fn migrate(persist: &Path) {
        let migrate = Command::new(repo_root().join("node_modules/.bin/wrangler"))
            .args(["d1", "migrations", "apply", "DB", "--local", "--persist-to"])
            .arg(persist)
            .current_dir(repo_root())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .env("CP_SKIP_BUILD", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("apply D1 migrations");
        assert!(migrate.success(), "D1 migrations failed");
    }

    /// Runs `sql` on the D1 database persisted under `persist` (no worker may be running on
    /// it) and answers its rows.
    pub fn d1(persist: &Path, sql: &str) -> Vec<Value> {
        let out = Command::new(repo_root().join("node_modules/.bin/wrangler"))
            .args(["d1", "execute", "DB", "--local", "--json", "--persist-to"])
            .arg(persist)
            .arg("--command")
            .arg(sql)
            .current_dir(repo_root())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .env("CP_SKIP_BUILD", "1")
            .stderr(Stdio::null())
            .output()
            .expect("run wrangler d1 execute");
        assert!(out.status.success(), "wrangler d1 execute failed: {sql}");
        let answer: Value = serde_json::from_slice(&out.stdout).expect("d1 execute --json");
        answer[0]["results"].as_array().cloned().unwrap_or_default()
    }

    /// Whether wrangler is done starting: its watcher reports `src` as changed once while it
    /// starts and restarts the worker, so ready means "Ready on" printed after the last such
    /// restart, and no new one within half a second.
    fn settled(&self) -> bool {
        let restarts_and_ready = || {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let restart = log.rfind("restarting build");
            let ready = log.rfind("Ready on");
            (log.matches("restarting build").count(), ready > restart)
        };
        let (before, ready) = restarts_and_ready();
        if !ready {
            return false;
        }
        std::thread::sleep(Duration::from_millis(500));
        let (after, ready) = restarts_and_ready();
        ready && after == before
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(180);
        let url = format!("{}/health", self.base);
        while Instant::now() < deadline {
            let ok = std::thread::scope(|s| {
                s.spawn(|| {
                    fakes_runtime().block_on(async {
                        let c = reqwest::Client::new();
                        matches!(
                            c.get(&url).timeout(Duration::from_secs(10)).send().await,
                            Ok(r) if r.status() == 200
                        )
                    })
                })
                .join()
                .unwrap_or(false)
            });
            if ok && self.settled() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        panic!("wrangler dev did not become ready; log:\n{log}");
    }

    /// Stops wrangler and workerd (the guard ends the whole process group).
    pub fn stop(&self) {
        if let Some(mut child) = self.guard.lock().expect("guard lock").take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    pub fn client(&self) -> Client {
        Client {
            base: self.base.clone(),
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .expect("an HTTP client"),
            log: self.log.clone(),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh temp dir for one worker's persistence.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cp-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The default test configuration, with upstream URLs pointing at `fake`.
pub fn test_vars(fake: &str) -> Vec<(&'static str, String)> {
    vec![
        ("INTERNAL_CALLBACK_SECRET", SECRET.to_string()),
        ("SERVICE_AUTH_SECRET_WEB", SERVICE_SECRETS[0].2.to_string()),
        (
            "SERVICE_AUTH_SECRET_SLACK_BOT",
            SERVICE_SECRETS[1].2.to_string(),
        ),
        (
            "SERVICE_AUTH_SECRET_GITHUB_BOT",
            SERVICE_SECRETS[2].2.to_string(),
        ),
        ("TOKEN_ENCRYPTION_KEY", token_key()),
        ("BITBUCKET_API_URL", format!("{fake}/2.0")),
        ("BITBUCKET_OAUTH_URL", format!("{fake}/site/oauth2")),
        ("BITBUCKET_GIT_URL", fake.to_string()),
        ("BITBUCKET_CLIENT_ID", "test-client-id".to_string()),
        ("BITBUCKET_CLIENT_SECRET", "test-client-secret".to_string()),
        ("GITHUB_API_URL", format!("{fake}/github")),
        ("GITHUB_OAUTH_URL", format!("{fake}/github-oauth")),
        ("GITHUB_GIT_URL", format!("{fake}/gh-git")),
        ("GITHUB_CLIENT_ID", "test-github-client".to_string()),
        ("GITHUB_CLIENT_SECRET", "test-github-secret".to_string()),
        ("GOOGLE_AUTHORIZE_URL", format!("{fake}/google/authorize")),
        ("GOOGLE_TOKEN_URL", format!("{fake}/google/token")),
        ("GOOGLE_USERINFO_URL", format!("{fake}/google/userinfo")),
        ("SANDBOX_API_URL", format!("{fake}/sandbox")),
        ("SANDBOX_API_SECRET", "test-sandbox-secret".to_string()),
        // The Slack bot's callbacks (no binding in tests: its URL).
        ("SLACK_BOT_URL", format!("{fake}/slack-bot")),
        ("LINEAR_BOT_URL", format!("{fake}/linear-bot")),
        // Open-Inspect's model, explicitly: these binaries test other things. The access
        // binary runs without it, so the default (REPO_ACCESS=user) is what it proves.
        ("REPO_ACCESS", "deployment".to_string()),
    ]
}

/// The worker shared by every test of one test binary, with one fake upstream server.
pub struct Shared {
    pub worker: Worker,
    pub fake: MockServer,
}

pub fn shared() -> &'static Shared {
    shared_with(&[])
}

/// The shared worker, started with `extra` configuration on top of [`test_vars`] (the
/// first call in a test binary decides).
pub fn shared_with(extra: &[(&'static str, &str)]) -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    let extra: Vec<(&'static str, String)> =
        extra.iter().map(|(k, v)| (*k, v.to_string())).collect();
    SHARED.get_or_init(move || {
        std::thread::spawn(move || {
            let fake = start_fake();
            let dir = temp_dir("shared");
            let state = dir.join("state");
            let mut vars = test_vars(&fake.uri());
            // A setting given again replaces the default one.
            vars.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
            vars.extend(extra);
            let worker = Worker::start_with(&state, &vars, Some(&dir));
            Shared { worker, fake }
        })
        .join()
        .expect("start the shared worker")
    })
}

/// A service token for `INTERNAL_CALLBACK_SECRET` at `ms`.
pub fn service_token_at(ms: i64) -> String {
    control_plane::auth::service_token::sign(SECRET.as_bytes(), ms)
}

/// One request signed as Open-Inspect's services sign it (`sig1`): what to sign and how.
pub struct Sig1<'a> {
    pub service: &'a str,
    pub secret: &'a str,
    pub actor: &'a str,
    pub at_ms: i64,
    pub nonce: String,
}

impl<'a> Sig1<'a> {
    /// A fresh signature of `service` with its test secret, now, with a new nonce.
    pub fn now(service: &'a str) -> Self {
        let secret = SERVICE_SECRETS
            .iter()
            .find(|(s, _, _)| *s == service)
            .map_or("no-secret", |(_, _, secret)| *secret);
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Sig1 {
            service,
            secret,
            actor: "",
            at_ms: now_ms(),
            nonce: format!("{:x}{:08x}{n:x}", std::process::id(), now_ms() as u32),
        }
    }

    /// `req` (a JSON `body`, if any) with this signature's headers.
    pub fn sign(
        &self,
        req: reqwest::RequestBuilder,
        body: Option<&Value>,
    ) -> reqwest::RequestBuilder {
        use control_plane::identity::sig1;
        let built = req
            .try_clone()
            .expect("a request")
            .build()
            .expect("a request");
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let request = sig1::Signed {
            service: sig1::Service::parse(self.service).unwrap_or(sig1::Service::Web),
            method: built.method().as_str(),
            url: built.url(),
            body: &bytes,
            actor: self.actor,
        };
        let hex = sig1::sign(self.secret.as_bytes(), &request, self.at_ms, &self.nonce);
        let mut req = req.header("X-OpenInspect-Service", self.service).header(
            "X-OpenInspect-Service-Signature",
            format!("sig1.{}.{}.{hex}", self.at_ms, self.nonce),
        );
        if !self.actor.is_empty() {
            req = req.header("X-OpenInspect-Actor", self.actor);
        }
        match body {
            Some(_) => req.header("content-type", "application/json").body(bytes),
            None => req,
        }
    }
}

/// A name no other test of any run uses: `prefix`, the process id, the time and a counter.
pub fn unique(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{}-{n}", std::process::id(), now_ms())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How long one request to the worker may take before the test fails (instead of hanging).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The last `lines` lines of the log at `path`.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// An HTTP client for the worker that signs its requests.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    /// The worker's log, quoted when a request fails.
    pub log: PathBuf,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The error message (empty when there is none).
    pub fn message(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    /// The element of the answer's array `list` whose `key` is `value` (`null` when none).
    pub fn item(&self, list: &str, key: &str, value: &str) -> Value {
        self.body[list]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x[key] == value)
            .cloned()
            .unwrap_or(Value::Null)
    }
}

impl Client {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `req`; the answer must be JSON and match `openapi.json`.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let req = req.build().expect("a request");
        let (method, path) = (req.method().to_string(), req.url().path().to_string());
        let resp = match self.http.execute(req).await {
            Ok(resp) => resp,
            Err(e) => panic!(
                "{method} {path} failed: {e}; the worker's log ends:\n{}",
                log_tail(&self.log, 40)
            ),
        };
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("non-JSON answer ({status}): {text}"));
        openapi::check(&method, &path, status, &body);
        Reply { status, body }
    }

    pub fn authed(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(service_token_at(now_ms()))
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.authed(reqwest::Method::GET, path)).await
    }

    /// `GET path` with the service token and the given headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.authed(reqwest::Method::GET, path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.authed(reqwest::Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(self.authed(reqwest::Method::POST, path).json(body))
            .await
    }

    /// Creates a session for `user` on acme/web and answers its id.
    pub async fn create_session(&self, user: &str, extra: Value) -> String {
        let mut body = serde_json::json!({"repoOwner": "acme", "repoName": "web", "userId": user});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let r = self.post("/sessions", &body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["sessionId"].as_str().expect("sessionId").to_string()
    }

    pub async fn ws_token(&self, session: &str, user: &str) -> (String, String) {
        let r = self
            .post(
                &format!("/sessions/{session}/ws-token"),
                &serde_json::json!({"userId": user}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        (
            r.body["token"].as_str().expect("token").to_string(),
            r.body["participantId"]
                .as_str()
                .expect("participantId")
                .to_string(),
        )
    }
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A browser-like WebSocket client of a session.
pub struct WsClient {
    pub socket: Socket,
}

pub enum Frame {
    Json(Value),
    Closed(Option<u16>),
}

impl WsClient {
    pub async fn connect(worker: &Worker, session: &str) -> WsClient {
        let url = format!("ws://127.0.0.1:{}/sessions/{session}/ws", worker.port);
        let (socket, _) =
            tokio::time::timeout(REQUEST_TIMEOUT, tokio_tungstenite::connect_async(url))
                .await
                .expect("websocket connect timed out")
                .expect("websocket connect");
        WsClient { socket }
    }

    pub async fn send(&mut self, v: Value) {
        self.socket
            .send(Message::text(v.to_string()))
            .await
            .expect("websocket send");
    }

    /// The next JSON frame or the close, within `secs`.
    pub async fn next(&mut self, secs: u64) -> Frame {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("timed out waiting for a websocket frame");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Frame::Json(serde_json::from_str(&t).expect("JSON frame"))
                }
                Some(Ok(Message::Close(c))) => return Frame::Closed(c.map(|c| u16::from(c.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Frame::Closed(None),
            }
        }
    }

    /// The next JSON frame (panics on a close).
    pub async fn json(&mut self) -> Value {
        match self.next(20).await {
            Frame::Json(v) => v,
            Frame::Closed(c) => panic!("socket closed ({c:?}) while a frame was expected"),
        }
    }

    /// The text of the next frame of type `t` exactly as it arrived, skipping others.
    pub async fn expect_text(&mut self, t: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("timed out waiting for a websocket frame");
            if let Some(Ok(Message::Text(text))) = msg {
                let v: Value = serde_json::from_str(&text).expect("JSON frame");
                if v["type"] == t {
                    return text.to_string();
                }
            } else if !matches!(msg, Some(Ok(_))) {
                panic!("socket closed while a {t} frame was expected");
            }
        }
    }

    /// Waits for the next frame of type `t`, skipping others.
    pub async fn expect_type(&mut self, t: &str) -> Value {
        loop {
            let v = self.json().await;
            if v["type"] == t {
                return v;
            }
        }
    }

    /// Connects and subscribes; answers the `subscribed` frame.
    pub async fn subscribed(worker: &Worker, session: &str, token: &str) -> (WsClient, Value) {
        let mut c = WsClient::connect(worker, session).await;
        c.send(serde_json::json!({"type": "subscribe", "token": token, "clientId": "c"}))
            .await;
        let v = c.json().await;
        assert_eq!(v["type"], "subscribed", "{v}");
        (c, v)
    }
}

/// An upstream that answers like an HTTP/1.0 server: one answer per connection, then it
/// closes (no keep-alive). Serves `GET /2.0/user/workspaces` (one workspace, `ws-close`) and
/// `GET /2.0/repositories/ws-close` (one repository); anything else is 404. Answers its
/// base URL.
pub fn start_closing_upstream() -> String {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head);
                let target = line.split_whitespace().nth(1).unwrap_or("");
                let path = target.split('?').next().unwrap_or("");
                let (status, body) = match path {
                    "/2.0/user/workspaces" => (
                        "200 OK",
                        serde_json::json!({"values": [{"workspace": {"slug": "ws-close"}}]}),
                    ),
                    "/2.0/repositories/ws-close" => {
                        let mut r = bitbucket::repo_json("ws-close", "kept", true);
                        r["description"] = serde_json::json!("closing upstream");
                        ("200 OK", serde_json::json!({"values": [r]}))
                    }
                    _ => (
                        "404 Not Found",
                        serde_json::json!({"type": "error", "error": {"message": "no"}}),
                    ),
                };
                let body = body.to_string();
                let answer = format!(
                    "HTTP/1.0 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes());
                let _ = stream.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    base
}

/// The requests the server received that satisfy `pred`.
pub async fn requests(
    server: &MockServer,
    pred: impl Fn(&wiremock::Request) -> bool,
) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| pred(r))
        .collect()
}

/// Requests sent with `token` as the bearer.
pub async fn calls_with(server: &MockServer, token: &str) -> Vec<wiremock::Request> {
    let want = format!("Bearer {token}");
    requests(server, |r| {
        r.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(want.as_str())
    })
    .await
}

/// Asserts that none of `secrets` appears in the session's answers (the session, events,
/// messages, artifacts, participants), in `frames` (what clients received), in the worker's
/// log or anywhere in its stored state in plaintext.
pub async fn assert_secrets_hidden(worker: &Worker, session: &str, frames: &str, secrets: &[&str]) {
    let c = worker.client();
    let mut everything = frames.to_string();
    for p in [
        "",
        "/events?limit=200",
        "/messages",
        "/artifacts",
        "/participants",
    ] {
        everything.push_str(
            &c.get(&format!("/sessions/{session}{p}"))
                .await
                .body
                .to_string(),
        );
    }
    let log = std::fs::read_to_string(&worker.log).expect("worker log");
    assert!(log.contains("Ready on"), "not the worker's log");
    let mut disk = Vec::new();
    let mut stack = vec![worker.persist.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if let Ok(bytes) = std::fs::read(e.path()) {
                disk.extend(bytes);
            }
        }
    }
    let disk = String::from_utf8_lossy(&disk).to_string();
    for secret in secrets {
        assert!(
            !everything.contains(secret),
            "{secret} in an answer or event"
        );
        assert!(!log.contains(secret), "{secret} in the log");
        assert!(!disk.contains(secret), "{secret} stored in plaintext");
    }
}

/// The git host sandboxes clone from: the worker's `host:port` (`VCS_HOST`).
pub fn git_host(worker: &Worker) -> String {
    format!("127.0.0.1:{}", worker.port)
}

/// Asserts that a push command sends the sandbox through the control plane's git for
/// `owner/name` with a ticket (`{user}:oig1.…`), and that none of `secrets` is in it.
pub fn assert_ticket_remote(
    push: &Value,
    worker: &Worker,
    user: &str,
    (owner, name): (&str, &str),
    secrets: &[&str],
) {
    let spec = &push["pushSpec"];
    let remote = spec["remoteUrl"].as_str().expect("remoteUrl");
    let prefix = format!("http://{user}:oig1.");
    let suffix = format!("@{}/{owner}/{name}.git", git_host(worker));
    assert!(
        remote.starts_with(&prefix) && remote.ends_with(&suffix),
        "{remote}"
    );
    assert_eq!(
        spec["redactedRemoteUrl"],
        format!("http://{user}:***{suffix}").as_str()
    );
    let text = push.to_string();
    for s in secrets {
        assert!(!text.contains(s), "{s} in {text}");
    }
}
