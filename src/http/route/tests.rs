//! The route table's tests: one sample of every route (which the OpenAPI test also walks),
//! each route's parsing and access class, and the paths and methods that match nothing.

use super::*;
use Method::{Delete, Get, Post, Put};

/// One route of every kind, for tests that must cover them all.
pub fn all_samples() -> Vec<Route> {
    let s = || "x".to_string();
    let all = vec![
        Route::Health,
        Route::OpenApi,
        Route::ListRepos,
        Route::ListSessions,
        Route::CreateSession,
        Route::GetSession(s()),
        Route::DeleteSession(s()),
        Route::Archive(s()),
        Route::Unarchive(s()),
        Route::Prompt(s()),
        Route::Stop(s()),
        Route::List(s(), ListKind::Events),
        Route::List(s(), ListKind::Messages),
        Route::List(s(), ListKind::Artifacts),
        Route::List(s(), ListKind::Participants),
        Route::AddParticipant(s()),
        Route::WsToken(s()),
        Route::CreatePr(s()),
        Route::WebSocket(s()),
        Route::Children(s()),
        Route::SpawnChild(s()),
        Route::Child(s(), s()),
        Route::CancelChild(s(), s()),
        Route::PromptChild(s(), s()),
        Route::CommitSigning(s()),
        Route::SandboxSkills(s()),
        Route::ScmCredentials(s()),
        Route::GetModelPreferences,
        Route::SetModelPreferences,
        Route::Branches(s(), s()),
        Route::RefreshPr(s()),
        Route::SetTitle(s()),
        Route::ParticipantProfiles(s()),
        Route::Inbox,
        Route::ReadState(s()),
        Route::RepoMetadata(s(), s()),
        Route::Secrets(None, None),
        Route::Secrets(None, Some(s())),
        Route::Secrets(Some((s(), s())), None),
        Route::Secrets(Some((s(), s())), Some(s())),
        Route::Webhook(VcsProvider::Bitbucket),
        Route::SignInProviders,
        Route::SignInSocial,
        Route::AuthCallback(Provider::Bitbucket),
        Route::GetAuthSession,
        Route::SignOut,
        Route::AuthError,
        Route::LinkSocial,
        Route::ListAccounts,
        Route::UnlinkAccount,
        Route::GetKeyboardShortcuts,
        Route::SetKeyboardShortcuts,
        Route::Git(GitPath {
            owner: s(),
            name: s(),
            endpoint: Endpoint::InfoRefs,
            service: None,
        }),
        Route::Git(GitPath {
            owner: s(),
            name: s(),
            endpoint: Endpoint::Rpc,
            service: Some(Service::UploadPack),
        }),
        Route::Git(GitPath {
            owner: s(),
            name: s(),
            endpoint: Endpoint::Rpc,
            service: Some(Service::ReceivePack),
        }),
        Route::NotOffered(Feature::Skills),
    ];
    // A new variant must be added above (this match fails to compile until it is).
    for r in &all {
        match r {
            Route::Health
            | Route::OpenApi
            | Route::ListRepos
            | Route::ListSessions
            | Route::CreateSession
            | Route::GetSession(_)
            | Route::DeleteSession(_)
            | Route::Archive(_)
            | Route::Unarchive(_)
            | Route::Prompt(_)
            | Route::Stop(_)
            | Route::List(..)
            | Route::AddParticipant(_)
            | Route::WsToken(_)
            | Route::CreatePr(_)
            | Route::WebSocket(_)
            | Route::Children(_)
            | Route::SpawnChild(_)
            | Route::Child(..)
            | Route::CancelChild(..)
            | Route::PromptChild(..)
            | Route::CommitSigning(_)
            | Route::SandboxSkills(_)
            | Route::ScmCredentials(_)
            | Route::GetModelPreferences
            | Route::SetModelPreferences
            | Route::Branches(..)
            | Route::RefreshPr(_)
            | Route::SetTitle(_)
            | Route::ParticipantProfiles(_)
            | Route::Inbox
            | Route::ReadState(_)
            | Route::Secrets(..)
            | Route::RepoMetadata(..)
            | Route::Webhook(_)
            | Route::SignInProviders
            | Route::SignInSocial
            | Route::AuthCallback(_)
            | Route::GetAuthSession
            | Route::SignOut
            | Route::AuthError
            | Route::LinkSocial
            | Route::ListAccounts
            | Route::UnlinkAccount
            | Route::GetKeyboardShortcuts
            | Route::SetKeyboardShortcuts
            | Route::Git(_)
            | Route::NotOffered(_) => {}
        }
    }
    all
}

fn parse(m: Method, p: &str) -> Result<Route, Unmatched> {
    Route::parse(&m, p)
}

