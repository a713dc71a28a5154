//! Commands the worker sends to a session's Durable Object, and the validated inputs they
//! carry. Parsing and validation are pure; the worker validates before forwarding.

use serde::{Deserialize, Serialize};

use crate::bots::context::CallbackContext;
use crate::error::ApiError;
use crate::redact::Hidden;
use crate::session::model::SessionStatus;
use crate::session::paging::{ListKind, Page};
use crate::validate;
use crate::vcs::VcsProvider;

/// Who joins a session, with their optional VCS identity and credentials (plaintext here,
/// encrypted by the Durable Object before anything is stored).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantInput {
    /// Required everywhere but session creation (where it defaults to [`ANONYMOUS`]); absent
    /// or `null` reads as empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub user_id: String,
    pub scm_user_id: Option<String>,
    pub scm_login: Option<String>,
    pub scm_name: Option<String>,
    pub scm_email: Option<String>,
    pub scm_token: Option<String>,
    pub scm_refresh_token: Option<String>,
    /// Unix milliseconds.
    pub scm_token_expires_at: Option<i64>,
    /// Which provider the tokens belong to (default: the deployment's sign-in provider).
    pub scm_provider: Option<VcsProvider>,
}

const MAX_TOKEN_LEN: usize = 16 * 1024;
/// The plausible range of a token expiry in Unix ms (2020 to 2100): catches seconds, micro-
/// and nanoseconds, and values no JavaScript number holds exactly.
const EARLIEST_EXPIRY_MS: i64 = 1_577_836_800_000;
const LATEST_EXPIRY_MS: i64 = 4_102_444_800_000;

/// Never prints the tokens.
impl std::fmt::Debug for ParticipantInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParticipantInput")
            .field("user_id", &self.user_id)
            .field("scm_login", &self.scm_login)
            .field("has_scm_token", &self.scm_token.is_some())
            .field("has_scm_refresh_token", &self.scm_refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

impl ParticipantInput {
    pub fn validate(&self) -> Result<(), ApiError> {
        validate::ident("userId", &self.user_id)?;
        for (field, v) in [
            ("scmUserId", &self.scm_user_id),
            ("scmLogin", &self.scm_login),
            ("scmName", &self.scm_name),
            ("scmEmail", &self.scm_email),
        ] {
            if let Some(v) = v {
                validate::line(field, v, 500, true)?;
            }
        }
        if let Some(at) = self.scm_token_expires_at {
            if !(EARLIEST_EXPIRY_MS..=LATEST_EXPIRY_MS).contains(&at) {
                return Err(ApiError::bad_request(
                    "scmTokenExpiresAt must be a time in Unix milliseconds",
                ));
            }
        }
        for (field, v) in [
            ("scmToken", &self.scm_token),
            ("scmRefreshToken", &self.scm_refresh_token),
        ] {
            if let Some(v) = v {
                validate::text(field, v, MAX_TOKEN_LEN, false)?;
            }
        }
        Ok(())
    }

    pub fn has_tokens(&self) -> bool {
        self.scm_token.is_some() || self.scm_refresh_token.is_some()
    }
}

/// `POST /sessions` body: the session's fields and, beside them, its owner's.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSession {
    pub repo_owner: String,
    pub repo_name: String,
    pub vcs_provider: Option<String>,
    pub title: Option<String>,
    pub model: Option<String>,
    pub branch: Option<String>,
    pub reasoning_effort: Option<String>,
    #[serde(flatten)]
    pub participant: ParticipantInput,
}

/// A creation request after validation, with the provider resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSession {
    pub session_id: String,
    pub repo_owner: String,
    pub repo_name: String,
    pub vcs_provider: VcsProvider,
    pub title: Option<String>,
    pub model: Option<String>,
    pub reasoning_effort: Option<String>,
    pub branch: Option<String>,
    pub owner: ParticipantInput,
    /// Where sandboxes reach the control plane (the origin the session was created on).
    pub control_plane_url: Option<String>,
    /// The session whose agent spawned this one (a child session), and this one's depth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Lineage>,
}

