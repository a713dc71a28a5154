//! The session's sandbox: the wire protocol (`protocol`), the pure lifecycle planner
//! (`policy`) and socket authentication (`auth`), its socket (`link`), what it sends
//! (`events`, fitted to the web's schema by `schema`), the HTTP routes it calls with its token
//! (`routes`), its git through the control plane (`git`), and the runner that carries out the
//! planner's steps (`runner`).

pub mod auth;
pub mod events;
pub mod git;
pub mod link;
pub mod policy;
pub mod protocol;
pub mod routes;
pub mod runner;
pub mod schema;
