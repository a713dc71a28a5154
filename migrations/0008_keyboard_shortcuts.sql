-- A signed-in user's keyboard shortcuts: {"version": 1, "shortcuts": {...}} as JSON text.
CREATE TABLE keyboard_shortcut_preferences (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    shortcuts TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
