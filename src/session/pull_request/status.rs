//! The pull request after it was opened: the forge's webhooks (verified and routed by the
//! worker) and refreshes on request, applied by one rule (`webhooks::apply`: never back to
//! an older state), stored on the artifact and the session, indexed, and broadcast to every
//! client as `artifact_updated`. A push to the session's branch by someone else is recorded
//! as a `branch_pushed` event and holds the session's next push until a prompt has run.

use serde_json::{json, Value};
use worker::Response;

use crate::auth::credentials::Credentials;
use crate::clock::now_ms;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::respond;
use crate::raw::Object;
use crate::session::client::link::broadcast;
use crate::session::client::protocol::ServerMessage;
use crate::session::ctx::Ctx;
use crate::session::model::ArtifactRow;
use crate::session::queue;
use crate::vcs::{Client, PullRequest};
use crate::webhooks::{self, Event, PrState, PrUpdate};

/// What came of a delivery or a refresh, as answered.
fn answer(status: &str) -> ApiResult<Response> {
    respond::object(200, Object::new().field("status", status))
}

/// The session's pull request `number`: its artifact and metadata, and whether it is the
/// newest (whose state the session and the index carry).
fn pr_of(ctx: &Ctx, number: u64) -> ApiResult<Option<(ArtifactRow, Value, bool)>> {
    let found = ctx
        .store
        .pr_artifacts()?
        .into_iter()
        .enumerate()
        .find_map(|(i, art)| {
            let meta = metadata(&art);
            (meta.get("number").and_then(Value::as_u64) == Some(number)).then_some((
                art,
                meta,
                i == 0,
            ))
        });
    Ok(found)
}

fn metadata(art: &ArtifactRow) -> Value {
    match art.meta() {
        Value::Null => json!({}),
        v => v,
    }
}

/// Applies `update` to the session's pull request `number`: answers whether anything changed.
pub fn apply(ctx: &Ctx, number: u64, update: &PrUpdate) -> ApiResult<bool> {
    let Some((art, meta, newest)) = pr_of(ctx, number)? else {
        return Ok(false);
    };
    let Some(next) = webhooks::apply(&meta, update) else {
        return Ok(false);
    };
    let row = ctx.store.set_artifact_metadata(&art.id, &next)?;
    let artifact = row.json().field("prNumber", &number).into_raw();
    broadcast(ctx, &ServerMessage::ArtifactUpdated { artifact });
    // The index holds only the newest pull request's state: written when it changes.
    if newest && meta.get("state") != next.get("state") {
        ctx.store.set_pr_state(update.state, now_ms())?;
        ctx.index_later("after a pull request changed");
    }
    Ok(true)
}

/// The update a provider's answer `pr`, in state `state`, makes.
pub fn update_of(state: PrState, pr: &PullRequest) -> PrUpdate {
    PrUpdate {
        state,
        updated_at: pr.updated_at.unwrap_or_else(now_ms),
        actor: pr.closed_by.clone(),
    }
}

/// A verified delivery `delivery` about this session.
pub async fn webhook(ctx: &Ctx, delivery: &str, event: Event) -> ApiResult<Response> {
    let session = ctx.store.existing_session()?;
    let now = now_ms();
    if !ctx.store.remember_delivery(delivery, now)? {
        return answer("duplicate");
    }
    match event {
        Event::PullRequest { number, update, .. } => {
            let changed = apply(ctx, number, &update)?;
            answer(if changed { "applied" } else { "unchanged" })
        }
        Event::Push {
            branches, actor, ..
        } => {
            let Some(branch) = session
                .branch_name
                .as_deref()
                .filter(|b| branches.iter().any(|p| p == b))
            else {
                return answer("ignored");
            };
            let pushing = ctx.pr_under_way.get();
            let window = config::push_echo_window_ms(&ctx.env);
            if !webhooks::push_is_foreign(pushing, session.own_push_at, now, window) {
                return answer("own_push");
            }
            ctx.store.set_foreign_push(Some(now))?;
            let event = Object::new()
                .field("type", "branch_pushed")
                .field("branchName", branch)
                .field("actor", &actor)
                .field("timestamp", &(now as f64 / 1000.0))
                .end();
            queue::record_event(ctx, "branch_pushed", &event, None)?;
            answer("recorded")
        }
    }
}

/// How many of a session's pull requests one refresh reads at most.
const REFRESH_MAX: usize = 10;

/// `POST /sessions/{id}/pull-requests/refresh`: reads the session's newest pull request and
/// every other one still stored as open (at most [`REFRESH_MAX`]), as the current author
/// (else the owner), and applies their states like webhooks. Answers the newest one's state
/// and whether any changed.
pub async fn refresh(ctx: &Ctx) -> ApiResult<Response> {
    let session = ctx.store.existing_session()?;
    let numbers: Vec<u64> = ctx
        .store
        .pr_artifacts()?
        .iter()
        .enumerate()
        .filter_map(|(i, art)| {
            let meta = metadata(art);
            let open = meta
                .get("state")
                .and_then(Value::as_str)
                .is_none_or(|s| s == "open");
            meta.get("number")
                .and_then(Value::as_u64)
                .filter(|_| i == 0 || open)
        })
        .take(REFRESH_MAX)
        .collect();
    let Some(&newest) = numbers.first() else {
        return Err(ApiError::not_found("this session has no pull request"));
    };
    let provider = session.vcs_provider;
    let user = queue::current_author(ctx, &session)?;
    let creds = Credentials::new(&ctx.env, provider)?;
    let fresh = creds.access_token(&user).await?;
    let cfg = config::vcs(&ctx.env, provider);
    let client = Client::user(&cfg, &fresh.token);
    let (mut changed, mut newest_state) = (false, None);
    for number in numbers {
        let pr = match client
            .pull_request(&session.repo_owner, &session.repo_name, number)
            .await
        {
            Ok(pr) => pr,
            Err(e) => {
                if e.is_reauth() {
                    creds.mark_reauth(&user, fresh.version).await?;
                }
                return Err(e.into());
            }
        };
        let state = PrState::from_provider(&pr.state).ok_or_else(|| {
            ApiError::new(
                502,
                "upstream_invalid",
                format!("unexpected pull request state {:?}", pr.state),
            )
        })?;
        changed |= apply(ctx, number, &update_of(state, &pr))?;
        newest_state.get_or_insert(state);
    }
    respond::object(
        200,
        Object::new()
            .field("prNumber", &newest)
            .field("state", &newest_state)
            .field("changed", &changed),
    )
}
