//! End-to-end tests of browser sign-in through `wrangler dev`, as Open-Inspect's web app
//! proxies it (every call signed by the web app with `sig1`, the browser's cookies passed
//! through): Bitbucket and GitHub against fake OAuth servers, from the provider list and the
//! start (the authorize URL, the flow cookie) through the callback (code → tokens → profile
//! → admission → session cookie) to get-session and sign-out; the stored provider token
//! serving the user's repositories; cancelled, forged and stale sign-ins; a public
//! Bitbucket consumer; admission; and a signed-in user's calls taking their identity and
//! their stored token from the session, never from the body.

mod common;

use base64::Engine;
use common::{fixture, now_ms, shared_with, unique, Client, Reply, Shared, Sig1};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, ResponseTemplate};

const WEB: &str = "https://app.example.test";
const BROWSER_SECRET: &str = "test-browser-auth-secret-0123456789abcdef";

fn shared() -> &'static Shared {
    shared_with(&[
        ("BROWSER_AUTH_SECRET", BROWSER_SECRET),
        ("WEB_APP_URL", WEB),
        ("SIGN_IN_PROVIDERS", "bitbucket,github,google"),
        ("GOOGLE_CLIENT_ID", "test-google-client"),
        ("GOOGLE_CLIENT_SECRET", "test-google-secret"),
        ("ALLOWED_EMAIL_DOMAINS", "example.com"),
        ("ALLOWED_BITBUCKET_WORKSPACES", "acme-team"),
        // The default: what reaches a repository is the user's own right.
        ("REPO_ACCESS", "user"),
    ])
}

fn client() -> Client {
    shared().worker.client()
}

/// An answer of the auth routes: status, headers, body text (redirects are not followed).
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }

    fn location(&self) -> String {
        self.headers["location"].to_str().unwrap().to_string()
    }

    /// `name=value` of each cookie set, by name.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap().to_string())
    }

    /// The error code and description of a redirect to the error page.
    fn error(&self) -> (String, String) {
        assert_eq!(self.status, 302, "{}", self.body);
        let to = url::Url::parse(&self.location()).unwrap();
        assert_eq!(to.path(), "/api/auth/error", "{to}");
        let get = |k: &str| {
            to.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        (get("error"), get("error_description"))
    }
}

/// A call as the web app's proxy makes it: signed as `web`, with the browser's `cookie`.
async fn web(
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    cookie: Option<&str>,
) -> Answer {
    let c = client();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = method != reqwest::Method::GET;
    let method_name = method.to_string();
    let mut req = http.request(method, c.url(path));
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
        // The browser's own page asks (its origin, forwarded by the web app's proxy).
        if post {
            req = req.header("origin", WEB);
        }
    }
    let req = Sig1::now("web").sign(req, body);
    let resp = req.send().await.expect("the worker answers");
    let a = Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap_or_default(),
    };
    // Every JSON answer is what the OpenAPI document says (redirects and the error page
    // are not JSON).
    let json = a
        .headers
        .get("content-type")
        .is_some_and(|t| t.to_str().is_ok_and(|t| t.starts_with("application/json")));
    if json {
        let route = path.split('?').next().unwrap_or(path);
        common::openapi::check(&method_name, route, a.status, &a.json());
    }
    a
}

