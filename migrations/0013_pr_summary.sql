-- A session's pull requests counted by state (JSON {total, open, draft, merged, closed}),
-- as Open-Inspect's session list and inbox carry them; NULL while it has none.
ALTER TABLE sessions ADD COLUMN pr_summary TEXT;
