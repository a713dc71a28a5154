//! The token lifecycle as pure decisions: use the access token, refresh it, wait for a
//! refresh someone else is doing, or ask the user to sign in again.

/// Refresh when less than this remains.
pub const REFRESH_MARGIN_MS: i64 = 5 * 60 * 1000;
/// How long one refresher holds the lease before others may take over.
pub const LEASE_MS: i64 = 20_000;

/// What is known about a stored credential (no secrets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialState {
    pub expires_at: Option<i64>,
    pub has_refresh_token: bool,
    pub needs_reauth: bool,
    pub lease_until: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The access token is good: use it.
    Use,
    /// Take the lease and refresh.
    Refresh,
    /// The token has expired and another caller is refreshing: wait and re-read.
    Wait,
    /// Nothing usable is left: the user must sign in again.
    Reauth,
}

/// What to do with a stored credential at `now`: use it while more than five minutes
/// remain, else refresh it (or wait for the caller holding the refresh lease, or use it
/// while it still lasts), and ask for a new sign-in when nothing usable is left. Pure.
pub fn decide(s: &CredentialState, now: i64) -> Action {
    if s.needs_reauth {
        return Action::Reauth;
    }
    let Some(expires_at) = s.expires_at else {
        // No known expiry: use it; a 401 from the provider will say otherwise.
        return Action::Use;
    };
    if expires_at - now > REFRESH_MARGIN_MS {
        return Action::Use;
    }
    let expired = expires_at <= now;
    let lease_held = s.lease_until.is_some_and(|l| l > now);
    match (s.has_refresh_token, expired, lease_held) {
        (false, true, _) => Action::Reauth,
        (false, false, _) => Action::Use,
        // Still valid for a little while: use it rather than wait for the refresher.
        (true, false, true) => Action::Use,
        (true, true, true) => Action::Wait,
        (true, _, false) => Action::Refresh,
    }
}

/// Whether a token brought by a caller (with its stated expiry) may be used as it is.
pub fn usable_now(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_none_or(|e| e > now)
}

/// The expiry of a token granted at `now` that lives `expires_in_secs`.
pub fn expiry(now: i64, expires_in_secs: i64) -> i64 {
    now.saturating_add(expires_in_secs.saturating_mul(1000))
}

/// Whether credentials brought by a caller should replace the stored ones: always when
/// none are stored or the stored ones need re-authentication, else only when they expire
/// later (an older pair may carry a refresh token that rotation has already killed).
pub fn incoming_replaces(
    stored: Option<(Option<i64>, bool)>,
    incoming_expires_at: Option<i64>,
) -> bool {
    match stored {
        None => true,
        Some((_, true)) => true,
        Some((stored_exp, false)) => match (stored_exp, incoming_expires_at) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(s), Some(i)) => i > s,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000;

    fn st(exp: Option<i64>, refresh: bool, reauth: bool, lease: Option<i64>) -> CredentialState {
        CredentialState {
            expires_at: exp,
            has_refresh_token: refresh,
            needs_reauth: reauth,
            lease_until: lease,
        }
    }

    #[test]
    fn uses_token_while_more_than_five_minutes_remain() {
        assert_eq!(
            decide(
                &st(Some(NOW + REFRESH_MARGIN_MS + 1), true, false, None),
                NOW
            ),
            Action::Use
        );
        assert_eq!(
            decide(&st(Some(NOW + REFRESH_MARGIN_MS), true, false, None), NOW),
            Action::Refresh
        );
        assert_eq!(decide(&st(None, true, false, None), NOW), Action::Use);
    }

    #[test]
    fn refresh_wait_or_reauth() {
        assert_eq!(
            decide(&st(Some(NOW - 1), true, false, None), NOW),
            Action::Refresh
        );
        assert_eq!(
            decide(&st(Some(NOW - 1), true, false, Some(NOW + 5)), NOW),
            Action::Wait
        );
        assert_eq!(
            decide(&st(Some(NOW - 1), true, false, Some(NOW - 5)), NOW),
            Action::Refresh
        );
        assert_eq!(
            decide(&st(Some(NOW + 60_000), true, false, Some(NOW + 5)), NOW),
            Action::Use
        );
        assert_eq!(
            decide(&st(Some(NOW - 1), false, false, None), NOW),
            Action::Reauth
        );
        assert_eq!(
            decide(&st(Some(NOW + 60_000), false, false, None), NOW),
            Action::Use
        );
        assert_eq!(
            decide(
                &st(Some(NOW + 10 * REFRESH_MARGIN_MS), true, true, None),
                NOW
            ),
            Action::Reauth
        );
    }

    #[test]
    fn newer_credentials_win() {
        assert!(incoming_replaces(None, None));
        assert!(incoming_replaces(Some((Some(10), true)), Some(1)));
        assert!(incoming_replaces(Some((Some(10), false)), Some(11)));
        assert!(!incoming_replaces(Some((Some(10), false)), Some(10)));
        assert!(!incoming_replaces(Some((Some(10), false)), None));
        assert!(incoming_replaces(Some((None, false)), Some(1)));
        assert_eq!(expiry(1000, 7200), 1000 + 7_200_000);
        assert!(usable_now(None, 5) && usable_now(Some(6), 5));
        assert!(!usable_now(Some(5), 5));
    }
}
