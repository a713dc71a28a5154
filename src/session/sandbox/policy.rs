//! The sandbox lifecycle as a pure decision: given what the session knows about its
//! sandbox, its queue and its clients at a moment, what to do next (spawn, send the next
//! prompt, stop a prompt that ran too long, mark stale, fail a stuck start, shut down) and
//! when to look again.

pub use crate::session::model::SandboxStatus as Status;

/// The durations that drive the lifecycle (configurable; these are the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub heartbeat_ms: i64,
    pub connect_ms: i64,
    pub idle_ms: i64,
    pub spawn_cooldown_ms: i64,
    /// How long a ready sandbox whose socket closed may take to reconnect while work waits
    /// for it (its bridge retries with a growing backoff); then it is given up.
    pub reconnect_ms: i64,
    /// The longest a prompt may run (a sandbox that keeps its heartbeat while its agent
    /// hangs would otherwise hold the queue for good).
    pub execution_ms: i64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            heartbeat_ms: 90_000,
            connect_ms: 120_000,
            idle_ms: 10 * 60_000,
            spawn_cooldown_ms: 10_000,
            reconnect_ms: 30_000,
            execution_ms: 2 * 3600 * 1000,
        }
    }
}

/// Permanent spawn failures within this window...
pub const FAILURE_WINDOW_MS: i64 = 5 * 60_000;
/// ...this many of them stop retries until the next prompt.
pub const MAX_PERMANENT_FAILURES: usize = 3;

/// What the session knows at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub status: Status,
    pub status_since: i64,
    pub last_heartbeat: Option<i64>,
    pub last_activity: Option<i64>,
    pub socket_connected: bool,
    /// When the current sandbox's socket closed (not replaced by a new one), if it has not
    /// connected again.
    pub disconnected_at: Option<i64>,
    pub clients: usize,
    pub pending: usize,
    /// When the running prompt started, if one runs.
    pub processing_since: Option<i64>,
    /// A pull request (its push) is under way.
    pub busy: bool,
    pub last_failure_at: Option<i64>,
    /// Retries stopped after too many permanent failures (until the next prompt).
    pub blocked: bool,
}

/// One thing the lifecycle does now; the runner carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Start a sandbox through the provider API (prompts wait and none is up).
    Spawn,
    /// Send the next pending prompt to the connected, idle sandbox.
    SendNext,
    /// The running prompt ran past the execution timeout: stop it (the queue moves on).
    TimeOut,
    /// Heartbeats stopped: fail the running prompt and drop the socket.
    MarkStale,
    /// The sandbox did not connect in time after a spawn.
    FailConnecting,
    /// Nobody needs the sandbox any more: shut it down.
    Shutdown,
}

