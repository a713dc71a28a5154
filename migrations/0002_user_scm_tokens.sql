-- A user's latest VCS credentials per provider, encrypted like the participants' tokens.
-- `version` is bumped by every write (compare-and-swap); `refresh_lease_until` marks a
-- refresh in flight so that only one caller anywhere refreshes a user's tokens at a time.
CREATE TABLE user_scm_tokens (
    provider TEXT NOT NULL,
    user_id TEXT NOT NULL,
    access_token_encrypted TEXT NOT NULL,
    refresh_token_encrypted TEXT,
    expires_at INTEGER,
    needs_reauth INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    refresh_lease_until INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (provider, user_id)
);
