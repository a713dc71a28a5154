//! The session: one Durable Object per session with SQLite storage, its commands from the
//! worker, its WebSocket protocol and the pure decisions it takes.

pub mod actions;
pub mod clients;
pub mod command;
pub mod migrations;
pub mod model;
pub mod object;
pub mod paging;
pub mod protocol;
pub mod sockets;
pub mod store;
