//! Which routes are public, and the service-token check for all the others.

use worker::{Date, Env, Request};

use crate::auth::service_token;
use crate::config;
use crate::error::{ApiError, ApiResult};

/// Routes that need no service token: the health check, and the WebSocket upgrade, whose
/// callers authenticate in-band (browser `subscribe` token) or with the sandbox token.
pub fn is_public(method: &worker::Method, path: &str) -> bool {
    if *method == worker::Method::Get && path == "/health" {
        return true;
    }
    *method == worker::Method::Get
        && path.starts_with("/sessions/")
        && path.ends_with("/ws")
        && path.matches('/').count() == 3
}

/// Requires a valid `Authorization: Bearer <ms>.<hex>` service token.
pub fn require_service_token(req: &Request, env: &Env) -> ApiResult<()> {
    let secret = config::secret(env, "INTERNAL_CALLBACK_SECRET")
        .ok_or_else(|| ApiError::misconfigured("INTERNAL_CALLBACK_SECRET"))?;
    let header = req.headers().get("authorization")?;
    let now = Date::now().as_millis() as i64;
    service_token::bearer(header.as_deref())
        .and_then(|t| service_token::verify(secret.as_bytes(), t, now))
        .map_err(|e| ApiError::unauthorized(e.message()))
}
