//! Bitbucket failures, typed: the API's error envelope
//! (`{"type":"error","error":{"message","detail","fields"}}`), the OAuth error form
//! (`{"error","error_description"}`), rate limits, retired endpoints and transport errors,
//! and how each one reaches our caller.

use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::upstream::http::HttpResponse;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BitbucketError {
    /// The credential is no good any more (401, `invalid_grant`, revoked): sign in again.
    Reauth(String),
    /// 403: the user may not do this.
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 410: an endpoint Bitbucket retired (its message names the `CHANGE-...`).
    Retired(String),
    /// 429, with the `Retry-After` header if any.
    RateLimited {
        retry_after: Option<String>,
        message: String,
    },
    /// Any other 4xx from the API, with Bitbucket's message, detail and field errors.
    Api {
        status: u16,
        message: String,
        detail: Option<String>,
        fields: Option<Value>,
    },
    /// Any other OAuth error (`error` code and description).
    OAuth { code: String, description: String },
    /// 5xx.
    Upstream { status: u16, message: String },
    /// The request never got an answer.
    Network(String),
    /// An answer we could not read.
    Parse(String),
    /// Our own configuration is missing or wrong (names the setting).
    Config(&'static str),
}

#[derive(Deserialize)]
struct Envelope {
    error: EnvelopeError,
}

#[derive(Deserialize)]
struct EnvelopeError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    fields: Option<Value>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

fn snippet(body: &str) -> String {
    let t = body.trim();
    let cut: String = t.chars().take(200).collect();
    if cut.is_empty() {
        "no message".into()
    } else {
        cut
    }
}

/// The upstream's own message, from its envelope or else the start of its body.
fn message_of(body: &str) -> (String, Option<String>, Option<Value>) {
    match serde_json::from_str::<Envelope>(body) {
        Ok(Envelope { error }) => (
            error.message.unwrap_or_else(|| "no message".into()),
            error.detail,
            error
                .fields
                .filter(|f| f.as_object().is_some_and(|m| !m.is_empty())),
        ),
        Err(_) => (snippet(body), None, None),
    }
}

impl BitbucketError {
    /// Classifies a non-2xx answer of the REST API.
    pub fn from_api(resp: &HttpResponse) -> Self {
        let (message, detail, fields) = message_of(&resp.body);
        match resp.status {
            401 => BitbucketError::Reauth(message),
            403 => BitbucketError::Forbidden(message),
            404 => BitbucketError::NotFound(message),
            410 => BitbucketError::Retired(message),
            429 => BitbucketError::RateLimited {
                retry_after: resp.header("retry-after").map(str::to_string),
                message,
            },
            s if s >= 500 => BitbucketError::Upstream { status: s, message },
            status => BitbucketError::Api {
                status,
                message,
                detail,
                fields,
            },
        }
    }

    /// Classifies a non-2xx answer of the OAuth token endpoint.
    pub fn from_oauth(resp: &HttpResponse) -> Self {
        if resp.status >= 500 {
            return BitbucketError::Upstream {
                status: resp.status,
                message: snippet(&resp.body),
            };
        }
        if resp.status == 429 {
            return BitbucketError::from_api(resp);
        }
        match serde_json::from_str::<OAuthError>(&resp.body) {
            Ok(e) => {
                let description = e.error_description.unwrap_or_else(|| e.error.clone());
                match e.error.as_str() {
                    "invalid_grant" | "unauthorized_client" | "access_denied" => {
                        BitbucketError::Reauth(description)
                    }
                    _ => BitbucketError::OAuth {
                        code: e.error,
                        description,
                    },
                }
            }
            Err(_) => BitbucketError::from_api(resp),
        }
    }
}

impl From<crate::upstream::TransportError> for BitbucketError {
    fn from(e: crate::upstream::TransportError) -> Self {
        BitbucketError::Network(e.0)
    }
}

impl From<BitbucketError> for ApiError {
    fn from(e: BitbucketError) -> Self {
        match e {
            BitbucketError::Reauth(m) => ApiError::new(
                401,
                "reauth_required",
                format!("Bitbucket no longer accepts this user's credentials; sign in again ({m})"),
            ),
            BitbucketError::Forbidden(m) => {
                ApiError::new(403, "forbidden", format!("Bitbucket refused access: {m}"))
            }
            BitbucketError::NotFound(m) => {
                ApiError::new(404, "not_found", format!("Bitbucket: {m}"))
            }
            BitbucketError::Retired(m) => ApiError::new(
                502,
                "upstream_retired",
                format!("Bitbucket retired this endpoint: {m}"),
            ),
            BitbucketError::RateLimited { message, .. } => ApiError::new(
                503,
                "rate_limited",
                format!("Bitbucket is rate limiting requests; try again later ({message})"),
            ),
            BitbucketError::Api {
                status,
                message,
                detail,
                fields,
            } => {
                let mut text = format!("Bitbucket rejected the request: {message}");
                if let Some(d) = detail {
                    text.push_str(&format!(" ({d})"));
                }
                if let Some(f) = fields {
                    text.push_str(&format!(" {f}"));
                }
                ApiError::new(
                    if status == 400 { 400 } else { 502 },
                    "bitbucket_error",
                    text,
                )
            }
            BitbucketError::OAuth { code, description } => ApiError::new(
                502,
                "oauth_error",
                format!("Bitbucket's token endpoint answered {code}: {description}"),
            ),
            BitbucketError::Upstream { status, message } => ApiError::new(
                502,
                "upstream_error",
                format!("Bitbucket answered {status}: {message}"),
            ),
            BitbucketError::Network(m) => ApiError::new(
                502,
                "upstream_unreachable",
                format!("could not reach Bitbucket: {m}"),
            ),
            BitbucketError::Parse(m) => ApiError::new(
                502,
                "upstream_invalid",
                format!("unexpected answer from Bitbucket: {m}"),
            ),
            BitbucketError::Config(name) => ApiError::misconfigured(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::bitbucket::fixtures::fixture;

    #[test]
    fn api_envelopes_keep_the_upstream_message() {
        let e = BitbucketError::from_api(&HttpResponse::new(404, fixture("error.json")));
        assert_eq!(
            e,
            BitbucketError::NotFound("Repository dev/null not found".into())
        );
        let e =
            BitbucketError::from_api(&HttpResponse::new(400, fixture("pr_create_conflict.json")));
        assert!(
            matches!(e, BitbucketError::Api { status: 400, ref message, fields: None, .. }
            if message == "There are no changes to be pulled")
        );
        let body = r#"{"type":"error","error":{"message":"Bad request","fields":{"destination":["branch not found"]}}}"#;
        let api: ApiError = BitbucketError::from_api(&HttpResponse::new(400, body)).into();
        assert_eq!(api.status, 400);
        assert!(api.message.contains("branch not found"), "{}", api.message);
    }

    #[test]
    fn statuses_are_classified() {
        let plain = |s| BitbucketError::from_api(&HttpResponse::new(s, "Rate limit exceeded"));
        assert!(matches!(
            plain(429),
            BitbucketError::RateLimited {
                retry_after: None,
                ..
            }
        ));
        let with =
            BitbucketError::from_api(&HttpResponse::new(429, "").with_header("Retry-After", "3"));
        assert_eq!(
            with,
            BitbucketError::RateLimited {
                retry_after: Some("3".into()),
                message: "no message".into()
            }
        );
        assert!(matches!(plain(401), BitbucketError::Reauth(_)));
        assert!(matches!(
            plain(503),
            BitbucketError::Upstream { status: 503, .. }
        ));
        let retired = r#"{"type":"error","error":{"message":"This API is no longer available. See CHANGE-2770."}}"#;
        let e = BitbucketError::from_api(&HttpResponse::new(410, retired));
        let api: ApiError = e.into();
        assert_eq!(api.code, "upstream_retired");
        assert!(api.message.contains("CHANGE-2770"));
    }

    #[test]
    fn oauth_errors() {
        let e = BitbucketError::from_oauth(&HttpResponse::new(
            400,
            fixture("oauth_invalid_grant.json"),
        ));
        assert_eq!(e, BitbucketError::Reauth("Invalid refresh_token".into()));
        let api: ApiError = e.into();
        assert_eq!((api.status, api.code.as_str()), (401, "reauth_required"));
        let e = BitbucketError::from_oauth(&HttpResponse::new(
            400,
            r#"{"error":"invalid_request","error_description":"missing grant"}"#,
        ));
        assert!(matches!(e, BitbucketError::OAuth { ref code, .. } if code == "invalid_request"));
        let e = BitbucketError::from_oauth(&HttpResponse::new(502, "<html>bad gateway</html>"));
        assert!(matches!(e, BitbucketError::Upstream { status: 502, .. }));
    }
}
