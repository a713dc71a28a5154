//! Credentials: HMAC service tokens, random bearer tokens, the AES-256-GCM token vault, the
//! token lifecycle (pure), users' stored credentials and their refresh at the provider (one
//! at a time per user, in the user's `RefreshObject`).

pub mod credentials;
pub mod lifecycle;
pub mod mac;
pub mod random;
pub mod refresh;
pub mod refresher;
pub mod service_token;
pub mod vault;
