//! The `NonceObject` Durable Object: where a `sig1` nonce is accepted once. A signature is
//! valid for five minutes either way, so each service's nonces are remembered until their
//! signature could no longer be fresh; a second request with the same nonce in that time is
//! a replay. The nonces are spread over [`SHARDS`] objects per service by their first hex
//! digit, so no one object sees every signed request.

use std::cell::Cell;

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{Env, Response, SqlStorageValue as V, State};

use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::http::{respond, session_call};
use crate::identity::sig1::{self, Service};
use crate::raw::Object;

/// Objects per service.
pub const SHARDS: usize = 16;

/// A nonce to accept once, with the time after which its signature is stale anyway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claim {
    pub service: Service,
    pub nonce: String,
    pub forget_at: i64,
}

impl Claim {
    /// The claim of a signature made at `timestamp_ms`.
    pub fn new(service: Service, nonce: &str, timestamp_ms: i64) -> Self {
        Claim {
            service,
            nonce: nonce.to_string(),
            forget_at: timestamp_ms + sig1::VALIDITY_MS,
        }
    }

    /// The name of the object that remembers this nonce.
    pub fn object_name(&self) -> String {
        let digit = self.nonce.get(..1).unwrap_or("0");
        format!("{}:{digit}", self.service.as_str())
    }
}

/// Whether `claim`'s nonce is seen for the first time (a replay is `false`).
pub async fn first_use(env: &Env, claim: &Claim) -> ApiResult<bool> {
    let ns = env.durable_object("NONCES")?;
    let stub = ns.id_from_name(&claim.object_name())?.get_stub()?;
    let mut resp = session_call::post(stub, claim, None).await?;
    let text = resp.text().await?;
    #[derive(Deserialize)]
    struct Answer {
        fresh: bool,
    }
    match crate::json::read::<Answer>(&text) {
        Ok(a) if resp.status_code() == 200 => Ok(a.fresh),
        _ => Err(ApiError::internal("the nonce store did not answer")),
    }
}

pub struct NonceObject {
    state: State,
    /// The table exists (made on the first claim of this instance).
    ready: Cell<bool>,
}

impl NonceObject {
    pub fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            ready: Cell::new(false),
        }
    }

    fn claim(&self, text: &str) -> ApiResult<Response> {
        let claim: Claim = session_call::read(text)?;
        let sql = self.state.storage().sql();
        if !self.ready.get() {
            sql.exec(
                "CREATE TABLE IF NOT EXISTS seen (
                    service TEXT NOT NULL,
                    nonce TEXT NOT NULL,
                    forget_at INTEGER NOT NULL,
                    PRIMARY KEY (service, nonce)
                )",
                None,
            )?;
            sql.exec(
                "CREATE INDEX IF NOT EXISTS seen_forget_at ON seen(forget_at)",
                None,
            )?;
            self.ready.set(true);
        }
        sql.exec(
            "DELETE FROM seen WHERE forget_at < ?",
            vec![V::from(now_ms() as f64)],
        )?;
        let written = sql
            .exec(
                "INSERT OR IGNORE INTO seen (service, nonce, forget_at) VALUES (?, ?, ?)",
                vec![
                    V::from(claim.service.as_str()),
                    V::from(claim.nonce.as_str()),
                    V::from(claim.forget_at as f64),
                ],
            )?
            .rows_written();
        respond::object(200, Object::new().field("fresh", &(written > 0)))
    }

    /// A [`Claim`], called over RPC by [`first_use`].
    pub async fn command(
        &self,
        text: String,
        _request_id: Option<String>,
    ) -> std::result::Result<JsValue, JsValue> {
        session_call::answer(self.claim(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_spread_by_service_and_first_digit_and_round_trip() {
        let c = Claim::new(Service::SlackBot, "a0ff", 1_000);
        assert_eq!(c.object_name(), "slack-bot:a");
        assert_eq!(c.forget_at, 1_000 + sig1::VALIDITY_MS);
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(crate::json::read::<Claim>(&text), Ok(c));
        let names: std::collections::HashSet<String> = (0..SHARDS)
            .map(|d| Claim::new(Service::Web, &format!("{d:x}1"), 0).object_name())
            .collect();
        assert_eq!(names.len(), SHARDS);
    }
}
