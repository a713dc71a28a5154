//! The `SessionObject` Durable Object: a dispatcher. It makes sure the schema is current,
//! then hands each command (an RPC call from the worker), socket upgrade, socket message,
//! close and alarm to the module that owns it, and carries what one module answers over to
//! the next.

use wasm_bindgen::JsValue;
use worker::{Env, Response, Result, State, WebSocket, WebSocketIncomingMessage};

use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::{respond, session_call};
use crate::session::client::frames::{self, Request as ClientRequest};
use crate::session::client::link as client_link;
use crate::session::client::protocol::ServerMessage;
use crate::session::command::Command;
use crate::session::ctx::Ctx;
use crate::session::pull_request;
use crate::session::sandbox::events::{self, Followup};
use crate::session::sandbox::git as sandbox_git;
use crate::session::sandbox::link as sandbox_link;
use crate::session::sandbox::policy;
use crate::session::sandbox::routes as sandbox_routes;
use crate::session::sandbox::runner;
use crate::session::{actions, alarm, queue};

/// One session: its SQLite store, its client and sandbox sockets, its alarm. Everything it
/// keeps in memory is derived or transient (pull requests under way); the rest is stored.
pub struct SessionObject {
    ctx: Ctx,
}

impl SessionObject {
    /// A socket upgrade (a client's, or the sandbox's): the one request the object takes
    /// over HTTP; commands come as RPC calls (see [`SessionObject::command`]).
    async fn upgrade(&self, req: Incoming) -> ApiResult<Response> {
        let ctx = &self.ctx;
        ctx.store.ready(now_ms())?;
        let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
        if !upgrade.eq_ignore_ascii_case("websocket") {
            return Err(ApiError::no_route());
        }
        let is_sandbox = req
            .query_pairs()
            .iter()
            .any(|(k, v)| k == "type" && v == "sandbox");
        if is_sandbox {
            return sandbox_link::accept(ctx, &req);
        }
        let (resp, deadline) = client_link::accept(ctx)?;
        // The alarm closes the socket if it has not subscribed by then.
        alarm::wake_by(ctx, deadline).await;
        Ok(resp)
    }

    /// One command from the worker, handed to the module that owns it.
    async fn run(&self, text: &str) -> ApiResult<Response> {
        #[cfg(feature = "panic-probe")]
        crate::probe::in_object(text);
        #[cfg(feature = "panic-probe")]
        crate::probe::in_object_later(text).await;
        let ctx = &self.ctx;
        ctx.store.ready(now_ms())?;
        match session_call::read(text)? {
            Command::CreatePr { body, caller } => pull_request::create(ctx, &body, caller).await,
            Command::Sandbox { token, ask } => sandbox_routes::answer(ctx, &token, ask).await,
            Command::Webhook { delivery, event } => {
                pull_request::status::webhook(ctx, &delivery, event).await
            }
            Command::RefreshPr => pull_request::status::refresh(ctx).await,
            Command::Git(ask) => sandbox_git::answer(ctx, ask).await,
            other => actions::run(ctx, other).await,
        }
    }

    async fn client_request(&self, ws: &WebSocket, request: ClientRequest) {
        let ctx = &self.ctx;
        match request {
            ClientRequest::Prompt {
                input,
                author,
                client_request_id,
            } => {
                let answer = match actions::prompt(ctx, &input, Some(&author)).await {
                    Ok(q) => ServerMessage::PromptQueued {
                        client_request_id,
                        message_id: q.message_id,
                        position: q.position,
                    },
                    Err(e) => ServerMessage::error_for(&e.code, e.message, client_request_id),
                };
                client_link::send(ws, &answer);
            }
            ClientRequest::Cancel {
                message_id,
                client_request_id,
            } => {
                let answer = match queue::cancel(ctx, &message_id) {
                    Ok(()) => ServerMessage::PromptCancelled {
                        client_request_id,
                        message_id,
                    },
                    Err(e) => ServerMessage::error_for(&e.code, e.message, client_request_id),
                };
                client_link::send(ws, &answer);
            }
            ClientRequest::Stop => {
                frames::answer(ws, actions::stop(ctx).await);
            }
            // Typing is never answered with an error: warming up is best effort.
            ClientRequest::Typing { user_id } => match runner::warm(ctx, &user_id).await {
                Ok(true) => alarm::kick(ctx).await,
                Ok(false) => {}
                Err(e) => ctx.warn("could not warm the sandbox", e),
            },
        }
    }

