//! The `SessionObject` Durable Object: a dispatcher. It makes sure the schema is current,
//! then hands each command, socket message, close and alarm to the module that owns it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use futures::channel::oneshot;

use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage,
};

use crate::error::{ApiError, ApiResult};
use crate::http::respond;
use crate::session::command::Command;
use crate::session::sandbox_runner::{self, SANDBOX_TAG};
use crate::session::store::Store;
use crate::session::{actions, clients, pull_request, sandbox_link};

#[durable_object]
pub struct SessionObject {
    pub(crate) state: State,
    pub(crate) env: Env,
    pub(crate) store: Store,
    migrated: Cell<bool>,
    /// Pushes awaiting `push_complete`/`push_error`, by branch (in memory: a request is
    /// waiting on each, so the object cannot hibernate meanwhile).
    pub(crate) pushes: RefCell<HashMap<String, oneshot::Sender<Result<(), String>>>>,
    /// A pull request is being created.
    pub(crate) pr_in_progress: Cell<bool>,
    /// Derived from socket attachments; see `clients::subscribers`.
    pub(crate) subscribers: RefCell<Option<Vec<WebSocket>>>,
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

impl SessionObject {
    /// Applies pending migrations once per instance (and again after a delete).
    pub(crate) fn ready(&self) -> ApiResult<()> {
        if !self.migrated.get() {
            self.store.migrate(now_ms())?;
            self.migrated.set(true);
        }
        Ok(())
    }

    /// Marks the schema as gone (after all storage was deleted).
    pub(crate) fn forget_schema(&self) {
        self.migrated.set(false);
    }

    async fn handle(&self, mut req: Request) -> ApiResult<Response> {
        self.ready()?;
        let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
        if upgrade.eq_ignore_ascii_case("websocket") {
            let is_sandbox = req
                .url()?
                .query_pairs()
                .any(|(k, v)| k == "type" && v == "sandbox");
            return if is_sandbox {
                sandbox_link::accept(self, &req).await
            } else {
                clients::accept(self).await
            };
        }
        let command: Command = respond::body(&mut req)
            .await
            .map_err(|e| ApiError::internal(format!("bad internal command: {}", e.message)))?;
        actions::run(self, command).await
    }
}

impl DurableObject for SessionObject {
    fn new(state: State, env: Env) -> Self {
        let store = Store::new(state.storage().sql());
        Self {
            state,
            env,
            store,
            migrated: Cell::new(false),
            pushes: RefCell::new(HashMap::new()),
            pr_in_progress: Cell::new(false),
            subscribers: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        respond::finish(self.handle(req).await)
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        if let Err(e) = self.ready() {
            worker::console_error!("session schema unavailable: {e}");
            return Ok(());
        }
        if self.state.get_tags(&ws).iter().any(|t| t == SANDBOX_TAG) {
            sandbox_link::on_message(self, &ws, message).await;
        } else {
            clients::on_message(self, &ws, message).await;
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        if self.state.get_tags(&ws).iter().any(|t| t == SANDBOX_TAG) {
            pull_request::sandbox_gone(self);
        } else {
            clients::subscribers_changed(self);
        }
        // Complete the closing handshake; nothing is stored per connection.
        let code = if code == 1005 || code == 1006 {
            1000
        } else {
            code as u16
        };
        let _ = ws.close(Some(code), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, error: worker::Error) -> Result<()> {
        clients::subscribers_changed(self);
        worker::console_warn!("websocket error: {error}");
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        if self.ready().is_ok() && self.store.session().ok().flatten().is_some() {
            sandbox_runner::kick(self).await;
        }
        Response::ok("ok")
    }
}
