//! The HTTP routes as a value: `(method, path)` parsed once into a [`Route`], which both the
//! handler table (`http::dispatch`) and the access rule ([`Route::access`]) use. Pure.

use worker::Method;

use crate::git::rules::{Endpoint, GitPath, Service};
use crate::http::not_offered::{self, Feature};
use crate::identity::settings::Provider;
use crate::session::paging::ListKind;
use crate::vcs::VcsProvider;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The health check; the WebSocket upgrade, whose callers authenticate in-band
    /// (browser `subscribe` token) or with the sandbox token.
    Public,
    /// The web app's service token.
    Service,
    /// The service token, or the session's sandbox token (checked by the session).
    ServiceOrSandbox,
    /// The session's sandbox token only (checked by the session).
    Sandbox,
    /// The web app's own `sig1` signature, with no actor: browser sign-in, which it proxies.
    WebService,
}

/// One route of the API, with its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    OpenApi,
    ListRepos,
    ListSessions,
    CreateSession,
    GetSession(String),
    DeleteSession(String),
    Archive(String),
    Unarchive(String),
    Prompt(String),
    Stop(String),
    /// `GET /sessions/{id}/{events|messages|artifacts|participants}`.
    List(String, ListKind),
    AddParticipant(String),
    WsToken(String),
    CreatePr(String),
    /// `GET /sessions/{id}/ws`: the WebSocket upgrade.
    WebSocket(String),
    /// `GET /sessions/{id}/children`.
    Children(String),
    /// `POST /sessions/{id}/children`: the session's agent spawns a child.
    SpawnChild(String),
    /// `GET /sessions/{id}/children/{child}`.
    Child(String, String),
    /// `POST /sessions/{id}/children/{child}/cancel`.
    CancelChild(String, String),
    /// `POST /sessions/{id}/children/{child}/prompt`.
    PromptChild(String, String),
    CommitSigning(String),
    SandboxSkills(String),
    ScmCredentials(String),
    GetModelPreferences,
    SetModelPreferences,
    /// `GET /repos/{owner}/{name}/branches`.
    Branches(String, String),
    /// `POST /sessions/{id}/pull-requests/refresh` (Open-Inspect's path), or our older
    /// `POST /sessions/{id}/pr/refresh`.
    RefreshPr(String),
    /// `PATCH /sessions/{id}/title`.
    SetTitle(String),
    /// `GET /sessions/inbox`.
    Inbox,
    /// `GET`/`PUT /repos/{owner}/{name}/metadata`.
    RepoMetadata(String, String),
    /// `GET`/`PUT /secrets`, `DELETE /secrets/{key}`, and the same under
    /// `/repos/{owner}/{name}/secrets`: the repository, if any, and the key, if any.
    Secrets(Option<(String, String)>, Option<String>),
    /// `PATCH /sessions/{id}/read-state`.
    ReadState(String),
    /// `GET /sessions/{id}/participant-profiles`.
    ParticipantProfiles(String),
    /// `POST /webhooks/{bitbucket|github}`.
    Webhook(VcsProvider),
    /// `GET /internal/auth/sign-in-providers`.
    SignInProviders,
    /// `POST /api/auth/sign-in/social`.
    SignInSocial,
    /// `GET /api/auth/callback/{github|google|bitbucket}`.
    AuthCallback(Provider),
    /// `GET /api/auth/get-session`.
    GetAuthSession,
    /// `POST /api/auth/sign-out`.
    SignOut,
    /// `GET /api/auth/error`.
    AuthError,
    /// `POST /api/auth/link-social`.
    LinkSocial,
    /// `GET /api/auth/list-accounts`.
    ListAccounts,
    /// `POST /api/auth/unlink-account`.
    UnlinkAccount,
    GetKeyboardShortcuts,
    SetKeyboardShortcuts,
    /// A route of a feature we do not offer (`http::not_offered`).
    NotOffered(Feature),
    /// Git's smart HTTP through the control plane: `GET /{owner}/{name}.git/info/refs`,
    /// `POST /{owner}/{name}.git/git-{upload,receive}-pack` (a sandbox's ticket, in-band).
    Git(GitPath),
}

/// Why a request matches no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    /// No route has this path.
    NotFound,
    /// The path exists, but not with this method.
    MethodNotAllowed,
}

