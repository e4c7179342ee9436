-- +goose Up
-- Cache invalidation for every instance and every process (SPEC.md §4: a
-- change takes effect on the next request, on every instance). Each
-- instance caches settings, clients, scopes, users, signing keys and access
-- tokens; it
-- reads this one row once per request and drops what a newer counter says
-- has changed. Triggers bump the counters in the same transaction as the
-- change itself, whoever makes it (the dashboard, the CLI, a migration,
-- psql), so a reader never sees the new counter without the new data.
CREATE TABLE cache_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    settings BIGINT NOT NULL DEFAULT 1,
    clients  BIGINT NOT NULL DEFAULT 1,
    scopes   BIGINT NOT NULL DEFAULT 1,
    users    BIGINT NOT NULL DEFAULT 1,
    keys     BIGINT NOT NULL DEFAULT 1,
    tokens   BIGINT NOT NULL DEFAULT 1
);
INSERT INTO cache_state (id) VALUES (1);

-- The triggers are deferred constraint triggers: the counter row is
-- locked and bumped at commit, the last thing every transaction does, so
-- transactions that write several cached rows never hold it while waiting
-- for another row lock (no deadlock between, say, a settings save and a
-- concurrent `settings set`). They fire per changed row, and bump once per
-- transaction and table (a transaction-local flag), so an UPDATE that
-- changes nothing moves nothing.
-- +goose StatementBegin
CREATE FUNCTION gatehouse_bump_cache() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    flag TEXT := 'gatehouse.cache_bumped_' || TG_ARGV[0];
BEGIN
    IF current_setting(flag, true) = txid_current()::text THEN
        RETURN NULL;
    END IF;
    PERFORM set_config(flag, txid_current()::text, true);
    UPDATE cache_state SET
        settings = settings + CASE WHEN TG_ARGV[0] = 'settings' THEN 1 ELSE 0 END,
        clients  = clients  + CASE WHEN TG_ARGV[0] = 'clients'  THEN 1 ELSE 0 END,
        scopes   = scopes   + CASE WHEN TG_ARGV[0] = 'scopes'   THEN 1 ELSE 0 END,
        users    = users    + CASE WHEN TG_ARGV[0] = 'users'    THEN 1 ELSE 0 END,
        keys     = keys     + CASE WHEN TG_ARGV[0] = 'keys'     THEN 1 ELSE 0 END,
        tokens   = tokens   + CASE WHEN TG_ARGV[0] = 'tokens'   THEN 1 ELSE 0 END
    WHERE id = 1;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE CONSTRAINT TRIGGER settings_cache AFTER INSERT OR UPDATE OR DELETE ON settings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_cache('settings');
CREATE CONSTRAINT TRIGGER clients_cache AFTER INSERT OR UPDATE OR DELETE ON clients
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_cache('clients');
CREATE CONSTRAINT TRIGGER scopes_cache AFTER INSERT OR UPDATE OR DELETE ON scopes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_cache('scopes');
CREATE CONSTRAINT TRIGGER users_cache AFTER INSERT OR UPDATE OR DELETE ON users
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_cache('users');
CREATE CONSTRAINT TRIGGER signing_keys_cache AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_cache('keys');
-- Cached access tokens change only by revocation or deletion (cascades
-- from a deleted client or user, the sweeper); new tokens move nothing.
CREATE CONSTRAINT TRIGGER tokens_cache_revoke AFTER UPDATE OF revoked_at ON tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at) EXECUTE FUNCTION gatehouse_bump_cache('tokens');
CREATE CONSTRAINT TRIGGER tokens_cache_delete AFTER DELETE ON tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_cache('tokens');
-- TRUNCATE has no row events: a statement trigger.
CREATE TRIGGER settings_cache_truncate AFTER TRUNCATE ON settings FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_bump_cache('settings');
CREATE TRIGGER clients_cache_truncate AFTER TRUNCATE ON clients FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_bump_cache('clients');
CREATE TRIGGER scopes_cache_truncate AFTER TRUNCATE ON scopes FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_bump_cache('scopes');
CREATE TRIGGER users_cache_truncate AFTER TRUNCATE ON users FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_bump_cache('users');
CREATE TRIGGER signing_keys_cache_truncate AFTER TRUNCATE ON signing_keys FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_bump_cache('keys');
CREATE TRIGGER tokens_cache_truncate AFTER TRUNCATE ON tokens FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_bump_cache('tokens');

-- Lookup columns without an index so far: the sweeper deletes expired
-- rows of these tables by their expiry, and the consent screen finds a
-- user's consent by (user_id, client_id) (the unique constraint covers it).
CREATE INDEX IF NOT EXISTS one_time_tokens_expires ON one_time_tokens (expires_at);
CREATE INDEX IF NOT EXISTS revoked_families_revoked ON revoked_families (revoked_at);

-- +goose Down
DROP INDEX IF EXISTS revoked_families_revoked;
DROP INDEX IF EXISTS one_time_tokens_expires;
DROP TRIGGER tokens_cache_truncate ON tokens;
DROP TRIGGER signing_keys_cache_truncate ON signing_keys;
DROP TRIGGER users_cache_truncate ON users;
DROP TRIGGER scopes_cache_truncate ON scopes;
DROP TRIGGER clients_cache_truncate ON clients;
DROP TRIGGER settings_cache_truncate ON settings;
DROP TRIGGER tokens_cache_delete ON tokens;
DROP TRIGGER tokens_cache_revoke ON tokens;
DROP TRIGGER signing_keys_cache ON signing_keys;
DROP TRIGGER users_cache ON users;
DROP TRIGGER scopes_cache ON scopes;
DROP TRIGGER clients_cache ON clients;
DROP TRIGGER settings_cache ON settings;
DROP FUNCTION gatehouse_bump_cache();
DROP TABLE cache_state;
