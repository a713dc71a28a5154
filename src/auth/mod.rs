//! Credentials: HMAC service tokens, random bearer tokens, the AES-GCM token vault, the
//! token lifecycle (pure), users' stored credentials and their refresh at the provider.

pub mod credentials;
pub mod lifecycle;
pub mod random;
pub mod refresh;
pub mod service_token;
pub mod vault;
