-- Child sessions: the session that spawned a session (its agent, through the sandbox's
-- spawn-child tool), how it was started, and how deep in the tree it sits (top-level: 0).
ALTER TABLE sessions ADD COLUMN parent_session_id TEXT;
ALTER TABLE sessions ADD COLUMN spawn_source TEXT NOT NULL DEFAULT 'user';
ALTER TABLE sessions ADD COLUMN spawn_depth INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sessions_parent ON sessions (parent_session_id, created_at DESC)
    WHERE parent_session_id IS NOT NULL;
