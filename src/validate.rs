//! Input validation for identifiers that reach storage, URLs or git: repository slugs,
//! branch names (git's ref-name rules), session ids and user ids.

use crate::error::ApiError;

/// A repository owner or name: `[A-Za-z0-9._-]`, 1-100 characters, no `..`, not `.`.
pub fn slug(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !value.contains("..")
        && value != ".";
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field} must be 1-100 characters of A-Z, a-z, 0-9, '.', '_', '-' without '..'"
        )))
    }
}

/// A branch name valid for `git check-ref-format --branch`.
pub fn branch(field: &str, value: &str) -> Result<(), ApiError> {
    if is_valid_branch(value) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field} is not a valid git branch name"
        )))
    }
}

fn is_valid_branch(v: &str) -> bool {
    if v.is_empty() || v.len() > 255 || v == "@" || v.starts_with('-') {
        return false;
    }
    if v.starts_with('/') || v.ends_with('/') || v.ends_with('.') {
        return false;
    }
    if v.contains("..") || v.contains("//") || v.contains("@{") {
        return false;
    }
    let bad_char =
        |c: char| c.is_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\');
    if v.chars().any(bad_char) {
        return false;
    }
    v.split('/')
        .all(|part| !part.starts_with('.') && !part.ends_with(".lock"))
}

/// A session id: the 64 lowercase hex characters of a Durable Object id.
pub fn is_session_id(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A caller-supplied identifier (user id, client id): 1-200 printable characters.
pub fn ident(field: &str, value: &str) -> Result<(), ApiError> {
    if !value.is_empty() && value.len() <= 200 && !value.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field} must be 1-200 printable characters"
        )))
    }
}

/// Free text with an upper bound on its length (titles, prompts).
pub fn text(field: &str, value: &str, max: usize, allow_empty: bool) -> Result<(), ApiError> {
    if !allow_empty && value.trim().is_empty() {
        return Err(ApiError::bad_request(format!("{field} must not be blank")));
    }
    if value.len() > max {
        return Err(ApiError::bad_request(format!(
            "{field} must be at most {max} bytes"
        )));
    }
    Ok(())
}

/// Whether `c` is a control character a person's text may not carry: any but tab and the
/// line breaks.
fn forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Text people write (a prompt): [`text`], no control character but tab and line breaks, and
/// at most `max_stored` bytes once JSON-escaped, as it is stored.
pub fn prose(field: &str, value: &str, max: usize, max_stored: usize) -> Result<(), ApiError> {
    text(field, value, max, false)?;
    if let Some(c) = value.chars().find(|c| forbidden_control(*c)) {
        return Err(ApiError::bad_request(format!(
            "{field} must not contain control characters (U+{:04X})",
            u32::from(c)
        )));
    }
    let stored = serde_json::to_string(value).map_or(usize::MAX, |s| s.len());
    if stored > max_stored {
        return Err(ApiError::bad_request(format!(
            "{field} must be at most {max_stored} bytes once stored (quotes and backslashes count twice)"
        )));
    }
    Ok(())
}

/// A one-line text (a name, an e-mail address): [`text`] with no control character at all.
pub fn line(field: &str, value: &str, max: usize, allow_empty: bool) -> Result<(), ApiError> {
    text(field, value, max, allow_empty)?;
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_refuses_control_characters_and_counts_its_stored_size() {
        assert!(prose("content", "fix it\n\tplease\r\n", 100, 200).is_ok());
        for bad in ["a\u{0}b", "\u{1}", "a\u{1b}[31m", "\u{7f}", "\u{85}"] {
            assert!(prose("content", bad, 100, 200).is_err(), "{bad:?}");
        }
        // Quotes and backslashes are stored escaped: 40 of them are 82 bytes stored.
        assert!(prose("content", &"\"".repeat(40), 100, 82).is_ok());
        assert!(prose("content", &"\"".repeat(40), 100, 81).is_err());
        assert!(line("scmName", "Ada", 10, true).is_ok());
        assert!(line("scmName", "Ada\nEve", 10, true).is_err());
    }

    #[test]
    fn slugs() {
        for ok in ["acme", "my-repo", "a.b_c", "A1", ".github"] {
            assert!(slug("x", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a..b",
            "a/b",
            "a b",
            "a%2f",
            "é",
            &"a".repeat(101),
        ] {
            assert!(slug("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn branches() {
        for ok in ["main", "feature/x", "release-1.2", "user/a_b", "v1@2"] {
            assert!(branch("b", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "@",
            "-x",
            "/x",
            "x/",
            "x.",
            "a..b",
            "a//b",
            "a@{b",
            "a b",
            "a~b",
            "a^b",
            "a:b",
            "a?b",
            "a*b",
            "a[b",
            "a\\b",
            "a\x07b",
            "x.lock",
            "a/.hidden",
            "a/b.lock/c",
        ] {
            assert!(branch("b", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn session_ids() {
        assert!(is_session_id(&"a1".repeat(32)));
        assert!(!is_session_id(&"A1".repeat(32)));
        assert!(!is_session_id("abc"));
        assert!(!is_session_id(&"g".repeat(64)));
    }

    #[test]
    fn idents_and_text() {
        assert!(ident("userId", "user-1").is_ok());
        assert!(ident("userId", "").is_err());
        assert!(ident("userId", "a\nb").is_err());
        assert!(text("title", "   ", 10, false).is_err());
        assert!(text("title", "", 10, true).is_ok());
        assert!(text("title", "abcdefghijk", 10, false).is_err());
    }
}
