//! Secrets in D1, sealed by the token vault: listed by key only, written and deleted per scope,
//! opened only to give them to a sandbox.

use serde::Serialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::error::ApiResult;
use crate::log::{self, D1};
use crate::rows::{self, FromRow, Read, Row};
use crate::vcs::VcsProvider;

/// Where a secret applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Global,
    /// One repository at one provider (`owner/name`, as named).
    Repo {
        provider: VcsProvider,
        owner: String,
        name: String,
    },
}

impl Scope {
    /// Its key in the table: `global`, or `repo:<provider>:<owner/name>` in lower case.
    fn key(&self) -> String {
        match self {
            Scope::Global => "global".into(),
            Scope::Repo {
                provider,
                owner,
                name,
            } => format!("repo:{}:{owner}/{name}", provider.as_str()).to_lowercase(),
        }
    }
}

/// A secret as listed: its key and when it was set, never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    pub key: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl FromRow for Listed {
    fn from_row(r: &Row) -> Read<Self> {
        r.done(Listed {
            key: r.text("key"),
            created_at: r.int("created_at"),
            updated_at: r.int("updated_at"),
        })
    }
}

struct Sealed(String, String);

impl FromRow for Sealed {
    fn from_row(r: &Row) -> Read<Self> {
        r.done(Sealed(r.text("key"), r.text("value")))
    }
}

fn db(env: &Env) -> ApiResult<D1Database> {
    Ok(env.d1("DB")?)
}

/// The scope's secrets, by key.
pub async fn list(env: &Env, scope: &Scope) -> ApiResult<Vec<Listed>> {
    log::d1(D1::Read);
    let stmt = db(env)?
        .prepare("SELECT key, created_at, updated_at FROM secrets WHERE scope = ?1 ORDER BY key")
        .bind(&[scope.key().into()])?;
    rows::d1_all(&stmt).await
}

/// Seals and writes `secrets` into the scope (others are kept); answers how many were new.
pub async fn put(
    env: &Env,
    scope: &Scope,
    secrets: &[(String, String)],
    now: i64,
) -> ApiResult<usize> {
    let vault = crate::config::vault(env)?;
    let existing: Vec<String> = list(env, scope).await?.into_iter().map(|l| l.key).collect();
    let db = db(env)?;
    let mut statements = Vec::new();
    for (k, v) in secrets {
        statements.push(
            db.prepare(
                "INSERT INTO secrets (scope, key, value, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(&[
                scope.key().into(),
                k.as_str().into(),
                vault.encrypt(v)?.into(),
                JsValue::from(now as f64),
            ])?,
        );
    }
    if !statements.is_empty() {
        log::d1(D1::Write);
        rows::d1_batch(&db, &statements).await?;
    }
    Ok(secrets
        .iter()
        .filter(|(k, _)| !existing.contains(k))
        .count())
}

/// Deletes one secret; answers whether it existed.
pub async fn delete(env: &Env, scope: &Scope, key: &str) -> ApiResult<bool> {
    log::d1(D1::Write);
    let answer = db(env)?
        .prepare("DELETE FROM secrets WHERE scope = ?1 AND key = ?2 RETURNING key")
        .bind(&[scope.key().into(), key.into()])?
        .all()
        .await?;
    Ok(!answer.results::<serde_json::Value>()?.is_empty())
}

/// The scope's secrets opened, for a sandbox.
pub async fn open(env: &Env, scope: &Scope) -> ApiResult<Vec<(String, String)>> {
    let vault = crate::config::vault(env)?;
    log::d1(D1::Read);
    let stmt = db(env)?
        .prepare("SELECT key, value FROM secrets WHERE scope = ?1 ORDER BY key")
        .bind(&[scope.key().into()])?;
    let sealed: Vec<Sealed> = rows::d1_all(&stmt).await?;
    sealed
        .into_iter()
        .map(|Sealed(k, v)| Ok((k, vault.decrypt(&v)?)))
        .collect()
}
