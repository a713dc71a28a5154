//! GitHub deliveries: `X-GitHub-Event` `pull_request` (`closed` with `merged` → merged,
//! `closed` → closed, `opened` / `reopened` / `synchronize` → open) and `push` (branches
//! only); anything else is ignored.

use serde::Deserialize;

use super::{parse_json, pr_event, Event, Parsed, PrState};

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    action: Option<String>,
    repository: Repository,
    #[serde(default)]
    sender: Option<User>,
    #[serde(default)]
    pull_request: Option<PullRequest>,
    #[serde(rename = "ref", default)]
    git_ref: Option<String>,
    #[serde(default)]
    pusher: Option<Pusher>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct Pusher {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct PullRequest {
    number: u64,
    #[serde(default)]
    merged: Option<bool>,
    updated_at: String,
}

/// Parses a delivery of `event`.
pub fn parse(event: &str, body: &[u8]) -> Result<Parsed, String> {
    match event.trim() {
        "pull_request" | "push" => {}
        _ => return Ok(Parsed::Ignored),
    }
    let b: Body = parse_json(body)?;
    let repo = b.repository.full_name.to_ascii_lowercase();
    let sender = b.sender.map(|s| s.login);
    if event.trim() == "push" {
        let Some(branch) = b
            .git_ref
            .as_deref()
            .and_then(|r| r.strip_prefix("refs/heads/"))
        else {
            return Ok(Parsed::Ignored);
        };
        return Ok(Parsed::Event(Event::Push {
            repo,
            branches: vec![branch.to_string()],
            actor: b.pusher.and_then(|p| p.name).or(sender),
        }));
    }
    let pr = b
        .pull_request
        .ok_or("a pull_request event without a pull_request")?;
    let state = match b.action.as_deref() {
        Some("closed") if pr.merged == Some(true) => PrState::Merged,
        Some("closed") => PrState::Closed,
        Some("opened" | "reopened" | "synchronize") => PrState::Open,
        _ => return Ok(Parsed::Ignored),
    };
    pr_event(repo, pr.number, state, &pr.updated_at, sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::{fixture, PrUpdate};

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
                repo: "bradrydzewski/drone-test-go".into(),
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
                repo: "codertocat/hello-world".into(),
                branches: vec!["master".into()],
                actor: Some("Codertocat".into()),
            })
        );
        assert_eq!(parsed("ping", "{}"), Parsed::Ignored);
        assert!(parse("pull_request", b"[]").is_err());
    }
}
