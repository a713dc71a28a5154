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

/// The token vault keyed by `TOKEN_ENCRYPTION_KEY` (fails closed when missing or invalid).
pub fn vault(env: &Env) -> Result<crate::auth::vault::Vault, crate::error::ApiError> {
    use crate::error::ApiError;
    let key = secret(env, "TOKEN_ENCRYPTION_KEY")
        .ok_or_else(|| ApiError::misconfigured("TOKEN_ENCRYPTION_KEY"))?;
    crate::auth::vault::Vault::from_base64_key(&key)
        .map_err(|_| ApiError::misconfigured("TOKEN_ENCRYPTION_KEY"))
}

/// The Bitbucket endpoints and OAuth consumer.
pub fn bitbucket(env: &Env) -> crate::vcs::bitbucket::Config {
    use crate::vcs::bitbucket::{Config, DEFAULT_API_URL, DEFAULT_OAUTH_URL};
    Config::new(
        &secret(env, "BITBUCKET_API_URL").unwrap_or_else(|| DEFAULT_API_URL.into()),
        &secret(env, "BITBUCKET_OAUTH_URL").unwrap_or_else(|| DEFAULT_OAUTH_URL.into()),
        &secret(env, "BITBUCKET_CLIENT_ID").unwrap_or_default(),
        &secret(env, "BITBUCKET_CLIENT_SECRET").unwrap_or_default(),
    )
}
