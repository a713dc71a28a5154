//! The worker's shell of git through the control plane: reads a smart-HTTP request, checks
//! its ticket (HTTP Basic password; a missing or bad one is challenged, as git expects), asks
//! the ticket's session (`Command::Git`) whether and with which credentials, then sends the
//! request on to the forge and passes the forge's answer back as it streams.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use wasm_bindgen::JsValue;
use worker::js_sys::Uint8Array;
use worker::{web_sys, Fetch, Headers, Request, Response};

use super::ask::{GitAsk, GitGrant};
use super::pktline;
use super::rules::{Endpoint, GitPath, Service};
use super::ticket;
use crate::clock::now_ms;
use crate::config;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::{respond, session_call, Edge};
use crate::session::command::Command;
use crate::urls::Base;

/// The largest push we take (the whole request is read to check its ref updates first).
pub const MAX_PUSH_BYTES: usize = 32 * 1024 * 1024;
/// The largest fetch negotiation we take.
const MAX_FETCH_BYTES: usize = 8 * 1024 * 1024;

/// The request headers git's smart HTTP needs passed on.
const FORWARDED: &[&str] = &["content-type", "accept", "git-protocol", "content-encoding"];

/// 401 with a Basic challenge: git then asks its credential helper (or uses the URL's).
fn challenge(why: &str) -> ApiResult<Response> {
    let mut resp = respond::error(&ApiError::unauthorized(why))?;
    resp.headers_mut()
        .set("www-authenticate", "Basic realm=\"control-plane git\"")?;
    Ok(resp)
}

/// The password of an HTTP Basic `Authorization` header.
fn basic_password(req: &Incoming) -> Option<String> {
    let header = req.headers().get("authorization").ok()??;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    Some(decoded.split_once(':')?.1.to_string())
}

/// Serves one git request for `path`.
pub async fn serve(req: &Incoming, edge: &Edge<'_>, path: GitPath) -> ApiResult<Response> {
    let service = match path.endpoint {
        Endpoint::Rpc => path.service.unwrap_or(Service::UploadPack),
        Endpoint::InfoRefs => req
            .query_pairs()
            .into_iter()
            .find(|(k, _)| k == "service")
            .and_then(|(_, v)| Service::parse(&v))
            .ok_or_else(|| {
                ApiError::forbidden("only smart HTTP (git-upload-pack, git-receive-pack) is served")
            })?,
    };
    let Some(secret) = basic_password(req) else {
        return challenge("git needs the sandbox's ticket");
    };
    let key = config::git_ticket_key(edge.env)?;
    let Ok(t) = ticket::verify(&key, &secret, now_ms()) else {
        return challenge("invalid or expired git ticket");
    };
    let body = match (path.endpoint, service) {
        (Endpoint::InfoRefs, _) => Vec::new(),
        (Endpoint::Rpc, Service::UploadPack) => respond::read_up_to(req, MAX_FETCH_BYTES).await?,
        (Endpoint::Rpc, Service::ReceivePack) => respond::read_up_to(req, MAX_PUSH_BYTES).await?,
    };
    let updates = if path.endpoint == Endpoint::Rpc && service == Service::ReceivePack {
        if req.headers().get("content-encoding")?.is_some() {
            return Err(ApiError::new(
                415,
                "unsupported_media_type",
                "a push must not be compressed",
            ));
        }
        pktline::ref_updates(&body)
            .map_err(|e| ApiError::bad_request(format!("unreadable push: {}", e.0)))?
    } else {
        Vec::new()
    };
    let ask = Command::Git(GitAsk {
        sandbox_id: t.sandbox_id,
        owner: path.owner.clone(),
        name: path.name.clone(),
        service,
        updates,
    });
    let stub = session_call::stub(edge.env, &t.session_id)?;
    let mut answer = session_call::post(stub, &ask, Some(edge.request_id)).await?;
    if answer.status_code() != 200 {
        return Ok(answer);
    }
    let grant: GitGrant = session_call::read(&answer.text().await?)?;
    forward(req, edge, &grant, path.endpoint, service, body).await
}

/// Sends the request on to the forge with `grant`'s credentials; its answer streams back.
async fn forward(
    req: &Incoming,
    edge: &Edge<'_>,
    grant: &GitGrant,
    endpoint: Endpoint,
    service: Service,
    body: Vec<u8>,
) -> ApiResult<Response> {
    let base = config::git_url(edge.env, grant.provider);
    let repo = format!("{}.git", grant.name);
    let (segments, query): (Vec<&str>, Vec<(&str, &str)>) = match endpoint {
        Endpoint::InfoRefs => (
            vec![&grant.owner, &repo, "info", "refs"],
            vec![("service", service.as_str())],
        ),
        Endpoint::Rpc => (vec![&grant.owner, &repo, service.as_str()], vec![]),
    };
    let url = Base::parse(&base)
        .and_then(|b| b.join(&segments, &query).ok())
        .ok_or_else(|| ApiError::misconfigured(grant.provider.git_url_setting()))?;
    let headers = Headers::new();
    for name in FORWARDED {
        if let Some(v) = req.headers().get(name)? {
            headers.set(name, &v)?;
        }
    }
    let basic = STANDARD.encode(format!("{}:{}", grant.username, grant.password));
    headers.set("authorization", &format!("Basic {basic}"))?;
    headers.set("user-agent", "git/2 (control-plane)")?;
    let init = web_sys::RequestInit::new();
    init.set_method(if endpoint == Endpoint::Rpc {
        "POST"
    } else {
        "GET"
    });
    init.set_headers(headers.as_ref());
    if endpoint == Endpoint::Rpc {
        init.set_body(&JsValue::from(Uint8Array::from(body.as_slice())));
    }
    let upstream = web_sys::Request::new_with_str_and_init(url.as_str(), &init)
        .map(Request::from)
        .map_err(|_| ApiError::internal("could not build the forge's git request"))?;
    let resp = Fetch::Request(upstream).send().await.map_err(|e| {
        ApiError::new(
            502,
            "upstream_unreachable",
            format!("could not reach the forge's git: {e}"),
        )
    })?;
    let status = resp.status_code();
    if status == 401 || status == 403 {
        // The forge refused our credentials: say so, and never challenge git to ask again.
        return Err(ApiError::new(
            403,
            "forge_refused",
            format!(
                "{} refused the session's credentials for {}/{} ({status})",
                grant.provider.display_name(),
                grant.owner,
                grant.name
            ),
        ));
    }
    let out = Headers::new();
    for name in ["content-type", "cache-control", "expires", "pragma"] {
        if let Some(v) = resp.headers().get(name)? {
            out.set(name, &v)?;
        }
    }
    Ok(resp.with_headers(out).with_status(status))
}
