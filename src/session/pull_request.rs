//! Creating the session's pull request: a fresh user token, a `push` command to the
//! sandbox (bot credentials, else the user's token, only ever in `remoteUrl`), waiting for
//! `push_complete`/`push_error`, then the pull request on Bitbucket as the user, stored as
//! an artifact and broadcast.

use futures::channel::oneshot;
use futures::future::{select, Either};
use serde_json::json;
use worker::{Delay, Response};

use crate::auth::credentials::Credentials;
use crate::auth::random;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::respond;
use crate::session::actions::existing;
use crate::session::clients;
use crate::session::command::VcsProvider;
use crate::session::model::{Listed, SessionRow};
use crate::session::object::{now_ms, SessionObject};
use crate::session::pr_request::{self, PrInput};
use crate::session::protocol::ServerMessage;
use crate::session::sandbox_link;
use crate::session::sandbox_protocol::{Outbound, PushSpec};
use crate::session::sandbox_runner;
use crate::vcs::bitbucket::requests::{self, NewPullRequest};
use crate::vcs::bitbucket::{responses, BitbucketError};
use crate::vcs::git_auth::{self, GitAuth};
use crate::vcs::{fetch, retry};

/// Authenticates a sandbox caller first, then reads and checks the request.
pub async fn create(
    obj: &SessionObject,
    body: &str,
    sandbox_token: Option<String>,
) -> ApiResult<Response> {
    if let Some(token) = sandbox_token {
        sandbox_link::authenticate(obj, None, Some(&format!("Bearer {token}")))
            .map_err(|_| ApiError::unauthorized("invalid service or sandbox token"))?;
    }
    let input: PrInput = respond::parse_body(body.as_bytes())?;
    input.validate()?;
    let session = existing(obj)?;
    if obj.store.pr_artifact()?.is_some() {
        return Err(ApiError::conflict(
            "this session already has a pull request",
        ));
    }
    if obj.pr_in_progress.replace(true) {
        return Err(ApiError::conflict(
            "a pull request is already being created for this session",
        ));
    }
    let result = run(obj, &session, input).await;
    obj.pr_in_progress.set(false);
    result
}

/// The participant the pull request is authored by: whoever's message is running, else
/// the session's owner.
fn author(obj: &SessionObject, session: &SessionRow) -> ApiResult<String> {
    Ok(obj
        .store
        .processing_message()?
        .map(|m| m.author_id)
        .unwrap_or_else(|| session.created_by.clone()))
}

async fn run(obj: &SessionObject, session: &SessionRow, input: PrInput) -> ApiResult<Response> {
    if VcsProvider::parse(&session.vcs_provider) != Some(VcsProvider::Bitbucket) {
        return Err(ApiError::new(
            501,
            "not_implemented",
            "pull requests are only available for Bitbucket",
        ));
    }
    let env = &obj.env;
    let cfg = config::bitbucket(env);
    let user = author(obj, session)?;
    let creds = Credentials::new(env, VcsProvider::Bitbucket)?;
    if creds.state(&user).await?.is_none() {
        return Err(ApiError::unauthorized(
            "the pull request's author has no stored Bitbucket credentials; sign in first",
        ));
    }
    let fresh = creds.access_token(&cfg, &user).await?;
    if sandbox_runner::socket(obj).is_none() {
        return Err(ApiError::conflict(
            "no sandbox is connected, so the branch cannot be pushed; send a prompt to start one",
        ));
    }
    let (ws, slug) = (&session.repo_owner, &session.repo_name);
    // The base: asked for, else the session's own base branch, else the repository's main.
    let base = match input.base_branch.as_ref().or(session.base_branch.as_ref()) {
        Some(b) => b.clone(),
        None => {
            let req = requests::repository(&cfg, &fresh.token, ws, slug)?;
            let resp = fetch::send_with_retry(&req, retry::RATE_LIMIT).await?;
            responses::repository(&resp)
                .map_err(pr_request::pr_error)?
                .default_branch
        }
    };
    let head = pr_request::head_branch(input.head_branch.as_deref(), &session.id, &base)?;

    push(obj, &fresh.token, ws, slug, &head).await?;

    let pr = NewPullRequest {
        title: input.title.clone(),
        description: pr_request::description(
            &input.body,
            config::secret(env, "WEB_APP_URL").as_deref(),
            &session.id,
        ),
        source_branch: head.clone(),
        destination_branch: base.clone(),
    };
    let req = requests::create_pull_request(&cfg, &fresh.token, ws, slug, &pr)?;
    let created = match fetch::send_with_retry(&req, retry::RATE_LIMIT).await {
        Ok(resp) => responses::pull_request(&resp),
        Err(e) => Err(e),
    };
    let created = match created {
        Ok(pr) => pr,
        Err(BitbucketError::Reauth(m)) => {
            creds.mark_reauth(&user, fresh.version).await?;
            return Err(BitbucketError::Reauth(m).into());
        }
        Err(e) => return Err(pr_request::pr_error(e)),
    };

    let artifact_id = random::id().map_err(|_| ApiError::internal("no randomness available"))?;
    let metadata = json!({
        "number": created.number,
        "state": created.state,
        "head": head,
        "base": base,
        "vcsProvider": "bitbucket",
    });
    let row = obj
        .store
        .insert_artifact(&artifact_id, "pr", &created.url, &metadata, now_ms())?;
    let mut artifact = row.view();
    artifact["prNumber"] = created.number.into();
    clients::broadcast(obj, &ServerMessage::ArtifactCreated { artifact });
    respond::json(
        201,
        &json!({"prNumber": created.number, "prUrl": created.url, "state": created.state}),
    )
}

