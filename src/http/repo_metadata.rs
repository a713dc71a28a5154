//! `GET`/`PUT /repos/{owner}/{name}/metadata`: what the bots know of a repository beyond the
//! forge (Open-Inspect's `repoMetadataSchema`: description, aliases, channel associations,
//! keywords, a default environment), kept in D1 by `owner/name` in lower case.

use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::wasm_bindgen::JsValue;
use worker::{Env, Response};

use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::http::incoming::Incoming;
use crate::http::respond;
use crate::log::{self, D1};
use crate::rows::{self, FromRow, Read, Row};
use crate::validate;

/// A repository's metadata; every field may be absent (never null).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aliases: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_associations: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keywords: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_environment_id: Option<String>,
}

struct Stored(String);

impl FromRow for Stored {
    fn from_row(r: &Row) -> Read<Self> {
        r.done(Stored(r.text("metadata")))
    }
}

fn repo_key(owner: &str, name: &str) -> ApiResult<String> {
    validate::slug("owner", owner)?;
    validate::slug("name", name)?;
    Ok(format!("{owner}/{name}").to_lowercase())
}

/// `GET`: `{repo, metadata}` (`null` when none was set).
pub async fn get(env: &Env, owner: &str, name: &str) -> ApiResult<Response> {
    let repo = repo_key(owner, name)?;
    log::d1(D1::Read);
    let stmt = env
        .d1("DB")?
        .prepare("SELECT metadata FROM repo_metadata WHERE repo = ?1")
        .bind(&[repo.as_str().into()])?;
    let metadata = rows::d1_first::<Stored>(&stmt)
        .await?
        .and_then(|s| serde_json::from_str::<Metadata>(&s.0).ok());
    respond::json(200, &json!({"repo": repo, "metadata": metadata}))
}

/// `PUT`: the metadata replaced → `{status: "updated", repo, metadata}`.
pub async fn put(req: &Incoming, env: &Env, owner: &str, name: &str) -> ApiResult<Response> {
    let repo = repo_key(owner, name)?;
    let metadata: Metadata = respond::body(req)
        .await
        .map_err(|_| ApiError::bad_request("Invalid repository metadata"))?;
    let text = serde_json::to_string(&metadata).map_err(|e| ApiError::internal(e.to_string()))?;
    log::d1(D1::Write);
    env.d1("DB")?
        .prepare(
            "INSERT INTO repo_metadata (repo, metadata, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (repo) DO UPDATE SET metadata = excluded.metadata, updated_at = excluded.updated_at",
        )
        .bind(&[
            repo.as_str().into(),
            text.as_str().into(),
            JsValue::from(now_ms() as f64),
        ])?
        .run()
        .await?;
    respond::json(
        200,
        &json!({"status": "updated", "repo": repo, "metadata": metadata}),
    )
}
