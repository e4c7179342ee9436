-- +goose Up
-- A burst of repeated attempts (sign-ins refused by the throttle) is one
-- row with a count rather than one row per attempt. Existing events
-- happened once.
ALTER TABLE audit_events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE audit_events DROP COLUMN count;
