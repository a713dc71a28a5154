//! Git through the control plane, end to end: a real git client plays the sandbox against
//! `wrangler dev`, which reaches a fake forge serving real repositories (`git http-backend`).
//! The sandbox holds only a ticket (spawn request, `scm-credentials`, push remote): it clones
//! and fetches the session's repository and nothing else, pushes only where the session may,
//! and never sees the Bitbucket bot's API token or a user's OAuth token. This binary runs in
//! Open-Inspect's model (`REPO_ACCESS=deployment`) with a Bitbucket bot and no GitHub App, so
//! Bitbucket traffic carries the bot's right and GitHub traffic the prompting user's.

mod common;

use std::time::Duration;

use common::git::{clone_url, Forge, Sandbox};
use common::sandbox::*;
use common::{now_ms, shared_with, temp_dir, unique, Client, Shared};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

const BOT: &str = "git-bot";
const BOT_TOKEN: &str = "GIT-BOT-API-TOKEN-NEVER-IN-A-SANDBOX";

fn shared() -> &'static Shared {
    shared_with(&[
        ("BITBUCKET_BOT_USERNAME", BOT),
        ("BITBUCKET_BOT_API_TOKEN", BOT_TOKEN),
    ])
}

/// The fake Bitbucket's git (at the server's root) and the fake GitHub's (`/gh-git`).
async fn forges() -> &'static (Forge, Forge) {
    static FORGES: OnceCell<(Forge, Forge)> = OnceCell::const_new();
    FORGES
        .get_or_init(|| async {
            let sh = shared();
            let dir = temp_dir("forges");
            let bitbucket = Forge::new(dir.join("bitbucket"), "");
            let github = Forge::new(dir.join("github"), "/gh-git");
            bitbucket.mount(&sh.fake).await;
            github.mount(&sh.fake).await;
            (bitbucket, github)
        })
        .await
}

