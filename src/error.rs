//! The one error type of the control plane: every failure maps to an HTTP status and the
//! contract's JSON body `{"error": "<human message>", "code": "<stable_snake_code>"}`.

use crate::raw::Object;
use std::fmt;

/// An error that a caller sees. `message` must never carry a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_json", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }
    /// A route the contract does not have.
    pub fn no_route() -> Self {
        Self::new(404, "not_found", "Not found")
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "method_not_allowed",
            "this method is not allowed on this route",
        )
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "conflict", message)
    }
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "payload_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    }
    pub fn unsupported_media_type() -> Self {
        Self::new(
            415,
            "unsupported_media_type",
            "request body must be application/json",
        )
    }
    pub fn misconfigured(what: &str) -> Self {
        Self::new(
            500,
            "server_misconfigured",
            format!("the server is missing its {what} configuration"),
        )
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal_error", message)
    }

    /// The JSON body sent to the caller.
    pub fn body(&self) -> String {
        Object::new()
            .field("error", &self.message)
            .field("code", &self.code)
            .end()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        // The runtime's message may describe internals; keep it in logs, not in answers.
        crate::log::error("runtime error", &[("detail", e.to_string().into())]);
        ApiError::internal("internal error")
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::invalid_json(format!("invalid JSON: {e}"))
    }
}

impl From<getrandom::Error> for ApiError {
    fn from(_: getrandom::Error) -> Self {
        ApiError::internal("no randomness available")
    }
}

impl From<crate::auth::vault::VaultError> for ApiError {
    fn from(e: crate::auth::vault::VaultError) -> Self {
        use crate::auth::vault::VaultError;
        match e {
            VaultError::BadKey => ApiError::misconfigured("TOKEN_ENCRYPTION_KEY"),
            VaultError::Random => ApiError::internal("no randomness available"),
            VaultError::Encrypt => ApiError::internal("could not encrypt the token"),
            VaultError::Malformed | VaultError::Tampered => {
                ApiError::internal("a stored token could not be read")
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_code_and_message() {
        let e = ApiError::conflict("already has a PR");
        assert_eq!(
            e.body(),
            r#"{"error":"already has a PR","code":"conflict"}"#
        );
        let v: ApiError = crate::auth::vault::VaultError::BadKey.into();
        assert_eq!((v.status, v.code.as_str()), (500, "server_misconfigured"));
    }
}
