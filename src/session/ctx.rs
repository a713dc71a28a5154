//! What every module of the session works with: the runtime's handles (`State`, `Env`), the
//! store, and the in-memory list of subscribed client sockets. Owned by the Durable Object
//! and lent to the modules, so none of them needs the object itself.

use std::cell::RefCell;

use worker::{Env, State, WebSocket};

use crate::error::ApiResult;
use crate::session::store::Store;

/// The session's shared handles.
pub struct Ctx {
    pub state: State,
    pub env: Env,
    pub store: Store,
    /// Subscribed client sockets, derived from their attachments (`client::link` owns it).
    pub(crate) subscribers: RefCell<Option<Vec<WebSocket>>>,
}

impl Ctx {
    pub fn new(state: State, env: Env) -> Self {
        let store = Store::new(state.storage().sql());
        Self {
            state,
            env,
            store,
            subscribers: RefCell::new(None),
        }
    }

    /// The D1 database (index and credentials).
    pub fn db(&self) -> ApiResult<worker::D1Database> {
        Ok(self.env.d1("DB")?)
    }

    /// Deletes everything the session stored; the schema is re-created on next use.
    pub async fn wipe(&self) -> ApiResult<()> {
        self.state.storage().delete_all().await?;
        self.store.forget_schema();
        Ok(())
    }
}
