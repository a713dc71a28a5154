//! The session's one alarm: runs the sandbox steps that are due, closes client sockets past
//! their subscribe deadline, and arms the alarm for the earliest next deadline of either.

use crate::clock::now_ms;
use crate::error::ApiResult;
use crate::session::client::link::expire_unsubscribed;
use crate::session::ctx::Ctx;
use crate::session::sandbox::runner;

/// Runs what is due, then arms the alarm for the next deadline (sandbox or client). The
/// alarm is armed whatever the steps did, so no deadline is ever lost.
pub async fn schedule(ctx: &Ctx) -> ApiResult<()> {
    let stepped = runner::run_due(ctx).await;
    let wake = match &stepped {
        Ok(wake) => *wake,
        // Look again soon rather than never.
        Err(_) => Some(now_ms() + 5_000),
    };
    let client_wake = expire_unsubscribed(ctx, now_ms());
    let next = [wake, client_wake].into_iter().flatten().min();
    let storage = ctx.state.storage();
    match next {
        Some(at) => storage.set_alarm((at - now_ms()).max(1)).await?,
        None => storage.delete_alarm().await?,
    }
    stepped.map(|_| ())
}

/// Runs [`schedule`], logging instead of failing the caller (whose own work is done).
pub async fn kick(ctx: &Ctx) {
    if let Err(e) = schedule(ctx).await {
        ctx.error("sandbox lifecycle step failed", e);
    }
}
