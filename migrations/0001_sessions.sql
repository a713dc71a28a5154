-- The session index: one row per session, written by the session's Durable Object.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    title TEXT,
    repo_owner TEXT NOT NULL,
    repo_name TEXT NOT NULL,
    vcs_provider TEXT NOT NULL,
    model TEXT,
    base_branch TEXT,
    status TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX sessions_updated ON sessions (updated_at DESC);
CREATE INDEX sessions_status_updated ON sessions (status, updated_at DESC);
