//! The session database schema, as numbered migrations recorded in `_migrations`.

/// Each migration: its number and its statements, applied in order, once.
pub const MIGRATIONS: &[(i64, &[&str])] = &[
    (
        1,
        &[
            "CREATE TABLE session (
            id TEXT PRIMARY KEY,
            title TEXT,
            repo_owner TEXT NOT NULL,
            repo_name TEXT NOT NULL,
            vcs_provider TEXT NOT NULL,
            model TEXT,
            base_branch TEXT,
            branch_name TEXT,
            status TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )",
            "CREATE TABLE participants (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL UNIQUE,
            scm_user_id TEXT,
            scm_login TEXT,
            scm_name TEXT,
            scm_email TEXT,
            scm_access_token_encrypted TEXT,
            scm_refresh_token_encrypted TEXT,
            scm_token_expires_at INTEGER,
            ws_token_hash TEXT,
            ws_token_issued_at INTEGER,
            role TEXT NOT NULL,
            joined_at INTEGER NOT NULL
        )",
            "CREATE INDEX participants_ws_token ON participants(ws_token_hash)",
            "CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            author_id TEXT NOT NULL,
            content TEXT NOT NULL,
            source TEXT NOT NULL,
            model TEXT,
            status TEXT NOT NULL,
            error TEXT,
            created_at INTEGER NOT NULL,
            started_at INTEGER,
            completed_at INTEGER
        )",
            "CREATE INDEX messages_status ON messages(status)",
            "CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            data TEXT NOT NULL,
            message_id TEXT,
            created_at INTEGER NOT NULL
        )",
            "CREATE INDEX events_type ON events(type, seq)",
            "CREATE TABLE artifacts (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            url TEXT,
            metadata TEXT,
            created_at INTEGER NOT NULL
        )",
            "CREATE TABLE sandbox (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            provider_id TEXT,
            sandbox_id TEXT,
            token_hash TEXT,
            status TEXT NOT NULL,
            last_heartbeat INTEGER,
            last_activity INTEGER,
            created_at INTEGER
        )",
        ],
    ),
    (
        2,
        &[
            "ALTER TABLE session ADD COLUMN control_plane_url TEXT",
            "ALTER TABLE sandbox ADD COLUMN status_since INTEGER",
            "ALTER TABLE sandbox ADD COLUMN last_error TEXT",
            "ALTER TABLE sandbox ADD COLUMN last_failure_at INTEGER",
            "ALTER TABLE sandbox ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0",
            "CREATE TABLE spawn_failures (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at INTEGER NOT NULL,
            permanent INTEGER NOT NULL,
            error TEXT NOT NULL
        )",
        ],
    ),
    (
        3,
        &[
            "ALTER TABLE session ADD COLUMN reasoning_effort TEXT",
            "ALTER TABLE messages ADD COLUMN reasoning_effort TEXT",
        ],
    ),
    (
        4,
        &[
            // Several ws-tokens per participant (one per tab), each valid for its lifetime.
            "CREATE TABLE ws_tokens (
            hash TEXT PRIMARY KEY,
            participant_id TEXT NOT NULL,
            issued_at INTEGER NOT NULL
        )",
            "CREATE INDEX ws_tokens_issued ON ws_tokens(issued_at)",
        ],
    ),
    (
        5,
        &[
            // When a participant's identity was last looked up without a result.
            "ALTER TABLE participants ADD COLUMN identity_tried_at INTEGER",
        ],
    ),
    (
        6,
        &[
            // The PR's latest state (from webhooks), pushes to the session's branch: the
            // session's own last one, and one by someone else not yet taken in by a prompt.
            "ALTER TABLE session ADD COLUMN pr_state TEXT",
            "ALTER TABLE session ADD COLUMN own_push_at INTEGER",
            "ALTER TABLE session ADD COLUMN foreign_push_at INTEGER",
            // Webhook deliveries seen in the last 24 hours (a redelivery changes nothing).
            "CREATE TABLE deliveries (id TEXT PRIMARY KEY, at INTEGER NOT NULL)",
            "CREATE INDEX deliveries_at ON deliveries(at)",
        ],
    ),
    (
        7,
        &[
            // Who the current sandbox was started for: whose right its git traffic carries
            // while it starts, before any prompt runs (REPO_ACCESS=user).
            "ALTER TABLE sandbox ADD COLUMN spawned_for TEXT",
        ],
    ),
    (
        8,
        &[
            // What the agent's steps cost so far (step_finish's cost), in millionths of a
            // dollar.
            "ALTER TABLE session ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0",
        ],
    ),
    (
        9,
        &[
            // Where a bot's prompt is called back (its checked `callbackContext`, JSON).
            "ALTER TABLE messages ADD COLUMN callback_context TEXT",
        ],
    ),
    (
        10,
        &[
            // A child session's parent (whose agent spawned it) and its depth in the tree.
            "ALTER TABLE session ADD COLUMN parent_session_id TEXT",
            "ALTER TABLE session ADD COLUMN spawn_depth INTEGER NOT NULL DEFAULT 0",
        ],
    ),
    (
        11,
        &[
            // The repository's stable id at the forge (the catalog's number), once learned:
            // webhook routes go by it.
            "ALTER TABLE session ADD COLUMN repo_id INTEGER",
        ],
    ),
    (
        12,
        &[
            // A session keeps no copy of its participants' tokens (the user's credentials in
            // D1 are the one place they live): only whether one was brought.
            "ALTER TABLE participants ADD COLUMN has_scm_token INTEGER NOT NULL DEFAULT 0",
            "UPDATE participants SET has_scm_token = 1 WHERE scm_access_token_encrypted IS NOT NULL",
            "UPDATE participants SET scm_access_token_encrypted = NULL, scm_refresh_token_encrypted = NULL",
        ],
    ),
    (
        13,
        &[
            // When the current sandbox's socket closed, until it connects again.
            "ALTER TABLE sandbox ADD COLUMN disconnected_at INTEGER",
        ],
    ),
];

/// The migrations still to apply when the database is at `current` (0 when new).
pub fn pending(current: i64) -> impl Iterator<Item = &'static (i64, &'static [&'static str])> {
    MIGRATIONS.iter().filter(move |(v, _)| *v > current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_increasing_and_pending_skips_applied() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(pending(0).count(), MIGRATIONS.len());
        assert_eq!(pending(MIGRATIONS.last().unwrap().0).count(), 0);
    }
}
