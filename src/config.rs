//! Reading configuration from the environment: secrets and vars by the names of DESIGN.md.

use worker::Env;

use crate::session::command::VcsProvider;

/// A configured, non-empty secret or var.
pub fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// `DEFAULT_VCS_PROVIDER`, `bitbucket` when unset or unknown.
pub fn default_provider(env: &Env) -> VcsProvider {
    secret(env, "DEFAULT_VCS_PROVIDER")
        .and_then(|p| VcsProvider::parse(&p))
        .unwrap_or_default()
}
