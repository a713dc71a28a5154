//! Text the control plane relays from elsewhere (a sandbox's push error, the provider's
//! refusal, sandbox events) is capped and has every secret it knows of masked first; a
//! secret carried inside a value that derives `Debug` is a [`Hidden`], never printed.

use serde::{Deserialize, Serialize};

/// A secret (a bearer token) inside a command or caller: serialized as the bare string, read
/// as `&str`, and printed by `Debug` as `***`, so logging the value around it shows no token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Hidden(pub String);

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::ops::Deref for Hidden {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Secrets shorter than this are not masked (they would mask ordinary words).
const MIN_SECRET_LEN: usize = 8;

/// `text` with each of `secrets`, and every git ticket, replaced by `***`, cut to `max`
/// characters.
pub fn clean(text: &str, secrets: &[&str], max: usize) -> String {
    let mut out = crate::git::ticket::mask(text).into_owned();
    for s in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
        if out.contains(s) {
            out = out.replace(s, "***");
        }
        // The same secret percent-encoded, as it stands in a remote URL or in a form.
        let form = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
        for encoded in [crate::urls::userinfo(s), form] {
            if encoded != *s && out.contains(&encoded) {
                out = out.replace(&encoded, "***");
            }
        }
    }
    if out.chars().count() > max {
        out = out.chars().take(max).collect::<String>() + "…";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_text_is_capped() {
        let t = "fatal: unable to access 'https://bot:BOT-SECRET-1@host/x.git': 403";
        assert_eq!(
            clean(t, &["BOT-SECRET-1"], 500),
            "fatal: unable to access 'https://bot:***@host/x.git': 403"
        );
        let encoded = "https://x-token-auth:a%2Fb%3Dcdefgh@host";
        assert!(!clean(encoded, &["a/b=cdefgh"], 500).contains("cdefgh"));
        // As the remote URL encodes it ('~' and '!' stay, '%' and ' ' do not).
        let remote = "https://x-token-auth:a%2Fb~c!d%25e%20fgh@host";
        assert!(!clean(remote, &["a/b~c!d%e fgh"], 500).contains("fgh"));
        assert_eq!(clean("short", &["abc"], 500), "short");
        assert_eq!(clean(&"x".repeat(10), &[], 4), "xxxx…");
    }
}
