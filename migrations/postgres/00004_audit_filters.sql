-- +goose Up
-- The audit page filters by target (a client, a user) and by address, and
-- its links narrow the log to one of them: without these, each such filter
-- reads the whole log.
CREATE INDEX audit_events_target ON audit_events (target, created_at);
CREATE INDEX audit_events_remote_addr ON audit_events (remote_addr, created_at);

-- +goose Down
DROP INDEX audit_events_remote_addr;
DROP INDEX audit_events_target;
