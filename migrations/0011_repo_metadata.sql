-- What the bots know of a repository beyond the forge (Open-Inspect's repository metadata):
-- a description, aliases, channels, keywords, a default environment. `repo` is `owner/name`
-- in lower case.
CREATE TABLE repo_metadata (
    repo TEXT PRIMARY KEY,
    metadata TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
