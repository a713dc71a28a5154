//! Bitbucket Cloud deliveries: `X-Event-Key` `pullrequest:{created,updated,fulfilled,rejected}`
//! and `repo:push`; anything else is ignored. The key only chooses what to read: it is not
//! signed, so a pull request's state always comes from the signed body's `pullrequest.state`.

use super::{parse_json, pr_event, repo_of, Event, Parsed, PrState};
use crate::json::Field;
use crate::vcs::bitbucket::responses::repo_number;

/// Parses a delivery of `event_key`.
pub fn parse(event_key: &str, body: &[u8]) -> Result<Parsed, String> {
    let is_pr = match event_key.trim() {
        "pullrequest:fulfilled"
        | "pullrequest:rejected"
        | "pullrequest:updated"
        | "pullrequest:created" => true,
        "repo:push" => false,
        _ => return Ok(Parsed::Ignored),
    };
    let body = parse_json(body)?;
    let b = Field::of(&body);
    // Bitbucket numbers no repository: its number is derived from its UUID, as in listings.
    let repo = repo_of(b, |r| r.get("uuid").str().map(repo_number))?;
    let actor = b.get("actor");
    let actor = actor
        .text("display_name")
        .or_else(|| actor.text("nickname"));
    match is_pr {
        true => {
            let pr = b.get("pullrequest");
            let (Some(id), Some(updated_on)) = (pr.uint("id"), pr.get("updated_on").str()) else {
                return Err("a pull request event without a pullrequest".into());
            };
            let state = pr
                .get("state")
                .str()
                .and_then(PrState::from_provider)
                .ok_or("a pull request event without a known pullrequest.state")?;
            pr_event(repo, id, state, updated_on, actor)
        }
        false => {
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
    use crate::webhooks::{fixture, PrUpdate, RepoRef};

    fn event(key: &str, file: &str) -> Event {
        match parse(key, fixture("bitbucket", file).as_bytes()).unwrap() {
            Parsed::Event(e) => e,
            Parsed::Ignored => panic!("{key} ignored"),
        }
    }

    /// The fixtures' repository, numbered from its UUID.
    fn foo() -> RepoRef {
        let id = repo_number("{bc771cbf-829e-4c4b-b71f-a0eb3ac2b860}");
        RepoRef::new("brydzewski", "foo", Some(id))
    }

    #[test]
    fn pull_request_events() {
        let merged = event("pullrequest:fulfilled", "pr_fulfilled.json");
        assert_eq!(
            merged,
            Event::PullRequest {
                repo: foo(),
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
                repo: foo(),
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

    #[test]
    fn the_unsigned_event_key_never_decides_the_state() {
        // An open pull request's signed body re-sent as "fulfilled" or "rejected" stays open.
        for key in [
            "pullrequest:fulfilled",
            "pullrequest:rejected",
            "pullrequest:updated",
        ] {
            let e = event(key, "pr_updated.json");
            assert!(
                matches!(
                    e,
                    Event::PullRequest {
                        update: PrUpdate {
                            state: PrState::Open,
                            ..
                        },
                        ..
                    }
                ),
                "{key}"
            );
        }
    }
}
