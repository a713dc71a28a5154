//! Forge webhooks, sans-IO: the signature check over the raw body, each forge's deliveries
//! parsed into one typed [`Event`] (`bitbucket`, `github`), the D1 routing keys, and the
//! rules a session applies: a PR state never goes back to an older one, and a push to the
//! session's branch is someone else's unless the session itself just pushed.

pub mod bitbucket;
pub mod github;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::json::Field;

/// How long after its own push a push webhook on the session's branch counts as the
/// session's own (the forge reports the agent's push moments after it completes); the
/// default of `PUSH_ECHO_WINDOW_MS`.
pub const OWN_PUSH_WINDOW_MS: i64 = 120_000;

/// How long a delivery id is remembered (a redelivery within it changes nothing).
pub const DELIVERY_MEMORY_MS: i64 = 24 * 3600 * 1000;

/// The secret a delivery must be signed with: the one its repository's owner (workspace or
/// organisation) was given in `per_owner` (owner in lower case → secret), else the shared
/// one. So whoever installs the hook for one workspace cannot sign for another listed one.
/// `owner` is read from the body before it is verified: it only chooses the key.
pub fn secret_for<'a>(
    shared: Option<&'a str>,
    per_owner: Option<&'a serde_json::Map<String, serde_json::Value>>,
    owner: Option<&str>,
) -> Option<&'a str> {
    let own = owner.map(str::to_lowercase).and_then(|o| {
        per_owner
            .and_then(|m| m.get(&o))
            .and_then(serde_json::Value::as_str)
    });
    own.or(shared)
}

/// The owner of the repository a delivery names (`repository.full_name`'s first part).
pub fn claimed_owner(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let full = v.get("repository")?.get("full_name")?.as_str()?;
    Some(full.split('/').next()?.to_string())
}

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` with `secret`, compared in
/// constant time.
pub fn signature_valid(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// A pull request's state as sessions record it (the artifact's `metadata.state`, in the
/// lowercase the contract already uses for `open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrState {
    Open,
    Merged,
    Declined,
    Closed,
}

crate::wire::wire_names!(PrState {
    Open => "open",
    Merged => "merged",
    Declined => "declined",
    Closed => "closed",
});

impl PrState {
    /// From a provider's word for it (`OPEN`, `MERGED`, `DECLINED`, `SUPERSEDED`, `closed`).
    pub fn from_provider(s: &str) -> Option<PrState> {
        match s.to_ascii_lowercase().as_str() {
            "open" => Some(PrState::Open),
            "merged" => Some(PrState::Merged),
            "declined" => Some(PrState::Declined),
            "closed" | "superseded" => Some(PrState::Closed),
            _ => None,
        }
    }
}

/// What the forge says a pull request is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrUpdate {
    pub state: PrState,
    /// The PR's own `updated_on`/`updated_at` (Unix ms): an older one never wins.
    pub updated_at: i64,
    /// Who did it (display name, else login).
    pub actor: Option<String>,
}

/// One delivery, as the session needs it (sent to it, and read there, by serde).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    PullRequest {
        repo: RepoRef,
        number: u64,
        update: PrUpdate,
    },
    Push {
        repo: RepoRef,
        branches: Vec<String>,
        actor: Option<String>,
    },
}

/// What a delivery was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Event(Event),
    /// An event we do not act on (answered 202).
    Ignored,
}

/// A repository as routes name it: `owner/name` in lowercase, and the forge's stable id for
/// it when known (the number [`crate::vcs::Repo::id`] carries: GitHub's own, on Bitbucket the
/// one derived from its UUID). A repository renamed away and replaced by a new one of the
/// old name keeps its id, and the new one has another: routes go by the id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRef {
    pub name: String,
    pub id: Option<u64>,
}

impl RepoRef {
    pub fn new(owner: &str, name: &str, id: Option<u64>) -> RepoRef {
        RepoRef {
            name: format!("{owner}/{name}").to_ascii_lowercase(),
            id,
        }
    }