/// Sends the push command and waits for the sandbox's answer for `head`.
async fn push(
    obj: &SessionObject,
    user_token: &str,
    ws: &str,
    slug: &str,
    head: &str,
) -> ApiResult<()> {
    let (bot_user, bot_token) = config::bitbucket_bot(&obj.env);
    let auth = GitAuth::choose(bot_user, bot_token, Some(user_token.to_string()))
        .ok_or_else(|| ApiError::internal("no git credentials"))?;
    let git_url = config::secret(&obj.env, "BITBUCKET_GIT_URL")
        .unwrap_or_else(|| "https://bitbucket.org".into());
    let (remote_url, redacted_remote_url) = git_auth::remote_urls(&git_url, ws, slug, &auth)
        .ok_or_else(|| ApiError::misconfigured("BITBUCKET_GIT_URL"))?;
    let command = Outbound::Push {
        push_spec: PushSpec {
            remote_url,
            redacted_remote_url,
            refspec: format!("HEAD:refs/heads/{head}"),
            target_branch: head.to_string(),
            force: true,
        },
        vcs_provider: "bitbucket".into(),
    };
    let (tx, rx) = oneshot::channel();
    obj.pushes.borrow_mut().insert(head.to_string(), tx);
    if !sandbox_runner::send(obj, &command) {
        obj.pushes.borrow_mut().remove(head);
        return Err(ApiError::conflict(
            "no sandbox is connected, so the branch cannot be pushed",
        ));
    }
    let timeout_ms = config::push_timeout_ms(&obj.env);
    let timeout = Delay::from(std::time::Duration::from_millis(timeout_ms as u64));
    let outcome = match select(rx, Box::pin(timeout)).await {
        Either::Left((Ok(result), _)) => result,
        Either::Left((Err(_), _)) => Err("the push was abandoned".to_string()),
        Either::Right(_) => {
            obj.pushes.borrow_mut().remove(head);
            return Err(ApiError::new(
                504,
                "push_timeout",
                format!(
                    "the sandbox did not report the push of {head} within {} s",
                    timeout_ms / 1000
                ),
            ));
        }
    };
    outcome.map_err(|m| {
        ApiError::new(
            502,
            "push_failed",
            format!("the sandbox could not push {head}: {m}"),
        )
    })
}

/// A `push_complete` or `push_error` from the sandbox for `branch`.
pub fn push_result(obj: &SessionObject, branch: &str, result: Result<(), String>) {
    if let Some(tx) = obj.pushes.borrow_mut().remove(branch) {
        let _ = tx.send(result);
    }
}

/// The sandbox's socket closed: every push waiting on it fails now.
pub fn sandbox_gone(obj: &SessionObject) {
    for (_, tx) in obj.pushes.borrow_mut().drain() {
        let _ = tx.send(Err("the sandbox disconnected during the push".into()));
    }
}
