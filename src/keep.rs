//! Work that must finish even when the request that started it ends first: a token refresh
//! whose rotated refresh token would otherwise be lost with a caller who hung up.

use std::future::Future;

use futures::channel::oneshot;
use worker::State;

/// Runs `work` to its end under the Durable Object's `waitUntil`, whatever happens to the
/// request that started it, and answers its result (`None` only if the work itself was torn
/// down before it answered).
pub async fn finish<T: 'static>(
    state: &State,
    work: impl Future<Output = T> + 'static,
) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    state.wait_until(async move {
        let _ = tx.send(work.await);
    });
    rx.await.ok()
}
