-- +goose Up
-- Cache invalidation for every instance and every process (SPEC.md §4: a
-- change takes effect on the next request, on every instance). Each
-- instance caches settings, clients, scopes, users, signing keys and access
-- tokens; it
-- reads this one row once per request and drops what a newer counter says
-- has changed. Triggers bump the counters in the same transaction as the
-- change itself, whoever makes it (the dashboard, the CLI, sqlite3), so a
-- reader never sees the new counter without the new data.
CREATE TABLE cache_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    settings INTEGER NOT NULL DEFAULT 1,
    clients  INTEGER NOT NULL DEFAULT 1,
    scopes   INTEGER NOT NULL DEFAULT 1,
    users    INTEGER NOT NULL DEFAULT 1,
    keys     INTEGER NOT NULL DEFAULT 1,
    tokens   INTEGER NOT NULL DEFAULT 1
);
INSERT INTO cache_state (id) VALUES (1);


-- +goose StatementBegin
CREATE TRIGGER settings_cache_insert AFTER INSERT ON settings BEGIN
    UPDATE cache_state SET settings = settings + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER settings_cache_update AFTER UPDATE ON settings BEGIN
    UPDATE cache_state SET settings = settings + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER settings_cache_delete AFTER DELETE ON settings BEGIN
    UPDATE cache_state SET settings = settings + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER clients_cache_insert AFTER INSERT ON clients BEGIN
    UPDATE cache_state SET clients = clients + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER clients_cache_update AFTER UPDATE ON clients BEGIN
    UPDATE cache_state SET clients = clients + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER clients_cache_delete AFTER DELETE ON clients BEGIN
    UPDATE cache_state SET clients = clients + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER scopes_cache_insert AFTER INSERT ON scopes BEGIN
    UPDATE cache_state SET scopes = scopes + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER scopes_cache_update AFTER UPDATE ON scopes BEGIN
    UPDATE cache_state SET scopes = scopes + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER scopes_cache_delete AFTER DELETE ON scopes BEGIN
    UPDATE cache_state SET scopes = scopes + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER users_cache_insert AFTER INSERT ON users BEGIN
    UPDATE cache_state SET users = users + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER users_cache_update AFTER UPDATE ON users BEGIN
    UPDATE cache_state SET users = users + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER users_cache_delete AFTER DELETE ON users BEGIN
    UPDATE cache_state SET users = users + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER signing_keys_cache_insert AFTER INSERT ON signing_keys BEGIN
    UPDATE cache_state SET keys = keys + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER signing_keys_cache_update AFTER UPDATE ON signing_keys BEGIN
    UPDATE cache_state SET keys = keys + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER signing_keys_cache_delete AFTER DELETE ON signing_keys BEGIN
    UPDATE cache_state SET keys = keys + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- Cached access tokens change only by revocation or deletion (cascades
-- from a deleted client or user, the sweeper); new tokens move nothing.
-- +goose StatementBegin
CREATE TRIGGER tokens_cache_revoke AFTER UPDATE OF revoked_at ON tokens BEGIN
    UPDATE cache_state SET tokens = tokens + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER tokens_cache_delete AFTER DELETE ON tokens BEGIN
    UPDATE cache_state SET tokens = tokens + 1 WHERE id = 1;
END;
-- +goose StatementEnd

CREATE INDEX IF NOT EXISTS one_time_tokens_expires ON one_time_tokens (expires_at);
CREATE INDEX IF NOT EXISTS revoked_families_revoked ON revoked_families (revoked_at);

-- +goose Down
DROP INDEX IF EXISTS revoked_families_revoked;
DROP INDEX IF EXISTS one_time_tokens_expires;
DROP TRIGGER tokens_cache_revoke;
DROP TRIGGER tokens_cache_delete;
DROP TRIGGER settings_cache_insert;
DROP TRIGGER settings_cache_update;
DROP TRIGGER settings_cache_delete;
DROP TRIGGER clients_cache_insert;
DROP TRIGGER clients_cache_update;
DROP TRIGGER clients_cache_delete;
DROP TRIGGER scopes_cache_insert;
DROP TRIGGER scopes_cache_update;
DROP TRIGGER scopes_cache_delete;
DROP TRIGGER users_cache_insert;
DROP TRIGGER users_cache_update;
DROP TRIGGER users_cache_delete;
DROP TRIGGER signing_keys_cache_insert;
DROP TRIGGER signing_keys_cache_update;
DROP TRIGGER signing_keys_cache_delete;
DROP TABLE cache_state;