    async fn followup(&self, followup: Followup) {
        match followup {
            Followup::Schedule => alarm::kick(&self.ctx).await,
            Followup::PushResult { branch, result } => self.ctx.pushes.resolve(&branch, result),
        }
    }
}

/// The handlers the runtime (and, for `command`, the worker) calls, through the class
/// `crate::exports` gives JavaScript.
impl SessionObject {
    /// The worker's commands, called over RPC (`session_call::post`); `request_id` goes into
    /// every log line the command makes, so one request can be followed end to end.
    pub async fn command(
        &self,
        text: String,
        request_id: Option<String>,
    ) -> std::result::Result<JsValue, JsValue> {
        let before = self.ctx.request_id.replace(request_id.clone());
        let answer = self.run(&text).await;
        *self.ctx.request_id.borrow_mut() = before;
        if let Err(e) = &answer {
            if e.status >= 500 {
                // The worker's line has the status; this one says why, under the same id.
                crate::log::error(
                    "session command failed",
                    &[
                        ("requestId", request_id.unwrap_or_default().into()),
                        ("sessionId", self.ctx.session_id.as_str().into()),
                        ("code", e.code.as_str().into()),
                        ("detail", e.message.as_str().into()),
                    ],
                );
            }
        }
        session_call::answer(answer)
    }

    pub fn new(state: State, env: Env) -> Self {
        Self {
            ctx: Ctx::new(state, env),
        }
    }

    pub async fn fetch(&self, req: Incoming) -> Result<Response> {
        respond::finish(self.upgrade(req).await)
    }

    /// The most a frame from `ws` may hold (UTF-16 units of a text, bytes of a binary), as
    /// checked before it is copied into wasm: a sandbox's, a subscribed client's, or that of
    /// a client that has not subscribed yet (whose one useful frame, `subscribe`, is small).
    pub fn frame_limit(&self, ws: &WebSocket) -> usize {
        if sandbox_link::is_sandbox_socket(&self.ctx, ws) {
            crate::session::sandbox::protocol::MAX_FRAME
        } else if client_link::attachment(ws).is_some_and(|a| a.participant_id.is_some()) {
            crate::session::client::policy::MAX_FRAME
        } else {
            crate::session::client::policy::MAX_UNSUBSCRIBED_FRAME
        }
    }

    pub async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let ctx = &self.ctx;
        if let Err(e) = ctx.store.ready(now_ms()) {
            ctx.error("session schema unavailable", e);
            return Ok(());
        }
        if sandbox_link::is_sandbox_socket(ctx, &ws) {
            if let Some(followup) = events::on_message(ctx, &ws, message) {
                self.followup(followup).await;
            }
        } else if let Some(request) = frames::on_message(ctx, &ws, message) {
            self.client_request(&ws, request).await;
        }
        Ok(())
    }

    pub async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        if sandbox_link::is_sandbox_socket(&self.ctx, &ws) {
            // A socket replaced by the sandbox's new one takes no push with it: the sandbox
            // reports the push on the socket it has now.
            if !sandbox_link::replaced(&self.ctx, &ws) {
                self.ctx
                    .pushes
                    .fail_all("the sandbox disconnected during the push");
                // The current sandbox went away: work waiting for it gives it a while to
                // reconnect (`policy`), then a new one is started.
                if sandbox_link::is_current(&self.ctx, &ws) {
                    let _ = self.ctx.store.sandbox_disconnected(Some(now_ms()));
                    alarm::kick(&self.ctx).await;
                }
            }
        } else {
            let remaining = client_link::left(&self.ctx, &ws);
            // The last client leaving a ready sandbox starts its idle countdown: plan again
            // now. Otherwise the plan stays as it is (it does not count clients then).
            let sandbox = self.ctx.store.sandbox().ok().flatten();
            let status = sandbox.map_or(policy::Status::None, |r| r.status);
            if policy::replan_on_leave(status, remaining) {
                alarm::kick(&self.ctx).await;
            }
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

    pub async fn websocket_error(&self, _ws: WebSocket, error: worker::Error) -> Result<()> {
        client_link::subscribers_changed(&self.ctx);
        self.ctx.warn("websocket error", error);
        Ok(())
    }

    pub async fn alarm(&self) -> Result<Response> {
        let ctx = &self.ctx;
        alarm::fired(ctx);
        if ctx.store.ready(now_ms()).is_ok() && ctx.store.session().ok().flatten().is_some() {
            alarm::kick(ctx).await;
        }
        Response::ok("ok")
    }
}
