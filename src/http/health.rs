//! `GET /health`, the one public route.

use serde_json::json;
use worker::{Request, Response, Result, RouteContext};

pub fn get(_req: Request, _ctx: RouteContext<()>) -> Result<Response> {
    Response::from_json(&json!({ "status": "healthy" }))
}
