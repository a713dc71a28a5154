//! The session's one alarm: runs the sandbox steps that are due, closes client sockets past
//! their subscribe deadline, and arms the alarm for the earliest next deadline of either.
//! The alarm is written only when it must move earlier: an alarm armed earlier than needed,
//! or when nothing is due any more, stays (it wakes, finds nothing due, and re-arms or not),
//! so most prompts, socket upgrades and socket closes write nothing.

use crate::clock::now_ms;
use crate::error::ApiResult;
use crate::session::client::link::expire_unsubscribed;
use crate::session::ctx::Ctx;
use crate::session::sandbox::runner;

/// What to do with the storage alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rearm {
    /// What is armed already wakes the session in time.
    Keep,
    Set(i64),
}

/// Decides the alarm from what is armed (`armed`: its time, if any) and the next deadline
/// (`next`). An armed time not after `next` and still ahead is kept; one that has passed is
/// taken as gone (it fired, or is firing and will re-arm). With nothing due, what is armed
/// stays: one wake that finds nothing costs less than a storage write now (a client that
/// connects and leaves would otherwise clear the alarm and the next one arm it again).
pub fn rearm(armed: Option<i64>, next: Option<i64>, now: i64) -> Rearm {
    match (armed, next) {
        (Some(a), Some(n)) if a <= n && a > now => Rearm::Keep,
        (_, Some(n)) => Rearm::Set(n),
        (_, None) => Rearm::Keep,
    }
}

/// The armed alarm's time, as this instance knows it (read from storage once).
async fn armed(ctx: &Ctx) -> ApiResult<Option<i64>> {
    if let Some(known) = ctx.armed.get() {
        return Ok(known);
    }
    let at = ctx.state.storage().get_alarm().await?;
    ctx.armed.set(Some(at));
    Ok(at)
}

/// Makes the alarm wake the session by `next`, writing only when it must move earlier.
async fn arm(ctx: &Ctx, next: Option<i64>) -> ApiResult<()> {
    let now = now_ms();
    let storage = ctx.state.storage();
    match rearm(armed(ctx).await?, next, now) {
        Rearm::Keep => Ok(()),
        Rearm::Set(at) => {
            storage.set_alarm((at - now).max(1)).await?;
            ctx.armed.set(Some(Some(at)));
            Ok(())
        }
    }
}

/// Makes sure the alarm wakes the session by `deadline` (a new client socket's subscribe
/// deadline), without running anything now.
pub async fn wake_by(ctx: &Ctx, deadline: i64) {
    // `rearm` keeps an alarm armed earlier and still ahead; a later one moves up to it.
    if let Err(e) = arm(ctx, Some(deadline)).await {
        ctx.error("could not arm the alarm", e);
    }
}

/// The alarm fired: what was armed is gone.
pub fn fired(ctx: &Ctx) {
    ctx.armed.set(Some(None));
}

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
    arm(ctx, next).await?;
    stepped.map(|_| ())
}

/// Runs [`schedule`], logging instead of failing the caller (whose own work is done).
pub async fn kick(ctx: &Ctx) {
    if let Err(e) = schedule(ctx).await {
        ctx.error("sandbox lifecycle step failed", e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alarm_is_written_only_when_it_must_move() {
        let now = 1_000;
        assert_eq!(rearm(None, Some(5_000), now), Rearm::Set(5_000));
        assert_eq!(rearm(Some(3_000), Some(5_000), now), Rearm::Keep);
        assert_eq!(rearm(Some(5_000), Some(5_000), now), Rearm::Keep);
        assert_eq!(rearm(Some(8_000), Some(5_000), now), Rearm::Set(5_000));
        // An armed time that has passed has fired (or is firing): arm anew.
        assert_eq!(rearm(Some(900), Some(5_000), now), Rearm::Set(5_000));
        // Nothing due: what is armed stays (a spurious wake finds nothing and stops).
        assert_eq!(rearm(Some(3_000), None, now), Rearm::Keep);
        assert_eq!(rearm(None, None, now), Rearm::Keep);
    }
}
