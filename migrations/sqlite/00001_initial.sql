-- Initial schema for the whole product (SQLite dialect).
-- Times are stored in UTC; list-valued columns hold JSON arrays.

-- +goose Up
CREATE TABLE users (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    subject             TEXT    NOT NULL UNIQUE,
    username            TEXT    NOT NULL UNIQUE,
    email               TEXT    NOT NULL DEFAULT '',
    email_verified      BOOLEAN NOT NULL DEFAULT 0,
    name                TEXT    NOT NULL DEFAULT '',
    password_hash       TEXT    NOT NULL,
    role                TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'developer', 'user')),
    disabled            BOOLEAN NOT NULL DEFAULT 0,
    password_changed_at DATETIME NOT NULL,
    created_at          DATETIME NOT NULL,
    updated_at          DATETIME NOT NULL
);
CREATE UNIQUE INDEX users_email_unique ON users (lower(email)) WHERE email <> '';
CREATE INDEX users_role ON users (role);

CREATE TABLE images (
    id           TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    data         BLOB NOT NULL,
    created_at   DATETIME NOT NULL
);

CREATE TABLE clients (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id         TEXT    NOT NULL UNIQUE,
    secret_hash       BLOB,
    secret_hint       TEXT    NOT NULL DEFAULT '',
    name              TEXT    NOT NULL,
    description       TEXT    NOT NULL DEFAULT '',
    icon              TEXT    NOT NULL DEFAULT '',
    homepage          TEXT    NOT NULL DEFAULT '',
    redirect_uris     TEXT    NOT NULL DEFAULT '[]',
    grant_types       TEXT    NOT NULL DEFAULT '[]',
    scopes            TEXT    NOT NULL DEFAULT '[]',
    public            BOOLEAN NOT NULL DEFAULT 0,
    owner_id          INTEGER REFERENCES users (id) ON DELETE SET NULL,
    secret_rotated_at DATETIME,
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL
);
CREATE INDEX clients_owner ON clients (owner_id);
CREATE INDEX clients_name ON clients (name);

CREATE TABLE scopes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    scope_id      TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    icon          TEXT    NOT NULL DEFAULT '',
    resource_path TEXT    NOT NULL DEFAULT '',
    method        TEXT    NOT NULL DEFAULT '',
    is_default    BOOLEAN NOT NULL DEFAULT 0,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE authorization_codes (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    code_hash             BLOB    NOT NULL UNIQUE,
    client_id             TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id               INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri          TEXT    NOT NULL DEFAULT '',
    scope                 TEXT    NOT NULL DEFAULT '',
    code_challenge        TEXT    NOT NULL DEFAULT '',
    code_challenge_method TEXT    NOT NULL DEFAULT '',
    nonce                 TEXT    NOT NULL DEFAULT '',
    family_id             TEXT    NOT NULL,
    auth_time             DATETIME NOT NULL,
    expires_at            DATETIME NOT NULL,
    redeemed_at           DATETIME,
    created_at            DATETIME NOT NULL
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);
CREATE INDEX authorization_codes_client ON authorization_codes (client_id);
CREATE INDEX authorization_codes_user ON authorization_codes (user_id);

CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash BLOB    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL CHECK (kind IN ('access', 'refresh')),
    client_id  TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL DEFAULT '',
    family_id  TEXT    NOT NULL,
    auth_time  DATETIME,
    expires_at DATETIME NOT NULL,
    rotated_at DATETIME,
    revoked_at DATETIME,
    created_at DATETIME NOT NULL
);
CREATE INDEX tokens_family ON tokens (family_id);
CREATE INDEX tokens_user_client ON tokens (user_id, client_id);
CREATE INDEX tokens_client ON tokens (client_id);
CREATE INDEX tokens_expires ON tokens (expires_at);

CREATE TABLE consents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    UNIQUE (user_id, client_id)
);
CREATE INDEX consents_client ON consents (client_id);

CREATE TABLE device_codes (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    device_code_hash BLOB    NOT NULL UNIQUE,
    user_code        TEXT    NOT NULL UNIQUE,
    client_id        TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope            TEXT    NOT NULL DEFAULT '',
    status           TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'redeemed')),
    user_id          INTEGER REFERENCES users (id) ON DELETE CASCADE,
    auth_time        DATETIME,
    interval_seconds INTEGER NOT NULL,
    last_polled_at   DATETIME,
    expires_at       DATETIME NOT NULL,
    created_at       DATETIME NOT NULL
);
CREATE INDEX device_codes_expires ON device_codes (expires_at);
CREATE INDEX device_codes_client ON device_codes (client_id);
CREATE INDEX device_codes_user ON device_codes (user_id);

CREATE TABLE signing_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kid         TEXT    NOT NULL UNIQUE,
    alg         TEXT    NOT NULL,
    private_key BLOB    NOT NULL,
    encrypted   BOOLEAN NOT NULL DEFAULT 0,
    public_jwk  TEXT    NOT NULL,
    retired_at  DATETIME,
    expires_at  DATETIME,
    created_at  DATETIME NOT NULL
);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id    INTEGER,
    actor       TEXT    NOT NULL DEFAULT '',
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL DEFAULT '',
    remote_addr TEXT    NOT NULL DEFAULT '',
    success     BOOLEAN NOT NULL DEFAULT 1,
    details     TEXT    NOT NULL DEFAULT '{}',
    created_at  DATETIME NOT NULL
);
CREATE INDEX audit_events_created ON audit_events (created_at);
CREATE INDEX audit_events_action ON audit_events (action, created_at);
CREATE INDEX audit_events_actor ON audit_events (actor, created_at);

CREATE TABLE app_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at DATETIME NOT NULL
);

CREATE TABLE web_sessions (
    id_hash    BLOB PRIMARY KEY,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    data       BLOB    NOT NULL,
    expires_at DATETIME NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

CREATE TABLE throttle_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT    NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX throttle_events_key ON throttle_events (key, created_at);
CREATE INDEX throttle_events_created ON throttle_events (created_at);

CREATE TABLE one_time_tokens (
    token_hash BLOB PRIMARY KEY,
    purpose    TEXT    NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME,
    created_at DATETIME NOT NULL
);

INSERT INTO scopes (scope_id, name, description, icon, resource_path, method, is_default, created_at, updated_at) VALUES
    ('user.read', 'Read your profile', '{client_name} will see the profile of {user}: username and role.', 'fa-solid fa-user', '/api/user', 'GET', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('openid', 'Sign you in', '{client_name} will learn that you are {user} when you sign in.', 'fa-solid fa-right-to-bracket', '', '', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('profile', 'Your name', '{client_name} will see the name and username of {user}.', 'fa-solid fa-id-card', '', '', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('email', 'Your email address', '{client_name} will see the email address of {user}.', 'fa-solid fa-envelope', '', '', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('offline_access', 'Stay connected', '{client_name} may keep access while {user} is away, until you revoke it.', 'fa-solid fa-clock-rotate-left', '', '', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);

-- +goose Down
DROP TABLE one_time_tokens;
DROP TABLE throttle_events;
DROP TABLE web_sessions;
DROP TABLE app_secrets;
DROP TABLE audit_events;
DROP TABLE signing_keys;
DROP TABLE device_codes;
DROP TABLE consents;
DROP TABLE tokens;
DROP TABLE authorization_codes;
DROP TABLE settings;
DROP TABLE scopes;
DROP TABLE clients;
DROP TABLE images;
DROP TABLE users;
