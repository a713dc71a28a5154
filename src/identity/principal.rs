//! Who a service route's caller is, and the identity it may not claim: a person signed in
//! through the web app (its signature and their session cookie), a bot (its signature and,
//! acting for someone, its actor), or an older web app with the shared bearer, whose bodies
//! still say who acts. For the first two the identity comes from the caller, never from the
//! body: fields that would claim one are refused as Open-Inspect refuses them, and the
//! caller's identity is written in their place. Pure.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::identity::sig1::Service;
use crate::vcs::VcsProvider;

/// The verified caller of a service route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The shared bearer of older web apps: identity from the body, as before.
    Bearer,
    /// A person signed in through the web app (their user id, 32 lowercase hex).
    User { user_id: String },
    /// A bot, and whom it acts for (`slack:U123`), if anyone.
    Bot {
        service: Service,
        actor: Option<String>,
    },
}

impl Caller {
    /// The participant this caller acts as, if any: the user, or the bot's actor.
    pub fn participant(&self) -> Option<&str> {
        match self {
            Caller::User { user_id } => Some(user_id),
            Caller::Bot { actor, .. } => actor.as_deref(),
            Caller::Bearer => None,
        }
    }

    /// Whether a prompt of this verified caller may carry a `callbackContext`: the Slack and
    /// Linear bots', as Open-Inspect allows (the bearer, the deployment's own shared secret,
    /// keeps its bodies as sent).
    pub fn is_called_back(&self) -> bool {
        matches!(
            self,
            Caller::Bot {
                service: Service::SlackBot | Service::LinearBot,
                ..
            }
        )
    }
}

/// The provider of a signed-in user's listing or new session that names none: the
/// deployment's default if they connected it (or connected nothing), else the first they
/// connected.
pub fn pick_provider(default: VcsProvider, connected: &[VcsProvider]) -> VcsProvider {
    if connected.is_empty() || connected.contains(&default) {
        default
    } else {
        connected[0]
    }
}

/// The routes whose bodies carry an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityRoute {
    /// `POST /sessions`.
    CreateSession,
    /// `POST /sessions/{id}/ws-token`.
    WsToken,
    /// `POST /sessions/{id}/prompt`.
    Prompt,
    /// `POST /sessions/{id}/archive|unarchive`.
    Lifecycle,
    /// `PATCH /sessions/{id}/title`.
    Title,
}

impl IdentityRoute {
    /// The fields a verified caller may not send (Open-Inspect's lists, in its order).
    fn forbidden(self) -> &'static [&'static str] {
        match self {
            IdentityRoute::CreateSession => &[
                "userId",
                "spawnSource",
                "authProvider",
                "authUserId",
                "actorUserId",
                "scmToken",
                "scmRefreshToken",
                "scmUserId",
                // Ours: a token's expiry and provider only make sense beside a token.
                "scmTokenExpiresAt",
                "scmProvider",
            ],
            IdentityRoute::WsToken => &[
                "userId",
                "scmToken",
                "scmRefreshToken",
                "scmUserId",
                "scmTokenExpiresAt",
                "scmProvider",
            ],
            IdentityRoute::Prompt => &["authorId"],
            IdentityRoute::Lifecycle | IdentityRoute::Title => &["userId"],
        }
    }

    /// The field the caller's identity is written to.
    fn identity_field(self) -> &'static str {
        match self {
            IdentityRoute::Prompt => "authorId",
            _ => "userId",
        }
    }
}

