//! `GET` and `PUT /model-preferences`: the models the web app offers, for the whole
//! deployment (one D1 row); the defaults when nothing is stored.

use serde::Deserialize;
use worker::{Env, Response};

use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::respond;
use crate::json;
use crate::log::{self, D1};
use crate::raw::Object;
use crate::rows::{self, FromRow, Read, Row};

/// Offered when nothing is stored (Open-Inspect's defaults).
pub const DEFAULT_ENABLED_MODELS: &[&str] = &[
    "anthropic/claude-haiku-4-5",
    "anthropic/claude-sonnet-4-5",
    "anthropic/claude-sonnet-4-6",
    "anthropic/claude-opus-4-5",
    "anthropic/claude-opus-4-6",
    "openai/gpt-5.2",
    "openai/gpt-5.4",
    "openai/gpt-5.2-codex",
    "openai/gpt-5.3-codex",
    "openai/gpt-5.3-codex-spark",
];

/// At most this many models are stored.
pub const MAX_MODELS: usize = 100;

/// The body of `PUT /model-preferences` (and what is stored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    pub enabled_models: Option<Vec<serde_json::Value>>,
}

/// The models to store: non-empty strings (trimmed, at most 200 characters), each once, in
/// the order given, at most [`MAX_MODELS`].
pub fn enabled_models(p: Preferences) -> ApiResult<Vec<String>> {
    let given = p
        .enabled_models
        .ok_or_else(|| ApiError::bad_request("enabledModels must be an array of model ids"))?;
    let mut out: Vec<String> = Vec::new();
    for v in given {
        let m = v
            .as_str()
            .map(str::trim)
            .filter(|m| !m.is_empty() && m.len() <= 200)
            .ok_or_else(|| {
                ApiError::bad_request("every enabled model must be a non-empty string")
            })?;
        if !out.iter().any(|o| o == m) {
            out.push(m.to_string());
        }
    }
    if out.len() > MAX_MODELS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_MODELS} models can be enabled"
        )));
    }
    Ok(out)
}

/// The stored list, as JSON text.
struct Stored(String);

impl FromRow for Stored {
    fn from_row(r: &Row) -> Read<Self> {
        r.done(Stored(r.text("enabled_models")))
    }
}

pub async fn get(env: &Env) -> ApiResult<Response> {
    log::d1(D1::Read);
    let stmt = env
        .d1("DB")?
        .prepare("SELECT enabled_models FROM model_preferences WHERE id = 1");
    let models: Vec<String> = rows::d1_first::<Stored>(&stmt)
        .await?
        .and_then(|r| json::read(&r.0).ok())
        .unwrap_or_else(|| {
            DEFAULT_ENABLED_MODELS
                .iter()
                .map(|m| m.to_string())
                .collect()
        });
    respond::object(200, Object::new().field("enabledModels", &models))
}

pub async fn put(req: Incoming, env: &Env) -> ApiResult<Response> {
    let models = enabled_models(respond::body(&req).await?)?;
    let stored = serde_json::to_string(&models)?;
    log::d1(D1::Write);
    env.d1("DB")?
        .prepare(
            "INSERT INTO model_preferences (id, enabled_models, updated_at) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET enabled_models = excluded.enabled_models,
                updated_at = excluded.updated_at",
        )
        .bind(&[stored.into(), (now_ms() as f64).into()])?
        .run()
        .await?;
    respond::object(
        200,
        Object::new()
            .field("status", "updated")
            .field("enabledModels", &models),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prefs(v: serde_json::Value) -> ApiResult<Vec<String>> {
        enabled_models(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn models_are_validated_and_deduplicated() {
        assert_eq!(
            prefs(json!({"enabledModels": ["a/x", " a/x ", "b/y"]})).unwrap(),
            vec!["a/x", "b/y"]
        );
        assert_eq!(
            prefs(json!({"enabledModels": []})).unwrap(),
            Vec::<String>::new()
        );
        assert!(prefs(json!({})).is_err());
        assert!(prefs(json!({"enabledModels": ["ok", ""]})).is_err());
        assert!(prefs(json!({"enabledModels": [1]})).is_err());
        let many: Vec<String> = (0..101).map(|i| format!("m{i}")).collect();
        assert!(prefs(json!({"enabledModels": many})).is_err());
    }
}
