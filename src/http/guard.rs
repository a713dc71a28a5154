//! The service-token check, and who is calling a route open to the service or the sandbox.

use worker::Env;

use crate::auth::service_token;
use crate::clock::now_ms;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::session_call;
use crate::session::command::PrCaller;

/// Requires a valid `Authorization: Bearer <ms>.<hex>` service token.
pub fn require_service_token(req: &Incoming, env: &Env) -> ApiResult<()> {
    let secret = config::secret(env, "INTERNAL_CALLBACK_SECRET")
        .ok_or_else(|| ApiError::misconfigured("INTERNAL_CALLBACK_SECRET"))?;
    let header = req.headers().get("authorization")?;
    service_token::bearer(header.as_deref())
        .and_then(|t| service_token::verify(secret.as_bytes(), t, now_ms()))
        .map_err(|e| ApiError::unauthorized(e.message()))
}

/// The bearer token of a sandbox route of session `id` (the session checks it). Without
/// one, or for a session id that cannot exist, 401.
pub fn sandbox_token(req: &Incoming, env: &Env, id: &str) -> ApiResult<String> {
    let header = req.headers().get("authorization")?;
    let token = service_token::bearer(header.as_deref())
        .map_err(|e| ApiError::unauthorized(e.message()))?;
    session_call::stub(env, id).map_err(|_| ApiError::unauthorized("invalid sandbox token"))?;
    Ok(token.to_string())
}

/// The caller of a service-or-sandbox route of session `id`: the service when its token is
/// valid, else whoever holds the bearer token (which the session checks).
pub fn service_or_sandbox(req: &Incoming, env: &Env, id: &str) -> ApiResult<PrCaller> {
    match require_service_token(req, env) {
        Ok(()) => Ok(PrCaller::Service),
        Err(e) if e.status == 401 => {
            let header = req.headers().get("authorization")?;
            let token = service_token::bearer(header.as_deref()).map_err(|_| e.clone())?;
            // An unknown session says nothing to an unauthenticated caller.
            session_call::stub(env, id).map_err(|_| e)?;
            Ok(PrCaller::Sandbox(token.to_string()))
        }
        Err(e) => Err(e),
    }
}
