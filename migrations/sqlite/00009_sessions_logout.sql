-- +goose Up
-- Sessions and logout (SPEC.md §7.2).

-- Clients: where to send users after RP-initiated logout, where to notify
-- them of a logout (back-channel: a POSTed logout token; front-channel: an
-- iframe on the signed-out page), and their own refresh token reuse
-- interval in seconds (NULL: the refresh_token_reuse_interval setting).
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN frontchannel_logout_session_required BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN refresh_token_reuse_seconds INTEGER;

-- Browser sessions get a stable, public session ID (the ID token's sid),
-- and remember the browser and address they were started from. Sessions
-- of the previous release get a random sid now.
ALTER TABLE web_sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE web_sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE web_sessions ADD COLUMN remote_addr TEXT NOT NULL DEFAULT '';
UPDATE web_sessions SET sid = lower(hex(randomblob(16))) WHERE sid = '';
CREATE INDEX web_sessions_sid ON web_sessions (sid);

-- Codes and tokens remember the browser session that issued them ('' for
-- grants without one: client credentials, password, device flow).
ALTER TABLE authorization_codes ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN sid TEXT NOT NULL DEFAULT '';
CREATE INDEX tokens_sid ON tokens (sid) WHERE sid <> '';

-- The clients each browser session issued codes or tokens to: whom to
-- notify when it ends (tokens themselves expire and are swept long before
-- a session does).
CREATE TABLE session_clients (
    sid        TEXT        NOT NULL,
    client_id  TEXT        NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (sid, client_id)
);
CREATE INDEX session_clients_created ON session_clients (created_at);

-- Back-channel logout tokens waiting to be delivered (or retried).
CREATE TABLE logout_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id       TEXT        NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    subject         TEXT        NOT NULL DEFAULT '',
    sid             TEXT        NOT NULL DEFAULT '',
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at DATETIME NOT NULL,
    locked_until    DATETIME,
    last_error      TEXT        NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at);

-- +goose Down
DROP TABLE logout_deliveries;
DROP TABLE session_clients;
DROP INDEX tokens_sid;
ALTER TABLE tokens DROP COLUMN sid;
ALTER TABLE authorization_codes DROP COLUMN sid;
DROP INDEX web_sessions_sid;
ALTER TABLE web_sessions DROP COLUMN remote_addr;
ALTER TABLE web_sessions DROP COLUMN user_agent;
ALTER TABLE web_sessions DROP COLUMN sid;
ALTER TABLE clients DROP COLUMN refresh_token_reuse_seconds;
ALTER TABLE clients DROP COLUMN frontchannel_logout_session_required;
ALTER TABLE clients DROP COLUMN frontchannel_logout_uri;
ALTER TABLE clients DROP COLUMN backchannel_logout_session_required;
ALTER TABLE clients DROP COLUMN backchannel_logout_uri;
ALTER TABLE clients DROP COLUMN post_logout_redirect_uris;
