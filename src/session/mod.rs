//! The session: one Durable Object per session with SQLite storage. `object` dispatches to
//! the modules below; arrows run one way:
//!
//! - `object` → `actions`, `pull_request`, `alarm`, `client`, `sandbox`
//! - `actions` → `participants`, `queue`, `alarm`, `sandbox::link`, `client::link`
//! - `alarm` → `sandbox::runner`, `client::link`
//! - `sandbox` (`runner`, `events`) → `queue`, `client::link`
//! - `pull_request` → `sandbox::link`, `client::link`
//! - `queue` → `client::link`, `status`
//! - all of them → `ctx` → `store`, `socket` (what a socket carries), and the pure `model`, `command`, `paging`, `status`,
//!   `*::protocol`, `*::policy`, `sandbox::auth`, `pull_request::plan`.

pub mod access;
pub mod actions;
pub mod alarm;
pub mod children;
pub mod client;
pub mod command;
pub mod ctx;
pub mod migrations;
pub mod model;
pub mod notify;
pub mod object;
pub mod paging;
pub mod participants;
pub mod pull_request;
pub mod queue;
pub mod sandbox;
pub mod snapshot;
pub mod socket;
pub mod states;
pub mod status;
pub mod store;
