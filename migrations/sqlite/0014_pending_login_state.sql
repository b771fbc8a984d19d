-- A pending login's stage is one value: `state`, the JSON of the provider's `LoginState`
-- tagged by `stage` (password, second_factor with the citizen and the methods proven so far,
-- or choice), written and read only by the provider's store. It replaces the stage fields
-- inside `request` and the columns `citizen_id` and `amr`, which are dropped.
--
-- Pending logins live minutes and rows from before hold their stage in the old form, so they
-- are deleted rather than converted: a citizen in the middle of a login at the upgrade sees
-- "login expired" and starts again from the client.
DELETE FROM pending_authorizations;
-- The default only lets SQLite add a NOT NULL column; the store always writes the state, and
-- an empty one would read as corrupt.
ALTER TABLE pending_authorizations ADD COLUMN state TEXT NOT NULL DEFAULT '';
ALTER TABLE pending_authorizations DROP COLUMN citizen_id;
ALTER TABLE pending_authorizations DROP COLUMN amr;
