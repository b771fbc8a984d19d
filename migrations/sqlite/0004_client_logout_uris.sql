-- Logout endpoints of relying parties (OIDC Back-Channel and Front-Channel Logout 1.0).
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT;

-- The clients that took part in each SSO session: logout reaches every one of them.
CREATE TABLE session_clients (
    sid        TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (sid, client_id)
);
CREATE INDEX session_clients_expires ON session_clients (expires_at);
