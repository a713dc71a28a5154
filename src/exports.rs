//! What the wasm module gives JavaScript (src/entry.js calls it): the worker's `fetch` and
//! the Durable Object classes, each method handing its call to the Rust handler.
//!
//! Every call runs its handler at once ([`settle`]): a handler that finishes without waiting
//! on I/O (`GET /health`, most commands, most socket messages) is answered with its value
//! itself, and only one that waits with a Promise (the `worker` crate's macros, which these
//! replace, answer every call with a Promise).
//!
//! The first call into a wasm instance (the worker's `fetch`, or a Durable Object's
//! constructor, which src/entry.js runs again on every new instance before its handlers)
//! also adds our panic report to the `worker` crate's ([`instance_started`]).

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use worker::js_sys;
use worker::wasm_bindgen_futures::future_to_promise;
use worker::worker_sys::web_sys;
use worker::{Env, Response, Result, State, WebSocketIncomingMessage};

use crate::auth::refresher::RefreshObject;
use crate::error::ApiError;
use crate::http::incoming::Incoming;
use crate::http::respond;
use crate::identity::nonces::NonceObject;
use crate::session::object::SessionObject;
use crate::settle::{first_poll, FirstPoll};

/// Runs once per wasm instance, before any handler: chains `console_error_panic_hook` after
/// the panic hook already installed, the `worker` crate's (its `#[wasm_bindgen(start)]`
/// function installs it as the instance starts; it logs "Critical" and sets `criticalError`,
/// which makes src/entry.js reset the broken instance before the next call). On a panic both
/// run: the worker's first, so the reset is asked for whatever the report does, then
/// `console_error_panic_hook`'s `console.error` of the message and its stack. Never
/// `console_error_panic_hook::set_once`: it would replace the worker's hook and lose the
/// reset. The `Once` lives in the instance's memory, so a reset instance chains again.
fn instance_started() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            console_error_panic_hook::hook(info);
        }));
    });
}

/// Runs `handler` until it finishes or first waits: its answer if it finished, else a
/// Promise of its answer (wasm-bindgen's executor runs the rest).
fn settle<F>(handler: F) -> std::result::Result<JsValue, JsValue>
where
    F: std::future::Future<Output = std::result::Result<JsValue, JsValue>> + 'static,
{
    match first_poll(handler) {
        FirstPoll::Done(answer) => answer,
        FirstPoll::Waiting(rest) => Ok(future_to_promise(rest).into()),
    }
}

/// A handler's answer as the runtime takes it.
fn answer(r: Result<Response>) -> std::result::Result<JsValue, JsValue> {
    r.map(|r| web_sys::Response::from(r).into())
        .map_err(JsValue::from)
}

/// The worker's `fetch` handler. A response that could not be built (the runtime refused
/// it) is logged and answered with the contract's JSON 500.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env) -> std::result::Result<JsValue, JsValue> {
    instance_started();
    settle(async move {
        let response = crate::fetch(Incoming::new(req), env).await.or_else(|e| {
            crate::log::error(
                "the worker could not answer",
                &[("detail", e.to_string().into())],
            );
            respond::error(&ApiError::internal("the worker could not answer"))
        });
        answer(response)
    })
}

/// A Durable Object class for JavaScript named `$js`, around an `Rc` of `$object` (a
/// handler that waits keeps its object alive): its constructor, `fetch` (what the object
/// takes over HTTP; `rpc_only`: nothing, 404) and `command` (the worker's RPC calls).
macro_rules! object_class {
    ($class:ident, $object:ty, $js:ident) => {
        object_class!(@class $class, $object, $js);

        #[wasm_bindgen(js_class = $js)]
        impl $class {
            pub fn fetch(&self, req: web_sys::Request) -> std::result::Result<JsValue, JsValue> {
                let object = Rc::clone(&self.0);
                settle(async move { answer(object.fetch(Incoming::new(req)).await) })
            }
        }
    };
    ($class:ident, $object:ty, $js:ident, rpc_only) => {
        object_class!(@class $class, $object, $js);

        #[wasm_bindgen(js_class = $js)]
        impl $class {
            pub fn fetch(&self, _req: web_sys::Request) -> std::result::Result<JsValue, JsValue> {
                answer(respond::finish(Err(ApiError::no_route())))
            }
        }
    };
    (@class $class:ident, $object:ty, $js:ident) => {
        #[wasm_bindgen(js_name = $js)]
        pub struct $class(Rc<$object>);

        #[wasm_bindgen(js_class = $js)]
        impl $class {
            #[wasm_bindgen(constructor)]
            pub fn new(state: worker::worker_sys::DurableObjectState, env: Env) -> Self {
                instance_started();
                Self(Rc::new(<$object>::new(State::from(state), env)))
            }

            pub fn command(
                &self,
                text: String,
                request_id: Option<String>,
            ) -> std::result::Result<JsValue, JsValue> {
                let object = Rc::clone(&self.0);
                settle(async move { object.command(text, request_id).await })
            }
        }
    };
}

object_class!(SessionClass, SessionObject, SessionObject);
object_class!(RefreshClass, RefreshObject, RefreshObject, rpc_only);
object_class!(NonceClass, NonceObject, NonceObject, rpc_only);

/// What the runtime calls on a session besides `fetch`: its alarm and its sockets' events.
#[wasm_bindgen(js_class = SessionObject)]
impl SessionClass {
    pub fn alarm(&self) -> std::result::Result<JsValue, JsValue> {
        let object = Rc::clone(&self.0);
        settle(async move { answer(object.alarm().await) })
    }

    #[wasm_bindgen(js_name = webSocketMessage)]
    pub fn websocket_message(
        &self,
        ws: web_sys::WebSocket,
        message: JsValue,
    ) -> std::result::Result<JsValue, JsValue> {
        // Measured before anything is copied into wasm: a frame past the socket's limit
        // closes it (1009) unread.
        let size = match message.dyn_ref::<js_sys::JsString>() {
            Some(text) => text.length() as usize,
            None => js_sys::Uint8Array::new(&message).byte_length() as usize,
        };
        let ws = worker::WebSocket::from(ws);
        if size > self.0.frame_limit(&ws) {
            let _ = ws.close(Some(1009), Some("frame too large"));
            return Ok(JsValue::UNDEFINED);
        }
        let message = match message.as_string() {
            Some(text) => WebSocketIncomingMessage::String(text),
            None => WebSocketIncomingMessage::Binary(js_sys::Uint8Array::new(&message).to_vec()),
        };
        let object = Rc::clone(&self.0);
        settle(async move { done(object.websocket_message(ws, message).await) })
    }

    #[wasm_bindgen(js_name = webSocketClose)]
    pub fn websocket_close(
        &self,
        ws: web_sys::WebSocket,
        code: usize,
        reason: String,
        clean: bool,
    ) -> std::result::Result<JsValue, JsValue> {
        let object = Rc::clone(&self.0);
        settle(async move { done(object.websocket_close(ws.into(), code, reason, clean).await) })
    }

    #[wasm_bindgen(js_name = webSocketError)]
    pub fn websocket_error(
        &self,
        ws: web_sys::WebSocket,
        error: JsValue,
    ) -> std::result::Result<JsValue, JsValue> {
        let object = Rc::clone(&self.0);
        settle(async move { done(object.websocket_error(ws.into(), error.into()).await) })
    }
}

/// A socket event's answer: nothing, or the error.
fn done(r: Result<()>) -> std::result::Result<JsValue, JsValue> {
    r.map(|()| JsValue::NULL).map_err(JsValue::from)
}
