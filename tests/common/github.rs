//! A fake GitHub on a wiremock server, speaking the recorded payloads in
//! `tests/fixtures/github`: REST under `/github`, OAuth under `/github-oauth`. The App's
//! key pair is made fresh per run (Node's crypto); the installation-token endpoint verifies
//! each JWT's RS256 signature with the public half and its claims before answering.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

#[allow(unused_imports)]
pub use super::{calls_with, requests};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const APP_ID: &str = "424242";
pub const INSTALLATION_ID: &str = "77";
/// The installation token the fake App installation hands out.
pub const INSTALLATION_TOKEN: &str = "ghs_FAKE-INSTALLATION-TOKEN";

/// A recorded answer in `tests/fixtures/github`.
pub fn fixture(name: &str) -> Value {
    super::fixture("github", name)
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A fresh RSA key pair, made in `dir` (removed again): the PKCS#8 private key (PEM, as
/// `GITHUB_APP_PRIVATE_KEY` with its line breaks written `\n`) and the SPKI public key (PEM).
pub fn app_key(dir: &Path) -> (String, String) {
    let public = dir.join("app-public.pem");
    let private = dir.join("app-private.pem");
    let script = "const c=require('crypto'),fs=require('fs');\
        const k=c.generateKeyPairSync('rsa',{modulusLength:2048,\
        publicKeyEncoding:{type:'spki',format:'pem'},privateKeyEncoding:{type:'pkcs8',format:'pem'}});\
        fs.writeFileSync(process.argv[1],k.publicKey);fs.writeFileSync(process.argv[2],k.privateKey);";
    let ok = Command::new("node")
        .args(["-e", script])
        .arg(&public)
        .arg(&private)
        .status()
        .expect("node");
    assert!(ok.success(), "key generation failed");
    let pem = std::fs::read_to_string(&private).expect("private key");
    let public = std::fs::read_to_string(&public).expect("public key");
    let _ = std::fs::remove_dir_all(dir);
    (pem.trim().replace('\n', "\\n"), public)
}

/// What the JWT verifier found: the signature's validity and the claims.
fn verify_jwt(public: &str, jwt: &str) -> (bool, Value) {
    let script = "const c=require('crypto');\
        const [h,p,s]=process.argv[1].split('.');\
        const ok=c.verify('sha256',Buffer.from(h+'.'+p),process.env.APP_PUBLIC_KEY,Buffer.from(s||'','base64url'));\
        let claims=null;try{claims=JSON.parse(Buffer.from(p,'base64url'))}catch(e){}\
        const head=JSON.parse(Buffer.from(h,'base64url'));\
        console.log(JSON.stringify({ok:ok&&head.alg==='RS256',claims}));";
    let out = Command::new("node")
        .args(["-e", script])
        .arg(jwt)
        // A PEM starts with dashes: as an argument node would take it for an option.
        .env("APP_PUBLIC_KEY", public)
        .output()
        .expect("node");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(json!({"ok": false}));
    (v["ok"] == true, v["claims"].clone())
}

/// `POST /github/app/installations/{id}/access_tokens`: 201 with the installation token for
/// a JWT signed by the App's key with the right claims, else 401.
struct InstallationTokens {
    public: String,
}

impl Respond for InstallationTokens {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let jwt = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let (signed, claims) = verify_jwt(&self.public, jwt);
        let now = super::now_ms() / 1000;
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap_or(0),
            claims["exp"].as_i64().unwrap_or(0),
        );
        let claims_ok = claims["iss"].to_string().trim_matches('"') == APP_ID
            && iat <= now - 30
            && iat >= now - 120
            && exp > now
            && exp <= now + 600;
        if !(signed && claims_ok) {
            return ResponseTemplate::new(401).set_body_json(
                json!({"message": "A JSON web token could not be decoded", "documentation_url": "https://docs.github.com/rest"}),
            );
        }
        let mut body = fixture("installation_token.json");
        body["token"] = json!(INSTALLATION_TOKEN);
        let expires = control_plane::clock::iso8601(super::now_ms() + 3_600_000);
        body["expires_at"] = json!(expires);
        ResponseTemplate::new(201).set_body_json(body)
    }
}

