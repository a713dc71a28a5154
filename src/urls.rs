//! The few URL operations the control plane needs, done on URL text without a URL parser
//! (the `url` crate was a twelfth of the gzipped upload): the origin and query of a request
//! URL as the runtime serialized it, an API base joined with encoded path segments and a
//! query, whether a link an API gave us stays under that base, and a git remote with
//! credentials. Encoding follows the WHATWG URL standard's percent-encode sets
//! (`percent-encoding`, `form_urlencoded`: the `url` crate's own parts).

use std::borrow::Cow;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// The WHATWG path percent-encode set.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A path segment: the path set, `/` and `%` (a segment never splits, never decodes).
const SEGMENT: &AsciiSet = &PATH.add(b'/').add(b'%');

/// The WHATWG userinfo percent-encode set.
const USERINFO: &AsciiSet = &PATH
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'|');

/// `(scheme://, authority, rest)` of an absolute `http(s)` URL with a host; `None` otherwise.
fn split(url: &str) -> Option<(&str, &str, &str)> {
    let after = ["https://", "http://"]
        .into_iter()
        .find_map(|s| url.get(..s.len()).filter(|p| p.eq_ignore_ascii_case(s)))?;
    let rest = &url[after.len()..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() || authority.contains(['@', ' ', '\\']) {
        return None;
    }
    Some((after, authority, &rest[end..]))
}

/// The origin of a request URL as the runtime serialized it (`scheme://host[:port]`).
pub fn origin(url: &str) -> Option<String> {
    let (scheme, authority, _) = split(url)?;
    Some(format!("{scheme}{authority}"))
}

/// The path of a request URL as the runtime serialized it (`/` when it has none); empty
/// when `url` is no `http(s)` URL with a host.
pub fn path(url: &str) -> &str {
    let Some((_, _, rest)) = split(url) else {
        return "";
    };
    match &rest[..rest.find(['?', '#']).unwrap_or(rest.len())] {
        "" => "/",
        path => path,
    }
}

/// The decoded query pairs of a URL (`application/x-www-form-urlencoded`, as `URLSearchParams`
/// reads them).
pub fn query_pairs(url: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    let url = url.split('#').next().unwrap_or_default();
    let query = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
}

/// The host of a URL, without port or credentials.
pub fn host(url: &str) -> Option<&str> {
    let (_, authority, _) = split(url)?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => &authority[..v6.find(']')? + 2],
        None => authority.split(':').next()?,
    };
    (!host.is_empty()).then_some(host)
}

/// `{base}/{segments...}` with each segment percent-encoded, plus query pairs; `None` when
/// `base` is no `http(s)` URL with a host (or already has a query).
pub fn join(base: &str, segments: &[&str], query: &[(&str, &str)]) -> Option<String> {
    let (_, _, rest) = split(base)?;
    if rest.contains(['?', '#']) {
        return None;
    }
    let mut url = base.trim_end_matches('/').to_string();
    for s in segments {
        url.push('/');
        url.extend(utf8_percent_encode(s, SEGMENT));
    }
    if !query.is_empty() {
        url.push('?');
        url.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish(),
        );
    }
    Some(url)
}

/// Whether `link` (a next-page link an API gave us) stays on `base`'s origin and under its
/// path, so a token is only ever sent back to the API itself: `link` must begin with `base`
/// and then a path separator or a query (a prefix of the text, so nothing can hide a host).
pub fn within(base: &str, link: &str) -> bool {
    let base = base.trim_end_matches('/');
    split(base).is_some()
        && link
            .strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
}

/// `git_url` with `user:secret@` before its host and the path segments after it (each
/// percent-encoded as userinfo or segment); `None` when `git_url` is no `http(s)` URL.
pub fn with_credentials(
    git_url: &str,
    user: &str,
    secret: &str,
    segments: &[&str],
) -> Option<String> {
    let (scheme, authority, _) = split(git_url)?;
    let base = join(git_url, segments, &[])?;
    let rest = &base[scheme.len() + authority.len()..];
    Some(format!(
        "{scheme}{}:{}@{authority}{rest}",
        utf8_percent_encode(user, USERINFO),
        utf8_percent_encode(secret, USERINFO)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_joined_encoded_and_kept_on_the_api() {
        assert_eq!(
            join("http://h:9/2.0/", &["a b", "../c"], &[("q", "x=1")]).as_deref(),
            Some("http://h:9/2.0/a%20b/..%2Fc?q=x%3D1")
        );
        assert_eq!(
            join("https://api.github.com", &["repos", "o", "n"], &[]).as_deref(),
            Some("https://api.github.com/repos/o/n")
        );
        assert_eq!(join("not a url", &["a"], &[]), None);
        assert_eq!(join("https://user@h/x", &["a"], &[]), None);
        assert!(within("http://h:9/2.0", "http://h:9/2.0/x?page=2"));
        assert!(within("http://h:9/2.0/", "http://h:9/2.0?page=2"));
        assert!(!within("http://h:9/2.0", "http://h:10/2.0/x"));
        assert!(!within("http://h:9/2.0", "https://evil.example/2.0/x"));
        assert!(!within("http://h:9/2.0", "http://h:9/other"));
        assert!(!within("http://h:9/2.0", "http://h:9/2.0x/y"));
        assert!(!within("http://h:9", "http://h:9@evil.example/x"));
        assert!(!within("http://h:9", "http://h:90/x"));
        assert!(within("http://h:9", "http://h:9/user/repos?page=2"));
    }

    #[test]
    fn request_urls() {
        let u = "https://cp.example:8443/sessions?limit=5&status=active&x=a%20b+c#frag";
        assert_eq!(origin(u).as_deref(), Some("https://cp.example:8443"));
        let pairs: Vec<(String, String)> = query_pairs(u)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            pairs,
            [("limit", "5"), ("status", "active"), ("x", "a b c")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(query_pairs("http://h/x").count(), 0);
        assert_eq!(path(u), "/sessions");
        assert_eq!(path("http://h:1/a/b%2F/c#x?y"), "/a/b%2F/c");
        assert_eq!(path("http://h?q=/x"), "/");
        assert_eq!(path("not a url"), "");
        assert_eq!(host("http://127.0.0.1:9/"), Some("127.0.0.1"));
        assert_eq!(host("https://bitbucket.org"), Some("bitbucket.org"));
        assert_eq!(host("http://[::1]:9/x"), Some("[::1]"));
        assert_eq!(host("bitbucket.org"), None);
    }

    #[test]
    fn credentials_are_encoded_as_userinfo() {
        assert_eq!(
            with_credentials(
                "https://bitbucket.org",
                "agent@bot",
                "t/o:k@en",
                &["ws", "r.git"]
            )
            .as_deref(),
            Some("https://agent%40bot:t%2Fo%3Ak%40en@bitbucket.org/ws/r.git")
        );
        assert_eq!(
            with_credentials("http://127.0.0.1:9/", "x", "y", &["ws", "r.git"]).as_deref(),
            Some("http://x:y@127.0.0.1:9/ws/r.git")
        );
        assert_eq!(with_credentials("ftp://h", "x", "y", &[]), None);
    }
}
