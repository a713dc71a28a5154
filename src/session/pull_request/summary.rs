//! A session's pull requests counted by state, as Open-Inspect's session list and inbox carry
//! them (`pullRequestSummary`: the web app draws a row's PR icon from it). Kept in the index
//! row, computed from the session's PR artifacts when the row is written. Pure.

use serde::{Deserialize, Serialize};

use crate::session::model::{ArtifactKind, ArtifactRow};

/// How many of a session's pull requests are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrSummary {
    pub total: u32,
    pub open: u32,
    pub draft: u32,
    pub merged: u32,
    pub closed: u32,
}

impl PrSummary {
    /// The counts of `artifacts`' pull requests; `None` when there are none.
    pub fn of(artifacts: &[ArtifactRow]) -> Option<PrSummary> {
        let mut s = PrSummary::default();
        for a in artifacts.iter().filter(|a| a.kind == ArtifactKind::Pr) {
            let meta = a.meta();
            let state = meta
                .get("lifecycleState")
                .or_else(|| meta.get("state"))
                .and_then(|v| v.as_str())
                .unwrap_or("open");
            let draft = meta.get("isDraft").and_then(|v| v.as_bool()) == Some(true);
            s.total += 1;
            match state {
                "merged" => s.merged += 1,
                "closed" | "declined" | "superseded" => s.closed += 1,
                _ if draft => s.draft += 1,
                _ => s.open += 1,
            }
        }
        (s.total > 0).then_some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pr(seq: i64, meta: serde_json::Value) -> ArtifactRow {
        ArtifactRow {
            seq,
            id: format!("a{seq}"),
            kind: ArtifactKind::Pr,
            url: None,
            metadata: Some(meta.to_string()),
            created_at: seq,
        }
    }

    #[test]
    fn counted_by_state() {
        assert_eq!(PrSummary::of(&[]), None);
        let rows = [
            pr(1, json!({"state": "merged"})),
            pr(2, json!({"state": "open", "lifecycleState": "open"})),
            pr(3, json!({"state": "declined"})),
            pr(4, json!({"lifecycleState": "open", "isDraft": true})),
            pr(5, json!({})),
        ];
        assert_eq!(
            PrSummary::of(&rows),
            Some(PrSummary {
                total: 5,
                open: 2,
                draft: 1,
                merged: 1,
                closed: 1
            })
        );
    }
}
