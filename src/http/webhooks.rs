//! `POST /webhooks/bitbucket` and `POST /webhooks/github`: public routes that take a forge's
//! webhook only when its signature over the raw body verifies (before anything is parsed or
//! stored), then route it to the session that opened the pull request (one D1 read) and
//! hand it over (one Durable Object call). Unknown events and pull requests we did not open
//! are answered 202 and touch nothing else. No secret configured: the route is disabled (404).

use worker::Response;

use crate::auth::random::sha256_hex;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::{respond, session_call, Edge};
use crate::index::{self, RouteMatch};
use crate::raw::Object;
use crate::session::command::Command;
use crate::vcs::VcsProvider;
use crate::webhooks::{self, Parsed};

/// Where each forge puts what: the secret's settings (the shared one, and one per owner), the
/// signature and event headers.
struct Headers {
    secret: &'static str,
    secrets: &'static str,
    signature: &'static str,
    event: &'static str,
}

fn headers_of(provider: VcsProvider) -> Headers {
    match provider {
        VcsProvider::Bitbucket => Headers {
            secret: "BITBUCKET_WEBHOOK_SECRET",
            secrets: "BITBUCKET_WEBHOOK_SECRETS",
            signature: "x-hub-signature",
            event: "x-event-key",
        },
        VcsProvider::Github => Headers {
            secret: "GITHUB_WEBHOOK_SECRET",
            secrets: "GITHUB_WEBHOOK_SECRETS",
            signature: "x-hub-signature-256",
            event: "x-github-event",
        },
    }
}

fn accepted(status: &str) -> ApiResult<Response> {
    respond::object(202, Object::new().field("status", status))
}

/// Takes one delivery from `provider`.
pub async fn receive(req: Incoming, edge: &Edge<'_>, provider: VcsProvider) -> ApiResult<Response> {
    let h = headers_of(provider);
    let shared = config::secret(edge.env, h.secret);
    let per_owner = config::secret(edge.env, h.secrets).and_then(|text| {
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text).ok()
    });
    if shared.is_none() && per_owner.is_none() {
        return Err(ApiError::no_route());
    }
    let body = respond::raw_body(&req).await?;
    let owner = webhooks::claimed_owner(&body);
    let secret = webhooks::secret_for(shared.as_deref(), per_owner.as_ref(), owner.as_deref());
    let signature = req.headers().get(h.signature)?;
    let valid = secret
        .is_some_and(|s| webhooks::signature_valid(s.as_bytes(), &body, signature.as_deref()));
    if !valid {
        return Err(ApiError::unauthorized(
            "missing or invalid webhook signature",
        ));
    }
    let event_name = req.headers().get(h.event)?.unwrap_or_default();
    let parsed = match provider {
        VcsProvider::Bitbucket => webhooks::bitbucket::parse(&event_name, &body),
        VcsProvider::Github => webhooks::github::parse(&event_name, &body),
    }
    .map_err(ApiError::bad_request)?;
    let Parsed::Event(event) = parsed else {
        return accepted("ignored");
    };
    // Deliveries are told apart by what the forge signed: the delivery-id header is not
    // signed, so a captured delivery re-sent under a new id is still a repeat.
    let delivery = sha256_hex(&String::from_utf8_lossy(&body));
    let db = edge.env.d1("DB")?;
    let routed = index::route(&db, provider, &event.route(), RouteMatch::Delivery).await?;
    let Some(session) = routed else {
        return accepted("unknown");
    };
    let answer = session_call::call(edge, &session, &Command::Webhook { delivery, event }).await?;
    if answer.status_code() == 404 {
        // The session was deleted since: nothing to update, and nothing for the forge to retry.
        return accepted("unknown");
    }
    Ok(answer)
}