/// The sandbox lifecycle in one decision: the step due now, if any, else when to look
/// again (the alarm's deadline). Pure: the same snapshot and time give the same answer.
pub fn plan(s: &Snapshot, t: &Timeouts, now: i64) -> (Option<Step>, Option<i64>) {
    let timed_out_at = s.processing_since.map(|at| at + t.execution_ms);
    match timed_out_at {
        Some(due) if now >= due => (Some(Step::TimeOut), None),
        _ => match plan_sandbox(s, t, now) {
            (None, wake) => (None, earliest(wake, timed_out_at)),
            due => due,
        },
    }
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// [`plan`] for the sandbox's own state.
fn plan_sandbox(s: &Snapshot, t: &Timeouts, now: i64) -> (Option<Step>, Option<i64>) {
    let processing = s.processing_since.is_some();
    match s.status {
        Status::Ready => {
            let heartbeat_due = s
                .last_heartbeat
                .unwrap_or(s.status_since)
                .max(s.status_since)
                + t.heartbeat_ms;
            if now >= heartbeat_due {
                return (Some(Step::MarkStale), None);
            }
            // Work waits for a sandbox that went away: it has a while to reconnect.
            let waiting = processing || s.pending > 0;
            let given_up_at = s
                .disconnected_at
                .filter(|_| waiting)
                .map(|at| at + t.reconnect_ms);
            if given_up_at.is_some_and(|due| now >= due) {
                return (Some(Step::MarkStale), None);
            }
            let idle = s.clients == 0 && !processing && !s.busy && s.pending == 0;
            let idle_due = s
                .last_activity
                .unwrap_or(s.status_since)
                .max(s.status_since)
                + t.idle_ms;
            if idle && now >= idle_due {
                return (Some(Step::Shutdown), None);
            }
            if s.socket_connected && !processing && s.pending > 0 {
                return (Some(Step::SendNext), None);
            }
            let wake = if idle {
                heartbeat_due.min(idle_due)
            } else {
                heartbeat_due
            };
            (None, earliest(Some(wake), given_up_at))
        }
        Status::Spawning | Status::Connecting => {
            let due = s.status_since + t.connect_ms;
            if now >= due {
                (Some(Step::FailConnecting), None)
            } else {
                (None, Some(due))
            }
        }
        Status::None | Status::Stale | Status::Failed | Status::Stopped => {
            if s.pending == 0 || s.blocked {
                return (None, None);
            }
            let ready_at = s.last_failure_at.map_or(now, |f| f + t.spawn_cooldown_ms);
            if now >= ready_at {
                (Some(Step::Spawn), None)
            } else {
                (None, Some(ready_at))
            }
        }
    }
}

/// Whether a client leaving calls for a new plan: only when none is left and the sandbox
/// is ready (its idle countdown starts); in every other state clients do not count.
pub fn replan_on_leave(status: Status, clients_left: usize) -> bool {
    status == Status::Ready && clients_left == 0
}

/// Whether a sandbox should be started ahead of a prompt (someone is typing): none is up
/// or coming, retries are not on hold, and a failure's cooldown has passed.
pub fn should_warm(s: &Snapshot, t: &Timeouts, now: i64) -> bool {
    s.status.is_down()
        && !s.blocked
        && s.last_failure_at
            .is_none_or(|f| now >= f + t.spawn_cooldown_ms)
}

/// Whether retries stop: enough permanent failures (times given) within the window.
pub fn should_block(permanent_failures: &[i64], now: i64) -> bool {
    permanent_failures
        .iter()
        .filter(|at| now - **at < FAILURE_WINDOW_MS)
        .count()
        >= MAX_PERMANENT_FAILURES
}

/// Whether the sandbox may hold work not yet pushed: a prompt completed after the session's
/// own last push (or it never pushed).
pub fn has_unpushed_work(last_completed_at: Option<i64>, own_push_at: Option<i64>) -> bool {
    match (last_completed_at, own_push_at) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(done), Some(pushed)) => done > pushed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_unpushed_when_a_prompt_completed_after_the_last_push() {
        assert!(!has_unpushed_work(None, None));
        assert!(!has_unpushed_work(None, Some(5)));
        assert!(has_unpushed_work(Some(5), None));
        assert!(has_unpushed_work(Some(6), Some(5)));
        assert!(!has_unpushed_work(Some(5), Some(6)));
    }

    const T: Timeouts = Timeouts {
        heartbeat_ms: 90_000,
        connect_ms: 120_000,
        idle_ms: 600_000,
        spawn_cooldown_ms: 10_000,
        reconnect_ms: 30_000,
        execution_ms: 7_200_000,
    };

    fn snap(status: Status) -> Snapshot {
        Snapshot {
            status,
            status_since: 0,
            last_heartbeat: None,
            last_activity: None,
            socket_connected: true,
            disconnected_at: None,
            clients: 1,
            pending: 0,
            processing_since: None,
            busy: false,
            last_failure_at: None,
            blocked: false,
        }
    }

    #[test]
    fn first_prompt_spawns_and_waits_out_the_cooldown_after_a_failure() {
        let mut s = snap(Status::None);
        assert_eq!(plan(&s, &T, 5), (None, None));
        s.pending = 1;
        assert_eq!(plan(&s, &T, 5), (Some(Step::Spawn), None));
        s.status = Status::Failed;
        s.last_failure_at = Some(100);
        assert_eq!(plan(&s, &T, 5_000), (None, Some(10_100)));
        assert_eq!(plan(&s, &T, 10_100), (Some(Step::Spawn), None));
        s.blocked = true;
        assert_eq!(plan(&s, &T, 99_999), (None, None));
    }

    #[test]
    fn ready_sandbox_gets_the_next_prompt_one_at_a_time() {
        let mut s = snap(Status::Ready);
        s.pending = 2;
        assert_eq!(plan(&s, &T, 10).0, Some(Step::SendNext));
        s.processing_since = Some(5);
        assert_eq!(plan(&s, &T, 10), (None, Some(90_000)));
        s.processing_since = None;
        s.socket_connected = false;
        assert_eq!(plan(&s, &T, 10).0, None, "no socket, nothing to send on");
    }

    #[test]
    fn missed_heartbeats_make_the_sandbox_stale() {
        let mut s = snap(Status::Ready);
        s.last_heartbeat = Some(1_000);
        assert_eq!(plan(&s, &T, 90_999).0, None);
        assert_eq!(plan(&s, &T, 91_000).0, Some(Step::MarkStale));
    }

    #[test]
    fn a_prompt_running_past_the_execution_timeout_is_stopped() {
        let mut s = snap(Status::Ready);
        s.last_heartbeat = Some(7_000_000);
        s.processing_since = Some(1_000);
        assert_eq!(
            plan(&s, &T, 7_000_000),
            (None, Some(7_090_000)),
            "heartbeat first"
        );
        s.last_heartbeat = Some(7_150_000);
        assert_eq!(plan(&s, &T, 7_200_000), (None, Some(7_201_000)));
        assert_eq!(plan(&s, &T, 7_201_000), (Some(Step::TimeOut), None));
        // Whatever the sandbox's state: a prompt never runs for good.
        s.status = Status::Stale;
        assert_eq!(plan(&s, &T, 7_201_000), (Some(Step::TimeOut), None));
        assert_eq!(plan(&s, &T, 5_000), (None, Some(7_201_000)));
    }

    #[test]
    fn a_sandbox_gone_while_work_waits_has_a_while_to_reconnect() {
        let mut s = snap(Status::Ready);
        s.last_heartbeat = Some(1_000);
        s.socket_connected = false;
        s.disconnected_at = Some(2_000);
        assert_eq!(plan(&s, &T, 3_000), (None, Some(91_000)), "no work waits");
        s.pending = 1;
        assert_eq!(plan(&s, &T, 3_000), (None, Some(32_000)));
        assert_eq!(plan(&s, &T, 32_000), (Some(Step::MarkStale), None));
        s.pending = 0;
        s.processing_since = Some(1_500);
        assert_eq!(plan(&s, &T, 32_000), (Some(Step::MarkStale), None));
        s.disconnected_at = None;
        assert_eq!(plan(&s, &T, 32_000), (None, Some(91_000)), "it came back");
    }

    #[test]
    fn stuck_starts_fail() {
        let mut s = snap(Status::Connecting);
        s.status_since = 1_000;
        assert_eq!(plan(&s, &T, 2_000), (None, Some(121_000)));
        assert_eq!(plan(&s, &T, 121_000).0, Some(Step::FailConnecting));
        s.status = Status::Spawning;
        assert_eq!(plan(&s, &T, 121_000).0, Some(Step::FailConnecting));
    }

    #[test]
    fn idle_without_clients_shuts_down() {
        let mut s = snap(Status::Ready);
        s.last_heartbeat = Some(590_000);
        s.last_activity = Some(0);
        assert_eq!(plan(&s, &T, 600_000).0, None, "a client is connected");
        s.clients = 0;
        assert_eq!(plan(&s, &T, 599_999), (None, Some(600_000)));
        assert_eq!(plan(&s, &T, 600_000).0, Some(Step::Shutdown));
        s.processing_since = Some(590_000);
        assert_eq!(plan(&s, &T, 600_000).0, None, "busy is not idle");
        s.processing_since = None;
        s.busy = true;
        assert_eq!(
            plan(&s, &T, 600_000).0,
            None,
            "a push under way is not idle"
        );
    }

    #[test]
    fn only_the_last_client_of_a_ready_sandbox_leaving_replans() {
        assert!(replan_on_leave(Status::Ready, 0));
        assert!(!replan_on_leave(Status::Ready, 1), "others remain");
        for status in [
            Status::None,
            Status::Spawning,
            Status::Connecting,
            Status::Stale,
            Status::Failed,
            Status::Stopped,
        ] {
            assert!(!replan_on_leave(status, 0), "{status:?}");
        }
        // Where clients do not count, the plan is the same with or without them.
        for status in [Status::None, Status::Connecting, Status::Stopped] {
            let mut s = snap(status);
            s.pending = 1;
            let with = plan(&s, &T, 5_000);
            s.clients = 0;
            assert_eq!(plan(&s, &T, 5_000), with, "{status:?}");
        }
    }

    #[test]
    fn typing_warms_only_a_sandbox_that_is_down() {
        let mut s = snap(Status::None);
        assert!(should_warm(&s, &T, 0));
        for up in [Status::Spawning, Status::Connecting, Status::Ready] {
            s.status = up;
            assert!(!should_warm(&s, &T, 0), "{up:?}");
        }
        s.status = Status::Failed;
        s.last_failure_at = Some(100);
        assert!(!should_warm(&s, &T, 5_000), "cooldown");
        assert!(should_warm(&s, &T, 10_100));
        s.blocked = true;
        assert!(!should_warm(&s, &T, 99_999), "retries on hold");
    }

    #[test]
    fn three_permanent_failures_in_five_minutes_block() {
        assert!(!should_block(&[0, 1], 2));
        assert!(should_block(&[0, 1, 2], 3));
        assert!(!should_block(&[0, 1, 2], FAILURE_WINDOW_MS + 1));
    }

    #[test]
    fn status_names_round_trip() {
        for s in [
            Status::None,
            Status::Spawning,
            Status::Connecting,
            Status::Ready,
            Status::Stale,
            Status::Failed,
            Status::Stopped,
        ] {
            let stored = serde_json::to_value(s).unwrap();
            assert_eq!(stored, s.as_str());
            assert_eq!(Status::parse(stored.as_str().unwrap()), Some(s));
        }
    }
}
