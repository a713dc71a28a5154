//! The sandbox provider's HTTP API, sans-IO: the spawn request (HMAC bearer keyed by
//! `SANDBOX_API_SECRET`) and its `{success, data?, error?}` answer.

use serde::Serialize;
use serde_json::Value;

use crate::auth::service_token;
use crate::json::{self, Field};
use crate::upstream::http::{HttpRequest, HttpResponse};
use crate::urls::Base;

/// The body of `POST {SANDBOX_API_URL}/sandboxes`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct SpawnRequest {
    pub session_id: String,
    pub sandbox_id: String,
    pub repo_owner: String,
    pub repo_name: String,
    pub branch: String,
    pub vcs_provider: String,
    pub vcs_host: String,
    pub clone_username: String,
    pub clone_token: String,
    pub control_plane_url: String,
    pub sandbox_auth_token: String,
    pub model: String,
    pub timeout_seconds: u64,
    /// The secrets the sandbox's environment gets (the repository's over the global ones).
    pub secrets: serde_json::Map<String, Value>,
}

impl std::fmt::Debug for SpawnRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpawnRequest")
            .field("session_id", &self.session_id)
            .field("sandbox_id", &self.sandbox_id)
            .finish_non_exhaustive()
    }
}

/// `POST {SANDBOX_API_URL}/sandboxes`, signed with the shared secret; `None` when
/// `api_url` is no base URL ([`Base::parse`]).
pub fn spawn(api_url: &str, secret: &str, now_ms: i64, body: &SpawnRequest) -> Option<HttpRequest> {
    let url = Base::parse(api_url)?.join(&["sandboxes"], &[]).ok()?;
    let json = serde_json::to_string(body).unwrap_or_default();
    Some(
        HttpRequest::post(url, "application/json", json)
            .bearer(&service_token::sign(secret.as_bytes(), now_ms)),
    )
}

/// `DELETE {SANDBOX_API_URL}/sandboxes/{id}`: ends a sandbox at the provider (its id there,
/// else ours), signed like a spawn; `None` when `api_url` is no base URL or `id` is no path
/// segment.
pub fn stop(api_url: &str, secret: &str, now_ms: i64, id: &str) -> Option<HttpRequest> {
    let url = Base::parse(api_url)?.join(&["sandboxes", id], &[]).ok()?;
    Some(HttpRequest::delete(url).bearer(&service_token::sign(secret.as_bytes(), now_ms)))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpawnOutcome {
    Started {
        provider_id: Option<String>,
    },
    /// `permanent`: the provider refused (4xx or `success:false`); else a passing failure.
    Failed {
        permanent: bool,
        message: String,
    },
}

/// The provider's reason: its `error` text, or an error object's `message`, or the error
/// as JSON.
fn error_text(answer: Field) -> String {
    let error = answer.get("error");
    match error.value() {
        Value::String(s) => s.clone(),
        Value::Null => "no reason given".into(),
        other => error.text("message").unwrap_or_else(|| other.to_string()),
    }
}

pub fn parse_spawn(resp: &HttpResponse) -> SpawnOutcome {
    let parsed = json::parse(&resp.body).filter(Value::is_object);
    let answer = parsed.as_ref().map(Field::of);
    match (resp.status, answer) {
        (200..=299, Some(a)) if a.flag("success") => SpawnOutcome::Started {
            provider_id: ["providerId", "provider_id", "id", "sandbox_id"]
                .iter()
                .find_map(|k| a.get("data").text(k)),
        },
        (200..=299, Some(a)) => SpawnOutcome::Failed {
            permanent: true,
            message: error_text(a),
        },
        (200..=299, None) => SpawnOutcome::Failed {
            permanent: false,
            message: "unreadable answer from the sandbox provider: not a JSON object".into(),
        },
        (status, answer) => SpawnOutcome::Failed {
            permanent: (400..500).contains(&status) && status != 429 && status != 408,
            message: format!(
                "sandbox provider answered {status}: {}",
                answer
                    .map(error_text)
                    .unwrap_or_else(|| resp.body.chars().take(200).collect())
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> SpawnRequest {
        SpawnRequest {
            session_id: "s".into(),
            sandbox_id: "sb".into(),
            repo_owner: "o".into(),
            repo_name: "r".into(),
            branch: "main".into(),
            vcs_provider: "bitbucket".into(),
            vcs_host: "bitbucket.org".into(),
            clone_username: "x-token-auth".into(),
            clone_token: "SECRET".into(),
            control_plane_url: "https://cp".into(),
            sandbox_auth_token: "SANDBOX-SECRET".into(),
            model: "m".into(),
            timeout_seconds: 3600,
            secrets: serde_json::Map::new(),
        }
    }

    #[test]
    fn spawn_request_is_signed_and_complete() {
        let r = spawn("http://p/api/", "k", 1_000, &body()).unwrap();
        assert_eq!(r.url, "http://p/api/sandboxes");
        let auth = r
            .header_value("authorization")
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap();
        assert!(service_token::verify(b"k", auth, 1_000).is_ok());
        let sent: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        for k in [
            "session_id",
            "sandbox_id",
            "repo_owner",
            "repo_name",
            "branch",
            "vcs_provider",
            "vcs_host",
            "clone_username",
            "clone_token",
            "control_plane_url",
            "sandbox_auth_token",
            "model",
            "timeout_seconds",
            "secrets",
        ] {
            assert!(sent.get(k).is_some(), "{k}");
        }
        assert!(!format!("{:?}", body()).contains("SECRET"));
    }

    #[test]
    fn stop_request_is_signed_and_names_the_sandbox() {
        let r = stop("http://p/api/", "k", 1_000, "prov/1").unwrap();
        assert_eq!(r.method, crate::upstream::http::Method::Delete);
        assert_eq!(r.url, "http://p/api/sandboxes/prov%2F1");
        let auth = r.header_value("authorization").unwrap();
        assert!(service_token::verify(b"k", auth.strip_prefix("Bearer ").unwrap(), 1_000).is_ok());
        assert!(stop("http://p/api", "k", 1_000, "..").is_none());
        assert!(stop("p/api", "k", 1_000, "prov").is_none());
        assert!(spawn("p/api", "k", 1_000, &body()).is_none());
    }

    #[test]
    fn answers() {
        let ok = HttpResponse::new(200, r#"{"success":true,"data":{"sandbox_id":"p-1"}}"#);
        assert_eq!(
            parse_spawn(&ok),
            SpawnOutcome::Started {
                provider_id: Some("p-1".into())
            }
        );
        let refused = HttpResponse::new(200, r#"{"success":false,"error":"quota exceeded"}"#);
        assert_eq!(
            parse_spawn(&refused),
            SpawnOutcome::Failed {
                permanent: true,
                message: "quota exceeded".into()
            }
        );
        assert!(matches!(
            parse_spawn(&HttpResponse::new(503, "busy")),
            SpawnOutcome::Failed {
                permanent: false,
                ..
            }
        ));
        assert!(
            matches!(parse_spawn(&HttpResponse::new(400, r#"{"success":false,"error":{"message":"bad repo"}}"#)),
            SpawnOutcome::Failed { permanent: true, ref message } if message.contains("bad repo"))
        );
        assert!(matches!(
            parse_spawn(&HttpResponse::new(429, "")),
            SpawnOutcome::Failed {
                permanent: false,
                ..
            }
        ));
    }
}
