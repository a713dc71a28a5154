//! `GET /health`, the one public route besides the WebSocket upgrade.

use worker::Response;

use crate::error::ApiResult;
use crate::http::respond;
use crate::raw::Object;

pub fn get() -> ApiResult<Response> {
    respond::object(200, Object::new().field("status", "healthy"))
}
