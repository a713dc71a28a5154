//! Who may call a service route (a service's `sig1` signature, or the older shared bearer),
//! and who is calling a route open to the service or the sandbox.

use worker::Env;

use crate::auth::service_token;
use crate::clock::now_ms;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::session_call;
use crate::redact::Hidden;
use serde_json::{Map, Value};

use crate::auth::credentials::reauth;
use crate::http::respond;
use crate::identity::principal::{self, Caller, IdentityRoute};
use crate::identity::users::{self, Users};
use crate::identity::{self, browser, sig1, Signer};
use crate::session::command::PrCaller;
use crate::vcs::VcsProvider;

/// Who calls a service route: a bot by its `sig1` signature; a person signed in through the
/// web app by the web app's signature and their session cookie (the web app's signature
/// without one is refused, as Open-Inspect refuses it); else an older web app by the shared
/// bearer.
pub async fn require_service(req: &Incoming, env: &Env) -> ApiResult<Caller> {
    let Some(signature) = req.headers().get(sig1::SIGNATURE_HEADER)? else {
        return require_service_token(req, env).map(|()| Caller::Bearer);
    };
    match identity::verify_signed(req, env, &signature).await? {
        Signer {
            service: sig1::Service::Web,
            actor: None,
        } => match browser::signed_in_user(req, env).await? {
            Some(user_id) => Ok(Caller::User { user_id }),
            None => Err(ApiError::unauthorized("sign in first")),
        },
        Signer { service, actor } => Ok(Caller::Bot { service, actor }),
    }
}

/// For a verified caller of a route whose body says who acts: refuses identity fields and
/// writes the caller's identity in their place, for the handler to read; a person starting
/// a session must have connected the session's provider. The bearer's bodies stay as sent.
pub async fn enforce_identity(
    req: &Incoming,
    env: &Env,
    route: IdentityRoute,
    caller: &Caller,
) -> ApiResult<()> {
    if *caller == Caller::Bearer {
        return Ok(());
    }
    let bytes = match req.take_read_body() {
        Some(bytes) => bytes,
        None => respond::read_capped(req).await?,
    };
    let mut body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => map,
        _ if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
        // Not an object: the handler says what is wrong with it.
        _ => {
            req.keep_read_body(bytes);
            return Ok(());
        }
    };
    principal::enforce(route, caller, &mut body)?;
    if let (IdentityRoute::CreateSession, Caller::User { user_id }) = (route, caller) {
        let stored = Users::new(env)?.credentials(user_id).await?;
        let provider = match body.get("vcsProvider").and_then(Value::as_str) {
            Some(named) => VcsProvider::from_input(named),
            None => {
                let usable = users::usable(&stored);
                let chosen = principal::pick_provider(config::default_provider(env), &usable);
                body.insert("vcsProvider".into(), chosen.as_str().into());
                Some(chosen)
            }
        };
        if let Some(provider) = provider {
            require_connected(provider, &stored)?;
        }
    }
    req.keep_read_body(serde_json::to_vec(&Value::Object(body))?);
    Ok(())
}

/// 401 `reauth_required` unless `stored` (the user's credentials, each with whether the
/// forge refused them) has usable ones at `provider`.
fn require_connected(provider: VcsProvider, stored: &[(VcsProvider, bool)]) -> ApiResult<()> {
    let name = provider.display_name();
    match stored.iter().find(|(p, _)| *p == provider) {
        Some((_, false)) => Ok(()),
        Some((_, true)) => Err(reauth(&format!(
            "{name} no longer accepts your connected account: connect your {name} account again"
        ))),
        None => Err(reauth(&format!(
            "connect your {name} account to start a session on a {name} repository"
        ))),
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
pub fn sandbox_token(req: &Incoming, env: &Env, id: &str) -> ApiResult<Hidden> {
    let header = req.headers().get("authorization")?;
    let token = service_token::bearer(header.as_deref())
        .map_err(|e| ApiError::unauthorized(e.message()))?;
    session_call::stub(env, id).map_err(|_| ApiError::unauthorized("invalid sandbox token"))?;
    Ok(Hidden(token.to_string()))
}

/// The caller of a service-or-sandbox route of session `id`: the service when its token is
/// valid, else whoever holds the bearer token (which the session checks).
pub async fn service_or_sandbox(req: &Incoming, env: &Env, id: &str) -> ApiResult<PrCaller> {
    if req.headers().get(sig1::SIGNATURE_HEADER)?.is_some() {
        return require_service(req, env).await.map(|_| PrCaller::Service);
    }
    // Without INTERNAL_CALLBACK_SECRET there is no shared bearer: a bearer is the sandbox's.
    let service = match config::secret(env, "INTERNAL_CALLBACK_SECRET") {
        Some(_) => require_service_token(req, env),
        None => Err(ApiError::unauthorized("invalid service or sandbox token")),
    };
    match service {
        Ok(()) => Ok(PrCaller::Service),
        Err(e) if e.status == 401 => {
            let header = req.headers().get("authorization")?;
            let token = service_token::bearer(header.as_deref()).map_err(|_| e.clone())?;
            // An unknown session says nothing to an unauthenticated caller.
            session_call::stub(env, id).map_err(|_| e)?;
            Ok(PrCaller::Sandbox(Hidden(token.to_string())))
        }
        Err(e) => Err(e),
    }
}
