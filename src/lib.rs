//! control-plane: the Cloudflare Worker that runs background coding agents against
//! Bitbucket Cloud and GitHub. This file is the entry point; see `http` for the routes and
//! `session` for the per-session Durable Object.

pub mod auth;
pub mod bots;
pub mod children;
pub mod clock;
pub mod config;
pub mod error;
pub mod exports;
pub mod git;
pub mod http;
pub mod identity;
pub mod index;
pub mod json;
pub mod keep;
pub mod log;
#[cfg(feature = "panic-probe")]
pub mod probe;
pub mod raw;
pub mod redact;
pub mod rows;
pub mod sandbox_api;
pub mod secrets;
pub mod session;
pub mod settle;
pub mod upstream;
pub mod urls;
pub mod validate;
pub mod vcs;
pub mod webhooks;
pub mod wire;

pub use auth::refresher::RefreshObject;
pub use session::object::SessionObject;

use worker::{Env, Response, Result};

use crate::http::incoming::Incoming;

/// The worker's answer to a request (`exports::fetch` gives it to the runtime).
async fn fetch(req: Incoming, env: Env) -> Result<Response> {
    #[cfg(feature = "panic-probe")]
    if let Some(answer) = probe::answer(&req, &env).await {
        return answer;
    }
    let body = req.raw().body();
    let resp = http::handle(req, env).await;
    // A body no handler read (a refused request) is dropped before the answer goes out.
    if let Some(body) = body.filter(|b| !b.locked()) {
        http::respond::discard(worker::ByteStream::from(body), 0).await;
    }
    resp
}