impl Route {
    /// Parses a request's method and path.
    pub fn parse(method: &Method, path: &str) -> Result<Route, Unmatched> {
        use Method::{Delete, Get, Patch, Post, Put};
        let segments: Vec<&str> = match path.strip_prefix('/') {
            Some(rest) => rest.split('/').collect(),
            None => return Err(Unmatched::NotFound),
        };
        if segments.iter().any(|s| s.is_empty()) {
            return Err(Unmatched::NotFound);
        }
        let id = |s: &str| s.to_string();
        let list = match segments.as_slice() {
            ["sessions", _, sub] => ListKind::parse(sub),
            _ => None,
        };
        if let Some(git) = GitPath::parse(&segments) {
            return match (git.endpoint, method) {
                (Endpoint::InfoRefs, Get) | (Endpoint::Rpc, Post) => Ok(Route::Git(git)),
                _ => Err(Unmatched::MethodNotAllowed),
            };
        }
        let route = match (segments.as_slice(), method, list) {
            (["health"], Get, _) => Route::Health,
            (["openapi.json"], Get, _) => Route::OpenApi,
            (["repos"], Get, _) => Route::ListRepos,
            (["repos", o, n, "branches"], Get, _) => Route::Branches(id(o), id(n)),
            (["repos", o, n, "metadata"], Get | Put, _) => Route::RepoMetadata(id(o), id(n)),
            (["secrets"], Get | Put, _) => Route::Secrets(None, None),
            (["secrets", k], Delete, _) => Route::Secrets(None, Some(id(k))),
            (["repos", o, n, "secrets"], Get | Put, _) => {
                Route::Secrets(Some((id(o), id(n))), None)
            }
            (["repos", o, n, "secrets", k], Delete, _) => {
                Route::Secrets(Some((id(o), id(n))), Some(id(k)))
            }
            (["model-preferences"], Get, _) => Route::GetModelPreferences,
            (["model-preferences"], Put, _) => Route::SetModelPreferences,
            (["keyboard-shortcuts"], Get, _) => Route::GetKeyboardShortcuts,
            (["keyboard-shortcuts"], Put, _) => Route::SetKeyboardShortcuts,
            (["sessions"], Get, _) => Route::ListSessions,
            (["sessions"], Post, _) => Route::CreateSession,
            (["sessions", "inbox"], Get, _) => Route::Inbox,
            (["sessions", s], Get, _) => Route::GetSession(id(s)),
            (["sessions", s], Delete, _) => Route::DeleteSession(id(s)),
            (["sessions", s, "archive"], Post, _) => Route::Archive(id(s)),
            (["sessions", s, "unarchive"], Post, _) => Route::Unarchive(id(s)),
            (["sessions", s, "prompt"], Post, _) => Route::Prompt(id(s)),
            (["sessions", s, "stop"], Post, _) => Route::Stop(id(s)),
            (["sessions", s, "participants"], Post, _) => Route::AddParticipant(id(s)),
            (["sessions", s, _], Get, Some(kind)) => Route::List(id(s), kind),
            (["sessions", s, "ws-token"], Post, _) => Route::WsToken(id(s)),
            (["sessions", s, "pr"], Post, _) => Route::CreatePr(id(s)),
            (["sessions", s, "ws"], Get, _) => Route::WebSocket(id(s)),
            (["sessions", s, "children"], Get, _) => Route::Children(id(s)),
            (["sessions", s, "children"], Post, _) => Route::SpawnChild(id(s)),
            (["sessions", s, "children", c], Get, _) => Route::Child(id(s), id(c)),
            (["sessions", s, "children", c, "cancel"], Post, _) => Route::CancelChild(id(s), id(c)),
            (["sessions", s, "children", c, "prompt"], Post, _) => Route::PromptChild(id(s), id(c)),
            (["sessions", s, "commit-signing"], Get, _) => Route::CommitSigning(id(s)),
            (["sessions", s, "sandbox-skills"], Get, _) => Route::SandboxSkills(id(s)),
            (["sessions", s, "scm-credentials"], Post, _) => Route::ScmCredentials(id(s)),
            (["sessions", s, "pr", "refresh"], Post, _) => Route::RefreshPr(id(s)),
            (["sessions", s, "pull-requests", "refresh"], Post, _) => Route::RefreshPr(id(s)),
            (["sessions", s, "title"], Patch, _) => Route::SetTitle(id(s)),
            (["sessions", s, "read-state"], Patch, _) => Route::ReadState(id(s)),
            (["sessions", s, "participant-profiles"], Get, _) => Route::ParticipantProfiles(id(s)),
            (["webhooks", "bitbucket"], Post, _) => Route::Webhook(VcsProvider::Bitbucket),
            (["webhooks", "github"], Post, _) => Route::Webhook(VcsProvider::Github),
            (["internal", "auth", "sign-in-providers"], Get, _) => Route::SignInProviders,
            (["api", "auth", "sign-in", "social"], Post, _) => Route::SignInSocial,
            (["api", "auth", "callback", p], Get, _) if Provider::parse(p).is_some() => {
                Route::AuthCallback(Provider::parse(p).unwrap_or(Provider::Github))
            }
            (["api", "auth", "get-session"], Get, _) => Route::GetAuthSession,
            (["api", "auth", "sign-out"], Post, _) => Route::SignOut,
            (["api", "auth", "error"], Get, _) => Route::AuthError,
            (["api", "auth", "link-social"], Post, _) => Route::LinkSocial,
            (["api", "auth", "list-accounts"], Get, _) => Route::ListAccounts,
            (["api", "auth", "unlink-account"], Post, _) => Route::UnlinkAccount,
            (path, m, _) if not_offered::feature(m, path).is_some() => {
                Route::NotOffered(not_offered::feature(m, path).unwrap_or(Feature::Skills))
            }
            (path, _, _) if Self::path_exists(path) => return Err(Unmatched::MethodNotAllowed),
            _ => return Err(Unmatched::NotFound),
        };
        Ok(route)
    }

