//! What workerd keeps on a hibernatable socket for us: its attachment, stored as JSON text
//! (written and read back by serde), and a send of a JavaScript string
//! made once for many sockets.

use serde::Serialize;
use wasm_bindgen::prelude::*;
use worker::js_sys::JsString;
use worker::{web_sys, WebSocket};

use crate::error::{ApiError, ApiResult};
use crate::json;

#[wasm_bindgen]
extern "C" {
    /// A hibernatable WebSocket as JavaScript sees it.
    type JsSocket;
    /// `WebSocket.send` with a JavaScript string, so one message made for many sockets
    /// crosses from wasm memory once (`send_with_str` copies it for every socket).
    #[wasm_bindgen(method, catch, js_name = send)]
    fn send_text(this: &JsSocket, data: &JsString) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = serializeAttachment)]
    fn set_attachment(this: &JsSocket, value: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = deserializeAttachment)]
    fn get_attachment(this: &JsSocket) -> Result<JsValue, JsValue>;
}

fn js(ws: &WebSocket) -> &JsSocket {
    let socket: &web_sys::WebSocket = ws.as_ref();
    socket.unchecked_ref()
}

/// Stores `value` on the socket (it outlives hibernation, and is gone with the socket).
pub fn attach<T: Serialize>(ws: &WebSocket, value: &T) -> ApiResult<()> {
    js(ws)
        .set_attachment(&serde_json::to_string(value)?)
        .map_err(|_| ApiError::internal("the socket's attachment could not be stored"))
}

/// What is stored on the socket, if it is readable as a `T`.
pub fn attachment<T: serde::de::DeserializeOwned>(ws: &WebSocket) -> Option<T> {
    let text = js(ws).get_attachment().ok()?.as_string()?;
    json::read(&text).ok()
}

/// Sends `text` on the socket; a socket that is already closing cannot be written to, and
/// nothing is to be done then.
pub fn send_shared(ws: &WebSocket, text: &JsString) {
    let _ = js(ws).send_text(text);
}
