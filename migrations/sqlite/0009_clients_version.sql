-- A counter bumped with every change to `clients`, in the same transaction. Each node caches
-- clients for the token endpoint and polls this one row to drop its cache when a client changes.
CREATE TABLE clients_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO clients_version (id, version) VALUES (1, 0);
