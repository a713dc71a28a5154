//! JSON text as JavaScript's `JSON.stringify(JSON.parse(text))` would write it again: a bot
//! verifies a callback's signature over its own re-serialization of what it received, so the
//! text we sign must be a fixed point of that. Keys that are array indexes come first in
//! ascending order (as JavaScript orders them), then the rest; integral numbers are written
//! without a fraction and exponents with their sign.

use serde_json::Value;

/// Whether JavaScript treats `key` as an array index (a canonical uint32 below 2^32 - 1).
fn index_key(key: &str) -> Option<u32> {
    let n: u32 = key.parse().ok()?;
    (n != u32::MAX && n.to_string() == key).then_some(n)
}

fn number(n: &serde_json::Number, out: &mut String) {
    if n.is_i64() || n.is_u64() {
        out.push_str(&n.to_string());
        return;
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        out.push_str(&format!("{f:.0}"));
        return;
    }
    let text = n.to_string();
    // serde_json writes `1e21` and `1e-7`; JavaScript `1e+21` and `1e-7`.
    match text.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => {
            out.push_str(m.trim_end_matches(".0"));
            out.push_str("e+");
            out.push_str(e.trim_start_matches('+'));
        }
        Some((m, e)) => {
            out.push_str(m.trim_end_matches(".0"));
            out.push('e');
            out.push_str(e);
        }
        None => out.push_str(&text),
    }
}

fn string(s: &str, out: &mut String) {
    // serde_json escapes exactly what JSON.stringify escapes (quote, backslash, controls).
    out.push_str(&Value::String(s.to_string()).to_string());
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Null | Value::Bool(_) => out.push_str(&v.to_string()),
        Value::Number(n) => number(n, out),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut indexes: Vec<(u32, &String, &Value)> = map
                .iter()
                .filter_map(|(k, v)| index_key(k).map(|n| (n, k, v)))
                .collect();
            indexes.sort_by_key(|(n, _, _)| *n);
            let rest = map.iter().filter(|(k, _)| index_key(k).is_none());
            let ordered = indexes.into_iter().map(|(_, k, v)| (k, v)).chain(rest);
            out.push('{');
            for (i, (k, v)) in ordered.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(k, out);
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
    }
}

/// `value` as JavaScript would write it back (see the module's note).
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn written_as_javascript_writes_it() {
        let v = json!({"b": 1.0, "a": [1.5, 2e21, 1e-7, -0.5], "10": "x", "2": "y", "01": "z",
                       "s": "q\"\\\n\u{1}/é\u{2028}"});
        assert_eq!(
            to_string(&v),
            r#"{"2":"y","10":"x","01":"z","a":[1.5,2e+21,1e-7,-0.5],"b":1,"s":"q\"\\\n\u0001/é"#
                .to_string()
                + "\u{2028}\"}"
        );
        assert_eq!(to_string(&json!(null)), "null");
        assert_eq!(to_string(&json!(4294967295u64)), "4294967295");
        assert_eq!(
            to_string(&json!({"4294967295": 1, "1": 2})),
            r#"{"1":2,"4294967295":1}"#
        );
    }
}
