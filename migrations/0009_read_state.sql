-- What the sidebar's inbox needs: each session's latest finished prompt (completed or
-- failed), and the latest one each user has read.
ALTER TABLE sessions ADD COLUMN latest_message_id TEXT;

CREATE TABLE session_reads (
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    read_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, session_id)
);
