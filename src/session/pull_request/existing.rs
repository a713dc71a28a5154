//! One open pull request per head branch, as pure decisions: a second request for a head
//! that already carries one of this session's open pull requests pushes and answers that
//! pull request (`updated: true`) instead of opening another; a merged or closed one frees
//! its head. The worker shell reads each candidate's live state and asks [`judge`].

use serde_json::Value;

use crate::error::ApiError;
use crate::session::model::{ArtifactKind, ArtifactRow};
use crate::vcs::PullRequest;
use crate::webhooks::PrState;

/// One of the session's stored pull requests, as the decision reads its artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPr {
    pub number: Option<u64>,
    pub url: Option<String>,
    pub head: String,
    pub base: Option<String>,
    /// Its stored state; `None` when it has none (an older artifact).
    pub state: Option<PrState>,
}

impl StoredPr {
    /// Reads a `pr` artifact; one without a head belongs to the session's generated branch.
    fn of(row: &ArtifactRow, generated: &str) -> Option<StoredPr> {
        if row.kind != ArtifactKind::Pr {
            return None;
        }
        let meta = row.meta();
        let text = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_string);
        let state = text("lifecycleState")
            .or_else(|| text("state"))
            .and_then(|s| match s.as_str() {
                "draft" => Some(PrState::Open),
                other => PrState::from_provider(other),
            });
        Some(StoredPr {
            number: meta.get("number").and_then(Value::as_u64),
            url: row.url.clone(),
            head: text("head").unwrap_or_else(|| generated.to_string()),
            base: text("base"),
            state,
        })
    }

    /// Whether it may still hold its head: stored as open, or with no state at all.
    fn viable(&self) -> bool {
        matches!(self.state, None | Some(PrState::Open))
    }
}

/// What the provider says of a candidate now.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub state: PrState,
    pub base: Option<String>,
    pub url: String,
}

impl Live {
    /// From the provider's answer; `None` when its state is not one we know.
    pub fn of(pr: &PullRequest) -> Option<Live> {
        Some(Live {
            state: PrState::from_provider(&pr.state)?,
            base: pr.destination_branch.clone(),
            url: pr.url.clone(),
        })
    }
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// The session's stored pull requests that may still hold `head`, newest first.
pub fn candidates(rows: &[ArtifactRow], head: &str, generated: &str) -> Vec<StoredPr> {
    let mut found: Vec<(i64, StoredPr)> = rows
        .iter()
        .filter_map(|r| StoredPr::of(r, generated).map(|p| (r.seq, p)))
        .filter(|(_, p)| p.viable() && same(&p.head, head))
        .collect();
    found.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    found.into_iter().map(|(_, p)| p).collect()
}

/// What to do with one candidate.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Not readable (no number or address): looked at once every other one was.
    Unverifiable,
    /// Merged or closed since it was stored: store its state, then look further.
    Heal(Live),
    /// Open on another base than the one asked for: a separate pull request.
    OtherBase,
    /// The head holds an open pull request but is not the sandbox's checkout: pushing it
    /// would replace that pull request's commits with others.
    Conflict(ApiError),
    /// Push and answer this one.
    Reuse {
        number: u64,
        url: String,
        base: Option<String>,
    },
}

/// Judges one candidate with what the provider said of it (`None` when it could not be read:
/// the stored facts decide, since reusing a closed one is recoverable and a duplicate is not).
/// `checkout` says whether `head` is the sandbox's own checkout (asked for by the tool, or the
/// session's generated branch); `asked_base` is the base the request named.
pub fn judge(
    pr: &StoredPr,
    live: Option<Live>,
    head: &str,
    checkout: bool,
    asked_base: Option<&str>,
) -> Step {
    let (Some(number), Some(stored_url)) = (pr.number, pr.url.as_ref()) else {
        return Step::Unverifiable;
    };
    if let Some(l) = &live {
        if l.state != PrState::Open {
            return Step::Heal(l.clone());
        }
    }
    if !checkout {
        return Step::Conflict(ApiError::conflict(format!(
            "an open pull request (#{number}) already exists for branch \"{head}\"; check out that branch to update it, or create a new branch to open a separate pull request"
        )));
    }
    let known_base = live
        .as_ref()
        .and_then(|l| l.base.clone())
        .or(pr.base.clone());
    if let (Some(asked), Some(known)) = (asked_base, known_base.as_deref()) {
        if !same(asked, known) {
            return Step::OtherBase;
        }
    }
    Step::Reuse {
        number,
        url: live.map(|l| l.url).unwrap_or_else(|| stored_url.clone()),
        base: known_base,
    }
}

