-- +goose Up
-- Session keys (app_secrets) are encrypted at rest under
-- GATEHOUSE_KEY_SECRET like the signing keys (SPEC.md §7.1). Rows written
-- before this release are plaintext (encrypted = false); the first start
-- with a key secret encrypts them in place.
ALTER TABLE app_secrets ADD COLUMN encrypted BOOLEAN NOT NULL DEFAULT false;

-- `gatehouse keys rotate --sessions` replaces the session keys: the keys
-- counter moves so that every running instance loads the new ones on its
-- next request, as it does for signing keys.
CREATE CONSTRAINT TRIGGER app_secrets_cache AFTER INSERT OR UPDATE OR DELETE ON app_secrets
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_cache('keys');
CREATE TRIGGER app_secrets_cache_truncate AFTER TRUNCATE ON app_secrets FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_bump_cache('keys');

-- +goose Down
DROP TRIGGER app_secrets_cache_truncate ON app_secrets;
DROP TRIGGER app_secrets_cache ON app_secrets;
ALTER TABLE app_secrets DROP COLUMN encrypted;
