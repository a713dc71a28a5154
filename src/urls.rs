//! URL handling over `url::Url` (the WHATWG URL standard): a configured base URL (a
//! provider's API or OAuth endpoint, a git host, the sandbox provider) parsed and checked
//! once, path segments and a query appended under it, whether a link an API gave us stays
//! under it, a git remote with credentials, and the origin of a request. Pure functions and
//! types, no I/O.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use url::Url;

/// What JavaScript's `encodeURIComponent` leaves as it is: letters, digits and `-_.!~*'()`.
pub const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// A configured base URL: `http(s)`, with a host, and without credentials, query or
/// fragment (each would be sent along with every call made under it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base(Url);

/// A path segment a URL cannot carry as it is: `.` and `..` (the URL parser resolves them,
/// as would the server), and any with an ASCII tab or newline (the parser drops those, which
/// can make a dot segment of what remains).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncarried(pub String);

impl std::fmt::Display for Uncarried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no such name: {:?}", self.0)
    }
}

fn carried(segment: &str) -> bool {
    !matches!(segment, "." | "..") && !segment.contains(['\t', '\n', '\r'])
}

impl Base {
    /// `text` as a base URL; `None` when it is no absolute `http(s)` URL with a host, or it
    /// has credentials, a query or a fragment.
    pub fn parse(text: &str) -> Option<Self> {
        let url = Url::parse(text).ok()?;
        let plain = matches!(url.scheme(), "http" | "https")
            && url.has_host()
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none();
        plain.then_some(Self(url))
    }

    /// The base as a URL.
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The base's path segments, without the empty one a trailing slash leaves.
    fn segments(&self) -> impl Iterator<Item = &str> {
        let path = self.0.path();
        path.strip_suffix('/').unwrap_or(path).split('/').skip(1)
    }

