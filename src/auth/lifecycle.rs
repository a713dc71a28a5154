//! The token lifecycle as pure decisions: use the access token, refresh it, or ask the user
//! to sign in again (one refresh per user at a time is the user's `RefreshObject`'s job).

/// Refresh when less than this remains.
pub const REFRESH_MARGIN_MS: i64 = 5 * 60 * 1000;

/// What is known about a stored credential (no secrets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialState {
    pub expires_at: Option<i64>,
    pub has_refresh_token: bool,
    pub needs_reauth: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The access token is good: use it.
    Use,
    /// Refresh it (a token that has not expired yet may still be used meanwhile).
    Refresh,
    /// Nothing usable is left: the user must sign in again.
    Reauth,
}

/// What to do with a stored credential at `now`: use it while more than five minutes
/// remain, else refresh it, and ask for a new sign-in when nothing usable is left. Pure.
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
    match (s.has_refresh_token, expires_at <= now) {
        (false, true) => Action::Reauth,
        (false, false) => Action::Use,
        (true, _) => Action::Refresh,
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

    fn st(exp: Option<i64>, refresh: bool, reauth: bool) -> CredentialState {
        CredentialState {
            expires_at: exp,
            has_refresh_token: refresh,
            needs_reauth: reauth,
        }
    }

    #[test]
    fn uses_token_while_more_than_five_minutes_remain() {
        assert_eq!(
            decide(&st(Some(NOW + REFRESH_MARGIN_MS + 1), true, false), NOW),
            Action::Use
        );
        assert_eq!(
            decide(&st(Some(NOW + REFRESH_MARGIN_MS), true, false), NOW),
            Action::Refresh
        );
        assert_eq!(decide(&st(None, true, false), NOW), Action::Use);
    }

    #[test]
    fn refresh_or_reauth() {
        assert_eq!(
            decide(&st(Some(NOW - 1), true, false), NOW),
            Action::Refresh
        );
        assert_eq!(
            decide(&st(Some(NOW - 1), false, false), NOW),
            Action::Reauth
        );
        assert_eq!(
            decide(&st(Some(NOW + 60_000), false, false), NOW),
            Action::Use
        );
        assert_eq!(
            decide(&st(Some(NOW + 10 * REFRESH_MARGIN_MS), true, true), NOW),
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