    /// Whether some method serves this path.
    fn path_exists(segments: &[&str]) -> bool {
        match segments {
            ["health"]
            | ["openapi.json"]
            | ["repos"]
            | ["sessions"]
            | ["sessions", _]
            | ["model-preferences"]
            | ["keyboard-shortcuts"] => true,
            ["repos", _, _, "branches"] => true,
            ["secrets"] | ["secrets", _] => true,
            ["repos", _, _, "metadata"] => true,
            ["repos", _, _, "secrets"] | ["repos", _, _, "secrets", _] => true,
            ["sessions", _, "pr" | "pull-requests", "refresh"] => true,
            ["sessions", _, "children", _] => true,
            ["sessions", _, "children", _, "cancel" | "prompt"] => true,
            ["webhooks", "bitbucket" | "github"] => true,
            ["internal", "auth", "sign-in-providers"] => true,
            ["api", "auth", "sign-in", "social"] => true,
            ["api", "auth", "callback", p] => Provider::parse(p).is_some(),
            ["api", "auth", "get-session" | "sign-out" | "error"] => true,
            ["api", "auth", "link-social" | "list-accounts" | "unlink-account"] => true,
            ["sessions", _, sub] => {
                ListKind::parse(sub).is_some()
                    || [
                        "archive",
                        "unarchive",
                        "prompt",
                        "stop",
                        "ws-token",
                        "pr",
                        "ws",
                        "children",
                        "commit-signing",
                        "sandbox-skills",
                        "scm-credentials",
                        "title",
                        "participant-profiles",
                        "read-state",
                    ]
                    .contains(sub)
            }
            _ => false,
        }
    }

