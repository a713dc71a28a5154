//! Bitbucket Cloud deliveries: `X-Event-Key` `pullrequest:fulfilled` (merged),
//! `pullrequest:rejected` (declined), `pullrequest:updated` / `pullrequest:created` (the
//! payload's state) and `repo:push`; anything else is ignored.

use super::{parse_json, pr_event, repo_of, Event, Parsed, PrState};
use crate::json::Field;

/// Parses a delivery of `event_key`.
pub fn parse(event_key: &str, body: &[u8]) -> Result<Parsed, String> {
    let fixed = match event_key.trim() {
        "pullrequest:fulfilled" => Some(Some(PrState::Merged)),
        "pullrequest:rejected" => Some(Some(PrState::Declined)),
        "pullrequest:updated" | "pullrequest:created" => Some(None),
        "repo:push" => None,
        _ => return Ok(Parsed::Ignored),
    };
    let body = parse_json(body)?;
    let b = Field::of(&body);
    let repo = repo_of(b)?;
    let actor = b.get("actor");
    let actor = actor
        .text("display_name")
        .or_else(|| actor.text("nickname"));
    match fixed {
        Some(state) => {
            let pr = b.get("pullrequest");
            let (Some(id), Some(updated_on)) = (pr.uint("id"), pr.get("updated_on").str()) else {
                return Err("a pull request event without a pullrequest".into());
            };
            let state = state
                .or_else(|| pr.get("state").str().and_then(PrState::from_provider))
                .unwrap_or(PrState::Open);
            pr_event(repo, id, state, updated_on, actor)
        }
        None => {
            let branches: Vec<String> = b
                .get("push")
                .get("changes")
                .items()
                .map(|c| c.get("new"))
                .filter(|r| r.get("type").str() == Some("branch"))
                .filter_map(|r| r.text("name"))
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
