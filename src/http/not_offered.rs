//! What this control plane does not offer yet (docs/contract.md §6): skills, image builds,
//! integration settings, model-provider accounts, environments, automations, MCP servers,
//! analytics, SCM settings, commit signing, sandbox access, diffs, attachments and media.
//! Open-Inspect's web app and bots call these on page load: each read answers the shape they
//! render as "none configured" (`Answer::Empty`), and each write answers 501 `not_offered`
//! with a message they show. Pure: the answer is a function of the method and path.

use serde_json::{json, Value};
use worker::Method;

/// A feature we do not offer (for the route's log name and the 501's message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Skills,
    ImageBuilds,
    IntegrationSettings,
    ModelProviderAccounts,
    Environments,
    Automations,
    McpServers,
    Analytics,
    ScmSettings,
    CommitSigning,
    SandboxAccess,
    Diffs,
    Attachments,
}

crate::wire::wire_names!(Feature {
    Skills => "skills",
    ImageBuilds => "image builds",
    IntegrationSettings => "integration settings",
    ModelProviderAccounts => "model-provider accounts",
    Environments => "environments",
    Automations => "automations",
    McpServers => "MCP servers",
    Analytics => "analytics",
    ScmSettings => "SCM settings",
    CommitSigning => "deployment commit signing",
    SandboxAccess => "sandbox access",
    Diffs => "diffs",
    Attachments => "attachments and media",
});

/// The integrations Open-Inspect's settings know.
const INTEGRATIONS: &[&str] = &["github", "linear", "code-server", "vnc", "sandbox", "slack"];

/// The feature `method` on a path belongs to, if it is one of these.
pub fn feature(method: &Method, segments: &[&str]) -> Option<Feature> {
    let get = *method == Method::Get;
    Some(match segments {
        ["skill-profiles", ..] | ["skills", ..] | ["sessions", _, "skills"] => Feature::Skills,
        ["image-builds", ..] => Feature::ImageBuilds,
        ["integration-settings", id, ..] if INTEGRATIONS.contains(id) => {
            Feature::IntegrationSettings
        }
        ["model-provider-accounts", ..] | ["model-provider-account-defaults", ..] => {
            Feature::ModelProviderAccounts
        }
        ["environments", ..] => Feature::Environments,
        ["automations", ..] => Feature::Automations,
        ["mcp-servers", ..] => Feature::McpServers,
        ["analytics", ..] => Feature::Analytics,
        ["scm-settings", ..] => Feature::ScmSettings,
        ["commit-signing"] => Feature::CommitSigning,
        ["sessions", _, "sandbox-access"] => Feature::SandboxAccess,
        // The web's reads of a session's changes and its retry (a sandbox's diff uploads stay
        // 404, which Open-Inspect's runtime takes for "unsupported").
        ["sessions", _, "diff"] | ["sessions", _, "diff", _, "files", _] if get => Feature::Diffs,
        ["sessions", _, "diff", "retry"] if *method == Method::Post => Feature::Diffs,
        ["sessions", _, "attachments", ..] | ["sessions", _, "media", ..] => Feature::Attachments,
        _ => return None,
    })
}

/// What such a route answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 200 with this body: the shape the caller renders as "none configured".
    Empty(Value),
    /// 404: nothing of that kind exists here.
    Missing,
    /// 501 `not_offered`.
    NotOffered(Feature),
}

const ANALYTICS_SUMMARY: &str = r#"{"totalSessions":0,"activeUsers":0,"totalCost":0,"avgCost":0,"totalPrs":0,"statusBreakdown":{"created":0,"active":0,"completed":0,"failed":0,"archived":0,"cancelled":0}}"#;
const ANALYTICS_PRS: &str = r#"{"funnel":{"created":0,"open":0,"draft":0,"merged":0,"closed":0},"prSessionCost":0,"mergedInWindow":0,"avgTimeToMergeMs":null,"openInventory":{"total":0,"avgAgeMs":null},"timeseries":[],"repos":[],"sources":[]}"#;

