-- Secrets for sandboxes' environments: global ones and a repository's, values sealed with
-- TOKEN_ENCRYPTION_KEY (never returned). `scope` is `global` or `repo:<provider>:<owner/name>`.
CREATE TABLE secrets (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
