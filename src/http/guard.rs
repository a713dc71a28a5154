//! Which routes are public, and the service-token check for all the others.

use worker::{Date, Env, Request};

use crate::auth::service_token;
use crate::config;
use crate::error::{ApiError, ApiResult};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The health check; the WebSocket upgrade, whose callers authenticate in-band
    /// (browser `subscribe` token) or with the sandbox token.
    Public,
    /// The web app's service token.
    Service,
    /// The service token, or the session's sandbox token (checked by the session).
    ServiceOrSandbox,
}

pub fn access(method: &worker::Method, path: &str) -> Access {
    use worker::Method;
    let session_sub = |suffix: &str| {
        path.starts_with("/sessions/") && path.ends_with(suffix) && path.matches('/').count() == 3
    };
    match method {
        Method::Get if path == "/health" || session_sub("/ws") => Access::Public,
        Method::Post if session_sub("/pr") => Access::ServiceOrSandbox,
        _ => Access::Service,
    }
}

/// Requires a valid `Authorization: Bearer <ms>.<hex>` service token.
pub fn require_service_token(req: &Request, env: &Env) -> ApiResult<()> {
    let secret = config::secret(env, "INTERNAL_CALLBACK_SECRET")
        .ok_or_else(|| ApiError::misconfigured("INTERNAL_CALLBACK_SECRET"))?;
    let header = req.headers().get("authorization")?;
    let now = Date::now().as_millis() as i64;
    // (The bearer may also be a sandbox token on `ServiceOrSandbox` routes.)
    service_token::bearer(header.as_deref())
        .and_then(|t| service_token::verify(secret.as_bytes(), t, now))
        .map_err(|e| ApiError::unauthorized(e.message()))
}