    /// `{base}/{segments...}?{query}`: each segment percent-encoded (`/` and `%` included,
    /// so a segment never splits or decodes), appended under the base's path (`…/2.0` and
    /// `user` make `…/2.0/user`), and the query form-encoded (none when `query` is empty).
    pub fn join(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Url, Uncarried> {
        if let Some(s) = segments.iter().find(|s| !carried(s)) {
            return Err(Uncarried(s.to_string()));
        }
        let mut url = self.0.clone();
        // Always `Ok`: an `http(s)` URL has a path to extend.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Whether `link` (a next-page link an API gave us) stays under the base, so a token is
    /// only ever sent back to the API itself: the same origin, no credentials, and the
    /// base's path segments a prefix of the link's (both as parsed, dot segments resolved:
    /// `…/2.0/../evil` is not under `…/2.0`, nor is `…/2.0x`).
    pub fn within(&self, link: &Url) -> bool {
        let mut path = link.path_segments().into_iter().flatten();
        link.origin() == self.0.origin()
            && link.username().is_empty()
            && link.password().is_none()
            && self.segments().all(|s| path.next() == Some(s))
    }

    /// `link` parsed, if it is an absolute URL [`Base::within`] the base: the URL to call
    /// (dot segments resolved, as checked).
    pub fn link_within(&self, link: &str) -> Option<Url> {
        Url::parse(link).ok().filter(|url| self.within(url))
    }

    /// [`Base::join`] of `segments`, with `user:secret@` before the host (each
    /// percent-encoded as URL userinfo, `%` included); `None` when a segment cannot be
    /// carried.
    pub fn with_credentials(&self, user: &str, secret: &str, segments: &[&str]) -> Option<Url> {
        let mut url = self.join(segments, &[]).ok()?;
        url.set_username(&escape_percent(user)).ok()?;
        url.set_password(Some(&escape_percent(secret))).ok()?;
        Some(url)
    }
}

/// `%` as `%25`: the userinfo setters leave a `%` as it is (the WHATWG userinfo set lacks
/// it), and git would decode `%41` in a password to `A`.
fn escape_percent(text: &str) -> String {
    text.replace('%', "%25")
}

/// `text` as [`Base::with_credentials`] writes a secret into a URL's userinfo.
pub fn userinfo(text: &str) -> String {
    let url = Base::parse("http://h").and_then(|b| b.with_credentials("", text, &[]));
    url.and_then(|u| u.password().map(str::to_string))
        .unwrap_or_default()
}

/// The origin of a request URL, `scheme://host[:port]` (a default port left out); `None`
/// unless it is an `http(s)` URL.
pub fn origin(url: &Url) -> Option<String> {
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

/// The `host[:port]` of an `http(s)` base URL (a default port left out): what git names as
/// the host of a remote there.
pub fn host_port(base: &str) -> Option<String> {
    let url = Base::parse(base)?.url().clone();
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_of_a_base() {
        assert_eq!(
            host_port("https://cp.example.com/").as_deref(),
            Some("cp.example.com")
        );
        assert_eq!(
            host_port("https://cp.example.com:443").as_deref(),
            Some("cp.example.com")
        );
        assert_eq!(
            host_port("http://127.0.0.1:8787").as_deref(),
            Some("127.0.0.1:8787")
        );
        assert_eq!(host_port("cp.example.com"), None);
    }

    fn base(text: &str) -> Base {
        Base::parse(text).unwrap()
    }

    fn join(base_url: &str, segments: &[&str], query: &[(&str, &str)]) -> String {
        base(base_url).join(segments, query).unwrap().into()
    }

    fn within(base_url: &str, link: &str) -> bool {
        base(base_url).within(&Url::parse(link).unwrap())
    }

    #[test]
    fn only_plain_http_urls_are_bases() {
        for bad in [
            "not a url",
            "bitbucket.org",
            "ftp://h/x",
            "https://user@h/x",
            "https://u:p@h/x",
            "https://h/x?q=1",
            "https://h/x#f",
            "mailto:a@b",
        ] {
            assert_eq!(Base::parse(bad), None, "{bad}");
        }
        let b = base("https://api.bitbucket.org/2.0");
        assert_eq!(b.url().host_str(), Some("api.bitbucket.org"));
        assert_eq!(base("http://[::1]:9/x").url().host_str(), Some("[::1]"));
        assert_eq!(
            base("http://127.0.0.1:9/").url().host_str(),
            Some("127.0.0.1")
        );
    }

    #[test]
    fn segments_are_appended_under_the_base_and_encoded() {
        assert_eq!(
            join("http://h:9/2.0/", &["a b", "../c"], &[("q", "x=1")]),
            "http://h:9/2.0/a%20b/..%2Fc?q=x%3D1"
        );
        assert_eq!(
            join("https://api.bitbucket.org/2.0", &["user", "emails"], &[]),
            "https://api.bitbucket.org/2.0/user/emails"
        );
        assert_eq!(
            join("https://api.github.com", &["repos", "o", "n"], &[]),
            "https://api.github.com/repos/o/n"
        );
        assert_eq!(
            join("http://h/a", &["%2e%2e", "x\\y", "é?#"], &[]),
            "http://h/a/%252e%252e/x%5Cy/%C3%A9%3F%23"
        );
        for bad in [".", "..", ".\t.", "a\nb"] {
            assert_eq!(
                base("http://h/2.0").join(&["x", bad], &[]),
                Err(Uncarried(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn links_stay_under_the_api() {
        assert!(within("http://h:9/2.0", "http://h:9/2.0/x?page=2"));
        assert!(within("http://h:9/2.0/", "http://h:9/2.0?page=2"));
        assert!(within("http://h:9/2.0", "http://H:9/2.0/x"));
        assert!(within("https://h/2.0", "https://h:443/2.0/x"));
        assert!(within("http://h:9", "http://h:9/user/repos?page=2"));
        // Another origin.
        assert!(!within("http://h:9/2.0", "http://h:10/2.0/x"));
        assert!(!within("http://h:9/2.0", "https://h:9/2.0/x"));
        assert!(!within("http://h:9/2.0", "https://evil.example/2.0/x"));
        assert!(!within("http://h:9", "http://h:9@evil.example/x"));
        assert!(!within("http://h:9", "http://h:90/x"));
        // Credentials.
        assert!(!within("http://h:9/2.0", "http://u:p@h:9/2.0/x"));
        // Not a path-segment prefix.
        assert!(!within("http://h:9/2.0", "http://h:9/other"));
        assert!(!within("http://h:9/2.0", "http://h:9/2.0x/y"));
        assert!(!within("http://h:9/2.0", "http://h:9/"));
        // Dot segments, plain or encoded, are resolved before the comparison.
        assert!(!within("https://api/2.0", "https://api/2.0/../evil"));
        assert!(!within("https://api/2.0", "https://api/2.0/%2E%2e/evil"));
        assert!(within("https://api/2.0", "https://api/2.0/x/../y"));
        assert!(within("https://api/2.0", "https://api/x/../2.0/y"));
    }

    #[test]
    fn credentials_are_encoded_as_userinfo() {
        let remote = |git_url: &str, user: &str, secret: &str| -> String {
            base(git_url)
                .with_credentials(user, secret, &["ws", "r.git"])
                .unwrap()
                .into()
        };
        assert_eq!(
            remote("https://bitbucket.org", "agent@bot", "t/o:k@en"),
            "https://agent%40bot:t%2Fo%3Ak%40en@bitbucket.org/ws/r.git"
        );
        assert_eq!(
            remote("http://127.0.0.1:9/", "x", "y"),
            "http://x:y@127.0.0.1:9/ws/r.git"
        );
        let url = base("https://h/git")
            .with_credentials("a:b/c@d", "@:/?#%", &["ws", "r.git"])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://a%3Ab%2Fc%40d:%40%3A%2F%3F%23%25@h/git/ws/r.git"
        );
        assert_eq!(url.host_str(), Some("h"));
        assert_eq!(url.path(), "/git/ws/r.git");
        assert_eq!(base("https://h").with_credentials("x", "y", &[".."]), None);
        assert_eq!(userinfo("@:/?#% ~!"), "%40%3A%2F%3F%23%25%20~!");
    }

    /// What `http::incoming::Incoming` reads of a request URL, through `Url` itself.
    #[test]
    fn request_urls() {
        let u = "https://cp.example:8443/sessions?limit=5&status=active&x=a%20b+c#frag";
        let u = Url::parse(u).unwrap();
        assert_eq!(origin(&u).as_deref(), Some("https://cp.example:8443"));
        let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [("limit", "5"), ("status", "active"), ("x", "a b c")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(u.path(), "/sessions");
        let path = |text: &str| Url::parse(text).unwrap().path().to_string();
        assert_eq!(path("http://h:1/a/b%2F/c#x?y"), "/a/b%2F/c");
        assert_eq!(path("http://h?q=/x"), "/");
        let u = Url::parse("https://cp.example:443/x").unwrap();
        assert_eq!(origin(&u).as_deref(), Some("https://cp.example"));
        assert_eq!(origin(&Url::parse("data:text/plain,x").unwrap()), None);
    }
}