/// After every candidate was judged and none reused: an unverifiable one keeps the head.
pub fn unverifiable_holds(any_unverifiable: bool) -> Result<(), ApiError> {
    if any_unverifiable {
        return Err(ApiError::conflict(
            "this session already has a pull request on that branch that cannot be read",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, meta: Value) -> ArtifactRow {
        ArtifactRow {
            seq,
            id: format!("a{seq}"),
            kind: ArtifactKind::Pr,
            url: Some(format!("https://x/pr/{seq}")),
            metadata: Some(meta.to_string()),
            created_at: seq,
        }
    }

    fn live(state: PrState, base: &str) -> Live {
        Live {
            state,
            base: Some(base.into()),
            url: "https://x/live".into(),
        }
    }

    #[test]
    fn candidates_are_open_prs_on_the_head_newest_first() {
        use serde_json::json;
        let rows = vec![
            row(1, json!({"number": 1, "state": "open", "head": "Feat"})),
            row(2, json!({"number": 2, "state": "merged", "head": "feat"})),
            row(
                3,
                json!({"number": 3, "lifecycleState": "open", "head": "other"}),
            ),
            row(4, json!({"number": 4, "state": "draft", "head": "feat"})),
            row(5, json!({"number": 5})),
        ];
        let found = candidates(&rows, " feat", "agent/session-x");
        let numbers: Vec<_> = found.iter().map(|p| p.number).collect();
        assert_eq!(numbers, vec![Some(4), Some(1)]);
        // An artifact without a head belongs to the generated branch.
        let found = candidates(&rows, "agent/session-x", "agent/session-x");
        assert_eq!(found[0].number, Some(5));
        assert_eq!(found[0].state, None);
    }

    #[test]
    fn an_open_pr_on_the_checkout_is_reused() {
        let pr = StoredPr {
            number: Some(7),
            url: Some("https://x/pr/7".into()),
            head: "feat".into(),
            base: Some("main".into()),
            state: Some(PrState::Open),
        };
        let reuse = |live, base| judge(&pr, live, "feat", true, base);
        assert_eq!(
            reuse(None, None),
            Step::Reuse {
                number: 7,
                url: "https://x/pr/7".into(),
                base: Some("main".into())
            }
        );
        assert!(matches!(
            reuse(Some(live(PrState::Open, "main")), Some("MAIN")),
            Step::Reuse { url, .. } if url == "https://x/live"
        ));
        // Merged or closed since: healed, and the head is free.
        assert_eq!(
            reuse(Some(live(PrState::Merged, "main")), None),
            Step::Heal(live(PrState::Merged, "main"))
        );
        assert!(matches!(
            reuse(Some(live(PrState::Declined, "main")), None),
            Step::Heal(_)
        ));
        // Another base asked for: a separate pull request; the live base wins.
        assert_eq!(reuse(None, Some("develop")), Step::OtherBase);
        assert_eq!(
            reuse(Some(live(PrState::Open, "develop")), Some("main")),
            Step::OtherBase
        );
        // Not the checkout: never pushed over.
        let Step::Conflict(e) = judge(&pr, None, "feat", false, None) else {
            panic!("expected a conflict")
        };
        assert_eq!(e.status, 409);
        // No number: looked at last.
        let legacy = StoredPr {
            number: None,
            ..pr.clone()
        };
        assert_eq!(judge(&legacy, None, "feat", true, None), Step::Unverifiable);
        assert_eq!(unverifiable_holds(true).map_err(|e| e.status), Err(409));
        assert!(unverifiable_holds(false).is_ok());
    }
}