/// Where a child session sits: its parent, and its depth below the top-level session (1 for
/// a child).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lineage {
    pub session_id: String,
    pub depth: i64,
}

impl CreateSession {
    /// Validates the body and resolves the provider (`default` when absent).
    pub fn into_new(
        self,
        session_id: String,
        default: VcsProvider,
    ) -> Result<NewSession, ApiError> {
        validate::slug("repoOwner", &self.repo_owner)?;
        validate::slug("repoName", &self.repo_name)?;
        if let Some(b) = &self.branch {
            validate::branch("branch", b)?;
        }
        if let Some(t) = &self.title {
            validate::text("title", t, 500, true)?;
        }
        if let Some(m) = &self.model {
            validate::text("model", m, 200, false)?;
        }
        if let Some(e) = &self.reasoning_effort {
            validate::text("reasoningEffort", e, 32, false)?;
        }
        let mut participant = self.participant;
        if participant.user_id.is_empty() {
            participant.user_id = anonymous();
        }
        participant.validate()?;
        let vcs_provider = match &self.vcs_provider {
            None => default,
            Some(p) => VcsProvider::from_input(p).ok_or_else(|| {
                ApiError::bad_request("vcsProvider must be \"bitbucket\" or \"github\"")
            })?,
        };
        Ok(NewSession {
            session_id,
            repo_owner: self.repo_owner,
            repo_name: self.repo_name,
            vcs_provider,
            title: self.title,
            model: self.model,
            branch: self.branch,
            reasoning_effort: self.reasoning_effort,
            owner: participant,
            control_plane_url: None,
            parent: None,
        })
    }
}

/// `POST /sessions/{id}/prompt` body (also the socket's `prompt`, with the author known).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptInput {
    pub content: String,
    /// [`ANONYMOUS`] when absent or `null`.
    #[serde(default = "anonymous", deserialize_with = "null_as_anonymous")]
    pub author_id: String,
    pub source: Option<String>,
    pub model: Option<String>,
    pub reasoning_effort: Option<String>,
    /// Where the prompt's callbacks go: only the Slack and Linear bots may attach one (the
    /// worker drops it from anyone else, see `identity::principal::enforce`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "callback_context"
    )]
    pub callback_context: Option<Box<CallbackContext>>,
}

/// A callback context as Open-Inspect checks it (`CallbackContext::read`); `null` is none.
fn callback_context<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Box<CallbackContext>>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(raw) => CallbackContext::read(&raw)
            .map(|c| Some(Box::new(c)))
            .map_err(|e| serde::de::Error::custom(e.message)),
    }
}

/// The user id of callers that do not say who they are.
pub const ANONYMOUS: &str = "anonymous";

fn anonymous() -> String {
    ANONYMOUS.into()
}

/// A text field where `null` means the same as absent: empty.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// An author where `null` means the same as absent: [`ANONYMOUS`].
fn null_as_anonymous<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_else(anonymous))
}

/// The largest prompt we accept (the body limit is 1 MiB; keep headroom for JSON escaping).
pub const MAX_PROMPT_BYTES: usize = 256 * 1024;
/// The largest prompt once stored (JSON-escaped in its `user_message` event).
pub const MAX_PROMPT_STORED_BYTES: usize = 384 * 1024;

impl PromptInput {
    /// A prompt a parent session's agent sends its child, as `author`'s (`source: "agent"`).
    pub fn by_agent(content: String, author: String) -> PromptInput {
        PromptInput {
            content,
            author_id: author,
            source: Some("agent".into()),
            model: None,
            reasoning_effort: None,
            callback_context: None,
        }
    }

    pub fn validate(&self) -> Result<(), ApiError> {
        validate::prose(
            "content",
            &self.content,
            MAX_PROMPT_BYTES,
            MAX_PROMPT_STORED_BYTES,
        )?;
        validate::ident("authorId", &self.author_id)?;
        if let Some(s) = &self.source {
            validate::text("source", s, 50, false)?;
        }
        if let Some(m) = &self.model {
            validate::text("model", m, 200, false)?;
        }
        if let Some(e) = &self.reasoning_effort {
            validate::text("reasoningEffort", e, 32, false)?;
        }
        Ok(())
    }
}