#[test]
fn every_route_and_its_access_class() {
    let s = "abc";
    let table = [
        (Get, "/health", Route::Health, Access::Public),
        (Get, "/openapi.json", Route::OpenApi, Access::Public),
        (Get, "/repos", Route::ListRepos, Access::Service),
        (Get, "/sessions", Route::ListSessions, Access::Service),
        (Post, "/sessions", Route::CreateSession, Access::Service),
        (
            Get,
            "/sessions/abc",
            Route::GetSession(s.into()),
            Access::Service,
        ),
        (
            Delete,
            "/sessions/abc",
            Route::DeleteSession(s.into()),
            Access::Service,
        ),
        (
            Post,
            "/sessions/abc/archive",
            Route::Archive(s.into()),
            Access::Service,
        ),
        (
            Post,
            "/sessions/abc/unarchive",
            Route::Unarchive(s.into()),
            Access::Service,
        ),
        (
            Post,
            "/sessions/abc/prompt",
            Route::Prompt(s.into()),
            Access::Service,
        ),
        (
            Post,
            "/sessions/abc/stop",
            Route::Stop(s.into()),
            Access::Service,
        ),
        (
            Get,
            "/sessions/abc/events",
            Route::List(s.into(), ListKind::Events),
            Access::Service,
        ),
        (
            Get,
            "/sessions/abc/messages",
            Route::List(s.into(), ListKind::Messages),
            Access::Service,
        ),
        (
            Get,
            "/sessions/abc/artifacts",
            Route::List(s.into(), ListKind::Artifacts),
            Access::Service,
        ),
        (
            Get,
            "/sessions/abc/participants",
            Route::List(s.into(), ListKind::Participants),
            Access::Service,
        ),
        (
            Post,
            "/sessions/abc/participants",
            Route::AddParticipant(s.into()),
            Access::Service,
        ),
        (
            Post,
            "/sessions/abc/ws-token",
            Route::WsToken(s.into()),
            Access::Service,
        ),
        (
            Post,
            "/sessions/abc/pr",
            Route::CreatePr(s.into()),
            Access::ServiceOrSandbox,
        ),
        (
            Get,
            "/sessions/abc/ws",
            Route::WebSocket(s.into()),
            Access::Public,
        ),
        (
            Get,
            "/sessions/abc/children",
            Route::Children(s.into()),
            Access::ServiceOrSandbox,
        ),
        (
            Post,
            "/sessions/abc/children",
            Route::SpawnChild(s.into()),
            Access::ServiceOrSandbox,
        ),
        (
            Post,
            "/sessions/abc/children/def/prompt",
            Route::PromptChild(s.into(), "def".into()),
            Access::Sandbox,
        ),
        (
            Get,
            "/sessions/abc/commit-signing",
            Route::CommitSigning(s.into()),
            Access::Sandbox,
        ),
        (
            Get,
            "/sessions/abc/sandbox-skills",
            Route::SandboxSkills(s.into()),
            Access::Sandbox,
        ),
        (
            Post,
            "/sessions/abc/scm-credentials",
            Route::ScmCredentials(s.into()),
            Access::Sandbox,
        ),
        (
            Get,
            "/model-preferences",
            Route::GetModelPreferences,
            Access::Service,
        ),
        (
            Put,
            "/model-preferences",
            Route::SetModelPreferences,
            Access::Service,
        ),
        (
            Get,
            "/repos/acme/web/branches",
            Route::Branches("acme".into(), "web".into()),
            Access::Service,
        ),
        (
            Get,
            "/internal/auth/sign-in-providers",
            Route::SignInProviders,
            Access::WebService,
        ),
        (
            Post,
            "/api/auth/sign-in/social",
            Route::SignInSocial,
            Access::WebService,
        ),
        (
            Get,
            "/api/auth/callback/bitbucket",
            Route::AuthCallback(Provider::Bitbucket),
            Access::WebService,
        ),
        (
            Get,
            "/api/auth/get-session",
            Route::GetAuthSession,
            Access::WebService,
        ),
        (
            Post,
            "/api/auth/sign-out",
            Route::SignOut,
            Access::WebService,
        ),
        (Get, "/api/auth/error", Route::AuthError, Access::WebService),
        (
            Get,
            "/acme/web.git/info/refs",
            Route::Git(GitPath::parse(&["acme", "web.git", "info", "refs"]).unwrap()),
            Access::Public,
        ),
        (
            Post,
            "/acme/web.git/git-receive-pack",
            Route::Git(GitPath::parse(&["acme", "web.git", "git-receive-pack"]).unwrap()),
            Access::Public,
        ),
    ];
    assert_eq!(
        parse(Post, "/acme/web.git/info/refs"),
        Err(Unmatched::MethodNotAllowed)
    );
    assert_eq!(
        parse(Get, "/acme/web.git/git-upload-pack"),
        Err(Unmatched::MethodNotAllowed)
    );
    for (method, path, route, access) in table {
        let parsed = parse(method, path).unwrap();
        assert_eq!(parsed, route, "{path}");
        assert_eq!(parsed.access(), access, "{path}");
    }
}

#[test]
fn unknown_paths_and_wrong_methods() {
    for p in [
        "/",
        "/nope",
        "/sessions/",
        "/sessions//ws",
        "/sessions/a/b/c",
        "/health/x",
        "x",
    ] {
        assert_eq!(parse(Get, p), Err(Unmatched::NotFound), "{p}");
    }
    assert_eq!(parse(Put, "/sessions/a"), Err(Unmatched::MethodNotAllowed));
    assert_eq!(
        parse(Get, "/api/auth/callback/gitlab"),
        Err(Unmatched::NotFound)
    );
    assert_eq!(
        parse(Get, "/api/auth/sign-in/social"),
        Err(Unmatched::MethodNotAllowed)
    );
    assert_eq!(
        parse(Get, "/api/auth/list-sessions"),
        Err(Unmatched::NotFound)
    );
    assert_eq!(parse(Post, "/health"), Err(Unmatched::MethodNotAllowed));
    assert_eq!(
        parse(Get, "/sessions/a/pr"),
        Err(Unmatched::MethodNotAllowed)
    );
    assert_eq!(
        parse(Delete, "/sessions/a/events"),
        Err(Unmatched::MethodNotAllowed)
    );
}
