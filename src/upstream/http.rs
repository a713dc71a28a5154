//! Plain HTTP request and response values that the sans-IO clients build and parse. Their
//! `Debug` output never shows header values, which carry credentials.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// How a request authenticates. `Debug` never shows the secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Auth<'a> {
    /// `Authorization: Bearer <token>` (a user's OAuth token, an access token).
    Bearer(&'a str),
    /// `Authorization: Basic base64(user:secret)` (a bot's API token).
    Basic { user: &'a str, secret: &'a str },
}

impl<'a> From<&'a str> for Auth<'a> {
    fn from(token: &'a str) -> Self {
        Auth::Bearer(token)
    }
}

impl std::fmt::Debug for Auth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Bearer(_) => write!(f, "Auth::Bearer"),
            Auth::Basic { user, .. } => write!(f, "Auth::Basic({user})"),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl HttpRequest {
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: Method::Get,
            url: url.into(),
            headers: vec![("accept".into(), "application/json".into())],
            body: None,
        }
    }

    pub fn post(url: impl Into<String>, content_type: &str, body: String) -> Self {
        let mut r = Self::get(url);
        r.method = Method::Post;
        r.headers.push(("content-type".into(), content_type.into()));
        r.body = Some(body);
        r
    }

    pub fn delete(url: impl Into<String>) -> Self {
        let mut r = Self::get(url);
        r.method = Method::Delete;
        r
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// Authenticates the request as `auth` says.
    pub fn auth(self, auth: Auth<'_>) -> Self {
        use base64::Engine;
        match auth {
            Auth::Bearer(token) => self.bearer(token),
            Auth::Basic { user, secret } => {
                let pair =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
                self.header("authorization", format!("Basic {pair}"))
            }
        }
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field("body", &self.body.as_ref().map(|b| b.len()))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![],
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_credentials() {
        let r = HttpRequest::get("https://x/y").bearer("SECRET-TOKEN");
        assert_eq!(r.header_value("Authorization"), Some("Bearer SECRET-TOKEN"));
        assert!(!format!("{r:?}").contains("SECRET"));
        let basic = HttpRequest::get("https://x/y").auth(Auth::Basic {
            user: "bot@example.com",
            secret: "SECRET",
        });
        assert_eq!(
            basic.header_value("authorization"),
            Some("Basic Ym90QGV4YW1wbGUuY29tOlNFQ1JFVA==")
        );
        let auth = Auth::Basic {
            user: "u",
            secret: "SECRET",
        };
        assert!(!format!("{auth:?}").contains("SECRET"));
    }
}