/// `POST /sessions/{id}/archive|unarchive` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    pub user_id: String,
}

/// One command from the worker to the session's Durable Object: the typed contract between
/// the two (written and read by serde as JSON, externally tagged: `"<op>"` or
/// `{"<op>": {...}}`; a unit test sends every command both ways).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Create(Box<NewSession>),
    Get,
    Delete,
    Archive(UserRef),
    Unarchive(UserRef),
    Prompt(PromptInput),
    Stop,
    List {
        kind: ListKind,
        page: Page,
    },
    AddParticipant(ParticipantInput),
    WsToken(ParticipantInput),
    /// `body`: the request body, parsed only once the caller is known.
    CreatePr {
        body: String,
        caller: PrCaller,
    },
    /// A route of the session's sandbox, with the bearer token it presented.
    Sandbox {
        token: Hidden,
        ask: SandboxAsk,
    },
    /// The context a child session is spawned with (a prompt must be running).
    SpawnContext(PrCaller),
    /// A child session of this one changed.
    ChildUpdate(ChildUpdate),
    /// Cancelled by the parent's agent (a child session).
    Cancel,
    /// What the parent's agent reads of this child session.
    ChildSummary(crate::children::summary::Query),
    /// A forge's verified webhook about this session's pull request or branch.
    Webhook {
        delivery: String,
        event: crate::webhooks::Event,
    },
    /// `POST /sessions/{id}/pr/refresh`: read the pull request's state from the forge.
    RefreshPr,
    /// A sandbox's git request through the control plane (its ticket verified by the worker).
    Git(crate::git::ask::GitAsk),
    /// `PATCH /sessions/{id}/title`: a participant renames the session.
    SetTitle(TitleInput),
    /// `GET /sessions/{id}/participant-profiles`.
    ParticipantProfiles,
}

/// A child session's news for its parent's clients (`child_session_update`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildUpdate {
    pub child_session_id: String,
    pub status: SessionStatus,
    pub title: Option<String>,
}

/// `PATCH /sessions/{id}/title` body: the new title (trimmed, 1 to 200 characters, one line)
/// and who renames (the caller's own identity for a signed caller).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TitleInput {
    pub title: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub user_id: String,
}

impl TitleInput {
    /// Trims the title and checks it and the caller.
    pub fn validated(mut self) -> Result<TitleInput, ApiError> {
        self.title = self.title.trim().to_string();
        if self.title.is_empty() {
            return Err(ApiError::bad_request("title must be a non-empty string"));
        }
        if self.title.chars().count() > 200 {
            return Err(ApiError::bad_request(
                "title must be 200 characters or fewer",
            ));
        }
        validate::line("title", &self.title, 1024, false)?;
        validate::ident("userId", &self.user_id)?;
        Ok(self)
    }
}

/// What a sandbox asks of its session with its own token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxAsk {
    /// Only check that the token is the session's sandbox's (before a body is read).
    Authenticate,
    CommitSigning,
    Skills,
    ScmCredentials,
}

crate::wire::wire_names!(SandboxAsk {
    Authenticate => "authenticate",
    CommitSigning => "commit_signing",
    Skills => "skills",
    ScmCredentials => "scm_credentials",
});

