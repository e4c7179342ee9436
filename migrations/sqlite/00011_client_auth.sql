-- +goose Up
-- Client authentication and sender-constrained tokens (SPEC.md §7.4).

-- How the client authenticates at the token, introspection, revocation,
-- PAR and device authorization endpoints: '' as before this release (a
-- confidential client's secret in Basic or the body; a public client none),
-- client_secret_basic, client_secret_post, client_secret_jwt,
-- private_key_jwt or none. client_secret_jwt needs the secret itself as an
-- HMAC key: secret_sealed holds it encrypted under GATEHOUSE_KEY_SECRET
-- (bound to the client ID), set only for that method. private_key_jwt
-- takes the client's public keys pasted (jwks, a JWK Set as JSON text) or
-- fetched (jwks_uri).
ALTER TABLE clients ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN secret_sealed BLOB;
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
-- RS256 ('' is RS256) or ES256.
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT '';
-- DPoP (RFC 9449): the client's access tokens must be DPoP-bound.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT 0;
-- PAR (RFC 9126): the client must push its authorization requests.
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT 0;
-- Token exchange delegation (RFC 8693): who else may act for this client's
-- subjects, as a JSON array of client IDs.
ALTER TABLE clients ADD COLUMN may_act TEXT NOT NULL DEFAULT '[]';

-- A token bound to a DPoP key carries the key's JWK SHA-256 thumbprint
-- (RFC 7638); a delegated token its act claim as JSON ('' for none).
ALTER TABLE tokens ADD COLUMN jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN act TEXT NOT NULL DEFAULT '';
-- dpop_jkt authorization request parameter (RFC 9449 §10): the code can only
-- be redeemed with a proof of that key.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';

-- Single-use identifiers seen by any instance: client assertion jti
-- (RFC 7523), DPoP proof jti (RFC 9449), JWT bearer grant jti. key names
-- the namespace, the issuer and the identifier (hashed); a row is kept
-- until the identifier could no longer be accepted.
CREATE TABLE used_jtis (
    key        TEXT NOT NULL PRIMARY KEY,
    expires_at DATETIME NOT NULL
);
CREATE INDEX used_jtis_expires ON used_jtis (expires_at);

-- Pushed authorization requests (RFC 9126): the request_uri is stored by
-- the SHA-256 of its random part, with the pushed parameters (an
-- application/x-www-form-urlencoded string), single use until expires_at.
CREATE TABLE pushed_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    request_hash BLOB NOT NULL UNIQUE,
    client_id    TEXT NOT NULL,
    params       TEXT NOT NULL,
    dpop_jkt     TEXT NOT NULL DEFAULT '',
    expires_at   DATETIME NOT NULL,
    used_at      DATETIME,
    created_at   DATETIME NOT NULL
);
CREATE INDEX pushed_requests_expires ON pushed_requests (expires_at);

-- Trusted issuers of the JWT bearer grant (RFC 7523 §2.1): whose
-- assertions are exchanged for tokens. subjects maps an assertion's sub to
-- a username (JSON object); scopes lists the scopes such grants may carry;
-- max_lifetime_seconds bounds an assertion's exp - iat.
CREATE TABLE trusted_issuers (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer               TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL DEFAULT '',
    jwks                 TEXT NOT NULL DEFAULT '',
    jwks_uri             TEXT NOT NULL DEFAULT '',
    subjects             TEXT NOT NULL DEFAULT '{}',
    scopes               TEXT NOT NULL DEFAULT '[]',
    max_lifetime_seconds INTEGER NOT NULL DEFAULT 3600,
    created_at           DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL
);

-- +goose Down
DROP TABLE trusted_issuers;
DROP TABLE pushed_requests;
DROP TABLE used_jtis;
ALTER TABLE authorization_codes DROP COLUMN dpop_jkt;
ALTER TABLE tokens DROP COLUMN act;
ALTER TABLE tokens DROP COLUMN jkt;
ALTER TABLE clients DROP COLUMN may_act;
ALTER TABLE clients DROP COLUMN require_pushed_authorization_requests;
ALTER TABLE clients DROP COLUMN dpop_bound_access_tokens;
ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;
ALTER TABLE clients DROP COLUMN jwks_uri;
ALTER TABLE clients DROP COLUMN jwks;
ALTER TABLE clients DROP COLUMN secret_sealed;
ALTER TABLE clients DROP COLUMN token_endpoint_auth_method;