/// The sandbox routes' bearer call.
async fn scm_credentials(c: &Client, session: &str, token: &str) -> common::Reply {
    c.send(
        c.http
            .post(c.url(&format!("/sessions/{session}/scm-credentials")))
            .bearer_auth(token),
    )
    .await
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_bitbucket_sandbox_clones_only_its_repository_and_pushes_only_where_it_may() {
    let sh = shared();
    let (forge, _) = forges().await;
    let c = sh.worker.client();
    let (web, payroll) = (unique("web"), unique("payroll"));
    let bot = format!("{BOT}:{BOT_TOKEN}");
    // The bot reaches every repository of the workspace, as a Bitbucket bot does.
    forge.repo("acme", &web, &[&bot]);
    forge.repo("acme", &payroll, &[&bot]);
    let user = unique("git-user");
    let user_token = unique("AT-git");
    let id = c
        .create_session(
            &user,
            json!({"repoName": web, "scmToken": user_token,
                   "scmTokenExpiresAt": now_ms() + 3_600_000}),
        )
        .await;
    let (_ws, spawn) = start_working(&sh.worker, &sh.fake, &id, &user).await;

    // The spawn request carries a ticket for the control plane's git, and no forge secret.
    let spawn_text = spawn.to_string();
    assert!(!spawn_text.contains(BOT_TOKEN), "{spawn_text}");
    assert!(!spawn_text.contains(&user_token), "{spawn_text}");
    let host = format!("127.0.0.1:{}", sh.worker.port);
    assert_eq!(spawn["vcs_host"], host.as_str());
    assert_eq!(spawn["clone_username"], "x-token-auth");
    let ticket = text(&spawn["clone_token"]);
    assert!(ticket.starts_with("oig1."), "{ticket}");

    // As the older bridge clones: https://{user}:{token}@{VCS_HOST}/{owner}/{name}.git.
    let sandbox = Sandbox::new(temp_dir(&format!("git-sandbox-{web}")));
    let url = clone_url(&host, "x-token-auth", &ticket, "acme", &web);
    let (ok, out) = sandbox.git(&["clone", "-q", &url, "work"]);
    assert!(ok, "{out}");
    assert!(sandbox.dir.join("work/README.md").exists());
    let seen = forge.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(repo, _, creds)| repo == &format!("acme/{web}") && creds == &bot),
        "the control plane added the bot's credentials: {seen:?}"
    );

    // Another repository of the same workspace: refused by us, never asked of the forge.
    let other = clone_url(&host, "x-token-auth", &ticket, "acme", &payroll);
    let (ok, out) = sandbox.git(&["clone", "-q", &other, "payroll"]);
    assert!(!ok, "{out}");
    assert!(out.contains("403"), "{out}");
    assert!(!forge
        .seen
        .lock()
        .unwrap()
        .iter()
        .any(|(repo, _, _)| repo == &format!("acme/{payroll}")));
    // A made-up ticket is challenged, so git reports failed authentication.
    let forged = clone_url(&host, "x-token-auth", "oig1.e30.AAAA", "acme", &web);
    let (ok, out) = sandbox.git(&["clone", "-q", &forged, "forged"]);
    assert!(!ok && out.contains("Authentication failed"), "{out}");

    // As the current runtime's credential helper asks: a ticket, not the bot's token.
    let token = text(&spawn["sandbox_auth_token"]);
    let r = scm_credentials(&c, &id, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let password = text(&r.body["password"]);
    assert!(password.starts_with("oig1.") && !r.body.to_string().contains(BOT_TOKEN));
    let expires = r.body["expires_at_epoch_ms"].as_i64().unwrap();
    assert!(expires > now_ms() && expires <= now_ms() + 3_600_000);
    let (ok, out) = sandbox.git(&[
        "clone",
        "-q",
        &clone_url(&host, "x-token-auth", &password, "acme", &web),
        "again",
    ]);
    assert!(ok, "{out}");

    // Pushes: the base, a protected-looking line and a tag are refused at the protocol level;
    // the session's own branch goes through.
    std::fs::write(sandbox.dir.join("work/fix.txt"), "fixed\n").unwrap();
    for args in [&["add", "."][..], &["commit", "-q", "-m", "fix"]] {
        let (ok, out) = sandbox.git_in("work", args);
        assert!(ok, "{out}");
    }
    for refspec in [
        "HEAD:refs/heads/main",
        "HEAD:refs/heads/release/1.0",
        "HEAD:refs/tags/v9",
    ] {
        let (ok, out) = sandbox.git_in("work", &["push", "-q", "origin", refspec]);
        assert!(!ok, "{refspec}: {out}");
        assert!(out.contains("403"), "{refspec}: {out}");
    }
    let own = format!("agent/session-{id}");
    let (ok, out) = sandbox.git_in(
        "work",
        &["push", "-q", "origin", &format!("HEAD:refs/heads/{own}")],
    );
    assert!(ok, "{out}");
    let branches = forge.branches("acme", &web);
    assert!(branches.contains(&own), "{branches:?}");
    assert!(
        !branches.iter().any(|b| b.starts_with("release")),
        "{branches:?}"
    );

    // Once the session is gone its tickets reach nothing.
    let r = c.delete(&format!("/sessions/{id}")).await;
    assert!(r.status < 300, "{}", r.body);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (ok, out) = sandbox.git_in("work", &["fetch", "-q", "origin"]);
    assert!(!ok, "{out}");
}

