-- +goose Up
-- allow_query_access_token now defaults to off (?access_token= on
-- resources, RFC 6750 §2.3). An install that already has users or clients
-- and never stored the setting ran with it on: keep it on there, so its
-- clients keep working; an admin turns it off when they are ready. A new
-- install stores nothing and gets the new default.
INSERT INTO settings (key, value, updated_at)
SELECT 'allow_query_access_token', 'true', CURRENT_TIMESTAMP
WHERE (EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM clients))
  AND NOT EXISTS (SELECT 1 FROM settings WHERE key = 'allow_query_access_token');

-- +goose Down
-- Nothing: the stored value cannot be told apart from an admin's choice,
-- and it means what it meant before this migration.
