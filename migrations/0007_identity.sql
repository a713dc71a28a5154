-- Users who sign in through the web app, the provider accounts they signed in (or linked)
-- with, and their browser sessions. Provider tokens are not here: they are the user's
-- credentials in user_scm_tokens (sealed by the token vault, refreshed by the refresher),
-- keyed by provider and users.id.
CREATE TABLE users (
    id TEXT PRIMARY KEY,            -- 32 lowercase hex
    name TEXT,
    email TEXT,
    email_verified INTEGER NOT NULL DEFAULT 0,
    image TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE user_identities (
    id TEXT PRIMARY KEY,            -- 32 lowercase hex
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,         -- github | bitbucket
    provider_user_id TEXT NOT NULL, -- GitHub's numeric id, Bitbucket's account uuid
    login TEXT,
    scopes TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (provider, provider_user_id),
    UNIQUE (user_id, provider)
);

CREATE TABLE auth_sessions (
    id TEXT PRIMARY KEY,            -- 32 lowercase hex
    token_hash TEXT NOT NULL UNIQUE,-- SHA-256 of the cookie's token: the token is never stored
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    ip_address TEXT,
    user_agent TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX auth_sessions_user ON auth_sessions(user_id);
