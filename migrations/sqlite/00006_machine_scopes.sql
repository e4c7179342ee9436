-- +goose Up
-- Machine scopes (SPEC.md §7.1): only scopes with the machine flag can be
-- granted without a user (client_credentials, token exchange of such a
-- token), and only an admin can give a client that trust or the password
-- grant. Existing data is upgraded so that clients an admin owns keep
-- working as before and trust that developers gave themselves is dropped.
-- "Admin-owned": no owner (registered with the CLI) or an owner whose role
-- is admin. The data changes are not undone by the down migration.
ALTER TABLE scopes ADD COLUMN machine BOOLEAN NOT NULL DEFAULT 0;

-- Admin-owned client-credentials clients with a scope list: the scopes
-- they list become machine scopes (the OpenID Connect ones never do).
UPDATE scopes SET machine = 1
WHERE scope_id NOT IN ('openid', 'profile', 'email', 'offline_access')
  AND EXISTS (
    SELECT 1 FROM clients c, json_each(c.scopes) s
    WHERE s.value = scopes.scope_id
      AND EXISTS (SELECT 1 FROM json_each(c.grant_types) g WHERE g.value = 'client_credentials')
      AND (c.owner_id IS NULL OR c.owner_id IN (SELECT id FROM users WHERE role = 'admin')));

-- Admin-owned client-credentials clients with an empty list (which meant
-- "any scope"; json_array_length counts a JSON null as empty too): every scope becomes a machine scope, and the list names
-- every scope that exists, so the authorization code flow offers them the
-- same scopes as before.
UPDATE scopes SET machine = 1
WHERE scope_id NOT IN ('openid', 'profile', 'email', 'offline_access')
  AND EXISTS (
    SELECT 1 FROM clients c
    WHERE json_array_length(c.scopes) = 0
      AND EXISTS (SELECT 1 FROM json_each(c.grant_types) g WHERE g.value = 'client_credentials')
      AND (c.owner_id IS NULL OR c.owner_id IN (SELECT id FROM users WHERE role = 'admin')));
UPDATE clients
SET scopes = (SELECT json_group_array(scope_id) FROM (SELECT scope_id FROM scopes ORDER BY scope_id)),
    updated_at = CURRENT_TIMESTAMP
WHERE json_array_length(scopes) = 0
  AND EXISTS (SELECT 1 FROM json_each(clients.grant_types) g WHERE g.value = 'client_credentials')
  AND (owner_id IS NULL OR owner_id IN (SELECT id FROM users WHERE role = 'admin'));

-- Other clients lose the password grant...
UPDATE clients
SET grant_types = (SELECT json_group_array(g.value) FROM json_each(clients.grant_types) g WHERE g.value <> 'password'),
    updated_at = CURRENT_TIMESTAMP
WHERE NOT (owner_id IS NULL OR owner_id IN (SELECT id FROM users WHERE role = 'admin'))
  AND EXISTS (SELECT 1 FROM json_each(clients.grant_types) g WHERE g.value = 'password');

-- ...and client credentials when they list a machine scope.
UPDATE clients
SET grant_types = (SELECT json_group_array(g.value) FROM json_each(clients.grant_types) g WHERE g.value <> 'client_credentials'),
    updated_at = CURRENT_TIMESTAMP
WHERE NOT (owner_id IS NULL OR owner_id IN (SELECT id FROM users WHERE role = 'admin'))
  AND EXISTS (SELECT 1 FROM json_each(clients.grant_types) g WHERE g.value = 'client_credentials')
  AND EXISTS (SELECT 1 FROM json_each(clients.scopes) s JOIN scopes ON scopes.scope_id = s.value WHERE scopes.machine);

-- Their client-credentials tokens that carry scopes carry self-granted
-- ones: revoked.
UPDATE tokens SET revoked_at = CURRENT_TIMESTAMP
WHERE user_id IS NULL AND kind = 'access' AND revoked_at IS NULL AND scope <> ''
  AND client_id IN (
    SELECT client_id FROM clients
    WHERE NOT (owner_id IS NULL OR owner_id IN (SELECT id FROM users WHERE role = 'admin')));

-- +goose Down
ALTER TABLE scopes DROP COLUMN machine;
