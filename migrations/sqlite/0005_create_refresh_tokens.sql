-- Refresh tokens (owned by crates/oidc-provider): opaque, stored as SHA-256 hashes, rotated on
-- every use. A family is one grant: every token rotated from the first shares its family_id,
-- its scopes, level and end of life.
ALTER TABLE clients ADD COLUMN refresh_tokens BIGINT NOT NULL DEFAULT 0;

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    family_id   TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    citizen_id  TEXT NOT NULL,
    sid         TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    acr         TEXT NOT NULL,
    amr         TEXT NOT NULL,
    auth_time   BIGINT NOT NULL,
    offline     BIGINT NOT NULL,
    access_jti  TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_sid ON refresh_tokens (sid);