/// Refuses identity fields from a verified caller and writes its identity into `body` in
/// their place. The bearer's bodies are left as they are.
pub fn enforce(
    route: IdentityRoute,
    caller: &Caller,
    body: &mut Map<String, Value>,
) -> ApiResult<()> {
    if *caller == Caller::Bearer {
        return Ok(());
    }
    // Of the verified callers only the Slack and Linear bots are called back: a person's
    // context is dropped (it would have us sign what they chose to a bot).
    if route == IdentityRoute::Prompt && !caller.is_called_back() {
        body.remove("callbackContext");
    }
    if let Some(field) = route.forbidden().iter().find(|f| body.contains_key(**f)) {
        return Err(ApiError::new(
            400,
            "identity_field_refused",
            format!("Field '{field}' is not accepted from verified callers"),
        ));
    }
    match (caller.participant(), route) {
        (Some(who), _) => {
            body.insert(
                route.identity_field().into(),
                Value::String(who.to_string()),
            );
            Ok(())
        }
        // A prompt of nobody in particular is the anonymous one's.
        (None, IdentityRoute::Prompt) => Ok(()),
        (None, IdentityRoute::CreateSession) => Err(ApiError::forbidden(
            "A user identity is required to create a session",
        )),
        (None, IdentityRoute::WsToken) => Err(ApiError::forbidden(
            "A user identity is required for a websocket token",
        )),
        (None, IdentityRoute::Lifecycle) => Err(ApiError::forbidden(
            "A user identity is required to archive or unarchive a session",
        )),
        (None, IdentityRoute::Title) => Err(ApiError::forbidden(
            "A user identity is required to rename a session",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(route: IdentityRoute, caller: &Caller, body: Value) -> ApiResult<Value> {
        let Value::Object(mut map) = body else {
            panic!("an object")
        };
        enforce(route, caller, &mut map).map(|()| Value::Object(map))
    }

    #[test]
    fn only_the_slack_and_linear_bots_are_called_back() {
        let body = json!({"content": "x", "callbackContext": {"source": "slack"}});
        let bot = |service| Caller::Bot {
            service,
            actor: Some("slack:U1".into()),
        };
        for (caller, kept) in [
            (bot(Service::SlackBot), true),
            (bot(Service::LinearBot), true),
            (bot(Service::GithubBot), false),
            (bot(Service::Web), false),
            (user(), false),
        ] {
            let out = run(IdentityRoute::Prompt, &caller, body.clone()).unwrap();
            assert_eq!(out.get("callbackContext").is_some(), kept, "{caller:?}");
        }
    }

    fn user() -> Caller {
        Caller::User {
            user_id: "0123456789abcdef0123456789abcdef".into(),
        }
    }

    #[test]
    fn a_signed_in_user_acts_as_themselves_only() {
        let body = json!({"repoOwner": "acme", "repoName": "web", "scmLogin": "ada"});
        let out = run(IdentityRoute::CreateSession, &user(), body).unwrap();
        assert_eq!(out["userId"], "0123456789abcdef0123456789abcdef");
        assert_eq!(out["scmLogin"], "ada", "display fields stay");
        for field in [
            "userId",
            "scmToken",
            "scmRefreshToken",
            "scmUserId",
            "spawnSource",
        ] {
            let mut body = json!({"repoOwner": "acme", "repoName": "web"});
            body[field] = Value::Null;
            let e = run(IdentityRoute::CreateSession, &user(), body).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(
                e.message,
                format!("Field '{field}' is not accepted from verified callers")
            );
        }
        let out = run(IdentityRoute::Prompt, &user(), json!({"content": "hi"})).unwrap();
        assert_eq!(out["authorId"], "0123456789abcdef0123456789abcdef");
        let e = run(
            IdentityRoute::Prompt,
            &user(),
            json!({"content": "x", "authorId": "eve"}),
        );
        assert_eq!(e.unwrap_err().status, 400);
        let e = run(IdentityRoute::Lifecycle, &user(), json!({"userId": "eve"}));
        assert_eq!(e.unwrap_err().status, 400);
    }

    #[test]
    fn a_user_works_where_they_connected() {
        use VcsProvider::{Bitbucket, Github};
        assert_eq!(pick_provider(Bitbucket, &[]), Bitbucket);
        assert_eq!(pick_provider(Bitbucket, &[Github]), Github);
        assert_eq!(pick_provider(Bitbucket, &[Github, Bitbucket]), Bitbucket);
        assert_eq!(pick_provider(Github, &[Bitbucket]), Bitbucket);
    }

    #[test]
    fn bots_act_as_their_actor_and_the_bearer_as_its_body_says() {
        let slack = Caller::Bot {
            service: Service::SlackBot,
            actor: Some("slack:U1".into()),
        };
        let out = run(IdentityRoute::WsToken, &slack, json!({})).unwrap();
        assert_eq!(out["userId"], "slack:U1");
        let nobody = Caller::Bot {
            service: Service::SlackBot,
            actor: None,
        };
        assert_eq!(
            run(IdentityRoute::CreateSession, &nobody, json!({}))
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            run(IdentityRoute::WsToken, &nobody, json!({}))
                .unwrap_err()
                .status,
            403
        );
        let out = run(IdentityRoute::Prompt, &nobody, json!({"content": "x"})).unwrap();
        assert!(out.get("authorId").is_none(), "anonymous");
        let body = json!({"userId": "u", "scmToken": "t"});
        assert_eq!(
            run(IdentityRoute::WsToken, &Caller::Bearer, body.clone()).unwrap(),
            body
        );
    }
}
