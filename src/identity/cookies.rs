//! The browser's cookies, as Open-Inspect's control plane writes them (Better Auth with the
//! `openinspect` prefix): names (`__Secure-` on an https web app), values signed with
//! `BROWSER_AUTH_SECRET` (`<value>.<base64 HMAC-SHA256>`, URI-encoded), `Set-Cookie` lines
//! (host-only, `Path=/`, `HttpOnly`, `SameSite=Lax`, `Secure` on https), and reading a
//! `Cookie` header. Pure.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use percent_encoding::{percent_decode_str, utf8_percent_encode};

use crate::auth::mac;
use crate::urls::URI_COMPONENT;

/// The browser session's cookie.
pub const SESSION: &str = "session_token";
/// The sign-in flow's cookie (binds the OAuth state to the browser that started it).
pub const FLOW: &str = "state";

/// How the web app is reached: its cookies are `__Secure-` and `Secure` on https.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jar {
    pub secure: bool,
}

impl Jar {
    /// The full name of cookie `name`.
    pub fn name(self, name: &str) -> String {
        if self.secure {
            format!("__Secure-openinspect.{name}")
        } else {
            format!("openinspect.{name}")
        }
    }

    /// A `Set-Cookie` value giving cookie `name` the (already signed) `value` for `max_age`
    /// seconds; `max_age` 0 with an empty value removes it.
    pub fn set(self, name: &str, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Max-Age={max_age}; Path=/; HttpOnly{secure}; SameSite=Lax",
            self.name(name)
        )
    }

    /// A `Set-Cookie` value removing cookie `name`.
    pub fn remove(self, name: &str) -> String {
        self.set(name, "", 0)
    }

    /// The value of cookie `name` in a `Cookie` header, if its signature is ours.
    pub fn read(self, header: &str, name: &str, secret: &[u8]) -> Option<String> {
        let full = self.name(name);
        header
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(k, _)| *k == full)
            .find_map(|(_, v)| unsign(secret, v))
    }
}

/// `value` signed as a cookie value: `value.<base64 signature>`, URI-encoded.
pub fn sign(secret: &[u8], value: &str) -> String {
    let signed = format!(
        "{value}.{}",
        B64.encode(mac::sign(secret, value.as_bytes()))
    );
    utf8_percent_encode(&signed, URI_COMPONENT).to_string()
}

/// The value of a signed cookie value, if the signature is `secret`'s.
pub fn unsign(secret: &[u8], cookie: &str) -> Option<String> {
    let decoded = percent_decode_str(cookie).decode_utf8().ok()?;
    let (value, signature) = decoded.rsplit_once('.')?;
    let given = B64.decode(signature).ok()?;
    mac::verify(secret, value.as_bytes(), &given).then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn names_and_attributes_follow_the_web_apps_scheme() {
        let https = Jar { secure: true };
        let http = Jar { secure: false };
        assert_eq!(https.name(SESSION), "__Secure-openinspect.session_token");
        assert_eq!(http.name(SESSION), "openinspect.session_token");
        assert_eq!(
            https.set(SESSION, "v", 604800),
            "__Secure-openinspect.session_token=v; Max-Age=604800; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
        assert_eq!(
            http.remove(FLOW),
            "openinspect.state=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn signed_values_read_back_only_with_the_secret() {
        let v = sign(SECRET, "tok123");
        // `value.` + 44 characters of padded base64, with `/`, `+` and `=` URI-encoded.
        assert!(v.starts_with("tok123."));
        assert_eq!(unsign(SECRET, &v).as_deref(), Some("tok123"));
        assert_eq!(unsign(b"another secret of enough length!", &v), None);
        assert_eq!(unsign(SECRET, "tok123"), None);
        assert_eq!(unsign(SECRET, &v.replace("tok123", "tok124")), None);
        let jar = Jar { secure: true };
        let header = format!("a=b; __Secure-openinspect.session_token={v}; other=x");
        assert_eq!(
            jar.read(&header, SESSION, SECRET).as_deref(),
            Some("tok123")
        );
        assert_eq!(Jar { secure: false }.read(&header, SESSION, SECRET), None);
        assert_eq!(jar.read("a=b", SESSION, SECRET), None);
    }

    /// A value signed the way Better Auth signs it (HMAC-SHA256, standard base64, then
    /// `encodeURIComponent`), computed independently with Node's crypto.
    #[test]
    fn the_signature_is_better_auths() {
        assert_eq!(
            sign(b"better-auth-secret-123456789012345", "abc"),
            "abc.alH3X6FQxUGvp%2BoRlvfMRtnGmziPuyRs1kbqy6%2F6bws%3D"
        );
    }
}
