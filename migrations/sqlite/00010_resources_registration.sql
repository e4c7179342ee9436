-- +goose Up
-- Resources, agents and registration (SPEC.md §7.3).

-- Resources (RFC 8707): APIs identified by an absolute URI, the audience of
-- the tokens issued for them. The built-in resource {issuer}/api is not a
-- row: scopes name it by the reserved value '/api'.
CREATE TABLE resources (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uri         TEXT     NOT NULL UNIQUE,
    name        TEXT     NOT NULL,
    description TEXT     NOT NULL DEFAULT '',
    icon        TEXT     NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);

-- Resources are cached with the scopes: a change moves the scopes counter.
-- +goose StatementBegin
CREATE TRIGGER resources_cache_insert AFTER INSERT ON resources BEGIN
    UPDATE cache_state SET scopes = scopes + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER resources_cache_update AFTER UPDATE ON resources BEGIN
    UPDATE cache_state SET scopes = scopes + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER resources_cache_delete AFTER DELETE ON resources BEGIN
    UPDATE cache_state SET scopes = scopes + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- A scope may belong to a resource ('' for none, '/api' for the built-in
-- one); user.read guards Gatehouse's own /api/user.
ALTER TABLE scopes ADD COLUMN resource TEXT NOT NULL DEFAULT '';
UPDATE scopes SET resource = '/api' WHERE scope_id = 'user.read' AND resource_path = '/api/user';

-- The resources a grant was requested for (space-separated canonical URIs)
-- and a token's audience ('' for none, as every token of the previous
-- release).
ALTER TABLE authorization_codes ADD COLUMN resource TEXT NOT NULL DEFAULT '';
ALTER TABLE device_codes ADD COLUMN resource TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN audience TEXT NOT NULL DEFAULT '';

-- How a client came to be: '' made in the dashboard, CLI or API;
-- 'dynamic' registered itself (RFC 7591), holding the hash of its
-- registration access token (RFC 7592); 'metadata_document' is a Client ID
-- Metadata Document fetched from its client_id URL, kept until
-- metadata_expires_at. client_metadata keeps the registered metadata
-- Gatehouse does not use itself (contacts, tos_uri, policy_uri,
-- software_id, software_version), to be returned as registered.
ALTER TABLE clients ADD COLUMN registration TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registration_token_hash BLOB;
ALTER TABLE clients ADD COLUMN client_metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN metadata_expires_at DATETIME;
CREATE INDEX clients_registration ON clients (registration);

-- +goose Down
DROP INDEX clients_registration;
ALTER TABLE clients DROP COLUMN metadata_expires_at;
ALTER TABLE clients DROP COLUMN client_metadata;
ALTER TABLE clients DROP COLUMN registration_token_hash;
ALTER TABLE clients DROP COLUMN registration;
ALTER TABLE tokens DROP COLUMN audience;
ALTER TABLE device_codes DROP COLUMN resource;
ALTER TABLE authorization_codes DROP COLUMN resource;
ALTER TABLE scopes DROP COLUMN resource;
DROP TRIGGER resources_cache_delete;
DROP TRIGGER resources_cache_update;
DROP TRIGGER resources_cache_insert;
DROP TABLE resources;
