//! Turning results into responses and request bodies into typed values: JSON answers,
//! JSON errors, the 1 MiB body limit.

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Response, ResponseBuilder, Result};

use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::json;
use crate::raw::{Object, Raw};

/// The largest request body we read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How much of a body the answer did not need (too large, or refused unread) is read and
/// dropped before the answer goes out (see [`discard`]).
const DISCARD_BYTES: usize = 8 * MAX_BODY_BYTES;

/// A JSON answer with a status.
pub fn json<T: Serialize>(status: u16, body: &T) -> ApiResult<Response> {
    Ok(json_text(status, Raw::of(body).into_string())?)
}

/// A JSON answer with a status, its body written field by field.
pub fn object(status: u16, body: Object) -> ApiResult<Response> {
    Ok(json_text(status, body.end())?)
}

/// A JSON answer with a status, its body already JSON text.
pub fn json_text(status: u16, body: String) -> Result<Response> {
    Ok(ResponseBuilder::new()
        .with_header("content-type", "application/json")?
        .with_status(status)
        .fixed(body.into_bytes()))
}

/// The JSON error answer for `e`.
pub fn error(e: &ApiError) -> Result<Response> {
    json_text(e.status, e.body())
}

/// Collapses a handler's result into a response: errors become their JSON answer.
pub fn finish(result: ApiResult<Response>) -> Result<Response> {
    match result {
        Ok(r) => Ok(r),
        Err(e) => error(&e),
    }
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`] into `T`.
pub async fn body<T: DeserializeOwned>(req: &Incoming) -> ApiResult<T> {
    parse_body(&raw_body(req).await?)
}

/// Reads a body of at most [`MAX_BODY_BYTES`] declared as JSON (or undeclared), unparsed.
pub async fn raw_body(req: &Incoming) -> ApiResult<Vec<u8>> {
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    if let Some(ct) = req.headers().get("content-type")? {
        let ct = ct.to_ascii_lowercase();
        if !ct.contains("json") && !ct.starts_with("text/plain") {
            return Err(ApiError::unsupported_media_type());
        }
    }
    match req.take_read_body() {
        Some(bytes) => Ok(bytes),
        None => read_capped(req).await,
    }
}

/// Reads the body, whatever its type, up to [`MAX_BODY_BYTES`] (413 past it); none is empty.
pub async fn read_capped(req: &Incoming) -> ApiResult<Vec<u8>> {
    read_up_to(req, MAX_BODY_BYTES).await
}

/// Reads the body, whatever its type, up to `limit` bytes (413 past it); none is empty. A
/// body a check already read (a `sig1` signature covers it) is the one answered.
pub async fn read_up_to(req: &Incoming, limit: usize) -> ApiResult<Vec<u8>> {
    if let Some(kept) = req.take_read_body() {
        if kept.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        return Ok(kept);
    }
    // Read while counting: a body without (or lying about) Content-Length stops at the limit.
    let Some(mut stream) = req.body() else {
        return Ok(Vec::new());
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_request("could not read the request body"))?;
        if bytes.len() + chunk.len() > limit {
            discard(stream, bytes.len() + chunk.len()).await;
            return Err(ApiError::payload_too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Reads what is left of a request body and drops it, up to [`DISCARD_BYTES`] in all
/// (`seen` counts what was read before). An answer that leaves its request's body unread
/// breaks the next request on `wrangler dev`'s proxy connection (workers-sdk #5095, #15709),
/// so a body refused unread, or refused as too large, is read to its end first.
pub async fn discard<S>(mut stream: S, mut seen: usize)
where
    S: futures::Stream<Item = worker::Result<Vec<u8>>> + Unpin,
{
    while seen <= DISCARD_BYTES {
        match stream.next().await {
            Some(Ok(chunk)) => seen += chunk.len(),
            _ => return,
        }
    }
}

/// Parses a body already read: size limit, then JSON syntax, then shape (a JSON object
/// that `T` can read).
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_json(
            "request body is empty; expected JSON",
        ));
    }
    // Parsed as text: every JSON parse in the worker reads `&str`, so one parser is linked.
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::invalid_json("malformed JSON: the body is not UTF-8"))?;
    let shape =
        |why: String| ApiError::new(400, "invalid_body", format!("invalid request body: {why}"));
    match json::read::<T>(text) {
        Ok(_) | Err(Some(_)) if !json::is_object(text) => Err(shape("expected an object".into())),
        Ok(value) => Ok(value),
        Err(Some(why)) => Err(shape(why)),
        Err(None) => {
            let why = serde_json::from_str::<serde::de::IgnoredAny>(text)
                .err()
                .map_or_else(|| "trailing characters".into(), |e| e.to_string());
            Err(ApiError::invalid_json(format!("malformed JSON: {why}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unread_body_is_read_to_its_end_but_never_past_the_cap() {
        let chunks = |n| futures::stream::iter((0..n).map(|_| Ok(vec![0u8; MAX_BODY_BYTES])));
        let mut short = chunks(3);
        futures::executor::block_on(discard(&mut short, 0));
        assert_eq!(futures::executor::block_on(short.count()), 0);
        let mut endless = chunks(100);
        futures::executor::block_on(discard(&mut endless, 0));
        let left = futures::executor::block_on(endless.count());
        assert_eq!(left, 100 - DISCARD_BYTES / MAX_BODY_BYTES - 1);
    }

    #[derive(Debug, serde::Deserialize)]
    struct T {
        a: i64,
    }

    #[test]
    fn body_errors_are_distinguished() {
        assert_eq!(parse_body::<T>(b"{").unwrap_err().code, "invalid_json");
        assert_eq!(parse_body::<T>(b"").unwrap_err().code, "invalid_json");
        assert_eq!(
            parse_body::<T>(br#"{"a":"x"}"#).unwrap_err().code,
            "invalid_body"
        );
        assert_eq!(parse_body::<T>(br#"{}"#).unwrap_err().code, "invalid_body");
        assert_eq!(parse_body::<T>(br#"[1]"#).unwrap_err().code, "invalid_body");
        assert_eq!(
            parse_body::<T>(br#"{"a":"x"}"#).unwrap_err().message,
            "invalid request body: a: invalid type: string \"x\", expected i64 at line 1 column 8"
        );
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_body::<T>(&big).unwrap_err().status, 413);
        assert_eq!(parse_body::<T>(br#"{"a":1}"#).unwrap().a, 1);
    }
}
