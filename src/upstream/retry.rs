//! When to retry an upstream call that was rate limited: bounded exponential backoff that
//! honours `Retry-After` (or GitHub's `x-ratelimit-reset`) when present, within a number of
//! tries and a total time budget.

use super::http::HttpResponse;

/// The policy: `max_tries` attempts in all, waits of `base_ms * 2^n`, never past `budget_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_tries: u32,
    pub base_ms: u64,
    pub budget_ms: u64,
}

/// DESIGN/issue defaults: 3 tries and 10 s in total.
pub const RATE_LIMIT: Policy = Policy {
    max_tries: 3,
    base_ms: 500,
    budget_ms: 10_000,
};

/// Idempotent calls (GET) that got no answer or a 5xx: tried again at most twice, soon,
/// within the same time budget. POSTs are never retried blindly.
pub const TRANSIENT: Policy = Policy {
    max_tries: 3,
    base_ms: 150,
    budget_ms: 10_000,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then try again.
    RetryAfter(u64),
    /// Stop and report the rate limit.
    GiveUp,
}

/// Decides after the `tries`-th attempt (1-based) was rate limited, `elapsed_ms` after the
/// first began, with the answer's `Retry-After` in seconds if it had one.
pub fn after_rate_limit(
    policy: Policy,
    tries: u32,
    elapsed_ms: u64,
    retry_after: Option<&str>,
) -> Decision {
    if tries >= policy.max_tries {
        return Decision::GiveUp;
    }
    let backoff = policy.base_ms.saturating_mul(1 << (tries - 1).min(16));
    let wait = match retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(secs) => secs.saturating_mul(1000),
        None => backoff,
    };
    if elapsed_ms.saturating_add(wait) > policy.budget_ms {
        return Decision::GiveUp;
    }
    Decision::RetryAfter(wait)
}

/// Whether `resp` says the caller is rate limited, and if so when to try again in seconds
/// when the answer says: a 429, or a 403 with `x-ratelimit-remaining: 0` (GitHub's
/// primary limit); `retry-after` first, else the seconds until `x-ratelimit-reset` (epoch
/// seconds) from `now_ms`.
pub fn rate_limited(resp: &HttpResponse, now_ms: i64) -> Option<Option<String>> {
    let exhausted = resp.header("x-ratelimit-remaining").map(str::trim) == Some("0");
    if !(resp.status == 429 || (resp.status == 403 && exhausted)) {
        return None;
    }
    if let Some(after) = resp.header("retry-after") {
        return Some(Some(after.trim().to_string()));
    }
    let reset = resp
        .header("x-ratelimit-reset")
        .and_then(|r| r.trim().parse::<i64>().ok())
        .filter(|_| exhausted);
    Some(reset.map(|at| (at - now_ms.div_euclid(1000)).max(1).to_string()))
}

/// Decides after the `tries`-th attempt (1-based) of an idempotent call failed in transit or
/// with a 5xx, `elapsed_ms` after the first began.
pub fn after_transient(policy: Policy, tries: u32, elapsed_ms: u64) -> Decision {
    if tries >= policy.max_tries {
        return Decision::GiveUp;
    }
    let wait = policy.base_ms.saturating_mul(1 << (tries - 1).min(16));
    if elapsed_ms.saturating_add(wait) > policy.budget_ms {
        return Decision::GiveUp;
    }
    Decision::RetryAfter(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_by_status_and_headers() {
        let now = 1_000_000_000_000;
        let plain = HttpResponse::new(429, "");
        assert_eq!(rate_limited(&plain, now), Some(None));
        let forbidden = HttpResponse::new(403, "no access");
        assert_eq!(rate_limited(&forbidden, now), None);
        let spent = HttpResponse::new(403, "")
            .with_header("x-ratelimit-remaining", "0")
            .with_header("x-ratelimit-reset", "1000000042");
        assert_eq!(rate_limited(&spent, now), Some(Some("42".into())));
        let after = HttpResponse::new(429, "").with_header("retry-after", " 7 ");
        assert_eq!(rate_limited(&after, now), Some(Some("7".into())));
        let past = HttpResponse::new(403, "")
            .with_header("x-ratelimit-remaining", "0")
            .with_header("x-ratelimit-reset", "1");
        assert_eq!(rate_limited(&past, now), Some(Some("1".into())));
        assert_eq!(rate_limited(&HttpResponse::new(200, ""), now), None);
    }

    #[test]
    fn exponential_without_retry_after() {
        assert_eq!(
            after_rate_limit(RATE_LIMIT, 1, 0, None),
            Decision::RetryAfter(500)
        );
        assert_eq!(
            after_rate_limit(RATE_LIMIT, 2, 600, None),
            Decision::RetryAfter(1000)
        );
        assert_eq!(
            after_rate_limit(RATE_LIMIT, 3, 2000, None),
            Decision::GiveUp
        );
    }

    #[test]
    fn transient_failures_get_two_quick_retries() {
        assert_eq!(after_transient(TRANSIENT, 1, 0), Decision::RetryAfter(150));
        assert_eq!(
            after_transient(TRANSIENT, 2, 200),
            Decision::RetryAfter(300)
        );
        assert_eq!(after_transient(TRANSIENT, 3, 600), Decision::GiveUp);
        assert_eq!(after_transient(TRANSIENT, 1, 9_900), Decision::GiveUp);
    }

    #[test]
    fn honours_retry_after_within_budget() {
        assert_eq!(
            after_rate_limit(RATE_LIMIT, 1, 0, Some("2")),
            Decision::RetryAfter(2000)
        );
        assert_eq!(
            after_rate_limit(RATE_LIMIT, 1, 0, Some("30")),
            Decision::GiveUp
        );
        assert_eq!(
            after_rate_limit(RATE_LIMIT, 2, 9_000, Some("2")),
            Decision::GiveUp
        );
        // An HTTP-date or junk falls back to the backoff.
        assert_eq!(
            after_rate_limit(RATE_LIMIT, 1, 0, Some("Wed, 21 Oct 2026 07:28:00 GMT")),
            Decision::RetryAfter(500)
        );
    }
}