async fn start(provider: &str) -> (url::Url, String) {
    let body = json!({"provider": provider, "callbackURL": "/", "disableRedirect": true});
    let a = web(
        reqwest::Method::POST,
        "/api/auth/sign-in/social",
        Some(&body),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["redirect"], false);
    let url = url::Url::parse(a.json()["url"].as_str().unwrap()).unwrap();
    let flow = a
        .cookie("__Secure-openinspect.state")
        .expect("the flow cookie");
    let set = a.headers["set-cookie"].to_str().unwrap();
    assert!(set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Lax"));
    (url, flow)
}

fn param(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

async fn callback(provider: &str, query: &str, cookie: Option<&str>) -> Answer {
    let path = format!("/api/auth/callback/{provider}?{query}");
    web(reqwest::Method::GET, &path, None, cookie).await
}

/// Fakes Bitbucket's side of one sign-in: the code → a grant (with a refresh token unless
/// `public`), the account (a fresh id), its addresses and workspaces. Answers the access token.
async fn bitbucket_account(code: &str, email: &str, workspaces: &[&str], public: bool) -> String {
    bitbucket_account_as(&unique("557058:acct"), code, email, workspaces, public).await
}

/// [`bitbucket_account`] for the account `account`.
async fn bitbucket_account_as(
    account: &str,
    code: &str,
    email: &str,
    workspaces: &[&str],
    public: bool,
) -> String {
    let fake = &shared().fake;
    let access = unique("AT-signin");
    let mut grant = common::bitbucket::grant(&access, &unique("RT-signin"), 7200);
    if public {
        grant.as_object_mut().unwrap().remove("refresh_token");
    }
    Mock::given(method("POST"))
        .and(path("/site/oauth2/access_token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains(format!("code={code}")))
        .and(header(
            "authorization",
            "Basic dGVzdC1jbGllbnQtaWQ6dGVzdC1jbGllbnQtc2VjcmV0",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(grant))
        .mount(fake)
        .await;
    let mut user = fixture("bitbucket", "user.json");
    user["account_id"] = json!(account);
    let bearer = format!("Bearer {access}");
    Mock::given(method("GET"))
        .and(path("/2.0/user"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(user))
        .mount(fake)
        .await;
    let mut emails = fixture("bitbucket", "user_emails.json");
    emails["values"][1]["email"] = json!(email);
    Mock::given(method("GET"))
        .and(path("/2.0/user/emails"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(emails))
        .mount(fake)
        .await;
    common::bitbucket::mount_workspaces(fake, &access, workspaces).await;
    access
}

/// A whole Bitbucket sign-in of a new account with `email` in `workspaces` (`public`: a
/// consumer that grants no refresh token): the callback's answer, and the access token.
async fn through_bitbucket(email: &str, workspaces: &[&str], public: bool) -> (Answer, String) {
    let (authorize, flow) = start("bitbucket").await;
    let code = unique("code-bb-account");
    let access = bitbucket_account(&code, email, workspaces, public).await;
    let state = param(&authorize, "state");
    let query = format!("code={code}&state={state}");
    (callback("bitbucket", &query, Some(&flow)).await, access)
}

async fn get_session(cookie: &str) -> Value {
    let a = web(
        reqwest::Method::GET,
        "/api/auth/get-session",
        None,
        Some(cookie),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.headers["cache-control"], "no-store");
    a.json()
}

#[tokio::test]
async fn the_provider_list_follows_the_setting_in_the_web_apps_order() {
    let a = web(
        reqwest::Method::GET,
        "/internal/auth/sign-in-providers",
        None,
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.json()),
        (200, json!({"providers": ["github", "google", "bitbucket"]}))
    );
    // Only the web app, signing as itself, may call the sign-in routes.
    let c = client();
    let mut bot = Sig1::now("slack-bot");
    bot.actor = "slack:U1";
    let r = c
        .send(bot.sign(c.http.get(c.url("/internal/auth/sign-in-providers")), None))
        .await;
    assert_eq!(r.status, 401);
    let r: Reply = c.get("/internal/auth/sign-in-providers").await;
    assert_eq!(
        r.status, 401,
        "the shared bearer is not the web app's signature"
    );
    let body = json!({"provider": "gitlab", "callbackURL": "/"});
    let a = web(
        reqwest::Method::POST,
        "/api/auth/sign-in/social",
        Some(&body),
        None,
    )
    .await;
    assert_eq!(a.status, 404, "gitlab is not offered: {}", a.body);
    let evil = json!({"provider": "bitbucket", "callbackURL": "https://evil.example/"});
    let a = web(
        reqwest::Method::POST,
        "/api/auth/sign-in/social",
        Some(&evil),
        None,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
}

#[tokio::test]
async fn a_bitbucket_user_signs_in_and_their_token_serves_their_repositories() {
    let (authorize, flow) = start("bitbucket").await;
    let fake = shared().fake.uri();
    assert_eq!(
        authorize.as_str().split('?').next().unwrap(),
        format!("{fake}/site/oauth2/authorize")
    );
    assert_eq!(param(&authorize, "client_id"), "test-client-id");
    assert_eq!(param(&authorize, "response_type"), "code");
    let state = param(&authorize, "state");
    assert!(state.len() >= 32);

    let code = unique("code-bb");
    let access = bitbucket_account(&code, "ada@example.com", &["acme-team"], false).await;
    let a = callback(
        "bitbucket",
        &format!("code={code}&state={state}"),
        Some(&flow),
    )
    .await;
    assert_eq!(a.status, 302, "{}", a.body);
    assert_eq!(a.location(), format!("{WEB}/"));
    assert!(a.headers.get_all("set-cookie").iter().any(|v| v
        .to_str()
        .unwrap()
        .starts_with("__Secure-openinspect.state=; Max-Age=0")));
    let session = a
        .cookie("__Secure-openinspect.session_token")
        .expect("the session cookie");

    let s = get_session(&session).await;
    let user_id = s["user"]["id"].as_str().unwrap().to_string();
    assert!(
        user_id.len() == 32
            && user_id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(s["session"]["userId"], user_id.as_str());
    assert!(s["session"]["expiresAt"].is_string());
    assert_eq!(s["user"]["email"], "ada@example.com");
    assert_eq!(s["user"]["name"], "Brad Rydzewski");
    assert!(!s.to_string().contains(&access), "no token in the answer");

    // The stored token is the user's: their repositories, listed with it.
    common::bitbucket::mount_repos(&shared().fake, &access, "acme-team", 2).await;
    let c = client();
    let r = c
        .get_with(
            "/repos",
            &[("x-vcs-provider", "bitbucket"), ("x-user-id", &user_id)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["repos"].as_array().unwrap().len(), 2);

    // The same flow cannot be used twice: its cookie was removed, and a replay without it
    // is refused.
    let again = callback("bitbucket", &format!("code={code}&state={state}"), None).await;
    assert_eq!(again.error().0, "state_not_found");

    // Signing out ends the session.
    let a = web(
        reqwest::Method::POST,
        "/api/auth/sign-out",
        Some(&json!({})),
        Some(&session),
    )
    .await;
    assert_eq!((a.status, a.json()), (200, json!({"success": true})));
    assert!(a.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(get_session(&session).await, Value::Null);
    assert_eq!(
        get_session("openinspect.session_token=forged.sig").await,
        Value::Null
    );
}

#[tokio::test]
async fn a_github_user_signs_in_with_pkce() {
    let (authorize, flow) = start("github").await;
    let fake = &shared().fake;
    assert_eq!(authorize.path(), "/github-oauth/authorize");
    assert_eq!(param(&authorize, "client_id"), "test-github-client");
    assert_eq!(
        param(&authorize, "redirect_uri"),
        format!("{WEB}/api/auth/callback/github")
    );
    assert_eq!(param(&authorize, "code_challenge_method"), "S256");
    let challenge = param(&authorize, "code_challenge");
    let state = param(&authorize, "state");

    let code = unique("code-gh");
    let access = github_account(&code, "octo@example.com").await;

    let a = callback("github", &format!("code={code}&state={state}"), Some(&flow)).await;
    assert_eq!(
        (a.status, a.location()),
        (302, format!("{WEB}/")),
        "{}",
        a.body
    );
    // The code was exchanged with the verifier whose challenge the authorize URL carried.
    let exchange = common::requests(fake, |r| {
        r.url.path() == "/github-oauth/access_token"
            && String::from_utf8_lossy(&r.body).contains(&code)
    })
    .await;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&exchange[0].body)
        .into_owned()
        .collect();
    let verifier = &form.iter().find(|(k, _)| k == "code_verifier").unwrap().1;
    let derived = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier));
    assert_eq!(derived, challenge);
    let session = a.cookie("__Secure-openinspect.session_token").unwrap();
    assert_eq!(
        get_session(&session).await["user"]["email"],
        "octo@example.com"
    );
    // The web app names no provider: a GitHub user's repositories are GitHub's, though the
    // deployment's default is Bitbucket.
    common::github::mount_user_repos(fake, &access, "octo-org", 2).await;
    let c = client();
    let req = reqwest::Client::new()
        .get(c.url("/repos"))
        .header("cookie", &session);
    let r = c.send(Sig1::now("web").sign(req, None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["repos"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn cancelled_forged_and_stale_sign_ins_land_on_the_error_page() {
    let (authorize, flow) = start("bitbucket").await;
    let state = param(&authorize, "state");
    // The user cancels on Bitbucket.
    let a = callback(
        "bitbucket",
        &format!("error=access_denied&state={state}"),
        Some(&flow),
    )
    .await;
    let (code, message) = a.error();
    assert_eq!(code, "access_denied");
    assert!(
        message.contains("cancelled signing in with Bitbucket"),
        "{message}"
    );
    // The page the browser lands on says so.
    let page = web(
        reqwest::Method::GET,
        &a.location().replace(WEB, ""),
        None,
        None,
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(
        page.body.contains("cancelled signing in with Bitbucket"),
        "{}",
        page.body
    );
    assert!(!web(
        reqwest::Method::GET,
        "/api/auth/error?error=%3Cscript%3E",
        None,
        None
    )
    .await
    .body
    .contains("<script>"));

    // A state this browser did not start, or no flow cookie at all.
    let a = callback("bitbucket", "code=x&state=forged", Some(&flow)).await;
    assert_eq!(a.error().0, "state_mismatch");
    let a = callback("bitbucket", &format!("code=x&state={state}"), None).await;
    assert_eq!(a.error().0, "state_not_found");
    // Another provider's callback with this flow.
    let a = callback("github", &format!("code=x&state={state}"), Some(&flow)).await;
    assert_eq!(a.error().0, "state_mismatch");
    // A flow cookie not signed by us.
    let forged = flow.replace(&flow[flow.len() - 8..], "AAAAAAAA");
    let a = callback("bitbucket", &format!("code=x&state={state}"), Some(&forged)).await;
    assert_eq!(a.error().0, "state_not_found");

    // A flow older than 15 minutes (its cookie made as ours would be, with our secret).
    use control_plane::identity::{cookies, flow::Flow, settings::Provider};
    let old = Flow {
        state: "old-state".into(),
        provider: Provider::Bitbucket,
        verifier: None,
        callback: format!("{WEB}/"),
        error_callback: None,
        started_at: now_ms() - 16 * 60 * 1000,
        link_user: None,
    };
    let cookie = format!(
        "__Secure-openinspect.state={}",
        cookies::sign(BROWSER_SECRET.as_bytes(), &old.encode())
    );
    let a = callback("bitbucket", "code=x&state=old-state", Some(&cookie)).await;
    let (code, message) = a.error();
    assert_eq!(code, "state_mismatch");
    assert!(message.contains("15 minutes"), "{message}");
}

#[tokio::test]
async fn a_public_consumer_and_an_unadmitted_user_are_refused_with_the_reason() {
    // A public consumer: Bitbucket grants no refresh token.
    let (a, _) = through_bitbucket("ada@example.com", &["acme-team"], true).await;
    let (code, message) = a.error();
    assert_eq!(code, "no_refresh_token");
    assert!(message.contains("private consumer"), "{message}");
    assert!(a.cookie("__Secure-openinspect.session_token").is_none());

    // Someone outside the admitted domain and workspace.
    let (a, _) = through_bitbucket("eve@elsewhere.io", &["other-team"], false).await;
    let (code, message) = a.error();
    assert_eq!(code, "access_denied");
    assert!(message.contains("not admitted"), "{message}");
    assert!(a.cookie("__Secure-openinspect.session_token").is_none());

    // A member of the admitted workspace, whatever their address.
    let (a, _) = through_bitbucket("kim@elsewhere.io", &["other", "acme-team"], false).await;
    assert_eq!(a.status, 302, "{}", a.body);
    assert_eq!(a.location(), format!("{WEB}/"));
}

/// Signs a new Bitbucket user in: their session cookie, user id and access token.
async fn signed_in_bitbucket(email: &str) -> (String, String, String) {
    let (a, access) = through_bitbucket(email, &["acme-team"], false).await;
    assert_eq!(a.status, 302, "{}", a.body);
    let cookie = a.cookie("__Secure-openinspect.session_token").unwrap();
    let user_id = get_session(&cookie).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    (cookie, user_id, access)
}

#[tokio::test]
async fn a_signed_in_user_acts_as_themselves_with_their_stored_token() {
    let (cookie, user_id, access) = signed_in_bitbucket("ada@example.com").await;
    let fake = &shared().fake;
    common::sandbox::mount_provider_ok(fake).await;
    let repo = unique("signed-repo");
    let mut body = fixture("bitbucket", "repo.json");
    body["full_name"] = json!(format!("acme/{repo}"));
    body["slug"] = json!(repo);
    Mock::given(method("GET"))
        .and(path(format!("/2.0/repositories/acme/{repo}")))
        .and(header("authorization", format!("Bearer {access}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(fake)
        .await;
    let post = |path: String, body: Value| {
        let cookie = cookie.clone();
        async move { web(reqwest::Method::POST, &path, Some(&body), Some(&cookie)).await }
    };

    // Identity and tokens are the session's: a body may not claim them.
    for field in ["userId", "scmToken", "scmRefreshToken", "scmUserId"] {
        let mut claim = json!({"repoOwner": "acme", "repoName": repo});
        claim[field] = json!("someone-else");
        let a = post("/sessions".into(), claim).await;
        assert_eq!(a.status, 400, "{field}: {}", a.body);
        assert_eq!(
            a.json()["error"],
            format!("Field '{field}' is not accepted from verified callers")
        );
    }
    let a = post(
        "/sessions".into(),
        json!({"repoOwner": "acme", "repoName": repo}),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.json()["sessionId"].as_str().unwrap().to_string();
    let c = client();
    let people = c.get(&format!("/sessions/{id}/participants")).await;
    assert_eq!(people.body["participants"][0]["userId"], user_id.as_str());

    // A prompt is the user's, and the sandbox clones with the user's stored token.
    let a = post(
        format!("/sessions/{id}/prompt"),
        json!({"content": "hello"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (_, spawn) = common::sandbox::wait_for_spawns(fake, &id, 1, 20).await;
    assert_eq!(spawn["clone_username"], "x-token-auth");
    assert!(spawn["clone_token"].as_str().unwrap().starts_with("oig1."));
    assert!(!spawn.to_string().contains(access.as_str()));
    let messages = c.get(&format!("/sessions/{id}/messages")).await;
    assert_eq!(messages.body["messages"][0]["authorId"], user_id.as_str());
    let a = post(
        format!("/sessions/{id}/prompt"),
        json!({"content": "x", "authorId": "eve"}),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = post(format!("/sessions/{id}/ws-token"), json!({})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.json()["token"].is_string());

    // A provider the user has not connected: they are told which account to connect.
    let gh = json!({"repoOwner": "acme", "repoName": "web", "vcsProvider": "github"});
    let a = post("/sessions".into(), gh).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(a.json()["code"], "reauth_required");
    assert!(a.json()["error"]
        .as_str()
        .unwrap()
        .contains("connect your GitHub account"));

    // Their repositories are their own, whatever the user headers say.
    common::bitbucket::mount_repos(fake, &access, "acme-team", 3).await;
    let mut req = reqwest::Client::new()
        .get(c.url("/repos"))
        .header("x-vcs-provider", "bitbucket")
        .header("x-user-id", "someone-else")
        .header("cookie", &cookie);
    req = Sig1::now("web").sign(req, None);
    let r = c.send(req).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["repos"].as_array().unwrap().len(), 3);

    // A secret saved from the settings page: the signed body is the one read.
    let secret = json!({"secrets": {"SIGNED_IN_KEY": "value-1"}});
    let a = web(
        reqwest::Method::PUT,
        "/secrets",
        Some(&secret),
        Some(&cookie),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = web(reqwest::Method::GET, "/secrets", None, Some(&cookie)).await;
    assert!(
        a.body.contains("SIGNED_IN_KEY") && !a.body.contains("value-1"),
        "{}",
        a.body
    );

    // The web app's signature without a signed-in user is not enough.
    let a = web(reqwest::Method::GET, "/sessions", None, None).await;
    assert_eq!(a.status, 401, "{}", a.body);
    let a = web(reqwest::Method::GET, "/sessions", None, Some(&cookie)).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

/// Fakes GitHub's side of one sign-in: the code → a grant, a new account (a fresh id and
/// login) and its verified primary `email`. Answers the access token.
async fn github_account(code: &str, email: &str) -> String {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    let fake = &shared().fake;
    let access = unique("ghu-signin");
    Mock::given(method("POST"))
        .and(path("/github-oauth/access_token"))
        .and(body_string_contains(format!("code={code}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": access, "token_type": "bearer", "scope": "",
            "expires_in": 28800, "refresh_token": unique("ghr-signin"),
            "refresh_token_expires_in": 15897600
        })))
        .mount(fake)
        .await;
    let mut user = fixture("github", "user.json");
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    user["id"] = json!(now_ms() * 1000 + n);
    user["login"] = json!(unique("octo"));
    let bearer = format!("Bearer {access}");
    Mock::given(method("GET"))
        .and(path("/github/user"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(user))
        .mount(fake)
        .await;
    let emails = json!([{"email": email, "primary": true, "verified": true}]);
    Mock::given(method("GET"))
        .and(path("/github/user/emails"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(emails))
        .mount(fake)
        .await;
    access
}

/// Signs a new GitHub user in: their session cookie and user id.
async fn signed_in_github() -> (String, String) {
    let (authorize, flow) = start("github").await;
    let code = unique("code-gh-user");
    github_account(&code, "gh@example.com").await;
    let state = param(&authorize, "state");
    let a = callback("github", &format!("code={code}&state={state}"), Some(&flow)).await;
    assert_eq!(a.status, 302, "{}", a.body);
    let cookie = a.cookie("__Secure-openinspect.session_token").unwrap();
    let id = get_session(&cookie).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    (cookie, id)
}

/// Starts connecting `provider` for the user of `cookie`: the authorize URL's state and
/// the cookies to send back (the session's and the flow's).
async fn start_link(provider: &str, cookie: &str) -> (String, String) {
    let body = json!({"provider": provider, "callbackURL": "/settings", "disableRedirect": true});
    let a = web(
        reqwest::Method::POST,
        "/api/auth/link-social",
        Some(&body),
        Some(cookie),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let url = url::Url::parse(a.json()["url"].as_str().unwrap()).unwrap();
    let flow = a.cookie("__Secure-openinspect.state").unwrap();
    (param(&url, "state"), format!("{cookie}; {flow}"))
}

#[tokio::test]
async fn a_user_connects_and_disconnects_a_bitbucket_account() {
    let (cookie, user_id) = signed_in_github().await;
    let fake = &shared().fake;
    // Linking needs a signed-in user.
    let body = json!({"provider": "bitbucket", "callbackURL": "/"});
    let a = web(
        reqwest::Method::POST,
        "/api/auth/link-social",
        Some(&body),
        None,
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.body);

    let (state, both) = start_link("bitbucket", &cookie).await;
    let code = unique("code-link");
    let access = bitbucket_account(&code, "gh@example.com", &["acme-team"], false).await;
    let a = callback(
        "bitbucket",
        &format!("code={code}&state={state}"),
        Some(&both),
    )
    .await;
    assert_eq!(
        (a.status, a.location()),
        (302, format!("{WEB}/settings")),
        "{}",
        a.body
    );
    assert!(
        a.cookie("__Secure-openinspect.session_token").is_none(),
        "the same session"
    );

    let list = |cookie: String| async move {
        let a = web(
            reqwest::Method::GET,
            "/api/auth/list-accounts",
            None,
            Some(&cookie),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.json()
    };
    let accounts = list(cookie.clone()).await;
    let providers: Vec<&str> = accounts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["providerId"].as_str().unwrap())
        .collect();
    assert_eq!(providers, vec!["github", "bitbucket"]);
    assert_eq!(accounts[1]["login"], "brydzewski");
    assert_eq!(accounts[1]["userId"], user_id.as_str());
    assert_eq!(accounts[1]["reauthRequired"], false);
    assert_eq!(
        get_session(&cookie).await["user"]["reauthRequired"],
        json!([])
    );

    // Bitbucket refuses the token: the account must be connected again, and says so.
    Mock::given(method("GET"))
        .and(path("/2.0/user/workspaces"))
        .and(header("authorization", format!("Bearer {access}").as_str()))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(
                json!({"type": "error", "error": {"message": "Access token expired"}}),
            ),
        )
        .with_priority(1)
        .mount(fake)
        .await;
    let c = client();
    let mut req = reqwest::Client::new()
        .get(c.url("/repos"))
        .header("x-vcs-provider", "bitbucket")
        .header("cookie", &cookie);
    req = Sig1::now("web").sign(req, None);
    assert_eq!(c.send(req).await.code(), "reauth_required");
    assert_eq!(
        get_session(&cookie).await["user"]["reauthRequired"],
        json!(["bitbucket"])
    );
    assert_eq!(list(cookie.clone()).await[1]["reauthRequired"], true);
    let bb = json!({"repoOwner": "acme", "repoName": "web", "vcsProvider": "bitbucket"});
    let a = web(reqwest::Method::POST, "/sessions", Some(&bb), Some(&cookie)).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(a.json()["error"]
        .as_str()
        .unwrap()
        .contains("connect your Bitbucket account again"));

    // Disconnecting discards the account and its tokens; the last account stays.
    let unlink = |body: Value| {
        let cookie = cookie.clone();
        async move {
            web(
                reqwest::Method::POST,
                "/api/auth/unlink-account",
                Some(&body),
                Some(&cookie),
            )
            .await
        }
    };
    assert_eq!(unlink(json!({"providerId": "gitlab"})).await.status, 400);
    let a = unlink(json!({"providerId": "bitbucket"})).await;
    assert_eq!((a.status, a.json()), (200, json!({"status": true})));
    assert_eq!(list(cookie.clone()).await.as_array().unwrap().len(), 1);
    // A change with the user's cookie from another site is refused.
    let c = client();
    let cross = reqwest::Client::new()
        .post(c.url("/api/auth/unlink-account"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example");
    let body = json!({"providerId": "github"});
    let r = c.send(Sig1::now("web").sign(cross, Some(&body))).await;
    assert_eq!((r.status, r.code()), (403, "invalid_origin"));
    assert_eq!(
        get_session(&cookie).await["user"]["reauthRequired"],
        json!([])
    );
    let a = unlink(json!({"providerId": "github"})).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.json()["error"], "You can't unlink your last account");
}

#[tokio::test]
async fn another_users_account_is_not_connected() {
    // A Bitbucket account signs in as its own user first.
    let account = unique("557058:taken");
    let (authorize, flow) = start("bitbucket").await;
    let code = unique("code-owner");
    bitbucket_account_as(&account, &code, "own@example.com", &["acme-team"], false).await;
    let state = param(&authorize, "state");
    let a = callback(
        "bitbucket",
        &format!("code={code}&state={state}"),
        Some(&flow),
    )
    .await;
    assert_eq!(a.status, 302, "{}", a.body);

    // Someone else may not connect it to theirs.
    let (cookie, _) = signed_in_github().await;
    let (state, both) = start_link("bitbucket", &cookie).await;
    let code = unique("code-thief");
    bitbucket_account_as(&account, &code, "own@example.com", &["acme-team"], false).await;
    let a = callback(
        "bitbucket",
        &format!("code={code}&state={state}"),
        Some(&both),
    )
    .await;
    let (code, message) = a.error();
    assert_eq!(code, "account_already_linked");
    assert!(message.contains("connected to another user"), "{message}");
    // A link flow finished in a browser whose session is gone is refused too.
    let (state, both) = start_link("bitbucket", &cookie).await;
    let flow_only = both.split("; ").nth(1).unwrap().to_string();
    let code = unique("code-nosession");
    bitbucket_account(&code, "x@example.com", &["acme-team"], false).await;
    let a = callback(
        "bitbucket",
        &format!("code={code}&state={state}"),
        Some(&flow_only),
    )
    .await;
    assert_eq!(a.error().0, "state_mismatch");
}

#[tokio::test]
async fn a_google_user_signs_in_with_a_verified_address() {
    let (authorize, flow) = start("google").await;
    let fake = &shared().fake;
    assert_eq!(authorize.path(), "/google/authorize");
    assert_eq!(param(&authorize, "client_id"), "test-google-client");
    assert_eq!(param(&authorize, "scope"), "email profile openid");
    assert_eq!(
        param(&authorize, "redirect_uri"),
        format!("{WEB}/api/auth/callback/google")
    );
    let challenge = param(&authorize, "code_challenge");
    let person = |verified: bool| {
        let (code, access) = (unique("code-google"), unique("ya29"));
        let info = json!({"sub": unique("sub"), "name": "Grace", "email": "grace@example.com",
                          "email_verified": verified, "picture": "https://example.com/g.png"});
        async move {
            Mock::given(method("POST"))
                .and(path("/google/token"))
                .and(body_string_contains(format!("code={code}")))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                    "access_token": access, "expires_in": 3599, "token_type": "Bearer",
                    "scope": "openid email profile", "id_token": "not-read"
                })))
                .mount(fake)
                .await;
            Mock::given(method("GET"))
                .and(path("/google/userinfo"))
                .and(header("authorization", format!("Bearer {access}").as_str()))
                .respond_with(ResponseTemplate::new(200).set_body_json(info))
                .mount(fake)
                .await;
            code
        }
    };
    let code = person(true).await;
    let state = param(&authorize, "state");
    let a = callback("google", &format!("code={code}&state={state}"), Some(&flow)).await;
    assert_eq!(a.status, 302, "{}", a.body);
    let exchange = common::requests(fake, |r| {
        r.url.path() == "/google/token" && String::from_utf8_lossy(&r.body).contains(&code)
    })
    .await;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&exchange[0].body)
        .into_owned()
        .collect();
    let verifier = &form.iter().find(|(k, _)| k == "code_verifier").unwrap().1;
    let derived = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier));
    assert_eq!(derived, challenge);
    let cookie = a.cookie("__Secure-openinspect.session_token").unwrap();
    let s = get_session(&cookie).await;
    assert_eq!(s["user"]["email"], "grace@example.com");
    assert_eq!(s["user"]["image"], "https://example.com/g.png");
    // Google holds no repositories: a session needs a connected forge.
    let body = json!({"repoOwner": "acme", "repoName": "web"});
    let a = web(
        reqwest::Method::POST,
        "/sessions",
        Some(&body),
        Some(&cookie),
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(a.json()["error"]
        .as_str()
        .unwrap()
        .contains("connect your Bitbucket account"));

    // An address Google has not verified admits no one.
    let (authorize, flow) = start("google").await;
    let code = person(false).await;
    let state = param(&authorize, "state");
    let a = callback("google", &format!("code={code}&state={state}"), Some(&flow)).await;
    let (code, message) = a.error();
    assert_eq!(code, "access_denied");
    assert!(message.contains("not admitted"), "{message}");
}

#[tokio::test]
async fn a_users_keyboard_shortcuts_are_their_own() {
    let (cookie, _, _) = signed_in_bitbucket("keys@example.com").await;
    let call = |method: reqwest::Method, body: Option<Value>| {
        let cookie = cookie.clone();
        async move { web(method, "/keyboard-shortcuts", body.as_ref(), Some(&cookie)).await }
    };
    // Open-Inspect's defaults until the user saves theirs.
    let a = call(reqwest::Method::GET, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.json()["shortcuts"]["open-command-menu"],
        json!({"code": "KeyK", "primary": true, "alt": false, "shift": false})
    );
    let mut mine = a.json();
    mine["shortcuts"]["toggle-sidebar"] =
        json!({"code": "KeyB", "primary": true, "alt": false, "shift": true});
    let a = call(reqwest::Method::PUT, Some(mine.clone())).await;
    assert_eq!((a.status, a.json()), (200, mine.clone()), "{}", a.body);
    assert_eq!(call(reqwest::Method::GET, None).await.json(), mine);

    // Two actions on one key, a modifier alone, a missing action: refused, nothing saved.
    let mut twice = mine.clone();
    twice["shortcuts"]["new-session"] = twice["shortcuts"]["send-prompt"].clone();
    let mut modifier = mine.clone();
    modifier["shortcuts"]["new-session"] =
        json!({"code": "ShiftLeft", "primary": true, "alt": false, "shift": false});
    let mut missing = mine.clone();
    missing["shortcuts"]
        .as_object_mut()
        .unwrap()
        .remove("send-prompt");
    for bad in [twice, modifier, missing] {
        let a = call(reqwest::Method::PUT, Some(bad)).await;
        assert_eq!(a.status, 400, "{}", a.body);
        assert_eq!(a.json()["error"], "Invalid keyboard shortcuts");
    }
    assert_eq!(call(reqwest::Method::GET, None).await.json(), mine);

    // Another user has the defaults; a caller who is no user has none.
    let (other, _, _) = signed_in_bitbucket("keys2@example.com").await;
    let a = web(
        reqwest::Method::GET,
        "/keyboard-shortcuts",
        None,
        Some(&other),
    )
    .await;
    assert_eq!(a.json()["shortcuts"]["toggle-sidebar"]["code"], "Slash");
    let r = client().get("/keyboard-shortcuts").await;
    assert_eq!(r.status, 403, "{}", r.body);
}
