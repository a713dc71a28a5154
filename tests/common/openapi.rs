//! Every answer the end-to-end suite receives is checked against `src/http/openapi.json`:
//! the operation is found by method and path, and the body is validated with the schema of
//! its status (or the operation's `default`, the error shape).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Value};

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let text = std::fs::read_to_string(super::repo_root().join("src/http/openapi.json"))
            .expect("openapi.json");
        serde_json::from_str(&text).expect("openapi.json is JSON")
    })
}

/// The JSON pointer of the response schema for `method path` answered with `status`.
fn schema_pointer(method: &str, path: &str, status: u16) -> String {
    let doc = document();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let template = doc["paths"].as_object().unwrap().keys().find(|t| {
        let ts: Vec<&str> = t.trim_start_matches('/').split('/').collect();
        ts.len() == segments.len()
            && ts
                .iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
    });
    let escape = |s: &str| {
        s.replace('~', "~0")
            .replace('/', "~1")
            .replace('{', "%7B")
            .replace('}', "%7D")
    };
    let m = method.to_ascii_lowercase();
    match template.filter(|t| doc["paths"][t.as_str()].get(&m).is_some()) {
        Some(t) => {
            let responses = &doc["paths"][t.as_str()][&m]["responses"];
            let key = if responses.get(status.to_string()).is_some() {
                status.to_string()
            } else {
                assert!(status >= 400, "{method} {path}: {status} is not documented");
                "default".to_string()
            };
            format!(
                "#/paths/{}/{m}/responses/{key}/content/application~1json/schema",
                escape(t)
            )
        }
        // Not a documented route: 404/405 in the error shape.
        None => {
            assert!(
                status == 404 || status == 405,
                "{method} {path} is not documented but answered {status}"
            );
            "#/components/schemas/Error".to_string()
        }
    }
}

/// Panics unless `body` is what the document says `method path` answers with `status`.
pub fn check(method: &str, path: &str, status: u16, body: &Value) {
    static VALIDATORS: OnceLock<Mutex<HashMap<String, jsonschema::Validator>>> = OnceLock::new();
    let pointer = schema_pointer(method, path, status);
    let mut cache = VALIDATORS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let validator = cache.entry(pointer.clone()).or_insert_with(|| {
        let mut root = document().clone();
        root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        root["$ref"] = json!(pointer);
        jsonschema::validator_for(&root).expect("a valid schema")
    });
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} → {status} does not match openapi.json ({pointer}): {errors:?}\nbody: {body}"
    );
}
