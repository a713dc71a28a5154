//! Classifying GitHub's failures: the REST error body (`{"message", "errors": [...]}`),
//! rate limits (429, or 403 with no requests remaining), and the OAuth token endpoint's
//! errors, which arrive with HTTP 200 (`{"error": "bad_refresh_token"}`).

use crate::json::{self, Field};
use crate::upstream::http::HttpResponse;
use crate::upstream::retry;
use crate::vcs::error::{snippet, Failure};

/// The message and, joined, the field errors' messages (or codes).
fn message_of(body: &str) -> (String, Option<String>) {
    let parsed = json::parse(body).filter(|v| v.is_object());
    let Some(b) = parsed.as_ref().map(Field::of) else {
        return (snippet(body), None);
    };
    let details: Vec<String> = b
        .get("errors")
        .items()
        .filter_map(|d| d.text("message").or_else(|| d.text("code")))
        .collect();
    (
        b.text("message").unwrap_or_else(|| "no message".into()),
        (!details.is_empty()).then(|| details.join("; ")),
    )
}

/// Classifies a non-2xx answer of the REST API at `now_ms` (for a rate limit's reset).
pub fn from_api_at(resp: &HttpResponse, now_ms: i64) -> Failure {
    let (message, detail) = message_of(&resp.body);
    if let Some(retry_after) = retry::rate_limited(resp, now_ms) {
        return Failure::RateLimited {
            retry_after,
            message,
        };
    }
    match resp.status {
        401 => Failure::Reauth(message),
        403 => Failure::Forbidden(message),
        404 => Failure::NotFound(message),
        410 => Failure::Retired(message),
        s if s >= 500 => Failure::Upstream { status: s, message },
        status => Failure::Api {
            status,
            message,
            detail,
            fields: None,
        },
    }
}

/// Classifies a non-2xx answer of the REST API now (the clock is read only for a rate
/// limit's reset time).
pub fn from_api(resp: &HttpResponse) -> Failure {
    let now = match resp.header("x-ratelimit-reset") {
        Some(_) => crate::clock::now_ms(),
        None => 0,
    };
    from_api_at(resp, now)
}

/// An OAuth `error` code and description (GitHub sends them with HTTP 200 too).
pub fn from_oauth_error(code: String, description: Option<String>) -> Failure {
    let description = description.unwrap_or_else(|| code.clone());
    match code.as_str() {
        "bad_refresh_token" | "invalid_grant" | "unauthorized" | "access_denied" => {
            Failure::Reauth(description)
        }
        _ => Failure::OAuth { code, description },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::github::fixtures::fixture;

    #[test]
    fn rest_errors_are_classified() {
        let now = 1_000_000_000_000;
        let at = |resp: HttpResponse| from_api_at(&resp, now);
        assert_eq!(
            at(HttpResponse::new(404, fixture("error.json"))),
            Failure::NotFound("Not Found".into())
        );
        let exists = at(HttpResponse::new(422, fixture("pr_exists.json")));
        assert!(
            matches!(exists, Failure::Api { status: 422, ref detail, .. }
            if detail.as_deref() == Some("A pull request already exists for octocat:agent/session-1."))
        );
        let limited = HttpResponse::new(403, fixture("rate_limited.json"))
            .with_header("x-ratelimit-remaining", "0")
            .with_header("x-ratelimit-reset", "1000000030");
        assert_eq!(
            at(limited),
            Failure::RateLimited {
                retry_after: Some("30".into()),
                message: "API rate limit exceeded for user ID 1.".into()
            }
        );
        assert!(matches!(
            at(HttpResponse::new(
                403,
                "{\"message\":\"Resource not accessible\"}"
            )),
            Failure::Forbidden(_)
        ));
        assert!(matches!(at(HttpResponse::new(401, "")), Failure::Reauth(_)));
        assert!(matches!(
            at(HttpResponse::new(502, "<html>")),
            Failure::Upstream { status: 502, .. }
        ));
    }

    #[test]
    fn oauth_errors() {
        assert!(matches!(
            from_oauth_error("bad_refresh_token".into(), None),
            Failure::Reauth(_)
        ));
        assert!(matches!(
            from_oauth_error("incorrect_client_credentials".into(), Some("d".into())),
            Failure::OAuth { ref code, .. } if code == "incorrect_client_credentials"
        ));
    }
}