/// The answer to `method` on `segments` (a path [`feature`] recognised).
pub fn answer(method: &Method, segments: &[&str]) -> Answer {
    let Some(f) = feature(method, segments) else {
        return Answer::Missing;
    };
    let read = *method == Method::Get
        // A read the web sends as a POST.
        || (*method == Method::Post && segments == ["skills", "resolve-preview"]);
    if !read {
        return Answer::NotOffered(f);
    }
    let empty = match segments {
        ["skill-profiles"] => json!({"profiles": []}),
        ["skills"] => json!({"skills": [], "hasMore": false, "nextCursor": null}),
        ["skills", "resolve-preview"] => {
            json!({"skills": [], "totalBytes": 0, "ignoredProfileSkillIds": []})
        }
        ["sessions", _, "skills"] => json!({
            "manifestSha256": crate::auth::random::sha256_hex("[]"),
            "resolverVersion": 1,
            "selection": {"mode": "none"},
            "resolvedAt": 0,
            "skills": [],
        }),
        ["image-builds", "enabled"] => json!({"units": []}),
        ["image-builds", "enabled-repos"] => json!({"repos": []}),
        ["image-builds", "status"] => json!({"images": []}),
        ["integration-settings", "slack", "channels" | "watched-channels"] => {
            json!({"channels": []})
        }
        ["integration-settings", _, "resolved", _, _] => json!({"config": null}),
        ["integration-settings", id] => json!({"integrationId": id, "settings": null}),
        ["integration-settings", id, "repos"] => json!({"integrationId": id, "repos": []}),
        ["integration-settings", id, "repos", o, n] => {
            json!({"integrationId": id, "repo": format!("{o}/{n}"), "settings": null})
        }
        ["integration-settings", id, "environments", env] => {
            json!({"integrationId": id, "environmentId": env, "settings": null})
        }
        ["model-provider-accounts"] => json!({"accounts": []}),
        ["model-provider-account-defaults"] => json!({"defaults": []}),
        ["model-provider-accounts", "legacy-credentials"] => json!({"legacyKeys": []}),
        ["environments"] => json!({"environments": [], "total": 0}),
        ["environments", id, "secrets"] => {
            json!({"environmentId": id, "secrets": [], "globalSecrets": []})
        }
        ["automations"] => json!({"automations": [], "hasMore": false, "nextCursor": null}),
        ["mcp-servers"] => json!([]),
        ["analytics", "summary"] => serde_json::from_str(ANALYTICS_SUMMARY).unwrap_or_default(),
        ["analytics", "timeseries"] => json!({"series": []}),
        ["analytics", "breakdown"] => json!({"entries": []}),
        ["analytics", "pull-requests"] => serde_json::from_str(ANALYTICS_PRS).unwrap_or_default(),
        ["scm-settings"] => json!({"settings": null}),
        ["scm-settings", "repos"] => json!({"repos": []}),
        ["commit-signing"] => json!({"enabled": false}),
        ["sessions", _, "sandbox-access"] => json!({"codeServer": null, "vnc": null, "ttyd": null}),
        ["sessions", _, "diff"] => json!({
            "version": 1,
            "current": null,
            "lastError": null,
            "unavailableReason": "Changes unavailable for this session",
        }),
        // A single environment, automation, file of a diff, attachment or medium: none exist.
        _ => return Answer::Missing,
    };
    Answer::Empty(empty)
}

/// The message of a 501 for `f`.
pub fn message(f: Feature) -> String {
    format!(
        "{} {} not offered by this control plane",
        capitalized(f.as_str()),
        if f.as_str().ends_with('s') {
            "are"
        } else {
            "is"
        }
    )
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|first| first.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &[&str]) -> Answer {
        answer(&Method::Get, path)
    }

    #[test]
    fn reads_answer_none_configured() {
        assert_eq!(
            get(&["skill-profiles"]),
            Answer::Empty(json!({"profiles": []}))
        );
        assert_eq!(get(&["mcp-servers"]), Answer::Empty(json!([])));
        assert_eq!(
            get(&["integration-settings", "sandbox", "repos", "acme", "web"]),
            Answer::Empty(
                json!({"integrationId": "sandbox", "repo": "acme/web", "settings": null})
            )
        );
        assert_eq!(
            answer(&Method::Post, &["skills", "resolve-preview"]),
            Answer::Empty(json!({"skills": [], "totalBytes": 0, "ignoredProfileSkillIds": []}))
        );
        let Answer::Empty(summary) = get(&["analytics", "summary"]) else {
            panic!("empty summary")
        };
        assert_eq!(summary["statusBreakdown"]["cancelled"], 0);
        let Answer::Empty(diff) = get(&["sessions", "x", "diff"]) else {
            panic!("empty diff")
        };
        assert!(diff["unavailableReason"].is_string() && diff["current"].is_null());
        assert_eq!(get(&["automations", "a1"]), Answer::Missing);
    }

    #[test]
    fn writes_are_not_offered_and_other_paths_are_not_ours() {
        assert_eq!(
            answer(&Method::Put, &["scm-settings"]),
            Answer::NotOffered(Feature::ScmSettings)
        );
        assert_eq!(
            answer(&Method::Post, &["sessions", "x", "attachments"]),
            Answer::NotOffered(Feature::Attachments)
        );
        assert_eq!(
            message(Feature::McpServers),
            "MCP servers are not offered by this control plane"
        );
        assert_eq!(
            message(Feature::CommitSigning),
            "Deployment commit signing is not offered by this control plane"
        );
        // The sandbox's diff uploads stay unknown (404): the runtime takes that for "off".
        for (m, path) in [
            (Method::Post, &["sessions", "x", "diff", "failure"][..]),
            (Method::Put, &["sessions", "x", "diff"]),
            (Method::Get, &["integration-settings", "jira"]),
            (Method::Get, &["sessions", "x", "events"]),
        ] {
            assert_eq!(feature(&m, path), None, "{path:?}");
        }
    }
}
