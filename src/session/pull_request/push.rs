//! Pushing the session's branch through the sandbox: the `push` command (credentials only
//! in `remoteUrl`), and the in-memory waiters that the sandbox's `push_complete` /
//! `push_error` resolve. A request waits on each, so the object cannot hibernate meanwhile.

use std::cell::RefCell;
use std::collections::HashMap;

use futures::channel::oneshot;
use futures::future::{select, Either};
use worker::Delay;

use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::redact;
use crate::session::ctx::Ctx;
use crate::session::sandbox::link;
use crate::session::sandbox::protocol::{Outbound, PushSpec};
use crate::vcs::git_auth::{self, GitAuth};
use crate::vcs::VcsProvider;

/// Pushes awaiting `push_complete`/`push_error`, by branch.
#[derive(Default)]
pub struct Pushes {
    waiting: RefCell<HashMap<String, oneshot::Sender<Result<(), String>>>>,
}

impl Pushes {
    /// The sandbox's answer for `branch`.
    pub fn resolve(&self, branch: &str, result: Result<(), String>) {
        if let Some(tx) = self.waiting.borrow_mut().remove(branch) {
            let _ = tx.send(result);
        }
    }

    /// The sandbox's socket closed: every push waiting on it fails now.
    pub fn fail_all(&self, reason: &str) {
        for (_, tx) in self.waiting.borrow_mut().drain() {
            let _ = tx.send(Err(reason.to_string()));
        }
    }
}

/// Where a push goes: the control plane's git (`git_base`), with a ticket of the sandbox.
pub struct Remote<'a> {
    pub git_base: &'a str,
    pub auth: &'a GitAuth,
}

/// Sends the push command for `head` (forced only when `force`: a branch the session
/// owns) to `remote` and waits for the sandbox's answer.
pub async fn push(
    ctx: &Ctx,
    provider: VcsProvider,
    remote: Remote<'_>,
    (workspace, slug): (&str, &str),
    head: &str,
    force: bool,
) -> ApiResult<()> {
    let auth = remote.auth;
    let (remote_url, redacted_remote_url) =
        git_auth::remote_urls(remote.git_base, workspace, slug, auth)
            .ok_or_else(|| ApiError::misconfigured("CONTROL_PLANE_URL"))?;
    let command = Outbound::Push {
        push_spec: PushSpec {
            remote_url,
            redacted_remote_url,
            refspec: format!("HEAD:refs/heads/{head}"),
            target_branch: head.to_string(),
            force,
        },
        vcs_provider: provider.as_str().into(),
    };
    let (tx, rx) = oneshot::channel();
    ctx.pushes.waiting.borrow_mut().insert(head.to_string(), tx);
    if !link::send(ctx, &command) {
        ctx.pushes.waiting.borrow_mut().remove(head);
        return Err(super::not_connected());
    }
    let timeout_ms = config::push_timeout_ms(&ctx.env);
    let timeout = Delay::from(std::time::Duration::from_millis(timeout_ms as u64));
    let outcome = match select(rx, Box::pin(timeout)).await {
        Either::Left((Ok(result), _)) => result,
        Either::Left((Err(_), _)) => Err("the push was abandoned".to_string()),
        Either::Right(_) => {
            ctx.pushes.waiting.borrow_mut().remove(head);
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
        // The sandbox's text may echo the remote URL: never relay a credential.
        let known = [auth.secret(), ctx.bot_token().unwrap_or_default()];
        let m = redact::clean(&m, &known, 1_000);
        ApiError::new(
            502,
            "push_failed",
            format!("the sandbox could not push {head}: {m}"),
        )
    })
}
