//! Who is calling: the services that sign their requests with Open-Inspect's `sig1` (the
//! web app's server and the Slack, GitHub and Linear bots, each with its own secret), each
//! signature's nonce accepted once; and the people who sign in through the web app with
//! Bitbucket, GitHub or Google (their users, accounts and browser sessions, `browser`).

pub mod admission;
pub mod browser;
pub mod cookies;
pub mod flow;
pub mod google;
pub mod nonces;
pub mod principal;
pub mod settings;
pub mod sig1;
pub mod users;

use worker::Env;

use crate::clock::now_ms;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::respond;
use crate::log;
use sig1::{Service, Signed};

/// A service whose signature was verified, and the actor it asserted (a bot acting for
/// someone: `slack:U123`), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub service: Service,
    pub actor: Option<String>,
}

/// Verifies a request that carries a `sig1` signature header: the named service's secret,
/// the signature over method, path, query, body and actor, the actor's namespace, and that
/// its nonce was not used before. The body is read whole for its hash and kept for the
/// handler. Every refusal is a 401 (its reason logged); a service without a secret is 500.
pub async fn verify_signed(req: &Incoming, env: &Env, signature: &str) -> ApiResult<Signer> {
    let headers = req.headers();
    let refuse = |reason: &str, service: &str| {
        log::warn(
            "service signature refused",
            &[("reason", reason.into()), ("service", service.into())],
        );
        ApiError::unauthorized("invalid service signature")
    };
    let named = headers.get(sig1::SERVICE_HEADER)?.unwrap_or_default();
    let service = Service::parse(&named).ok_or_else(|| refuse("unknown_service", ""))?;
    let secret = config::secret(env, service.secret_setting())
        .ok_or_else(|| ApiError::misconfigured(service.secret_setting()))?;
    let header = sig1::parse_header(signature, now_ms())
        .map_err(|r| refuse(r.as_str(), service.as_str()))?;
    let body = respond::read_capped(req).await?;
    let url = req.url().ok_or_else(|| refuse("url", service.as_str()))?;
    let actor = headers.get(sig1::ACTOR_HEADER)?.unwrap_or_default();
    let request = Signed {
        service,
        method: &req.raw().method(),
        url: &url,
        body: &body,
        actor: &actor,
    };
    sig1::verify(secret.as_bytes(), &header, &request)
        .map_err(|r| refuse(r.as_str(), service.as_str()))?;
    if !actor.is_empty() && !service.may_assert(&actor) {
        return Err(refuse("actor_not_allowed", service.as_str()));
    }
    let claim = nonces::Claim::new(service, &header.nonce, header.timestamp_ms);
    if !nonces::first_use(env, &claim).await? {
        return Err(refuse("nonce_replayed", service.as_str()));
    }
    req.keep_read_body(body);
    Ok(Signer {
        service,
        actor: (!actor.is_empty()).then_some(actor),
    })
}
