-- The contract's session fields, and the deployment's model preferences.
ALTER TABLE sessions ADD COLUMN reasoning_effort TEXT;
CREATE TABLE model_preferences (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    enabled_models TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
