//! Who may act as the session's sandbox, as a pure decision over the current sandbox row:
//! 410 when there is no live sandbox (none, stopped, stale or failed: the control plane gave
//! up on it, whatever the provider did), then 403 when the caller names another sandbox, then
//! 401 when its bearer token does not hash to the stored one. The order matters: a stopped
//! sandbox is told so before anything about its credentials is checked.

use subtle::ConstantTimeEq;

use crate::auth::random;
use crate::error::ApiError;
use crate::session::model::SandboxRow;

/// Checks a sandbox caller. `claimed`: the sandbox id it says it is (`None` when the route
/// does not say, e.g. the PR route; then the token decides). `token`: its bearer token.
/// Answers the current sandbox id.
pub fn authenticate(
    current: Option<&SandboxRow>,
    claimed: Option<&str>,
    token: Option<&str>,
) -> Result<String, ApiError> {
    let gone = |m: &str| ApiError::new(410, "sandbox_gone", m);
    let sandbox = current.ok_or_else(|| gone("this session has no sandbox"))?;
    let id = sandbox
        .sandbox_id
        .as_deref()
        .ok_or_else(|| gone("this session has no sandbox"))?;
    if !sandbox.status.is_live() {
        return Err(gone(&format!(
            "the sandbox is {}; a new one gets a new token",
            sandbox.status.as_str()
        )));
    }
    if claimed.is_some_and(|c| c != id) {
        return Err(ApiError::forbidden(
            "X-Sandbox-ID does not match this session's sandbox",
        ));
    }
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("missing sandbox token"))?;
    let expected = sandbox.token_hash.as_deref().unwrap_or_default();
    let given = random::sha256_hex(token);
    if expected.is_empty() || !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(ApiError::unauthorized("invalid sandbox token"));
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::sandbox::policy::Status;

    fn row(status: Status, id: Option<&str>, token: &str) -> SandboxRow {
        SandboxRow {
            sandbox_id: id.map(Into::into),
            provider_id: None,
            token_hash: Some(random::sha256_hex(token)),
            status,
            status_since: None,
            last_heartbeat: None,
            last_activity: None,
            created_at: None,
            last_error: None,
            last_failure_at: None,
            blocked: 0,
            spawned_for: None,
            disconnected_at: None,
        }
    }

    fn status_of(r: Result<String, ApiError>) -> u16 {
        r.map_or_else(|e| e.status, |_| 200)
    }

    #[test]
    fn gone_before_wrong_sandbox_before_bad_token() {
        let stopped = row(Status::Stopped, Some("sb"), "T");
        assert_eq!(status_of(authenticate(None, Some("x"), None)), 410);
        // A sandbox given up on keeps nothing: its own right token is refused.
        for dead in [Status::Stale, Status::Failed, Status::Stopped] {
            let r = row(dead, Some("sb"), "T");
            assert_eq!(
                status_of(authenticate(Some(&r), Some("sb"), Some("T"))),
                410
            );
        }
        let no_id = row(Status::Ready, None, "T");
        assert_eq!(status_of(authenticate(Some(&no_id), None, Some("T"))), 410);
        // Stopped wins over a wrong id and a wrong token.
        assert_eq!(
            status_of(authenticate(Some(&stopped), Some("other"), Some("bad"))),
            410
        );
        let live = row(Status::Ready, Some("sb"), "T");
        // A wrong id wins over a wrong token.
        assert_eq!(
            status_of(authenticate(Some(&live), Some("other"), Some("bad"))),
            403
        );
        assert_eq!(
            status_of(authenticate(Some(&live), Some("sb"), Some("bad"))),
            401
        );
        assert_eq!(status_of(authenticate(Some(&live), Some("sb"), None)), 401);
    }

    #[test]
    fn the_right_token_is_accepted_with_or_without_an_id() {
        let live = row(Status::Connecting, Some("sb"), "T");
        assert_eq!(
            authenticate(Some(&live), Some("sb"), Some("T")).unwrap(),
            "sb"
        );
        assert_eq!(authenticate(Some(&live), None, Some("T")).unwrap(), "sb");
        let mut no_hash = live.clone();
        no_hash.token_hash = None;
        assert_eq!(
            status_of(authenticate(Some(&no_hash), None, Some("T"))),
            401
        );
    }
}