    /// The `repo_ref` a route written for this repository carries: `#<id>`, or the name
    /// when the id could not be learned (such a route is found by name alone).
    pub fn route_ref(&self) -> String {
        match self.id {
            Some(id) => format!("#{id}"),
            None => self.name.clone(),
        }
    }

    /// The `repo_ref`s of the routes a delivery about this repository may follow: those of
    /// its id, and those written by name (no id known then).
    pub fn lookup_refs(&self) -> Vec<String> {
        let mut refs = vec![self.name.clone()];
        if let Some(id) = self.id {
            refs.insert(0, format!("#{id}"));
        }
        refs
    }
}

/// How the D1 routing table is keyed: `("pr", number)` or `("branch", name)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteKey {
    pub repo: RepoRef,
    pub kind: &'static str,
    pub keys: Vec<String>,
}

impl Event {
    /// The routing rows that may name this event's session.
    pub fn route(&self) -> RouteKey {
        match self {
            Event::PullRequest { repo, number, .. } => RouteKey {
                repo: repo.clone(),
                kind: "pr",
                keys: vec![number.to_string()],
            },
            Event::Push { repo, branches, .. } => RouteKey {
                repo: repo.clone(),
                kind: "branch",
                keys: branches.clone(),
            },
        }
    }
}

/// The PR artifact's metadata after `update`, or `None` when it changes nothing: an update
/// older than the last one applied, or the same state at the same time (a redelivery).
pub fn apply(metadata: &Value, update: &PrUpdate) -> Option<Value> {
    let last = metadata.get("updatedAt").and_then(Value::as_i64);
    let state = metadata
        .get("state")
        .and_then(Value::as_str)
        .and_then(PrState::from_provider);
    match last {
        Some(at) if update.updated_at < at => return None,
        Some(at) if update.updated_at == at && state == Some(update.state) => return None,
        _ => {}
    }
    let mut next = metadata.clone();
    let obj = next.as_object_mut()?;
    obj.insert("state".into(), update.state.as_str().into());
    // Open-Inspect's name for it, which knows no "declined".
    let lifecycle = match update.state {
        PrState::Declined => "closed",
        other => other.as_str(),
    };
    obj.insert("lifecycleState".into(), lifecycle.into());
    obj.insert("updatedAt".into(), update.updated_at.into());
    obj.insert(
        "actor".into(),
        update.actor.clone().map_or(Value::Null, Value::from),
    );
    Some(next)
}

/// Whether a push to the session's branch was someone else's: not while the session is
/// pushing, nor within `window_ms` after its last push.
pub fn push_is_foreign(pushing: bool, own_push_at: Option<i64>, now: i64, window_ms: i64) -> bool {
    !pushing && own_push_at.is_none_or(|at| now - at > window_ms)
}

/// A pull request event: `updated` is the PR's own `updated_on`/`updated_at` text.
fn pr_event(
    repo: RepoRef,
    number: u64,
    state: PrState,
    updated: &str,
    actor: Option<String>,
) -> Result<Parsed, String> {
    let updated_at = crate::clock::parse_iso8601(updated)
        .ok_or("the pull request's update time is no ISO 8601 time")?;
    Ok(Parsed::Event(Event::PullRequest {
        repo,
        number,
        update: PrUpdate {
            state,
            updated_at,
            actor,
        },
    }))
}

/// Parses a JSON body (an object), with a short reason when it cannot; read it with
/// `json::Field`.
fn parse_json(body: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    crate::json::parse(text)
        .filter(Value::is_object)
        .ok_or_else(|| "the body is not a JSON object".to_string())
}

/// The delivery's repository: `repository.full_name`, and its id as `id_of` reads it from
/// `repository` (each forge has its own).
fn repo_of(body: Field, id_of: impl Fn(Field) -> Option<u64>) -> Result<RepoRef, String> {
    let repository = body.get("repository");
    let name = repository
        .get("full_name")
        .str()
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| "a delivery without repository.full_name".to_string())?;
    Ok(RepoRef {
        name,
        id: id_of(repository),
    })
}

