//! Git over HTTP through the control plane. A sandbox never holds a forge credential: it
//! clones, fetches and pushes `https://{control plane}/{owner}/{name}.git` with a ticket we
//! issued (bound to its session and sandbox, good for an hour), and we add the forge's
//! credentials on the way out, for the session's repository only, refusing ref updates the
//! session may not make. The ticket (`ticket`), the receive-pack commands (`pktline`) and the
//! rules (`rules`) are pure; `proxy` is the worker's shell around them.

pub mod ask;
pub mod pktline;
pub mod proxy;
pub mod rules;
pub mod ticket;