/// Mounts the App's token exchange, verified with `public`.
pub async fn mount_app(server: &MockServer, public: String) {
    Mock::given(method("POST"))
        .and(path(format!(
            "/github/app/installations/{INSTALLATION_ID}/access_tokens"
        )))
        .respond_with(InstallationTokens { public })
        .mount(server)
        .await;
}

/// Installation-token exchanges the fake answered.
pub async fn exchanges(server: &MockServer) -> usize {
    requests(server, |r| r.url.path().ends_with("/access_tokens"))
        .await
        .len()
}

/// A repository in the shape of `repo.json`, renamed, with `push` permission as given.
pub fn repo_json(owner: &str, name: &str, push: bool) -> Value {
    let mut r = fixture("repo.json");
    r["id"] = json!(name.bytes().map(u64::from).sum::<u64>() * 1000 + name.len() as u64);
    r["name"] = json!(name);
    r["full_name"] = json!(format!("{owner}/{name}"));
    r["owner"]["login"] = json!(owner);
    r["default_branch"] = json!("trunk");
    r["permissions"]["push"] = json!(push);
    r
}

/// `GET /github/repos/{owner}/{name}` for `token`.
pub async fn mount_repo(server: &MockServer, owner: &str, name: &str, token: &str, push: bool) {
    Mock::given(method("GET"))
        .and(path(format!("/github/repos/{owner}/{name}")))
        .and(header("authorization", bearer(token).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(repo_json(owner, name, push)))
        .mount(server)
        .await;
}

/// `GET /github/user/repos` for `token`: `count` repositories in pages of 100 linked by
/// `Link: rel="next"`.
pub async fn mount_user_repos(server: &MockServer, token: &str, owner: &str, count: usize) {
    let pages = count.div_ceil(100).max(1);
    for page in 1..=pages {
        let values: Vec<Value> = ((page - 1) * 100..(page * 100).min(count))
            .map(|i| {
                let mut r = fixture("repos.json")[0].clone();
                r["id"] = json!(10_000 + i);
                r["name"] = json!(format!("repo-{i:04}"));
                r["full_name"] = json!(format!("{owner}/repo-{i:04}"));
                r["owner"]["login"] = json!(owner);
                r
            })
            .collect();
        let mut answer = ResponseTemplate::new(200).set_body_json(values);
        if page < pages {
            let next = format!(
                "{}/github/user/repos?per_page=100&page={}",
                server.uri(),
                page + 1
            );
            let last = format!(
                "{}/github/user/repos?per_page=100&page={pages}",
                server.uri()
            );
            answer = answer.insert_header(
                "link",
                format!("<{next}>; rel=\"next\", <{last}>; rel=\"last\"").as_str(),
            );
        }
        let mut mock = Mock::given(method("GET"))
            .and(path("/github/user/repos"))
            .and(header("authorization", bearer(token).as_str()));
        mock = if page == 1 {
            mock.and(wiremock::matchers::query_param_is_missing("page"))
        } else {
            mock.and(wiremock::matchers::query_param("page", page.to_string()))
        };
        mock.respond_with(answer).mount(server).await;
    }
}

/// `GET /github/user` and `/github/user/emails` for `token`, from the fixtures.
pub async fn mount_identity(server: &MockServer, token: &str) {
    Mock::given(method("GET"))
        .and(path("/github/user"))
        .and(header("authorization", bearer(token).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("user.json")))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/github/user/emails"))
        .and(header("authorization", bearer(token).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("emails.json")))
        .mount(server)
        .await;
}

/// `POST /github-oauth/access_token` for the refresh token `refresh`.
pub fn refresh_mock(refresh: &str) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/github-oauth/access_token"))
        .and(body_string_contains(format!("refresh_token={refresh}")))
}

/// A grant in the shape of `oauth_token.json`.
pub fn grant(access: &str, refresh: &str) -> Value {
    let mut g = fixture("oauth_token.json");
    g["access_token"] = json!(access);
    g["refresh_token"] = json!(refresh);
    g
}

/// `POST /github/repos/{owner}/{name}/pulls`.
pub fn pulls_path(owner: &str, name: &str) -> String {
    format!("/github/repos/{owner}/{name}/pulls")
}
