//! `GET /health`, the one public route besides the WebSocket upgrade.

use serde_json::json;
use worker::Response;

use crate::error::ApiResult;
use crate::http::respond;

pub fn get() -> ApiResult<Response> {
    respond::json(200, &json!({ "status": "healthy" }))
}
