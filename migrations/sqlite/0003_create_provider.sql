-- The OpenID Connect provider's state (owned by crates/oidc-provider). Every table is shared by
-- all nodes: nothing lives only in one process's memory.

-- Registered relying parties. List columns hold JSON arrays.
CREATE TABLE clients (
    id                        TEXT PRIMARY KEY NOT NULL,
    name                      TEXT NOT NULL,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    auth_method               TEXT NOT NULL,
    secret_hash               TEXT,
    jwks                      TEXT,
    jwks_uri                  TEXT,
    scopes                    TEXT NOT NULL,
    id_token_alg              TEXT NOT NULL,
    min_acr                   TEXT,
    source                    TEXT NOT NULL,
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL
);

-- Signing keys; the private key is sealed (AES-256-GCM) with a subkey of the master key.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY NOT NULL,
    alg          TEXT NOT NULL,
    state        TEXT NOT NULL,
    private_key  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    retire_after BIGINT,
    updated_at   BIGINT NOT NULL
);
-- One signing key per algorithm: two nodes starting at once cannot both create one.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE state = 'active';

-- An authorization request waiting for the citizen to log in. Bound to the browser that
-- started it by the hash of a cookie value.
CREATE TABLE pending_authorizations (
    id            TEXT PRIMARY KEY NOT NULL,
    request       TEXT NOT NULL,
    browser_hash  TEXT NOT NULL,
    csrf_token    TEXT NOT NULL,
    citizen_id    TEXT,
    amr           TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX pending_authorizations_expires ON pending_authorizations (expires_at);

-- Single sign-on sessions. The browser holds a random 256-bit id; only its SHA-256 is stored.
CREATE TABLE sso_sessions (
    id_hash             TEXT PRIMARY KEY NOT NULL,
    sid                 TEXT NOT NULL UNIQUE,
    citizen_id          TEXT NOT NULL,
    auth_time           BIGINT NOT NULL,
    amr                 TEXT NOT NULL,
    aal                 TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    last_seen_at        BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    ended_at            BIGINT
);
CREATE INDEX sso_sessions_citizen ON sso_sessions (citizen_id);

-- Authorization codes, stored as SHA-256 hashes; single use, 60 s.
CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY NOT NULL,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    citizen_id     TEXT NOT NULL,
    sid            TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    nonce          TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    auth_time      BIGINT NOT NULL,
    acr            TEXT NOT NULL,
    amr            TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    redeemed_at    BIGINT,
    access_jti     TEXT
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);

-- Revoked access tokens (by jti) until they would have expired anyway.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

-- private_key_jwt assertion ids already used (RFC 7523 3: jti must not be replayed).
CREATE TABLE used_assertions (
    client_jti TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_assertions_expires ON used_assertions (expires_at);
