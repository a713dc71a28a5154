//! Browser WebSockets on the session: the wire protocol (`protocol`), the pure rules
//! (`policy`: attachment, subscribe deadline, token age), the sockets themselves (`link`:
//! accept, subscribers, broadcast, close) and what clients send (`frames`).

pub mod frames;
pub mod link;
pub mod policy;
pub mod protocol;
