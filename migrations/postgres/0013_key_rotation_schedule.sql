-- A rotation no longer switches keys at once: the new key signs from `active_from`, one key
-- refresh interval ahead, when every node has reloaded it and serves it in its JWK Set. A
-- retired key keeps its `active_from` (it signs until the newer key's has come). Keys stored
-- before this migration: the active one has signed since it was made; retired ones never sign.
ALTER TABLE signing_keys ADD COLUMN active_from BIGINT;
UPDATE signing_keys SET active_from = created_at WHERE state = 'active';

-- A counter bumped with every change to `signing_keys`, in the same transaction (a
-- compare-and-set: two rotations at once cannot both apply). Each node polls this one row to
-- reload the keys when they changed.
CREATE TABLE signing_keys_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO signing_keys_version (id, version) VALUES (1, 0);
