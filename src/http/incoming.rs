//! A request as the runtime handed it to us (the worker's, or a Durable Object's socket
//! upgrade), read only where a handler asks: its method, URL, headers and body.
//!
//! The `worker` crate's `Request` reads the request's `cf` properties whenever it is built,
//! and the runtime builds that object (from JSON) on first read; no handler of ours reads
//! them. (On `wrangler dev` the saving was within the noise of an A/B, ±3 %.)

use std::cell::RefCell;

use url::Url;
use worker::worker_sys::web_sys;
use worker::{ByteStream, Headers, Method};

/// One incoming request, and its body once something read it whole before the handler
/// (a signature covers the body, so the guard reads it first).
pub struct Incoming(web_sys::Request, RefCell<Option<Vec<u8>>>);

impl Incoming {
    pub fn new(raw: web_sys::Request) -> Self {
        Self(raw, RefCell::new(None))
    }

    /// Keeps a body that was read whole, for the handler.
    pub fn keep_read_body(&self, bytes: Vec<u8>) {
        *self.1.borrow_mut() = Some(bytes);
    }

    /// The body kept by [`Incoming::keep_read_body`], if any.
    pub fn take_read_body(&self) -> Option<Vec<u8>> {
        self.1.borrow_mut().take()
    }

    pub fn method(&self) -> Method {
        Method::from(self.0.method())
    }

    /// The URL as the runtime serialized it, parsed (`None` only if no URL parser reads it).
    pub fn url(&self) -> Option<Url> {
        Url::parse(&self.0.url()).ok()
    }

    /// The path of [`Incoming::url`] (empty without one).
    pub fn path(&self) -> String {
        self.url().map(|u| u.path().to_string()).unwrap_or_default()
    }

    /// The decoded query pairs of [`Incoming::url`], as `URLSearchParams` reads them.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let url = self.url();
        url.iter()
            .flat_map(|u| u.query_pairs().into_owned())
            .collect()
    }

    pub fn headers(&self) -> Headers {
        Headers(self.0.headers())
    }

    /// The body, unless there is none or it is already being read.
    pub fn body(&self) -> Option<ByteStream> {
        self.0.body().filter(|b| !b.locked()).map(ByteStream::from)
    }

    /// The request as the runtime's own object (to hand it on unchanged).
    pub fn raw(&self) -> &web_sys::Request {
        &self.0
    }
}
