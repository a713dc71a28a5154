//! Work that must finish even when the request that started it ends first: a token refresh
//! whose rotated refresh token would otherwise be lost with a caller who hung up.

use std::future::Future;

use futures::channel::oneshot;
use worker::{Context, State};

/// What keeps detached work alive: the request's `waitUntil`, or the Durable Object's.
#[derive(Clone, Copy)]
pub enum Keeper<'a> {
    Request(&'a Context),
    Object(&'a State),
}

impl Keeper<'_> {
    /// Runs `work` to its end whatever happens to the caller, and answers its result
    /// (`None` only if the work itself was torn down before it answered).
    pub async fn finish<T: 'static>(&self, work: impl Future<Output = T> + 'static) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        let job = async move {
            let _ = tx.send(work.await);
        };
        match self {
            Keeper::Request(ctx) => ctx.wait_until(job),
            Keeper::Object(state) => state.wait_until(job),
        }
        rx.await.ok()
    }
}
