//! GitHub deliveries: `X-GitHub-Event` `pull_request` (`closed` with `merged` → merged,
//! `closed` → closed, `opened` / `reopened` / `synchronize` → open) and `push` (branches
//! only); anything else is ignored.

use super::{parse_json, pr_event, repo_of, Event, Parsed, PrState};
use crate::json::Field;

/// Parses a delivery of `event`.
pub fn parse(event: &str, body: &[u8]) -> Result<Parsed, String> {
    match event.trim() {
        "pull_request" | "push" => {}
        _ => return Ok(Parsed::Ignored),
    }
    let body = parse_json(body)?;
    let b = Field::of(&body);
    let repo = repo_of(b, |r| r.uint("id"))?;
    let sender = b.get("sender").text("login");
    if event.trim() == "push" {
        let Some(branch) = b
            .get("ref")
            .str()
            .and_then(|r| r.strip_prefix("refs/heads/"))
        else {
            return Ok(Parsed::Ignored);
        };
        return Ok(Parsed::Event(Event::Push {
            repo,
            branches: vec![branch.to_string()],
            actor: b.get("pusher").text("name").or(sender),
        }));
    }
    let pr = b.get("pull_request");
    let (Some(number), Some(updated_at)) = (pr.uint("number"), pr.get("updated_at").str()) else {
        return Err("a pull_request event without a pull_request".into());
    };
    let state = match b.get("action").str() {
        Some("closed") if pr.flag("merged") => PrState::Merged,
        Some("closed") => PrState::Closed,
        Some("opened" | "reopened" | "synchronize") => PrState::Open,
        _ => return Ok(Parsed::Ignored),
    };
    pr_event(repo, number, state, updated_at, sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::{fixture, PrUpdate, RepoRef};

    fn parsed(event: &str, body: &str) -> Parsed {
        parse(event, body.as_bytes()).unwrap()
    }

    fn state_of(p: Parsed) -> PrState {
        match p {
            Parsed::Event(Event::PullRequest { update, .. }) => update.state,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pull_request_actions() {
        let closed = parsed("pull_request", &fixture("github", "pr_closed.json"));
        assert_eq!(
            closed,
            Parsed::Event(Event::PullRequest {
                repo: RepoRef::new("bradrydzewski", "drone-test-go", Some(13_933_572)),
                number: 1,
                update: PrUpdate {
                    state: PrState::Closed,
                    updated_at: 1_529_953_978_000,
                    actor: Some("bradrydzewski".into()),
                },
            })
        );
        let mut merged: serde_json::Value =
            serde_json::from_str(&fixture("github", "pr_closed.json")).unwrap();
        merged["pull_request"]["merged"] = true.into();
        assert_eq!(
            state_of(parsed("pull_request", &merged.to_string())),
            PrState::Merged
        );
        for f in ["pr_reopened.json", "pr_sync.json", "pr_opened.json"] {
            assert_eq!(
                state_of(parsed("pull_request", &fixture("github", f))),
                PrState::Open
            );
        }
        let mut labeled = merged.clone();
        labeled["action"] = "labeled".into();
        assert_eq!(
            parsed("pull_request", &labeled.to_string()),
            Parsed::Ignored
        );
    }

    #[test]
    fn pushes_and_the_rest() {
        assert_eq!(
            parsed("push", &fixture("github", "push.json")),
            Parsed::Event(Event::Push {
                repo: RepoRef::new("codertocat", "hello-world", Some(135_493_233)),
                branches: vec!["master".into()],
                actor: Some("Codertocat".into()),
            })
        );
        assert_eq!(parsed("ping", "{}"), Parsed::Ignored);
        assert!(parse("pull_request", b"[]").is_err());
    }
}
