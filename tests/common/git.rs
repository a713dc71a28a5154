//! A fake forge's git over smart HTTP: real repositories on disk served by `git http-backend`
//! (CGI) behind a wiremock route, with HTTP Basic checked per repository as the forge would,
//! and a real `git` client to play the sandbox's clone, fetch and push.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine;
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// Repositories under one root, and who may reach each: `owner/name` to the Basic
/// credentials (`user:secret`) the forge accepts for it.
#[derive(Clone, Default)]
pub struct Forge {
    pub root: PathBuf,
    /// The URL path the forge's git is served under (`""` or `/gh-git`).
    pub prefix: String,
    allowed: Arc<Mutex<HashMap<String, Vec<String>>>>,
    /// Every request's `owner/name`, service and the credentials it came with.
    pub seen: Arc<Mutex<Vec<(String, String, String)>>>,
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git")
}

impl Forge {
    pub fn new(root: PathBuf, prefix: &str) -> Forge {
        std::fs::create_dir_all(&root).expect("forge root");
        Forge {
            root,
            prefix: prefix.to_string(),
            ..Forge::default()
        }
    }

    /// A bare repository `owner/name` with one commit on `main`, reachable with any of
    /// `credentials` (`user:secret`).
    pub fn repo(&self, owner: &str, name: &str, credentials: &[&str]) {
        let bare = self.root.join(owner).join(format!("{name}.git"));
        std::fs::create_dir_all(&bare).expect("repo dir");
        assert!(git(&bare, &["init", "--bare", "-q", "-b", "main"])
            .status
            .success());
        assert!(git(&bare, &["config", "http.receivepack", "true"])
            .status
            .success());
        let work = self.root.join(format!("seed-{owner}-{name}"));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).expect("seed dir");
        for args in [
            &["init", "-q", "-b", "main"][..],
            &["config", "user.email", "seed@example.com"],
            &["config", "user.name", "Seed"],
        ] {
            assert!(git(&work, args).status.success());
        }
        std::fs::write(work.join("README.md"), format!("# {owner}/{name}\n")).expect("seed");
        for args in [
            &["add", "."][..],
            &["commit", "-q", "-m", "seed"],
            &["push", "-q", bare.to_str().expect("path"), "main"],
        ] {
            let out = git(&work, args);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        self.allowed.lock().expect("lock").insert(
            format!("{owner}/{name}"),
            credentials.iter().map(|c| c.to_string()).collect(),
        );
    }

    /// The branches of `owner/name` on the forge.
    pub fn branches(&self, owner: &str, name: &str) -> Vec<String> {
        let bare = self.root.join(owner).join(format!("{name}.git"));
        let out = git(
            &bare,
            &["for-each-ref", "--format=%(refname:short)", "refs/heads"],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Serves the forge's git on `server`.
    pub async fn mount(&self, server: &MockServer) {
        let prefix = regex_escape(&self.prefix);
        Mock::given(path_regex(format!(
            r"^{prefix}/[^/]+/[^/]+\.git/(info/refs|git-upload-pack|git-receive-pack)$"
        )))
        .respond_with(self.clone())
        .mount(server)
        .await;
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

impl Respond for Forge {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let path = req
            .url
            .path()
            .strip_prefix(&self.prefix)
            .unwrap_or_default()
            .to_string();
        let mut parts = path.trim_start_matches('/').splitn(3, '/');
        let (owner, repo) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let key = format!("{owner}/{}", repo.trim_end_matches(".git"));
        let credentials = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).to_string())
            .unwrap_or_default();
        let service = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "service")
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| path.rsplit('/').next().unwrap_or_default().to_string());
        self.seen
            .lock()
            .expect("lock")
            .push((key.clone(), service, credentials.clone()));
        let allowed = self.allowed.lock().expect("lock").get(&key).cloned();
        match allowed {
            None => return ResponseTemplate::new(404).set_body_string("Repository not found"),
            Some(ok) if !ok.contains(&credentials) => {
                return ResponseTemplate::new(403).set_body_string("Access denied")
            }
            Some(_) => {}
        }
        let header = |name: &str| {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let mut child = Command::new("git")
            .arg("http-backend")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GIT_PROJECT_ROOT", &self.root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("PATH_INFO", &path)
            .env("REQUEST_METHOD", req.method.as_str())
            .env("QUERY_STRING", req.url.query().unwrap_or_default())
            .env("CONTENT_TYPE", header("content-type"))
            .env("CONTENT_LENGTH", req.body.len().to_string())
            .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
            .env("GIT_PROTOCOL", header("git-protocol"))
            .env("REMOTE_USER", "forge-user")
            .env("REMOTE_ADDR", "127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("git http-backend");
        let mut stdin = child.stdin.take().expect("stdin");
        let body = req.body.clone();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let out = child.wait_with_output().expect("http-backend output");
        let _ = writer.join();
        cgi_response(&out.stdout)
    }
}

/// A CGI answer (headers, a blank line, the body) as a response.
fn cgi_response(out: &[u8]) -> ResponseTemplate {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((at, skip)) = split else {
        return ResponseTemplate::new(500).set_body_string("bad CGI answer");
    };
    let head = String::from_utf8_lossy(&out[..at]).to_string();
    let mut status = 200;
    let mut template_headers = Vec::new();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("status") {
            status = v
                .split(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(500);
        } else {
            template_headers.push((k.to_string(), v.to_string()));
        }
    }
    let mut t = ResponseTemplate::new(status);
    let mut content_type = None;
    for (k, v) in template_headers {
        if k.eq_ignore_ascii_case("content-type") {
            content_type = Some(v.clone());
        }
        t = t.insert_header(k.as_str(), v.as_str());
    }
    let body = out[at + skip..].to_vec();
    match content_type {
        Some(ct) => t.set_body_raw(body, &ct),
        None => t.set_body_bytes(body),
    }
}

/// A real git client playing the sandbox: runs in its own directory, never prompts, never
/// asks a credential helper.
pub struct Sandbox {
    pub dir: PathBuf,
}

impl Sandbox {
    pub fn new(dir: PathBuf) -> Sandbox {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("sandbox dir");
        Sandbox { dir }
    }

    /// Runs git here; answers whether it succeeded and what it printed.
    pub fn git(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("git")
            .args([
                "-c",
                "credential.helper=",
                "-c",
                "user.email=agent@example.com",
            ])
            .args(["-c", "user.name=Agent"])
            .args(args)
            .current_dir(&self.dir)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_ASKPASS", "/bin/false")
            .env("HOME", &self.dir)
            .output()
            .expect("run git");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Runs git in the checkout `name`.
    pub fn git_in(&self, name: &str, args: &[&str]) -> (bool, String) {
        Sandbox {
            dir: self.dir.join(name),
        }
        .git(args)
    }
}

/// `http://user:ticket@host/owner/name.git`, as Open-Inspect's sandboxes build their clone
/// URL from `VCS_HOST`, `VCS_CLONE_USERNAME` and `VCS_CLONE_TOKEN` (on http: the test's worker
/// serves no TLS).
pub fn clone_url(host: &str, user: &str, ticket: &str, owner: &str, name: &str) -> String {
    format!("http://{user}:{ticket}@{host}/{owner}/{name}.git")
}
