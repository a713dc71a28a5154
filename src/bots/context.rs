//! The `callbackContext` a bot attaches to its prompt, as Open-Inspect's bots send it and its
//! control plane checks it: a Slack thread (unknown fields dropped) or a Linear issue (strict:
//! an unknown field refuses it; texts trimmed and not empty). Only the Slack and Linear bots
//! may attach one (`identity::principal`); it is stored with the prompt and sent back in the
//! prompt's callbacks.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Where a prompt's callbacks go: its bot, and what that bot needs to find its thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum CallbackContext {
    Slack(SlackContext),
    Linear(LinearContext),
}

/// A Slack thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlackContext {
    pub channel: String,
    pub thread_ts: String,
    pub repo_full_name: String,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction_message_ts: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automation_id: Option<String>,
}

/// A Linear issue (and its agent session, when the bot has one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinearContext {
    pub issue_id: String,
    pub issue_identifier: String,
    pub issue_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_full_name: Option<String>,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emit_tool_progress_activities: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_issue_on_start: Option<bool>,
}

fn invalid() -> ApiError {
    ApiError::bad_request("Invalid callbackContext")
}

/// Trims a Linear text; an empty one refuses the context.
fn trimmed(s: &mut String) -> Result<(), ApiError> {
    *s = s.trim().to_string();
    if s.is_empty() {
        return Err(invalid());
    }
    Ok(())
}

impl CallbackContext {
    /// Reads a context as Open-Inspect checks it; answers it as it is kept.
    pub fn read(raw: &serde_json::Value) -> Result<CallbackContext, ApiError> {
        let mut ctx = CallbackContext::deserialize(raw).map_err(|_| invalid())?;
        if let CallbackContext::Linear(l) = &mut ctx {
            for s in [
                &mut l.issue_id,
                &mut l.issue_identifier,
                &mut l.issue_url,
                &mut l.model,
            ] {
                trimmed(s)?;
            }
            let optional = [
                &mut l.repo_full_name,
                &mut l.agent_session_id,
                &mut l.organization_id,
                &mut l.app_user_id,
            ];
            for s in optional.into_iter().flatten() {
                trimmed(s)?;
            }
            // Moving the issue on start needs the bot's organization and app user.
            if l.transition_issue_on_start == Some(true)
                && (l.organization_id.is_none() || l.app_user_id.is_none())
            {
                return Err(invalid());
            }
        }
        Ok(ctx)
    }

    /// The bot the callbacks go to.
    pub fn bot(&self) -> super::callback::Bot {
        match self {
            CallbackContext::Slack(_) => super::callback::Bot::Slack,
            CallbackContext::Linear(_) => super::callback::Bot::Linear,
        }
    }

    /// Whether the bot wants tool calls: a Linear bot may say no.
    pub fn wants_tool_calls(&self) -> bool {
        match self {
            CallbackContext::Slack(_) => true,
            CallbackContext::Linear(l) => l.emit_tool_progress_activities != Some(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slack_contexts_drop_unknown_fields() {
        let raw = json!({"model": "m", "reactionMessageTs": "9", "extra": 1, "channel": "C",
                         "threadTs": "1.2", "source": "slack", "repoFullName": "a/b"});
        let ctx = CallbackContext::read(&raw).unwrap();
        assert_eq!(
            serde_json::to_value(&ctx).unwrap(),
            json!({"source": "slack", "channel": "C", "threadTs": "1.2", "repoFullName": "a/b",
                   "model": "m", "reactionMessageTs": "9"})
        );
        assert_eq!(ctx.bot(), crate::bots::callback::Bot::Slack);
        assert!(CallbackContext::read(&json!({"source": "slack", "channel": "C"})).is_err());
    }

    #[test]
    fn linear_contexts_are_strict_and_trimmed() {
        let base = json!({"source": "linear", "issueId": " i ", "issueIdentifier": "ENG-1",
                          "issueUrl": "https://l/ENG-1", "model": "m",
                          "emitToolProgressActivities": false});
        let ctx = CallbackContext::read(&base).unwrap();
        let CallbackContext::Linear(l) = &ctx else {
            panic!("linear")
        };
        assert_eq!(l.issue_id, "i");
        assert!(!ctx.wants_tool_calls());
        assert_eq!(ctx.bot(), crate::bots::callback::Bot::Linear);
        let refused = |patch: serde_json::Value| {
            let mut v = base.clone();
            for (k, x) in patch.as_object().unwrap() {
                v[k] = x.clone();
            }
            CallbackContext::read(&v).map_err(|e| e.message)
        };
        assert_eq!(
            refused(json!({"extra": 1})),
            Err("Invalid callbackContext".into())
        );
        assert!(refused(json!({"issueId": "  "})).is_err());
        assert!(refused(json!({"transitionIssueOnStart": true})).is_err());
        assert!(refused(
            json!({"transitionIssueOnStart": true, "organizationId": "o",
                               "appUserId": "a"})
        )
        .is_ok());
        assert!(CallbackContext::read(&json!({"source": "automation"})).is_err());
    }
}
