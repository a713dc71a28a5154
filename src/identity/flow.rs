//! One sign-in in flight: what the start remembers in the browser (the flow cookie, signed
//! with `BROWSER_AUTH_SECRET`: the OAuth `state`, the provider, the PKCE verifier, where to
//! go after, when it started) and what the callback decides from it and the provider's
//! answer. A flow is this browser's only (the state must match its cookie) and lives 15
//! minutes. Pure.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::settings::Provider;

/// How long a sign-in may take from its start to the provider's callback.
pub const MAX_AGE_MS: i64 = 15 * 60 * 1000;

/// The flow cookie's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    pub state: String,
    pub provider: Provider,
    /// The PKCE verifier, for providers that take a challenge.
    pub verifier: Option<String>,
    /// Where the browser goes once signed in (absolute, on the web app).
    pub callback: String,
    /// Where it goes when the sign-in fails (default: our error page).
    pub error_callback: Option<String>,
    pub started_at: i64,
    /// The signed-in user who connects this account to theirs (absent: a sign-in).
    #[serde(default)]
    pub link_user: Option<String>,
}

impl Flow {
    /// The flow as a cookie value (before signing): base64url of its JSON.
    pub fn encode(&self) -> String {
        B64URL.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(value: &str) -> Option<Flow> {
        let bytes = B64URL.decode(value).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The PKCE challenge of the verifier (S256).
    pub fn challenge(&self) -> Option<String> {
        self.verifier
            .as_ref()
            .map(|v| B64URL.encode(Sha256::digest(v.as_bytes())))
    }
}

/// Why a callback cannot go on (the `error` code of the error page, and a message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub code: &'static str,
    pub message: String,
}

impl Stop {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Stop {
            code,
            message: message.into(),
        }
    }
}

/// What the provider sent back to the callback.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Checks a callback of `provider` against this browser's flow at `now`: the code to
/// exchange, or why the sign-in stops.
pub fn check(
    provider: Provider,
    flow: Option<&Flow>,
    back: &Callback,
    now: i64,
) -> Result<String, Stop> {
    let Some(flow) = flow else {
        return Err(Stop::new(
            "state_not_found",
            "This sign-in was not started in this browser, or it expired. Start again.",
        ));
    };
    if back.state.as_deref() != Some(flow.state.as_str()) || flow.provider != provider {
        return Err(Stop::new(
            "state_mismatch",
            "This sign-in does not match the one this browser started. Start again.",
        ));
    }
    if now - flow.started_at > MAX_AGE_MS || now < flow.started_at {
        return Err(Stop::new(
            "state_mismatch",
            "This sign-in took longer than 15 minutes. Start again.",
        ));
    }
    if let Some(error) = &back.error {
        return Err(if error == "access_denied" {
            Stop::new(
                "access_denied",
                format!(
                    "You cancelled signing in with {}, or it refused access.",
                    provider.display_name()
                ),
            )
        } else {
            Stop::new(
                "provider_error",
                format!(
                    "{} refused the sign-in: {}",
                    provider.display_name(),
                    back.error_description.as_deref().unwrap_or(error)
                ),
            )
        });
    }
    back.code
        .clone()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Stop::new("no_code", "The provider sent no authorization code."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> Flow {
        Flow {
            state: "s1".into(),
            provider: Provider::Bitbucket,
            verifier: None,
            callback: "https://app.example.com/".into(),
            error_callback: None,
            started_at: 1_000_000,
            link_user: None,
        }
    }

    fn back(state: &str) -> Callback {
        Callback {
            code: Some("c".into()),
            state: Some(state.into()),
            ..Callback::default()
        }
    }

    #[test]
    fn a_flow_survives_its_cookie() {
        let f = Flow {
            verifier: Some("v".repeat(64)),
            ..flow()
        };
        assert_eq!(Flow::decode(&f.encode()), Some(f.clone()));
        assert_eq!(Flow::decode("not base64!"), None);
        // S256: base64url(SHA-256(verifier)), unpadded (computed with Python's hashlib).
        let known = Flow {
            verifier: Some("dBjftJeZ4CVP-mJ92K9ZBvfkOWODHMDvvz2KlZ8A1GE".into()),
            ..flow()
        };
        assert_eq!(
            known.challenge().unwrap(),
            "IoIWqM6KMbpEtxLKTwil5e4zw62xl0BOJ6N5sdFxP6M"
        );
    }

    #[test]
    fn callbacks_are_checked_against_this_browsers_flow() {
        let f = flow();
        let now = f.started_at + 1000;
        assert_eq!(
            check(Provider::Bitbucket, Some(&f), &back("s1"), now),
            Ok("c".into())
        );
        let code = |r: Result<String, Stop>| r.unwrap_err().code;
        assert_eq!(
            code(check(Provider::Bitbucket, None, &back("s1"), now)),
            "state_not_found"
        );
        assert_eq!(
            code(check(Provider::Bitbucket, Some(&f), &back("forged"), now)),
            "state_mismatch"
        );
        assert_eq!(
            code(check(Provider::Github, Some(&f), &back("s1"), now)),
            "state_mismatch"
        );
        let stale = f.started_at + MAX_AGE_MS + 1;
        let stopped = check(Provider::Bitbucket, Some(&f), &back("s1"), stale).unwrap_err();
        assert_eq!(stopped.code, "state_mismatch");
        assert!(stopped.message.contains("15 minutes"));
        let denied = Callback {
            code: None,
            error: Some("access_denied".into()),
            ..back("s1")
        };
        let stopped = check(Provider::Bitbucket, Some(&f), &denied, now).unwrap_err();
        assert_eq!(stopped.code, "access_denied");
        assert!(stopped
            .message
            .contains("cancelled signing in with Bitbucket"));
        let empty = Callback {
            code: None,
            ..back("s1")
        };
        assert_eq!(
            code(check(Provider::Bitbucket, Some(&f), &empty, now)),
            "no_code"
        );
    }
}
