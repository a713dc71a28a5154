//! What every module of the session works with: the runtime's handles (`State`, `Env`), the
//! store, and the in-memory list of subscribed client sockets. Owned by the Durable Object
//! and lent to the modules, so none of them needs the object itself.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use worker::{Env, State, WebSocket};

use crate::error::ApiResult;
use crate::session::store::Store;

/// The session's shared handles.
pub struct Ctx {
    /// The session's id (its Durable Object id), for log lines.
    pub session_id: String,
    pub state: State,
    pub env: Env,
    pub store: Rc<Store>,
    /// Subscribed client sockets, derived from their attachments (`client::link` owns it).
    pub(crate) subscribers: RefCell<Option<std::rc::Rc<[WebSocket]>>>,
    /// The sandbox socket that sent last and the sandbox it belongs to, from its attachment
    /// (`sandbox::link` owns it): its frames are not read from the socket again each time.
    pub(crate) sandbox_socket: RefCell<Option<(WebSocket, Rc<str>)>>,
    /// A pull request is under way (its push included): the sandbox is busy.
    pub(crate) pr_under_way: Cell<bool>,
    /// The `x-request-id` of the worker's command under way (the latest, when several
    /// interleave), carried into the session's own log lines.
    pub(crate) request_id: RefCell<Option<String>>,
    /// Pushes waiting for the sandbox's answer (`pull_request::push` owns them).
    pub(crate) pushes: crate::session::pull_request::push::Pushes,
    /// Whom the pull request under way pushes for: its author's right reaches the forge
    /// while the push goes through the control plane.
    pub(crate) pushing_for: RefCell<Option<String>>,
    /// The armed alarm's time as this instance knows it (`None`: not read yet).
    pub(crate) armed: Cell<Option<Option<i64>>>,
    /// How many events the log holds, counted once per instance, then kept up to date.
    pub(crate) stored_events: Cell<Option<i64>>,
    /// How many bytes of events the log holds, likewise.
    pub(crate) stored_bytes: Cell<Option<i64>>,
    /// The bot's API token, read from the environment once (every sandbox event masks it).
    bot_token: OnceCell<Option<String>>,
    /// The tool calls told to the prompts' bots (`notify` owns it).
    pub(crate) tool_calls: Rc<RefCell<crate::bots::callback::ToolCalls>>,
    /// The last prompt whose callback context was read, and its context (`notify` owns it).
    pub(crate) callback_memo:
        RefCell<Option<(String, Option<crate::bots::context::CallbackContext>)>>,
}

impl Ctx {
    pub fn new(state: State, env: Env) -> Self {
        crate::log::configure(&env);
        let store = Rc::new(Store::new(&state.storage()));
        Self {
            session_id: state.id().to_string(),
            state,
            env,
            store,
            subscribers: RefCell::new(None),
            sandbox_socket: RefCell::new(None),
            pr_under_way: Cell::new(false),
            pushing_for: RefCell::new(None),
            pushes: Default::default(),
            request_id: RefCell::new(None),
            stored_events: Cell::new(None),
            stored_bytes: Cell::new(None),
            armed: Cell::new(None),
            bot_token: OnceCell::new(),
            tool_calls: Default::default(),
            callback_memo: RefCell::new(None),
        }
    }

    /// The bot's API token, if one is configured.
    pub fn bot_token(&self) -> Option<&str> {
        self.bot_token
            .get_or_init(|| crate::config::bitbucket_bot(&self.env).1)
            .as_deref()
    }

    /// Logs what the session did that someone may need to trace (a credential issued).
    pub fn info(&self, msg: &str, detail: impl std::fmt::Display) {
        crate::log::emit(crate::log::Level::Info, msg, &self.fields(detail));
    }

    /// Logs a warning about this session.
    pub fn warn(&self, msg: &str, detail: impl std::fmt::Display) {
        crate::log::warn(msg, &self.fields(detail));
    }

    /// Logs an error of this session.
    pub fn error(&self, msg: &str, detail: impl std::fmt::Display) {
        crate::log::error(msg, &self.fields(detail));
    }

    fn fields(&self, detail: impl std::fmt::Display) -> [(&'static str, serde_json::Value); 3] {
        let request_id = self.request_id.borrow().clone();
        [
            ("sessionId", self.session_id.as_str().into()),
            (
                "requestId",
                request_id.map_or(serde_json::Value::Null, Into::into),
            ),
            ("detail", detail.to_string().into()),
        ]
    }

    /// The D1 database (index and credentials).
    /// Writes the session's index row after the answer has gone (under `waitUntil`); `why`
    /// names the change in the log line of a failure.
    pub fn index_later(&self, why: &'static str) {
        let latest = self.store.latest_finished();
        let (db, row, latest) = match (self.db(), self.store.index_row(), latest) {
            (Ok(db), Ok(row), Ok(latest)) => (db, row, latest),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                return self.error(&format!("the session index was not updated {why}"), e)
            }
        };
        let session_id = self.session_id.clone();
        self.state.wait_until(async move {
            if let Err(e) = crate::index::upsert(&db, &row, latest.as_deref()).await {
                crate::log::error(
                    &format!("the session index was not updated {why}"),
                    &[
                        ("sessionId", session_id.into()),
                        ("detail", e.to_string().into()),
                    ],
                );
            }
        });
    }

    pub fn db(&self) -> ApiResult<worker::D1Database> {
        Ok(self.env.d1("DB")?)
    }

    /// Deletes everything the session stored; the schema is re-created on next use.
    pub async fn wipe(&self) -> ApiResult<()> {
        // The alarm first: one left armed would wake the emptied object and rebuild its schema.
        self.state.storage().delete_alarm().await?;
        self.state.storage().delete_all().await?;
        self.store.forget_schema();
        self.stored_events.set(None);
        self.stored_bytes.set(None);
        self.armed.set(None);
        Ok(())
    }
}
