-- +goose Up
-- A token family revoked for replay or reuse. The tombstone closes a race:
-- the winner of a concurrent code redemption or refresh checks it after
-- storing its tokens, so tokens stored after the revocation die too.
CREATE TABLE revoked_families (
    family_id  TEXT     PRIMARY KEY,
    revoked_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE revoked_families;
