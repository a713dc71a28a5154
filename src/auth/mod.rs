//! Credentials: HMAC service tokens, random bearer tokens and the AES-GCM token vault.

pub mod credentials;
pub mod lifecycle;
pub mod random;
pub mod service_token;
pub mod vault;
