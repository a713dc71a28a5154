//! Calls to services we do not run (Bitbucket, GitHub, the sandbox provider): plain request
//! and response values (`http`), the one shell that sends them (`fetch`), and when a
//! rate-limited call is retried (`retry`). Provider-neutral: each client classifies the
//! answers itself (reading their JSON with `crate::json`).

pub mod fetch;
pub mod http;
pub mod retry;

/// A call that never got an answer (DNS, connection, runtime). The message names no secret:
/// request headers are never part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError(pub String);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no answer: {}", self.0)
    }
}
