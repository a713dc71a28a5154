//! Provider failures, typed and provider-neutral: each provider's client classifies its
//! answers into a `Failure`, and `VcsError` (a failure at one provider) is how it reaches our
//! caller, its messages naming that provider.

use serde_json::Value;

use super::VcsProvider;
use crate::error::ApiError;

/// What went wrong at a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The credential is no good any more (401, `invalid_grant`, `bad_refresh_token`,
    /// revoked): sign in again.
    Reauth(String),
    /// 403: the user may not do this.
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 410: an endpoint the provider retired (Bitbucket's message names the `CHANGE-...`).
    Retired(String),
    /// Rate limited (429, or GitHub's 403 with no requests remaining); `retry_after` says
    /// when to try again (seconds), when the provider said.
    RateLimited {
        retry_after: Option<String>,
        message: String,
    },
    /// Any other 4xx from the API, with the provider's message, detail and field errors.
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

/// A name no URL path can carry (`..`) names nothing at the provider.
impl From<crate::urls::Uncarried> for Failure {
    fn from(e: crate::urls::Uncarried) -> Self {
        Failure::NotFound(e.to_string())
    }
}

impl From<crate::upstream::TransportError> for Failure {
    fn from(e: crate::upstream::TransportError) -> Self {
        Failure::Network(e.0)
    }
}

/// The upstream's body, trimmed to a short message for people.
pub fn snippet(body: &str) -> String {
    let cut: String = body.trim().chars().take(200).collect();
    if cut.is_empty() {
        "no message".into()
    } else {
        cut
    }
}

/// A failure at one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcsError {
    pub provider: VcsProvider,
    pub failure: Failure,
}

impl VcsError {
    /// Whether the provider no longer accepts the credential.
    pub fn is_reauth(&self) -> bool {
        matches!(self.failure, Failure::Reauth(_))
    }
}

impl From<VcsError> for ApiError {
    fn from(e: VcsError) -> Self {
        let name = e.provider.display_name();
        match e.failure {
            Failure::Reauth(m) => ApiError::new(
                401,
                "reauth_required",
                format!("{name} no longer accepts this user's credentials; sign in again ({m})"),
            ),
            Failure::Forbidden(m) => {
                ApiError::new(403, "forbidden", format!("{name} refused access: {m}"))
            }
            Failure::NotFound(m) => ApiError::new(404, "not_found", format!("{name}: {m}")),
            Failure::Retired(m) => ApiError::new(
                502,
                "upstream_retired",
                format!("{name} retired this endpoint: {m}"),
            ),
            Failure::RateLimited {
                retry_after,
                message,
            } => {
                let when = match retry_after {
                    Some(secs) => format!("try again in {secs} s"),
                    None => "try again later".into(),
                };
                ApiError::new(
                    503,
                    "rate_limited",
                    format!("{name} is rate limiting requests; {when} ({message})"),
                )
            }
            Failure::Api {
                status,
                message,
                detail,
                fields,
            } => {
                let mut text = format!("{name} rejected the request: {message}");
                if let Some(d) = detail {
                    text.push_str(&format!(" ({d})"));
                }
                if let Some(f) = fields {
                    text.push_str(&format!(" {f}"));
                }
                let code = format!("{}_error", e.provider.as_str());
                ApiError::new(if status == 400 { 400 } else { 502 }, &code, text)
            }
            Failure::OAuth { code, description } => ApiError::new(
                502,
                "oauth_error",
                format!("{name}'s token endpoint answered {code}: {description}"),
            ),
            Failure::Upstream { status, message } => ApiError::new(
                502,
                "upstream_error",
                format!("{name} answered {status}: {message}"),
            ),
            Failure::Network(m) => ApiError::new(
                502,
                "upstream_unreachable",
                format!("could not reach {name}: {m}"),
            ),
            Failure::Parse(m) => ApiError::new(
                502,
                "upstream_invalid",
                format!("unexpected answer from {name}: {m}"),
            ),
            Failure::Config(setting) => ApiError::misconfigured(setting),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_provider() {
        let e = |provider, failure| ApiError::from(VcsError { provider, failure });
        let gh = e(VcsProvider::Github, Failure::Forbidden("nope".into()));
        assert_eq!(
            (gh.status, gh.message.as_str()),
            (403, "GitHub refused access: nope")
        );
        let api = Failure::Api {
            status: 409,
            message: "m".into(),
            detail: None,
            fields: None,
        };
        assert_eq!(
            e(VcsProvider::Bitbucket, api.clone()).code,
            "bitbucket_error"
        );
        assert_eq!(e(VcsProvider::Github, api).code, "github_error");
        let limited = Failure::RateLimited {
            retry_after: Some("42".into()),
            message: "slow down".into(),
        };
        let l = e(VcsProvider::Github, limited);
        assert_eq!(l.status, 503);
        assert!(l.message.contains("try again in 42 s"), "{}", l.message);
        assert!(VcsError {
            provider: VcsProvider::Github,
            failure: Failure::Reauth("x".into())
        }
        .is_reauth());
    }
}