    /// The route's method and path template, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Health => "GET /health",
            Route::OpenApi => "GET /openapi.json",
            Route::ListRepos => "GET /repos",
            Route::ListSessions => "GET /sessions",
            Route::CreateSession => "POST /sessions",
            Route::GetSession(_) => "GET /sessions/{id}",
            Route::DeleteSession(_) => "DELETE /sessions/{id}",
            Route::Archive(_) => "POST /sessions/{id}/archive",
            Route::Unarchive(_) => "POST /sessions/{id}/unarchive",
            Route::Prompt(_) => "POST /sessions/{id}/prompt",
            Route::Stop(_) => "POST /sessions/{id}/stop",
            Route::List(_, ListKind::Events) => "GET /sessions/{id}/events",
            Route::List(_, ListKind::Messages) => "GET /sessions/{id}/messages",
            Route::List(_, ListKind::Artifacts) => "GET /sessions/{id}/artifacts",
            Route::List(_, ListKind::Participants) => "GET /sessions/{id}/participants",
            Route::AddParticipant(_) => "POST /sessions/{id}/participants",
            Route::WsToken(_) => "POST /sessions/{id}/ws-token",
            Route::CreatePr(_) => "POST /sessions/{id}/pr",
            Route::WebSocket(_) => "GET /sessions/{id}/ws",
            Route::Children(_) => "GET /sessions/{id}/children",
            Route::SpawnChild(_) => "POST /sessions/{id}/children",
            Route::Child(..) => "GET /sessions/{id}/children/{child}",
            Route::CancelChild(..) => "POST /sessions/{id}/children/{child}/cancel",
            Route::PromptChild(..) => "POST /sessions/{id}/children/{child}/prompt",
            Route::CommitSigning(_) => "GET /sessions/{id}/commit-signing",
            Route::SandboxSkills(_) => "GET /sessions/{id}/sandbox-skills",
            Route::ScmCredentials(_) => "POST /sessions/{id}/scm-credentials",
            Route::GetModelPreferences => "GET /model-preferences",
            Route::SetModelPreferences => "PUT /model-preferences",
            Route::Branches(..) => "GET /repos/{owner}/{name}/branches",
            Route::RefreshPr(_) => "POST /sessions/{id}/pull-requests/refresh",
            Route::SetTitle(_) => "PATCH /sessions/{id}/title",
            Route::Inbox => "GET /sessions/inbox",
            Route::RepoMetadata(..) => "GET|PUT /repos/{owner}/{name}/metadata",
            Route::Secrets(None, None) => "GET|PUT /secrets",
            Route::Secrets(None, Some(_)) => "DELETE /secrets/{key}",
            Route::Secrets(Some(_), None) => "GET|PUT /repos/{owner}/{name}/secrets",
            Route::Secrets(Some(_), Some(_)) => "DELETE /repos/{owner}/{name}/secrets/{key}",
            Route::ReadState(_) => "PATCH /sessions/{id}/read-state",
            Route::ParticipantProfiles(_) => "GET /sessions/{id}/participant-profiles",
            Route::Webhook(VcsProvider::Bitbucket) => "POST /webhooks/bitbucket",
            Route::Webhook(VcsProvider::Github) => "POST /webhooks/github",
            Route::SignInProviders => "GET /internal/auth/sign-in-providers",
            Route::SignInSocial => "POST /api/auth/sign-in/social",
            Route::AuthCallback(Provider::Github) => "GET /api/auth/callback/github",
            Route::AuthCallback(Provider::Google) => "GET /api/auth/callback/google",
            Route::AuthCallback(Provider::Bitbucket) => "GET /api/auth/callback/bitbucket",
            Route::GetAuthSession => "GET /api/auth/get-session",
            Route::SignOut => "POST /api/auth/sign-out",
            Route::AuthError => "GET /api/auth/error",
            Route::LinkSocial => "POST /api/auth/link-social",
            Route::ListAccounts => "GET /api/auth/list-accounts",
            Route::UnlinkAccount => "POST /api/auth/unlink-account",
            Route::GetKeyboardShortcuts => "GET /keyboard-shortcuts",
            Route::SetKeyboardShortcuts => "PUT /keyboard-shortcuts",
            Route::NotOffered(_) => "not offered",
            Route::Git(g) => match g.service {
                None => "GET /{owner}/{name}.git/info/refs",
                Some(Service::UploadPack) => "POST /{owner}/{name}.git/git-upload-pack",
                Some(Service::ReceivePack) => "POST /{owner}/{name}.git/git-receive-pack",
            },
        }
    }

    /// Who may call this route.
    pub fn access(&self) -> Access {
        match self {
            // Webhooks prove themselves with the forge's signature; git with a ticket.
            Route::Health
            | Route::OpenApi
            | Route::WebSocket(_)
            | Route::Webhook(_)
            | Route::Git(_) => Access::Public,
            Route::CreatePr(_)
            | Route::Children(_)
            | Route::SpawnChild(_)
            | Route::Child(..)
            | Route::CancelChild(..) => Access::ServiceOrSandbox,
            Route::CommitSigning(_)
            | Route::SandboxSkills(_)
            | Route::ScmCredentials(_)
            | Route::PromptChild(..) => Access::Sandbox,
            Route::SignInProviders
            | Route::SignInSocial
            | Route::AuthCallback(_)
            | Route::GetAuthSession
            | Route::SignOut
            | Route::AuthError
            | Route::LinkSocial
            | Route::ListAccounts
            | Route::UnlinkAccount => Access::WebService,
            _ => Access::Service,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
