//! Classifying Bitbucket's failures: the API's error envelope
//! (`{"type":"error","error":{"message","detail","fields"}}`), the OAuth error form
//! (`{"error","error_description"}`), rate limits and retired endpoints.

use serde_json::Value;

use crate::json::{self, Field};
use crate::upstream::http::HttpResponse;
use crate::vcs::error::{snippet, Failure};

/// The upstream's own message, from its envelope or else the start of its body.
fn message_of(body: &str) -> (String, Option<String>, Option<Value>) {
    let parsed = json::parse(body);
    let error = parsed.as_ref().map(|v| Field::of(v).get("error"));
    match error.filter(|e| e.value().is_object()) {
        Some(error) => (
            error.text("message").unwrap_or_else(|| "no message".into()),
            error.text("detail"),
            Some(error.get("fields").value())
                .filter(|f| f.as_object().is_some_and(|m| !m.is_empty()))
                .cloned(),
        ),
        None => (snippet(body), None, None),
    }
}

/// Classifies a non-2xx answer of the REST API.
pub fn from_api(resp: &HttpResponse) -> Failure {
    let (message, detail, fields) = message_of(&resp.body);
    match resp.status {
        401 => Failure::Reauth(message),
        403 => Failure::Forbidden(message),
        404 => Failure::NotFound(message),
        410 => Failure::Retired(message),
        429 => Failure::RateLimited {
            retry_after: resp.header("retry-after").map(str::to_string),
            message,
        },
        s if s >= 500 => Failure::Upstream { status: s, message },
        status => Failure::Api {
            status,
            message,
            detail,
            fields,
        },
    }
}

/// Classifies a non-2xx answer of the OAuth token endpoint.
pub fn from_oauth(resp: &HttpResponse) -> Failure {
    if resp.status >= 500 {
        return Failure::Upstream {
            status: resp.status,
            message: snippet(&resp.body),
        };
    }
    if resp.status == 429 {
        return from_api(resp);
    }
    let parsed = json::parse(&resp.body);
    let oauth = parsed.as_ref().map(Field::of);
    match oauth.and_then(|e| e.text("error").map(|code| (code, e))) {
        Some((code, e)) => {
            let description = e.text("error_description").unwrap_or_else(|| code.clone());
            match code.as_str() {
                // `unauthorized_client` is the consumer's misconfiguration, not the user's
                // token: it must not mark every refreshing user as needing to sign in again.
                "invalid_grant" | "access_denied" => Failure::Reauth(description),
                _ => Failure::OAuth { code, description },
            }
        }
        None => from_api(resp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use crate::vcs::bitbucket::at_bitbucket;
    use crate::vcs::bitbucket::fixtures::fixture;

    #[test]
    fn api_envelopes_keep_the_upstream_message() {
        let e = from_api(&HttpResponse::new(404, fixture("error.json")));
        assert_eq!(e, Failure::NotFound("Repository dev/null not found".into()));
        let e = from_api(&HttpResponse::new(400, fixture("pr_create_conflict.json")));
        assert!(
            matches!(e, Failure::Api { status: 400, ref message, fields: None, .. }
            if message == "There are no changes to be pulled")
        );
        let body = r#"{"type":"error","error":{"message":"Bad request","fields":{"destination":["branch not found"]}}}"#;
        let api: ApiError = at_bitbucket(from_api(&HttpResponse::new(400, body))).into();
        assert_eq!(api.status, 400);
        assert!(api.message.contains("branch not found"), "{}", api.message);
    }

    #[test]
    fn statuses_are_classified() {
        let plain = |s| from_api(&HttpResponse::new(s, "Rate limit exceeded"));
        assert!(matches!(
            plain(429),
            Failure::RateLimited {
                retry_after: None,
                ..
            }
        ));
        let with = from_api(&HttpResponse::new(429, "").with_header("Retry-After", "3"));
        assert_eq!(
            with,
            Failure::RateLimited {
                retry_after: Some("3".into()),
                message: "no message".into()
            }
        );
        assert!(matches!(plain(401), Failure::Reauth(_)));
        assert!(matches!(plain(503), Failure::Upstream { status: 503, .. }));
        let retired = r#"{"type":"error","error":{"message":"This API is no longer available. See CHANGE-2770."}}"#;
        let e = from_api(&HttpResponse::new(410, retired));
        let api: ApiError = at_bitbucket(e).into();
        assert_eq!(api.code, "upstream_retired");
        assert!(api.message.contains("CHANGE-2770"));
    }

    #[test]
    fn oauth_errors() {
        let e = from_oauth(&HttpResponse::new(400, fixture("oauth_invalid_grant.json")));
        assert_eq!(e, Failure::Reauth("Invalid refresh_token".into()));
        let api: ApiError = at_bitbucket(e).into();
        assert_eq!((api.status, api.code.as_str()), (401, "reauth_required"));
        let e = from_oauth(&HttpResponse::new(
            400,
            r#"{"error":"invalid_request","error_description":"missing grant"}"#,
        ));
        assert!(matches!(e, Failure::OAuth { ref code, .. } if code == "invalid_request"));
        let e = from_oauth(&HttpResponse::new(
            400,
            r#"{"error":"unauthorized_client","error_description":"grant not allowed"}"#,
        ));
        assert!(matches!(e, Failure::OAuth { ref code, .. } if code == "unauthorized_client"));
        let e = from_oauth(&HttpResponse::new(502, "<html>bad gateway</html>"));
        assert!(matches!(e, Failure::Upstream { status: 502, .. }));
    }
}
