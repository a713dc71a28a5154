-- Which session a forge's webhook is about: one row per pull request a session opened
-- (kind 'pr', key = its number) and per head branch (kind 'branch', key = its name), with
-- the repository as `owner/name` in lowercase. And each session's latest PR state.
CREATE TABLE vcs_routes (
    provider TEXT NOT NULL,
    repo TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    session_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (provider, repo, kind, key)
);
ALTER TABLE sessions ADD COLUMN pr_state TEXT;