#[cfg(test)]
pub(crate) fn fixture(provider: &str, name: &str) -> String {
    crate::vcs::fixture(provider, &format!("webhooks/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_owner_has_its_own_secret() {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"team-b": "B"}"#).unwrap();
        assert_eq!(secret_for(Some("S"), Some(&map), Some("Team-B")), Some("B"));
        assert_eq!(secret_for(Some("S"), Some(&map), Some("team-a")), Some("S"));
        assert_eq!(secret_for(None, Some(&map), Some("team-a")), None);
        assert_eq!(secret_for(Some("S"), None, None), Some("S"));
        let body = br#"{"repository": {"full_name": "team-b/site"}}"#;
        assert_eq!(claimed_owner(body).as_deref(), Some("team-b"));
        assert_eq!(claimed_owner(b"not json"), None);
    }
    use serde_json::json;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures() {
        let body = br#"{"a":1}"#;
        let good = sign("s3cret", body);
        assert!(signature_valid(b"s3cret", body, Some(&good)));
        assert!(!signature_valid(b"other", body, Some(&good)));
        assert!(!signature_valid(b"s3cret", br#"{"a":2}"#, Some(&good)));
        assert!(!signature_valid(b"s3cret", body, None));
        assert!(!signature_valid(
            b"s3cret",
            body,
            Some(&good.replace("sha256=", "sha1="))
        ));
        assert!(!signature_valid(b"s3cret", body, Some("sha256=zz")));
    }

    fn update(state: PrState, at: i64) -> PrUpdate {
        PrUpdate {
            state,
            updated_at: at,
            actor: Some("Ada".into()),
        }
    }

    #[test]
    fn newer_states_win_and_older_ones_are_ignored() {
        let created = json!({"number": 7, "state": "open", "head": "h", "base": "b"});
        let merged = apply(&created, &update(PrState::Merged, 2000)).unwrap();
        assert_eq!(
            merged,
            json!({"number": 7, "state": "merged", "lifecycleState": "merged", "head": "h",
                   "base": "b", "updatedAt": 2000, "actor": "Ada"})
        );
        assert_eq!(apply(&merged, &update(PrState::Open, 1000)), None, "older");
        assert_eq!(
            apply(&merged, &update(PrState::Merged, 2000)),
            None,
            "again"
        );
        let reopened = apply(&merged, &update(PrState::Open, 3000)).unwrap();
        assert_eq!(reopened["state"], "open");
    }

    #[test]
    fn routes_go_by_the_repository_id_when_known() {
        let known = RepoRef::new("Acme", "Web", Some(42));
        assert_eq!(known.name, "acme/web");
        assert_eq!(known.route_ref(), "#42");
        assert_eq!(known.lookup_refs(), vec!["#42", "acme/web"]);
        let unknown = RepoRef::new("acme", "web", None);
        assert_eq!(unknown.route_ref(), "acme/web");
        assert_eq!(unknown.lookup_refs(), vec!["acme/web"]);
    }

    #[test]
    fn own_pushes_are_recognized() {
        let w = OWN_PUSH_WINDOW_MS;
        assert!(!push_is_foreign(true, None, 10, w));
        assert!(!push_is_foreign(false, Some(0), w, w));
        assert!(push_is_foreign(false, Some(0), w + 1, w));
        assert!(push_is_foreign(false, None, 10, w));
    }

    #[test]
    fn states_from_provider_words() {
        assert_eq!(PrState::from_provider("MERGED"), Some(PrState::Merged));
        assert_eq!(PrState::from_provider("SUPERSEDED"), Some(PrState::Closed));
        assert_eq!(PrState::from_provider("open"), Some(PrState::Open));
        assert_eq!(PrState::from_provider("draft"), None);
    }
}
