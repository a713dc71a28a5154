//! Who may call a service route (a service's `sig1` signature, or the older shared bearer),
//! and who is calling a route open to the service or the sandbox.

use worker::Env;

use crate::auth::service_token;
use crate::clock::now_ms;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::session_call;
use crate::identity::{self, sig1, Signer};
use crate::session::command::PrCaller;

/// How a service route's caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceCaller {
    /// A service's `sig1` signature (Open-Inspect's current web app and bots).
    Signed(Signer),
    /// The shared `Bearer <ms>.<hex>` of older web apps (while `INTERNAL_CALLBACK_SECRET` is set).
    Bearer,
}

/// Requires a service's valid `sig1` signature when the request carries one, else a valid
/// shared bearer.
pub async fn require_service(req: &Incoming, env: &Env) -> ApiResult<ServiceCaller> {
    match req.headers().get(sig1::SIGNATURE_HEADER)? {
        Some(signature) => Ok(ServiceCaller::Signed(
            identity::verify_signed(req, env, &signature).await?,
        )),
        None => require_service_token(req, env).map(|()| ServiceCaller::Bearer),
    }
}

/// Requires the web app's own `sig1` signature, with no actor (browser sign-in routes).
pub async fn require_web_service(req: &Incoming, env: &Env) -> ApiResult<()> {
    let refused = || ApiError::unauthorized("only the web app may call this route");
    let signature = req
        .headers()
        .get(sig1::SIGNATURE_HEADER)?
        .ok_or_else(refused)?;
    match identity::verify_signed(req, env, &signature).await? {
        Signer {
            service: sig1::Service::Web,
            actor: None,
        } => Ok(()),
        _ => Err(refused()),
    }
}

/// Requires a valid `Authorization: Bearer <ms>.<hex>` service token.
fn require_service_token(req: &Incoming, env: &Env) -> ApiResult<()> {
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
pub async fn service_or_sandbox(req: &Incoming, env: &Env, id: &str) -> ApiResult<PrCaller> {
    if req.headers().get(sig1::SIGNATURE_HEADER)?.is_some() {
        return require_service(req, env).await.map(|_| PrCaller::Service);
    }
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