#[tokio::test]
async fn a_github_sandbox_reaches_only_its_repository_with_the_prompting_users_right() {
    let sh = shared();
    let (_, forge) = forges().await;
    let c = sh.worker.client();
    let (repo, other) = (unique("gh-web"), unique("gh-secret"));
    let user = unique("gh-git-user");
    let user_token = unique("gho-git");
    let creds = format!("x-access-token:{user_token}");
    // The user's own token reads both repositories at the forge.
    forge.repo("octo", &repo, &[&creds]);
    forge.repo("octo", &other, &[&creds]);
    let id = c
        .create_session(
            &user,
            json!({"repoOwner": "octo", "repoName": repo, "vcsProvider": "github",
                   "scmToken": user_token, "scmTokenExpiresAt": now_ms() + 3_600_000,
                   "scmProvider": "github", "scmName": "Mona", "scmEmail": "mona@example.com"}),
        )
        .await;
    let (_ws, spawn) = start_working(&sh.worker, &sh.fake, &id, &user).await;
    assert!(!spawn.to_string().contains(&user_token));
    assert_eq!(spawn["clone_username"], "x-access-token");
    let host = text(&spawn["vcs_host"]);
    let ticket = text(&spawn["clone_token"]);
    let sandbox = Sandbox::new(temp_dir(&format!("git-sandbox-{repo}")));
    let (ok, out) = sandbox.git(&[
        "clone",
        "-q",
        &clone_url(&host, "x-access-token", &ticket, "octo", &repo),
        "work",
    ]);
    assert!(ok, "{out}");
    assert!(forge
        .seen
        .lock()
        .unwrap()
        .iter()
        .any(|(r, _, c)| r == &format!("octo/{repo}") && c == &creds));
    let (ok, out) = sandbox.git(&[
        "clone",
        "-q",
        &clone_url(&host, "x-access-token", &ticket, "octo", &other),
        "other",
    ]);
    assert!(!ok && out.contains("403"), "{out}");
    assert!(!forge
        .seen
        .lock()
        .unwrap()
        .iter()
        .any(|(r, _, _)| r == &format!("octo/{other}")));
}

#[tokio::test]
async fn a_github_apps_git_token_is_bought_for_the_sessions_repository_only() {
    use common::github::{mount_app, APP_ID, INSTALLATION_ID, INSTALLATION_TOKEN};
    // Its own worker: the GitHub App configured, Open-Inspect's model.
    let fake = common::start_fake();
    mount_provider_ok(&fake).await;
    let (pem, public) = common::github::app_key(&temp_dir("git-app-key"));
    mount_app(&fake, public).await;
    let forge = Forge::new(temp_dir("git-app-forge"), "/gh-git");
    forge.mount(&fake).await;
    let app = format!("x-access-token:{INSTALLATION_TOKEN}");
    let (repo, other) = (unique("app-web"), unique("app-other"));
    forge.repo("octo", &repo, &[&app]);
    forge.repo("octo", &other, &[&app]);
    let root = temp_dir("git-app");
    let mut vars = common::test_vars(&fake.uri());
    vars.push(("GITHUB_APP_ID", APP_ID.into()));
    vars.push(("GITHUB_APP_INSTALLATION_ID", INSTALLATION_ID.into()));
    vars.push(("GITHUB_APP_PRIVATE_KEY", pem));
    let worker = common::Worker::start_with(&root.join("state"), &vars, Some(&root));
    let c = worker.client();
    let user = unique("app-user");
    let id = c
        .create_session(
            &user,
            json!({"repoOwner": "octo", "repoName": repo, "vcsProvider": "github",
                   "scmName": "Mona", "scmEmail": "mona@example.com"}),
        )
        .await;
    let (_ws, spawn) = start_working(&worker, &fake, &id, &user).await;
    assert!(!spawn.to_string().contains(INSTALLATION_TOKEN));
    // Git's token was bought for this one repository, with contents only.
    let scoped = common::requests(&fake, |q| {
        q.url.path().ends_with("/access_tokens")
            && serde_json::from_slice::<Value>(&q.body).ok()
                == Some(
                    json!({"repositories": [repo.as_str()], "permissions": {"contents": "write"}}),
                )
    })
    .await;
    assert_eq!(scoped.len(), 1, "one repository-scoped token");
    let host = text(&spawn["vcs_host"]);
    let ticket = text(&spawn["clone_token"]);
    let sandbox = Sandbox::new(temp_dir(&format!("git-sandbox-{repo}")));
    let url = clone_url(&host, "x-access-token", &ticket, "octo", &repo);
    let (ok, out) = sandbox.git(&["clone", "-q", &url, "work"]);
    assert!(ok, "{out}");
    let url = clone_url(&host, "x-access-token", &ticket, "octo", &other);
    let (ok, out) = sandbox.git(&["clone", "-q", &url, "other"]);
    assert!(!ok && out.contains("403"), "{out}");
    worker.stop();
}
