-- +goose Up
-- Session keys (app_secrets) are encrypted at rest under
-- GATEHOUSE_KEY_SECRET like the signing keys (SPEC.md §7.1). Rows written
-- before this release are plaintext (encrypted = 0); the first start
-- with a key secret encrypts them in place.
ALTER TABLE app_secrets ADD COLUMN encrypted BOOLEAN NOT NULL DEFAULT 0;

-- `gatehouse keys rotate --sessions` replaces the session keys: the keys
-- counter moves so that every running instance loads the new ones on its
-- next request, as it does for signing keys.
-- +goose StatementBegin
CREATE TRIGGER app_secrets_cache_insert AFTER INSERT ON app_secrets BEGIN
    UPDATE cache_state SET keys = keys + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER app_secrets_cache_update AFTER UPDATE ON app_secrets BEGIN
    UPDATE cache_state SET keys = keys + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER app_secrets_cache_delete AFTER DELETE ON app_secrets BEGIN
    UPDATE cache_state SET keys = keys + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER app_secrets_cache_insert;
DROP TRIGGER app_secrets_cache_update;
DROP TRIGGER app_secrets_cache_delete;
ALTER TABLE app_secrets DROP COLUMN encrypted;
