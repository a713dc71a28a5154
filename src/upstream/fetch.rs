//! The shell that sends the sans-IO clients' requests: one HTTP call through the runtime's
//! `fetch`, and the rate-limit retry loop around it.

use wasm_bindgen::JsValue;
use worker::{web_sys, Date, Delay, Fetch, Headers, Request};

use crate::upstream::http::{HttpRequest, HttpResponse, Method};
use crate::upstream::retry::{self, Decision, Policy};
use crate::upstream::TransportError;

/// A runtime `Request` from its parts. Built on the runtime's own `RequestInit`: worker's
/// wrapper would also link its `cf` property serializers (image resizing and the like), which
/// no call of ours sets.
pub fn request(
    url: &str,
    method: Method,
    headers: &Headers,
    body: Option<&str>,
) -> worker::Result<Request> {
    let init = web_sys::RequestInit::new();
    init.set_method(method.as_str());
    init.set_headers(headers.as_ref());
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
    }
    web_sys::Request::new_with_str_and_init(url, &init)
        .map(Request::from)
        .map_err(|_| worker::Error::RustError(format!("invalid request to {url}")))
}

/// Where a request goes: out through the runtime's `fetch`, or to another worker through a
/// service binding.
#[derive(Clone, Copy)]
pub enum Via<'a> {
    Internet,
    Binding(&'a worker::Fetcher),
}

/// Sends one request; any answer is returned, whatever its status.
pub async fn send(req: &HttpRequest) -> Result<HttpResponse, TransportError> {
    send_via(Via::Internet, req).await
}

/// Sends one request `via` the internet or a binding; any answer is returned.
pub async fn send_via(via: Via<'_>, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
    let net = |e: worker::Error| TransportError(e.to_string());
    let headers = Headers::new();
    for (k, v) in &req.headers {
        headers.set(k, v).map_err(net)?;
    }
    let request = request(&req.url, req.method, &headers, req.body.as_deref()).map_err(net)?;
    let mut resp = match via {
        Via::Internet => Fetch::Request(request).send().await,
        Via::Binding(f) => f.fetch_request(request).await,
    }
    .map_err(net)?;
    let status = resp.status_code();
    let headers = resp
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let body = resp.text().await.map_err(net)?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// Sends one request, giving up after `timeout_ms` (the call may still complete upstream).
pub async fn send_within(
    req: &HttpRequest,
    timeout_ms: u64,
) -> Result<HttpResponse, TransportError> {
    send_within_via(Via::Internet, req, timeout_ms).await
}

/// [`send_within`] `via` the internet or a binding.
pub async fn send_within_via(
    via: Via<'_>,
    req: &HttpRequest,
    timeout_ms: u64,
) -> Result<HttpResponse, TransportError> {
    use futures::future::{select, Either};
    let timeout = Delay::from(std::time::Duration::from_millis(timeout_ms));
    match select(Box::pin(send_via(via, req)), Box::pin(timeout)).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => Err(TransportError(format!(
            "no answer within {} s",
            timeout_ms / 1000
        ))),
    }
}

/// Sends `req`, retrying rate-limited answers (`retry::rate_limited`) per `policy`, and, for GETs, a dropped connection or a
/// 5xx per `retry::TRANSIENT`; other answers are returned as they are.
pub async fn send_with_retry(
    req: &HttpRequest,
    policy: Policy,
) -> Result<HttpResponse, TransportError> {
    let started = Date::now().as_millis();
    let idempotent = req.method == Method::Get;
    let (mut tries, mut transient) = (0, 0);
    loop {
        tries += 1;
        let answer = send(req).await;
        let elapsed = Date::now().as_millis().saturating_sub(started);
        // A dropped connection or a 5xx: an idempotent call is tried again, soon.
        let failed = answer.as_ref().map_or(true, |r| r.status >= 500);
        if idempotent && failed {
            transient += 1;
            match retry::after_transient(retry::TRANSIENT, transient, elapsed) {
                Decision::RetryAfter(ms) => {
                    Delay::from(std::time::Duration::from_millis(ms)).await;
                    continue;
                }
                Decision::GiveUp => return answer,
            }
        }
        let resp = answer?;
        let Some(retry_after) = retry::rate_limited(&resp, Date::now().as_millis() as i64) else {
            return Ok(resp);
        };
        match retry::after_rate_limit(policy, tries, elapsed, retry_after.as_deref()) {
            Decision::RetryAfter(ms) => Delay::from(std::time::Duration::from_millis(ms)).await,
            Decision::GiveUp => return Ok(resp),
        }
    }
}
