-- Deleted sessions, so that a late index write cannot bring one back.
CREATE TABLE deleted_sessions (
    id TEXT PRIMARY KEY,
    deleted_at INTEGER NOT NULL
);
