//! The `RefreshObject` Durable Object: one per provider and user, the one place their
//! tokens are refreshed, so there is exactly one refresh per user at a time anywhere without
//! a lease in D1 (a refresh is one D1 write: the new pair). Callers (`Credentials`) ask it
//! with the version of the pair they found expired; it answers the new token, or that
//! another refresh is under way or already done (then they read D1 again).

use std::cell::Cell;

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{Env, Response, State};

use crate::auth::credentials::Credentials;
use crate::error::{ApiError, ApiResult};
use crate::http::{respond, session_call};
use crate::json::{self, Field};
use crate::keep;
use crate::vcs::VcsProvider;

/// What a caller asks: refresh `user_id`'s pair at `provider` if it is still at `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ask {
    pub provider: VcsProvider,
    pub user_id: String,
    pub version: i64,
}

/// What came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The new access token (stored before this answer) and when it expires.
    Refreshed { token: String, expires_at: i64 },
    /// Another refresh is under way, or the pair moved on: read the stored pair again.
    Elsewhere,
}

/// The key of the object for `provider` and `user_id`.
pub fn name(provider: VcsProvider, user_id: &str) -> String {
    format!("{}:{user_id}", provider.as_str())
}

/// Asks the user's object to refresh their pair at `ask.version`.
pub async fn ask(env: &Env, ask: &Ask) -> ApiResult<Outcome> {
    let ns = env.durable_object("REFRESHER")?;
    let stub = ns
        .id_from_name(&name(ask.provider, &ask.user_id))?
        .get_stub()?;
    let mut resp = session_call::post(stub, ask, None).await?;
    let status = resp.status_code();
    let text = resp.text().await?;
    if status == 200 {
        return json::read(&text).map_err(|_| ApiError::internal("bad refresh answer".to_string()));
    }
    // The object's error, as it said it.
    let said = json::parse(&text);
    let said = said.as_ref().map(Field::of);
    match said.and_then(|e| Some((e.text("code")?, e.text("error")?))) {
        Some((code, error)) => Err(ApiError::new(status, &code, error)),
        None => Err(ApiError::internal(format!(
            "the token refresh failed ({status})"
        ))),
    }
}

/// How long a refresh under way holds the object: past this it is taken for hung (a D1 call
/// that never answers) and another may start. The provider call itself is limited to 10 s.
pub const BUSY_LIMIT_MS: i64 = 60_000;

/// Whether a refresh begun at `since` still holds the object at `now`.
pub fn holds(since: Option<i64>, now: i64) -> bool {
    since.is_some_and(|at| now >= at && now - at < BUSY_LIMIT_MS)
}

pub struct RefreshObject {
    state: State,
    env: Env,
    /// When the refresh under way in this object began.
    busy_since: Cell<Option<i64>>,
}

/// Frees the object when the refresh ends, however it ends (an error, a dropped future).
struct Release<'a>(&'a Cell<Option<i64>>, i64);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        // Only the refresh that took the object frees it.
        if self.0.get() == Some(self.1) {
            self.0.set(None);
        }
    }
}

impl RefreshObject {
    async fn refresh(&self, text: &str) -> ApiResult<Response> {
        let ask: Ask = session_call::read(text)?;
        let now = crate::clock::now_ms();
        if holds(self.busy_since.get(), now) {
            return respond::json(200, &Outcome::Elsewhere);
        }
        self.busy_since.set(Some(now));
        let _release = Release(&self.busy_since, now);
        let env = self.env.clone();
        // Run to its end even if the caller hangs up: a rotated refresh token must be stored.
        let work = async move {
            Credentials::new(&env, ask.provider)?
                .refresh_at(&ask.user_id, ask.version)
                .await
        };
        let answer = keep::finish(&self.state, work)
            .await
            .unwrap_or_else(|| Err(ApiError::internal("the token refresh was torn down")));
        respond::json(
            200,
            &match answer? {
                Some((token, expires_at)) => Outcome::Refreshed { token, expires_at },
                None => Outcome::Elsewhere,
            },
        )
    }
}

/// The handlers the worker calls, through the class `crate::exports` gives JavaScript.
impl RefreshObject {
    pub fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            busy_since: Cell::new(None),
        }
    }

    /// An [`Ask`], called over RPC by [`ask`] (`session_call::post`).
    pub async fn command(
        &self,
        text: String,
        _request_id: Option<String>,
    ) -> std::result::Result<JsValue, JsValue> {
        session_call::answer(self.refresh(&text).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hung_refresh_holds_the_object_for_a_minute_at_most() {
        assert!(!holds(None, 5));
        assert!(holds(Some(1_000), 1_000));
        assert!(holds(Some(1_000), 1_000 + BUSY_LIMIT_MS - 1));
        assert!(!holds(Some(1_000), 1_000 + BUSY_LIMIT_MS));
        // A clock that went back does not hold it forever.
        assert!(!holds(Some(1_000), 999));
    }

    /// What callers send and what the object answers, written by serde and read back.
    #[test]
    fn asks_and_outcomes_round_trip() {
        let ask = Ask {
            provider: VcsProvider::Github,
            user_id: "u1".into(),
            version: 3,
        };
        let text = serde_json::to_string(&ask).unwrap();
        assert_eq!(json::read::<Ask>(&text), Ok(ask));
        for outcome in [
            Outcome::Refreshed {
                token: "t".into(),
                expires_at: 1_796_173_323_004,
            },
            Outcome::Elsewhere,
        ] {
            let text = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json::read::<Outcome>(&text), Ok(outcome), "{text}");
        }
    }
}
