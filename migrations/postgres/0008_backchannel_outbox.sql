-- Back-channel logout deliveries still to be made (OIDC Back-Channel Logout 1.0). Written in the
-- transaction that ends the session, so a logout reaches every client even when the node that
-- ended it stops; any node delivers due rows and deletes them when done. `id` is the token's jti.
CREATE TABLE backchannel_deliveries (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    citizen_id      TEXT NOT NULL,
    sid             TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX backchannel_deliveries_due ON backchannel_deliveries (next_attempt_at);