/// Who asks for a pull request: resolved once by the worker, checked by the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrCaller {
    /// The web app, whose service token the worker verified.
    Service,
    /// Claims to be the session's sandbox with this bearer token (the session checks it).
    Sandbox(Hidden),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
        crate::json::read(&v.to_string()).map_err(|e| e.unwrap_or_default())
    }

    fn create(v: serde_json::Value) -> Result<NewSession, ApiError> {
        from::<CreateSession>(v)
            .map_err(ApiError::bad_request)?
            .into_new("s".into(), VcsProvider::Bitbucket)
    }

    #[test]
    fn bearer_tokens_are_sent_but_never_printed() {
        let secret = "sandbox-bearer-0123456789";
        let ask = Command::Sandbox {
            token: Hidden(secret.into()),
            ask: SandboxAsk::ScmCredentials,
        };
        let pr = Command::CreatePr {
            body: "{}".into(),
            caller: PrCaller::Sandbox(Hidden(secret.into())),
        };
        for command in [&ask, &pr] {
            assert!(!format!("{command:?}").contains(secret), "{command:?}");
            assert!(serde_json::to_string(command).unwrap().contains(secret));
        }
    }

    #[test]
    fn create_defaults_and_validation() {
        let ok = create(json!({"repoOwner":"acme","repoName":"web","userId":"u1"})).unwrap();
        assert_eq!(ok.vcs_provider, VcsProvider::Bitbucket);
        assert_eq!(ok.owner.user_id, "u1");
        let gh =
            create(json!({"repoOwner":"a","repoName":"b","userId":"u","vcsProvider":"github"}))
                .unwrap();
        assert_eq!(gh.vcs_provider, VcsProvider::Github);
        for bad in [
            json!({"repoOwner":"a/b","repoName":"web","userId":"u1"}),
            json!({"repoOwner":"a","repoName":"..","userId":"u1"}),
            json!({"repoOwner":"a","repoName":"b","userId":"u".repeat(10_000)}),
            json!({"repoOwner":"a","repoName":"b","userId":"u","branch":"bad..ref"}),
            json!({"repoOwner":"a","repoName":"b","userId":"u","vcsProvider":"gitlab"}),
            json!({"repoOwner":1,"repoName":"b","userId":"u"}),
        ] {
            assert!(create(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn callers_that_do_not_say_who_they_are_are_anonymous() {
        let s = create(json!({"repoOwner":"a","repoName":"b"})).unwrap();
        assert_eq!(s.owner.user_id, ANONYMOUS);
        let p: PromptInput = from(json!({"content":"hi"})).unwrap();
        assert_eq!(p.author_id, ANONYMOUS);
        let w: ParticipantInput = from(json!({})).unwrap();
        assert!(
            w.validate().is_err(),
            "ws-token and participants still need a userId"
        );
    }

    #[test]
    fn debug_never_prints_tokens() {
        let p: ParticipantInput = from(
            json!({"userId":"u","scmToken":"SECRET-ACCESS","scmRefreshToken":"SECRET-REFRESH"}),
        )
        .unwrap();
        let c = Command::WsToken(p);
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    #[test]
    fn token_expiries_must_be_plausible_milliseconds() {
        let at = |v: i64| {
            from::<ParticipantInput>(json!({"userId":"u","scmTokenExpiresAt":v}))
                .unwrap()
                .validate()
        };
        assert!(at(1_796_173_323_004).is_ok());
        for bad in [
            1_796_173_323,
            1_796_173_323_004_000,
            9_007_199_254_740_993,
            -1,
        ] {
            assert!(at(bad).is_err(), "{bad}");
        }
    }

    /// Every command, written as the worker writes it and read as the session reads it.
    #[test]
    fn every_command_round_trips() {
        let owner = ParticipantInput {
            user_id: "u".into(),
            scm_login: Some("l".into()),
            scm_token: Some("t".into()),
            scm_token_expires_at: Some(1_796_173_323_004),
            scm_provider: Some(VcsProvider::Github),
            ..ParticipantInput::default()
        };
        let prompt = PromptInput {
            content: "hi \u{1F600} \"quoted\"".into(),
            author_id: "a".into(),
            source: Some("web".into()),
            model: None,
            reasoning_effort: Some("high".into()),
            callback_context: crate::bots::context::CallbackContext::read(&serde_json::json!({
                "source": "slack", "channel": "C", "threadTs": "1.2", "repoFullName": "a/b",
                "model": "m"}))
            .ok()
            .map(Box::new),
        };
        let update = crate::webhooks::PrUpdate {
            state: crate::webhooks::PrState::Merged,
            updated_at: 5,
            actor: None,
        };
        let all = [
            Command::Create(Box::new(NewSession {
                session_id: "s".into(),
                repo_owner: "o".into(),
                repo_name: "r".into(),
                vcs_provider: VcsProvider::Bitbucket,
                title: Some("t".into()),
                model: None,
                reasoning_effort: None,
                branch: Some("main".into()),
                owner: owner.clone(),
                control_plane_url: Some("https://cp".into()),
                parent: Some(Lineage {
                    session_id: "p".into(),
                    depth: 1,
                }),
            })),
            Command::Get,
            Command::Delete,
            Command::Archive(UserRef {
                user_id: "u".into(),
            }),
            Command::Unarchive(UserRef {
                user_id: "u".into(),
            }),
            Command::Prompt(prompt),
            Command::Stop,
            Command::List {
                kind: ListKind::Messages,
                page: Page {
                    cursor: Some(5),
                    limit: 10,
                    event_type: Some("token".into()),
                    message_id: None,
                    status: Some(crate::session::model::MessageStatus::Failed),
                },
            },
            Command::AddParticipant(owner.clone()),
            Command::WsToken(ParticipantInput::default()),
            Command::CreatePr {
                body: "{\"title\":\"x\"}".into(),
                caller: PrCaller::Service,
            },
            Command::CreatePr {
                body: String::new(),
                caller: PrCaller::Sandbox(Hidden("tok".into())),
            },
            Command::Sandbox {
                token: Hidden("t".into()),
                ask: SandboxAsk::ScmCredentials,
            },
            Command::SpawnContext(PrCaller::Service),
            Command::ChildUpdate(ChildUpdate {
                child_session_id: "c".into(),
                status: crate::session::model::SessionStatus::Created,
                title: None,
            }),
            Command::Cancel,
            Command::ChildSummary(crate::children::summary::Query {
                result: true,
                trajectory: Some((5, Some(2))),
            }),
            Command::Webhook {
                delivery: "d".into(),
                event: crate::webhooks::Event::PullRequest {
                    repo: crate::webhooks::RepoRef::new("o", "r", Some(9)),
                    number: 7,
                    update,
                },
            },
            Command::Webhook {
                delivery: "d2".into(),
                event: crate::webhooks::Event::Push {
                    repo: crate::webhooks::RepoRef::new("o", "r", None),
                    branches: vec!["a".into(), "b".into()],
                    actor: Some("x".into()),
                },
            },
            Command::RefreshPr,
            Command::SetTitle(TitleInput {
                title: "t".into(),
                user_id: "u".into(),
            }),
            Command::ParticipantProfiles,
            Command::Git(crate::git::ask::GitAsk {
                sandbox_id: "sb".into(),
                owner: "acme".into(),
                name: "web".into(),
                service: crate::git::rules::Service::ReceivePack,
                updates: vec![crate::git::pktline::RefUpdate {
                    old: "0".repeat(40),
                    new: "1".repeat(40),
                    name: "refs/heads/x".into(),
                }],
            }),
        ];
        for c in all {
            let text = serde_json::to_string(&c).unwrap();
            assert_eq!(crate::json::read::<Command>(&text), Ok(c), "{text}");
        }
        for &ask in SandboxAsk::ALL {
            assert_eq!(serde_json::to_value(ask).unwrap(), ask.as_str());
            assert_eq!(SandboxAsk::parse(ask.as_str()), Some(ask));
        }
        assert!(crate::json::read::<Command>(r#"{"dance":{}}"#).is_err());
        assert!(crate::json::read::<Command>(r#""dance""#).is_err());
        assert!(crate::json::read::<Command>(r#"{"get":{},"stop":{}}"#).is_err());
    }

    #[test]
    fn prompt_validation() {
        let p = PromptInput {
            content: " ".into(),
            author_id: "u".into(),
            source: None,
            model: None,
            reasoning_effort: None,
            callback_context: None,
        };
        assert!(p.validate().is_err());
        let p = PromptInput {
            content: "x".repeat(MAX_PROMPT_BYTES + 1),
            ..p
        };
        assert!(p.validate().is_err());
    }
}
