//! Secrets for sandboxes' environments (Open-Inspect's six routes: global ones, and a
//! repository's), validated as Open-Inspect validates them, sealed by the token vault, never
//! returned, and given to each sandbox at spawn (a repository's over the global ones). The
//! rules are pure; `store` is the D1 shell.

pub mod store;

use serde_json::{Map, Value};

/// A key's longest length.
pub const MAX_KEY_LEN: usize = 256;
/// A value's most bytes.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// The most bytes of values one request carries.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// The most secrets in one scope.
pub const MAX_PER_SCOPE: usize = 50;
/// The most bytes of values one sandbox is given.
pub const MAX_SPAWN_BYTES: usize = 128 * 1024;

/// Names a sandbox's runtime sets itself.
pub const RESERVED: &[&str] = &[
    "PYTHONUNBUFFERED",
    "SANDBOX_ID",
    "CONTROL_PLANE_URL",
    "SANDBOX_AUTH_TOKEN",
    "REPO_OWNER",
    "REPO_NAME",
    "GITHUB_APP_TOKEN",
    "SESSION_CONFIG",
    "RESTORED_FROM_SNAPSHOT",
    "OPENCODE_CONFIG_CONTENT",
    "PATH",
    "HOME",
    "USER",
    "SHELL",
    "TERM",
    "PWD",
    "LANG",
];

/// A key, upper-cased, if it may name a secret (else the reason, as Open-Inspect words it).
pub fn key(raw: &str) -> Result<String, String> {
    let k = raw.to_uppercase();
    if k.is_empty() || k.chars().count() > MAX_KEY_LEN {
        return Err("Key too long or empty".into());
    }
    let mut chars = k.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("Key must match [A-Za-z_][A-Za-z0-9_]*".into());
    }
    if RESERVED.contains(&k.as_str()) {
        return Err(format!("Key '{k}' is reserved"));
    }
    Ok(k)
}

/// The secrets of a `PUT` body (`{"secrets": {KEY: value}}`), keys normalized, checked
/// against Open-Inspect's limits given the keys the scope already has (`existing`).
pub fn to_put(
    body: &Value,
    existing: &[String],
    scope_name: &str,
) -> Result<Vec<(String, String)>, String> {
    let Some(secrets) = body.get("secrets").and_then(Value::as_object) else {
        return Err("Request body must include secrets object".into());
    };
    let mut out: Vec<(String, String)> = Vec::new();
    let mut total = 0;
    for (raw, v) in secrets {
        let k = key(raw)?;
        let Some(value) = v.as_str() else {
            return Err("Value must be a string".into());
        };
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!("Value exceeds {MAX_VALUE_BYTES} bytes"));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(format!("Duplicate secret key '{k}' after normalization"));
        }
        total += value.len();
        out.push((k, value.to_string()));
    }
    if total > MAX_REQUEST_BYTES {
        return Err(format!(
            "Total secret size exceeds {MAX_REQUEST_BYTES} bytes"
        ));
    }
    let adding = out.iter().filter(|(k, _)| !existing.contains(k)).count();
    if existing.len() + adding > MAX_PER_SCOPE {
        return Err(format!(
            "{scope_name} secrets would exceed {MAX_PER_SCOPE} secrets limit (current: {}, adding: {adding})",
            existing.len()
        ));
    }
    Ok(out)
}

/// What a sandbox is given: the global secrets with a repository's over them, or why not
/// (past [`MAX_SPAWN_BYTES`]).
pub fn for_sandbox(
    global: Vec<(String, String)>,
    repo: Vec<(String, String)>,
) -> Result<Map<String, Value>, String> {
    let mut merged = Map::new();
    for (k, v) in global.into_iter().chain(repo) {
        merged.insert(k, Value::String(v));
    }
    let bytes: usize = merged
        .values()
        .filter_map(Value::as_str)
        .map(str::len)
        .sum();
    if bytes > MAX_SPAWN_BYTES {
        return Err(format!(
            "the secrets for this sandbox total {bytes} bytes, over {MAX_SPAWN_BYTES}"
        ));
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_normalized_and_checked() {
        assert_eq!(key("api_token").unwrap(), "API_TOKEN");
        assert_eq!(key("_x1").unwrap(), "_X1");
        for bad in ["", "1ABC", "A-B", "A B", "é", "path", &"K".repeat(257)] {
            assert!(key(bad).is_err(), "{bad}");
        }
        assert_eq!(key("home").unwrap_err(), "Key 'HOME' is reserved");
    }

    #[test]
    fn puts_are_checked_as_a_whole() {
        let ok = to_put(&json!({"secrets": {"a": "1", "B": "2"}}), &[], "Global").unwrap();
        assert_eq!(ok, vec![("B".into(), "2".into()), ("A".into(), "1".into())]);
        for (body, why) in [
            (json!({}), "Request body must include secrets object"),
            (json!({"secrets": {"A": 1}}), "Value must be a string"),
            (
                json!({"secrets": {"a": "1", "A": "2"}}),
                "Duplicate secret key 'A' after normalization",
            ),
            (
                json!({"secrets": {"A": "x".repeat(16385)}}),
                "Value exceeds 16384 bytes",
            ),
        ] {
            assert_eq!(to_put(&body, &[], "Global").unwrap_err(), why, "{body}");
        }
        let many: Vec<String> = (0..50).map(|i| format!("K{i}")).collect();
        let err = to_put(&json!({"secrets": {"NEW": "v"}}), &many, "Repository").unwrap_err();
        assert!(
            err.starts_with("Repository secrets would exceed 50"),
            "{err}"
        );
        assert!(to_put(&json!({"secrets": {"K1": "v"}}), &many, "Global").is_ok());
    }

    #[test]
    fn a_repository_overrides_the_global_ones() {
        let g = vec![("A".into(), "g".into()), ("B".into(), "g".into())];
        let r = vec![("B".into(), "r".into())];
        let m = for_sandbox(g, r).unwrap();
        assert_eq!(Value::Object(m), json!({"A": "g", "B": "r"}));
        let big = vec![("A".into(), "x".repeat(MAX_SPAWN_BYTES + 1))];
        assert!(for_sandbox(big, vec![]).is_err());
    }
}
