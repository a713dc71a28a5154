//! The session: one Durable Object per session with SQLite storage, its commands from the
//! worker, its WebSocket protocol and the pure decisions it takes.

pub mod actions;
pub mod clients;
pub mod command;
pub mod migrations;
pub mod model;
pub mod object;
pub mod paging;
pub mod pr_request;
pub mod protocol;
pub mod pull_request;
pub mod sandbox_link;
pub mod sandbox_policy;
pub mod sandbox_protocol;
pub mod sandbox_runner;
pub mod sockets;
pub mod store;
