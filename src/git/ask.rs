//! What the worker asks a session about one git request whose ticket it verified, and what
//! the session answers: the forge credentials to add, which never leave the control plane.

use serde::{Deserialize, Serialize};

use super::pktline::RefUpdate;
use super::rules::Service;
use crate::vcs::VcsProvider;

/// One git request, for the session to allow or refuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitAsk {
    /// The sandbox the ticket was issued to.
    pub sandbox_id: String,
    /// The repository the request names.
    pub owner: String,
    pub name: String,
    pub service: Service,
    /// A push's ref updates (empty otherwise).
    pub updates: Vec<RefUpdate>,
}

/// The session's yes: its repository as the forge names it, and the credentials to reach it
/// with. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitGrant {
    pub provider: VcsProvider,
    pub owner: String,
    pub name: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for GitGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GitGrant({}/{} as {})",
            self.owner, self.name, self.username
        )
    }
}
