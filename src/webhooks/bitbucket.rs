//! Bitbucket Cloud deliveries: `X-Event-Key` `pullrequest:fulfilled` (merged),
//! `pullrequest:rejected` (declined), `pullrequest:updated` / `pullrequest:created` (the
//! payload's state) and `repo:push`; anything else is ignored.

use serde::Deserialize;

use super::{parse_json, pr_event, Event, Parsed, PrState};

#[derive(Deserialize)]
struct Body {
    repository: Repository,
    #[serde(default)]
    actor: Option<Actor>,
    #[serde(default)]
    pullrequest: Option<PullRequest>,
    #[serde(default)]
    push: Option<Push>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct Actor {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
}

impl Actor {
    fn name(self) -> Option<String> {
        self.display_name.or(self.nickname)
    }
}

#[derive(Deserialize)]
struct PullRequest {
    id: u64,
    #[serde(default)]
    state: Option<String>,
    updated_on: String,
}

#[derive(Deserialize)]
struct Push {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    new: Option<Ref>,
}

#[derive(Deserialize)]
struct Ref {
    #[serde(rename = "type")]
    kind: String,
    name: String,
}

/// Parses a delivery of `event_key`.
pub fn parse(event_key: &str, body: &[u8]) -> Result<Parsed, String> {
    let fixed = match event_key.trim() {
        "pullrequest:fulfilled" => Some(Some(PrState::Merged)),
        "pullrequest:rejected" => Some(Some(PrState::Declined)),
        "pullrequest:updated" | "pullrequest:created" => Some(None),
        "repo:push" => None,
        _ => return Ok(Parsed::Ignored),
    };
    let b: Body = parse_json(body)?;
    let repo = b.repository.full_name.to_ascii_lowercase();
    let actor = b.actor.and_then(Actor::name);
    match fixed {
        Some(state) => {
            let pr = b
                .pullrequest
                .ok_or("a pull request event without a pullrequest")?;
            let state = state
                .or_else(|| pr.state.as_deref().and_then(PrState::parse))
                .unwrap_or(PrState::Open);
            pr_event(repo, pr.id, state, &pr.updated_on, actor)
        }
        None => {
            let branches: Vec<String> = b
                .push
                .map(|p| p.changes)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c.new)
                .filter(|r| r.kind == "branch")
                .map(|r| r.name)
                .collect();
            if branches.is_empty() {
                return Ok(Parsed::Ignored);
            }
            Ok(Parsed::Event(Event::Push {
                repo,
                branches,
                actor,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::{fixture, PrUpdate};

    fn event(key: &str, file: &str) -> Event {
        match parse(key, fixture("bitbucket", file).as_bytes()).unwrap() {
            Parsed::Event(e) => e,
            Parsed::Ignored => panic!("{key} ignored"),
        }
    }

    #[test]
    fn pull_request_events() {
        let merged = event("pullrequest:fulfilled", "pr_fulfilled.json");
        assert_eq!(
            merged,
            Event::PullRequest {
                repo: "brydzewski/foo".into(),
                number: 1,
                update: PrUpdate {
                    state: PrState::Merged,
                    updated_at: 1_530_581_285_903,
                    actor: Some("Brad Rydzewski".into()),
                },
            }
        );
        let declined = event("pullrequest:rejected", "pr_declined.json");
        assert!(matches!(
            declined,
            Event::PullRequest {
                update: PrUpdate {
                    state: PrState::Declined,
                    ..
                },
                ..
            }
        ));
        let updated = event("pullrequest:updated", "pr_updated.json");
        assert!(matches!(
            updated,
            Event::PullRequest {
                update: PrUpdate {
                    state: PrState::Open,
                    ..
                },
                ..
            }
        ));
        let created = event("pullrequest:created", "pr_created.json");
        assert!(matches!(
            created,
            Event::PullRequest {
                update: PrUpdate {
                    state: PrState::Open,
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn pushes_and_the_rest() {
        let push = event("repo:push", "push.json");
        assert_eq!(
            push,
            Event::Push {
                repo: "brydzewski/foo".into(),
                branches: vec!["master".into()],
                actor: Some("Brad Rydzewski".into()),
            }
        );
        assert_eq!(
            parse("repo:fork", b"not even json").unwrap(),
            Parsed::Ignored
        );
        assert!(parse("pullrequest:fulfilled", b"{}").is_err());
    }
}
