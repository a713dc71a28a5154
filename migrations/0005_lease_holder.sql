-- Who holds a refresh lease (a random id per refresh): only the holder gives it back.
ALTER TABLE user_scm_tokens ADD COLUMN refresh_lease_holder TEXT;
