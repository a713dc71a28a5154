-- Webhook routes go by the repository's stable id, not its name: a repository renamed away
-- and replaced by a new one of the old name (whose pull requests are numbered from 1 again)
-- no longer inherits the old one's routes. `repo_ref` is `#<id>` (the number the catalog
-- gives the repository: GitHub's own, Bitbucket's derived from its UUID), or `owner/name`
-- for a route written before this migration or while the id could not be learned; `repo`
-- keeps the name, which pushes through the control plane also check.
CREATE TABLE webhook_routes (
    provider TEXT NOT NULL,
    repo_ref TEXT NOT NULL,
    repo TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    session_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (provider, repo_ref, kind, key)
);
INSERT INTO webhook_routes (provider, repo_ref, repo, kind, key, session_id, created_at)
    SELECT provider, repo, repo, kind, key, session_id, created_at FROM vcs_routes;
DROP TABLE vcs_routes;
CREATE INDEX webhook_routes_session ON webhook_routes (session_id);
CREATE INDEX webhook_routes_name ON webhook_routes (provider, repo, kind, key);
